// A mergeable log-bucket histogram of durations with at most 1 % relative error (the
// DDSketch construction: bucket i holds (γ^(i-1), γ^i] microseconds, γ = 1.01/0.99, and
// stands for 2γ^i/(γ+1), which is within 1 % of every value in it). Merging is adding
// counts bucket by bucket, so rollups of any set of minutes, proxies or keys merge exactly.
//
// Stored as JSON text, {"<milliseconds>": count, ...} with the bucket's representative
// value as the key, ascending: plain SQL in both stores (SQLite's json_each, PostgreSQL's
// jsonb_each_text) can expand, merge and rank it without any extension.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pglc::storage {

class LogHistogram {
 public:
  static constexpr double kRelativeError = 0.01;

  void add(double microseconds, std::uint64_t n = 1);
  void merge(const LogHistogram& other);
  std::uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Nearest-rank quantile (0 < q <= 1) as the bucket's representative, in microseconds.
  double quantile(double q) const;

  std::string to_json() const;
  // A representative in microseconds as the JSON keys hold it: milliseconds to 6
  // significant digits (so that a percentile computed here equals one ranked in SQL).
  static double as_stored_ms(double microseconds);
  // Parses what to_json writes (and any {"ms": count} object); nullopt if malformed.
  static std::optional<LogHistogram> from_json(std::string_view json);

  static int bucket_of(double microseconds);
  static double representative(int bucket);  // microseconds

  const std::vector<std::pair<std::uint16_t, std::uint64_t>>& buckets() const { return buckets_; }

 private:
  static constexpr std::size_t kInitialBuckets = 32;
  std::vector<std::pair<std::uint16_t, std::uint64_t>> buckets_;  // ascending bucket index
  std::uint64_t count_ = 0;
};

}  // namespace pglc::storage
