// The SQL analyzer under hostile input: bounded work, no crash, secrets masked.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lifecycle/parser_stack.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/sql_lexer.hpp"

using namespace pglc::lifecycle;

namespace {

std::string repeat(std::string_view s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::vector<std::string> kinds(std::string_view sql) {
  std::vector<std::string> out;
  scan_sql(sql, [&](const SqlToken& t) {
    static const char* names[] = {"word", "qident", "string", "number", "param", "op", "punct"};
    out.push_back(std::string(names[static_cast<int>(t.kind)]) + ":" +
                  std::string(sql.substr(t.begin, t.end - t.begin)));
  });
  return out;
}

}  // namespace

TEST_CASE("the lexer knows PostgreSQL's constants, quotes and comments") {
  using V = std::vector<std::string>;
  CHECK(kinds("SELECT 'a''b', E'c\\'d', $$x'y$$, $t$ $$ $t$, \"q\"\"i\", $1") ==
        V{"word:SELECT", "string:'a''b'", "punct:,", "string:E'c\\'d'", "punct:,", "string:$$x'y$$",
          "punct:,", "string:$t$ $$ $t$", "punct:,", "qident:\"q\"\"i\"", "punct:,", "param:$1"});
  CHECK(kinds("a/* x /* nested */ y */b -- c\nd") == V{"word:a", "word:b", "word:d"});
  CHECK(kinds("x::int+-1 U&'\\0041' b'01' X'ff' n'z'") ==
        V{"word:x", "op:::", "word:int", "op:+-", "number:1", "string:U&'\\0041'", "string:b'01'",
          "string:X'ff'", "string:n'z'"});
  CHECK(kinds("1.5e-3 .5") == V{"number:1.5e-3", "number:.5"});
  // Unterminated input still yields tokens up to the end.
  bool open = false;
  scan_sql("SELECT 'abc", [&](const SqlToken& t) { open = open || t.unterminated; });
  CHECK(open);
}

TEST_CASE("texts that carry credentials are recognised and masked") {
  for (std::string_view sql :
       {"ALTER ROLE app PASSWORD 'app-secret-pw'", "create user u with password 'pw'",
        "CREATE GROUP g", "ALTER USER MAPPING FOR u SERVER s OPTIONS (SET password 'x')",
        "CREATE SUBSCRIPTION s CONNECTION 'host=h' PUBLICATION p",
        "CREATE SERVER s FOREIGN DATA WRAPPER f OPTIONS (password 'x')",
        "SELECT dblink_connect('c', 'host=h')", "SELECT * FROM public.DBLINK('h', 'q') t(a int)",
        "DO $$BEGIN EXECUTE 'alter role r password ''y'''; END$$",
        "ALTER SYSTEM SET primary_conninfo = 'host=h passwd=p'",
        "SELECT 1; ALTER ROLE r PASSWORD 'z'"}) {
    CAPTURE(sql);
    CHECK(carries_credentials(sql));
  }
  for (std::string_view sql :
       {"SELECT password FROM users WHERE name = 'bob'", "SELECT 'alter role'",
        "UPDATE roles SET a=1", "SELECT * FROM t WHERE user_name = 'bob'",
        "CREATE TABLE role (id int)"}) {
    CAPTURE(sql);
    CHECK_FALSE(carries_credentials(sql));
  }
  CHECK(mask_string_constants("ALTER ROLE app PASSWORD 'a''b' VALID UNTIL E'x\\'y'") ==
        "ALTER ROLE app PASSWORD '' VALID UNTIL ''");
  CHECK(mask_string_constants("DO $f$ secret $f$") == "DO ''");
}

TEST_CASE("a text with credentials keeps neither its secret nor a digest of it") {
  for (bool defer : {false, true}) {
    SqlAnalyzer a(65536, defer);
    auto q1 = a.query("ALTER ROLE app PASSWORD 'app-secret-pw'");
    auto q2 = a.query("ALTER ROLE app PASSWORD 'other-secret'");
    const SqlText& t = *q1->statements.at(0).text;
    CHECK(t.credentials);
    CHECK(t.sql.find("secret") == std::string::npos);
    CHECK(t.hash == q2->statements.at(0).text->hash);  // both are the masked text
    CHECK(t.hash != sql_hash("ALTER ROLE app PASSWORD 'app-secret-pw'"));
    if (!defer) {
      CHECK(t.sql == "ALTER ROLE app PASSWORD $1");
      CHECK(t.normalized_sql == "ALTER ROLE app PASSWORD $1");
    }
    auto p = a.prepared("SELECT dblink_connect('host=h password=pw8')");
    CHECK(p->statements.at(0).text->sql.find("pw8") == std::string::npos);
    // Each statement of a Query on its own.
    auto multi = a.query("SELECT 'keep'; CREATE ROLE r PASSWORD 'gone'");
    REQUIRE(multi->statements.size() == 2);
    CHECK(multi->statements[0].text->sql == "SELECT 'keep'");
    CHECK_FALSE(multi->statements[0].text->credentials);
    CHECK(multi->statements[1].text->sql.find("gone") == std::string::npos);
  }
}

TEST_CASE("libpg_query's stack check is ours") {
  CHECK(ParserStackBudget::guard_active());
}

TEST_CASE("deep and long texts are left unanalysed, never crash the thread") {
  // Each of these overflowed an 8 MiB stack in libpg_query's walkers (30,000 terms), or
  // is the same shape at a depth that would.
  const int n = 30000;
  const std::vector<std::string> texts = {
      "SELECT 1" + repeat("+1", n),
      "SELECT 'a'" + repeat("||'a'", n),
      "SELECT 1" + repeat("::int", n),
      "SELECT " + repeat("NOT ", n) + "true",
      "SELECT " + repeat("f(", n) + "1" + repeat(")", n),
      "SELECT " + repeat("ARRAY[", n) + "1" + repeat("]", n),
      "SELECT " + repeat("(SELECT ", n) + "1" + repeat(")", n),
      "SELECT 1" + repeat(" UNION SELECT 1", n),
      "SELECT 1 FROM a" + repeat(" JOIN a ON true", n),
      "SELECT " + repeat("(", 100000) + "1" + repeat(")", 100000),
      "SELECT " + repeat("CASE WHEN true THEN ", n) + "1" + repeat(" END", n),
      "SELECT $1" + repeat("+$1", n),
  };
  for (const std::string& sql : texts) {
    CAPTURE(sql.substr(0, 40));
    const SqlAnalysis a = analyze_sql(sql, 65536);
    CHECK_FALSE(a.fingerprint.has_value());
    CHECK_FALSE(a.normalized_sql.has_value());
    CHECK_FALSE(analyze_sql_uncached(sql, 65536).fingerprint.has_value());
    // The io-thread paths (split, classification, credentials) are linear.
    SqlAnalyzer eager(1u << 20);
    CHECK(eager.query(sql)->statements.size() == 1);
    (void)carries_credentials(sql);
  }
  // Within bounds, big flat texts are analysed as before.
  const std::string in_list = "SELECT 1 WHERE a IN (1" + repeat(",1", 20000) + ")";
  CHECK(analyze_sql(in_list, 65536).fingerprint.has_value());
  const std::string ands = "SELECT 1 WHERE true" + repeat(" AND a = 1", 20000);
  CHECK(analyze_sql(ands, 65536).fingerprint.has_value());
  const std::string moderate = "SELECT 1" + repeat("+1", 500);
  CHECK(analyze_sql(moderate, 65536).normalized_sql == "SELECT $1" + [] {
    std::string s;
    for (int i = 2; i <= 501; ++i) s += "+$" + std::to_string(i);
    return s;
  }());
  // Longer than the analyzer's bound: not analysed at all.
  CHECK_FALSE(analyze_sql("SELECT 1" + std::string(kMaxAnalyzedBytes, ' '), 65536).fingerprint);
}

TEST_CASE("operator runs that make PostgreSQL's scanner quadratic stay out of it") {
  // Before the bound, each of these held the thread for seconds per parse (and split()
  // had no bound at all): the analyzer answered them with a fingerprint.
  const std::vector<std::string> slow = {
      "SELECT " + repeat("+", 200000) + "1",
      "SELECT " + repeat("+-", 100000) + "1; SELECT 2",
      "SELECT 1 /*" + repeat("/*", 100000) + repeat("*/", 100001),
      "SELECT 1 " + repeat("<>+", 30000) + " 1",
  };
  for (const std::string& sql : slow) {
    CAPTURE(sql.substr(0, 40));
    CHECK_FALSE(analyze_sql(sql, 65536).fingerprint.has_value());
    CHECK_FALSE(analyze_sql_uncached(sql, 65536).normalized_sql.has_value());
    SqlAnalyzer eager(1u << 20);
    CHECK(eager.query(sql)->statements.size() >= 1);
  }
  // Split by our own lexer then: at top-level semicolons, never inside quotes or comments.
  const std::string two = "SELECT " + repeat("+-", 150) + "1; SELECT ';' /* ; */ ; ";
  const auto pieces = SqlAnalyzer::split(two);
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[1] == "SELECT ';' /* ; */");
  // What real SQL has stays analysed: banners and rulers in comments, short operators.
  CHECK(analyze_sql("/" + repeat("*", 500) + "/ SELECT 1", 65536).fingerprint.has_value());
  CHECK(analyze_sql("-- " + repeat("-", 500) + "\nSELECT 1", 65536).fingerprint.has_value());
  CHECK(analyze_sql("SELECT 1 " + repeat("+", 60) + "1", 65536).fingerprint.has_value());
  CHECK(SqlAnalyzer::split("SELECT 1; /" + repeat("*", 300) + "/ SELECT 2").size() == 2);
}

TEST_CASE("texts that normalize alike but fingerprint apart never share a cached fingerprint") {
  // Normalization takes a '-' into the span of the constant after it: right for numbers,
  // wrong for strings and mangled for - -1 and -(1) (found by sql_analyzer_fuzz).
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"SELECT * FROM dblink('h', 'x') AS t(a int)", "SELECT * FROM dblink('h', -'x') AS t(a int)"},
      {"SELECT 'x'", "SELECT -'x'"},
      {"SELECT B'101'", "SELECT - B'101'"},
      {"SELECT 1", "SELECT -(1)"},
  };
  for (const auto& [first, second] : pairs) {
    CAPTURE(second);
    (void)analyze_sql(first, 65536);  // the shape cache now knows the first's form
    CHECK(analyze_sql(second, 65536).fingerprint ==
          analyze_sql_uncached(second, 65536).fingerprint);
  }
  // Numbers fold into their constant: -1 and 1 are one shape, and the cache serves it.
  CHECK(analyze_sql_uncached("SELECT -1", 65536).fingerprint ==
        analyze_sql_uncached("SELECT 1", 65536).fingerprint);
}
