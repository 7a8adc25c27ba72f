// libFuzzer target over the SQL analyzer (lifecycle/sql_analyzer, sql_lexer, parser_stack).
//
// Input: one mode byte, then the rest.
//  * mode < 0xF0: the rest is the SQL text (cut at its first NUL: the proxy never hands
//    libpg_query a NUL, its texts are C strings).
//  * mode >= 0xF0: an expansion. Template t = mode & 15 gives a prefix and a suffix; the
//    next two bytes give a repetition count N (big-endian, at most 16,000); the rest (cut
//    at its first NUL) is split at 0x01 bytes into unit, middle, closer and tail, and the
//    text is  prefix + unit x N + middle + closer x N + tail + suffix,  with N lowered so
//    that the text stays under 32 KB. This is how "(" x 16000, "1+" x 16000,
//    " UNION SELECT 1" x 2000, "NOT " x 8000, "ARRAY[" x N, ",1" x 16000 in IN (...) and
//    the like are reached: far beyond what byte-level mutation of a 8 KB input produces.
//
// Every text goes through every entry point of the analyzer. Besides the sanitizers'
// checks, the harness traps (abort) when
//  * a token of scan_sql is empty, out of range, overlaps the previous one, or is not the
//    kind its first byte says; the text between tokens is not whitespace and comments;
//  * mask_string_constants leaves a string constant that is not just quotes;
//  * analyze_sql (cached: the shape cache answers the fingerprint by normalized text) and
//    analyze_sql_uncached (the reference) disagree, or a result has only one of
//    normalized_sql / fingerprint, or a fingerprint is not 16 hex digits;
//  * a SqlText breaks its contract: wrong hash, sql not the text cut at the limit (or,
//    for texts with credentials, a string constant left in it), a deferred text that was
//    analysed or cut; classification differs from classify_sql's, or a name is longer
//    than NAMEDATALEN - 1;
//  * split returns pieces that are empty, untrimmed, out of order or outside the text;
//    query() does not consist of those pieces;
//  * origin_of (which folds only the text's head, on the stack) disagrees with folding the
//    whole text and comparing it with each folded driver text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/parser_stack.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/sql_lexer.hpp"
#include "lifecycle/statement_class.hpp"
#include "lifecycle/text_format.hpp"

namespace lc = pglc::lifecycle;

namespace {

constexpr std::size_t kMaxSqlLength = 65536;
// Far enough past every bound: the stack budget stops "+1" chains near 3,000 terms and
// sub-selects near 2,000 levels, bison's own stack stops parentheses at 10,000.
constexpr std::size_t kMaxRepeat = 16000;
constexpr std::size_t kMaxExpanded = 32768;

// A broken promise aborts (a crash to libFuzzer), naming the check that failed.
[[noreturn]] void fail(int line, const char* what) {
  std::fprintf(stderr, "sql_analyzer_fuzz: check failed at line %d: %s\n", line, what);
  std::abort();
}
#define require(ok) ((ok) ? (void)0 : fail(__LINE__, #ok))

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}
bool is_op_char(char c) {
  return std::string_view("+-*/<>=~!@#%^&|`?:").find(c) != std::string_view::npos;
}

// origin_of as it was written first: the whole text folded, every driver text folded.
std::string_view origin_reference(std::string_view normalized_sql) {
  if (normalized_sql.empty()) return "application";
  const std::string text = lc::fold_whitespace(normalized_sql);
  for (const lc::DriverStatement& d : lc::driver_statements()) {
    const std::string want = lc::fold_whitespace(d.normalized);
    if (d.prefix ? text.rfind(want, 0) == 0 : text == want) return "driver";
  }
  return "application";
}

std::string_view text_of(std::string_view sql, const lc::SqlToken& t) {
  return sql.substr(t.begin, t.end - t.begin);
}

// Text between two tokens: whitespace, and comments that start with -- or /*.
void check_gap(std::string_view gap) {
  std::size_t i = 0;
  while (i < gap.size() && is_space(gap[i])) ++i;
  if (i < gap.size()) {
    const std::string_view rest = gap.substr(i);
    require(rest.starts_with("--") || rest.starts_with("/*"));
  }
}

