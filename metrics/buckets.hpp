// Histogram bucket upper bounds shared by every pglifecycle histogram. Loopback queries
// take tens of microseconds, so the bounds are dense below 10 ms; the top bound covers
// the reports that PowerBI runs for a minute.
#pragma once

#include <array>
#include <cstdint>

namespace pglc::metrics {

inline constexpr std::array<double, 24> kBucketBoundsSeconds = {
    0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075,  // 50 µs .. 750 µs
    0.001,   0.0015, 0.002,  0.003,  0.005,  0.0075,   // 1 ms .. 7.5 ms
    0.01,    0.025,  0.05,   0.1,    0.25,   0.5,      // 10 ms .. 500 ms
    1.0,     2.5,    5.0,    10.0,   30.0,   60.0,     // 1 s .. 60 s
};

// The same bounds in integer nanoseconds: bucket placement compares integers, so an
// observation that equals a bound lands exactly in that bound's bucket.
inline constexpr std::array<std::int64_t, 24> kBucketBoundsNanos = {
    50'000,        100'000,       200'000,       300'000,        500'000,        750'000,
    1'000'000,     1'500'000,     2'000'000,     3'000'000,      5'000'000,      7'500'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,    250'000'000,    500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000, 30'000'000'000, 60'000'000'000,
};

}  // namespace pglc::metrics
