// A real Prometheus server (Debian package `prometheus`) scrapes the exposer and answers
// the dashboard's questions: the target goes up, histogram_quantile returns a number, and
// every expression of config/grafana-dashboard.json is valid PromQL.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "metrics/metrics.hpp"
#include "tests/metrics/dashboard_exprs.hpp"
#include "tests/metrics/prometheus_server.hpp"
#include "tests/support/pg_server.hpp"

using namespace std::chrono_literals;
using pglc::lifecycle::ExecutionRecord;
using pglc::lifecycle::ExecutionStatus;
using pglc::lifecycle::MessageKind;
using pglc::lifecycle::StatementKind;

namespace {

void feed(pglc::metrics::Metrics& m) {
  ExecutionRecord r;
  r.kind = StatementKind::extended;
  r.status = ExecutionStatus::success;
  r.total_seconds = 0.2;
  r.first_row_seconds = 0.15;
  for (int i = 0; i < 10; ++i) {
    m.execution(r);
    m.message_timed(MessageKind::execute, 200ms);
    m.message_timed(MessageKind::parse, 80us);
    m.proxy_latency(pglc::metrics::Direction::to_client, 20us);
  }
}

}  // namespace

TEST_CASE("a real Prometheus scrapes /metrics, computes p95 and accepts the dashboard") {
  if (access(pglc::test::kPrometheusBinary, X_OK) != 0) {
    MESSAGE("skipped: " << pglc::test::kPrometheusBinary
                        << " is not installed (scripts/deps --test installs it)");
    return;
  }
  pglc::storage::RecorderStats recorder;
  pglc::metrics::MetricsConfig options;
  options.metrics_listen = "127.0.0.1:0";  // the exposer picks a free port
  auto metrics = pglc::metrics::Metrics::create(options, &recorder);
  feed(*metrics);

  if (access(pglc::test::kPromtoolBinary, X_OK) == 0) {
    char path[] = "/tmp/pglc-metrics-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::ofstream(path) << pglc::test::http_get(metrics->port(), "/metrics");
    std::string out;
    int status = pglc::test::run(
        {"/bin/sh", "-c", std::string(pglc::test::kPromtoolBinary) + " check metrics < " + path},
        &out);
    unlink(path);
    INFO("promtool check metrics: " << out);
    CHECK(status == 0);
  }

  pglc::test::PrometheusServer prometheus(metrics->port());
  REQUIRE_MESSAGE(prometheus.wait_until_up(30000), "the scrape target never went up; log:\n"
                                                       << prometheus.log());

  // rate() needs two scrapes that saw different counts, so keep observing while polling.
  const std::string p95 =
      "histogram_quantile(0.95, sum by (le) "
      "(rate(pglifecycle_execution_duration_seconds_bucket[1m])))";
  std::optional<double> value;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!value && std::chrono::steady_clock::now() < deadline) {
    feed(*metrics);
    value = pglc::test::first_value(prometheus.query(p95));
    if (!value) std::this_thread::sleep_for(200ms);
  }
  REQUIRE_MESSAGE(value.has_value(),
                  "no number from " << p95 << "; last answer: " << prometheus.query(p95));
  // Every observation was 0.2 s: the quantile interpolates inside (0.1, 0.25].
  CHECK(*value > 0.1);
  CHECK(*value <= 0.25);

  auto per_message = pglc::test::first_value(prometheus.query(
      "histogram_quantile(0.95, sum by (le) "
      "(rate(pglifecycle_message_duration_seconds_bucket{message=\"parse\"}[1m])))"));
  REQUIRE(per_message.has_value());
  CHECK(*per_message > 50e-6);
  CHECK(*per_message <= 100e-6);

  // The dashboard's expressions, with Grafana's variables filled in, are valid PromQL.
  for (auto expr :
       pglc::test::dashboard_expressions(PGLC_SOURCE_DIR "/config/grafana-dashboard.json")) {
    for (auto [var, replacement] :
         {std::pair<std::string, std::string>{"$__rate_interval", "1m"}, {"$instance", ".*"}}) {
      for (auto at = expr.find(var); at != std::string::npos; at = expr.find(var))
        expr.replace(at, var.size(), replacement);
    }
    auto answer = prometheus.query(expr);
    INFO(expr << " → " << answer);
    CHECK(answer.find("\"status\":\"success\"") != std::string::npos);
  }
}
