// analyze_sql takes fingerprints from a per-thread cache keyed by normalized text. These
// tests hold it to the uncached reference (a normalize and a fingerprint parse of every
// text) over a broad corpus, its variants with other literals and with $n parameters, and
// the texts for which a fingerprint by shape would be wrong.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/literal_shape.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/sql_lexer.hpp"

using namespace pglc::lifecycle;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> corpus() {
  const std::string text = read_file(PGLC_SOURCE_DIR "/tests/lifecycle/data/sql_shapes.lst");
  std::vector<std::string> out;
  std::string current;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line == "----") {
      out.push_back(current);
      current.clear();
      continue;
    }
    if (!current.empty()) current += '\n';
    current += line;
  }
  out.push_back(current);
  return out;
}

// Other literals in the same places: digits and the letters of quoted strings change.
std::string other_literals(std::string s, int salt) {
  bool quoted = false;
  for (char& c : s) {
    if (c == '\'') quoted = !quoted;
    if (c >= '0' && c <= '9') c = static_cast<char>('0' + (c - '0' + 3 + salt) % 10);
    if (quoted && c >= 'a' && c <= 'z') c = static_cast<char>('a' + (c - 'a' + 1 + salt) % 26);
  }
  return s;
}

// The corpus and, per text, variants that share its shape (or nearly): other literals,
// and the normalized text itself (every constant a $n, as Npgsql's Parse texts are).
std::vector<std::string> with_variants(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const std::string& t : texts) {
    out.push_back(t);
    out.push_back(other_literals(t, 0));
    out.push_back(other_literals(t, 5));
    if (auto n = analyze_sql_uncached(t, 1 << 20).normalized_sql) out.push_back(*n);
  }
  return out;
}

void check_same(const std::string& sql) {
  CAPTURE(sql);
  const SqlAnalysis want = analyze_sql_uncached(sql, 65536);
  const SqlAnalysis got = analyze_sql(sql, 65536);
  CHECK(got.normalized_sql == want.normalized_sql);
  CHECK(got.fingerprint == want.fingerprint);
  CHECK(got.statement_type == want.statement_type);  // the caches keep it too
  // The cut applies to normalized_sql whether or not the shape was known.
  const SqlAnalysis cut = analyze_sql(sql, 12);
  CHECK(cut.normalized_sql == analyze_sql_uncached(sql, 12).normalized_sql);
}

}  // namespace

TEST_CASE("analyze_sql by shape equals the uncached analysis over the corpus") {
  const std::vector<std::string> texts = with_variants(corpus());
  REQUIRE(texts.size() > 800);
  // Forward, then backward: each text meets a cache filled by its variants in both orders.
  for (const std::string& t : texts) check_same(t);
  for (auto it = texts.rbegin(); it != texts.rend(); ++it) check_same(*it);
}

TEST_CASE("analyze_sql by shape equals the uncached analysis over PostgreSQL's own scripts") {
  // DDL-heavy: extension scripts, system views, information_schema. Skipped where the
  // server's share directory is not installed.
  std::vector<std::string> texts;
  for (const char* dir : {"/usr/share/postgresql/15", "/usr/share/postgresql/15/extension"}) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".sql") continue;
      const std::string script = read_file(entry.path());
      for (std::string_view piece : SqlAnalyzer::split(script)) texts.emplace_back(piece);
    }
  }
  if (texts.empty()) return;
  for (const std::string& t : with_variants(texts)) check_same(t);
}

TEST_CASE("texts that normalize alike but fingerprint apart keep their own fingerprint") {
  // Option strings: libpg_query replaces the password by $1, the fingerprint keeps it.
  auto pair = [](const std::string& a, const std::string& b) {
    CAPTURE(a);
    CAPTURE(b);
    REQUIRE(analyze_sql_uncached(a, 65536).normalized_sql ==
            analyze_sql_uncached(b, 65536).normalized_sql);
    REQUIRE(analyze_sql_uncached(a, 65536).fingerprint !=
            analyze_sql_uncached(b, 65536).fingerprint);
    for (int round = 0; round < 2; ++round) {
      CHECK(analyze_sql(a, 65536).fingerprint == analyze_sql_uncached(a, 65536).fingerprint);
      CHECK(analyze_sql(b, 65536).fingerprint == analyze_sql_uncached(b, 65536).fingerprint);
    }
  };
  pair("ALTER ROLE app WITH PASSWORD 'a'", "ALTER ROLE app WITH PASSWORD 'b'");
  pair("CREATE USER u WITH ENCRYPTED PASSWORD 'x'", "CREATE USER u WITH ENCRYPTED PASSWORD 'y'");
  // A query first, then a utility statement in the same text.
  pair("SELECT 1; ALTER ROLE app PASSWORD 'a'", "SELECT 1; ALTER ROLE app PASSWORD 'b'");
  // N'x' normalizes to N$2, which another text can hold as a column named "n$2".
  pair("SELECT N'x', $1", "SELECT N$2, 7");
}

