#include "lifecycle/sql_analyzer.hpp"

#include "lifecycle/literal_shape.hpp"
#include "lifecycle/parser_stack.hpp"
#include "lifecycle/statement_class.hpp"

// Before the header: see digest_of.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <pg_query.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <iterator>
#include <optional>
#include <vector>

namespace pglc::lifecycle {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The first 128 bits of SHA-256: the cache key, and (shortened, text_key) sql_texts.hash. A plain
// value key keeps lookups free of allocation; its first word is already uniform.
struct Digest {
  unsigned char bytes[16];
  bool operator==(const Digest& o) const { return std::memcmp(bytes, o.bytes, 16) == 0; }
};
struct DigestHash {
  std::size_t operator()(const Digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.bytes, sizeof h);
    return h;
  }
};

// The low-level SHA256_* calls, deprecated in OpenSSL 3.0, are the only SHA-256 entry
// point that allocates nothing: EVP_DigestInit_ex2 allocates a provider context on
// every call (even reusing one EVP_MD_CTX) and the one-shot SHA256() three times. This
// runs once or twice per new text on an io thread, where the hot path allows no
// allocation; the digest is a cache key, so no provider choice is lost.
Digest digest_of(std::string_view sql) {
  unsigned char full[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, sql.data(), sql.size());
  SHA256_Final(full, &ctx);
  Digest d;
  std::memcpy(d.bytes, full, sizeof d.bytes);
  return d;
}

