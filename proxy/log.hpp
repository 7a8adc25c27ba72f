// A small thread-safe logger: one line per call to stderr (or --log-file), UTC timestamp
// and level, as text or as JSON.
#pragma once

#include <chrono>

#include <sstream>
#include <string>
#include <string_view>

#include "config/options.hpp"

namespace pglc::proxy::log {

void set_level(config::LogLevel level);
bool enabled(config::LogLevel level);
void write(config::LogLevel level, std::string_view message);
// Whatever the level (the slow-execution log, --log-min-duration).
void write_always(config::LogLevel level, std::string_view message);
// --log-format json (one object per line: ts, level, msg) and --log-file (appended; the
// file is opened once, so logrotate's copytruncate works). Throws if it cannot be opened.
void configure_output(bool json, const std::string& file);

// A client-controlled value made safe for one log line: control characters, DEL and
// backslash become \xNN / \\, so a newline in a user name cannot forge a line.
std::string escape(std::string_view value);

// A duration for log lines: "1.234s".
std::string seconds(std::chrono::steady_clock::duration d);

// log::line(LogLevel::info) << "a" << 1;  — formats only when the level is enabled.
class Line {
 public:
  explicit Line(config::LogLevel level) : level_(level), on_(enabled(level)) {}
  ~Line() {
    if (on_) write(level_, out_.str());
  }
  template <class T>
  Line& operator<<(const T& v) {
    if (on_) out_ << v;
    return *this;
  }

 private:
  config::LogLevel level_;
  bool on_;
  std::ostringstream out_;
};

inline Line debug() {
  return Line(config::LogLevel::debug);
}
inline Line info() {
  return Line(config::LogLevel::info);
}
inline Line warning() {
  return Line(config::LogLevel::warning);
}
inline Line error() {
  return Line(config::LogLevel::error);
}

}  // namespace pglc::proxy::log
