// Frontend messages as libpq, Npgsql and pgjdbc send them, for the proxy's unit tests.
#pragma once

#include <cstdint>
#include <string>

namespace pglc::proxy::test {

// A message: type, length, body.
inline std::string msg(char type, const std::string& body = "") {
  std::string out(1, type);
  std::uint32_t len = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((len >> shift) & 0xff));
  return out + body;
}
inline std::string cstr(const std::string& s) {
  return s + std::string(1, '\0');
}
inline std::string parse(const std::string& name, const std::string& sql) {
  return msg('P', cstr(name) + cstr(sql) + std::string("\0\0", 2));
}
inline std::string bind(const std::string& portal, const std::string& stmt) {
  return msg('B', cstr(portal) + cstr(stmt) + std::string(6, '\0'));
}
inline std::string describe_portal() {
  return msg('D', "P" + cstr(""));
}
inline std::string execute() {
  return msg('E', cstr("") + std::string(4, '\0'));
}
inline std::string sync() {
  return msg('S');
}
inline std::string flush() {
  return msg('H');
}

}  // namespace pglc::proxy::test
