#include "lifecycle/sql_lexer.hpp"

#include <array>

namespace pglc::lifecycle {

namespace sql_lexer_detail {

std::size_t quoted_end(std::string_view s, std::size_t i, char quote, bool backslash) {
  const std::size_t n = s.size();
  while (i < n) {
    const char c = s[i];
    if (backslash && c == '\\') {
      i += 2;
      continue;
    }
    if (c == quote) {
      if (i + 1 < n && s[i + 1] == quote) {  // doubled quote: part of the constant
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return std::string_view::npos;
}

std::size_t dollar_tag(std::string_view s, std::size_t i) {
  // "$$" or "$tag$" where tag is an identifier without '$' that does not start with a digit.
  std::size_t j = i + 1;
  if (j < s.size() && s[j] == '$') return 2;
  if (j >= s.size() || !ident_start(s[j])) return 0;
  while (j < s.size() && ident_start(s[j])) ++j;
  while (j < s.size() && (ident_start(s[j]) || is_digit(s[j]))) ++j;
  return j < s.size() && s[j] == '$' ? j - i + 1 : 0;
}

}  // namespace sql_lexer_detail

namespace {

constexpr std::size_t kNameDataLen = 64;  // PostgreSQL's NAMEDATALEN

bool word_is(std::string_view sql, const SqlToken& t, std::string_view lower) {
  if (t.kind != SqlTokenKind::word || t.end - t.begin != lower.size()) return false;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    const char c = sql[t.begin + i];
    const char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (l != lower[i]) return false;
  }
  return true;
}

bool contains_ci(std::string_view hay, std::string_view lower_needle) {
  if (hay.size() < lower_needle.size()) return false;
  for (std::size_t i = 0; i + lower_needle.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < lower_needle.size()) {
      char c = hay[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      if (c != lower_needle[k]) break;
      ++k;
    }
    if (k == lower_needle.size()) return true;
  }
  return false;
}

// The first few tokens of a statement: all that classification looks at.
struct Leading {
  static constexpr std::size_t kMax = 4;
  std::array<SqlToken, kMax> tokens{};
  std::size_t count = 0;
  std::size_t total = 0;  // tokens in the statement, up to the first ';' at depth 0
};

Leading leading_tokens(std::string_view sql) {
  Leading l;
  bool ended = false;
  bool trailing_garbage = false;
  scan_sql(sql, [&](const SqlToken& t) {
    if (trailing_garbage) return;
    if (ended) {
      // Only more ';' may follow the statement.
      if (!(t.kind == SqlTokenKind::punct && sql[t.begin] == ';')) trailing_garbage = true;
      return;
    }
    if (t.kind == SqlTokenKind::punct && sql[t.begin] == ';') {
      ended = true;
      return;
    }
    if (l.count < Leading::kMax) l.tokens[l.count++] = t;
    ++l.total;
  });
  if (trailing_garbage) l.total = 0;  // several statements: not one of ours
  return l;
}

bool is_name(const SqlToken& t) {
  return (t.kind == SqlTokenKind::word || t.kind == SqlTokenKind::quoted_ident) && !t.unterminated;
}

}  // namespace

std::string fold_identifier(std::string_view sql, const SqlToken& t) {
  std::string out;
  std::string_view text = sql.substr(t.begin, t.end - t.begin);
  if (t.kind == SqlTokenKind::quoted_ident && !text.empty() && text.front() == '"') {
    text = text.substr(1, text.size() >= 2 ? text.size() - 2 : 0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      out.push_back(text[i]);
      if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') ++i;
    }
  } else {
    out.reserve(text.size());
    for (char c : text) out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
  }
  if (out.size() >= kNameDataLen) {
    std::size_t end = kNameDataLen - 1;
    while (end > 0 && (static_cast<unsigned char>(out[end]) & 0xc0) == 0x80) --end;
    out.resize(end);
  }
  return out;
}

SqlClassification classify_sql(std::string_view sql) {
  SqlClassification out;
  // Cheap reject: the statement must start with one of four words.
  const Leading l = leading_tokens(sql);
  if (l.count == 0 || l.total == 0) return out;
  const SqlToken* t = l.tokens.data();
  if (word_is(sql, t[0], "prepare")) {
    // PREPARE name [ (types) ] AS statement
    if (l.count >= 3 && is_name(t[1])) {
      const bool typed = t[2].kind == SqlTokenKind::punct && sql[t[2].begin] == '(';
      if (typed || (word_is(sql, t[2], "as") && l.total > 3)) {
        out.command = SqlCommand::prepare;
        out.name = fold_identifier(sql, t[1]);
      }
    }
  } else if (word_is(sql, t[0], "execute")) {
    if (l.count >= 2 && is_name(t[1])) {
      out.command = SqlCommand::execute;
      out.name = fold_identifier(sql, t[1]);
    }
  } else if (word_is(sql, t[0], "deallocate")) {
    std::size_t at = 1;
    if (l.count > at && word_is(sql, t[at], "prepare")) ++at;
    if (l.total == at + 1 && l.count > at && is_name(t[at])) {
      if (word_is(sql, t[at], "all")) {
        out.command = SqlCommand::deallocate_all;
      } else {
        out.command = SqlCommand::deallocate;
        out.name = fold_identifier(sql, t[at]);
      }
    }
  } else if (word_is(sql, t[0], "discard")) {
    if (l.total == 2 && word_is(sql, t[1], "all")) out.command = SqlCommand::discard_all;
  }
  return out;
}

bool carries_credentials(std::string_view sql) {
  // Statement starts: the text's first token and the first token after each ';'.
  bool found = false;
  int position = 0;  // token index inside the current statement
  bool create_or_alter = false;
  scan_sql(sql, [&](const SqlToken& t) {
    if (found) return;
    if (t.kind == SqlTokenKind::punct && sql[t.begin] == ';') {
      position = 0;
      create_or_alter = false;
      return;
    }
    if (position == 0) {
      create_or_alter = word_is(sql, t, "create") || word_is(sql, t, "alter");
    } else if (position == 1 && create_or_alter) {
      // ROLE / USER / GROUP (passwords), USER MAPPING, SUBSCRIPTION, SERVER (options)
      found = word_is(sql, t, "role") || word_is(sql, t, "user") || word_is(sql, t, "group") ||
              word_is(sql, t, "subscription") || word_is(sql, t, "server");
    }
    ++position;
    if (t.kind == SqlTokenKind::word && t.end - t.begin >= 6 &&
        word_is(sql, SqlToken{t.kind, t.begin, t.begin + 6}, "dblink")) {
      found = true;
    } else if (t.kind == SqlTokenKind::string) {
      const std::string_view text = sql.substr(t.begin, t.end - t.begin);
      found = contains_ci(text, "password") || contains_ci(text, "passwd");
    }
  });
  return found;
}

std::string mask_string_constants(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  std::size_t copied = 0;
  scan_sql(sql, [&](const SqlToken& t) {
    if (t.kind != SqlTokenKind::string) return;
    out.append(sql.substr(copied, t.begin - copied));
    out += "''";
    copied = t.end;
  });
  out.append(sql.substr(copied));
  return out;
}

}  // namespace pglc::lifecycle