// sql_texts.hash: the digest's first 90 bits in 15 base64url characters. Every new text
// under `pgbench -M simple` inserts one of these into a b-tree at a random place, so the
// key's length sets how many index pages each writer batch rewrites: with 32 hex digits
// recorder_bench's simple mix stored 20 % fewer executions per CPU-second (bench/notes.md).
// 90 bits keep collisions unlikely (a chance of about 4e-8 among ten billion texts), and
// 15 characters fit std::string's inline buffer: no allocation.
std::string text_key(const Digest& d) {
  static constexpr char kBase64Url[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out(kTextKeyLength, 'A');
  std::uint64_t bits = 0;
  int have = 0;
  std::size_t in = 0;
  for (char& c : out) {
    if (have < 6) {
      bits = (bits << 8) | d.bytes[in++];
      have += 8;
    }
    have -= 6;
    c = kBase64Url[(bits >> have) & 0x3f];
  }
  return out;
}

// A set-associative cache: a key can live only in the 4 slots of its set, so a lookup
// reads one small set and a miss costs no allocation, no chain walk and no rehash; the
// oldest slot of the set is replaced (FIFO per set). A byte budget bounds the memory that
// large texts can pin: when it is exceeded, a cursor sweeps sets and drops entries.
template <class T>
class SetCache {
 public:
  static constexpr std::size_t kSets = 2048;  // x 4 ways = 8192 texts per thread
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kMaxBytes = 2u << 20;

  std::shared_ptr<const T> find(const Digest& key, std::size_t mode) {
    if (sets_.empty()) return nullptr;
    Set& set = sets_[index(key)];
    for (std::size_t w = 0; w < kWays; ++w) {
      if (set.values[w] && set.modes[w] == mode && set.keys[w] == key) return set.values[w];
    }
    return nullptr;
  }

  // Inserts only a key offered before (the doorkeeper: one word per slot, the last key
  // offered there). `pgbench -M simple` and PowerBI's literals bring a new text per
  // execution: inserting each one evicted an entry gone cold, whose frees cost more than
  // the lookup. A text seen twice is cached from its second time on.
  void insert_if_seen(const Digest& key, std::size_t mode, std::shared_ptr<const T> value,
                      std::size_t bytes) {
    if (seen_.empty()) seen_.resize(kSeen);
    std::uint64_t words[2];
    std::memcpy(words, key.bytes, sizeof words);
    std::uint64_t& slot = seen_[words[0] & (kSeen - 1)];
    const std::uint64_t mark = words[1] ^ mode;
    if (slot != mark) {
      slot = mark;
      return;
    }
    insert(key, mode, std::move(value), bytes);
  }

  void insert(const Digest& key, std::size_t mode, std::shared_ptr<const T> value,
              std::size_t bytes) {
    if (sets_.empty()) sets_.resize(kSets);
    Set& set = sets_[index(key)];
    const std::size_t w = set.next;
    set.next = static_cast<std::uint8_t>((w + 1) % kWays);
    drop(set, w);
    set.keys[w] = key;
    set.modes[w] = mode;
    set.bytes[w] = bytes;
    set.values[w] = std::move(value);
    total_bytes_ += bytes;
    while (total_bytes_ > kMaxBytes) {
      Set& victim = sets_[cursor_ / kWays];
      drop(victim, cursor_ % kWays);
      cursor_ = (cursor_ + 1) % (kSets * kWays);
    }
  }

 private:
  struct Set {
    Digest keys[kWays]{};
    std::size_t modes[kWays]{};
    std::size_t bytes[kWays]{};
    std::shared_ptr<const T> values[kWays];
    std::uint8_t next = 0;
  };
  static std::size_t index(const Digest& key) { return DigestHash{}(key) & (kSets - 1); }
  void drop(Set& set, std::size_t w) {
    if (!set.values[w]) return;
    total_bytes_ -= set.bytes[w];
    set.values[w].reset();
  }

  static constexpr std::size_t kSeen = 4096;
  std::vector<Set> sets_;  // allocated on first insert: threads that never see SQL pay nothing
  std::vector<std::uint64_t> seen_;
  std::size_t total_bytes_ = 0;
  std::size_t cursor_ = 0;
};

// What a cached value really holds on the heap (the cache's byte budget counts this):
// the object and its shared_ptr control block, and every string's buffer beyond SSO.
std::size_t string_bytes(const std::string& v) {
  return v.capacity() > 15 ? v.capacity() + 1 : 0;
}
std::size_t heap_bytes(const SqlText& t) {
  return sizeof(SqlText) + 16 + string_bytes(t.hash) + string_bytes(t.sql) +
         (t.normalized_sql ? string_bytes(*t.normalized_sql) : 0) +
         (t.fingerprint ? string_bytes(*t.fingerprint) : 0);
}
// A query's statements share texts with the statement cache, except a single statement's
// text, which only the query cache holds.
std::size_t heap_bytes(const AnalyzedQuery& q) {
  std::size_t n = sizeof(AnalyzedQuery) + 16;
  if (q.statements.capacity() > kInlineStatements) {
    n += q.statements.capacity() * sizeof(AnalyzedStatement);
  }
  for (const AnalyzedStatement& s : q.statements) n += string_bytes(s.name);
  if (q.statements.size() == 1 && q.statements[0].text) n += heap_bytes(*q.statements[0].text);
  return n;
}

SetCache<SqlText>& text_cache() {
  thread_local SetCache<SqlText> cache;
  return cache;
}

SetCache<AnalyzedQuery>& query_cache() {
  thread_local SetCache<AnalyzedQuery> cache;
  return cache;
}

// Fingerprints (and statement types) by normalized text: `pgbench -M simple` and PowerBI
// send one shape with ever-new literals, and those parses cost more than the normalize.
struct ShapeEntry {
  std::string fingerprint;
  std::string_view statement_type;
};
SetCache<ShapeEntry>& shape_cache() {
  thread_local SetCache<ShapeEntry> cache;
  return cache;
}

// Normalized text and fingerprint by literal shape (literal_shape.hpp): a text of a known
// shape costs one lexer pass and no parse at all.
SetCache<SqlAnalysis>& literal_cache() {
  thread_local SetCache<SqlAnalysis> cache;
  return cache;
}

bool is_ident_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) != 0 || c == '_' || c == '$';
}

