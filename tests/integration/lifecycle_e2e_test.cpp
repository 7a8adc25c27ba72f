// The tracker end to end: real clients (psql, libpq incl. pipeline mode) through the real
// proxy to the real server, then the rows the proxy wrote to its SQLite store and the
// lines it logged with --log-level debug. Each scenario uses its own application_name so
// that its rows can be picked out.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pq.hpp"
#include "tests/integration/sqlite_rows.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

namespace {

std::string temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pglc_e2e_XXXXXX").string();
  char* d = mkdtemp(tmpl.data());
  REQUIRE(d != nullptr);
  return tmpl;
}

// Executions of one application, in the order they began: kind, status, sqlstate, rows,
// fetches, sql.
Rows executions_of(const std::string& db, const std::string& app) {
  return sqlite_rows(db,
                     "SELECT st.kind, e.status, coalesce(e.sqlstate, ''), e.rows, e.fetches, "
                     "t.sql FROM executions e JOIN statements st ON st.id = e.statement_id "
                     "JOIN sql_texts t ON t.hash = st.sql_hash "
                     "WHERE e.application_name = '" +
                         app + "' ORDER BY e.began_at, st.position, e.id");
}

void exec_ok(PGconn* c, const char* sql) {
  Result r(PQexec(c, sql));
  const auto s = PQresultStatus(r.get());
  REQUIRE_MESSAGE((s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK), PQerrorMessage(c));
}

}  // namespace

