// explain's drawing from values: the tree's shape, what is said about a passive or an
// aborted execution, the fingerprint verdict, pipelines, and JSON that escapes text.
#include "explain/render.hpp"

#include <doctest/doctest.h>

using namespace pglc::explain;

namespace {

ExecutionView extended() {
  ExecutionView e;
  e.id = "11", e.session_id = "10", e.statement_id = "12";
  e.user = "alice", e.database = "shop", e.application = "PowerBI", e.kind = "extended";
  e.statement_name = "s1", e.sql = "SELECT *\n  FROM orders\tWHERE id = $1";
  e.began_us = 1'800'000'000'000'000, e.status = "success", e.timing = "precise";
  e.command_tag = "SELECT 1", e.rows = 1, e.result_bytes = 24, e.fetches = 1;
  e.parse_ms = 0.2, e.bind_ms = 0.5, e.first_row_ms = 9.0, e.total_ms = 10.0, e.deliver_ms = 0.05;
  // Parse, Bind, Execute, Sync sent together: parsed at +0.2 ms, bound at +0.5 ms.
  e.parsed_us = e.began_us + 200, e.bound_us = e.began_us + 500;
  e.executed_us = e.began_us + 9000, e.finished_us = e.began_us + 10000;
  e.delivered_us = e.finished_us.value() + 50;
  e.p50_ms = 2.0, e.p95_ms = 8.0, e.calls = 500;
  return e;
}

}  // namespace

TEST_CASE("an execution: header lines, then consecutive spans that add up to its total") {
  const std::string out = render_text(extended(), false);
  CHECK(out ==
        "execution 11 · session 10 · statement 12\n"
        "PowerBI · alice@shop · extended \"s1\" · timing precise\n"
        "SELECT * FROM orders WHERE id = $1\n"
        "began 2027-01-15 08:00:00.000000+00 · success · SELECT 1 · 1 row · 24 bytes · 1 fetch\n"
        "total 10.000 ms  (p50 of its fingerprint 2.000 ms: 5.0×, p95 8.000 ms, 500 calls) "
        "slower than its p95\n"
        "├─ parse               0.200 ms\n"
        "├─ bind                0.300 ms\n"
        "├─ first row           8.500 ms\n"
        "├─ rest of rows        1.000 ms   1 row · 24 bytes\n"
        "└─ delivered to client 0.050 ms   status success\n");
  double sum = 0;
  for (const Span& s : spans(extended())) sum += s.name == "delivered to client" ? 0 : s.ms;
  CHECK(sum == doctest::Approx(10.0));
  CHECK(render_text(extended(), true).find("\x1b[31mslower than its p95\x1b[0m") !=
        std::string::npos);
}

TEST_CASE("an execution: a statement parsed earlier, passive timing, few calls, abort, error") {
  ExecutionView e = extended();
  e.parsed_us = e.began_us - 5000;  // prepared before: not this execution's time
  e.timing = "passive", e.calls = 5;
  std::string out = render_text(e, false);
  CHECK(out.find("parse") == std::string::npos);
  CHECK(out.find("├─ bind") == std::string::npos);  // a passive bound_at is a packet's time
  CHECK(out.find("├─ first row           9.000 ms\n") != std::string::npos);
  CHECK(out.find("(bind not measured: timed passively, its time is in first row)") !=
        std::string::npos);
  CHECK(out.find("500 calls") == std::string::npos);
  CHECK(out.find("slower") == std::string::npos);  // no verdict on five calls
  e.status = "aborted", e.total_ms.reset(), e.executed_us.reset(), e.finished_us.reset();
  e.delivered_us.reset();
  out = render_text(e, false);
  CHECK(out.find("· ⊘ aborted ·") != std::string::npos);
  CHECK(out.find("total — (never finished)") != std::string::npos);
  CHECK(out.find("└─ ⊘ aborted: the server skipped it") != std::string::npos);
  e = extended();
  e.status = "error", e.sqlstate = "42P01", e.error_message = "relation \"nope\" does not exist";
  out = render_text(e, false);
  CHECK(out.find("✗ error 42P01: relation \"nope\" does not exist") != std::string::npos);
  CHECK(out.find("status ✗ error 42P01\n") != std::string::npos);
}

TEST_CASE("a session: connect phases, then executions with pipelines grouped") {
  SessionView s;
  s.id = "10", s.user = "alice", s.database = "shop", s.application = "psql";
  s.client_addr = "10.0.0.1", s.client_port = 5000, s.client_tls = true;
  s.connected_us = 1'800'000'000'000'000, s.end_reason = "client_terminate";
  s.tls_ms = 2, s.startup_ms = 0.5, s.backend_ms = 1, s.auth_ms = 10, s.connect_ms = 14;
  s.execution_count = 4;
  auto x = [&](const char* id, std::int64_t began, std::optional<std::int64_t> finished,
               const char* status) {
    SessionExecution e;
    e.id = id, e.began_us = s.connected_us + began, e.status = status, e.kind = "extended";
    if (finished)
      e.finished_us = s.connected_us + *finished, e.total_ms = (*finished - began) / 1000.0;
    e.sql = "SELECT 1";
    return e;
  };
  s.executions = {x("1", 20000, 21000, "success"), x("2", 30000, 31000, "success"),
                  x("3", 30000, 32000, "error"), x("4", 30000, std::nullopt, "aborted")};
  s.executions[2].sqlstate = "22012";
  const std::string out = render_text(s, false);
  CHECK(out.find("connect 14.000 ms\n├─ tls        2.000 ms\n├─ startup    0.500 ms\n"
                 "├─ backend    1.000 ms\n└─ auth       10.000 ms\n") != std::string::npos);
  CHECK(out.find("4 executions (1 error, 1 aborted)\n"
                 "├─ +20.000 ms  1.000 ms  success  extended  SELECT 1  #1\n"
                 "└─ pipeline of 3\n"
                 "   ├─ +30.000 ms  1.000 ms  success  extended  SELECT 1  #2\n"
                 "   ├─ +30.000 ms  2.000 ms  ✗ error 22012  extended  SELECT 1  #3\n"
                 "   └─ +30.000 ms  —  ⊘ aborted  extended  SELECT 1  #4\n") != std::string::npos);
  std::string json = render_json(s);
  CHECK(json.find("\"pipelines\":[[{\"id\":\"1\"") != std::string::npos);
  CHECK(json.find("\"driver_executions\":0,") != std::string::npos);
  // A driver's own statement (Npgsql's type loading, say) is marked and summed apart.
  s.executions[0].origin = "driver";
  const std::string with_driver = render_text(s, false);
  CHECK(with_driver.find("4 executions (1 error, 1 aborted); 1 by the driver, 1.000 ms\n") !=
        std::string::npos);
  CHECK(with_driver.find("success  extended [driver]  SELECT 1  #1") != std::string::npos);
  json = render_json(s);
  CHECK(json.find("\"driver_executions\":1,\"driver_ms\":1.000") != std::string::npos);
  CHECK(json.find("\"connect\":{\"tls_ms\":2.000,\"startup_ms\":0.500") != std::string::npos);
}

TEST_CASE("JSON escapes what a text may hold and writes NULLs as null") {
  ExecutionView e = extended();
  e.sql = "SELECT '\"q\"\\\n\x01'";
  e.deliver_ms.reset();
  const std::string json = render_json(e);
  CHECK(json.find(R"("sql":"SELECT '\"q\"\\\n\u0001'")") != std::string::npos);
  CHECK(json.find("\"deliver_ms\":null") != std::string::npos);
  CHECK(json.back() == '\n');
}
