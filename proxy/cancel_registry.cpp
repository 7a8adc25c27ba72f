#include "proxy/cancel_registry.hpp"

namespace pglc::proxy {

void CancelRegistry::add(CancelKey key, const void* owner, Notify notify) {
  std::lock_guard lock(mutex_);
  entries_.insert_or_assign(key, Entry{owner, std::move(notify)});
}

void CancelRegistry::remove(CancelKey key, const void* owner) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.owner == owner) entries_.erase(it);
}

bool CancelRegistry::notify(CancelKey key, lifecycle::MonoTime t) const {
  Notify n;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    n = it->second.notify;
  }
  if (n) n(t);
  return true;
}

std::size_t CancelRegistry::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pglc::proxy
