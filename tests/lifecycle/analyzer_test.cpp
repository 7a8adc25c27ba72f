// SQL analysis, ids, names of records, and the debug log line.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "lifecycle/debug_log_sink.hpp"
#include "lifecycle/records.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/uuid.hpp"

using namespace pglc::lifecycle;

TEST_CASE("split: scanner-based, quotes and comments respected, rejected text still split") {
  using V = std::vector<std::string_view>;
  CHECK(SqlAnalyzer::split("SELECT 1; SELECT 2;SELECT 3") == V{"SELECT 1", "SELECT 2", "SELECT 3"});
  CHECK(SqlAnalyzer::split("select 'a;b'; /* ; */ select $$;$$ ;; ") ==
        V{"select 'a;b'", "/* ; */ select $$;$$"});
  CHECK(SqlAnalyzer::split("SELEC 1; SELECT 2") == V{"SELEC 1", "SELECT 2"});
  CHECK(SqlAnalyzer::split("SELECT 1; SELEC 2") == V{"SELECT 1", "SELEC 2"});
  CHECK(SqlAnalyzer::split("select 'abc") == V{"select 'abc"});
  CHECK(SqlAnalyzer::split("").empty());
  CHECK(SqlAnalyzer::split("  -- only a comment\n").empty());
}

TEST_CASE("classify PREPARE / EXECUTE / DEALLOCATE / DISCARD ALL robustly") {
  auto c = [](std::string_view sql) { return classify_sql(sql); };
  CHECK(c("PREPARE q(int) AS SELECT $1").command == SqlCommand::prepare);
  CHECK(c("PREPARE q(int) AS SELECT $1").name == "q");
  CHECK(c("/* x */ prepare \"My Q\" AS SELECT 1").name == "My Q");
  CHECK(c("PrePare MixedCase AS SELECT 1").name == "mixedcase");
  CHECK(c("-- hi\nEXECUTE q(1, 'a')").command == SqlCommand::execute);
  CHECK(c("execute \"Q\"").name == "Q");
  CHECK(c("DEALLOCATE q").command == SqlCommand::deallocate);
  CHECK(c("deallocate prepare q").name == "q");
  CHECK(c("DEALLOCATE ALL").command == SqlCommand::deallocate_all);
  CHECK(c("DISCARD ALL").command == SqlCommand::discard_all);
  CHECK(c("DISCARD PLANS").command == SqlCommand::other);
  CHECK(c("SELECT 'prepare execute'").command == SqlCommand::other);
  CHECK(c("EXPLAIN EXECUTE q").command == SqlCommand::other);
  // Decided from the leading words alone (no parse on the io thread): the server rejects
  // this PREPARE, and the tracker unregisters the name when its error arrives.
  CHECK(c("PREPARE broken AS SELEC").command == SqlCommand::prepare);
  CHECK(c("PREPARE AS SELECT 1").command == SqlCommand::other);
  CHECK(c("PREPARE p").command == SqlCommand::other);
  CHECK(c("prepare p as").command == SqlCommand::other);
  CHECK(c("DEALLOCATE q; SELECT 1").command == SqlCommand::other);
  CHECK(c("DEALLOCATE q;;").command == SqlCommand::deallocate);
  CHECK(c("DISCARD ALL extra").command == SqlCommand::other);
  CHECK(c("execute \"a\"\"b\"(1)").name == "a\"b");
  // Names are truncated to NAMEDATALEN - 1 bytes, as the server does.
  CHECK(c("PREPARE " + std::string(70, 'N') + " AS SELECT 1").name == std::string(63, 'n'));
  CHECK(c("PREPARE \"" + std::string(62, 'x') + "\xc3\xa9\" AS SELECT 1").name ==
        std::string(62, 'x'));
}

