// UUIDv7 (RFC 9562) text ids: 48 bits of Unix milliseconds, then a 12-bit counter
// (method 1) that makes (milliseconds, counter) unique and increasing within the process,
// so ids sort by creation time; the remaining 62 bits come from a per-thread PRNG seeded
// once from OpenSSL, so ids of a fleet sharing one store do not collide either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pglc::lifecycle {

inline constexpr std::size_t kUuidLength = 36;

// "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx", lowercase.
std::string uuid_v7();
// The same into kUuidLength characters at `out`.
void uuid_v7_into(char* out);
// The same into `out`, whose buffer is reused: no allocation once it held an id.
void uuid_v7_into(std::string& out);

// An id of a given Unix time in nanoseconds, its sub-millisecond time in the counter's
// place (method 3): for tests, not unique by construction.
std::string uuid_v7_at(std::int64_t unix_nanos);

// An id of a given Unix millisecond whose 22-bit `sequence` fills the counter and the first
// 10 bits of rand_b: for tests that need ids of the past, unique as long as the caller's
// (millisecond, sequence) pairs are.
std::string uuid_v7_with(std::int64_t unix_ms, std::uint32_t sequence);

}  // namespace pglc::lifecycle