TEST_CASE("tracker end to end: psql, libpq simple/extended/pipeline, PREPARE, COPY, cancel") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/lifecycle.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db, "--log-level", "debug"});

  // psql: one Query holding two statements.
  {
    std::string out;
    const int status =
        run({PgServer::shared().bin_dir() + "/psql", "-X", "-At", "-d",
             proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_psql"),
             "-c", "SELECT 1 AS a; SELECT 2 AS b"},
            &out);
    REQUIRE_MESSAGE(status == 0, out);
  }
  // libpq, simple protocol: a failure in the middle of a multi-statement Query.
  {
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_fail"));
    REQUIRE_MESSAGE(ok(c), error(c));
    Result r(PQexec(c.get(), "SELECT 1; SELECT 1/0; SELECT 3"));
    CHECK(sqlstate(r.get()) == "22012");
  }
  // libpq, extended protocol: 250 rows through the unnamed statement.
  {
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_ext"));
    REQUIRE_MESSAGE(ok(c), error(c));
    const char* n[] = {"250"};
    Result r(PQexecParams(c.get(), "SELECT g FROM generate_series(1, $1::int) g", 1, nullptr, n,
                          nullptr, nullptr, 0));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    CHECK(PQntuples(r.get()) == 250);
  }
  // libpq pipeline mode: three queries and one Sync, the second fails.
  {
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_pipe"));
    REQUIRE_MESSAGE(ok(c), error(c));
    PGconn* conn = c.get();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    REQUIRE(PQsendQueryParams(conn, "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQsendQueryParams(conn, "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQsendQueryParams(conn, "SELECT 3", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQpipelineSync(conn));
    const ExecStatusType expected[] = {PGRES_TUPLES_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED};
    for (auto want : expected) {
      Result r(PQgetResult(conn));
      CHECK(PQresultStatus(r.get()) == want);
      CHECK(PQgetResult(conn) == nullptr);
    }
    Result sync(PQgetResult(conn));
    CHECK(PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC);
    REQUIRE(PQexitPipelineMode(conn) == 1);
  }
  // SQL-level PREPARE / EXECUTE / DEALLOCATE, and COPY TO STDOUT.
  {
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_prep"));
    REQUIRE_MESSAGE(ok(c), error(c));
    exec_ok(c.get(), "PREPARE q(int) AS SELECT $1 * 2");
    for (int i = 0; i < 3; ++i) exec_ok(c.get(), ("EXECUTE q(" + std::to_string(i) + ")").c_str());
    exec_ok(c.get(), "DEALLOCATE q");
    Result r(PQexec(c.get(), "COPY (SELECT generate_series(1, 5)) TO STDOUT"));
    REQUIRE(PQresultStatus(r.get()) == PGRES_COPY_OUT);
    char* buf = nullptr;
    int lines = 0;
    while (PQgetCopyData(c.get(), &buf, 0) > 0) {
      ++lines;
      PQfreemem(buf);
    }
    CHECK(lines == 5);
    Result done(PQgetResult(c.get()));
    CHECK(PQresultStatus(done.get()) == PGRES_COMMAND_OK);
  }
  // A cancel while pg_sleep runs.
  {
    const std::string app = "e2e_cancel";
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=" + app));
    REQUIRE_MESSAGE(ok(c), error(c));
    REQUIRE(PQsendQuery(c.get(), "SELECT pg_sleep(30)"));
    Conn direct = connect(PgServer::shared().conninfo());
    REQUIRE_MESSAGE(ok(direct), error(direct));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (scalar(direct.get(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                                    app + "' AND state = 'active'") != "1") {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    PGcancel* cancel = PQgetCancel(c.get());
    char err[256];
    CHECK(PQcancel(cancel, err, sizeof err) == 1);
    PQfreeCancel(cancel);
    Result r(PQgetResult(c.get()));
    CHECK(sqlstate(r.get()) == "57014");
    while (Result more{PQgetResult(c.get())}) {
    }
  }

  REQUIRE(proxy.terminate() == 0);  // a clean stop flushes every queued record
  const std::string log = proxy.log();

  CHECK(executions_of(db, "e2e_psql") ==
        Rows{{"simple_multi", "success", "", "1", "1", "SELECT 1 AS a"},
             {"simple_multi", "success", "", "1", "1", "SELECT 2 AS b"}});
  CHECK(sqlite_rows(db,
                    "SELECT count(DISTINCT received_at), count(*) FROM statements st "
                    "JOIN executions e ON e.statement_id = st.id "
                    "WHERE e.application_name = 'e2e_psql'") == Rows{{"1", "2"}});

  CHECK(executions_of(db, "e2e_fail") ==
        Rows{{"simple_multi", "success", "", "1", "1", "SELECT 1"},
             {"simple_multi", "error", "22012", "0", "1", "SELECT 1/0"},
             {"simple_multi", "aborted", "", "0", "1", "SELECT 3"}});

  CHECK(executions_of(db, "e2e_ext") == Rows{{"extended", "success", "", "250", "1",
                                              "SELECT g FROM generate_series(1, $1::int) g"}});
  CHECK(sqlite_rows(db,
                    "SELECT group_concat(v.event, ',') FROM (SELECT ev.event FROM "
                    "execution_events ev JOIN executions e ON e.id = ev.execution_id WHERE "
                    "e.application_name = 'e2e_ext' ORDER BY ev.occurred_at, "
                    "CASE ev.event WHEN 'received' THEN 0 WHEN 'bound' THEN 1 WHEN 'executed' "
                    "THEN 2 WHEN 'finished' THEN 3 ELSE 4 END) v") ==
        Rows{{"received,bound,executed,finished,delivered"}});

  CHECK(executions_of(db, "e2e_pipe") ==
        Rows{{"extended", "success", "", "1", "1", "SELECT 1"},
             {"extended", "error", "22012", "0", "1", "SELECT 1/0"},
             {"extended", "aborted", "", "0", "1", "SELECT 3"}});

  const Rows prep = executions_of(db, "e2e_prep");
  REQUIRE(prep.size() == 5);
  for (int i = 0; i < 3; ++i) {
    CHECK(prep[i] == std::vector<std::string>{"sql_prepare", "success", "", "1", "1",
                                              "PREPARE q(int) AS SELECT $1 * 2"});
  }
  CHECK(prep[3] == std::vector<std::string>{"simple", "success", "", "0", "1", "DEALLOCATE q"});
  CHECK(prep[4] == std::vector<std::string>{"simple", "success", "", "5", "1",
                                            "COPY (SELECT generate_series(1, 5)) TO STDOUT"});
  CHECK(sqlite_rows(db,
                    "SELECT group_concat(v.event, ',') FROM (SELECT ev.event FROM "
                    "statement_events ev JOIN statements st ON st.id = ev.statement_id "
                    "WHERE st.kind = 'sql_prepare' AND st.name = 'q' "
                    "ORDER BY ev.occurred_at) v") == Rows{{"received,parsed,closed"}});

  const Rows canceled = executions_of(db, "e2e_cancel");
  REQUIRE(canceled.size() == 1);
  CHECK(canceled[0][1] == "canceled");
  CHECK(canceled[0][2] == "57014");

  CHECK(sqlite_rows(db,
                    "SELECT user_name, database_name, backend_pid IS NOT NULL, end_reason "
                    "FROM sessions WHERE application_name = 'e2e_ext'") ==
        Rows{{std::string(kSuperUser), std::string(kTestDatabase), "1", "client_terminate"}});

  // The debug log shows every finished execution.
  CHECK(log.find("execution kind=simple_multi status=error sqlstate=22012") != std::string::npos);
  CHECK(log.find("execution kind=extended status=success sqlstate= rows=250 fetches=1") !=
        std::string::npos);
  CHECK(log.find("kind=simple status=canceled sqlstate=57014") != std::string::npos);

  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(dir);
}

namespace {

struct Phases {
  double parse_ms = -1, bind_ms = -1, execute_ms = -1;  // -1: NULL in the view
  std::string timing;                                   // the execution's and statement's
  double parsed_raw_ms = -1, bound_raw_ms = -1;         // from the event columns
};

// The proxy's phases of the one execution of `marker`'s statement.
Phases proxy_phases(const std::string& db, const std::string& marker) {
  Rows r = sqlite_rows(db,
                       "SELECT coalesce(ss.parse_ms, -1), coalesce(es.bind_ms, -1), "
                       "es.execute_ms, es.timing || '/' || ss.timing, "
                       "(ss.parsed_at - ss.received_at) / 1000.0, "
                       "(es.bound_at - es.began_at) / 1000.0 FROM execution_summary es "
                       "JOIN statement_summary ss ON ss.statement_id = es.statement_id "
                       "WHERE es.sql LIKE '%" +
                           marker + "%'");
  REQUIRE_MESSAGE(r.size() == 1, marker);
  return Phases{std::stod(r[0][0]), std::stod(r[0][1]), std::stod(r[0][2]), r[0][3],
                std::stod(r[0][4]), std::stod(r[0][5])};
}

// The server's own durations (log_min_duration_statement = 0) of `marker`'s statement.
Phases server_phases(const std::string& log, const std::string& marker) {
  Phases p;
  std::regex line("duration: ([0-9.]+) ms  (parse|bind|execute) <unnamed>[^\n]*" + marker);
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    const double ms = std::stod((*it)[1]);
    const std::string phase = (*it)[2];
    (phase == "parse" ? p.parse_ms : phase == "bind" ? p.bind_ms : p.execute_ms) = ms;
  }
  return p;
}

}  // namespace

TEST_CASE("precise phase timing: a slow plan shows in bind, a slow run in execute") {
  PgServer& server = PgServer::shared();
  // An immutable call with constant arguments is folded by the planner, which for the
  // unnamed statement runs at Bind.
  server.exec(
      "CREATE OR REPLACE FUNCTION pglc_slow_fold(int) RETURNS int IMMUTABLE LANGUAGE plpgsql "
      "AS $$BEGIN PERFORM pg_sleep(0.2); RETURN $1; END$$");
  const std::string dir = temp_dir();
  // Each text is new to its session: --phase-timing sampled (the default) times them
  // precisely too.
  for (std::string mode : {"precise", "sampled", "passive"}) {
    CAPTURE(mode);
    const std::string db = dir + "/" + mode + ".db";
    ProxyProcess proxy({"--storage", "sqlite:" + db, "--phase-timing", mode});
    {
      Conn c = connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword,
                                      "application_name=e2e_phase "
                                      "options='-c log_min_duration_statement=0'"));
      REQUIRE_MESSAGE(ok(c), error(c));
      const std::string plan = "SELECT pglc_slow_fold(1) /* slow plan " + mode + " */";
      const std::string run = "SELECT pg_sleep(0.2) /* slow run " + mode + " */";
      for (const auto& sql : {plan, run}) {
        Result r(PQexecParams(c.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
        REQUIRE_MESSAGE(PQresultStatus(r.get()) == PGRES_TUPLES_OK, PQerrorMessage(c.get()));
      }
    }
    REQUIRE(proxy.terminate() == 0);
    const Phases plan = proxy_phases(db, "slow plan " + mode);
    const Phases run = proxy_phases(db, "slow run " + mode);
    CAPTURE(plan.parse_ms);
    CAPTURE(plan.bind_ms);
    CAPTURE(plan.execute_ms);
    CAPTURE(run.bind_ms);
    CAPTURE(run.execute_ms);
    CAPTURE(plan.timing);
    if (mode != "passive") {
      CHECK(plan.timing == "precise/precise");
      CHECK(run.timing == "precise/precise");
      CHECK(plan.bind_ms >= 195);
      CHECK(run.execute_ms >= 195);
      CHECK(run.execute_ms >= 195);
      // Each answer is flushed as soon as it exists: the phases are the server's.
      CHECK(plan.parse_ms < 150);
      CHECK(plan.execute_ms < 150);
      CHECK(run.bind_ms < 150);
      // The server's own durations fit inside the proxy's phases (which also hold the
      // network and the proxy). A phase starts when the proxy READ the previous answer;
      // the server starts the next step as soon as it has WRITTEN it, so the server's
      // clock may start up to one proxy wake-up earlier: allow kWakeupMs for that (a loaded
      // 2-core machine has delayed that wake-up by more than 2 ms).
      const Phases srv_plan = server_phases(server.log(), "slow plan " + mode);
      const Phases srv_run = server_phases(server.log(), "slow run " + mode);
      REQUIRE(srv_plan.bind_ms >= 0);
      REQUIRE(srv_run.execute_ms >= 0);
      CHECK(srv_plan.bind_ms >= 195);
      CHECK(srv_run.execute_ms >= 195);
      constexpr double kWakeupMs = 10.0;
      CHECK(srv_plan.parse_ms <= plan.parse_ms + kWakeupMs);
      CHECK(srv_plan.bind_ms <= plan.bind_ms + kWakeupMs);
      CHECK(srv_run.execute_ms <= run.execute_ms + kWakeupMs);
    } else {
      // Without the Flushes the server holds ParseComplete until Sync: `parsed` only
      // marks the packet that also carried the slow Bind's answer; likewise BindComplete
      // arrives with the slow run's result. The rows say so, and the views leave parse
      // and bind out; execute_ms starts at the Bind.
      CHECK(plan.timing == "passive/passive");
      CHECK(plan.parsed_raw_ms >= 195);
      CHECK(run.bound_raw_ms >= 195);
      CHECK(plan.parse_ms == -1);
      CHECK(plan.bind_ms == -1);
      CHECK(run.bind_ms == -1);
      CHECK(plan.execute_ms >= 195);
      CHECK(run.execute_ms >= 195);
    }
  }
  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(dir);
}

TEST_CASE("session phases: a TLS + SCRAM login has every phase in order; a failed one no ready") {
  PgServer& server = PgServer::shared();
  const std::string dir = temp_dir();
  const std::string db = dir + "/phases.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db, "--tls-cert", server.server_cert(), "--tls-key",
                      server.server_key()});
  const auto before = std::chrono::steady_clock::now();
  {
    Conn c = connect(proxy.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                    "sslmode=require application_name=e2e_phases_ok"));
    REQUIRE_MESSAGE(ok(c), error(c));
  }
  // The client's own view of its connect: from before the call until it returned.
  const double client_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - before).count();
  {
    Conn bad = connect(proxy.conninfo(kTestDatabase, kScramUser, "wrong-password",
                                      "sslmode=require application_name=e2e_phases_bad"));
    REQUIRE_FALSE(ok(bad));
  }
  // The failed session is observed once the proxy has seen it end: wait for that.
  std::string metrics;
  for (int i = 0; i < 500; ++i) {
    metrics = http_get(proxy.metrics_port(), "/metrics");
    if (metrics.find("pglifecycle_connect_duration_seconds_count{phase=\"tls\"} 2") !=
        std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(proxy.terminate() == 0);

  const Rows good = sqlite_rows(
      db,
      "SELECT event FROM session_events e JOIN sessions s ON s.id = e.session_id "
      "WHERE s.application_name = 'e2e_phases_ok' ORDER BY occurred_at, CASE event "
      "WHEN 'accepted' THEN 0 WHEN 'tls_established' THEN 1 WHEN 'startup_received' THEN 2 "
      "WHEN 'backend_connected' THEN 3 WHEN 'authenticated' THEN 4 WHEN 'ready' THEN 5 ELSE 6 END");
  Rows want = {{"accepted"},
               {"tls_established"},
               {"startup_received"},
               {"backend_connected"},
               {"authenticated"},
               {"ready"},
               {"closed"}};
  CHECK(good == want);
  // In time order too: the ORDER BY's tie-break above only orders equal microseconds.
  const Rows ordered = sqlite_rows(
      db,
      "SELECT connected_at <= tls_established_at AND tls_established_at <= startup_received_at "
      "AND startup_received_at <= backend_connected_at AND backend_connected_at <= "
      "authenticated_at AND authenticated_at <= ready_at AND ready_at <= disconnected_at "
      "FROM sessions WHERE application_name = 'e2e_phases_ok'");
  CHECK(ordered == Rows{{"1"}});
  const Rows summary =
      sqlite_rows(db,
                  "SELECT tls_ms, startup_ms, backend_ms, auth_ms, connect_ms, end_reason FROM "
                  "session_summary WHERE application_name = 'e2e_phases_ok'");
  REQUIRE(summary.size() == 1);
  const double tls_ms = std::stod(summary[0][0]), startup_ms = std::stod(summary[0][1]),
               backend_ms = std::stod(summary[0][2]), auth_ms = std::stod(summary[0][3]),
               connect_ms = std::stod(summary[0][4]);
  CAPTURE(client_ms);
  CAPTURE(auth_ms);
  CAPTURE(connect_ms);
  CHECK(tls_ms > 0);
  CHECK(auth_ms > 0);  // SCRAM's round trips between the client and the server
  CHECK(connect_ms >= tls_ms + startup_ms + backend_ms + auth_ms - 0.01);
  CHECK(connect_ms <= client_ms);  // the proxy's connect lies inside the client's
  CHECK(summary[0][5] == "client_terminate");

  const Rows bad = sqlite_rows(
      db,
      "SELECT end_reason, ready_at IS NULL, authenticated_at IS NULL, startup_received_at IS NOT "
      "NULL, backend_connected_at IS NOT NULL, connect_ms IS NULL FROM session_summary "
      "WHERE application_name = 'e2e_phases_bad'");
  CHECK(bad == Rows{{"auth_failed", "1", "1", "1", "1", "1"}});

  // Both sessions were observed: the phases each reached (the failed one no auth, no total).
  for (const std::string phase : {"tls", "startup", "backend"}) {
    CAPTURE(phase);
    CHECK(metrics.find("pglifecycle_connect_duration_seconds_count{phase=\"" + phase + "\"} 2") !=
          std::string::npos);
  }
  for (const std::string phase : {"auth", "total"}) {
    CAPTURE(phase);
    CHECK(metrics.find("pglifecycle_connect_duration_seconds_count{phase=\"" + phase + "\"} 1") !=
          std::string::npos);
  }
  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(dir);
}

TEST_CASE("--log-min-duration logs slow executions whatever the level; --log-format json") {
  const std::string dir = temp_dir();
  for (const std::string format : {"text", "json"}) {
    CAPTURE(format);
    const std::string log = dir + "/" + format + ".log";
    ProxyProcess proxy({"--storage", "none", "--log-level", "error", "--log-min-duration", "40ms",
                        "--log-format", format, "--log-file", log});
    {
      Conn c = connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword,
                                      "application_name=e2e_slowlog"));
      REQUIRE_MESSAGE(ok(c), error(c));
      for (const char* sql : {"SELECT pg_sleep(0.06) /* slow one */", "SELECT 1 /* fast */"}) {
        Result r(PQexec(c.get(), sql));
        REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
      }
    }
    REQUIRE(proxy.terminate() == 0);
    std::ifstream in(log);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    // --log-level error: the slow execution is the only line (no "listening on", no close).
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("slow execution kind=simple status=success") != std::string::npos);
    CHECK(lines[0].find("app=e2e_slowlog sql=SELECT pg_sleep(0.06) /* slow one */") !=
          std::string::npos);
    const auto total = lines[0].find("total_ms=");
    REQUIRE(total != std::string::npos);
    CHECK(std::stod(lines[0].substr(total + 9)) >= 60);
    if (format == "json") {
      const Rows r = sqlite_rows(
          ":memory:", "SELECT json_valid('" + lines[0] + "'), json_extract('" + lines[0] +
                          "', '$.level'), json_type('" + lines[0] +
                          "', '$.ts'), substr(json_extract('" + lines[0] + "', '$.msg'), 1, 15)");
      CHECK(r == Rows{{"1", "info", "text", "slow execution "}});
    } else {
      CHECK(lines[0].find("Z info slow execution ") != std::string::npos);
    }
  }
  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(dir);
}

TEST_CASE(
    "statement classes through the proxy: types from the parse tree, a pool reset is driver") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/classes.db";
  {
    ProxyProcess proxy({"--storage", "sqlite:" + db});
    std::string out;
    // psql's own \d query is the user's; DISCARD ALL is what pools send on their own.
    REQUIRE(run({PgServer::shared().bin_dir() + "/psql", "-X", "-At", "-d",
                 proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword,
                                "application_name=e2e_classes"),
                 "-c", "SELECT 1 /* classes */", "-c", "SET work_mem = '8MB'", "-c", "DISCARD ALL",
                 "-c", "\\dt pg_class"},
                &out) == 0);
    REQUIRE(proxy.terminate() == 0);
  }
  const Rows r = sqlite_rows(db,
                             "SELECT statement_type, origin, count(*) FROM execution_summary "
                             "WHERE application_name = 'e2e_classes' GROUP BY 1, 2 ORDER BY 1, 2");
  CHECK(r == Rows{{"discard", "driver", "1"},
                  {"select", "application", "2"},
                  {"set", "application", "1"}});
  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(dir);
}