TEST_CASE("statement texts: normalized, fingerprinted, cached and shared") {
  SqlAnalyzer a(65536);
  auto t1 = a.statement("SELECT * FROM t WHERE id = 42");
  auto t2 = a.statement("SELECT * FROM t WHERE id = 42");
  CHECK(a.statement("SELECT * FROM t WHERE id = 42") == t2);  // the cache shares the text
  CHECK(t1->normalized_sql == "SELECT * FROM t WHERE id = $1");
  auto t3 = a.statement("SELECT * FROM t WHERE id = 7");
  CHECK(t3->fingerprint == t1->fingerprint);
  CHECK(t3->hash != t1->hash);
  CHECK(t1->hash == sql_hash("SELECT * FROM t WHERE id = 42"));
  // SHA-256's first 90 bits in base64url: e3b0c44298fc1c14… and ba7816bf8f01cfea…
  CHECK(sql_hash("") == "47DEQpj8HBSa-_T");
  CHECK(sql_hash("abc") == "ungWv48Bz-pBQUD");
  CHECK(sql_hash(std::string(100, 'x')).size() == 15);  // inline in std::string

  auto q = a.query("SELECT 1; PREPARE p AS SELECT 2");
  REQUIRE(q->statements.size() == 2);
  CHECK(q->statements[1].command == SqlCommand::prepare);
  CHECK(q->statements[1].text->sql == "PREPARE p AS SELECT 2");
  auto q2 = a.query("SELECT 1; PREPARE p AS SELECT 2");
  CHECK(a.query("SELECT 1; PREPARE p AS SELECT 2") == q2);
  // One statement keeps the text exactly as sent.
  CHECK(a.query("SELECT 1;\n")->statements[0].text->sql == "SELECT 1;\n");
}

TEST_CASE("a text is cached from its second time on") {
  // A text seen once (`pgbench -M simple`'s new literal each time) must not evict a
  // cached one; a text seen twice is then shared, in all three caches.
  SqlAnalyzer a(65536);
  const std::string sql = "SELECT 'analyzer_test: seen twice' FROM t WHERE id = 42";
  auto s1 = a.statement(sql);
  auto s2 = a.statement(sql);
  CHECK(s1 != s2);
  CHECK(*s1->fingerprint == *s2->fingerprint);
  CHECK(a.statement(sql) == s2);
  auto q1 = a.query(sql);
  auto q2 = a.query(sql);
  CHECK(q1 != q2);
  CHECK(q1->statements[0].text->hash == q2->statements[0].text->hash);
  CHECK(a.query(sql) == q2);
  auto p1 = a.prepared(sql);
  auto p2 = a.prepared(sql);
  CHECK(p1 != p2);
  CHECK(a.prepared(sql) == p2);
}

TEST_CASE("texts get their literal shape only when asked to") {
  const std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 17";
  const auto with = SqlAnalyzer(65536, true).query(sql)->statements[0].text;
  const auto without = SqlAnalyzer(65536, true, false).query(sql)->statements[0].text;
  CHECK((with->shape[0] | with->shape[1]) != 0);
  CHECK((without->shape[0] | without->shape[1]) == 0);
  CHECK(without->hash == with->hash);
  CHECK(without->sql == sql);
}

TEST_CASE("cut_utf8 never splits a character") {
  CHECK(cut_utf8("abc", 10) == "abc");
  CHECK(cut_utf8("abcdef", 3) == "abc");
  CHECK(cut_utf8("a\xc3\xa9", 2) == "a");      // é is 2 bytes
  CHECK(cut_utf8("a\xe2\x82\xac", 3) == "a");  // € is 3 bytes
  CHECK(cut_utf8("a\xe2\x82\xac", 4) == "a\xe2\x82\xac");
}

TEST_CASE("UUIDv7: format, version, variant, time order") {
  const std::string a = uuid_v7_at(1700000000000000000);
  const std::string b = uuid_v7_at(1700000000000500000);  // +0.5 ms
  const std::string c = uuid_v7_at(1700000000001000000);  // +1 ms
  CHECK(a.size() == 36);
  CHECK(a[8] == '-');
  CHECK(a[14] == '7');
  CHECK(std::string("89ab").find(a[19]) != std::string::npos);
  CHECK(a.substr(0, 13) == "018bcfe5-6800");  // 1700000000000 ms
  CHECK(a < b);
  CHECK(b < c);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(uuid_v7());
  CHECK(ids.size() == 1000);
  // Every digit in its place: the time, version 7 and a 12-bit counter, the variant and
  // 10 bits of sequence (2026-01-01, sequence 0x12345), then 54 random bits.
  for (int i = 0; i < 100; ++i) {
    const std::string u = uuid_v7_with(1767225600000, 0x12345);
    CAPTURE(u);
    REQUIRE(u.size() == 36);
    CHECK(u.substr(0, 22) == "019b76da-a800-7048-b45");
    CHECK(u[23] == '-');
    CHECK(u.find_first_not_of("0123456789abcdef", 24) == std::string::npos);
  }
}

