// A sql_texts.hash (lifecycle::sql_hash: 15 base64url characters of a SHA-256) as two
// words, for the fixed tables that remember texts (the writer's stored-text cache, the
// timing policy's first-execution set): its bytes as they are, so equal words mean equal
// hashes, and a mixed word to pick a table slot, since base64 characters leave the low
// bits of each byte uneven.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace pglc::lifecycle {

struct TextKey {
  // The hash's first 16 bytes, zero-padded. No default member initializers: the
  // writer's cache is made of these by calloc (all zero is its free entry).
  std::uint64_t hi, lo;
  bool operator==(const TextKey&) const = default;

  static TextKey of(std::string_view hash) {
    unsigned char b[16] = {};
    std::memcpy(b, hash.data(), hash.size() < sizeof b ? hash.size() : sizeof b);
    TextKey k{};
    std::memcpy(&k.hi, b, 8);
    std::memcpy(&k.lo, b + 8, 8);
    return k;
  }

  // Uniform over the bits of both words (a murmur3 finalizer).
  std::uint64_t mixed() const {
    std::uint64_t z = hi ^ (lo * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return z ^ (z >> 33);
  }
};

}  // namespace pglc::lifecycle
