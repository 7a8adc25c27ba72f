// The rollups' histogram: 1 % relative error, exact merges, JSON both ways.
#include "storage/log_histogram.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using pglc::storage::LogHistogram;

namespace {
double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}
}  // namespace

TEST_CASE("every value is within 1 % of its bucket's representative") {
  for (double us = 1.0; us < 3.6e9; us *= 1.0037) {
    const double rep = LogHistogram::representative(LogHistogram::bucket_of(us));
    CHECK(std::abs(rep - us) / us <= 0.01 + 1e-12);
  }
  CHECK(LogHistogram::bucket_of(0.2) == 0);
  CHECK(LogHistogram::bucket_of(-5) == 0);
}

TEST_CASE("quantiles of known distributions within 1 %, and merges are exact") {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> lognormal(std::log(5000.0), 1.2);  // ~5 ms median
  std::uniform_real_distribution<double> uniform(50.0, 60e6);
  for (int which = 0; which < 2; ++which) {
    std::vector<double> values;
    LogHistogram whole, a, b;
    for (int i = 0; i < 100000; ++i) {
      const double v = which == 0 ? lognormal(rng) : uniform(rng);
      values.push_back(v);
      whole.add(v);
      (i % 3 == 0 ? a : b).add(v);
    }
    a.merge(b);
    CHECK(a.count() == whole.count());
    CHECK(a.buckets() == whole.buckets());
    for (double q : {0.5, 0.95, 0.99, 0.999}) {
      CAPTURE(q);
      const double exact = exact_quantile(values, q);
      CHECK(std::abs(whole.quantile(q) - exact) / exact <= 0.0101);
    }
  }
}

TEST_CASE("JSON: ascending millisecond keys, read back to the same buckets") {
  LogHistogram h;
  h.add(100, 3);
  h.add(2500000, 1);
  h.add(0.5, 2);
  const std::string json = h.to_json();
  CHECK(json.front() == '{');
  CHECK(json.find("\"0.001\":2") != std::string::npos);
  auto back = LogHistogram::from_json(json);
  REQUIRE(back);
  CHECK(back->buckets() == h.buckets());
  CHECK(back->count() == 6);
  CHECK(LogHistogram::from_json("{}")->empty());
  CHECK_FALSE(LogHistogram::from_json("[1,2]").has_value());
  CHECK_FALSE(LogHistogram::from_json("{\"x\":1}").has_value());
}
