// Every lifecycle time is taken with the monotonic clock and converted to wall time with
// one offset fixed at process start, so durations never jump with NTP and all events of
// a process share one time base.
#pragma once

#include <chrono>
#include <cstdint>

namespace pglc::lifecycle {

using MonoClock = std::chrono::steady_clock;
using MonoTime = MonoClock::time_point;
using WallMicros = std::int64_t;  // microseconds since the Unix epoch, UTC

inline MonoTime now() {
  return MonoClock::now();
}

namespace detail {
inline std::chrono::microseconds wall_offset() {
  static const std::chrono::microseconds offset = [] {
    auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    auto mono =
        std::chrono::duration_cast<std::chrono::microseconds>(MonoClock::now().time_since_epoch());
    return wall - mono;
  }();
  return offset;
}
}  // namespace detail

inline WallMicros to_wall(MonoTime t) {
  return (std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()) +
          detail::wall_offset())
      .count();
}

}  // namespace pglc::lifecycle