// The start of the text past whitespace, comments and opening parentheses; nullopt when a
// comment is not closed.
std::optional<std::string_view> skip_to_first_word(std::string_view s) {
  for (;;) {
    while (!s.empty() && (is_space(s.front()) || s.front() == '(')) s.remove_prefix(1);
    if (s.starts_with("--")) {
      const std::size_t nl = s.find('\n');
      if (nl == std::string_view::npos) return std::nullopt;
      s.remove_prefix(nl + 1);
    } else if (s.starts_with("/*")) {
      int depth = 0;  // PostgreSQL's block comments nest
      std::size_t i = 0;
      do {
        if (i + 1 >= s.size()) return std::nullopt;
        if (s[i] == '/' && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && s[i + 1] == '/') {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (depth > 0);
      s.remove_prefix(i);
    } else {
      return s;
    }
  }
}

bool only_trailing_semicolons(std::string_view sql) {
  const std::size_t semi = sql.find(';');
  return semi == std::string_view::npos ||
         std::all_of(sql.begin() + static_cast<std::ptrdiff_t>(semi), sql.end(),
                     [](char c) { return c == ';' || is_space(c); });
}

// May `normalized` stand for the fingerprint of `raw`? That needs every text with this
// normalized form to have the same fingerprint. Normalization replaces the spans of
// constants by $n; the fingerprint ignores constant values and treats $n like a constant,
// so the texts differ only where the fingerprint does not look -- provided that:
//  * the statement is one query (SELECT / INSERT / UPDATE / DELETE / WITH / VALUES /
//    TABLE). Utility statements fail it: libpg_query also replaces option strings whose
//    value the fingerprint keeps (ALTER ROLE r PASSWORD 'a' and ... 'b' normalize alike
//    and fingerprint apart), and a second statement in the text could be one of those;
//  * no $n is glued to a neighbouring identifier character: SELECT N'x', $1 normalizes to
//    "SELECT N$2, $1", which is also what SELECT N$2, 7 (a column "n$2") normalizes to;
//  * no minus sign is followed by anything but a number or a name: normalization takes a
//    '-' before a constant into the constant's span, which is right for numbers (the
//    parser folds -1 into the constant) but not for strings (SELECT -'x' and SELECT 'x'
//    both normalize to SELECT $1, and the first is an operator expression), and it
//    mangles - -1 and -(1) (the fuzzer found these).
class MinusCheck {
 public:
  explicit MinusCheck(std::string_view raw) : raw_(raw) {}
  void on_token(const SqlToken& t) {
    if (after_minus_ && t.kind != SqlTokenKind::number && t.kind != SqlTokenKind::word &&
        t.kind != SqlTokenKind::quoted_ident && t.kind != SqlTokenKind::param) {
      found_ = true;
    }
    after_minus_ = t.kind == SqlTokenKind::op && raw_[t.end - 1] == '-';
  }
  bool found() const { return found_ || after_minus_; }

 private:
  std::string_view raw_;
  bool after_minus_ = false, found_ = false;
};

bool minus_before_other_than_number(std::string_view raw) {
  MinusCheck check(raw);
  scan_sql(raw, [&](const SqlToken& t) { check.on_token(t); });
  return check.found();
}

// One query (SELECT / INSERT / UPDATE / DELETE / WITH / VALUES / TABLE), nothing after
// it but semicolons: the first two conditions below.
bool single_query(std::string_view raw) {
  const auto start = skip_to_first_word(raw);
  if (!start) return false;
  std::size_t len = 0;
  while (len < start->size() && std::isalpha(static_cast<unsigned char>((*start)[len]))) ++len;
  if (len < start->size() && is_ident_char((*start)[len])) return false;
  std::string word(start->substr(0, len));
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::string_view kQueries[] = {"select", "insert", "update", "delete",
                                                  "with",   "values", "table"};
  if (std::find(std::begin(kQueries), std::end(kQueries), word) == std::end(kQueries)) {
    return false;
  }
  return only_trailing_semicolons(raw);
}

bool fingerprint_follows_shape(std::string_view raw, std::string_view normalized) {
  if (!single_query(raw)) return false;
  if (minus_before_other_than_number(raw)) return false;
  for (std::size_t i = normalized.find('$'); i != std::string_view::npos;
       i = normalized.find('$', i + 1)) {
    if (i > 0 && is_ident_char(normalized[i - 1])) return false;
    std::size_t end = i + 1;
    while (end < normalized.size() && std::isdigit(static_cast<unsigned char>(normalized[end]))) {
      ++end;
    }
    if (end < normalized.size() && is_ident_char(normalized[end])) return false;
  }
  return true;
}

// Cheap reject before carries_credentials: every text it flags contains one of these.
bool may_carry_credentials(std::string_view s) {
  static constexpr std::string_view kWords[] = {"passw", "dblink", "create", "alter"};
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = static_cast<char>(s[i] | 0x20);
    if (c != 'p' && c != 'd' && c != 'c' && c != 'a') continue;
    for (std::string_view w : kWords) {
      if (w[0] != c || s.size() - i < w.size()) continue;
      std::size_t k = 1;
      while (k < w.size() && static_cast<char>(s[i + k] | 0x20) == w[k]) ++k;
      if (k == w.size()) return true;
    }
  }
  return false;
}

// PostgreSQL's scanner matches the longest run of operator characters and then gives
// most of it back (yyless) to be matched again, once per token it keeps:
//  * an operator ending in '+' or '-' loses those (SQL's rule for operator names), so
//    "++++...+" is one token per character and the run is rescanned each time (30 KB:
//    ~1.4 s per parse);
//  * inside a comment, "/*" and every operator character after it match the opener,
//    which keeps two, so "/*/*/*..." rescans its run once per opener (80 KB: ~5 s).
// Operator runs longer than kMaxOperatorRun outside comments, and runs in comments with
// more than kMaxCommentOpenersInRun openers, bound that work. A long run of '*' or '-'
// in a comment (a banner, a line comment) costs one scan and is fine. `also` sees every
// token of the same pass (within_bounds counts set operations with it).
template <class OnToken>
bool scanner_is_linear(std::string_view sql, OnToken&& also) {
  bool linear = true;
  std::size_t prev_end = 0;
  auto check_gap = [&](std::string_view gap) {
    std::size_t run = 0, openers = 0;
    for (std::size_t i = 0; i < gap.size(); ++i) {
      if (!sql_lexer_detail::op_char(gap[i])) {
        run = openers = 0;
        continue;
      }
      ++run;
      if (gap[i] == '*' && i > 0 && gap[i - 1] == '/' && run >= 2) ++openers;
      if (openers > kMaxCommentOpenersInRun) linear = false;
    }
  };
  scan_sql(sql, [&](const SqlToken& t) {
    if (!linear) return;
    check_gap(sql.substr(prev_end, t.begin - prev_end));
    prev_end = t.end;
    if (t.kind == SqlTokenKind::op && t.end - t.begin > kMaxOperatorRun) linear = false;
    also(t);
  });
  if (linear) check_gap(sql.substr(prev_end));
  return linear;
}

// Split at top-level ';' tokens: for texts the scanner must not see.
std::vector<std::string_view> split_by_lexer(std::string_view sql) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  auto piece = [&](std::size_t to) {
    std::string_view p = trim(sql.substr(from, to - from));
    if (!p.empty()) out.push_back(p);
  };
  scan_sql(sql, [&](const SqlToken& t) {
    if (t.kind != SqlTokenKind::punct || sql[t.begin] != ';') return;
    piece(t.begin);
    from = t.end;
  });
  piece(sql.size());
  return out;
}

