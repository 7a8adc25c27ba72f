// One direction's read buffer: small while traffic is small, `max` bytes during bursts
// (a large result, a COPY, a pipelined batch), and small again once a read shows the
// burst is over, so that a session does not keep its peak for the rest of its life.
// Buffers of `max` size come from mmap (app/main.cpp fixes malloc's mmap threshold), so
// shrinking gives the pages back to the system.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace pglc::proxy {

class RelayBuffer {
 public:
  // What an idle or lightly used session keeps per direction (haproxy's default buffer
  // size): 1,000 sessions touch 32 MiB of these at most.
  static constexpr std::size_t kSmall = 16u << 10;

  RelayBuffer() = default;
  // Starts at `initial` bytes (kSmall or max), growing up to `max`.
  RelayBuffer(std::size_t initial, std::size_t max)
      : small_(std::min(kSmall, max)),
        max_(max),
        size_(initial),
        data_(new std::uint8_t[initial]) {}  // uninitialised: untouched pages stay free

  std::uint8_t* data() { return data_.get(); }
  std::size_t size() const { return size_; }

  // Before a read, when nothing in the buffer is in use by an operation: applies the size
  // the last read asked for, keeping its first `keep` bytes.
  void before_read(std::size_t keep) {
    const std::size_t want = grow_ ? max_ : shrink_ ? small_ : size_;
    grow_ = shrink_ = false;
    if (want == size_ || keep > want) return;
    std::unique_ptr<std::uint8_t[]> next(new std::uint8_t[want]);
    if (keep > 0) std::memcpy(next.get(), data_.get(), keep);
    data_ = std::move(next);
    size_ = want;
  }

  // At least `size` bytes now (at most max), keeping the first `keep`.
  void ensure(std::size_t size, std::size_t keep) {
    size = std::min(size, max_);
    if (size <= size_) return;
    std::unique_ptr<std::uint8_t[]> next(new std::uint8_t[size]);
    if (keep > 0) std::memcpy(next.get(), data_.get(), keep);
    data_ = std::move(next);
    size_ = size;
  }

  // After a read that left the buffer's first `end` bytes in use.
  void after_read(std::size_t end) {
    if (end >= size_ && size_ < max_) {
      grow_ = true;
    } else if (end <= small_ / 2 && size_ > small_) {
      shrink_ = true;
    }
  }

 private:
  std::size_t small_ = kSmall;
  std::size_t max_ = 0;
  std::size_t size_ = 0;
  std::unique_ptr<std::uint8_t[]> data_;
  bool grow_ = false;
  bool shrink_ = false;
};

}  // namespace pglc::proxy
