#include "proxy/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace pglc::proxy::log {

namespace {
std::atomic<int> g_level{static_cast<int>(config::LogLevel::info)};
std::mutex g_mutex;
}  // namespace

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
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string_view name = config::to_string(level);
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s.%03dZ %.*s %.*s\n", stamp, static_cast<int>(ms),
               static_cast<int>(name.size()), name.data(), static_cast<int>(message.size()),
               message.data());
  std::fflush(stderr);
}

}  // namespace pglc::proxy::log
