#include "metrics/atomic_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <thread>

namespace pglc::metrics {

namespace {
std::atomic<unsigned> next_slot{0};

unsigned round_shards(unsigned shards) {
  return std::bit_ceil(std::clamp(shards, 1u, 64u));
}
}  // namespace

unsigned default_shard_count() {
  static const unsigned count = round_shards(std::min(std::thread::hardware_concurrency(), 16u));
  return count;
}

unsigned thread_slot() {
  thread_local const unsigned slot = next_slot.fetch_add(1, std::memory_order_relaxed);
  return slot;
}

AtomicHistogram::AtomicHistogram(unsigned shards)
    : shards_(std::make_unique<Shard[]>(round_shards(shards))), mask_(round_shards(shards) - 1) {}

std::size_t AtomicHistogram::bucket_index(std::int64_t nanos) {
  return static_cast<std::size_t>(
      std::lower_bound(kBucketBoundsNanos.begin(), kBucketBoundsNanos.end(), nanos) -
      kBucketBoundsNanos.begin());
}

void AtomicHistogram::observe_nanos(std::int64_t nanos) {
  if (nanos < 0) nanos = 0;
  Shard& shard = shards_[thread_slot() & mask_];
  shard.counts[bucket_index(nanos)].fetch_add(1, std::memory_order_relaxed);
  shard.sum_nanos.fetch_add(static_cast<std::uint64_t>(nanos), std::memory_order_relaxed);
}

void AtomicHistogram::observe_seconds(double seconds) {
  // NaN and negatives count as zero; anything beyond ~292 years saturates.
  if (!(seconds > 0)) return observe_nanos(0);
  if (seconds > 9.2e9) return observe_nanos(INT64_MAX / 2);
  observe_nanos(std::llround(seconds * 1e9));
}

HistogramSnapshot AtomicHistogram::snapshot() const {
  HistogramSnapshot snap;
  std::uint64_t sum_nanos = 0;
  for (unsigned s = 0; s <= mask_; ++s) {
    const Shard& shard = shards_[s];
    for (std::size_t b = 0; b < kBuckets; ++b)
      snap.cumulative[b] += shard.counts[b].load(std::memory_order_relaxed);
    sum_nanos += shard.sum_nanos.load(std::memory_order_relaxed);
  }
  for (std::size_t b = 1; b < kBuckets; ++b) snap.cumulative[b] += snap.cumulative[b - 1];
  // _count is the +Inf bucket, so the two always agree within one scrape.
  snap.count = snap.cumulative[kBuckets - 1];
  snap.sum_seconds = static_cast<double>(sum_nanos) / 1e9;
  return snap;
}

ShardedCounter::ShardedCounter(unsigned shards)
    : shards_(std::make_unique<Shard[]>(round_shards(shards))), mask_(round_shards(shards) - 1) {}

std::uint64_t ShardedCounter::value() const {
  std::uint64_t total = 0;
  for (unsigned s = 0; s <= mask_; ++s) total += shards_[s].value.load(std::memory_order_relaxed);
  return total;
}

}  // namespace pglc::metrics
