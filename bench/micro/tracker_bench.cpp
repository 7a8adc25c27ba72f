// Tracker throughput: executions/s through lifecycle::TrackerFactory with a sink that only
// counts, for the three flows the proxy sees most — simple Query (pgbench -M simple, new
// literals every time), an Npgsql-style pipelined batch, and a named prepared statement
// (pgbench -M prepared). Messages are pre-framed so only the tracker is measured.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bench/micro/wire_messages.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/startup.hpp"

#include "lifecycle/sink.hpp"
#include "lifecycle/tracker.hpp"

namespace {

using namespace pglc;
using bench::Wire;

struct CountingSink final : lifecycle::Sink {
  std::uint64_t executions = 0, statements = 0;
  void statement(const lifecycle::StatementRecord&) override { ++statements; }
  void execution(const lifecycle::ExecutionRecord&) override { ++executions; }
};

struct Step {
  bool backend = false;
  pgwire::Frame frame;
  std::uint64_t client_end = 0;  // backend only: client stream offset past this message
  bool flush_written = false;    // a ReadyForQuery: the relay reports it written
};

// One unit of work (a round trip) as pre-framed steps over stable storage.
class Script {
 public:
  void client(Wire w) { add(std::move(w), false); }
  void server(Wire w) { add(std::move(w), true); }
  const std::vector<Step>& steps() const { return steps_; }
  std::uint64_t& client_offset() { return offset_; }

 private:
  void add(Wire w, bool backend) {
    storage_.push_back(std::move(w));
    const Wire& bytes = storage_.back();
    pgwire::Framer framer(backend ? pgwire::Direction::backend : pgwire::Direction::frontend);
    framer.feed(pgwire::Bytes(bytes.data(), bytes.size()),
                [&](const pgwire::Frame& f, std::size_t) {
                  Step s{backend, f, 0, backend && f.type == 'Z'};
                  steps_.push_back(s);
                });
  }
  std::deque<Wire> storage_;
  std::vector<Step> steps_;
  std::uint64_t offset_ = 0;
};

class Harness {
 public:
  explicit Harness(lifecycle::TrackerConfig config = {.proxy_instance = "bench:6432"})
      : factory_(std::move(config), sink_) {
    observer_ = factory_.create();
    auto packet = bench::startup_packet("bench", "bench");
    auto parsed = pgwire::parse_startup_packet(pgwire::Bytes(packet.data(), packet.size()));
    lifecycle::SessionStart start;
    start.client_addr = "127.0.0.1";
    start.client_port = 40000;
    start.backend_addr = "127.0.0.1:5432";
    start.startup = parsed.packet ? &*parsed.packet : nullptr;
    observer_->on_session_begin(start, lifecycle::now());
    Script auth;
    Wire w;
    bench::auth_ok_and_params(w);
    auth.server(std::move(w));
    run(auth);
  }
  ~Harness() {
    observer_->on_session_end(lifecycle::EndReason::client_terminate, lifecycle::now());
  }

  void run(const Script& script) {
    for (const Step& s : script.steps()) {
      auto t = lifecycle::now();
      if (!s.backend) {
        observer_->on_frontend(s.frame, t);
        continue;
      }
      offset_ += s.frame.wire_size();
      observer_->on_backend(s.frame, t, offset_);
      if (s.flush_written) observer_->on_client_written(offset_, t);
    }
  }
  CountingSink& sink() { return sink_; }

