// Caps the distinct values of one identity label (database, user, application): the
// first `limit` values seen keep their own series, every later one becomes "other", so
// a client that invents application names cannot explode Prometheus' cardinality.
// Not thread-safe: the caller serializes (it is consulted only on a cache miss).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

namespace pglc::metrics {

class LabelCap {
 public:
  static constexpr std::string_view kOther = "other";

  explicit LabelCap(std::size_t limit) : limit_(limit) {}

  // The value to expose for `value`.
  std::string_view admit(std::string_view value);
  std::size_t admitted() const { return values_.size(); }

 private:
  std::size_t limit_;
  std::unordered_set<std::string> values_;
};

}  // namespace pglc::metrics
