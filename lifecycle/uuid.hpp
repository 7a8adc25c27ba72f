// UUIDv7 (RFC 9562) text ids: 48 bits of Unix milliseconds, then 12 bits of sub-millisecond
// time (method 3), so ids sort by creation time to ~250 ns within one thread; the remaining
// 62 bits come from a per-thread PRNG seeded once from OpenSSL, so no lock is shared
// between sessions.
#pragma once

#include <cstdint>
#include <string>

namespace pglc::lifecycle {

// "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx", lowercase.
std::string uuid_v7();

// The same for a given Unix time in nanoseconds (tests, and callers that already hold one).
std::string uuid_v7_at(std::int64_t unix_nanos);

}  // namespace pglc::lifecycle
