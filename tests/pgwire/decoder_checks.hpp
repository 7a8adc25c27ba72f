// Checks every decoder must pass on a valid body: every truncation is rejected, a frame
// holding only a prefix is incomplete, an extra byte is trailing. Each body lives in an
// exact-size heap buffer, so an over-read is an ASan error rather than a silent pass.
#pragma once

#include <doctest/doctest.h>

#include <memory>

#include "pgwire/decode.hpp"
#include "wire_bytes.hpp"

namespace pglc::pgwire::test {

class HeapBody {
 public:
  HeapBody(const ByteVec& v, std::size_t n) : data_(std::make_unique<std::uint8_t[]>(n)), n_(n) {
    std::copy(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(n, v.size())),
              data_.get());
  }
  Bytes bytes() const { return Bytes(data_.get(), n_); }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t n_;
};

// `decode` is one of the decoders; `msg` a whole valid message of its type.
template <class Decode>
void check_rejects_damage(Decode decode, const Msg& msg, bool prefix_is_incomplete = true,
                          bool extra_byte_is_trailing = true) {
  const ByteVec body = msg.body();
  {
    HeapBody whole(body, body.size());
    const Frame f{msg.type(), static_cast<std::uint32_t>(body.size() + 4), whole.bytes()};
    REQUIRE(decode(f).ok());
  }
  for (std::size_t n = 0; n < body.size(); ++n) {
    CAPTURE(n);
    HeapBody prefix(body, n);
    // A complete frame whose length field agrees with the shorter body: a lying sender.
    const Frame cut{msg.type(), static_cast<std::uint32_t>(n + 4), prefix.bytes()};
    const auto r = decode(cut);
    CHECK_FALSE(r.ok());
    CHECK(r.error != DecodeError::incomplete_frame);
    CHECK(r.error != DecodeError::trailing_bytes);
    // The framer kept only a prefix of a longer message.
    const Frame partial{msg.type(), static_cast<std::uint32_t>(body.size() + 4), prefix.bytes()};
    if (prefix_is_incomplete) CHECK(decode(partial).error == DecodeError::incomplete_frame);
  }
  if (!extra_byte_is_trailing) return;
  ByteVec longer = body;
  longer.push_back(0x7f);
  HeapBody extra(longer, longer.size());
  const Frame f{msg.type(), static_cast<std::uint32_t>(longer.size() + 4), extra.bytes()};
  CHECK(decode(f).error == DecodeError::trailing_bytes);
}

// Decodes `msg` from an exact-size heap copy; the copy lives as long as the result.
template <class Decode>
struct Decoding {
  Decoding(Decode decode, const Msg& msg)
      : body(msg.body(), msg.body().size()),
        result(decode(
            Frame{msg.type(), static_cast<std::uint32_t>(msg.body().size() + 4), body.bytes()})) {}
  HeapBody body;
  decltype(std::declval<Decode>()(std::declval<const Frame&>())) result;
};

}  // namespace pglc::pgwire::test
