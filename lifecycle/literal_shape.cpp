#include "lifecycle/literal_shape.hpp"

#include <algorithm>
#include <cstdint>

namespace pglc::lifecycle {
namespace {

constexpr char kMarker = '\x01';

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// The kind of a number token as PostgreSQL 15's scanner makes it: 'i' for an {integer}
// that fits int32 (ICONST), 'f' for other integers, {decimal} and {real} (FCONST); 0 for
// anything else (junk after digits, "1..", a bare exponent), which the scanner treats in
// ways sql_lexer does not mirror.
char number_kind(std::string_view n) {
  std::size_t i = 0, int_digits = 0, frac_digits = 0;
  while (i < n.size() && digit(n[i])) ++i, ++int_digits;
  bool decimal = false;
  if (i < n.size() && n[i] == '.') {
    decimal = true;
    ++i;
    while (i < n.size() && digit(n[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return 0;
  if (i < n.size() && (n[i] == 'e' || n[i] == 'E')) {
    ++i;
    if (i < n.size() && (n[i] == '+' || n[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < n.size() && digit(n[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return 0;
    return i == n.size() ? 'f' : 0;
  }
  if (i != n.size()) return 0;
  if (decimal) return 'f';
  std::size_t first = 0;
  while (first + 1 < n.size() && n[first] == '0') ++first;
  const std::string_view v = n.substr(first);
  if (v.size() > 10) return 'f';
  std::uint64_t x = 0;
  for (char c : v) x = x * 10 + static_cast<std::uint64_t>(c - '0');
  return x <= 2147483647u ? 'i' : 'f';
}

// The kind of a string token by its opening: '\'', 'e', 'b', 'x', 'n' or '$'; 0 for U&.
char string_kind(std::string_view s) {
  const char c = s.front();
  if (c == '\'' || c == '$') return c;
  const char l = static_cast<char>(c | 0x20);
  if (l == 'e' || l == 'b' || l == 'x' || l == 'n') return l;
  return 0;
}

}  // namespace

LiteralShape::LiteralShape(std::string_view sql, Buffers& reuse) : buf_(reuse), sql_(sql) {
  buf_.key.clear();
  buf_.literals.clear();
  if (sql.find(kMarker) != std::string_view::npos) cacheable_ = false;
  if (cacheable_) buf_.key.reserve(sql.size());
}

void LiteralShape::on_token(const SqlToken& t) {
  if (!cacheable_) return;
  const std::string_view text = sql_.substr(t.begin, t.end - t.begin);
  char kind = 0;
  switch (t.kind) {
    case SqlTokenKind::string:
      kind = t.unterminated ? 0 : string_kind(text);
      // Backslash escapes in an E'' string can fail the parse (an octal or hex escape
      // making invalid UTF-8, a bad Unicode escape): such a constant is not "just any
      // constant" of its shape.
      if (kind == 'e' && text.find('\\') != std::string_view::npos) kind = 0;
      break;
    case SqlTokenKind::number:
      kind = number_kind(text);
      break;
    case SqlTokenKind::param: {
      long n = 0;
      for (char c : text.substr(1)) n = n < 100000000 ? n * 10 + (c - '0') : n;
      max_param_ = std::max(max_param_, n);
      return;
    }
    case SqlTokenKind::quoted_ident:
      if (t.unterminated) cacheable_ = false;
      return;
    default:
      return;
  }
  if (kind == 0) {
    cacheable_ = false;
    return;
  }
  buf_.key.append(sql_.substr(copied_, t.begin - copied_));
  buf_.key.push_back(kMarker);
  buf_.key.push_back(kind);
  copied_ = t.end;
  buf_.literals.emplace_back(t.begin, t.end);
}

void LiteralShape::finish() {
  if (!cacheable_) return;
  buf_.key.append(sql_.substr(copied_));
  copied_ = sql_.size();
}

std::string LiteralShape::substituted() const {
  std::string out;
  out.reserve(sql_.size());
  std::size_t from = 0;
  long n = max_param_;
  for (const auto& [b, e] : buf_.literals) {
    out.append(sql_.substr(from, b - from));
    out.push_back('$');
    out.append(std::to_string(++n));
    from = e;
  }
  out.append(sql_.substr(from));
  return out;
}

}  // namespace pglc::lifecycle
