// The writer's memory of sql_texts hashes already in the store, so a repeated text costs
// no INSERT. Hashes enter it only when their transaction committed, with the last_used
// time written for them: a text used again more than kTextTouch later is written again,
// which advances its last_used (retention deletes texts by it; storage/schema.hpp). It is
// forgotten now and then: another proxy's retention may delete a text this process
// remembers, and a forgotten hash only costs one INSERT ... ON CONFLICT.
//
// A fixed table, allocated once: 16,384 sets of four 32-byte entries (2 MiB). A new hash takes
// a free way of its set, or the one whose last_used is oldest. Under `pgbench -M
// simple`-like traffic every execution brings a new text; the map this replaces
// allocated a node per hash twice (staged, then known) and freed all 65,536 of them at
// once whenever it was full (malloc_consolidate and _int_free were 4 % of the writer's
// CPU in recorder_bench's simple case).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "lifecycle/text_key.hpp"
#include "storage/schema.hpp"

namespace pglc::storage {

class SqlTextCache {
 public:
  // calloc: fresh zero pages, so that the table costs memory only as texts arrive.
  SqlTextCache() : sets_(static_cast<Set*>(std::calloc(kSets, sizeof(Set)))) {
    if (!sets_) throw std::bad_alloc();
  }

  // True if `hash`, used by a statement received at `used_at` (wall microseconds), must be
  // written in the current transaction (and marks it so).
  bool stage(const std::string& hash, std::int64_t used_at) {
    const Key k = key_of(hash);
    Set& set = set_of(sets_.get(), k);
    Entry* e = find(set, k);
    if (e != nullptr) {
      if (e->staged) return false;  // already written in this transaction
      if (used_at < e->used_at + kTextTouchUs) return false;
    } else {
      e = victim(set);
    }
    *e = Entry{k, used_at, true};
    staged_.push_back(k);
    return true;
  }

  void commit() {
    const auto now = std::chrono::steady_clock::now();
    if (now - since_ > kMaxAge) {
      clear();
      since_ = now;
      return;
    }
    settle(true);
  }

  void rollback() { settle(false); }

  void clear() {
    std::memset(static_cast<void*>(sets_.get()), 0, kSets * sizeof(Set));
    staged_.clear();
  }

 private:
  using Key = lifecycle::TextKey;
  struct Entry {
    // No default member initializers: all-zero bytes (calloc) are a free entry.
    Key key;
    std::int64_t used_at;  // last_used as written (or being written)
    bool staged;           // written by the open transaction
    bool used() const { return key.hi != 0 || key.lo != 0; }
  };
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kSets = 16384;
  using Set = std::array<Entry, kWays>;
  static_assert(std::is_trivial_v<Set>, "calloc makes the table");
  static constexpr std::chrono::minutes kMaxAge{10};

  static Key key_of(const std::string& hash) {
    Key k = Key::of(hash);
    // All zero marks a free entry; an empty hash (never, from sql_hash) is remembered as
    // another.
    if (k.hi == 0 && k.lo == 0) k.lo = 1;
    return k;
  }

  static Set& set_of(Set* sets, const Key& k) { return sets[k.mixed() & (kSets - 1)]; }

  static Entry* find(Set& set, const Key& k) {
    for (Entry& e : set) {
      if (e.key == k) return &e;
    }
    return nullptr;
  }

  // A free way, else the committed one with the oldest last_used, else (every way staged
  // in this transaction) the first: that hash is then merely forgotten.
  static Entry* victim(Set& set) {
    Entry* best = nullptr;
    for (Entry& e : set) {
      if (!e.used()) return &e;
      if (!e.staged && (best == nullptr || e.used_at < best->used_at)) best = &e;
    }
    return best != nullptr ? best : &set[0];
  }

  // The open transaction's entries become known (committed) or are forgotten.
  void settle(bool committed) {
    for (const Key& k : staged_) {
      Entry* e = find(set_of(sets_.get(), k), k);
      if (e == nullptr || !e->staged) continue;
      if (committed)
        e->staged = false;
      else
        *e = Entry{{0, 0}, 0, false};
    }
    staged_.clear();
  }

  struct Free {
    void operator()(Set* p) const { std::free(p); }
  };
  std::unique_ptr<Set[], Free> sets_;
  std::vector<Key> staged_;  // keeps its capacity: one batch's new texts
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

}  // namespace pglc::storage
