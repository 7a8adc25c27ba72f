// Live activity of a real proxy: GET /activity on its metrics listener and the
// `pglifecycle activity` command, while a real pg_sleep runs through it. JSON is read
// with SQLite's JSON functions.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "tests/integration/pq.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;
using namespace std::chrono_literals;

namespace {

// One value of the session whose application is `app`, as json_extract gives it
// (nullopt: no such session, or SQL NULL).
std::optional<std::string> session_field(const std::string& json, const std::string& app,
                                         const std::string& field) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const std::string sql = "SELECT json_valid(?1), json_extract(value, '$." + field +
                          "') FROM json_each(?1, '$.sessions') "
                          "WHERE json_extract(value, '$.application') = ?2";
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, json.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, app.c_str(), -1, SQLITE_TRANSIENT);
  std::optional<std::string> out;
  if (sqlite3_step(st) == SQLITE_ROW) {
    CHECK_MESSAGE(sqlite3_column_int(st, 0) == 1, "not JSON: " << json);
    if (const auto* t = sqlite3_column_text(st, 1)) out = reinterpret_cast<const char*>(t);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::string activity(const ProxyProcess& proxy) {
  int status = 0;
  std::string body = http_get(proxy.metrics_port(), "/activity", &status);
  REQUIRE_MESSAGE(status == 200, "GET /activity: " << status << " " << body << "\n" << proxy.log());
  return body;
}

// Polls /activity until the session of `app` is in `state` (5 s at most).
std::string await_state(const ProxyProcess& proxy, const std::string& app,
                        const std::string& state) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string body = activity(proxy);
  while (session_field(body, app, "state") != state &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    body = activity(proxy);
  }
  REQUIRE_MESSAGE(session_field(body, app, "state") == state, body);
  return body;
}

}  // namespace

TEST_CASE(
    "/activity and `pglifecycle activity` show a running pg_sleep, idle sessions and no "
    "parameters") {
  ProxyProcess proxy;
  REQUIRE(proxy.metrics_port() > 0);
  Conn idle = connect(
      proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=activity_idle"));
  Conn busy = connect(
      proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=activity_busy"));
  REQUIRE(ok(idle));
  REQUIRE(ok(busy));
  const std::string pid = scalar(busy.get(), "SELECT pg_backend_pid()");

  // A bound parameter the proxy must never show (no --record-parameters).
  const char* values[1] = {"activity-secret-7731"};
  REQUIRE(PQsendQueryParams(busy.get(), "SELECT pg_sleep(1.5), $1::text", 1, nullptr, values,
                            nullptr, nullptr, 0) == 1);
  std::string body = await_state(proxy, "activity_busy", "active");
  CHECK(session_field(body, "activity_busy", "query") == "SELECT pg_sleep(1.5), $1::text");
  CHECK(std::stod(session_field(body, "activity_busy", "query_seconds").value_or("-1")) >= 0);
  CHECK(session_field(body, "activity_busy", "pipeline_depth") == "1");
  CHECK(session_field(body, "activity_busy", "backend_pid") == pid);
  CHECK(session_field(body, "activity_busy", "user") == std::string(kSuperUser));
  CHECK(session_field(body, "activity_busy", "database") == std::string(kTestDatabase));
  CHECK(session_field(body, "activity_idle", "state") == "idle");
  CHECK(session_field(body, "activity_idle", "query_seconds") == std::nullopt);
  CHECK(body.find("activity-secret-7731") == std::string::npos);

  // The command: a table like pg_stat_activity, and the same JSON.
  const std::string listen = "--metrics-listen=127.0.0.1:" + std::to_string(proxy.metrics_port());
  std::string table;
  REQUIRE(run({proxy_binary(), "activity", listen}, &table) == 0);
  CHECK(table.find("activity_busy") != std::string::npos);
  CHECK(table.find("activity_idle") != std::string::npos);
  CHECK(table.find("active") != std::string::npos);
  CHECK(table.find("pg_sleep(1.5)") != std::string::npos);
  CHECK(table.find("activity-secret-7731") == std::string::npos);
  std::string json;
  REQUIRE(run({proxy_binary(), "activity", listen, "--format", "json"}, &json) == 0);
  CHECK(session_field(json, "activity_busy", "state") == "active");

  // Answered: idle again, the last query kept (as pg_stat_activity does), no running time.
  Result r(PQgetResult(busy.get()));
  CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  CHECK(PQgetResult(busy.get()) == nullptr);
  body = await_state(proxy, "activity_busy", "idle");
  CHECK(session_field(body, "activity_busy", "query") == "SELECT pg_sleep(1.5), $1::text");
  CHECK(session_field(body, "activity_busy", "query_seconds") == std::nullopt);

  // Inside a transaction.
  Result begin(PQexec(idle.get(), "BEGIN"));
  CHECK(PQresultStatus(begin.get()) == PGRES_COMMAND_OK);
  await_state(proxy, "activity_idle", "idle in transaction");
  Result bad(PQexec(idle.get(), "SELECT 1/0"));
  await_state(proxy, "activity_idle", "idle in transaction (aborted)");
}

TEST_CASE("`pglifecycle activity` says when no proxy listens there") {
  std::string out;
  CHECK(
      run({proxy_binary(), "activity", "--metrics-listen=127.0.0.1:" + std::to_string(free_port())},
          &out) == 1);
  CHECK(out.find("cannot reach the proxy's metrics listener") != std::string::npos);
  CHECK(run({proxy_binary(), "activity", "--format", "xml"}, &out) == 2);
}
