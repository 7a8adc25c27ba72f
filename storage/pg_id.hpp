// The PostgreSQL store's ids are UUIDv7s: their first 48 bits are the millisecond.
#pragma once

#include <cstdio>
#include <string>

#include "lifecycle/clock.hpp"

namespace pglc::storage {

// The lowest UUIDv7 of the millisecond of `t`: `id >= uuid_floor(t)` finds rows made from
// then on by the primary key.
inline std::string uuid_floor(lifecycle::WallMicros t) {
  const auto ms = static_cast<unsigned long long>(t < 0 ? 0 : t / 1000);
  char hex[13];
  std::snprintf(hex, sizeof hex, "%012llx", ms & 0xffffffffffffull);
  const std::string h(hex);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-0000-0000-000000000000";
}

}  // namespace pglc::storage
