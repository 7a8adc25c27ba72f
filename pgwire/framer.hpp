// Incremental framer for the normal protocol phase, either direction.
//
// The relay forwards bytes as they arrive; the framer only watches them. Messages that
// lie whole inside one chunk are handed out as views of that chunk (zero copy). A
// message that straddles reads is assembled in a reused buffer, up to `retain_limit`
// bytes of body; DataRow and CopyData bodies that straddle reads are not retained at
// all, because the tracker needs only their type and length and a large result must
// stream without being held in memory.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pgwire/frame.hpp"

namespace pglc::pgwire {

enum class FrameError { none, length_too_small, length_too_large };

enum class Direction { frontend, backend };

std::string_view describe(FrameError e);

class Framer {
 public:
  static constexpr std::uint32_t kDefaultRetainLimit = 1u << 20;
  // The assembly buffer keeps up to this much capacity between messages; a larger one,
  // left by a burst, is given back so that a session does not keep its peak.
  static constexpr std::size_t kKeptCapacity = 64u << 10;

  // Which peer sends the framed bytes: 'D' is Describe from a client (always retained)
  // but DataRow from a server (not retained across reads).
  explicit Framer(Direction direction, std::uint64_t max_message_size = 1ull << 30,
                  std::uint32_t retain_limit = kDefaultRetainLimit);

  // Scans `chunk`, calling on_frame(const Frame&, std::size_t end) for each message
  // that completes inside it; `end` is the offset in `chunk` just past that message.
  // Returns the first error; after an error every later feed returns it again and
  // reports no frame.
  //
  // If on_frame returns bool, false stops the scan right after that message: *consumed
  // (when given) is then its `end`, and the caller feeds the rest of the chunk later.
  // Otherwise *consumed is the chunk's size.
  template <class OnFrame>
  FrameError feed(Bytes chunk, OnFrame&& on_frame, std::size_t* consumed = nullptr);

  // True between messages: no partial header or body is pending.
  bool at_boundary() const { return header_len_ == 0 && !in_body_; }

  // Changes the largest accepted message, e.g. to PostgreSQL's smaller bound for
  // authentication messages before login. Applies from the next message header on.
  void set_max_message_size(std::uint64_t max) { max_message_size_ = max; }

 private:
  FrameError start_body();
  Frame assembled_frame() const;
  void reset();

  Direction direction_;
  std::uint64_t max_message_size_;
  std::uint32_t retain_limit_;

  std::uint8_t header_[5]{};
  std::size_t header_len_ = 0;
  bool in_body_ = false;
  char type_ = 0;
  std::uint32_t length_ = 0;
  std::size_t body_seen_ = 0;  // body bytes consumed so far
  std::size_t retain_ = 0;     // body bytes to keep for this message
  std::vector<std::uint8_t> assembly_;
  FrameError error_ = FrameError::none;
};

// DataRow and CopyData carry the bulk of a result or a COPY; everything else is small
// and needed whole by the decoders.
inline bool retains_body_across_reads(Direction direction, char type) {
  return type != 'd' && (direction == Direction::frontend || type != 'D');
}

template <class OnFrame>
FrameError Framer::feed(Bytes chunk, OnFrame&& on_frame, std::size_t* consumed) {
  // The stream has no message boundary to resume from after an error.
  if (error_ != FrameError::none) return error_;
  std::size_t pos = 0;
  const std::size_t n = chunk.size();
  if (consumed != nullptr) *consumed = n;
  // Calls on_frame; true when the scan is to stop after this message.
  auto deliver = [&](const Frame& f, std::size_t end) {
    if constexpr (std::is_same_v<std::invoke_result_t<OnFrame&, const Frame&, std::size_t>, bool>) {
      if (on_frame(f, end)) return false;
      if (consumed != nullptr) *consumed = end;
      return true;
    } else {
      on_frame(f, end);
      return false;
    }
  };
  while (pos < n) {
    if (!in_body_) {
      // Fast path: header and body wholly inside this chunk.
      if (header_len_ == 0 && n - pos >= 5) {
        const std::uint32_t len = be32(chunk.data() + pos + 1);
        if (len < 4) return error_ = FrameError::length_too_small;
        if (len > max_message_size_) return error_ = FrameError::length_too_large;
        if (n - pos - 5 >= len - 4) {
          Frame f{static_cast<char>(chunk[pos]), len, chunk.subspan(pos + 5, len - 4)};
          pos += 5 + (len - 4);
          if (deliver(f, pos)) return FrameError::none;
          continue;
        }
      }
      std::size_t take = std::min<std::size_t>(5 - header_len_, n - pos);
      for (std::size_t i = 0; i < take; ++i) header_[header_len_++] = chunk[pos + i];
      pos += take;
      if (header_len_ < 5) break;
      if (FrameError e = start_body(); e != FrameError::none) return error_ = e;
      if (length_ == 4) {
        Frame f{type_, length_, {}};
        reset();
        if (deliver(f, pos)) return FrameError::none;
        continue;
      }
    }
    const std::size_t remaining = (length_ - 4) - body_seen_;
    const std::size_t take = std::min(remaining, n - pos);
    if (body_seen_ == 0 && take == remaining) {
      // Body starts and ends inside this chunk.
      Frame f{type_, length_, chunk.subspan(pos, take)};
      pos += take;
      reset();
      if (deliver(f, pos)) return FrameError::none;
      continue;
    }
    if (body_seen_ < retain_) {
      std::size_t keep = std::min(take, retain_ - body_seen_);
      assembly_.insert(assembly_.end(), chunk.begin() + pos, chunk.begin() + pos + keep);
    }
    body_seen_ += take;
    pos += take;
    if (body_seen_ == length_ - 4) {
      Frame f = assembled_frame();
      const bool stop = deliver(f, pos);
      reset();
      if (stop) return FrameError::none;
    }
  }
  return FrameError::none;
}

}  // namespace pglc::pgwire
