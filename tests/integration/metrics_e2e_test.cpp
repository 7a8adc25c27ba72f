// The real proxy's /metrics after known traffic through it (libpq, pipeline mode, an
// error, a cancel, pg_sleep), scraped over HTTP. Values are compared as deltas between
// scrapes, polled with a deadline: the proxy reports an execution once it has handed the
// response to the client socket, which may be a moment after libpq returned it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "tests/integration/pq.hpp"
#include "tests/metrics/exposition.hpp"
#include "tests/metrics/prometheus_server.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;
using namespace std::chrono_literals;

namespace {

Exposition scrape(const ProxyProcess& proxy) {
  int status = 0;
  std::string body = http_get(proxy.metrics_port(), "/metrics", &status);
  REQUIRE_MESSAGE(status == 200, "scrape failed; proxy log:\n" << proxy.log());
  Exposition e = parse_exposition(body);
  for (const auto& bad : e.bad_lines) FAIL_CHECK("not a valid exposition line: " << bad);
  return e;
}

// Sum of the samples of `name` whose labels include `labels` (so that a series split by
// identity labels still adds up).
double total(const Exposition& e, const std::string& name, const Exposition::Labels& labels = {}) {
  double sum = 0;
  for (const auto& s : e.all) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& want : labels) {
      match = match && std::find(s.labels.begin(), s.labels.end(), want) != s.labels.end();
    }
    if (match) sum += s.value;
  }
  return sum;
}

struct Expect {
  std::string name;
  Exposition::Labels labels;
  double delta;
};

// Scrapes until every expectation's delta from `before` is reached (or the deadline
// passes), then checks them all exactly.
Exposition expect_deltas(const ProxyProcess& proxy, const Exposition& before,
                         const std::vector<Expect>& expects) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  Exposition after = scrape(proxy);
  auto reached = [&] {
    for (const auto& x : expects)
      if (total(after, x.name, x.labels) - total(before, x.name, x.labels) < x.delta) return false;
    return true;
  };
  while (!reached() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    after = scrape(proxy);
  }
  for (const auto& x : expects) {
    INFO(Exposition::key(x.name, x.labels));
    CHECK(total(after, x.name, x.labels) - total(before, x.name, x.labels) == x.delta);
  }
  return after;
}

Conn connect_app(const ProxyProcess& proxy, const std::string& app) {
  Conn c =
      connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=" + app));
  REQUIRE_MESSAGE(ok(c), error(c));
  return c;
}

void exec_expect(PGconn* c, const char* sql, ExecStatusType want) {
  Result r(PQexec(c, sql));
  INFO(sql << ": " << PQresultErrorMessage(r.get()));
  REQUIRE(PQresultStatus(r.get()) == want);
}

}  // namespace