// Within the analyzer's bounds (see kMaxAnalyzedBytes)? The set-operation count is the
// one recursion of libpg_query's normalize that its stack check does not cover.
// `shape`, when given, sees the tokens of the same pass.
bool within_bounds(std::string_view sql, LiteralShape* shape = nullptr) {
  if (sql.size() > kMaxAnalyzedBytes) return false;
  std::size_t set_ops = 0;
  const bool linear = scanner_is_linear(sql, [&](const SqlToken& t) {
    if (shape) shape->on_token(t);
    if (t.kind != SqlTokenKind::word) return;
    const std::size_t len = t.end - t.begin;
    if (len != 5 && len != 6 && len != 9) return;
    std::string w(sql.substr(t.begin, len));
    for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (w == "union" || w == "except" || w == "intersect") ++set_ops;
  });
  if (shape) shape->finish();
  return linear && set_ops <= kMaxSetOperations;
}

AnalyzedStatement classified(std::string_view statement_sql) {
  SqlClassification c = classify_sql(statement_sql);
  AnalyzedStatement out;
  out.command = c.command;
  out.name = std::move(c.name);
  return out;
}

// SqlText::shape: the digest of the literal shape of a single query whose fingerprint
// follows its shape (the conditions of fingerprint_follows_shape that do not need the
// normalized text: a $n glued to a name is a name to the lexer, so texts that differ
// there differ in their shape), zero otherwise.
std::array<std::uint64_t, 2> query_shape(std::string_view sql) {
  if (sql.size() > kMaxAnalyzedBytes || !single_query(sql)) return {};
  // Kept per io thread for the next text; one huge text's worth is not kept.
  thread_local LiteralShape::Buffers scratch;
  struct Trim {
    ~Trim() {
      if (scratch.key.capacity() > 64 * 1024 || scratch.literals.capacity() > 4096) scratch = {};
    }
  } trim;
  LiteralShape shape(sql, scratch);
  MinusCheck minus(sql);
  scan_sql(sql, [&](const SqlToken& t) {
    shape.on_token(t);
    minus.on_token(t);
  });
  shape.finish();
  if (!shape.cacheable() || minus.found()) return {};
  const Digest d = digest_of(shape.key());
  std::array<std::uint64_t, 2> out{};
  std::memcpy(out.data(), d.bytes, sizeof d.bytes);
  if ((out[0] | out[1]) == 0) out[1] = 1;
  return out;
}

