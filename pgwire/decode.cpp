#include "pgwire/decode.hpp"

namespace pglc::pgwire {

std::string_view describe(DecodeError e) {
  switch (e) {
    case DecodeError::none:
      return "no error";
    case DecodeError::truncated:
      return "message body ends before a field it announces";
    case DecodeError::unterminated:
      return "string field is not terminated";
    case DecodeError::invalid_value:
      return "field value out of its legal range";
    case DecodeError::trailing_bytes:
      return "message body is longer than its fields";
    case DecodeError::incomplete_frame:
      return "message body was not retained whole";
  }
  return "unknown decode error";
}

}  // namespace pglc::pgwire
