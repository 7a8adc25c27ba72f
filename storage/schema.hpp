// The schema of DESIGN §3 for each store, as ordered migrations. A store records each
// applied version in schema_migrations and refuses a newer version than it knows.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace pglc::storage {

inline constexpr int kSchemaVersion = 13;

// sql_texts.last_used (version 7) is the latest received_at of the statements that use a
// text, kept within kTextTouchUs: the writer advances it only when it is that much behind,
// so steady traffic costs no UPDATE, and no random-key index of statements by text is
// needed. A text whose last_used is older than the retention cutoff by kTextSlackUs is
// used by no statement received after the cutoff (last_used >= received_at - 2 touches:
// the store's value and the writer's memory of it can each be one touch behind), and
// retention deletes it unless one of the older statements that are still kept uses it.
inline constexpr std::int64_t kTextTouchUs = 3'600'000'000;  // one hour
inline constexpr std::int64_t kTextSlackUs = 3 * kTextTouchUs;

struct Migration {
  int version;
  const char* description;
  const char* sql;  // several statements
};

std::span<const Migration> sqlite_migrations();
std::span<const Migration> pg_migrations();

// Version 12 of either store: rollup_totals gains `origin` (of SQL type `text_type`) and
// query_stats shows it — the store's version-5 query_stats with that column added, built
// from its text (`v5`) so that the two cannot drift apart.
std::string query_stats_with_origin(const std::string& v5, const char* text_type);

}  // namespace pglc::storage
