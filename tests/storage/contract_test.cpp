// The schema contract of DESIGN §3: feed one realistic session into each store, stop,
// and read every table and view back with the store's own client library.
#include <doctest/doctest.h>

#include "storage/recorder.hpp"
#include "tests/storage/scenario.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/storage/store_setup.hpp"

using namespace pglc;
using namespace pglc::test;

namespace {

void check_tables(StoreReader& db, const Scenario& s) {
  const auto t0 = s.t0;
  // sessions: one row, opened then upserted by the close.
  Rows r = db.query("SELECT id, proxy_instance, " + db.us("connected_at") + ", " +
                    db.us("disconnected_at") +
                    ", client_addr, client_port, backend_addr, backend_pid, user_name, "
                    "database_name, application_name, end_reason FROM sessions");
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == db.id_value(s.session.id));
  CHECK(r[0][1] == "proxy-a:6432");
  CHECK(integer(r[0][2]) == t0);
  CHECK(integer(r[0][3]) == t0 + 100000);
  CHECK(r[0][4] == "10.1.2.3");
  CHECK(r[0][5] == "51000");
  CHECK(r[0][6] == "127.0.0.1:5432");
  CHECK(r[0][7] == "4242");
  CHECK(r[0][8] == "alice");
  CHECK(r[0][9] == "sales");
  CHECK(r[0][10] == "PowerBI Desktop (mashup)");
  CHECK(r[0][11] == "client_terminate");
  CHECK(db.value("SELECT CASE WHEN client_tls THEN 'yes' ELSE 'no' END || '/' || "
                 "CASE WHEN backend_tls THEN 'yes' ELSE 'no' END FROM sessions") == "yes/no");

  // sql_texts: deduplicated (st1 and st2a share "SELECT 1").
  r = db.query("SELECT hash, sql, normalized_sql, fingerprint FROM sql_texts ORDER BY hash");
  REQUIRE(r.size() == 5);
  CHECK(r[0] == Row{"h1", "SELECT 1", "SELECT $1", "fp1"});
  CHECK(r[1] == Row{"h2", "SELECT 2", "SELECT $1", "fp1"});
  CHECK(r[3] == Row{"h4", "SELECT * FROM orders WHERE id = $1",
                    "SELECT * FROM orders WHERE id = $1", "fp4"});
  CHECK(r[4] == Row{"h5", "SELEC oops", std::nullopt, std::nullopt});

  // statements
  r = db.query("SELECT id, session_id, kind, name, position, sql_hash, param_types, " +
               db.us("received_at") + " FROM statements ORDER BY received_at, position");
  REQUIRE(r.size() == 6);
  CHECK(r[0] == Row{db.id_value(s.st1.id), db.id_value(s.session.id), "simple", "", "0", "h1",
                    std::nullopt, std::to_string(t0 + 1000)});
  CHECK(r[1] == Row{db.id_value(s.st2a.id), db.id_value(s.session.id), "simple_multi", "", "0",
                    "h1", std::nullopt, std::to_string(t0 + 10000)});
  CHECK(r[2] == Row{db.id_value(s.st2b.id), db.id_value(s.session.id), "simple_multi", "", "1",
                    "h2", std::nullopt, std::to_string(t0 + 10000)});
  CHECK(r[3] == Row{db.id_value(s.st3.id), db.id_value(s.session.id), "sql_prepare", "q", "0", "h3",
                    std::nullopt, std::to_string(t0 + 20000)});
  CHECK(r[4] == Row{db.id_value(s.st4.id), db.id_value(s.session.id), "extended", "s1", "0", "h4",
                    "{23}", std::to_string(t0 + 30000)});
  CHECK(r[5][0] == db.id_value(s.st5.id));

  // statement_events: a received per statement plus parsed/described/closed.
  CHECK(db.count("statement_events") == 10);
  CHECK(db.count("statement_events WHERE event = 'received'") == 6);
  r = db.query("SELECT event, " + db.us("occurred_at") +
               " FROM statement_events WHERE statement_id = " + db.id(s.st4.id) +
               " ORDER BY occurred_at");
  CHECK(r == Rows{{"received", std::to_string(t0 + 30000)},
                  {"parsed", std::to_string(t0 + 30250)},
                  {"described", std::to_string(t0 + 30300)},
                  {"closed", std::to_string(t0 + 90000)}});

