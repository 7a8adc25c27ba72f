// Recycled memory for the relay's completion handlers. Each direction of a session has
// at most one socket operation in flight, so one fixed block per direction holds every
// operation Asio allocates for it: steady-state relaying allocates nothing.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace pglc::proxy {

class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  void* allocate(std::size_t size) {
    if (!in_use_ && size <= sizeof storage_) {
      in_use_ = true;
      return storage_;
    }
    // A second operation at once (TLS may write while reading) or a larger one.
    return ::operator new(size);
  }
  void deallocate(void* p) {
    if (p == storage_)
      in_use_ = false;
    else
      ::operator delete(p);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[2048];
  bool in_use_ = false;
};

template <class T>
class HandlerAllocator {
 public:
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory& m) : memory_(&m) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory_(other.memory_) {}
  T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) { memory_->deallocate(p); }
  bool operator==(const HandlerAllocator& o) const noexcept { return memory_ == o.memory_; }
  bool operator!=(const HandlerAllocator& o) const noexcept { return memory_ != o.memory_; }

 private:
  template <class>
  friend class HandlerAllocator;
  HandlerMemory* memory_;
};

// A completion handler whose associated allocator is `memory`.
template <class Handler>
class AllocatingHandler {
 public:
  using allocator_type = HandlerAllocator<Handler>;
  AllocatingHandler(HandlerMemory& m, Handler h) : memory_(m), handler_(std::move(h)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(memory_); }
  template <class... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  HandlerMemory& memory_;
  Handler handler_;
};

template <class Handler>
AllocatingHandler<std::decay_t<Handler>> with_memory(HandlerMemory& m, Handler&& h) {
  return AllocatingHandler<std::decay_t<Handler>>(m, std::forward<Handler>(h));
}

}  // namespace pglc::proxy
