// A FIFO over one growing vector: slots are reused, so a steady pipeline allocates nothing
// after warm-up (std::deque frees and reallocates its blocks as the queue moves). After a
// burst it gives the memory back: when it empties at the end of a batch far smaller than
// its capacity (and the capacity is past kKeep, which no ordinary pipeline reaches).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace pglc::lifecycle {

template <class T>
class Ring {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  T& front() { return slots_[head_]; }
  const T& front() const { return slots_[head_]; }
  T& back() { return at(size_ - 1); }
  T& at(std::size_t i) { return slots_[(head_ + i) & (slots_.size() - 1)]; }
  const T& at(std::size_t i) const { return slots_[(head_ + i) & (slots_.size() - 1)]; }

  T& push_back(T&& value) { return push_slot() = std::move(value); }
  T& push_back(const T& value) { return push_slot() = value; }

  // Appends the next slot as it is: value-initialized, or as the last pop_front left it
  // (moved from). For a caller that sets every member in place, which spares a
  // temporary, its move and its destruction per element (the tracker's entry per message).
  T& push_slot() {
    if (size_ == slots_.size()) grow();
    T& slot = at(size_);
    if (++size_ > batch_peak_) batch_peak_ = size_;
    return slot;
  }

  // Moves the front element out. Its slot keeps no resources as long as T's move leaves
  // the source empty, as shared_ptr's and vector's do (the tracker's entries hold only
  // those and plain values): a reset to T{} here cost a construction, an assignment and a
  // destruction per message.
  T pop_front() {
    T out = std::move(slots_[head_]);
    head_ = (head_ + 1) & (slots_.size() - 1);
    if (--size_ == 0) {
      if (slots_.size() > kKeep && slots_.size() > 4 * batch_peak_) {
        std::vector<T>(kKeep).swap(slots_);
        head_ = 0;
      }
      batch_peak_ = 0;
    }
    return out;
  }

  std::size_t capacity() const { return slots_.size(); }
  static constexpr std::size_t kKeep = 256;

  // Removes the elements after the first `from` that match `pred`, keeping order (rare).
  template <class Pred>
  void remove_if_after(std::size_t from, Pred pred) {
    const std::size_t n = size_;
    for (std::size_t i = 0; i < n; ++i) {
      T v = pop_front();
      if (i < from || !pred(v)) push_back(std::move(v));
    }
  }

 private:
  void grow() {
    std::vector<T> bigger(slots_.empty() ? 16 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(at(i));
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;  // size is a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t batch_peak_ = 0;  // the most elements since it was last empty
};

}  // namespace pglc::lifecycle