std::vector<lc::SqlToken> check_tokens(std::string_view sql) {
  std::vector<lc::SqlToken> tokens;
  std::size_t prev_end = 0;
  lc::scan_sql(sql, [&](const lc::SqlToken& t) {
    require(t.begin >= prev_end);
    require(t.begin < t.end);
    require(t.end <= sql.size());
    require(!t.unterminated || t.end == sql.size());
    check_gap(sql.substr(prev_end, t.begin - prev_end));
    const std::string_view s = text_of(sql, t);
    const char c = s[0];
    const char l = static_cast<char>(c | 0x20);
    switch (t.kind) {
      case lc::SqlTokenKind::word:
        require(is_letter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80);
        break;
      case lc::SqlTokenKind::quoted_ident:
        require(c == '"' || (l == 'u' && s.size() >= 3 && s[1] == '&' && s[2] == '"'));
        break;
      case lc::SqlTokenKind::string:
        require(c == '\'' || c == '$' ||
                ((l == 'e' || l == 'n' || l == 'b' || l == 'x') && s.size() >= 2 && s[1] == '\'') ||
                (l == 'u' && s.size() >= 3 && s[1] == '&' && s[2] == '\''));
        break;
      case lc::SqlTokenKind::number:
        require(is_digit(c) || c == '.');
        break;
      case lc::SqlTokenKind::param:
        require(c == '$' && s.size() >= 2);
        for (char d : s.substr(1)) require(is_digit(d));
        break;
      case lc::SqlTokenKind::op:
        if (c == '$') {
          require(s.size() == 1);
        } else {
          for (char o : s) require(is_op_char(o));
        }
        break;
      case lc::SqlTokenKind::punct:
        require(s.size() == 1);
        break;
    }
    tokens.push_back(t);
    prev_end = t.end;
  });
  check_gap(sql.substr(prev_end));
  return tokens;
}

// A string constant after masking: an optional prefix (E, N, B, X, U&: a U& before a
// masked dollar-quoted constant joins the '' that replaced it), then quotes only.
bool only_quotes(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && (is_letter(s[i]) || s[i] == '&')) ++i;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] != '\'') return false;
  return true;
}

void check_masked(std::string_view sql, const std::vector<lc::SqlToken>& tokens) {
  const std::string masked = lc::mask_string_constants(sql);
  std::size_t strings = 0, removed = 0;
  for (const lc::SqlToken& t : tokens) {
    if (t.kind != lc::SqlTokenKind::string) continue;
    ++strings;
    removed += t.end - t.begin;
  }
  require(masked.size() == sql.size() - removed + 2 * strings);
  for (const lc::SqlToken& t : check_tokens(masked)) {
    if (t.kind != lc::SqlTokenKind::string) continue;
    const std::string_view s = text_of(masked, t);
    require(only_quotes(s));
    require(!t.unterminated);
  }
  (void)lc::carries_credentials(masked);
}

void check_fingerprint(const std::optional<std::string>& fp) {
  if (!fp) return;
  require(fp->size() == 16);
  for (char c : *fp) require(is_hex(c));
}

void check_analysis(const lc::SqlAnalysis& a) {
  require(a.normalized_sql.has_value() == a.fingerprint.has_value());
  if (a.normalized_sql) require(a.normalized_sql->size() <= kMaxSqlLength);
  check_fingerprint(a.fingerprint);
}

// What the harness works out once per text that the analyzer makes a SqlText of.
struct Expected {
  std::string_view sql;
  bool credentials;
  std::string kept;  // all of sql, or with its string constants masked
  lc::SqlClassification classification;
  explicit Expected(std::string_view s)
      : sql(s),
        credentials(lc::carries_credentials(s)),
        kept(credentials ? lc::mask_string_constants(s) : std::string(s)),
        classification(lc::classify_sql(s)) {
    const lc::SqlCommand c = classification.command;
    require(classification.name.size() < 64);
    require(c == lc::SqlCommand::prepare || c == lc::SqlCommand::execute ||
            c == lc::SqlCommand::deallocate || classification.name.empty());
  }
};

void check_statement(const lc::AnalyzedStatement& s, const Expected& e) {
  require(s.command == e.classification.command);
  require(s.name == e.classification.name);
}

