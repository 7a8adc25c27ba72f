// Recorder throughput: executions per second from enqueue to committed rows, into SQLite
// (a temp file) and into PostgreSQL when PGLC_BENCH_PG holds a conninfo. Each execution
// carries its five event times; every tenth comes with a new statement (and its text), as a
// PowerBI refresh mixes prepared and one-off statements. BM_RecorderSqliteSimple is
// `pgbench -M simple`'s worst case instead: every execution brings a new text (a new
// constant), analysed on the writer thread as in the proxy. The queue holds the whole
// run, so "drops" must stay 0: the number is the writer's sustained rate.
//
//   build/bench/recorder_bench --benchmark_filter=Sqlite
//   PGLC_BENCH_PG='host=127.0.0.1 port=5432 dbname=bench' build/bench/recorder_bench
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lifecycle/records.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/uuid.hpp"
#include "storage/recorder.hpp"

namespace {

using namespace pglc;

struct Workload {
  lifecycle::SessionRecord session;
  std::vector<lifecycle::StatementRecord> statements;
  std::vector<lifecycle::ExecutionRecord> executions;
  std::vector<int> statement_before;  // index into statements, or -1
  bool separate_parse = false;

  // unnamed / unnamed_events: Npgsql's unprepared batches (PowerBI): every execution has
  // its own unnamed statement of one of three texts, parsed. `unnamed` sends the parse in
  // the statement record as the tracker does since a37d206; `unnamed_events` as a
  // statement event record of its own, as before.
  enum class Mix { powerbi, simple, unnamed, unnamed_events };

  explicit Workload(int n, Mix mix = Mix::powerbi) {
    const auto t0 = lifecycle::to_wall(lifecycle::now());
    session.id = lifecycle::uuid_v7();
    session.proxy_instance = "bench:6432";
    session.connected_at = t0;
    session.user_name = "bench";
    session.database_name = "bench";
    session.application_name = "PowerBI Desktop";
    // The proxy's analyzer, deferring normalize + fingerprint to the writer.
    const lifecycle::SqlAnalyzer analyzer(1u << 16, true);
    separate_parse = mix == Mix::unnamed_events;
    for (int i = 0; i < n; ++i) {
      if (mix == Mix::unnamed || mix == Mix::unnamed_events) {
        static const char* const kTexts[] = {
            "select \"_\".\"OrderID\" from \"public\".\"orders\" \"_\" where \"_\".\"Region\" = $1",
            "select count(*) from \"public\".\"orders\" where \"Year\" = $1",
            "select \"Region\", sum(\"Amount\") from \"public\".\"orders\" group by 1"};
        lifecycle::StatementRecord st;
        st.id = lifecycle::uuid_v7();
        st.session_id = session.id;
        st.kind = lifecycle::StatementKind::extended;
        st.sql = analyzer.prepared(kTexts[i % 3])->statements.front().text;
        st.param_types = "{25}";
        st.received_at = t0 + i * 10;
        if (mix == Mix::unnamed) st.parsed_at = st.received_at + 30;
        statements.push_back(std::move(st));
        statement_before.push_back(static_cast<int>(statements.size()) - 1);
      } else if (mix == Mix::simple) {
        lifecycle::StatementRecord st;
        st.id = lifecycle::uuid_v7();
        st.session_id = session.id;
        st.kind = lifecycle::StatementKind::simple;
        st.sql = analyzer.statement("SELECT abalance FROM pgbench_accounts WHERE aid = " +
                                    std::to_string((i * 7919) % 1000000 + 1) + ";");
        st.received_at = t0 + i * 10;
        statements.push_back(std::move(st));
        statement_before.push_back(static_cast<int>(statements.size()) - 1);
      } else if (i % 10 == 0) {
        lifecycle::StatementRecord st;
        st.id = lifecycle::uuid_v7();
        st.session_id = session.id;
        st.kind = lifecycle::StatementKind::extended;
        const std::string sql =
            "select \"_\".\"OrderID\", \"_\".\"Amount\" from \"public\".\"orders\" \"_\" where "
            "\"_\".\"Region\" = $1 and \"_\".\"Year\" = " +
            std::to_string(i % 500);
        st.sql = std::make_shared<const lifecycle::SqlText>(lifecycle::SqlText{
            "h" + std::to_string(i % 500), sql, sql, "fp" + std::to_string(i % 50)});
        st.param_types = "{25}";
        st.received_at = t0 + i * 10;
        statements.push_back(std::move(st));
        statement_before.push_back(static_cast<int>(statements.size()) - 1);
      } else {
        statement_before.push_back(-1);
      }
      lifecycle::ExecutionRecord e;
      e.id = lifecycle::uuid_v7();
      e.statement_id = statements.back().id;
      e.session_id = session.id;
      const auto b = t0 + i * 10;
      e.began_at = b;
      e.finished_at = b + 900;
      e.command_tag = "SELECT 42";
      e.rows = 42;
      e.result_bytes = 4200;
      e.fetches = 1;
      e.application_name = "PowerBI Desktop";
      e.events = {{lifecycle::ExecutionEvent::received, b},
                  {lifecycle::ExecutionEvent::bound, b + 50},
                  {lifecycle::ExecutionEvent::executed, b + 400},
                  {lifecycle::ExecutionEvent::finished, b + 900},
                  {lifecycle::ExecutionEvent::delivered, b + 950}};
      executions.push_back(std::move(e));
    }
  }