  // executions
  CHECK(db.count("executions") == 9);
  r = db.query("SELECT statement_id, session_id, portal, params, " + db.us("began_at") + ", " +
               db.us("finished_at") +
               ", status, sqlstate, error_message, command_tag, rows, result_bytes, fetches, "
               "sample_rate, application_name FROM executions WHERE id = " +
               db.id(s.ex4a.id));
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == db.id_value(s.st4.id));
  CHECK(r[0][1] == db.id_value(s.session.id));
  CHECK(r[0][2] == "");
  CHECK(r[0][3] == std::nullopt);
  CHECK(integer(r[0][4]) == t0 + 60000);
  CHECK(integer(r[0][5]) == t0 + 65000);
  CHECK(r[0][6] == "success");
  CHECK(r[0][7] == std::nullopt);
  CHECK(r[0][8] == std::nullopt);
  CHECK(r[0][9] == "SELECT 3");
  CHECK(r[0][10] == "3");
  CHECK(r[0][11] == "300");
  CHECK(r[0][12] == "1");
  CHECK(num(r[0][13]) == 1.0);
  CHECK(r[0][14] == "PowerBI Desktop");
  r = db.query("SELECT status, sqlstate, error_message, " + db.us("finished_at") +
               " FROM executions WHERE id IN (" + db.id(s.ex4b.id) + ", " + db.id(s.ex4c.id) +
               ") ORDER BY began_at");
  CHECK(r == Rows{{"error", "22P02", "invalid input syntax for type integer: \"x\"",
                   std::to_string(t0 + 70900)},
                  {"aborted", std::nullopt, std::nullopt, std::nullopt}});
  CHECK(db.count("executions WHERE statement_id = " + db.id(s.st3.id)) == 2);

  // execution_events: every event of every execution, in order.
  CHECK(db.count("execution_events") == 35);
  r = db.query("SELECT event, " + db.us("occurred_at") +
               " FROM execution_events WHERE execution_id = " + db.id(s.ex4a.id) +
               " ORDER BY occurred_at");
  CHECK(r == Rows{{"received", std::to_string(t0 + 60000)},
                  {"bound", std::to_string(t0 + 60200)},
                  {"executed", std::to_string(t0 + 61000)},
                  {"finished", std::to_string(t0 + 65000)},
                  {"delivered", std::to_string(t0 + 65500)}});
  CHECK(db.count("execution_events WHERE execution_id = " + db.id(s.ex4c.id)) == 1);

  // rollups per application count what the raw rows hold, one row per execution.
  CHECK(db.query("SELECT application_name, sum(calls) FROM rollups GROUP BY 1 ORDER BY 1") ==
        db.query("SELECT application_name, count(*) FROM executions GROUP BY 1 ORDER BY 1"));

  // schema_migrations
  CHECK(integer(db.value("SELECT max(version) FROM schema_migrations")) ==
        storage::schema_version());
  // Descriptions are bound, not pasted: version 13's apostrophe is stored as written.
  CHECK(db.value("SELECT description FROM schema_migrations WHERE version = 13") ==
        "the minute index covers the rollups' counts: time ranges read no histograms");
}

