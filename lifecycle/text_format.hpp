// Small text forms several places write: a JSON string (the tracker's parameters, the JSON
// log, explain's traces) and one line of whitespace-folded text (driver matching, explain).
#pragma once

#include <string>
#include <string_view>

namespace pglc::lifecycle {

// `v` as a JSON string: quotes, backslashes and control characters escaped (\u00XX).
inline void append_json_string(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// Runs of spaces, tabs and line breaks as one space, none at either end.
inline std::string fold_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// fold_whitespace, cut at `width` bytes on a UTF-8 character boundary with an ellipsis.
inline std::string one_line(std::string_view s, std::size_t width) {
  std::string out = fold_whitespace(s);
  if (out.size() <= width) return out;
  std::size_t n = width;
  while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
  return out.substr(0, n) + "…";
}

}  // namespace pglc::lifecycle
