// A strict reader of the Prometheus text exposition format (0.0.4) for the tests: every
// line must be a comment or a well-formed sample, and samples are looked up by name and
// labels.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pglc::test {

struct Exposition {
  using Labels = std::vector<std::pair<std::string, std::string>>;
  struct Sample {
    std::string name;
    Labels labels;
    double value = 0;
  };
  std::vector<Sample> all;  // in the order they appeared
  // Key: name{label="value",...} with labels sorted by name.
  std::map<std::string, double> samples;
  std::set<std::string> families;      // names from # TYPE lines
  std::vector<std::string> bad_lines;  // lines that are neither comments nor samples

  static std::string key(std::string_view name, Labels labels);

  std::optional<double> get(std::string_view name, Labels labels = {}) const;
  // Number of samples of `name` (any labels).
  std::size_t count(std::string_view name) const;
  // The (le, cumulative count) pairs of one histogram series, in exposition order.
  std::vector<std::pair<double, double>> buckets(std::string_view histogram, Labels labels) const;
};

Exposition parse_exposition(const std::string& text);

}  // namespace pglc::test
