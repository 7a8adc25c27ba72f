#include "pgwire/builder.hpp"

namespace pglc::pgwire {

namespace {
void put32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t v) {
  out[at] = static_cast<std::uint8_t>(v >> 24);
  out[at + 1] = static_cast<std::uint8_t>(v >> 16);
  out[at + 2] = static_cast<std::uint8_t>(v >> 8);
  out[at + 3] = static_cast<std::uint8_t>(v);
}

// A C string field; an embedded NUL would end the field early and shift every later
// field, so the text is cut there.
void put_cstring(std::vector<std::uint8_t>& out, std::string_view s) {
  s = s.substr(0, s.find('\0'));
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
}

// Reserving before the first byte also keeps GCC 12's -Warray-bounds from misreading the
// later appends as writes past a 5-byte array.
std::vector<std::uint8_t> start_message(char type, std::size_t capacity) {
  std::vector<std::uint8_t> out;
  out.reserve(capacity);
  out.push_back(static_cast<std::uint8_t>(type));
  out.resize(5);
  return out;
}

void finish_message(std::vector<std::uint8_t>& out) {
  put32(out, 1, out.size() - 1);
}
}  // namespace

std::vector<std::uint8_t> error_response(std::string_view sqlstate, std::string_view message,
                                         std::string_view severity) {
  auto out =
      start_message('E', 5 + 4 * 2 + 2 * severity.size() + sqlstate.size() + message.size() + 1);
  for (char code : {'S', 'V'}) {
    out.push_back(static_cast<std::uint8_t>(code));
    put_cstring(out, severity);
  }
  out.push_back('C');
  put_cstring(out, sqlstate);
  out.push_back('M');
  put_cstring(out, message);
  out.push_back(0);
  finish_message(out);
  return out;
}

std::vector<std::uint8_t> authentication_sasl(const std::vector<std::string>& mechanisms) {
  std::size_t size = 5 + 4 + 1;
  for (const auto& m : mechanisms) size += m.size() + 1;
  auto out = start_message('R', size);
  out.resize(9);
  put32(out, 5, 10);  // AuthenticationSASL
  for (const auto& m : mechanisms) {
    if (m.empty()) continue;  // an empty name would end the list early
    put_cstring(out, m);
  }
  out.push_back(0);
  finish_message(out);
  return out;
}

}  // namespace pglc::pgwire
