// Record ids in the SQLite store: 64-bit integers (DESIGN §3: the most compact type that
// fits; a rowid costs nothing beyond the row). A record id is a UUIDv7 whose time and
// counter are unique within the proxy that made it (lifecycle/uuid.hpp); a SQLite store
// is written by one proxy, so those 60 bits are the id:
//
//   (milliseconds since 2025-01-01 UTC) << 22  |  counter << 10  |  10 bits of rand_b
//
// (the rand_b bits only matter to tests that make ids of the past, see uuid_v7_with).
// Ids migrated from a store of schema version 3 or older (whose UUIDs held sub-millisecond
// time, not a counter) are their millisecond plus their rank within it, which stays
// below any id made after the migration.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

#include "lifecycle/clock.hpp"

namespace pglc::storage {

inline constexpr std::int64_t kSqliteIdEpochMs = 1735689600000;  // 2025-01-01T00:00:00Z
inline constexpr int kSqliteIdTimeShift = 22;

namespace sqlite_id_detail {

// The value of a hex digit, or -1: a table, so that the 19 digits read of each id (three
// ids per execution row) cost no branch each (under PowerBI this was the writer's hottest
// function of ours).
inline constexpr auto kHexDigit = [] {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<std::int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<std::int8_t>(c - 'A' + 10);
  return t;
}();

// Hex digits of `s` at [from, from + n), or -1.
inline std::int64_t hex(std::string_view s, std::size_t from, std::size_t n) {
  std::int64_t v = 0;
  int bad = 0;  // negative once any digit was not one
  for (std::size_t i = from; i < from + n; ++i) {
    const int d = kHexDigit[static_cast<unsigned char>(s[i])];
    bad |= d;
    v = (v << 4) | (d & 0xf);
  }
  return bad < 0 ? -1 : v;
}

inline std::int64_t hashed(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return static_cast<std::int64_t>(h >> 1);
}

}  // namespace sqlite_id_detail

inline std::int64_t sqlite_id(std::string_view u) {
  // 8-4-4-4-12 hex digits, version digit 7: milliseconds in the first 12 digits, the counter in the
  // 3 after the version digit.
  if (u.size() != 36 || u[8] != '-' || u[13] != '-' || u[14] != '7')
    return sqlite_id_detail::hashed(u);
  const std::int64_t ms_hi = sqlite_id_detail::hex(u, 0, 8), ms_lo = sqlite_id_detail::hex(u, 9, 4),
                     counter = sqlite_id_detail::hex(u, 15, 3);
  if (ms_hi < 0 || ms_lo < 0 || counter < 0) return sqlite_id_detail::hashed(u);
  const std::int64_t ms = ((ms_hi << 16) | ms_lo) - kSqliteIdEpochMs;
  if (ms < 0 || ms >= (std::int64_t{1} << (63 - kSqliteIdTimeShift)))
    return sqlite_id_detail::hashed(u);
  const std::int64_t rand_b = sqlite_id_detail::hex(u, 19, 4);
  if (rand_b < 0) return sqlite_id_detail::hashed(u);
  return (ms << kSqliteIdTimeShift) | (counter << 10) | ((rand_b >> 4) & 0x3ff);
}

inline std::int64_t sqlite_id_floor(lifecycle::WallMicros t) {
  const std::int64_t ms = std::max<std::int64_t>(t / 1000 - kSqliteIdEpochMs, 0);
  return ms << kSqliteIdTimeShift;
}

}  // namespace pglc::storage
