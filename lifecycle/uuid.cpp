#include "lifecycle/uuid.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
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

// `rand_b10`: the 10 bits after the variant, else random like the rest of rand_b.
void uuid_text(char* out, std::uint64_t ms, std::uint64_t rand_a, int rand_b10 = -1) {
  const std::uint64_t hi = (ms << 16) | (0x7ull << 12) | (rand_a & 0xfff);
  std::uint64_t lo = (rng().next() & 0x3fffffffffffffffull) | 0x8000000000000000ull;
  if (rand_b10 >= 0) {
    lo = (lo & ~(0x3ffull << 52)) | (static_cast<std::uint64_t>(rand_b10 & 0x3ff) << 52);
  }

  // Where each of the 32 digits goes, around the dashes at 8, 13, 18 and 23: every id of
  // every statement and execution is written here on an io thread, so no branch per digit.
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::array<std::uint8_t, 32> kAt = {0,  1,  2,  3,  4,  5,  6,  7,  9,  10, 11,
                                                       12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25,
                                                       26, 27, 28, 29, 30, 31, 32, 33, 34, 35};
  out[8] = out[13] = out[18] = out[23] = '-';
  for (int i = 0; i < 16; ++i) out[kAt[i]] = kHex[(hi >> (60 - 4 * i)) & 0xf];
  for (int i = 0; i < 16; ++i) out[kAt[16 + i]] = kHex[(lo >> (60 - 4 * i)) & 0xf];
}

std::string uuid_text(std::uint64_t ms, std::uint64_t rand_a, int rand_b10 = -1) {
  std::string out(kUuidLength, '-');
  uuid_text(out.data(), ms, rand_a, rand_b10);
  return out;
}

}  // namespace

std::string uuid_v7_at(std::int64_t unix_nanos) {
  const auto ms = static_cast<std::uint64_t>(unix_nanos / 1000000);
  const auto sub_ns = static_cast<std::uint64_t>(unix_nanos % 1000000);
  return uuid_text(ms, (sub_ns * 4096) / 1000000);  // 12 bits of the sub-millisecond
}

std::string uuid_v7_with(std::int64_t unix_ms, std::uint32_t sequence) {
  return uuid_text(static_cast<std::uint64_t>(unix_ms), (sequence >> 10) & 0xfff,
                   static_cast<int>(sequence & 0x3ff));
}

void uuid_v7_into(char* out) {
  // (milliseconds << 12 | counter) of the last id this process made: RFC 9562's method 1,
  // a 12-bit counter in rand_a, so that ids never repeat within a process and a store
  // may keep just their time and counter (storage/sqlite_id.hpp). One atomic, no lock;
  // past 4,096 ids in one millisecond the counter borrows the next one.
  static std::atomic<std::uint64_t> last{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  std::uint64_t prev = last.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    next = std::max(prev + 1, ms << 12);
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  uuid_text(out, next >> 12, next & 0xfff);
}

void uuid_v7_into(std::string& out) {
  out.resize(kUuidLength);
  uuid_v7_into(out.data());
}

std::string uuid_v7() {
  std::string out;
  uuid_v7_into(out);
  return out;
}

}  // namespace pglc::lifecycle
