// libpg_query normalize + fingerprint per statement. "cold" calls libpg_query directly for
// every statement (what a cache miss costs: every pgbench -M simple query has new literals);
// "cached" goes through the tracker's SqlAnalyzer with a repeated text (what PowerBI's
// repeated queries cost once seen).
#include <benchmark/benchmark.h>
#include <pg_query.h>

#include <string>
#include <vector>

#include "lifecycle/sql_analyzer.hpp"

namespace {

using namespace pglc;

const std::vector<std::string>& statements() {
  static const std::vector<std::string> s = {
      // pgbench -S
      "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
      // pgbench TPC-B
      "UPDATE pgbench_accounts SET abalance = abalance + -4211 WHERE aid = 912734;",
      // PowerBI (Npgsql) generated: nested selects, aliases, aggregates
      "select \"_\".\"bid\", \"_\".\"a0\" from (select \"rows\".\"bid\" as \"bid\", "
      "sum(\"rows\".\"abalance\") as \"a0\" from (select \"_\".\"aid\", \"_\".\"bid\", "
      "\"_\".\"abalance\" from \"public\".\"pgbench_accounts\" \"_\" where \"_\".\"aid\" < 500000 "
      "and \"_\".\"bid\" in (1, 2, 3, 4)) \"rows\" group by \"bid\") \"_\" where not \"_\".\"a0\" "
      "is null limit 1000001",
  };
  return s;
}

const char* label(std::size_t i) {
  static const char* names[] = {"pgbench_select", "pgbench_update", "powerbi_generated"};
  return names[i];
}

void BM_Cold(benchmark::State& state) {
  const std::string& sql = statements()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(label(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) {
    PgQueryNormalizeResult n = pg_query_normalize(sql.c_str());
    PgQueryFingerprintResult f = pg_query_fingerprint(sql.c_str());
    if (n.error || f.error) state.SkipWithError("libpg_query rejected the statement");
    benchmark::DoNotOptimize(n.normalized_query);
    benchmark::DoNotOptimize(f.fingerprint);
    pg_query_free_normalize_result(n);
    pg_query_free_fingerprint_result(f);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Cold)->Name("normalize_fingerprint/cold")->DenseRange(0, 2);

// The passes one by one, cold: split (scanner), normalize (parse), fingerprint (parse).
void BM_Split(benchmark::State& state) {
  const std::string& sql = statements()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(label(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) {
    PgQuerySplitResult r = pg_query_split_with_scanner(sql.c_str());
    benchmark::DoNotOptimize(r.n_stmts);
    pg_query_free_split_result(r);
  }
}
BENCHMARK(BM_Split)->Name("pass/split")->DenseRange(0, 2);

void BM_Normalize(benchmark::State& state) {
  const std::string& sql = statements()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(label(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) {
    PgQueryNormalizeResult n = pg_query_normalize(sql.c_str());
    benchmark::DoNotOptimize(n.normalized_query);
    pg_query_free_normalize_result(n);
  }
}
BENCHMARK(BM_Normalize)->Name("pass/normalize")->DenseRange(0, 2);

void BM_Fingerprint(benchmark::State& state) {
  const std::string& sql = statements()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(label(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) {
    PgQueryFingerprintResult f = pg_query_fingerprint(sql.c_str());
    benchmark::DoNotOptimize(f.fingerprint);
    pg_query_free_fingerprint_result(f);
  }
}
BENCHMARK(BM_Fingerprint)->Name("pass/fingerprint")->DenseRange(0, 2);

// The statement with a new literal every time: its shape repeats, its text never does.
std::vector<std::string> new_literals(std::size_t i) {
  const std::string& sql = statements()[i];
  const std::size_t at = sql.find(i == 2 ? "500000" : i == 1 ? "912734" : "48213");
  std::vector<std::string> out;
  for (int k = 0; k < (1 << 16); ++k) {
    std::string s = sql;
    s.replace(at, i == 1 ? 6 : i == 2 ? 6 : 5, std::to_string(100000 + (k * 7919) % 900000));
    out.push_back(std::move(s));
  }
  return out;
}

// Each text a shape of its own: a comment stays in the normalized text.
std::vector<std::string> new_shapes(std::size_t i) {
  std::vector<std::string> out = new_literals(i);
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = "/* " + std::to_string(k) + " */ " + out[k];
  return out;
}

// What the storage writer pays per new text (SqlText::analysis_deferred): analyze_sql.
// "uncached" is the reference path (both parses for every text, as before the shape
// cache), "new_shape" misses the shape cache every time, "known_shape" hits it.
void BM_Analyze(benchmark::State& state, bool uncached, bool known_shape) {
  const auto i = static_cast<std::size_t>(state.range(0));
  const std::vector<std::string> texts = known_shape ? new_literals(i) : new_shapes(i);
  state.SetLabel(label(i));
  benchmark::DoNotOptimize(lifecycle::analyze_sql(texts.back(), 65536));
  std::size_t k = 0;
  for (auto _ : state) {
    const std::string& sql = texts[k++ % texts.size()];
    benchmark::DoNotOptimize(uncached ? lifecycle::analyze_sql_uncached(sql, 65536)
                                      : lifecycle::analyze_sql(sql, 65536));
  }
}
BENCHMARK_CAPTURE(BM_Analyze, uncached, true, true)->Name("analyze_sql/uncached")->DenseRange(0, 2);
BENCHMARK_CAPTURE(BM_Analyze, new_shape, false, false)
    ->Name("analyze_sql/new_shape")
    ->DenseRange(0, 2);
BENCHMARK_CAPTURE(BM_Analyze, known_shape, false, true)
    ->Name("analyze_sql/known_shape")
    ->DenseRange(0, 2);

// Through the analyzer with the same text every time: the per-thread cache answers.
void BM_CachedStatement(benchmark::State& state) {
  const std::string& sql = statements()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(label(static_cast<std::size_t>(state.range(0))));
  lifecycle::SqlAnalyzer analyzer(65536);
  benchmark::DoNotOptimize(analyzer.statement(sql));
  for (auto _ : state) benchmark::DoNotOptimize(analyzer.statement(sql));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CachedStatement)->Name("analyzer_statement/cached")->DenseRange(0, 2);

void BM_CachedQuery(benchmark::State& state) {
  const std::string& sql = statements()[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(label(static_cast<std::size_t>(state.range(0))));
  lifecycle::SqlAnalyzer analyzer(65536);
  benchmark::DoNotOptimize(analyzer.query(sql));
  for (auto _ : state) benchmark::DoNotOptimize(analyzer.query(sql));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CachedQuery)->Name("analyzer_query/cached")->DenseRange(0, 2);

// Through the analyzer with a new literal every time (pgbench -M simple): split, hash,
// normalize, fingerprint and a cache insertion per Query.
void BM_MissQuery(benchmark::State& state) {
  lifecycle::SqlAnalyzer analyzer(65536);
  std::vector<std::string> texts;
  for (int i = 0; i < (1 << 17); ++i) {
    texts.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " +
                    std::to_string(1 + (i * 7919) % 1000000) + ";");
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(analyzer.query(texts[i++ % texts.size()]));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel("pgbench_select, distinct literals");
}
BENCHMARK(BM_MissQuery)->Name("analyzer_query/miss");

}  // namespace
