#include "tests/metrics/dashboard_exprs.hpp"

#include <doctest/doctest.h>

#include <regex>
#include <sstream>

#include "tests/support/pg_server.hpp"

namespace pglc::test {

std::vector<std::string> dashboard_expressions(const std::string& path) {
  // Walks the whole document: expressions may sit in panels, rows' nested panels or
  // templating queries. Newlines inside an expression are flattened to spaces.
  static const char* kScript = R"PY(
import json, sys
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                print(" ".join(value.split("\n")))
            else:
                walk(value)
    elif isinstance(node, list):
        for item in node:
            walk(item)
with open(sys.argv[1]) as f:
    walk(json.load(f))
)PY";
  std::string out;
  int status = run({"python3", "-c", kScript, path}, &out);
  INFO("python3 output: " << out);
  REQUIRE(status == 0);
  std::vector<std::string> exprs;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty()) exprs.push_back(line);
  return exprs;
}

std::set<std::string> referenced_families(const std::string& expr,
                                          const std::set<std::string>& families) {
  static const std::regex kName(R"(\b((pglifecycle|process)_[A-Za-z0-9_]+))");
  std::set<std::string> names;
  for (std::sregex_iterator it(expr.begin(), expr.end(), kName), end; it != end; ++it) {
    std::string name = (*it)[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
          families.count(name.substr(0, name.size() - s.size()))) {
        name.resize(name.size() - s.size());
        break;
      }
    }
    names.insert(name);
  }
  return names;
}

}  // namespace pglc::test
