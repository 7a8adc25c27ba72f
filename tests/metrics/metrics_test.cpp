// Metrics fed with synthetic records and relay calls, scraped over real HTTP.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "metrics/buckets.hpp"
#include "metrics/metrics.hpp"
#include "tests/metrics/exposition.hpp"
#include "tests/support/pg_server.hpp"

using namespace std::chrono_literals;
using pglc::lifecycle::ExecutionRecord;
using pglc::lifecycle::ExecutionStatus;
using pglc::lifecycle::MessageKind;
using pglc::lifecycle::StatementKind;
using pglc::metrics::Direction;
using pglc::metrics::Metrics;
using pglc::test::Exposition;

namespace {

ExecutionRecord execution(StatementKind kind, ExecutionStatus status, std::optional<double> total,
                          std::optional<double> first_row = {}, std::string sqlstate = "") {
  ExecutionRecord r;
  r.kind = kind;
  r.status = status;
  r.total_seconds = total;
  r.first_row_seconds = first_row;
  r.sqlstate = std::move(sqlstate);
  r.user_name = "alice";
  r.database_name = "sales";
  r.application_name = "PowerBI";
  return r;
}

// Port 0: the exposer picks a free port itself (no race with parallel tests).
pglc::metrics::MetricsConfig options_on_free_port() {
  pglc::metrics::MetricsConfig o;
  o.metrics_listen = "127.0.0.1:0";
  return o;
}

Exposition scrape(const Metrics& m) {
  int status = 0;
  std::string body = pglc::test::http_get(m.port(), "/metrics", &status);
  REQUIRE(status == 200);
  REQUIRE(!body.empty());
  Exposition e = pglc::test::parse_exposition(body);
  for (const auto& bad : e.bad_lines) FAIL_CHECK("not a valid exposition line: " << bad);
  return e;
}

double value(const Exposition& e, std::string_view name, Exposition::Labels labels = {}) {
  auto v = e.get(name, labels);
  INFO("looking for " << Exposition::key(name, labels));
  REQUIRE(v.has_value());
  return *v;
}

// Every bucket below `seconds` holds `below`, every bucket at or above holds `above`.
void check_placement(const Exposition& e, std::string_view histogram, Exposition::Labels labels,
                     double seconds, double below, double above) {
  auto buckets = e.buckets(histogram, labels);
  REQUIRE(buckets.size() == pglc::metrics::kBucketBoundsSeconds.size() + 1);
  CHECK(std::isinf(buckets.back().first));
  for (const auto& [le, count] : buckets) {
    INFO(histogram << " le=" << le);
    CHECK(count == (le < seconds ? below : above));
  }
}

}  // namespace

