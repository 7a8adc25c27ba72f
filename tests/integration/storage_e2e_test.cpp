// The store after real traffic through the real proxy: psql and libpq (simple,
// multi-statement, PREPARE/EXECUTE, extended, pipeline mode with an error), then SIGTERM,
// then every table and view read back — for the SQLite store and the PostgreSQL store.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pq.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

namespace {

void exec_ok(PGconn* c, const char* sql, ExecStatusType expected = PGRES_TUPLES_OK) {
  Result r(PQexec(c, sql));
  CHECK_MESSAGE(PQresultStatus(r.get()) == expected, sql, ": ", PQresultErrorMessage(r.get()));
}

// The traffic whose records the checks below expect, exactly.
void drive(const ProxyProcess& proxy) {
  {  // Session "e2e_simple": simple, simple_multi, sql_prepare, an error.
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_simple"));
    REQUIRE_MESSAGE(ok(c), error(c));
    exec_ok(c.get(), "SELECT 1");
    exec_ok(c.get(), "SELECT 1 AS a; SELECT 2 AS b");
    exec_ok(c.get(), "PREPARE q AS SELECT $1::int + 1", PGRES_COMMAND_OK);
    exec_ok(c.get(), "EXECUTE q(1)");
    exec_ok(c.get(), "EXECUTE q(41)");
    exec_ok(c.get(), "SELECT 1/0", PGRES_FATAL_ERROR);
  }
  {  // Session "e2e_extended": unnamed and named statements, then a pipeline with an error.
    Conn c = connect(
        proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=e2e_extended"));
    REQUIRE_MESSAGE(ok(c), error(c));
    PGconn* conn = c.get();
    const char* p21[] = {"21"};
    Result r(PQexecParams(conn, "SELECT $1::int * 2", 1, nullptr, p21, nullptr, nullptr, 0));
    CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    Result prep(PQprepare(conn, "p", "SELECT $1::text || 'x'", 1, nullptr));
    CHECK(PQresultStatus(prep.get()) == PGRES_COMMAND_OK);
    const char* a[] = {"a"};
    for (int i = 0; i < 2; ++i) {
      Result x(PQexecPrepared(conn, "p", 1, a, nullptr, nullptr, 0));
      CHECK(PQresultStatus(x.get()) == PGRES_TUPLES_OK);
    }
    REQUIRE(PQenterPipelineMode(conn) == 1);
    const char* one[] = {"1"};
    REQUIRE(PQsendQueryParams(conn, "SELECT $1::int + 1", 1, nullptr, one, nullptr, nullptr, 0));
    REQUIRE(PQsendQueryParams(conn, "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQsendQueryParams(conn, "SELECT 2", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQpipelineSync(conn));
    std::vector<ExecStatusType> got;
    for (int i = 0; i < 3; ++i) {
      Result x(PQgetResult(conn));
      got.push_back(PQresultStatus(x.get()));
      while (PGresult* more = PQgetResult(conn)) PQclear(more);
    }
    Result sync(PQgetResult(conn));
    CHECK(PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC);
    CHECK(got == std::vector{PGRES_TUPLES_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED});
    CHECK(PQexitPipelineMode(conn) == 1);
  }
  // Session "psql".
  std::string out;
  CHECK(run({PgServer::shared().bin_dir() + "/psql", "-X", "-At", "-d", proxy.conninfo(), "-c",
             "SELECT 42"},
            &out) == 0);
  CHECK(out == "42\n");
}

void check_store(StoreReader& db) {
  // sessions: three, all closed by the client, attributed to this proxy.
  Rows r = db.query(
      "SELECT application_name, user_name, database_name, end_reason, "
      "disconnected_at IS NOT NULL, backend_pid IS NOT NULL, proxy_instance <> '' "
      "FROM sessions ORDER BY application_name");
  const Cell yes = db.is_pg() ? Cell("t") : Cell("1");
  REQUIRE(r.size() == 3);
  CHECK(r[0] == Row{"e2e_extended", "postgres", "pglc_test", "client_terminate", yes, yes, yes});
  CHECK(r[1] == Row{"e2e_simple", "postgres", "pglc_test", "client_terminate", yes, yes, yes});
  CHECK(r[2] == Row{"psql", "postgres", "pglc_test", "client_terminate", yes, yes, yes});

  // statements per session, in order, with their kind, name and position.
  r = db.query(
      "SELECT s.application_name, st.kind, st.name, st.position, t.sql "
      "FROM statements st JOIN sessions s ON s.id = st.session_id "
      "JOIN sql_texts t ON t.hash = st.sql_hash ORDER BY s.application_name, st.received_at, "
      "st.position, st.id");  // pipelined messages read at once share received_at
  CHECK(r == Rows{{"e2e_extended", "extended", "", "0", "SELECT $1::int * 2"},
                  {"e2e_extended", "extended", "p", "0", "SELECT $1::text || 'x'"},
                  {"e2e_extended", "extended", "", "0", "SELECT $1::int + 1"},
                  {"e2e_extended", "extended", "", "0", "SELECT 1/0"},
                  {"e2e_extended", "extended", "", "0", "SELECT 2"},
                  {"e2e_simple", "simple", "", "0", "SELECT 1"},
                  {"e2e_simple", "simple_multi", "", "0", "SELECT 1 AS a"},
                  {"e2e_simple", "simple_multi", "", "1", "SELECT 2 AS b"},
                  {"e2e_simple", "sql_prepare", "q", "0", "PREPARE q AS SELECT $1::int + 1"},
                  {"e2e_simple", "simple", "", "0", "SELECT 1/0"},
                  {"psql", "simple", "", "0", "SELECT 42"}});
  // "SELECT 1/0" is one text for both sessions.
  CHECK(db.count("sql_texts") == 10);
  CHECK(db.count("sql_texts WHERE normalized_sql IS NOT NULL AND fingerprint IS NOT NULL") == 10);

  // executions in order, with status, rows and tags, as the views show them.
  r = db.query(
      "SELECT application_name, kind, status, sqlstate, rows, command_tag, sql "
      "FROM execution_summary ORDER BY application_name, began_at, position, statement_id");
  CHECK(
      r ==
      Rows{
          {"e2e_extended", "extended", "success", std::nullopt, "1", "SELECT 1",
           "SELECT $1::int * 2"},
          {"e2e_extended", "extended", "success", std::nullopt, "1", "SELECT 1",
           "SELECT $1::text || 'x'"},
          {"e2e_extended", "extended", "success", std::nullopt, "1", "SELECT 1",
           "SELECT $1::text || 'x'"},
          {"e2e_extended", "extended", "success", std::nullopt, "1", "SELECT 1",
           "SELECT $1::int + 1"},
          {"e2e_extended", "extended", "error", "22012", "0", std::nullopt, "SELECT 1/0"},
          {"e2e_extended", "extended", "aborted", std::nullopt, "0", std::nullopt, "SELECT 2"},
          {"e2e_simple", "simple", "success", std::nullopt, "1", "SELECT 1", "SELECT 1"},
          {"e2e_simple", "simple_multi", "success", std::nullopt, "1", "SELECT 1", "SELECT 1 AS a"},
          {"e2e_simple", "simple_multi", "success", std::nullopt, "1", "SELECT 1", "SELECT 2 AS b"},
          {"e2e_simple", "sql_prepare", "success", std::nullopt, "1", "SELECT 1",
           "PREPARE q AS SELECT $1::int + 1"},
          {"e2e_simple", "sql_prepare", "success", std::nullopt, "1", "SELECT 1",
           "PREPARE q AS SELECT $1::int + 1"},
          {"e2e_simple", "simple", "error", "22012", "0", std::nullopt, "SELECT 1/0"},
          {"psql", "simple", "success", std::nullopt, "1", "SELECT 1", "SELECT 42"},
      });

  // Events: every finished execution has received ≤ executed ≤ finished ≤ delivered,
  // extended ones a bound event; the aborted one only its received.
  CHECK(db.count("execution_summary WHERE status <> 'aborted' AND NOT (first_row_ms >= 0 AND "
                 "first_row_ms <= total_ms AND deliver_ms >= 0)") == 0);
  CHECK(db.count("execution_summary WHERE status = 'success' AND kind = 'extended' AND "
                 "NOT (bind_ms >= 0 AND bind_ms <= first_row_ms)") == 0);
  CHECK(db.count("execution_events e JOIN executions x ON x.id = e.execution_id "
                 "WHERE x.status = 'aborted'") == 1);
  CHECK(db.count("execution_events") == 4 * 12 + 4 /* bound */ + 1);
  // Statement events: received for all; parsed for the PREPARE and the extended ones
  // the server parsed — not "SELECT 2", whose Parse it skipped after the error.
  CHECK(db.count("statement_events WHERE event = 'received'") == 11);
  CHECK(db.count("statement_events WHERE event = 'parsed'") == 5);
  CHECK(db.count("statement_summary WHERE parse_ms >= 0") == 5);
  CHECK(db.value("SELECT parse_ms FROM statement_summary WHERE sql = 'SELECT 2'") == std::nullopt);
  CHECK(db.value("SELECT executions FROM statement_summary WHERE name = 'p'") == "2");

  // The aggregate views.
  // calls are the executions that ran; the aborted one counts apart.
  r = db.query("SELECT sum(calls), sum(errors), sum(aborted) FROM query_stats");
  CHECK(r == Rows{{"12", "2", "1"}});
  r = db.query("SELECT sqlstate, count, last_message FROM error_stats");
  CHECK(r == Rows{{"22012", "2", "division by zero"}});
  // Fingerprints ignore constants and aliases: SELECT 1, 42, 2, 1 AS a, 2 AS b are one.
  CHECK(db.count("query_stats") == 6);
  // Five of them, one aborted by the pipeline's error.
  CHECK(db.query("SELECT calls, aborted FROM query_stats WHERE normalized_sql = 'SELECT $1'") ==
        Rows{{"4", "1"}});
  // Percentiles come from the histograms: within 1 % of the exact values.
  CHECK(db.count("query_stats WHERE p50_ms <= p95_ms AND p95_ms <= p99_ms AND "
                 "p99_ms <= max_ms * 1.01") == 6);
}

void run_store(const std::string& storage, StoreReader* (*open_reader)(const std::string&),
               const std::string& reader_arg) {
  ProxyProcess proxy({"--storage", storage, "--instance-name", "e2e-proxy"});
  drive(proxy);
  REQUIRE_MESSAGE(sessions_closed(proxy), "the proxy still has open client sessions");
  CHECK(proxy.terminate() == 0);
  std::unique_ptr<StoreReader> db(open_reader(reader_arg));
  check_store(*db);
  CHECK(db->count("sessions WHERE proxy_instance = 'e2e-proxy'") == 3);
}

StoreReader* sqlite_reader(const std::string& path) {
  return new SqliteReader(path);
}
StoreReader* pg_reader(const std::string& conninfo) {
  return new PgReader(conninfo);
}

// N executions, the connection closed, SIGTERM at once: all N are in the store.
void check_nothing_lost(const std::string& storage, StoreReader* (*open_reader)(const std::string&),
                        const std::string& reader_arg) {
  constexpr int kN = 3000;
  ProxyProcess proxy({"--storage", storage});
  {
    Conn c = connect(proxy.conninfo());
    REQUIRE_MESSAGE(ok(c), error(c));
    PGconn* conn = c.get();
    REQUIRE(PQenterPipelineMode(conn) == 1);
    for (int i = 0; i < kN; ++i) {
      const std::string v = std::to_string(i);
      const char* p[] = {v.c_str()};
      REQUIRE(PQsendQueryParams(conn, "SELECT $1::int", 1, nullptr, p, nullptr, nullptr, 0));
      if (i % 500 == 499) REQUIRE(PQpipelineSync(conn));
    }
    REQUIRE(PQpipelineSync(conn));
    int results = 0;
    int syncs = 0;
    while (syncs < kN / 500 + 1) {
      PGresult* r = PQgetResult(conn);
      if (!r) {
        // Between two queries' results; a broken connection would loop here forever.
        REQUIRE(PQstatus(conn) == CONNECTION_OK);
        continue;
      }
      if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) ++syncs;
      if (PQresultStatus(r) == PGRES_TUPLES_OK) ++results;
      PQclear(r);
    }
    CHECK(results == kN);
  }
  REQUIRE_MESSAGE(sessions_closed(proxy), "the proxy still has open client sessions");
  CHECK(proxy.terminate() == 0);
  std::unique_ptr<StoreReader> db(open_reader(reader_arg));
  CHECK(db->count("executions WHERE status = 'success'") == kN);
  CHECK(db->count("sessions WHERE end_reason IS NOT NULL") == 1);
}

}  // namespace

TEST_CASE("SQLite store after real psql and libpq traffic, then SIGTERM") {
  const std::string dir = make_temp_dir("pglc-e2e-store");
  REQUIRE(!dir.empty());
  run_store("sqlite:" + dir + "/e2e.db", sqlite_reader, dir + "/e2e.db");
  if (!getenv("KEEP")) std::filesystem::remove_all(dir);
}

TEST_CASE("PostgreSQL store after real psql and libpq traffic, then SIGTERM") {
  const std::string conninfo = fresh_store_uri("pglc_e2e_store");
  run_store(conninfo, pg_reader, conninfo);
}

TEST_CASE("SIGTERM right after the traffic loses no record (both stores)") {
  const std::string dir = make_temp_dir("pglc-e2e-store");
  REQUIRE(!dir.empty());
  check_nothing_lost("sqlite:" + dir + "/lost.db", sqlite_reader, dir + "/lost.db");
  std::filesystem::remove_all(dir);
  const std::string conninfo = fresh_store_uri("pglc_e2e_lost");
  check_nothing_lost(conninfo, pg_reader, conninfo);
}
