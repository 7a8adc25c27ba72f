// A small free list of equal-sized blocks, and an allocator over it for
// std::allocate_shared: a session's tracker makes an execution (and for the unnamed
// statement a statement) per transaction, and with the blocks kept for the next one that
// costs no malloc on the io thread. One pool per tracker, so no lock: a tracker lives on
// its session's io thread. The pool must outlive every pointer allocated from it (declare
// it before the members that hold them).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace pglc::lifecycle {

class BlockPool {
 public:
  BlockPool() { free_.reserve(kKeep); }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;
  ~BlockPool() {
    for (void* p : free_) ::operator delete(p);
  }

  // The pool serves the first size it is asked for; any other goes to operator new.
  void* take(std::size_t size) {
    if (size_ == 0) size_ = size;
    if (size == size_ && !free_.empty()) {
      void* p = free_.back();
      free_.pop_back();
      return p;
    }
    return ::operator new(size);
  }

  void give(void* p, std::size_t size) {
    if (size == size_ && free_.size() < kKeep) {
      free_.push_back(p);
      return;
    }
    ::operator delete(p);
  }

 private:
  // Executions in flight at once in one session: a pipeline's worth.
  static constexpr std::size_t kKeep = 16;
  std::size_t size_ = 0;
  std::vector<void*> free_;
};

template <class T>
struct PoolAllocator {
  using value_type = T;
  explicit PoolAllocator(BlockPool& p) : pool(&p) {}
  template <class U>
  PoolAllocator(const PoolAllocator<U>& o) : pool(o.pool) {}  // NOLINT: rebinding

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    return static_cast<T*>(pool->take(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) { pool->give(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const PoolAllocator<U>& o) const {
    return pool == o.pool;
  }

  BlockPool* pool;
};

}  // namespace pglc::lifecycle