TEST_CASE("scraped /metrics holds exact values for known records and relay calls") {
  pglc::storage::RecorderStats recorder;
  recorder.queue_depth = 7;
  recorder.rows_executions = 42;
  recorder.rows_sessions = 2;
  recorder.dropped_queue_full = 3;
  recorder.sampled_out = 5;
  recorder.rows_expired = 11;
  recorder.retention_longest_pass_us = 12500;
  auto m = Metrics::create(options_on_free_port(), &recorder);
  REQUIRE(m->port() > 0);

  for (int i = 0; i < 3; ++i)
    m->execution(execution(StatementKind::simple, ExecutionStatus::success, 0.001, 0.0008));
  m->execution(execution(StatementKind::extended, ExecutionStatus::error, 0.2, 0.2, "42P01"));
  m->execution(
      execution(StatementKind::simple, ExecutionStatus::canceled, 0.5, std::nullopt, "57014"));
  m->execution(execution(StatementKind::extended, ExecutionStatus::aborted, std::nullopt));
  for (int i = 0; i < 3; ++i) {
    m->message_timed(MessageKind::parse, 40us);
    m->message_timed(MessageKind::bind, 60us);
    m->message_timed(MessageKind::execute, 200ms);
  }
  m->message_timed(MessageKind::sync, 1ms);

  m->connection_opened();
  m->connection_opened();
  m->connection_opened();
  m->connection_closed();
  m->connection_result(pglc::metrics::ConnectionResult::ok);
  m->connection_result(pglc::metrics::ConnectionResult::ok);
  m->connection_result(pglc::metrics::ConnectionResult::auth_failed);
  m->connection_result(pglc::metrics::ConnectionResult::too_many_clients);
  m->bytes(Direction::to_backend, 100);
  m->bytes(Direction::to_client, 250);
  m->bytes(Direction::to_client, 50);
  m->proxy_latency(Direction::to_backend, 30us);
  m->proxy_latency(Direction::to_client, 2ms);

  Exposition e = scrape(*m);

  SUBCASE("executions by kind and status") {
    CHECK(value(e, "pglifecycle_executions_total", {{"kind", "simple"}, {"status", "success"}}) ==
          3);
    CHECK(value(e, "pglifecycle_executions_total", {{"kind", "extended"}, {"status", "error"}}) ==
          1);
    CHECK(value(e, "pglifecycle_executions_total", {{"kind", "simple"}, {"status", "canceled"}}) ==
          1);
    CHECK(value(e, "pglifecycle_executions_total", {{"kind", "extended"}, {"status", "aborted"}}) ==
          1);
    // Every kind x status pair is exposed from the start, so rate() works on the first error.
    CHECK(e.count("pglifecycle_executions_total") == 16);
    CHECK(value(e, "pglifecycle_executions_total",
                {{"kind", "sql_prepare"}, {"status", "success"}}) == 0);
    // No identity labels by default.
    CHECK(!e.get("pglifecycle_executions_total",
                 {{"kind", "simple"}, {"status", "success"}, {"application", "PowerBI"}}));
  }

  SUBCASE("a 0.2 s execution lands in le=0.25 and above, not below") {
    check_placement(e, "pglifecycle_execution_duration_seconds",
                    {{"kind", "extended"}, {"status", "error"}}, 0.2, 0, 1);
    CHECK(value(e, "pglifecycle_execution_duration_seconds_bucket",
                {{"kind", "extended"}, {"status", "error"}, {"le", "0.25"}}) == 1);
    CHECK(value(e, "pglifecycle_execution_duration_seconds_bucket",
                {{"kind", "extended"}, {"status", "error"}, {"le", "0.1"}}) == 0);
    CHECK(value(e, "pglifecycle_execution_duration_seconds_count",
                {{"kind", "extended"}, {"status", "error"}}) == 1);
    CHECK(value(e, "pglifecycle_execution_duration_seconds_sum",
                {{"kind", "extended"}, {"status", "error"}}) == doctest::Approx(0.2));
    check_placement(e, "pglifecycle_execution_duration_seconds",
                    {{"kind", "simple"}, {"status", "success"}}, 0.001, 0, 3);
    // Aborted executions never finished: counted, but no duration.
    CHECK(!e.get("pglifecycle_execution_duration_seconds_count",
                 {{"kind", "extended"}, {"status", "aborted"}}));
    check_placement(e, "pglifecycle_execution_first_row_seconds", {{"kind", "simple"}}, 0.0008, 0,
                    3);
    check_placement(e, "pglifecycle_execution_first_row_seconds", {{"kind", "extended"}}, 0.2, 0,
                    1);
  }

  SUBCASE("errors by SQLSTATE class, canceled included") {
    CHECK(value(e, "pglifecycle_errors_total", {{"sqlstate_class", "42"}}) == 1);
    CHECK(value(e, "pglifecycle_errors_total", {{"sqlstate_class", "57"}}) == 1);
    CHECK(e.count("pglifecycle_errors_total") == 2);
  }

  SUBCASE("message durations per message type") {
    CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", "parse"}}) == 3);
    CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", "bind"}}) == 3);
    CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", "execute"}}) == 3);
    CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", "sync"}}) == 1);
    CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", "query"}}) == 0);
    check_placement(e, "pglifecycle_message_duration_seconds", {{"message", "parse"}}, 40e-6, 0, 3);
    check_placement(e, "pglifecycle_message_duration_seconds", {{"message", "bind"}}, 60e-6, 0, 3);
    check_placement(e, "pglifecycle_message_duration_seconds", {{"message", "execute"}}, 0.2, 0, 3);
    CHECK(value(e, "pglifecycle_message_duration_seconds_sum", {{"message", "execute"}}) ==
          doctest::Approx(0.6));
    CHECK(e.count("pglifecycle_message_duration_seconds_count") == 8);
  }

  SUBCASE("relay counters") {
    CHECK(value(e, "pglifecycle_client_connections") == 2);
    CHECK(value(e, "pglifecycle_client_connections_total", {{"result", "ok"}}) == 2);
    CHECK(value(e, "pglifecycle_client_connections_total", {{"result", "auth_failed"}}) == 1);
    CHECK(value(e, "pglifecycle_client_connections_total", {{"result", "too_many_clients"}}) == 1);
    CHECK(e.count("pglifecycle_client_connections_total") == pglc::metrics::kConnectionResults);
    CHECK(value(e, "pglifecycle_client_connections_total", {{"result", "protocol_error"}}) == 0);
    CHECK(value(e, "pglifecycle_bytes_total", {{"direction", "to_backend"}}) == 100);
    CHECK(value(e, "pglifecycle_bytes_total", {{"direction", "to_client"}}) == 300);
    check_placement(e, "pglifecycle_proxy_latency_seconds", {{"direction", "to_backend"}}, 30e-6, 0,
                    1);
    check_placement(e, "pglifecycle_proxy_latency_seconds", {{"direction", "to_client"}}, 0.002, 0,
                    1);
  }

  SUBCASE("recorder stats are read at scrape time") {
    CHECK(value(e, "pglifecycle_recorder_queue_depth") == 7);
    CHECK(value(e, "pglifecycle_recorder_rows_total", {{"table", "executions"}}) == 42);
    CHECK(value(e, "pglifecycle_recorder_rows_total", {{"table", "sessions"}}) == 2);
    CHECK(value(e, "pglifecycle_recorder_rows_total", {{"table", "execution_events"}}) == 0);
    CHECK(value(e, "pglifecycle_recorder_dropped_total", {{"reason", "queue_full"}}) == 3);
    CHECK(value(e, "pglifecycle_recorder_dropped_total", {{"reason", "store_error"}}) == 0);
    CHECK(value(e, "pglifecycle_recorder_skipped_total", {{"reason", "sampled_out"}}) == 5);
    CHECK(value(e, "pglifecycle_recorder_expired_rows_total") == 11);
    CHECK(value(e, "pglifecycle_recorder_retention_longest_pass_seconds") ==
          doctest::Approx(0.0125));
    recorder.queue_depth = 0;
    recorder.dropped_store_error = 9;
    Exposition later = scrape(*m);
    CHECK(value(later, "pglifecycle_recorder_queue_depth") == 0);
    CHECK(value(later, "pglifecycle_recorder_dropped_total", {{"reason", "store_error"}}) == 9);
  }

  SUBCASE("build info and process metrics are present and sane") {
    CHECK(value(e, "pglifecycle_build_info", {{"version", PGLC_VERSION}}) == 1);
    double rss = value(e, "process_resident_memory_bytes");
    CHECK(rss > 1e6);
    CHECK(rss < 64e9);
    CHECK(value(e, "process_virtual_memory_bytes") >= rss);
    double fds = value(e, "process_open_fds");
    CHECK(fds >= 4);  // stdio + the exposer's listening socket
    CHECK(fds <= value(e, "process_max_fds"));
    double cpu = value(e, "process_cpu_seconds_total");
    CHECK(cpu >= 0);
    CHECK(cpu < 3600);
    double start = value(e, "process_start_time_seconds");
    double now = static_cast<double>(std::time(nullptr));
    CHECK(start <= now + 1);
    CHECK(start > now - 24 * 3600);
  }

  SUBCASE("every DESIGN §4 family is declared") {
    for (const char* name :
         {"pglifecycle_message_duration_seconds", "pglifecycle_execution_duration_seconds",
          "pglifecycle_execution_first_row_seconds", "pglifecycle_proxy_latency_seconds",
          "pglifecycle_client_connections", "pglifecycle_client_connections_total",
          "pglifecycle_executions_total", "pglifecycle_errors_total", "pglifecycle_bytes_total",
          "pglifecycle_recorder_queue_depth", "pglifecycle_recorder_rows_total",
          "pglifecycle_recorder_dropped_total", "pglifecycle_build_info"}) {
      INFO(name);
      CHECK(e.families.count(name) == 1);
    }
  }
}

