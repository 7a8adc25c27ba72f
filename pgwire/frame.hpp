// One framed protocol message as it passed through the relay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pglc::pgwire {

using Bytes = std::span<const std::uint8_t>;

// The protocol's integers are big-endian; every reader of a length or a field uses this.
inline std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

struct Frame {
  char type = 0;
  // Length field as sent on the wire: counts itself (4) plus the body, not the type byte.
  std::uint32_t length = 0;
  // The body, or a prefix of it when the framer did not retain all of it (see Framer).
  // Points into the caller's read buffer or the framer's assembly buffer: valid only
  // during the callback.
  Bytes body;

  std::size_t body_length() const { return length - 4; }
  bool complete() const { return body.size() == body_length(); }
  std::size_t wire_size() const { return std::size_t{length} + 1; }
};

}  // namespace pglc::pgwire