std::shared_ptr<const SqlText> make_text(std::string_view sql, std::string hash,
                                         std::size_t max_len, bool defer, bool shapes) {
  auto text = std::make_shared<SqlText>();
  std::string masked;
  if (may_carry_credentials(sql) && carries_credentials(sql)) {
    // The secret never leaves this thread: not in the record, not as a digest.
    masked = mask_string_constants(sql);
    sql = masked;
    text->credentials = true;
    hash = text_key(digest_of(sql));
  }
  text->hash = std::move(hash);
  text->sql = std::string(cut_utf8(sql, max_len));
  if (shapes) text->shape = query_shape(sql);
  // A cut text cannot be analyzed later: only the io thread still has all of it.
  if (defer && text->sql.size() == sql.size()) {
    text->analysis_deferred = true;
    return text;
  }
  SqlAnalysis a = analyze_sql(sql, max_len);
  text->normalized_sql = std::move(a.normalized_sql);
  text->fingerprint = std::move(a.fingerprint);
  text->statement_type = a.statement_type;
  if (text->credentials && text->normalized_sql) text->sql = *text->normalized_sql;
  return text;
}

}  // namespace

std::string sql_hash(std::string_view sql) {
  return text_key(digest_of(sql));
}

SqlAnalysis analyze_sql(std::string_view sql, std::size_t max_sql_length) {
  SqlAnalysis out;
  LiteralShape literals(sql);
  if (!within_bounds(sql, &literals)) return out;
  Digest literal_key{};
  if (literals.cacheable()) {
    literal_key = digest_of(literals.key());
    if (auto hit = literal_cache().find(literal_key, 0)) {
      out.fingerprint = hit->fingerprint;
      out.normalized_sql = std::string(cut_utf8(*hit->normalized_sql, max_sql_length));
      out.statement_type = hit->statement_type;
      if (out.normalized_sql->size() == hit->normalized_sql->size()) out.origin = hit->origin;
      return out;
    }
  }
  const std::string z(sql);
  ParserStackBudget budget;
  PgQueryNormalizeResult n = pg_query_normalize(z.c_str());
  // Past the budget, normalize stops descending and leaves deeper constants in place.
  if (n.error != nullptr || n.normalized_query == nullptr || budget.exceeded()) {
    pg_query_free_normalize_result(n);
    return out;
  }
  const std::string_view normalized = n.normalized_query;
  const bool by_shape = fingerprint_follows_shape(sql, normalized);
  Digest shape{};
  if (by_shape) {
    shape = digest_of(normalized);
    if (auto hit = shape_cache().find(shape, 0)) {
      out.fingerprint = hit->fingerprint;
      out.statement_type = hit->statement_type;
    }
  }
  if (!out.fingerprint) {
    PgQueryFingerprintResult f = pg_query_fingerprint(z.c_str());
    if (f.error == nullptr && f.fingerprint_str != nullptr) out.fingerprint = f.fingerprint_str;
    pg_query_free_fingerprint_result(f);
    if (out.fingerprint) out.statement_type = statement_type(sql);
    if (out.fingerprint && by_shape) {
      auto entry =
          std::make_shared<const ShapeEntry>(ShapeEntry{*out.fingerprint, out.statement_type});
      const std::size_t bytes = sizeof(ShapeEntry) + 16 + string_bytes(entry->fingerprint);
      shape_cache().insert(shape, 0, std::move(entry), bytes);
    }
  }
  // Normalize replaced exactly the constants the lexer sees: every text of this literal
  // shape normalizes to the same text, and (a query, by_shape) fingerprints alike.
  if (out.fingerprint && by_shape && literals.cacheable() && normalized == literals.substituted()) {
    auto entry = std::make_shared<const SqlAnalysis>(SqlAnalysis{
        std::string(normalized), out.fingerprint, out.statement_type, origin_of(normalized)});
    const std::size_t bytes = sizeof(SqlAnalysis) + 16 + string_bytes(*entry->normalized_sql) +
                              string_bytes(*entry->fingerprint);
    literal_cache().insert(literal_key, 0, std::move(entry), bytes);
  }
  // Both or neither, as stored.
  if (out.fingerprint) {
    out.normalized_sql = std::string(cut_utf8(normalized, max_sql_length));
    if (out.normalized_sql->size() == normalized.size()) out.origin = origin_of(normalized);
  }
  if (!out.fingerprint) out.statement_type = {};
  pg_query_free_normalize_result(n);
  return out;
}

