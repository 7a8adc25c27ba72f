// The writer's memory of sql_texts hashes already in the store, so a repeated text costs
// no INSERT. Hashes enter it only when their transaction committed. It is forgotten now
// and then: another proxy's retention may delete a text this process remembers, and a
// forgotten hash only costs one INSERT ... DO NOTHING.
#pragma once

#include <chrono>
#include <string>
#include <unordered_set>
#include <vector>

namespace pglc::storage {

class SqlTextCache {
 public:
  // True if `hash` must be written in the current transaction (and marks it so).
  bool stage(const std::string& hash) {
    if (known_.contains(hash)) return false;
    if (!staged_set_.insert(hash).second) return false;
    staged_.push_back(hash);
    return true;
  }
  void commit() {
    const auto now = std::chrono::steady_clock::now();
    if (known_.size() + staged_.size() > kMaxEntries || now - since_ > kMaxAge) {
      known_.clear();
      since_ = now;
    }
    for (auto& h : staged_) known_.insert(std::move(h));
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
  static constexpr std::size_t kMaxEntries = 1'000'000;
  static constexpr std::chrono::minutes kMaxAge{10};
  std::unordered_set<std::string> known_;
  std::unordered_set<std::string> staged_set_;
  std::vector<std::string> staged_;
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

}  // namespace pglc::storage
