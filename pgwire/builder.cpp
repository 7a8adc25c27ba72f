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

void append_frame(std::vector<std::uint8_t>& out, const Frame& f) {
  const std::size_t at = out.size();
  out.push_back(static_cast<std::uint8_t>(f.type));
  out.resize(at + 5);
  put32(out, at + 1, f.length);
  out.insert(out.end(), f.body.begin(), f.body.end());
}

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

std::vector<std::uint8_t> authentication(std::int32_t code, std::string_view data) {
  auto out = start_message('R', 9 + data.size());
  out.resize(9);
  put32(out, 5, static_cast<std::uint32_t>(code));
  out.insert(out.end(), data.begin(), data.end());
  finish_message(out);
  return out;
}

std::vector<std::uint8_t> sasl_initial_response(std::string_view mechanism, std::string_view data) {
  auto out = start_message('p', 5 + mechanism.size() + 1 + 4 + data.size());
  put_cstring(out, mechanism);
  const std::size_t at = out.size();
  out.resize(at + 4);
  put32(out, at, static_cast<std::uint32_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  finish_message(out);
  return out;
}

std::vector<std::uint8_t> password_message(std::string_view data) {
  auto out = start_message('p', 5 + data.size());
  out.insert(out.end(), data.begin(), data.end());
  finish_message(out);
  return out;
}

std::vector<std::uint8_t> startup_message(
    const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::vector<std::uint8_t> out(8);
  put32(out, 4, 196608);  // protocol 3.0
  for (const auto& [k, v] : parameters) {
    put_cstring(out, k);
    put_cstring(out, v);
  }
  out.push_back(0);
  put32(out, 0, static_cast<std::uint32_t>(out.size()));
  return out;
}

std::vector<std::uint8_t> one_param_query(std::string_view sql, std::string_view param) {
  std::vector<std::uint8_t> all;
  auto append = [&](std::vector<std::uint8_t> m) { all.insert(all.end(), m.begin(), m.end()); };
  {
    auto m = start_message('P', 5 + sql.size() + 4);
    put_cstring(m, "");
    put_cstring(m, sql);
    m.push_back(0);
    m.push_back(0);  // no parameter types
    finish_message(m);
    append(std::move(m));
  }
  {
    auto m = start_message('B', 5 + 16 + param.size());
    put_cstring(m, "");
    put_cstring(m, "");
    for (std::uint8_t b : {0, 0, 0, 1}) m.push_back(b);  // no formats (text), one parameter
    const std::size_t at = m.size();
    m.resize(at + 4);
    put32(m, at, static_cast<std::uint32_t>(param.size()));
    m.insert(m.end(), param.begin(), param.end());
    m.push_back(0);
    m.push_back(0);  // results in text
    finish_message(m);
    append(std::move(m));
  }
  {
    auto m = start_message('E', 10);
    put_cstring(m, "");
    m.resize(m.size() + 4);  // no row limit
    finish_message(m);
    append(std::move(m));
  }
  {
    auto m = start_message('S', 5);
    finish_message(m);
    append(std::move(m));
  }
  return all;
}

}  // namespace pglc::pgwire
