// Routes a CancelRequest, which arrives on a fresh connection, to the observer of the
// session whose backend owns the key. Touched once per session start/end and per cancel,
// never per message, so one mutex is fine.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "lifecycle/clock.hpp"

namespace pglc::proxy {

struct CancelKey {
  std::int32_t pid = 0;
  std::int32_t key = 0;
  friend bool operator<(const CancelKey& a, const CancelKey& b) {
    return std::pair(a.pid, a.key) < std::pair(b.pid, b.key);
  }
};

class CancelRegistry {
 public:
  // Called from the io thread that handles the CancelRequest; it must hand over to the
  // owning session's own thread itself.
  using Notify = std::function<void(lifecycle::MonoTime)>;

  // Registers (or replaces) the owner of `key`.
  void add(CancelKey key, const void* owner, Notify notify);
  // Removes `key` if `owner` still holds it (a reused pid may belong to another session).
  void remove(CancelKey key, const void* owner);
  // Calls the owner's Notify outside the lock; false when nobody owns the key.
  bool notify(CancelKey key, lifecycle::MonoTime t) const;
  std::size_t size() const;

 private:
  struct Entry {
    const void* owner;
    Notify notify;
  };
  mutable std::mutex mutex_;
  std::map<CancelKey, Entry> entries_;
};

}  // namespace pglc::proxy