TEST_CASE("identity labels are capped: the 101st application name becomes other") {
  auto options = options_on_free_port();
  options.metric_labels = {"application"};
  options.metric_label_limit = 100;
  auto m = Metrics::create(options, nullptr);
  auto record = execution(StatementKind::extended, ExecutionStatus::success, 0.003, 0.002);
  for (int i = 0; i <= 100; ++i) {
    record.application_name = "app" + std::to_string(i);
    m->execution(record);
  }
  // A name seen again keeps its own series; a second newcomer also becomes "other".
  record.application_name = "app7";
  m->execution(record);
  record.application_name = "late";
  m->execution(record);
  auto error = execution(StatementKind::simple, ExecutionStatus::error, 0.001, 0.001, "23505");
  error.application_name = "app3";
  m->execution(error);

  Exposition e = scrape(*m);
  const Exposition::Labels success = {{"kind", "extended"}, {"status", "success"}};
  auto with_app = [](Exposition::Labels l, std::string app) {
    l.emplace_back("application", std::move(app));
    return l;
  };
  CHECK(value(e, "pglifecycle_executions_total", with_app(success, "app0")) == 1);
  CHECK(value(e, "pglifecycle_executions_total", with_app(success, "app99")) == 1);
  CHECK(value(e, "pglifecycle_executions_total", with_app(success, "app7")) == 2);
  CHECK(!e.get("pglifecycle_executions_total", with_app(success, "app100")));
  CHECK(!e.get("pglifecycle_executions_total", with_app(success, "late")));
  CHECK(value(e, "pglifecycle_executions_total", with_app(success, "other")) == 2);
  CHECK(value(e, "pglifecycle_execution_duration_seconds_count", with_app(success, "other")) == 2);
  CHECK(value(e, "pglifecycle_execution_first_row_seconds_count",
              {{"kind", "extended"}, {"application", "other"}}) == 2);
  CHECK(value(e, "pglifecycle_errors_total", {{"sqlstate_class", "23"}, {"application", "app3"}}) ==
        1);
  // 100 names + other, success only; plus app3's simple/error series. Empty series are
  // left out with identity labels on.
  CHECK(e.count("pglifecycle_executions_total") == 102);
  // Only the enabled label, and not on the families that do not take identity labels.
  CHECK(!e.get(
      "pglifecycle_executions_total",
      {{"kind", "extended"}, {"status", "success"}, {"application", "app0"}, {"user", "alice"}}));
  CHECK(e.count("pglifecycle_message_duration_seconds_count") == 8);
}