std::shared_ptr<const SqlAnalysis> analysis_of_shape(const std::array<std::uint64_t, 2>& shape) {
  if ((shape[0] | shape[1]) == 0) return nullptr;
  Digest key;
  static_assert(sizeof key.bytes == sizeof shape);
  std::memcpy(key.bytes, shape.data(), sizeof key.bytes);
  return literal_cache().find(key, 0);
}

SqlAnalysis analyze_sql_uncached(std::string_view sql, std::size_t max_sql_length) {
  SqlAnalysis out;
  if (!within_bounds(sql)) return out;
  const std::string z(sql);
  ParserStackBudget budget;
  PgQueryNormalizeResult n = pg_query_normalize(z.c_str());
  if (n.error == nullptr && n.normalized_query != nullptr && !budget.exceeded()) {
    out.normalized_sql = std::string(cut_utf8(n.normalized_query, max_sql_length));
  }
  pg_query_free_normalize_result(n);
  if (out.normalized_sql) {
    PgQueryFingerprintResult f = pg_query_fingerprint(z.c_str());
    if (f.error == nullptr && f.fingerprint_str != nullptr) out.fingerprint = f.fingerprint_str;
    pg_query_free_fingerprint_result(f);
  }
  if (!out.fingerprint) out.normalized_sql.reset();
  if (out.fingerprint) out.statement_type = statement_type(sql);
  return out;
}

std::string_view cut_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t end = max;
  // Step back over continuation bytes so that the cut lands before a lead byte.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) --end;
  return s.substr(0, end);
}

