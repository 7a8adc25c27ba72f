// Result type shared by the typed decoders.
#pragma once

#include <string_view>

namespace pglc::pgwire {

enum class DecodeError {
  none,
  truncated,         // body ends before a field it announces
  unterminated,      // a C string has no NUL before the end of the body
  invalid_value,     // a count or code out of its legal range
  trailing_bytes,    // body longer than its fields
  incomplete_frame,  // the framer did not retain the whole body
};

std::string_view describe(DecodeError e);

template <class T>
struct Decoded {
  T value{};
  DecodeError error = DecodeError::none;
  bool ok() const { return error == DecodeError::none; }
};

}  // namespace pglc::pgwire
