// A small, linear SQL tokenizer with PostgreSQL's lexical rules (comments, quoted
// identifiers, every kind of string constant, dollar quoting, parameters, operators).
//
// It exists so that the io threads never need libpg_query's parser, whose tree walkers
// recurse once per nesting level: everything the tracker must know at once (which
// statements touch the prepared-statement namespace, and under which name; which texts
// carry credentials) is decided here, in one pass without recursion or allocation per
// token. Parsing proper (normalize, fingerprint) happens later, under a stack budget.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pglc::lifecycle {

enum class SqlTokenKind {
  word,          // keyword or unquoted identifier
  quoted_ident,  // "..." or U&"..."
  string,        // '...', E'...', N'...', B'...', X'...', U&'...', $tag$...$tag$
  number,
  param,  // $1
  op,     // operator characters, :: and the like
  punct,  // ( ) [ ] , ; .
};

struct SqlToken {
  SqlTokenKind kind;
  std::size_t begin;  // byte offsets into the text
  std::size_t end;
  bool unterminated = false;  // a quote or comment ran to the end of the text
};

// Calls on_token(const SqlToken&) for each token in order; comments and whitespace are
// skipped. Never fails: a text the server would reject still yields tokens.
template <class OnToken>
void scan_sql(std::string_view sql, OnToken&& on_token);

// What the tracker needs from the leading words of one statement.
enum class SqlCommand { other, prepare, execute, deallocate, deallocate_all, discard_all };
struct SqlClassification {
  SqlCommand command = SqlCommand::other;
  std::string name;  // PREPARE / EXECUTE / DEALLOCATE target, as the server folds it
};
SqlClassification classify_sql(std::string_view statement_sql);

// Does the text (one statement or several) carry credentials: role passwords (CREATE /
// ALTER ROLE, USER, GROUP), user mappings, subscriptions' and servers' connection
// options, dblink calls, or any string constant mentioning a password (DO blocks,
// ALTER SYSTEM SET primary_conninfo, ...)? Deliberately broad: a false positive only
// masks constants.
bool carries_credentials(std::string_view sql);

// The text with every string constant replaced by '' (so that it still parses the same
// way): what is kept of a text that carries credentials.
std::string mask_string_constants(std::string_view sql);

// Folds an identifier token as PostgreSQL does (unquoted: ASCII lower case; quoted: ""
// unescaped), truncated to NAMEDATALEN - 1 bytes without splitting a UTF-8 sequence.
std::string fold_identifier(std::string_view sql, const SqlToken& token);

// ---- implementation of scan_sql -----------------------------------------------------

namespace sql_lexer_detail {
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool ident_start(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || c == '_' || u >= 0x80;
}
inline bool ident_cont(char c) {
  return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool op_char(char c) {
  switch (c) {
    case '+': case '-': case '*': case '/': case '<': case '>': case '=': case '~':
    case '!': case '@': case '#': case '%': case '^': case '&': case '|': case '`':
    case '?': case ':':
      return true;
    default:
      return false;
  }
}
// End of a quoted run starting after its opening quote at `i`; `backslash` for E''.
// Returns the index past the closing quote, or npos when unterminated.
std::size_t quoted_end(std::string_view s, std::size_t i, char quote, bool backslash);
// Length of a dollar-quote tag "$tag$" starting at `i`, or 0 if there is none.
std::size_t dollar_tag(std::string_view s, std::size_t i);
}  // namespace sql_lexer_detail

template <class OnToken>
void scan_sql(std::string_view s, OnToken&& on_token) {
  using namespace sql_lexer_detail;
  constexpr std::size_t npos = std::string_view::npos;
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto emit = [&](SqlTokenKind k, std::size_t b, std::size_t e, bool open = false) {
    on_token(SqlToken{k, b, e, open});
  };
  // A quoted run from `open` (index of the quote): emits it and moves i past it.
  auto quoted = [&](SqlTokenKind k, std::size_t b, std::size_t open, char q, bool bs) {
    std::size_t e = quoted_end(s, open + 1, q, bs);
    if (e == npos) {
      emit(k, b, n, true);
      i = n;
    } else {
      emit(k, b, e);
      i = e;
    }
  };
  while (i < n) {
    const char c = s[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n' && s[i] != '\r') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      int depth = 0;  // PostgreSQL's block comments nest
      while (i < n) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      continue;
    }
    const std::size_t b = i;
    if (c == '\'') {
      quoted(SqlTokenKind::string, b, i, '\'', false);
      continue;
    }
    if (c == '"') {
      quoted(SqlTokenKind::quoted_ident, b, i, '"', false);
      continue;
    }
    if (ident_start(c)) {
      const char l = static_cast<char>(c | 0x20);
      if (i + 1 < n && s[i + 1] == '\'' && (l == 'e' || l == 'n' || l == 'b' || l == 'x')) {
        quoted(SqlTokenKind::string, b, i + 1, '\'', l == 'e');
        continue;
      }
      if (l == 'u' && i + 2 < n && s[i + 1] == '&' && (s[i + 2] == '\'' || s[i + 2] == '"')) {
        quoted(s[i + 2] == '\'' ? SqlTokenKind::string : SqlTokenKind::quoted_ident, b, i + 2,
               s[i + 2], false);
        continue;
      }
      while (i < n && ident_cont(s[i])) ++i;
      emit(SqlTokenKind::word, b, i);
      continue;
    }
    if (c == '$') {
      if (i + 1 < n && is_digit(s[i + 1])) {
        ++i;
        while (i < n && is_digit(s[i])) ++i;
        emit(SqlTokenKind::param, b, i);
        continue;
      }
      if (const std::size_t tag = dollar_tag(s, i); tag > 0) {
        const std::size_t close = s.find(s.substr(i, tag), i + tag);
        if (close == npos) {
          emit(SqlTokenKind::string, b, n, true);
          i = n;
        } else {
          i = close + tag;
          emit(SqlTokenKind::string, b, i);
        }
        continue;
      }
      ++i;
      emit(SqlTokenKind::op, b, i);
      continue;
    }
    if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
      while (i < n && (ident_cont(s[i]) || s[i] == '.' ||
                       ((s[i] == '+' || s[i] == '-') && (s[i - 1] | 0x20) == 'e'))) {
        ++i;
      }
      emit(SqlTokenKind::number, b, i);
      continue;
    }
    if (op_char(c)) {
      // An operator ends where a comment starts.
      while (i < n && op_char(s[i]) && !(s[i] == '-' && i + 1 < n && s[i + 1] == '-') &&
             !(s[i] == '/' && i + 1 < n && s[i + 1] == '*')) {
        ++i;
      }
      if (i == b) ++i;
      emit(SqlTokenKind::op, b, i);
      continue;
    }
    ++i;
    emit(SqlTokenKind::punct, b, i);
  }
}

}  // namespace pglc::lifecycle