TEST_CASE("names of enum values as the tables store them") {
  CHECK(to_string(StatementKind::simple_multi) == "simple_multi");
  CHECK(to_string(StatementKind::sql_prepare) == "sql_prepare");
  CHECK(to_string(ExecutionStatus::canceled) == "canceled");
  CHECK(to_string(EndReason::auth_failed) == "auth_failed");
  CHECK(to_string(StatementEvent::described) == "described");
  CHECK(to_string(ExecutionEvent::delivered) == "delivered");
  CHECK(to_string(MessageKind::function_call) == "function_call");
}

TEST_CASE("debug log line: one per execution with kind, status, rows and durations") {
  std::vector<std::string> lines;
  DebugLogSink sink([&](std::string_view l) { lines.emplace_back(l); });
  ExecutionRecord r;
  r.kind = StatementKind::extended;
  r.status = ExecutionStatus::error;
  r.sqlstate = "22012";
  r.rows = 3;
  r.fetches = 2;
  r.application_name = "PowerBI";
  auto text = std::make_shared<SqlText>();
  text->sql = "SELECT 1/0\nFROM t";
  text->fingerprint = "0123456789abcdef";
  r.sql = text;
  r.bind_seconds = 0.0005;
  r.first_row_seconds = 0.0012;
  r.total_seconds = 0.25;
  sink.execution(r);
  sink.statement(StatementRecord{});
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "execution kind=extended status=error sqlstate=22012 rows=3 fetches=2 "
        "fingerprint=0123456789abcdef bind_ms=0.500 first_row_ms=1.200 total_ms=250.000 "
        "deliver_ms=- app=PowerBI sql=SELECT 1/0 FROM t");
}

TEST_CASE("deferred analysis: the io thread only hashes; analyze_sql completes the text") {
  SqlAnalyzer deferred(65536, true);
  auto t = deferred.statement("SELECT * FROM t WHERE id = 42");
  CHECK(t->analysis_deferred);
  CHECK_FALSE(t->normalized_sql.has_value());
  CHECK_FALSE(t->fingerprint.has_value());
  CHECK(t->hash == sql_hash("SELECT * FROM t WHERE id = 42"));
  const SqlAnalysis a = analyze_sql(t->sql, 65536);
  CHECK(a.normalized_sql == "SELECT * FROM t WHERE id = $1");
  CHECK(a.fingerprint == SqlAnalyzer(65536).statement(t->sql)->fingerprint);
  // Not mixed up with the eager analyzer's cache entry for the same text.
  CHECK_FALSE(SqlAnalyzer(65536).statement("SELECT * FROM t WHERE id = 42")->analysis_deferred);
  CHECK_FALSE(analyze_sql("SELEC 1", 100).fingerprint.has_value());

  // A text longer than the cut is analyzed at once: later, only the cut would be left.
  SqlAnalyzer cut(10, true);
  auto long_text = cut.statement("SELECT 12345678");
  CHECK_FALSE(long_text->analysis_deferred);
  CHECK(long_text->fingerprint.has_value());

  // Queries too, and the debug line still shows the fingerprint.
  auto q = deferred.query("SELECT 1; SELECT 2");
  CHECK(q->statements[0].text->analysis_deferred);
  ExecutionRecord r;
  r.sql = q->statements[0].text;
  const std::string line = DebugLogSink::format(r);
  CHECK(line.find("fingerprint=" + *analyze_sql("SELECT 1", 100).fingerprint) != std::string::npos);
}

TEST_CASE("the analyzer cache stays correct past its capacity") {
  SqlAnalyzer a(65536);
  std::vector<std::shared_ptr<const SqlText>> first;
  for (int i = 0; i < 20000; ++i) {
    auto t = a.statement("SELECT " + std::to_string(i));
    CHECK(t->sql == "SELECT " + std::to_string(i));
    if (i < 10) first.push_back(t);
  }
  // Evicted entries are recomputed, equal in content; recent ones are shared.
  for (int i = 0; i < 10; ++i) {
    auto t = a.statement("SELECT " + std::to_string(i));
    CHECK(t->hash == first[static_cast<std::size_t>(i)]->hash);
    CHECK(t->fingerprint == first[static_cast<std::size_t>(i)]->fingerprint);
  }
  CHECK(a.statement("SELECT 19999") == a.statement("SELECT 19999"));
  // Large texts are bounded by bytes, not count.
  const std::string big(60000, ' ');
  for (int i = 0; i < 600; ++i) {
    auto t = a.statement("SELECT " + std::to_string(i) + big);
    CHECK(t->sql.size() == 60000 + 7 + std::to_string(i).size());
  }
}