 private:
  CountingSink sink_;
  lifecycle::TrackerFactory factory_;
  std::unique_ptr<lifecycle::SessionObserver> observer_;
  std::uint64_t offset_ = 0;
};

void finish(benchmark::State& state, Harness& h, std::uint64_t per_iteration) {
  const auto expected = static_cast<std::uint64_t>(state.iterations()) * per_iteration;
  state.SetItemsProcessed(static_cast<std::int64_t>(expected));
  state.counters["recorded"] = static_cast<double>(h.sink().executions);
  if (h.sink().executions < expected) state.SkipWithError("tracker emitted fewer executions");
}

Script simple_query(const std::string& sql) {
  Script s;
  Wire c, b;
  bench::query(c, sql);
  bench::int4_row_description(b, "abalance");
  bench::text_data_row(b, "-2417");
  bench::command_complete(b, "SELECT 1");
  bench::ready_for_query(b);
  s.client(std::move(c));
  s.server(std::move(b));
  return s;
}

// pgbench -M simple: every query has a new literal, so every one is an analyzer miss.
void BM_SimpleDistinct(benchmark::State& state) {
  static const std::vector<Script>* scripts = [] {
    auto* v = new std::vector<Script>();
    for (int i = 0; i < (1 << 17); ++i) {
      v->push_back(simple_query("SELECT abalance FROM pgbench_accounts WHERE aid = " +
                                std::to_string(1 + (i * 7919) % 1000000) + ";"));
    }
    return v;
  }();
  Harness h;
  std::size_t i = 0;
  for (auto _ : state) h.run((*scripts)[i++ % scripts->size()]);
  finish(state, h, 1);
}
BENCHMARK(BM_SimpleDistinct)->Name("tracker/simple_distinct_literals");

// The same with libpg_query's normalize + fingerprint left to the sink's consumer (the
// recorder's writer thread): what stays on the io thread.
void BM_SimpleDistinctDeferred(benchmark::State& state) {
  std::vector<Script> scripts;
  for (int i = 0; i < (1 << 17); ++i) {
    scripts.push_back(simple_query("SELECT abalance FROM pgbench_accounts WHERE aid = " +
                                   std::to_string(1 + (i * 7919 + 13) % 1000000) + ";"));
  }
  Harness h({.proxy_instance = "bench:6432", .defer_sql_analysis = true});
  std::size_t i = 0;
  for (auto _ : state) h.run(scripts[i++ % scripts.size()]);
  finish(state, h, 1);
}
BENCHMARK(BM_SimpleDistinctDeferred)->Name("tracker/simple_distinct_literals_deferred_analysis");

// The same text again and again (a dashboard's fixed queries): analyzer cache hits.
void BM_SimpleRepeated(benchmark::State& state) {
  static const Script script =
      simple_query("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;");
  Harness h;
  for (auto _ : state) h.run(script);
  finish(state, h, 1);
}
BENCHMARK(BM_SimpleRepeated)->Name("tracker/simple_repeated_text");

// Npgsql: 3 × (Parse, Bind, Describe, Execute) + Sync, first result 100 rows.
void BM_NpgsqlBatch(benchmark::State& state) {
  static const Script script = [] {
    Script s;
    s.client(bench::npgsql_batch_request(1));
    s.server(bench::npgsql_batch_response(1, 100));
    return s;
  }();
  Harness h;
  for (auto _ : state) h.run(script);
  finish(state, h, 3);
}
BENCHMARK(BM_NpgsqlBatch)->Name("tracker/npgsql_batch_3_statements");

// pgbench -M prepared: Parse once, then Bind/Execute/Sync per transaction.
void BM_Prepared(benchmark::State& state) {
  static const Script prepare = [] {
    Script s;
    Wire c, b;
    bench::parse(c, "P0_1", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", {});
    bench::sync(c);
    bench::parse_complete(b);
    bench::ready_for_query(b);
    s.client(std::move(c));
    s.server(std::move(b));
    return s;
  }();
  static const Script run = [] {
    Script s;
    Wire c, b;
    bench::bind_text(c, "P0_1", "48213");
    bench::execute(c);
    bench::sync(c);
    bench::bind_complete(b);
    bench::text_data_row(b, "-2417");
    bench::command_complete(b, "SELECT 1");
    bench::ready_for_query(b);
    s.client(std::move(c));
    s.server(std::move(b));
    return s;
  }();
  Harness h;
  h.run(prepare);
  for (auto _ : state) h.run(run);
  finish(state, h, 1);
}
BENCHMARK(BM_Prepared)->Name("tracker/prepared_bind_execute");

}  // namespace
