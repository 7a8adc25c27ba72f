#include "lifecycle/uuid.hpp"

#include <openssl/rand.h>

#include <chrono>
#include <random>

namespace pglc::lifecycle {
namespace {

// xoshiro256**: fast, and good enough for the random part of an id that is not a secret.
class Xoshiro {
 public:
  Xoshiro() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s_), sizeof s_) != 1) {
      std::random_device rd;
      for (auto& w : s_) w = (std::uint64_t{rd()} << 32) ^ rd();
    }
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 0x9e3779b97f4a7c15ull;
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

Xoshiro& rng() {
  thread_local Xoshiro r;
  return r;
}

}  // namespace

std::string uuid_v7_at(std::int64_t unix_nanos) {
  const auto ms = static_cast<std::uint64_t>(unix_nanos / 1000000);
  const auto sub_ns = static_cast<std::uint64_t>(unix_nanos % 1000000);
  const std::uint64_t rand_a = (sub_ns * 4096) / 1000000;  // 12 bits of the sub-millisecond
  const std::uint64_t hi = (ms << 16) | (0x7ull << 12) | (rand_a & 0xfff);
  const std::uint64_t lo = (rng().next() & 0x3fffffffffffffffull) | 0x8000000000000000ull;

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t v, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = kHex[(v >> (i * 4)) & 0xf];
    }
  };
  put(hi, 16);
  put(lo, 16);
  return out;
}

std::string uuid_v7() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return uuid_v7_at(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

}  // namespace pglc::lifecycle
