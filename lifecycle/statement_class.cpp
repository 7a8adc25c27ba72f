#include "lifecycle/statement_class.hpp"

#include <pg_query.h>

#include <algorithm>
#include <array>
#include <string>

#include "lifecycle/text_format.hpp"

namespace pglc::lifecycle {
namespace {

struct NodeType {
  std::string_view node, type;
};

// libpg_query's statement nodes (PostgreSQL 15's parsenodes.h) and their class. Any other
// node whose name says it creates, alters, drops, renames, grants or comments on an object
// is `ddl`; the rest `other`.
constexpr std::array<NodeType, 22> kNodes = {{
    {"SelectStmt", "select"},
    {"InsertStmt", "insert"},
    {"UpdateStmt", "update"},
    {"DeleteStmt", "delete"},
    {"MergeStmt", "merge"},
    {"CopyStmt", "copy"},
    {"TransactionStmt", "transaction"},
    {"VariableSetStmt", "set"},
    {"VariableShowStmt", "show"},
    {"DiscardStmt", "discard"},
    {"PrepareStmt", "prepare"},
    {"ExecuteStmt", "execute"},
    {"DeallocateStmt", "deallocate"},
    {"CallStmt", "call"},
    {"ExplainStmt", "explain"},
    {"CreateTableAsStmt", "ddl"},
    {"TruncateStmt", "ddl"},
    {"IndexStmt", "ddl"},
    {"ViewStmt", "ddl"},
    {"GrantStmt", "ddl"},
    {"GrantRoleStmt", "ddl"},
    {"RenameStmt", "ddl"},
}};

// What drivers send on their own. psql's \d queries are the user's (asked for), and so is
// a BEGIN or SET that an application may as well send itself.
constexpr std::array<DriverStatement, 13> kDrivers = {{
    {"DISCARD ALL", false, "Npgsql, PgBouncer",
     "connection pool reset when a pooled connection is handed back"},
    {"SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid", true, "Npgsql",
     "type loading after connecting (Npgsql 4.1 and later)"},
    {"SELECT ns.nspname, a.typname, a.oid, a.typrelid, a.typbasetype,", true, "Npgsql",
     "type loading after connecting (Npgsql 4.0)"},
    {"-- Load field definitions for (free-standing) composite types", true, "Npgsql",
     "composite type loading after connecting"},
    {"-- Load enum fields", true, "Npgsql", "enum label loading after connecting"},
    {"SET extra_float_digits = $1", false, "pgjdbc", "session setup after connecting"},
    {"SET application_name = $1", false, "pgjdbc",
     "session setup after connecting (older pgjdbc; newer send it in the startup packet)"},
    {"select oid, typbasetype from pg_type where typname = $1", false, "pgjdbc",
     "type lookup for a parameter or result type"},
    // pgjdbc 42.5 (Debian 12's libpostgresql-jdbc-java) TypeInfoCache, as seen through the
    // proxy by tests/integration/drivers_test.cpp.
    {"SELECT n.nspname = ANY(current_schemas($2)), n.nspname, t.typname FROM "
     "pg_catalog.pg_type t",
     true, "pgjdbc", "type name lookup for a result column of a type it does not know"},
    {"SELECT typinput=", true, "pgjdbc", "array / type category lookup (TypeInfoCache)"},
    {"SELECT t.typarray, arr.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n",
     true, "pgjdbc", "array type lookup for createArrayOf"},
    {"SELECT e.typdelim FROM pg_catalog.pg_type t, pg_catalog.pg_type e WHERE t.oid = $1 and "
     "t.typelem = e.oid",
     false, "pgjdbc", "array delimiter lookup"},
    {"SELECT e.oid, n.nspname = ANY(current_schemas($2)), n.nspname, e.typname FROM "
     "pg_catalog.pg_type t JOIN pg_catalog.pg_type e",
     true, "pgjdbc", "array element type lookup"},
}};

}  // namespace

std::string_view statement_type_of_tree(std::string_view json) {
  // {"version":150001,"stmts":[{"stmt":{"SelectStmt":{...
  constexpr std::string_view kStmt = "\"stmt\":{\"";
  const auto at = json.find(kStmt);
  if (at == std::string_view::npos) return {};
  const auto begin = at + kStmt.size();
  const auto end = json.find('"', begin);
  if (end == std::string_view::npos) return {};
  const std::string_view node = json.substr(begin, end - begin);
  for (const NodeType& n : kNodes) {
    if (n.node == node) return n.type;
  }
  for (std::string_view p : {"Create", "Alter", "Drop", "Comment", "Define", "Reindex", "Cluster",
                             "Vacuum", "Refresh", "Sec"}) {
    if (node.substr(0, p.size()) == p) return "ddl";
  }
  return "other";
}

std::string_view statement_type(std::string_view sql) {
  const std::string z(sql);
  PgQueryParseResult r = pg_query_parse(z.c_str());
  std::string_view type;
  if (r.error == nullptr && r.parse_tree != nullptr) type = statement_type_of_tree(r.parse_tree);
  pg_query_free_parse_result(r);
  return type;
}

std::span<const DriverStatement> driver_statements() {
  return kDrivers;
}

namespace {

// The drivers' texts folded once: origin_of runs for every new text on the writer, and
// folding the thirteen of them each time was a fifth of its instructions under
// `pgbench -M simple` (a new text per Query).
struct FoldedDrivers {
  std::array<std::string, kDrivers.size()> text;
  std::size_t longest = 0;
  FoldedDrivers() {
    for (std::size_t i = 0; i < kDrivers.size(); ++i) {
      text[i] = fold_whitespace(kDrivers[i].normalized);
      longest = std::max(longest, text[i].size());
    }
  }
};

}  // namespace

std::string_view origin_of(std::string_view normalized_sql) {
  if (normalized_sql.empty()) return "application";
  static const FoldedDrivers drivers;
  // Only the text's folded head can match: one byte past the longest driver text tells
  // a prefix from an equal text. No allocation (the head lives on the stack).
  std::array<char, 512> head;
  std::size_t n = 0;
  const std::size_t want = std::min(drivers.longest + 1, head.size());
  bool space = false;
  for (char c : normalized_sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = n != 0;
      continue;
    }
    if (space) {
      if (n == want) break;
      head[n++] = ' ';
    }
    space = false;
    if (n == want) break;
    head[n++] = c;
  }
  const std::string_view text(head.data(), n);
  for (std::size_t i = 0; i < kDrivers.size(); ++i) {
    const std::string& w = drivers.text[i];
    if (kDrivers[i].prefix ? text.substr(0, w.size()) == w : text == w) return "driver";
  }
  return "application";
}

}  // namespace pglc::lifecycle
