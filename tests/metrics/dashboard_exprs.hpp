// The PromQL expressions of config/grafana-dashboard.json and the metric names they use.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace pglc::test {

// Every "expr" of the dashboard, read with python3's json module (which also proves the
// file is well-formed JSON). Fails the current test when the file does not parse.
std::vector<std::string> dashboard_expressions(const std::string& path);

// Identifiers starting with pglifecycle_ or process_, with a histogram's _bucket, _sum or
// _count suffix removed when `families` holds the stripped name.
std::set<std::string> referenced_families(const std::string& expr,
                                          const std::set<std::string>& families);

}  // namespace pglc::test