TEST_CASE("database and user labels come in a fixed order and are capped independently") {
  pglc::metrics::MetricsConfig options;
  options.metrics_listen = "";
  options.metric_labels = {"user", "database"};
  options.metric_label_limit = 1;
  auto m = Metrics::create(options, nullptr);
  CHECK(m->port() == 0);
  auto record = execution(StatementKind::simple, ExecutionStatus::success, 0.01, 0.01);
  m->execution(record);  // sales / alice
  record.user_name = "bob";
  m->execution(record);  // sales / other
  record.database_name = "hr";
  m->execution(record);  // other / other
  Exposition e = pglc::test::parse_exposition(m->render());
  CHECK(e.bad_lines.empty());
  const Exposition::Labels base = {{"kind", "simple"}, {"status", "success"}};
  auto labels = [&](std::string db, std::string user) {
    auto l = base;
    l.emplace_back("database", std::move(db));
    l.emplace_back("user", std::move(user));
    return l;
  };
  CHECK(value(e, "pglifecycle_executions_total", labels("sales", "alice")) == 1);
  CHECK(value(e, "pglifecycle_executions_total", labels("sales", "other")) == 1);
  CHECK(value(e, "pglifecycle_executions_total", labels("other", "other")) == 1);
  CHECK(e.count("pglifecycle_executions_total") == 3);
  auto text = m->render();
  CHECK(text.find("database=\"sales\",user=\"alice\"") != std::string::npos);
}

TEST_CASE("the exposer binds where it is told: loopback by name, port 0, or off") {
  pglc::metrics::MetricsConfig named;
  named.metrics_listen = "localhost:0";
  auto m = Metrics::create(named, nullptr);
  REQUIRE(m->port() > 0);
  int status = 0;
  CHECK(!pglc::test::http_get(m->port(), "/metrics", &status).empty());
  CHECK(status == 200);
  // Stopping an exposer that has served a scrape is quick (civetweb alone takes 2 s).
  auto start = std::chrono::steady_clock::now();
  m.reset();
  CHECK(std::chrono::steady_clock::now() - start < 1s);

  pglc::metrics::MetricsConfig off;
  off.metrics_listen = "";
  auto quiet = Metrics::create(off, nullptr);
  CHECK(quiet->port() == 0);
  CHECK(pglc::test::parse_exposition(quiet->render())
            .families.count("pglifecycle_executions_total") == 1);
}

TEST_CASE("configuration errors throw") {
  auto first = Metrics::create(options_on_free_port(), nullptr);
  REQUIRE(first->port() > 0);
  pglc::metrics::MetricsConfig taken;
  taken.metrics_listen = "127.0.0.1:" + std::to_string(first->port());
  CHECK_THROWS_AS(Metrics::create(taken, nullptr), std::runtime_error);

  pglc::metrics::MetricsConfig bad;
  bad.metrics_listen = "";
  bad.metric_labels = {"application", "host"};
  CHECK_THROWS_AS(Metrics::create(bad, nullptr), std::runtime_error);
}

