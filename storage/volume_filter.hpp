// --sample-rate and --min-duration: which executions are stored. Decided on the io
// thread so dropped rows never take queue space. Errors are always kept (and stored with
// sample_rate 1), so error_stats stays exact.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "storage/recorder_config.hpp"
#include "lifecycle/records.hpp"
#include "storage/recorder_stats.hpp"

namespace pglc::storage {

class VolumeFilter {
 public:
  explicit VolumeFilter(const RecorderConfig& o)
      : sample_rate_(o.sample_rate < 0 ? 0 : (o.sample_rate > 1 ? 1 : o.sample_rate)),
        min_duration_us_(o.min_duration.count()) {}

  // The sample_rate to store with the row, or 0 when the execution is not stored.
  double keep(const lifecycle::ExecutionRecord& r, RecorderStats& stats) const {
    if (r.status != lifecycle::ExecutionStatus::success) return 1.0;
    if (min_duration_us_ > 0 && r.finished_at && *r.finished_at - r.began_at < min_duration_us_) {
      stats.below_min_duration.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    if (sample_rate_ < 1.0 && uniform() >= sample_rate_) {
      stats.sampled_out.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    return sample_rate_;
  }

 private:
  static double uniform() {
    thread_local std::minstd_rand rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }
  double sample_rate_;
  std::int64_t min_duration_us_;
};

}  // namespace pglc::storage
