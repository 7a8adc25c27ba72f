#include "storage/schema.hpp"

#include <stdexcept>

namespace pglc::storage {

std::string query_stats_with_origin(const std::string& v5, const char* text_type) {
  std::string view = v5.substr(v5.find("DROP VIEW query_stats;"));
  auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = view.find(from);
    if (at == std::string::npos) throw std::logic_error("schema v12: no '" + from + "'");
    view.replace(at, from.size(), to);
  };
  replace("         max(last_at) AS last_seen\n  FROM rollup_totals",
          "         max(last_at) AS last_seen,\n         min(origin) AS origin\n  FROM rollup_totals");
  replace("       t.first_seen, t.last_seen\n", "       t.first_seen, t.last_seen, t.origin\n");
  return std::string("ALTER TABLE rollup_totals ADD COLUMN origin ") + text_type +
         " NOT NULL DEFAULT 'application';\n" + view;
}

}  // namespace pglc::storage