TEST_CASE("concurrent observations from several threads are all counted") {
  auto m = Metrics::create(options_on_free_port(), nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      auto record = execution(t % 2 ? StatementKind::extended : StatementKind::simple,
                              ExecutionStatus::success, 0.0004, 0.0002);
      for (int i = 0; i < kPerThread; ++i) {
        m->execution(record);
        m->message_timed(MessageKind::execute, std::chrono::microseconds(100 + i % 1000));
        m->bytes(Direction::to_client, 3);
      }
    });
  }
  // A scrape in the middle must not disturb the counts (or crash).
  CHECK(!pglc::test::http_get(m->port(), "/metrics").empty());
  for (auto& t : threads) t.join();

  Exposition e = scrape(*m);
  constexpr double kTotal = double(kThreads) * kPerThread;
  CHECK(value(e, "pglifecycle_executions_total", {{"kind", "simple"}, {"status", "success"}}) ==
        kTotal / 2);
  CHECK(value(e, "pglifecycle_executions_total", {{"kind", "extended"}, {"status", "success"}}) ==
        kTotal / 2);
  CHECK(value(e, "pglifecycle_execution_duration_seconds_count",
              {{"kind", "extended"}, {"status", "success"}}) == kTotal / 2);
  CHECK(value(e, "pglifecycle_execution_duration_seconds_bucket",
              {{"kind", "simple"}, {"status", "success"}, {"le", "0.0005"}}) == kTotal / 2);
  CHECK(value(e, "pglifecycle_execution_duration_seconds_bucket",
              {{"kind", "simple"}, {"status", "success"}, {"le", "0.0003"}}) == 0);
  CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", "execute"}}) == kTotal);
  CHECK(value(e, "pglifecycle_message_duration_seconds_bucket",
              {{"message", "execute"}, {"le", "+Inf"}}) == kTotal);
  CHECK(value(e, "pglifecycle_bytes_total", {{"direction", "to_client"}}) == 3 * kTotal);
}

TEST_CASE("concurrent observations with identity labels are all counted") {
  auto options = options_on_free_port();
  options.metric_labels = {"application"};
  options.metric_label_limit = 2;
  auto m = Metrics::create(options, nullptr);
  constexpr int kThreads = 3;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      auto record = execution(StatementKind::extended, ExecutionStatus::success, 0.02, 0.01);
      for (int i = 0; i < kPerThread; ++i) {
        record.application_name = "app" + std::to_string((i + t) % 4);
        m->execution(record);
      }
    });
  }
  for (auto& t : threads) t.join();
  Exposition e = scrape(*m);
  double total = 0;
  for (const auto& s : e.all)
    if (s.name == "pglifecycle_executions_total") total += s.value;
  CHECK(total == double(kThreads) * kPerThread);
  // Two of the four names were admitted (whichever came first), the others are "other".
  CHECK(e.count("pglifecycle_executions_total") == 3);
  CHECK(value(e, "pglifecycle_executions_total",
              {{"kind", "extended"}, {"status", "success"}, {"application", "other"}}) ==
        double(kThreads) * kPerThread / 2);
}

TEST_CASE("label values are the lifecycle layer's own names for kinds, statuses, messages") {
  pglc::metrics::MetricsConfig options;
  options.metrics_listen = "";
  auto m = Metrics::create(options, nullptr);
  const MessageKind messages[] = {
      MessageKind::query,   MessageKind::parse, MessageKind::bind, MessageKind::describe,
      MessageKind::execute, MessageKind::close, MessageKind::sync, MessageKind::function_call};
  const StatementKind kinds[] = {StatementKind::simple, StatementKind::simple_multi,
                                 StatementKind::sql_prepare, StatementKind::extended};
  const ExecutionStatus statuses[] = {ExecutionStatus::success, ExecutionStatus::error,
                                      ExecutionStatus::canceled, ExecutionStatus::aborted};
  int n = 0;
  for (auto k : messages) {
    ++n;
    for (int i = 0; i < n; ++i) m->message_timed(k, 1ms);
  }
  n = 0;
  for (auto k : kinds)
    for (auto s : statuses) {
      ++n;
      for (int i = 0; i < n; ++i) m->execution(execution(k, s, 0.01, 0.01));
    }
  Exposition e = pglc::test::parse_exposition(m->render());
  n = 0;
  for (auto k : messages) {
    std::string name(pglc::lifecycle::to_string(k));
    CHECK(value(e, "pglifecycle_message_duration_seconds_count", {{"message", name}}) == ++n);
  }
  n = 0;
  for (auto k : kinds)
    for (auto s : statuses) {
      std::string kind(pglc::lifecycle::to_string(k)), status(pglc::lifecycle::to_string(s));
      CHECK(value(e, "pglifecycle_executions_total", {{"kind", kind}, {"status", status}}) == ++n);
    }
}
