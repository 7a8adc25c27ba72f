#include "pgwire/framer.hpp"

#include <algorithm>

namespace pglc::pgwire {

std::string_view describe(FrameError e) {
  switch (e) {
    case FrameError::none:
      return "no error";
    case FrameError::length_too_small:
      return "invalid message length (less than 4)";
    case FrameError::length_too_large:
      return "message length exceeds the configured maximum message size";
  }
  return "unknown framing error";
}

Framer::Framer(Direction direction, std::uint64_t max_message_size, std::uint32_t retain_limit)
    : direction_(direction), max_message_size_(max_message_size), retain_limit_(retain_limit) {}

FrameError Framer::start_body() {
  type_ = static_cast<char>(header_[0]);
  length_ = be32(header_ + 1);
  if (length_ < 4) return FrameError::length_too_small;
  if (length_ > max_message_size_) return FrameError::length_too_large;
  in_body_ = true;
  body_seen_ = 0;
  retain_ = retains_body_across_reads(direction_, type_)
                ? std::min<std::size_t>(length_ - 4, retain_limit_)
                : 0;
  assembly_.clear();
  // One allocation for the whole retained body (at most retain_limit) instead of regrowth.
  assembly_.reserve(retain_);
  return FrameError::none;
}

Frame Framer::assembled_frame() const {
  return Frame{type_, length_, Bytes(assembly_.data(), assembly_.size())};
}

void Framer::reset() {
  header_len_ = 0;
  in_body_ = false;
  body_seen_ = 0;
  retain_ = 0;
  if (assembly_.capacity() > kKeptCapacity) {
    std::vector<std::uint8_t>().swap(assembly_);
  } else {
    assembly_.clear();  // keeps capacity: no allocation per straddling message once warm
  }
}

}  // namespace pglc::pgwire
