// The sql_texts columns and statement classes of a text as both stores write them, for
// texts the io thread analysed, texts it left to the writer (the first of a shape goes
// through the memo, the next ones through the analyzer's cache by shape), texts the parser
// rejects and texts with credentials.
#include <doctest/doctest.h>

#include <string>

#include "lifecycle/sql_analyzer.hpp"
#include "storage/text_row.hpp"

using namespace pglc;
using storage::text_analysis;
using storage::text_row;

namespace {

std::string opt(const std::optional<std::string_view>& v) {
  return v ? std::string(*v) : std::string("<null>");
}

}  // namespace

TEST_CASE("a deferred text is analysed as the io thread would have, by memo and by shape") {
  const lifecycle::SqlAnalyzer eager(1u << 16, false), deferring(1u << 16, true);
  for (const int aid : {101, 102, 103}) {  // 101 misses the shape cache, the others hit it
    const std::string sql =
        "select abalance from pgbench_accounts where aid = " + std::to_string(aid);
    CAPTURE(sql);
    const auto want_text = eager.statement(sql);
    const auto text = deferring.statement(sql);
    REQUIRE(text->analysis_deferred);
    REQUIRE_FALSE(want_text->analysis_deferred);
    const storage::TextAnalysis want = text_analysis(*want_text, 1u << 16);
    const storage::TextAnalysis got = text_analysis(*text, 1u << 16);
    CHECK(opt(got.normalized_sql) == "select abalance from pgbench_accounts where aid = $1");
    CHECK(opt(got.normalized_sql) == opt(want.normalized_sql));
    CHECK(opt(got.fingerprint) == opt(want.fingerprint));
    CHECK(got.statement_type == want.statement_type);
    CHECK(got.statement_type == "select");
    CHECK(got.origin == "application");
    const storage::TextRow row = text_row(*text, got, 1u << 16);
    CHECK(row.sql == sql);
    CHECK(opt(row.normalized_sql) == opt(got.normalized_sql));
  }
}

TEST_CASE("text_row cuts the text and its normalization, whichever way it was analysed") {
  const lifecycle::SqlAnalyzer deferring(1u << 16, true);
  for (const int aid : {201, 202}) {
    const auto text =
        deferring.statement("SELECT 'é' || name FROM t WHERE id = " + std::to_string(aid));
    const storage::TextAnalysis a = text_analysis(*text, 9);
    const storage::TextRow row = text_row(*text, a, 9);
    CHECK(row.sql == "SELECT '");  // the cut does not split the two bytes of é
    CHECK(opt(row.normalized_sql) == "SELECT $1");
    CHECK(opt(row.fingerprint) == opt(a.fingerprint));
    CHECK(opt(a.fingerprint).size() == 16);  // never cut
  }
}

TEST_CASE("a driver's catalog query is classed as the driver's, by memo and by shape") {
  const lifecycle::SqlAnalyzer deferring(1u << 16, true);
  for (const char* type : {"'int4'", "'text'"}) {  // the second one by shape
    const auto text = deferring.statement(
        std::string("select oid, typbasetype from pg_type where typname = ") + type);
    CAPTURE(type);
    CHECK(text_analysis(*text, 1u << 16).origin == "driver");
  }
  // Not a single query: never by shape.
  const auto set = deferring.statement("SET extra_float_digits = 3");
  CHECK(text_analysis(*set, 1u << 16).origin == "driver");
  CHECK(text_analysis(*set, 1u << 16).statement_type == "set");
  // The analysis remembers the origin of its whole normalized text; a store that cuts it
  // shorter classes what it stores.
  CHECK(text_analysis(*set, 5).origin == "application");
  CHECK(text_analysis(*set, 1u << 16).origin == "driver");
}

TEST_CASE("a rejected text has no normalization, no fingerprint and no statement type") {
  const lifecycle::SqlAnalyzer deferring(1u << 16, true);
  for (const int aid : {1, 2}) {
    const auto text =
        deferring.statement("SELECT abalance FROM WHERE aid = " + std::to_string(aid));
    const storage::TextAnalysis a = text_analysis(*text, 1u << 16);
    CHECK_FALSE(a.normalized_sql.has_value());
    CHECK_FALSE(a.fingerprint.has_value());
    CHECK(a.statement_type.empty());
    CHECK(text_row(*text, a, 1u << 16).sql == text->sql);
  }
}

TEST_CASE("a text with credentials is stored only in its normalized form") {
  const lifecycle::SqlAnalyzer deferring(1u << 16, true);
  const auto text = deferring.statement("ALTER ROLE app PASSWORD 'hunter2'");
  REQUIRE(text->credentials);
  const storage::TextAnalysis a = text_analysis(*text, 1u << 16);
  const storage::TextRow row = text_row(*text, a, 1u << 16);
  CHECK(row.sql.find("hunter2") == std::string_view::npos);
  CHECK(row.sql == opt(row.normalized_sql));
}