  void feed(lifecycle::Sink& sink) const {
    sink.session_opened(session);
    for (std::size_t i = 0; i < executions.size(); ++i) {
      if (statement_before[i] >= 0) {
        const auto& st = statements[statement_before[i]];
        sink.statement(st);
        if (separate_parse) {
          sink.statement_event({st.id, lifecycle::StatementEvent::parsed, st.received_at + 30});
        }
      }
      sink.execution(executions[i]);
    }
  }
};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The machine may be shared: besides the wall-clock rate, report executions per CPU
// second of the whole process (producer + writer), i.e. the rate one idle core sustains.
void run(benchmark::State& state, const std::string& storage,
         Workload::Mix mix = Workload::Mix::powerbi) {
  const int n = static_cast<int>(state.range(0));
  const Workload work(n, mix);
  storage::RecorderConfig o;
  o.storage = storage;
  o.recorder_queue = static_cast<std::size_t>(n) * 4;  // up to three records per execution
  o.recorder_queue_bytes = std::size_t{1} << 30;  // the whole run queued at once
  std::uint64_t dropped = 0;
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto rec = storage::open_recorder(o);
    const double cpu_before = process_cpu_seconds();
    state.ResumeTiming();
    rec->start();
    work.feed(*rec);
    rec->stop();
    state.PauseTiming();
    cpu += process_cpu_seconds() - cpu_before;
    dropped += rec->stats().dropped_queue_full + rec->stats().dropped_store_error;
    rec.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["executions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
  state.counters["executions_per_cpu_s"] =
      static_cast<double>(state.iterations() * n) / (cpu > 0 ? cpu : 1e-9);
  state.counters["drops"] = static_cast<double>(dropped);
  if (dropped != 0) state.SkipWithError("records were dropped");
}

void run_sqlite(benchmark::State& state, Workload::Mix mix) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pglc-recorder-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  run(state, "sqlite:" + (dir / "bench.db").string(), mix);
  std::filesystem::remove_all(dir);
}

void BM_RecorderSqlite(benchmark::State& state) {
  run_sqlite(state, Workload::Mix::powerbi);
}
BENCHMARK(BM_RecorderSqlite)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RecorderSqliteUnnamed(benchmark::State& state) {
  run_sqlite(state, Workload::Mix::unnamed);
}
BENCHMARK(BM_RecorderSqliteUnnamed)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RecorderSqliteUnnamedEvents(benchmark::State& state) {
  run_sqlite(state, Workload::Mix::unnamed_events);
}
BENCHMARK(BM_RecorderSqliteUnnamedEvents)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_RecorderSqliteSimple(benchmark::State& state) {
  run_sqlite(state, Workload::Mix::simple);
}
BENCHMARK(BM_RecorderSqliteSimple)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RecorderPostgres(benchmark::State& state) {
  const char* conninfo = std::getenv("PGLC_BENCH_PG");
  if (!conninfo || !*conninfo) {
    state.SkipWithError("set PGLC_BENCH_PG to a libpq conninfo to measure the PostgreSQL store");
    for (auto _ : state) {
    }
    return;
  }
  run(state, conninfo);
}
BENCHMARK(BM_RecorderPostgres)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
