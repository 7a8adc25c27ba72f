#include "proxy/log.hpp"

#include "lifecycle/text_format.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>

namespace pglc::proxy::log {

namespace {
std::atomic<int> g_level{static_cast<int>(config::LogLevel::info)};
std::mutex g_mutex;
bool g_json = false;         // set before any thread logs
std::FILE* g_out = nullptr;  // nullptr: stderr

}  // namespace

void configure_output(bool json, const std::string& file) {
  g_json = json;
  if (file.empty()) return;
  std::FILE* f = std::fopen(file.c_str(), "a");
  if (f == nullptr)
    throw std::runtime_error("cannot open --log-file " + file + ": " + std::strerror(errno));
  g_out = f;
}

std::string seconds(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", std::chrono::duration<double>(d).count());
  return buf;
}

std::string escape(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void set_level(config::LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool enabled(config::LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void write(config::LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  write_always(level, message);
}

void write_always(config::LogLevel level, std::string_view message) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string_view name = config::to_string(level);
  char ts[48];
  std::snprintf(ts, sizeof ts, "%s.%03dZ", stamp, static_cast<int>(ms));
  std::string line;
  if (g_json) {
    line = "{\"ts\":\"" + std::string(ts) + "\",\"level\":\"" + std::string(name) + "\",\"msg\":";
    lifecycle::append_json_string(line, message);
    line += "}\n";
  } else {
    line = std::string(ts) + " " + std::string(name) + " " + std::string(message) + "\n";
  }
  std::FILE* out = g_out ? g_out : stderr;
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace pglc::proxy::log