void check_views(StoreReader& db, const Scenario& s) {
  // execution_summary: phase durations of the extended success.
  Rows r = db.query(
      "SELECT user_name, database_name, application_name, kind, statement_name, sql, "
      "fingerprint, status, rows, bind_ms, first_row_ms, execute_ms, total_ms, deliver_ms, " +
      db.us("began_at") + " FROM execution_summary WHERE execution_id = " + db.id(s.ex4a.id));
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == "alice");
  CHECK(r[0][1] == "sales");
  CHECK(r[0][2] == "PowerBI Desktop");  // in force when it began, not the session's last
  CHECK(r[0][3] == "extended");
  CHECK(r[0][4] == "s1");
  CHECK(r[0][5] == "SELECT * FROM orders WHERE id = $1");
  CHECK(r[0][6] == "fp4");
  CHECK(r[0][7] == "success");
  CHECK(r[0][8] == "3");
  CHECK(ms_eq(r[0][9], 0.2));
  CHECK(ms_eq(r[0][10], 1.0));
  CHECK(ms_eq(r[0][11], 4.8));
  CHECK(ms_eq(r[0][12], 5.0));
  CHECK(ms_eq(r[0][13], 0.5));
  CHECK(integer(r[0][14]) == s.t0 + 60000);

  // A simple query has no bind: execute_ms runs from received.
  r = db.query(
      "SELECT bind_ms, first_row_ms, execute_ms, total_ms, deliver_ms, kind "
      "FROM execution_summary WHERE execution_id = " +
      db.id(s.ex1.id));
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == std::nullopt);
  CHECK(ms_eq(r[0][1], 1.5));
  CHECK(ms_eq(r[0][2], 2.0));
  CHECK(ms_eq(r[0][3], 2.0));
  CHECK(ms_eq(r[0][4], 0.1));
  CHECK(r[0][5] == "simple");
  // Aborted: no finish, so no total.
  r = db.query(
      "SELECT status, total_ms, first_row_ms FROM execution_summary "
      "WHERE execution_id = " +
      db.id(s.ex4c.id));
  CHECK(r == Rows{{"aborted", std::nullopt, std::nullopt}});
  CHECK(db.count("execution_summary") == 9);

  // statement_summary
  r = db.query(
      "SELECT kind, name, parse_ms, executions, errors, application_name "
      "FROM statement_summary WHERE statement_id = " +
      db.id(s.st4.id));
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == "extended");
  CHECK(r[0][1] == "s1");
  CHECK(ms_eq(r[0][2], 0.25));
  CHECK(r[0][3] == "3");
  CHECK(r[0][4] == "1");
  CHECK(r[0][5] == "PowerBI Desktop (mashup)");
  r = db.query("SELECT parse_ms, executions FROM statement_summary WHERE statement_id = " +
               db.id(s.st3.id));
  REQUIRE(r.size() == 1);
  CHECK(ms_eq(r[0][0], 0.4));
  CHECK(r[0][1] == "2");
  CHECK(db.value("SELECT parse_ms FROM statement_summary WHERE statement_id = " +
                 db.id(s.st1.id)) == std::nullopt);
  CHECK(db.count("statement_summary") == 6);

  // query_stats: per fingerprint, user, database.
  r = db.query(
      "SELECT fingerprint, normalized_sql, calls, errors, aborted, rows, total_ms, "
      "mean_ms, max_ms, p50_ms, p95_ms, p99_ms, " +
      db.us("first_seen") + ", " + db.us("last_seen") +
      ", user_name, database_name "
      "FROM query_stats ORDER BY fingerprint NULLS LAST");
  REQUIRE(r.size() == 4);
  // fp1: SELECT 1 / SELECT 2 — totals 2.0, 1.0, 3.0 ms.
  CHECK(r[0][0] == "fp1");
  CHECK(r[0][1] == "SELECT $1");
  CHECK(r[0][2] == "3");
  CHECK(r[0][3] == "0");
  CHECK(r[0][4] == "0");
  CHECK(r[0][5] == "3");
  CHECK(ms_eq(r[0][6], 6.0));
  CHECK(ms_eq(r[0][7], 2.0));
  CHECK(ms_eq(r[0][8], 3.0));
  CHECK(ms_near(r[0][9], 2.0));
  CHECK(ms_near(r[0][10], 3.0));
  CHECK(ms_near(r[0][11], 3.0));
  CHECK(integer(r[0][12]) == s.t0 + 1000);
  CHECK(integer(r[0][13]) == s.t0 + 10000);
  CHECK(r[0][14] == "alice");
  CHECK(r[0][15] == "sales");
  // fp3: EXECUTE q — 1.0 and 4.0 ms.
  CHECK(r[1][0] == "fp3");
  CHECK(r[1][2] == "2");
  CHECK(ms_eq(r[1][6], 5.0));
  CHECK(ms_eq(r[1][7], 2.5));
  CHECK(ms_near(r[1][9], 1.0));
  CHECK(ms_near(r[1][10], 4.0));
  // fp4: 5.0 ms, an error of 0.9 ms, an aborted one (no duration): calls are the
  // executions that ran, aborted ones count apart.
  CHECK(r[2][0] == "fp4");
  CHECK(r[2][2] == "2");
  CHECK(r[2][3] == "1");
  CHECK(r[2][4] == "1");
  CHECK(r[2][5] == "3");
  CHECK(ms_eq(r[2][6], 5.9));
  CHECK(ms_eq(r[2][7], 2.95));
  CHECK(ms_eq(r[2][8], 5.0));
  CHECK(ms_near(r[2][9], 0.9));
  CHECK(ms_near(r[2][10], 5.0));
  CHECK(integer(r[2][13]) == s.t0 + 70050);
  // The unparseable text groups under a NULL fingerprint.
  CHECK(r[3][0] == std::nullopt);
  CHECK(r[3][2] == "1");
  CHECK(r[3][3] == "1");
  CHECK(ms_near(r[3][9], 0.3));

  // error_stats
  r = db.query("SELECT sqlstate, fingerprint, count, last_message, " + db.us("first_seen") + ", " +
               db.us("last_seen") + " FROM error_stats ORDER BY sqlstate");
  REQUIRE(r.size() == 2);
  CHECK(r[0] == Row{"22P02", "fp4", "1", "invalid input syntax for type integer: \"x\"",
                    std::to_string(s.t0 + 70000), std::to_string(s.t0 + 70000)});
  CHECK(r[1] == Row{"42601", std::nullopt, "1", "syntax error at or near \"SELEC\"",
                    std::to_string(s.t0 + 95000), std::to_string(s.t0 + 95000)});
}

