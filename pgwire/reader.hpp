// Bounds-checked cursor over a message body, shared by the typed decoders.
//
// The first failure sticks: later reads return empty values without touching memory,
// so a decoder can read every field and check the error once at the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "pgwire/decode.hpp"
#include "pgwire/frame.hpp"

namespace pglc::pgwire::detail {

class Reader {
 public:
  explicit Reader(Bytes body) : body_(body) {}

  std::size_t remaining() const { return body_.size() - pos_; }
  bool ok() const { return error_ == DecodeError::none; }
  DecodeError error() const { return error_; }
  void fail(DecodeError e) {
    if (error_ == DecodeError::none) error_ = e;
    pos_ = body_.size();
  }

  // A NUL-terminated string; the view excludes the NUL.
  std::string_view cstring() {
    // An empty body has a null data(), which memchr must not be given.
    const void* nul =
        ok() && remaining() > 0 ? std::memchr(body_.data() + pos_, 0, remaining()) : nullptr;
    if (nul == nullptr) {
      fail(DecodeError::unterminated);  // keeps an earlier error if there was one
      return {};
    }
    const auto* start = reinterpret_cast<const char*>(body_.data() + pos_);
    const std::size_t len = static_cast<const std::uint8_t*>(nul) - (body_.data() + pos_);
    pos_ += len + 1;
    return {start, len};
  }

  Bytes bytes(std::size_t n) {
    if (!ok() || remaining() < n) {
      fail(DecodeError::truncated);
      return {};
    }
    Bytes out = body_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  std::uint8_t u8() {
    Bytes b = bytes(1);
    return b.empty() ? 0 : b[0];
  }
  std::uint16_t u16() {
    Bytes b = bytes(2);
    return b.empty() ? 0 : static_cast<std::uint16_t>((b[0] << 8) | b[1]);
  }
  std::uint32_t u32() {
    Bytes b = bytes(4);
    return b.empty() ? 0 : be32(b.data());
  }
  std::int16_t i16() { return static_cast<std::int16_t>(u16()); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }

  // `count` elements of `width` bytes each, checked against what remains before use.
  Bytes array(std::size_t count, std::size_t width) {
    if (ok() && count > remaining() / width) {
      fail(DecodeError::truncated);
      return {};
    }
    return bytes(count * width);
  }

  // The decoder's result: its first error, or trailing_bytes if fields ended early.
  DecodeError finish() const {
    if (!ok()) return error_;
    return pos_ == body_.size() ? DecodeError::none : DecodeError::trailing_bytes;
  }

 private:
  Bytes body_;
  std::size_t pos_ = 0;
  DecodeError error_ = DecodeError::none;
};

inline std::uint32_t be32_at(Bytes b, std::size_t pos) {
  return be32(b.data() + pos);
}

template <class T>
Decoded<T> finish(T value, const Reader& r) {
  Decoded<T> out;
  out.error = r.finish();
  if (out.ok()) out.value = value;
  return out;
}

template <class T>
Decoded<T> failed(DecodeError e) {
  Decoded<T> out;
  out.error = e;
  return out;
}

}  // namespace pglc::pgwire::detail
