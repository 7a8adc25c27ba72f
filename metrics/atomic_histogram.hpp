// Lock-free histogram and counter for the hot path. prometheus-cpp 1.0.1 takes a mutex
// per Histogram::Observe, which turns one histogram shared by all sessions into a global
// lock; these use relaxed atomics instead, spread over per-thread shards so that io
// threads do not bounce one cache line between cores. Scrapes sum the shards.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "metrics/buckets.hpp"

namespace pglc::metrics {

// Number of shards for the shared (unlabelled or fixed-label) series: a power of two
// no smaller than the hardware threads, capped at 16.
unsigned default_shard_count();

// The calling thread's shard slot (assigned round-robin on first use); callers mask it.
unsigned thread_slot();

struct HistogramSnapshot {
  std::array<std::uint64_t, kBucketBoundsNanos.size() + 1> cumulative{};  // last = +Inf
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

class AtomicHistogram {
 public:
  static constexpr std::size_t kBuckets = kBucketBoundsNanos.size() + 1;

  explicit AtomicHistogram(unsigned shards = 1);
  AtomicHistogram(AtomicHistogram&&) noexcept = default;
  AtomicHistogram& operator=(AtomicHistogram&&) noexcept = default;

  // Negative durations (clock oddities) count as zero.
  void observe_nanos(std::int64_t nanos);
  void observe(std::chrono::nanoseconds d) { observe_nanos(d.count()); }
  void observe_seconds(double seconds);

  HistogramSnapshot snapshot() const;

  // Index of the bucket that `nanos` falls into (the first bound >= nanos).
  static std::size_t bucket_index(std::int64_t nanos);

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<std::uint64_t>, kBuckets> counts{};
    std::atomic<std::uint64_t> sum_nanos{0};
  };
  std::unique_ptr<Shard[]> shards_;
  unsigned mask_ = 0;
};

class ShardedCounter {
 public:
  explicit ShardedCounter(unsigned shards = 1);
  ShardedCounter(ShardedCounter&&) noexcept = default;
  ShardedCounter& operator=(ShardedCounter&&) noexcept = default;

  void add(std::uint64_t n = 1) {
    shards_[thread_slot() & mask_].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const;

 private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> value{0};
  };
  std::unique_ptr<Shard[]> shards_;
  unsigned mask_ = 0;
};

}  // namespace pglc::metrics
