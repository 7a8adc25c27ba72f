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
  e.parse_ms = 0.2, e.bind_ms = 0.3, e.execute_ms = 9.5, e.first_row_ms = 9.0;
  e.total_ms = 10.0, e.deliver_ms = 0.05;
  e.p50_ms = 2.0, e.p95_ms = 8.0, e.calls = 500;
  return e;
}

}  // namespace

TEST_CASE("an execution: header lines, then its phases as a tree") {
  const std::string out = render_text(extended(), false);
  CHECK(out ==
        "execution 11 · session 10 · statement 12\n"
        "PowerBI · alice@shop · extended \"s1\" · timing precise\n"
        "SELECT * FROM orders WHERE id = $1\n"
        "began 2027-01-15 08:00:00.000000+00 · success · SELECT 1 · 1 row · 24 bytes · 1 fetch\n"
        "total 10.000 ms · this fingerprint: p50 2.000 ms, p95 8.000 ms over 500 calls → slower "
        "than its p95\n"
        "├─ parse      0.200 ms  (its statement's)\n"
        "├─ bind       0.300 ms\n"
        "├─ execute    9.500 ms\n"
        "│  └─ first row  after 9.000 ms\n"
        "└─ deliver    0.050 ms\n");
  CHECK(render_text(extended(), true).find("\x1b[31mslower than its p95\x1b[0m") !=
        std::string::npos);
}

TEST_CASE("an execution: passive timing, too few calls for a verdict, an abort, an error") {
  ExecutionView e = extended();
  e.timing = "passive", e.bind_ms.reset(), e.parse_ms.reset(), e.calls = 5;
  std::string out = render_text(e, false);
  CHECK(out.find("├─ bind       not measured (timing passive)\n") != std::string::npos);
  CHECK(out.find("├─ execute    9.500 ms  (from the Bind)\n") != std::string::npos);
  CHECK(out.find("over 5 calls\n") != std::string::npos);  // no verdict on five calls
  CHECK(out.find("parse") == std::string::npos);
  e.status = "aborted", e.total_ms.reset(), e.execute_ms.reset(), e.first_row_ms.reset();
  out = render_text(e, false);
  CHECK(out.find("· ⊘ aborted ·") != std::string::npos);
  CHECK(out.find("total — (never finished)") != std::string::npos);
  e.status = "error", e.sqlstate = "42P01", e.error_message = "relation \"nope\" does not exist";
  CHECK(render_text(e, false).find("✗ error 42P01: relation \"nope\" does not exist") !=
        std::string::npos);
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
  const std::string json = render_json(s);
  CHECK(json.find("\"pipelines\":[[{\"id\":\"1\"") != std::string::npos);
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