TEST_CASE("the proxy's /metrics counts known traffic exactly") {
  ProxyProcess proxy;
  REQUIRE(proxy.metrics_port() > 0);
  Conn c = connect_app(proxy, "metrics_e2e");
  // The session is open (the gauge) before the baseline is taken. Its outcome is counted in
  // pglifecycle_client_connections_total when it closes.
  expect_deltas(proxy, Exposition{}, {{"pglifecycle_client_connections", {}, 1}});

  SUBCASE("an Npgsql-style batch: three Parse/Bind/Describe/Execute and one Sync") {
    Exposition before = scrape(proxy);
    PGconn* conn = c.get();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    for (const char* sql : {"SELECT 1", "SELECT 'two'", "SELECT 3.0"})
      REQUIRE(PQsendQueryParams(conn, sql, 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQpipelineSync(conn));
    for (int i = 0; i < 3; ++i) {
      Result r(PQgetResult(conn));
      CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
      CHECK(PQgetResult(conn) == nullptr);
    }
    Result sync(PQgetResult(conn));
    CHECK(PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC);
    REQUIRE(PQexitPipelineMode(conn) == 1);

    const std::string msg = "pglifecycle_message_duration_seconds_count";
    expect_deltas(
        proxy, before,
        {{msg, {{"message", "parse"}}, 3},
         {msg, {{"message", "bind"}}, 3},
         {msg, {{"message", "describe"}}, 3},
         {msg, {{"message", "execute"}}, 3},
         {msg, {{"message", "sync"}}, 1},
         {msg, {{"message", "query"}}, 0},
         {"pglifecycle_executions_total", {{"kind", "extended"}, {"status", "success"}}, 3},
         {"pglifecycle_execution_duration_seconds_count",
          {{"kind", "extended"}, {"status", "success"}},
          3},
         {"pglifecycle_execution_first_row_seconds_count", {{"kind", "extended"}}, 3},
         {"pglifecycle_executions_total", {{"kind", "simple"}}, 0}});
  }

  SUBCASE("an error and a cancel are counted by status and SQLSTATE class") {
    Exposition before = scrape(proxy);
    exec_expect(c.get(), "SELECT 1/0", PGRES_FATAL_ERROR);
    exec_expect(c.get(), "SELECT 1; SELECT 2", PGRES_TUPLES_OK);

    Conn sleeper = connect_app(proxy, "metrics_e2e_cancel");
    REQUIRE(PQsendQuery(sleeper.get(), "SELECT pg_sleep(30)"));
    Conn direct = connect(PgServer::shared().conninfo());
    REQUIRE_MESSAGE(ok(direct), error(direct));
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (scalar(direct.get(),
                  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                  "'metrics_e2e_cancel' AND state = 'active'") != "1") {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(10ms);
    }
    PGcancel* cancel = PQgetCancel(sleeper.get());
    char err[256];
    CHECK(PQcancel(cancel, err, sizeof err) == 1);
    PQfreeCancel(cancel);
    Result r(PQgetResult(sleeper.get()));
    CHECK(sqlstate(r.get()) == "57014");
    while (Result more{PQgetResult(sleeper.get())}) {
    }
    sleeper.reset();

    expect_deltas(
        proxy, before,
        {{"pglifecycle_executions_total", {{"kind", "simple"}, {"status", "error"}}, 1},
         {"pglifecycle_executions_total", {{"kind", "simple"}, {"status", "canceled"}}, 1},
         {"pglifecycle_executions_total", {{"kind", "simple_multi"}, {"status", "success"}}, 2},
         {"pglifecycle_errors_total", {{"sqlstate_class", "22"}}, 1},
         {"pglifecycle_errors_total", {{"sqlstate_class", "57"}}, 1},
         {"pglifecycle_client_connections_total", {{"result", "cancel_request"}}, 1},
         {"pglifecycle_message_duration_seconds_count", {{"message", "query"}}, 3}});
  }

  SUBCASE("pg_sleep(0.2) lands in the buckets >= 0.2 s and not below") {
    Exposition before = scrape(proxy);
    exec_expect(c.get(), "SELECT pg_sleep(0.2)", PGRES_TUPLES_OK);
    const Exposition::Labels series = {{"kind", "simple"}, {"status", "success"}};
    Exposition after =
        expect_deltas(proxy, before, {{"pglifecycle_execution_duration_seconds_count", series, 1}});
    int checked = 0;
    for (const auto& s : after.all) {
      if (s.name != "pglifecycle_execution_duration_seconds_bucket") continue;
      Exposition::Labels rest;
      std::string le;
      for (const auto& l : s.labels) {
        if (l.first == "le") {
          le = l.second;
        } else {
          rest.push_back(l);
        }
      }
      if (rest != series) continue;
      const double bound = le == "+Inf" ? INFINITY : std::stod(le);
      auto with_le = series;
      with_le.emplace_back("le", le);
      const double delta =
          s.value - total(before, "pglifecycle_execution_duration_seconds_bucket", with_le);
      INFO("le=" << le);
      CHECK(delta == (bound < 0.2 ? 0 : 1));
      ++checked;
    }
    CHECK(checked == 25);
    // The proxy hop itself is cheap: well under the sleep.
    CHECK(total(after, "pglifecycle_proxy_latency_seconds_count") > 0);
    CHECK(total(after, "pglifecycle_bytes_total", {{"direction", "to_client"}}) > 0);
  }
}

TEST_CASE("--metric-labels application caps names: the 101st becomes other") {
  ProxyProcess proxy({"--metric-labels", "application", "--metric-label-limit", "100"});
  for (int i = 0; i <= 100; ++i) {
    Conn c = connect_app(proxy, "mapp" + std::to_string(i));
    exec_expect(c.get(), "SELECT 1", PGRES_TUPLES_OK);
  }
  Conn again = connect_app(proxy, "mapp5");
  exec_expect(again.get(), "SELECT 1", PGRES_TUPLES_OK);

  const Exposition::Labels ok = {{"kind", "simple"}, {"status", "success"}};
  auto app = [&](const std::string& name) {
    auto l = ok;
    l.emplace_back("application", name);
    return l;
  };
  Exposition e = expect_deltas(proxy, Exposition{},
                               {{"pglifecycle_executions_total", ok, 102},
                                {"pglifecycle_executions_total", app("mapp0"), 1},
                                {"pglifecycle_executions_total", app("mapp99"), 1},
                                {"pglifecycle_executions_total", app("mapp5"), 2},
                                {"pglifecycle_executions_total", app("other"), 1}});
  CHECK(total(e, "pglifecycle_executions_total", app("mapp100")) == 0);
  CHECK(total(e, "pglifecycle_execution_duration_seconds_count", app("other")) == 1);
  std::size_t series = 0;
  for (const auto& s : e.all) series += s.name == "pglifecycle_executions_total";
  CHECK(series == 101);  // mapp0..mapp99 and other
}

TEST_CASE("a real Prometheus scraping the proxy computes p95 of execution durations") {
  if (access(kPrometheusBinary, X_OK) != 0) {
    MESSAGE("skipped: " << kPrometheusBinary
                        << " is not installed (scripts/deps --test installs it)");
    return;
  }
  ProxyProcess proxy;
  PrometheusServer prometheus(proxy.metrics_port());
  REQUIRE_MESSAGE(prometheus.wait_until_up(30000), "the proxy never went up as a target; log:\n"
                                                       << prometheus.log());

  // rate() needs two scrapes that saw different counts: keep querying while polling.
  Conn c = connect_app(proxy, "metrics_e2e_prometheus");
  const std::string p95 =
      "histogram_quantile(0.95, sum by (le) "
      "(rate(pglifecycle_execution_duration_seconds_bucket[1m])))";
  std::optional<double> value;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!value && std::chrono::steady_clock::now() < deadline) {
    exec_expect(c.get(), "SELECT pg_sleep(0.03)", PGRES_TUPLES_OK);
    value = first_value(prometheus.query(p95));
  }
  REQUIRE_MESSAGE(value.has_value(),
                  "no number from " << p95 << "; last answer: " << prometheus.query(p95));
  // Every execution slept 30 ms: the quantile interpolates inside (25 ms, 50 ms]. 30 ms
  // rather than 40 leaves a loaded (sanitizer, 2-core) machine 20 ms of slack per query.
  CHECK(*value > 0.025);
  CHECK(*value <= 0.05);
}

TEST_CASE("metrics count every execution, also those sampling keeps out of the store") {
  char dir[] = "/tmp/pglc-metrics-e2e-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string db = std::string(dir) + "/lifecycle.db";
  {
    ProxyProcess proxy(
        {"--storage", "sqlite:" + db, "--sample-rate", "0", "--min-duration", "0ms"});
    Conn c = connect_app(proxy, "metrics_e2e_sampled");
    for (int i = 0; i < 5; ++i) exec_expect(c.get(), "SELECT 1", PGRES_TUPLES_OK);
    Exposition e = expect_deltas(
        proxy, Exposition{},
        {{"pglifecycle_executions_total", {{"kind", "simple"}, {"status", "success"}}, 5},
         {"pglifecycle_execution_duration_seconds_count", {{"kind", "simple"}}, 5},
         {"pglifecycle_recorder_skipped_total", {{"reason", "sampled_out"}}, 5}});
    CHECK(total(e, "pglifecycle_recorder_rows_total", {{"table", "executions"}}) == 0);
    CHECK(total(e, "pglifecycle_recorder_dropped_total") == 0);
    CHECK(proxy.terminate() == 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
