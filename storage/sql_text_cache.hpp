// The writer's memory of sql_texts hashes already in the store, so a repeated text costs
// no INSERT. Hashes enter it only when their transaction committed, with the last_used
// time written for them: a text used again more than kTextTouch later is written again,
// which advances its last_used (retention deletes texts by it; storage/schema.hpp). It is
// forgotten now and then: another proxy's retention may delete a text this process
// remembers, and a forgotten hash only costs one INSERT ... ON CONFLICT.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storage/schema.hpp"

namespace pglc::storage {

class SqlTextCache {
 public:
  // True if `hash`, used by a statement received at `used_at` (wall microseconds), must be
  // written in the current transaction (and marks it so).
  bool stage(const std::string& hash, std::int64_t used_at) {
    const Key k = key_of(hash);
    if (const auto it = known_.find(k); it != known_.end() && used_at < it->second + kTextTouchUs) {
      return false;
    }
    if (!staged_set_.insert(k).second) return false;
    staged_.emplace_back(k, used_at);
    return true;
  }
  void commit() {
    const auto now = std::chrono::steady_clock::now();
    if (known_.size() + staged_.size() > kMaxEntries || now - since_ > kMaxAge) {
      known_ = {};  // gives the buckets back too
      since_ = now;
    }
    for (const auto& [k, used_at] : staged_) known_[k] = used_at;
    rollback();
  }
  void rollback() {
    staged_.clear();
    staged_set_.clear();
  }
  void clear() {
    known_.clear();
    rollback();
  }

 private:
  // The hash's first 128 bits as two words (the hex text would cost a heap string each):
  // about 50 bytes an entry, so the bound is a few MiB. Under `pgbench -M simple`-like
  // traffic every execution brings a new text, and a million entries of text hashes were
  // 150 MiB.
  struct Key {
    std::uint64_t hi = 0, lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept { return k.hi ^ (k.lo * 0x9e3779b97f4a7c15ull); }
  };
  static Key key_of(const std::string& hex) {
    Key k;
    auto nibble = [](char c) -> std::uint64_t {
      return c >= 'a' ? static_cast<std::uint64_t>(c - 'a' + 10) : static_cast<std::uint64_t>(c - '0');
    };
    for (std::size_t i = 0; i < hex.size() && i < 32; ++i) {
      std::uint64_t& w = i < 16 ? k.hi : k.lo;
      w = (w << 4) | (nibble(hex[i]) & 0xf);
    }
    return k;
  }
  static constexpr std::size_t kMaxEntries = 65536;
  static constexpr std::chrono::minutes kMaxAge{10};
  std::unordered_map<Key, std::int64_t, KeyHash> known_;  // -> last_used written
  std::unordered_set<Key, KeyHash> staged_set_;
  std::vector<std::pair<Key, std::int64_t>> staged_;
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

}  // namespace pglc::storage
