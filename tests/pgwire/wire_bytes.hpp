// Protocol byte streams for the pgwire tests, written per the PostgreSQL protocol
// documentation ("Message Formats") as the named clients and servers send them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "pgwire/frame.hpp"

namespace pglc::pgwire::test {

using ByteVec = std::vector<std::uint8_t>;

// Builds one message: type byte (or none for startup packets), int32 length, fields.
class Msg {
 public:
  explicit Msg(char type) : bytes_{static_cast<std::uint8_t>(type), 0, 0, 0, 0}, header_(1) {}
  static Msg untyped() { return Msg(); }

  Msg& u8(std::uint8_t v) {
    bytes_.push_back(v);
    return *this;
  }
  Msg& i16(std::int32_t v) {
    bytes_.push_back(static_cast<std::uint8_t>(v >> 8));
    bytes_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Msg& i32(std::int64_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes_.push_back(static_cast<std::uint8_t>(v >> shift));
    return *this;
  }
  Msg& str(std::string_view s) {  // C string, NUL added
    raw(s);
    bytes_.push_back(0);
    return *this;
  }
  Msg& raw(std::string_view s) {
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  Msg& param(std::string_view value) {  // int32 length + bytes
    i32(static_cast<std::int64_t>(value.size()));
    return raw(value);
  }
  Msg& null_param() { return i32(-1); }

  // The whole message with its length word filled in (the length counts itself and
  // the body, not the type byte).
  ByteVec bytes() const {
    ByteVec out = bytes_;
    const std::uint32_t len = static_cast<std::uint32_t>(out.size() - header_);
    for (int i = 0; i < 4; ++i) out[header_ + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
    return out;
  }
  // The body alone (what a Frame's body holds).
  ByteVec body() const { return ByteVec(bytes_.begin() + header_ + 4, bytes_.end()); }
  char type() const { return static_cast<char>(bytes_[0]); }

 private:
  Msg() : bytes_{0, 0, 0, 0}, header_(0) {}
  ByteVec bytes_;
  std::size_t header_;  // 1 with a type byte, 0 without
};

inline ByteVec concat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A complete Frame over `body` (caller keeps body alive).
inline Frame frame_of(char type, const ByteVec& body) {
  return Frame{type, static_cast<std::uint32_t>(body.size() + 4), Bytes(body.data(), body.size())};
}

}  // namespace pglc::pgwire::test