std::vector<std::string_view> SqlAnalyzer::split(std::string_view sql) {
  if (!scanner_is_linear(sql, [](const SqlToken&) {})) return split_by_lexer(sql);
  std::vector<std::string_view> out;
  const std::string z(sql);
  PgQuerySplitResult r = pg_query_split_with_scanner(z.c_str());
  if (r.error != nullptr) {
    // Unterminated quote or comment: the server rejects the whole Query as one.
    if (!trim(sql).empty()) out.push_back(trim(sql));
    pg_query_free_split_result(r);
    return out;
  }
  // The scanner split can leave out a leading run of text that does not start with a
  // keyword ("SELEC 1; SELECT 2" yields only "SELECT 2"), so the gaps between the ranges
  // it returns are split on ';' as well: the server rejects such a Query as a whole, so
  // only the count and order of the pieces matter there.
  auto add_gap = [&](std::size_t from, std::size_t to) {
    std::string_view gap = sql.substr(from, to - from);
    while (!gap.empty()) {
      std::size_t semi = gap.find(';');
      std::string_view piece = trim(gap.substr(0, semi));
      if (!piece.empty()) out.push_back(piece);
      if (semi == std::string_view::npos) break;
      gap.remove_prefix(semi + 1);
    }
  };
  std::size_t pos = 0;
  for (int i = 0; i < r.n_stmts; ++i) {
    const auto loc = static_cast<std::size_t>(std::max(0, r.stmts[i]->stmt_location));
    const auto len = static_cast<std::size_t>(std::max(0, r.stmts[i]->stmt_len));
    if (loc < pos || loc > sql.size()) continue;
    add_gap(pos, loc);
    std::string_view piece = trim(sql.substr(loc, std::min(len, sql.size() - loc)));
    if (!piece.empty()) out.push_back(piece);
    pos = std::min(sql.size(), loc + len);
  }
  if (r.n_stmts > 0) add_gap(pos, sql.size());
  pg_query_free_split_result(r);
  return out;
}

std::shared_ptr<const SqlText> SqlAnalyzer::statement(std::string_view sql) const {
  const Digest key = digest_of(sql);
  auto& cache = text_cache();
  if (auto hit = cache.find(key, mode())) return hit;
  auto text = make_text(sql, text_key(key), max_sql_length_, defer_analysis_, shapes_);
  cache.insert_if_seen(key, mode(), text, heap_bytes(*text));
  return text;
}

std::shared_ptr<const AnalyzedQuery> SqlAnalyzer::query(std::string_view sql) const {
  const Digest key = digest_of(sql);
  auto& cache = query_cache();
  if (auto hit = cache.find(key, mode() * 2)) return hit;
  auto q = std::make_shared<AnalyzedQuery>();
  // Without a ';' before the end there is at most one statement: skip the scanner (and
  // the vector of pieces).
  const bool single = only_trailing_semicolons(sql);
  const std::vector<std::string_view> pieces =
      single ? std::vector<std::string_view>{} : split(sql);
  if (single || pieces.size() <= 1) {
    // One statement keeps the text exactly as sent; the query cache alone holds it.
    AnalyzedStatement s = single           ? classified(sql)
                          : pieces.empty() ? AnalyzedStatement{}
                                           : classified(pieces[0]);
    s.text = make_text(sql, text_key(key), max_sql_length_, defer_analysis_, shapes_);
    q->statements.push_back(std::move(s));
  } else {
    for (std::string_view piece : pieces) {
      AnalyzedStatement s = classified(piece);
      s.text = statement(piece);
      q->statements.push_back(std::move(s));
    }
  }
  cache.insert_if_seen(key, mode() * 2, q, heap_bytes(*q));
  return q;
}

std::shared_ptr<const AnalyzedQuery> SqlAnalyzer::prepared(std::string_view sql) const {
  const Digest key = digest_of(sql);
  auto& cache = query_cache();
  if (auto hit = cache.find(key, mode() * 2 + 1)) return hit;
  auto q = std::make_shared<AnalyzedQuery>();
  AnalyzedStatement s = classified(sql);
  s.text = make_text(sql, text_key(key), max_sql_length_, defer_analysis_, shapes_);
  q->statements.push_back(std::move(s));
  cache.insert_if_seen(key, mode() * 2 + 1, q, heap_bytes(*q));
  return q;
}

}  // namespace pglc::lifecycle