TEST_CASE("texts of one shape share the fingerprint; rejected texts get none") {
  const SqlAnalysis a = analyze_sql("SELECT abalance FROM pgbench_accounts WHERE aid = 1;", 100);
  const SqlAnalysis b = analyze_sql("SELECT abalance FROM pgbench_accounts WHERE aid = 2;", 100);
  CHECK(a.fingerprint == b.fingerprint);
  CHECK(b.normalized_sql == "SELECT abalance FROM pgbench_accounts WHERE aid = $1;");
  const SqlAnalysis rejected = analyze_sql("SELECT abalance FROM WHERE aid = 2;", 100);
  CHECK_FALSE(rejected.normalized_sql.has_value());
  CHECK_FALSE(rejected.fingerprint.has_value());
}

// The literal-shape cache (lifecycle/literal_shape.hpp) answers a text that differs from a
// known one only inside its constants without parsing it: each pair's second text meets
// the first's entry, and both must equal the reference.
TEST_CASE("texts that differ only inside their constants match the uncached analysis") {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 17;",
       "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;"},
      // An integer past int32 is a FCONST to the scanner: another kind, another shape.
      {"SELECT * FROM t WHERE a = 2147483647", "SELECT * FROM t WHERE a = 2147483648"},
      {"SELECT * FROM t WHERE a = 1 LIMIT 5", "SELECT * FROM t WHERE a = 99999999999 LIMIT 6"},
      // Type modifiers are not replaced by normalize: no entry, every text parsed.
      {"SELECT 'a'::varchar(10)", "SELECT 'b'::varchar(20)"},
      {"SELECT 1::numeric(10, 2)", "SELECT 2::numeric(12, 4)"},
      {"SELECT E'a\\'b', 1", "SELECT E'xyz', 2"},
      {"SELECT 'a'\n'b' AS s", "SELECT 'c'\n'dd' AS s"},  // one constant to the scanner
      {"SELECT $$a$$, 1", "SELECT $x$b;'$x$, 2"},
      {"SELECT B'101', X'1F', N'n'", "SELECT B'0', X'ff', N'm'"},
      {"SELECT 1.5e3, .5, 5., 1e-2", "SELECT 2.5e4, .7, 6., 3e+5"},
      {"SELECT -5, - 6", "SELECT -7, - 8"},
      {"SELECT true, NULL, 1", "SELECT false, NULL, 2"},
      {"SELECT U&'d\\0061t', 1", "SELECT U&'x', 2"},
      {"SELECT 5abc", "SELECT 6abc"},  // junk after a number: rejected by PostgreSQL 15
      {"SELECT 1..2", "SELECT 3..4"},
      {"SELECT $1 + 1 FROM t WHERE b = 'x'", "SELECT $1 + 2 FROM t WHERE b = 'y'"},
      {"INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (3, 'c'), (4, 'd')"},
      {"SELECT 'unterminated", "SELECT 'other"},
      {"SELECT /* 'not a constant' */ 1", "SELECT /* 'not a constant' */ 2"},
      // Found by the fuzzer: an E'' string's escapes can make the parse fail (an octal
      // escape giving invalid UTF-8, a bad Unicode escape), so such a string is no cached
      // constant.
      {"INSERT INTO t (a, b) VALUES (1, E'it''s\\n') RETURNING id",
       "INSERT INTO t (a, b) VALUES (1, E'it''s\\\222\322x') RETURNING id"},
      {"SELECT E'\\t', 1", "SELECT E'\\u00zz', 2"},
      {"SELECT E'ok', 1", "SELECT E'\\xff', 2"},
  };
  for (int round = 0; round < 2; ++round) {
    for (const auto& [a, b] : pairs) {
      check_same(a);
      check_same(b);
    }
  }
}

