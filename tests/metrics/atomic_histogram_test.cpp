#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "metrics/atomic_histogram.hpp"
#include "metrics/label_cap.hpp"

using pglc::metrics::AtomicHistogram;
using pglc::metrics::kBucketBoundsNanos;
using pglc::metrics::kBucketBoundsSeconds;

TEST_CASE("bucket bounds: 50 us to 60 s, increasing, seconds and nanoseconds agree") {
  CHECK(kBucketBoundsSeconds.front() == 50e-6);
  CHECK(kBucketBoundsSeconds.back() == 60.0);
  for (std::size_t i = 0; i < kBucketBoundsNanos.size(); ++i) {
    INFO(i);
    CHECK(static_cast<double>(kBucketBoundsNanos[i]) ==
          doctest::Approx(kBucketBoundsSeconds[i] * 1e9));
    if (i) CHECK(kBucketBoundsNanos[i] > kBucketBoundsNanos[i - 1]);
  }
}

TEST_CASE("an observation equal to a bound belongs to that bound's bucket (le is inclusive)") {
  CHECK(AtomicHistogram::bucket_index(0) == 0);
  CHECK(AtomicHistogram::bucket_index(50'000) == 0);
  CHECK(AtomicHistogram::bucket_index(50'001) == 1);
  CHECK(AtomicHistogram::bucket_index(250'000'000) == 16);
  CHECK(kBucketBoundsSeconds[16] == 0.25);
  CHECK(AtomicHistogram::bucket_index(60'000'000'000) == 23);
  CHECK(AtomicHistogram::bucket_index(60'000'000'001) == 24);  // +Inf
}

TEST_CASE("snapshot is cumulative, count equals +Inf, sum in seconds") {
  AtomicHistogram h(4);
  h.observe_seconds(0.2);
  h.observe_seconds(-1);  // clock oddity: counted as zero
  h.observe(std::chrono::seconds(120));
  auto s = h.snapshot();
  CHECK(s.count == 3);
  CHECK(s.cumulative[0] == 1);
  CHECK(s.cumulative[15] == 1);  // le=0.1
  CHECK(s.cumulative[16] == 2);  // le=0.25
  CHECK(s.cumulative[23] == 2);  // le=60
  CHECK(s.cumulative[24] == 3);  // +Inf
  CHECK(s.sum_seconds == doctest::Approx(120.2));
}

TEST_CASE("two threads observing a million times lose nothing") {
  AtomicHistogram h(pglc::metrics::default_shard_count());
  pglc::metrics::ShardedCounter c(pglc::metrics::default_shard_count());
  constexpr int kPerThread = 500'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        h.observe_nanos(t == 0 ? 1'000 : 2'000'000);
        c.add(2);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto s = h.snapshot();
  CHECK(s.count == 2u * kPerThread);
  CHECK(s.cumulative[0] == kPerThread);
  CHECK(s.cumulative[7] == kPerThread);       // le=0.0015
  CHECK(s.cumulative[8] == 2u * kPerThread);  // le=0.002
  CHECK(s.sum_seconds == doctest::Approx(kPerThread * (1e-6 + 2e-3)));
  CHECK(c.value() == 4u * kPerThread);
}

TEST_CASE("label cap admits the first N distinct values, the rest are other") {
  pglc::metrics::LabelCap cap(2);
  CHECK(cap.admit("a") == "a");
  CHECK(cap.admit("b") == "b");
  CHECK(cap.admit("c") == "other");
  CHECK(cap.admit("a") == "a");
  CHECK(cap.admitted() == 2);
  pglc::metrics::LabelCap none(0);
  CHECK(none.admit("a") == "other");
}
