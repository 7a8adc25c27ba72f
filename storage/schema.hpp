// The schema of DESIGN §3 for each store, as ordered migrations. A store records each
// applied version in schema_migrations and refuses a newer version than it knows.
#pragma once

#include <span>

namespace pglc::storage {

inline constexpr int kSchemaVersion = 6;

struct Migration {
  int version;
  const char* description;
  const char* sql;  // several statements
};

std::span<const Migration> sqlite_migrations();
std::span<const Migration> pg_migrations();

}  // namespace pglc::storage