TEST_CASE("single queries of one literal shape share SqlText::shape; others have none") {
  const SqlAnalyzer analyzer(65536, true);
  auto shape = [&](const std::string& sql) { return analyzer.statement(sql)->shape; };
  const std::array<std::uint64_t, 2> none{};
  const auto a = shape("SELECT abalance FROM pgbench_accounts WHERE aid = 1;");
  CHECK(a != none);
  CHECK(shape("SELECT abalance FROM pgbench_accounts WHERE aid = 123456;") == a);
  CHECK(shape("SELECT abalance FROM pgbench_accounts WHERE aid = '1';") != a);
  CHECK(shape("SELECT abalance FROM pgbench_accounts WHERE aid = 1 ;") != a);
  CHECK(shape("SELECT abalance FROM pgbench_accounts WHERE aid = 3000000000;") != a);
  // Not single queries, or a shape the fingerprint does not follow.
  CHECK(shape("SET work_mem = 1") == none);
  CHECK(shape("SELECT 1; SELECT 2") == none);
  CHECK(shape("SELECT -'x'") == none);
  CHECK(shape("SELECT U&'x'") == none);
  CHECK(shape("SELECT 'open") == none);
  // And the fingerprints of texts of one shape agree.
  CHECK(analyze_sql("SELECT * FROM t WHERE a = 1 AND b = 'x'", 65536).fingerprint ==
        analyze_sql("SELECT * FROM t WHERE a = 2 AND b = 'yy'", 65536).fingerprint);
}

TEST_CASE("a LiteralShape on reused buffers equals one on its own, text after text") {
  // The io threads keep one set of buffers for every new text: what the previous text
  // left in them must not leak into the next key.
  LiteralShape::Buffers reused;
  const std::vector<std::string> texts = with_variants(corpus());
  REQUIRE(texts.size() > 10);
  int cacheable = 0;
  for (const std::string& sql : texts) {
    CAPTURE(sql);
    LiteralShape fresh(sql);
    LiteralShape again(sql, reused);
    scan_sql(sql, [&](const SqlToken& t) {
      fresh.on_token(t);
      again.on_token(t);
    });
    fresh.finish();
    again.finish();
    REQUIRE(again.cacheable() == fresh.cacheable());
    if (!fresh.cacheable()) continue;
    ++cacheable;
    CHECK(again.key() == fresh.key());
    CHECK(again.substituted() == fresh.substituted());
    CHECK(&again.key() == &reused.key);
  }
  CHECK(cacheable > 10);
}

TEST_CASE("analysis_of_shape answers as analyze_sql for every text of a shape seen before") {
  // The storage writer asks it first for texts whose analysis the io thread deferred: it
  // must never answer for a text what the full analysis would not.
  const SqlAnalyzer deferring(1u << 16, true);
  const std::vector<std::string> texts = with_variants(corpus());
  std::size_t answered[2] = {0, 0};
  for (int round = 0; round < 2; ++round) {
    for (const std::string& t : texts) {
      CAPTURE(t);
      const auto text = deferring.statement(t);
      REQUIRE(text);
      if (auto hit = analysis_of_shape(text->shape)) {
        ++answered[round];
        const SqlAnalysis want = analyze_sql_uncached(t, 1u << 20);
        CHECK(hit->normalized_sql == want.normalized_sql);
        CHECK(hit->fingerprint == want.fingerprint);
        CHECK(hit->statement_type == want.statement_type);
      }
      (void)analyze_sql(t, 65536);  // fills the cache for the next text of its shape
    }
  }
  // The second round finds every shape the first one cached (the corpus holds a few
  // hundred single queries with constants; earlier tests on this thread may have cached
  // them before the first).
  CHECK(answered[0] > 100);
  CHECK(answered[1] >= answered[0]);
  CHECK(answered[1] > 300);
}

TEST_CASE("analysis_of_shape knows nothing of a shape this thread has not analysed") {
  const SqlAnalyzer deferring(1u << 16, true);
  const auto text = deferring.statement("SELECT abalance FROM pgbench_accounts WHERE aid = 17");
  REQUIRE(text);
  REQUIRE(text->shape != (std::array<std::uint64_t, 2>{}));
  bool found_elsewhere = true;
  std::thread([&] { found_elsewhere = analysis_of_shape(text->shape) != nullptr; }).join();
  CHECK_FALSE(found_elsewhere);
  CHECK(analysis_of_shape({}) == nullptr);  // not a single query, or not cacheable
  (void)analyze_sql("SELECT abalance FROM pgbench_accounts WHERE aid = 18", 65536);
  const auto hit = analysis_of_shape(text->shape);
  REQUIRE(hit);
  CHECK(hit->normalized_sql == "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
}