void check_text(const std::shared_ptr<const lc::SqlText>& t, const Expected& e, bool deferred) {
  require(t != nullptr);
  require(t->credentials == e.credentials);
  require(t->hash == lc::sql_hash(e.kept));
  if (t->credentials && t->normalized_sql) {
    require(t->sql == *t->normalized_sql);
  } else {
    require(t->sql == lc::cut_utf8(e.kept, kMaxSqlLength));
  }
  require(t->sql.size() <= kMaxSqlLength);
  if (t->credentials) {
    // Masked (and cut), or the normalized masked text: no constant survives.
    lc::scan_sql(t->sql, [&](const lc::SqlToken& tok) {
      if (tok.kind == lc::SqlTokenKind::string) require(only_quotes(text_of(t->sql, tok)));
    });
  }
  require(t->normalized_sql.has_value() == t->fingerprint.has_value());
  check_fingerprint(t->fingerprint);
  if (t->analysis_deferred) {
    // Deferred texts are whole, so that the consumer can analyse them.
    require(deferred);
    require(!t->normalized_sql && !t->fingerprint);
    require(t->sql.size() == e.kept.size());
  } else if (deferred) {
    // Only a cut text is analysed at once.
    require(lc::cut_utf8(e.kept, kMaxSqlLength).size() < e.kept.size());
  }
}

bool only_trailing_semicolons(std::string_view sql) {
  const std::size_t semi = sql.find(';');
  if (semi == std::string_view::npos) return true;
  for (char c : sql.substr(semi))
    if (c != ';' && !is_space(c)) return false;
  return true;
}

std::vector<std::string_view> check_split(std::string_view sql) {
  const std::vector<std::string_view> pieces = lc::SqlAnalyzer::split(sql);
  const char* prev_end = sql.data();
  for (std::string_view p : pieces) {
    require(!p.empty());
    require(p.data() >= prev_end);
    require(p.data() + p.size() <= sql.data() + sql.size());
    require(!is_space(p.front()) && !is_space(p.back()));
    prev_end = p.data() + p.size();
  }
  return pieces;
}

void check_query(const lc::SqlAnalyzer& analyzer, const Expected& whole, bool deferred,
                 const std::vector<Expected>& pieces) {
  const std::string_view sql = whole.sql;
  const auto q = analyzer.query(sql);
  require(q != nullptr && !q->statements.empty());
  if (only_trailing_semicolons(sql) || pieces.size() <= 1) {
    // One statement: the whole text, classified as the one piece there is.
    require(q->statements.size() == 1);
    const lc::AnalyzedStatement& s = q->statements[0];
    if (only_trailing_semicolons(sql)) {
      check_statement(s, whole);
    } else if (pieces.size() == 1) {
      check_statement(s, pieces[0]);
    } else {
      require(s.command == lc::SqlCommand::other && s.name.empty());
    }
    check_text(s.text, whole, deferred);
  } else {
    require(q->statements.size() == pieces.size());
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      check_statement(q->statements[i], pieces[i]);
      check_text(q->statements[i].text, pieces[i], deferred);
    }
  }
}