// Percentiles by nearest rank on known distributions: 1..100 ms, and 10..70 ms.
void feed_distribution(lifecycle::Sink& sink, lifecycle::WallMicros t0) {
  auto session = make_session(t0);
  sink.session_opened(session);
  auto a = text("ha", "SELECT a FROM t", "SELECT a FROM t", "fpa");
  auto b = text("hb", "SELECT b FROM t", "SELECT b FROM t", "fpb");
  auto st_a = make_statement(session.id, StatementKind::extended, a, t0);
  auto st_b = make_statement(session.id, StatementKind::extended, b, t0);
  sink.statement(st_a);
  sink.statement(st_b);
  // An order that is not sorted, so the views must sort.
  for (int i = 0; i < 100; ++i) {
    const int ms = (i * 37) % 100 + 1;
    const auto began = t0 + 1'000'000 * (i + 1);
    sink.execution(make_execution(st_a, began, 0, 0, began + ms * 1000, 0));
  }
  for (int ms : {40, 10, 70, 30, 20, 60, 50}) {
    const auto began = t0 + 200'000'000 + ms * 10000;
    sink.execution(make_execution(st_b, began, 0, 0, began + ms * 1000, 0));
  }
}

void check_distribution(StoreReader& db) {
  Rows r = db.query(
      "SELECT fingerprint, calls, total_ms, mean_ms, max_ms, p50_ms, p95_ms, "
      "p99_ms FROM query_stats ORDER BY fingerprint");
  REQUIRE(r.size() == 2);
  CHECK(r[0][1] == "100");
  CHECK(ms_eq(r[0][2], 5050));
  CHECK(ms_eq(r[0][3], 50.5));
  CHECK(ms_eq(r[0][4], 100));
  CHECK(ms_near(r[0][5], 50));
  CHECK(ms_near(r[0][6], 95));
  CHECK(ms_near(r[0][7], 99));
  CHECK(r[1][1] == "7");
  CHECK(ms_near(r[1][5], 40));  // rank ceil(3.5) = 4
  CHECK(ms_near(r[1][6], 70));  // rank ceil(6.65) = 7
  CHECK(ms_near(r[1][7], 70));
}

