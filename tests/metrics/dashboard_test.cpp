// config/grafana-dashboard.json loads and asks only for what /metrics exposes.
#include <doctest/doctest.h>

#include "metrics/metrics.hpp"
#include "tests/metrics/dashboard_exprs.hpp"
#include "tests/metrics/exposition.hpp"
#include "tests/support/pg_server.hpp"

TEST_CASE("every dashboard expression names only families that /metrics exposes") {
  pglc::storage::RecorderStats recorder;
  pglc::metrics::MetricsConfig options;
  options.metrics_listen = "127.0.0.1:0";  // the exposer picks a free port
  auto m = pglc::metrics::Metrics::create(options, &recorder);
  int status = 0;
  auto body = pglc::test::http_get(m->port(), "/metrics", &status);
  REQUIRE(status == 200);
  auto exposition = pglc::test::parse_exposition(body);
  REQUIRE(exposition.bad_lines.empty());
  const auto& families = exposition.families;

  auto exprs = pglc::test::dashboard_expressions(PGLC_SOURCE_DIR "/config/grafana-dashboard.json");
  CHECK(exprs.size() >= 15);
  std::set<std::string> used;
  for (const auto& expr : exprs) {
    auto names = pglc::test::referenced_families(expr, families);
    INFO(expr);
    CHECK(!names.empty());
    for (const auto& name : names) {
      INFO(name);
      CHECK(families.count(name) == 1);
      used.insert(name);
    }
  }
  // The panels the issue asks for are there.
  for (const char* name : {"pglifecycle_message_duration_seconds", "pglifecycle_executions_total",
                           "pglifecycle_errors_total", "pglifecycle_proxy_latency_seconds",
                           "pglifecycle_client_connections", "pglifecycle_recorder_queue_depth",
                           "pglifecycle_recorder_dropped_total"}) {
    INFO(name);
    CHECK(used.count(name) == 1);
  }
}

TEST_CASE("the family extractor strips histogram suffixes only for histograms") {
  std::set<std::string> families = {"pglifecycle_message_duration_seconds",
                                    "pglifecycle_executions_total"};
  auto names = pglc::test::referenced_families(
      "histogram_quantile(0.9, sum by (le) (rate(pglifecycle_message_duration_seconds_bucket[1m])))"
      " / sum(rate(pglifecycle_executions_total[1m])) + pglifecycle_missing_count",
      families);
  CHECK(names == std::set<std::string>{"pglifecycle_message_duration_seconds",
                                       "pglifecycle_executions_total",
                                       "pglifecycle_missing_count"});
}