void run(std::string_view sql) {
  const std::vector<lc::SqlToken> tokens = check_tokens(sql);
  check_masked(sql, tokens);
  const Expected whole(sql);

  // Cached and reference analysis agree (the cached one answers from the shape cache
  // when an earlier text had the same normalized form).
  const lc::SqlAnalysis cached = lc::analyze_sql(sql, kMaxSqlLength);
  const lc::SqlAnalysis reference = lc::analyze_sql_uncached(sql, kMaxSqlLength);
  check_analysis(cached);
  check_analysis(reference);
  require(cached.fingerprint.has_value() == reference.fingerprint.has_value());
  require(cached.normalized_sql == reference.normalized_sql);
  require(cached.fingerprint == reference.fingerprint);
  require(lc::origin_of(sql) == origin_reference(sql));
  if (cached.normalized_sql)
    require(lc::origin_of(*cached.normalized_sql) == origin_reference(*cached.normalized_sql));

  std::vector<Expected> pieces;
  for (std::string_view p : check_split(sql)) pieces.emplace_back(p);

  const lc::SqlAnalyzer eager(kMaxSqlLength);
  check_query(eager, whole, false, pieces);
  {
    const auto p = eager.prepared(sql);
    require(p != nullptr && p->statements.size() == 1);
    check_statement(p->statements[0], whole);
    check_text(p->statements[0].text, whole, false);
  }
  check_text(eager.statement(sql), whole, false);

  const lc::SqlAnalyzer deferred(kMaxSqlLength, true);
  check_query(deferred, whole, true, pieces);

  // The storage writer answers a deferred text from the cache by its literal shape: that
  // answer (this text was analysed above, so its shape is cached when it can be) must be
  // the reference's for the text the record holds (masked when it carries credentials),
  // whichever text put it there.
  if (const auto text = deferred.statement(sql); text && text->analysis_deferred) {
    if (const auto hit = lc::analysis_of_shape(text->shape)) {
      const lc::SqlAnalysis ref = lc::analyze_sql_uncached(text->sql, std::size_t{1} << 30);
      require(hit->normalized_sql == ref.normalized_sql);
      require(hit->fingerprint == ref.fingerprint);
      require(hit->statement_type == ref.statement_type);
    }
  }
}

struct Template {
  std::string_view prefix, suffix;
};
constexpr Template kTemplates[16] = {
    {"", ""},
    {"SELECT ", ""},
    {"SELECT 1 WHERE a IN (1", ")"},
    {"SELECT 1", ""},
    {"SELECT * FROM t WHERE ", ""},
    {"PREPARE p AS SELECT ", ""},
    {"EXPLAIN SELECT ", ""},
    {"INSERT INTO t VALUES (", ")"},
    {"WITH w AS (SELECT 1) SELECT ", " FROM w"},
    {"DO $$BEGIN ", " END$$"},
    {"ALTER ROLE r PASSWORD '", "'"},
    {"SELECT ", "; SELECT 1"},
    {"CREATE TABLE t (", ")"},
    {"SELECT ARRAY[", "]"},
    {"UPDATE t SET a = ", " WHERE b = 1"},
    {"SELECT 1; ", ";"},
};

std::string expand(std::uint8_t mode, std::size_t n, std::string_view rest) {
  const Template& tpl = kTemplates[mode & 15];
  n = std::min(n, kMaxRepeat);
  std::string_view part[4];
  for (int k = 0; k < 3; ++k) {
    const std::size_t sep = rest.find('\x01');
    part[k] = rest.substr(0, sep);
    rest = sep == std::string_view::npos ? std::string_view() : rest.substr(sep + 1);
  }
  part[3] = rest;
  const std::string_view unit = part[0], middle = part[1], closer = part[2], tail = part[3];
  const std::size_t fixed = tpl.prefix.size() + middle.size() + tail.size() + tpl.suffix.size();
  const std::size_t per = unit.size() + closer.size();
  if (per > 0) n = std::min(n, fixed >= kMaxExpanded ? 0 : (kMaxExpanded - fixed) / per);
  std::string out;
  out.reserve(fixed + n * per);
  out += tpl.prefix;
  for (std::size_t i = 0; i < n; ++i) out += unit;
  out += middle;
  for (std::size_t i = 0; i < n; ++i) out += closer;
  out += tail;
  out += tpl.suffix;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Without the interposed stack_is_too_deep, libpg_query's walkers recurse unchecked
  // and deep inputs crash for a reason the proxy does not have.
  if (!lc::ParserStackBudget::guard_active()) {
    std::fprintf(stderr, "sql_analyzer_fuzz: libpg_query does not call our stack_is_too_deep\n");
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  if (mode < 0xF0) {
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    // An exact-size copy: reading past the text is an ASan error.
    const std::string text(rest.substr(0, rest.find('\0')));
    run(text);
  } else {
    std::size_t n = 0, skip = 1;
    if (size >= 3) {
      n = (std::size_t{data[1]} << 8) | data[2];
      skip = 3;
    }
    std::string_view rest(reinterpret_cast<const char*>(data + skip), size - skip);
    run(expand(mode, n, rest.substr(0, rest.find('\0'))));
  }
  return 0;
}
