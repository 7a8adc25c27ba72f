// Statement classes (DESIGN §2): `statement_type` from libpg_query's parse tree, and
// `origin` — `driver` for what a client library sends on its own, recognised by the small
// table in statement_class.cpp (driver_statements()), else `application`.
#pragma once

#include <span>
#include <string_view>

namespace pglc::lifecycle {

// "select", "insert", "update", "delete", "merge", "copy", "ddl", "transaction", "set",
// "show", "discard", "prepare", "execute", "deallocate", "call", "explain", "other"; empty
// when the parser rejects the text. From the first statement of the text.
std::string_view statement_type(std::string_view sql);
// The same from a parse tree as pg_query_parse prints it (JSON); empty if none.
std::string_view statement_type_of_tree(std::string_view json);

// A statement a driver sends on its own: `normalized` is compared with a text normalized
// by libpg_query (constants as $n), whitespace runs folded, case kept.
struct DriverStatement {
  std::string_view normalized;
  bool prefix;  // the text starts with it (long catalog queries), or equals it
  std::string_view driver;
  std::string_view why;
};
std::span<const DriverStatement> driver_statements();

// "driver" or "application" for a normalized text (empty: unanalysed, "application").
std::string_view origin_of(std::string_view normalized_sql);

}  // namespace pglc::lifecycle