std::unique_ptr<storage::Recorder> run(const std::string& storage,
                                       void (*feed)(lifecycle::Sink&, const Scenario&),
                                       const Scenario& s) {
  auto rec = storage::open_recorder(options_for(storage));
  rec->start();
  feed(*rec, s);
  rec->stop();
  return rec;
}

void feed_scenario(lifecycle::Sink& sink, const Scenario& s) {
  s.feed(sink);
}
void feed_dist(lifecycle::Sink& sink, const Scenario& s) {
  feed_distribution(sink, s.t0);
}

void check_stats(const storage::RecorderStats& st) {
  CHECK(st.rows_sessions == 2);  // opened + closed (one row, written twice)
  CHECK(st.rows_sql_texts == 5);
  CHECK(st.rows_statements == 6);
  CHECK(st.rows_executions == 9);
  CHECK(st.rows_statement_events == 10);
  CHECK(st.rows_execution_events == 35);
  CHECK(st.dropped_queue_full == 0);
  CHECK(st.dropped_store_error == 0);
  CHECK(st.queue_depth == 0);
}

}  // namespace

TEST_CASE("SQLite store: every table and view after a realistic session") {
  TempDir dir;
  Scenario s;
  auto rec = run("sqlite:" + dir.file("store.db"), feed_scenario, s);
  check_stats(rec->stats());
  SqliteReader db(dir.file("store.db"));
  check_tables(db, s);
  check_views(db, s);
  // A time range per application reads the minute index alone (schema v13), never the
  // histograms: what keeps the README's per-application day fast at 10 million executions.
  const Rows plan = db.query(
      "EXPLAIN QUERY PLAN SELECT application_name, sum(calls), sum(total_us) FROM rollups "
      "WHERE minute > 0 GROUP BY application_name");
  bool covering = false;
  for (const auto& row : plan)
    for (const auto& col : row)
      if (col && col->find("COVERING INDEX rollups_minute") != std::string::npos) covering = true;
  CHECK(covering);
}

TEST_CASE("PostgreSQL store: every table and view after a realistic session") {
  const std::string conninfo = fresh_pg_database("pglc_store");
  Scenario s;
  auto rec = run(conninfo, feed_scenario, s);
  check_stats(rec->stats());
  PgReader db(conninfo);
  check_tables(db, s);
  check_views(db, s);
  // Idiomatic types.
  CHECK(db.value("SELECT data_type FROM information_schema.columns WHERE table_name = "
                 "'executions' AND column_name = 'began_at'") == "timestamp with time zone");
  CHECK(db.value("SELECT data_type FROM information_schema.columns WHERE table_name = "
                 "'executions' AND column_name = 'id'") == "uuid");
  CHECK(db.value("SELECT data_type FROM information_schema.columns WHERE table_name = "
                 "'executions' AND column_name = 'rows'") == "bigint");
}

TEST_CASE("query_stats percentiles agree in both stores (nearest rank, within 1 %)") {
  Scenario s;
  SUBCASE("SQLite") {
    TempDir dir;
    run("sqlite:" + dir.file("p.db"), feed_dist, s);
    SqliteReader db(dir.file("p.db"));
    check_distribution(db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_pct");
    run(conninfo, feed_dist, s);
    PgReader db(conninfo);
    check_distribution(db);
  }
}

TEST_CASE("reopening a store keeps its rows and does not migrate twice") {
  TempDir dir;
  Scenario s;
  run("sqlite:" + dir.file("re.db"), feed_scenario, s);
  Scenario s2(s.t0 + 1'000'000'000);
  run("sqlite:" + dir.file("re.db"), feed_scenario, s2);
  SqliteReader db(dir.file("re.db"));
  CHECK(db.count("schema_migrations") == storage::schema_version());
  CHECK(db.count("executions") == 18);
  CHECK(db.count("sessions") == 2);
  CHECK(db.count("sql_texts") == 5);  // same hashes: INSERT OR IGNORE
}
