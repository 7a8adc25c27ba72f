// The writer's promises: enqueue never blocks, a full queue drops and counts, stop()
// loses nothing, volume rules, file mode, schema version guard, retention.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "lifecycle/sql_analyzer.hpp"
#include "storage/recorder.hpp"
#include "storage/schema.hpp"
#include "tests/storage/scenario.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/storage/store_setup.hpp"

using namespace pglc;
using namespace pglc::test;
using namespace std::chrono_literals;

namespace {

lifecycle::WallMicros wall_now() {
  return lifecycle::to_wall(lifecycle::now());
}

// A statement and `n` successful executions of it, `step_us` apart, each lasting `ms`.
struct Load {
  SessionRecord session;
  StatementRecord statement;
  std::vector<ExecutionRecord> executions;
  Load(lifecycle::WallMicros t0, int n, int ms = 1, lifecycle::WallMicros step_us = 10) {
    session = make_session(t0);
    statement =
        make_statement(session.id, StatementKind::extended,
                       text("hl" + std::to_string(t0), "SELECT $1", "SELECT $1", "fpl"), t0);
    executions.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const auto began = t0 + step_us * i;
      executions.push_back(
          make_execution(statement, began, began + 5, began + 10, began + ms * 1000, 0));
    }
  }
};

}  // namespace

TEST_CASE("stop() writes every queued record: N executions in, N rows out") {
  TempDir dir;
  const int n = 20000;
  Load load(wall_now(), n);
  auto o = options_for("sqlite:" + dir.file("flush.db"));
  // All n records are queued faster than a slow machine's writer drains them: the
  // byte bound must not be what this test measures.
  o.recorder_queue_bytes = std::size_t{1} << 30;
  auto rec = storage::open_recorder(o);
  rec->start();
  rec->session_opened(load.session);
  rec->statement(load.statement);
  for (const auto& e : load.executions) rec->execution(e);
  rec->stop();
  CHECK(rec->stats().dropped_queue_full == 0);
  CHECK(rec->stats().dropped_store_error == 0);
  CHECK(rec->stats().rows_executions == n);
  CHECK(rec->stats().queue_depth == 0);
  SqliteReader db(dir.file("flush.db"));
  CHECK(db.count("executions") == n);
  CHECK(db.count("execution_events") == 4 * n);
  rec->stop();  // idempotent
  // After stop nothing is queued any more; the record is counted, not lost silently.
  rec->execution(load.executions[0]);
  CHECK(rec->stats().dropped_queue_full == 1);
}

TEST_CASE("a full queue drops and counts, and enqueue never blocks") {
  TempDir dir;
  auto o = options_for("sqlite:" + dir.file("full.db"));
  o.recorder_queue = 100;
  Load load(wall_now(), 1000);
  auto rec = storage::open_recorder(o);
  // The writer is not running yet: nothing drains the queue.
  const auto started = std::chrono::steady_clock::now();
  for (const auto& e : load.executions) rec->execution(e);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed < 1s);
  CHECK(rec->stats().queue_depth == 100);
  CHECK(rec->stats().dropped_queue_full == 900);
  rec->start();
  rec->stop();
  CHECK(rec->stats().queue_depth == 0);
  SqliteReader db(dir.file("full.db"));
  CHECK(db.count("executions") == 100);
}

TEST_CASE("many io threads enqueue at once without losing or duplicating a record") {
  TempDir dir;
  auto o = options_for("sqlite:" + dir.file("mt.db"));
  o.recorder_queue = 1'000'000;
  o.recorder_queue_bytes = std::size_t{1} << 30;
  auto rec = storage::open_recorder(o);
  rec->start();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&rec, t] {
      Load load(wall_now() + t, 5000);
      rec->session_opened(load.session);
      rec->statement(load.statement);
      for (const auto& e : load.executions) rec->execution(e);
    });
  }
  for (auto& t : threads) t.join();
  rec->stop();
  SqliteReader db(dir.file("mt.db"));
  CHECK(db.count("executions") == 20000);
  CHECK(db.count("sessions") == 4);
  CHECK(rec->stats().dropped_queue_full == 0);
}

TEST_CASE("sample_rate and min_duration: stored rows, counters, errors always kept") {
  TempDir dir;
  auto o = options_for("sqlite:" + dir.file("vol.db"));
  o.sample_rate = 0.25;
  o.min_duration = 2ms;
  auto rec = storage::open_recorder(o);
  rec->start();
  const auto t0 = wall_now();
  Load fast(t0, 1000, 1);      // 1 ms: below min_duration
  Load slow(t0 + 1, 4000, 3);  // 3 ms: sampled at 25%
  Load errors(t0 + 2, 10, 1);
  for (auto& e : errors.executions) {
    e.status = ExecutionStatus::error;
    e.sqlstate = "57014";
  }
  for (const auto& e : fast.executions) rec->execution(e);
  for (const auto& e : slow.executions) rec->execution(e);
  for (const auto& e : errors.executions) rec->execution(e);
  rec->stop();
  const auto& st = rec->stats();
  CHECK(st.below_min_duration == 1000);
  SqliteReader db(dir.file("vol.db"));
  const long long kept = db.count("executions WHERE status = 'success'");
  CHECK(kept + static_cast<long long>(st.sampled_out) == 4000);
  CHECK(kept > 800);  // 1000 expected; binomial sd ≈ 27
  CHECK(kept < 1200);
  CHECK(db.count("executions WHERE status = 'success' AND sample_rate = 0.25") == kept);
  CHECK(db.count("executions WHERE status = 'error' AND sample_rate = 1.0") == 10);
  CHECK(db.count("executions WHERE status = 'success' AND finished_at - began_at < 2000") == 0);
}

TEST_CASE("the SQLite file is created private (0600), in WAL mode") {
  TempDir dir;
  auto rec = storage::open_recorder(options_for("sqlite:" + dir.file("mode.db")));
  struct stat sb {};
  REQUIRE(::stat(dir.file("mode.db").c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
  SqliteReader db(dir.file("mode.db"));
  CHECK(db.value("PRAGMA journal_mode") == "wal");
  // The WAL and shared-memory files hold the same data: SQLite gives them the same mode.
  rec->start();
  Load load(wall_now(), 10);
  for (const auto& e : load.executions) rec->execution(e);
  rec->stop();
  for (const char* suffix : {"-wal", "-shm"}) {
    CAPTURE(suffix);
    REQUIRE(::stat((dir.file("mode.db") + suffix).c_str(), &sb) == 0);
    CHECK((sb.st_mode & 0777) == 0600);
  }
}

TEST_CASE("storage none keeps nothing but still counts the volume rules") {
  auto o = options_for("none");
  o.min_duration = 5ms;
  auto rec = storage::open_recorder(o);
  rec->start();
  Load load(wall_now(), 10, 1);
  for (const auto& e : load.executions) rec->execution(e);
  rec->stop();
  CHECK(rec->stats().below_min_duration == 10);
  CHECK(rec->stats().rows_executions == 0);
}

TEST_CASE("unusable storage settings fail with a clear message") {
  CHECK_THROWS_WITH_AS(storage::open_recorder(options_for("mysql://x")),
                       doctest::Contains("not understood"), std::runtime_error);
  CHECK_THROWS_WITH_AS(storage::open_recorder(options_for("sqlite:/nonexistent-dir/x.db")),
                       doctest::Contains("/nonexistent-dir/x.db"), std::runtime_error);
}

TEST_CASE("a PostgreSQL store that is down at start: the recorder runs, drops and counts") {
  // Traffic must not wait for the store (DESIGN §6). The warning names the problem,
  // never the password.
  const std::string bad =
      "postgresql://u:secretpw@127.0.0.1:" + std::to_string(free_port()) + "/db?connect_timeout=2";
  std::vector<std::string> lines;
  std::mutex mutex;
  storage::RecorderTuning tuning;
  tuning.stop_timeout = std::chrono::milliseconds(300);
  tuning.log = [&](config::LogLevel, std::string_view m) {
    std::lock_guard lock(mutex);
    lines.emplace_back(m);
  };
  auto rec = storage::open_recorder(options_for(bad), std::move(tuning));
  rec->start();
  Load load(wall_now(), 20);
  for (const auto& e : load.executions) rec->execution(e);
  rec->stop();
  CHECK(rec->stats().rows_executions == 0);
  CHECK(rec->stats().dropped_store_error + rec->stats().dropped_queue_full == 20);
  std::lock_guard lock(mutex);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].find("cannot connect to the PostgreSQL store") != std::string::npos);
  for (const auto& l : lines) CHECK(l.find("secretpw") == std::string::npos);
}

TEST_CASE("a store with a newer schema than this binary is refused") {
  SUBCASE("SQLite") {
    TempDir dir;
    storage::open_recorder(options_for("sqlite:" + dir.file("new.db")));
    {
      SqliteReader db(dir.file("new.db"));
      db.exec("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)");
    }
    CHECK_THROWS_WITH_AS(storage::open_recorder(options_for("sqlite:" + dir.file("new.db"))),
                         doctest::Contains("schema version 99, newer than this pglifecycle"),
                         std::runtime_error);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_newer");
    storage::open_recorder(options_for(conninfo));
    PgReader(conninfo).query("INSERT INTO schema_migrations VALUES (99, 'from the future')");
    CHECK_THROWS_WITH_AS(storage::open_recorder(options_for(conninfo)),
                         doctest::Contains("schema version 99, newer than this pglifecycle"),
                         std::runtime_error);
  }
}

namespace {

void check_retention(const std::string& storage, StoreReader& db) {
  auto o = options_for(storage);
  o.retention = std::chrono::hours(24 * 7);
  storage::RecorderTuning tuning;
  tuning.retention_interval = 20ms;
  tuning.retention_chunk = 50;  // several passes: rows go in small batches
  auto rec = storage::open_recorder(o, tuning);
  const auto now = wall_now();
  const auto day = 86'400'000'000LL;
  // Old: a closed session 10 days ago with 300 executions; new: today.
  Load old_load(now - 10 * day, 300);
  old_load.session.disconnected_at = now - 10 * day + 1'000'000;
  Load new_load(now - 1000, 20);
  // A statement of an old session that is still executed today keeps its statement, text
  // and session.
  Load live(now - 9 * day, 1);
  live.executions[0].began_at = now - 500;
  live.executions[0].id = new_id(now - 500);  // ids are made when their record begins
  live.executions[0].finished_at = now - 400;
  rec->start();
  for (Load* l : {&old_load, &new_load, &live}) {
    rec->session_opened(l->session);
    rec->statement(l->statement);
    for (const auto& e : l->executions) rec->execution(e);
  }
  const std::string old_sid = db.id(old_load.session.id);
  CHECK(eventually([&] {
    return db.count("sessions WHERE id = " + old_sid) == 0 && db.count("executions") == 21;
  }));
  rec->stop();
  CHECK(db.count("executions") == 21);
  CHECK(db.count("execution_events") == 21 * 4);
  CHECK(db.count("statements") == 2);
  CHECK(db.count("statement_events") == 2);
  CHECK(db.count("sessions") == 2);
  CHECK(db.count("sql_texts") == 2);
  CHECK(db.count("sql_texts WHERE hash = '" + old_load.statement.sql->hash + "'") == 0);
  // What it deleted is counted (300 executions, their statement, text and session), and
  // the time each pass held the writer is measured.
  CHECK(rec->stats().rows_expired.load() >= 303);
  CHECK(rec->stats().retention_longest_pass_us.load() > 0);
}

}  // namespace

namespace {

// sql_texts.last_used (storage/schema.hpp): the latest statement's received_at, advanced
// only when an hour behind; retention deletes a text by it, and keeps a text that an old
// statement still kept (it has executions) or a recent statement uses.
void check_text_last_used(const std::string& storage, StoreReader& db) {
  const auto now = wall_now();
  const auto day = 86'400'000'000LL, minute = 60'000'000LL;
  const auto t0 = now - 10 * day;
  auto shared = text("a1", "SELECT 'shared'", "SELECT $1", "fpa");
  auto alone = text("b2", "SELECT 'alone'", "SELECT $1", "fpa");
  auto kept = text("c3", "SELECT 'kept'", "SELECT $1", "fpa");
  const SessionRecord s = make_session(t0);
  auto last_used = [&](const std::string& h) {
    return integer(
        db.value("SELECT " + db.us("last_used") + " FROM sql_texts WHERE hash = '" + h + "'"));
  };
  auto record = [&](std::initializer_list<StatementRecord> sts,
                    std::initializer_list<ExecutionRecord> exs = {}) {
    auto rec = storage::open_recorder(options_for(storage));
    rec->start();
    rec->session_opened(s);
    for (const auto& st : sts) rec->statement(st);
    for (const auto& e : exs) rec->execution(e);
    rec->stop();
  };
  const StatementRecord old_kept = make_statement(s.id, StatementKind::extended, kept, t0);
  ExecutionRecord today = make_execution(old_kept, now - 900, 0, now - 800, now - 700, 0);
  record({make_statement(s.id, StatementKind::simple, shared, t0),
          make_statement(s.id, StatementKind::simple, alone, t0), old_kept},
         {today});
  CHECK(last_used(shared->hash) == t0);
  // Within the hour: no update, from the writer's memory or from the store's own check.
  record({make_statement(s.id, StatementKind::simple, shared, t0 + 30 * minute),
          make_statement(s.id, StatementKind::simple, shared, t0 + 50 * minute)});
  CHECK(last_used(shared->hash) == t0);
  record({make_statement(s.id, StatementKind::simple, shared, t0 + 61 * minute)});
  CHECK(last_used(shared->hash) == t0 + 61 * minute);
  record({make_statement(s.id, StatementKind::simple, shared, now - 1000)});
  CHECK(last_used(shared->hash) == now - 1000);
  CHECK(last_used(kept->hash) == t0);

  auto o = options_for(storage);
  o.retention = std::chrono::hours(24 * 7);
  storage::RecorderTuning tuning;
  tuning.retention_interval = 20ms;
  auto rec = storage::open_recorder(o, tuning);
  rec->start();
  CHECK(eventually([&] { return db.count("sql_texts WHERE hash = '" + alone->hash + "'") == 0; }));
  rec->stop();
  // Its old statements are gone, the one of today keeps `shared`; `kept` stays with its
  // statement, which today's execution keeps.
  CHECK(db.count("statements WHERE sql_hash = '" + shared->hash + "'") == 1);
  CHECK(db.count("sql_texts WHERE hash = '" + shared->hash + "'") == 1);
  CHECK(db.count("sql_texts WHERE hash = '" + kept->hash + "'") == 1);
  CHECK(db.count("statements WHERE id = " + db.id(old_kept.id)) == 1);
  CHECK(db.count("execution_summary WHERE sql = 'SELECT ''kept'''") == 1);
}

}  // namespace

TEST_CASE("sql_texts.last_used advances an hour at a time; retention deletes texts by it") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("last_used.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check_text_last_used("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_last_used");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_text_last_used(conninfo, db);
  }
}

namespace {

// --phase-timing sampled (DESIGN §2): each row says how it was timed, and the views leave
// parse and bind times out of the passively timed ones.
void check_timing_columns(const std::string& storage, StoreReader& db) {
  const auto t0 = wall_now();
  const SessionRecord s = make_session(t0);
  StatementRecord precise = make_statement(s.id, StatementKind::extended,
                                           text("t1", "SELECT 1", "SELECT $1", "fpt"), t0);
  precise.name = "p";
  StatementRecord passive = make_statement(s.id, StatementKind::extended,
                                           text("t2", "SELECT 2", "SELECT $1", "fpt"), t0);
  passive.name = "q";
  passive.timing = lifecycle::Timing::passive;
  ExecutionRecord e1 = make_execution(precise, t0 + 100, t0 + 200, t0 + 300, t0 + 1100, 0);
  ExecutionRecord e2 = make_execution(passive, t0 + 100, t0 + 900, t0 + 950, t0 + 1100, 0);
  e2.timing = lifecycle::Timing::passive;
  auto rec = storage::open_recorder(options_for(storage));
  rec->start();
  rec->session_opened(s);
  for (const auto* st : {&precise, &passive}) {
    rec->statement(*st);
    rec->statement_event({st->id, lifecycle::StatementEvent::parsed, t0 + 50});
  }
  rec->execution(e1);
  rec->execution(e2);
  rec->stop();
  const Rows r = db.query(
      "SELECT e.timing, e.bind_ms, e.execute_ms, s.timing, s.parse_ms FROM execution_summary e "
      "JOIN statement_summary s ON s.statement_id = e.statement_id ORDER BY e.statement_name");
  REQUIRE(r.size() == 2);
  CHECK(*r[0][0] == "precise");
  CHECK(std::stod(*r[0][1]) == doctest::Approx(0.1));
  CHECK(std::stod(*r[0][2]) == doctest::Approx(0.9));
  CHECK(*r[0][3] == "precise");
  CHECK(std::stod(*r[0][4]) == doctest::Approx(0.05));
  CHECK(*r[1][0] == "passive");
  CHECK_FALSE(r[1][1].has_value());                     // bound_at marks a packet only
  CHECK(std::stod(*r[1][2]) == doctest::Approx(1.0));  // from the Bind
  CHECK(*r[1][3] == "passive");
  CHECK_FALSE(r[1][4].has_value());
}

}  // namespace

TEST_CASE("statements and executions record their timing; the views use precise rows only") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("timing.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check_timing_columns("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_timing");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_timing_columns(conninfo, db);
  }
}

namespace {

// Session phases (DESIGN §2): columns of sessions, session_events over them, and
// session_summary's durations and execution totals.
void check_session_phases(const std::string& storage, StoreReader& db) {
  const auto t0 = wall_now() - 1'000'000;
  SessionRecord s = make_session(t0);
  s.tls_established_at = t0 + 2000;
  s.startup_received_at = t0 + 2500;
  s.backend_connected_at = t0 + 4000;
  s.authenticated_at = t0 + 9000;
  s.ready_at = t0 + 9500;
  SessionRecord failed = make_session(t0);
  failed.startup_received_at = t0 + 300;
  failed.backend_connected_at = t0 + 800;
  failed.end_reason = lifecycle::EndReason::auth_failed;
  failed.disconnected_at = t0 + 5000;
  const StatementRecord st = make_statement(s.id, StatementKind::simple,
                                            text("sp1", "SELECT 1", "SELECT $1", "fps"), t0 + 10000);
  const ExecutionRecord ok = make_execution(st, t0 + 10000, 0, t0 + 10500, t0 + 12000, 0);
  const ExecutionRecord bad = make_execution(st, t0 + 20000, 0, t0 + 20500, t0 + 23000, 0,
                                             lifecycle::ExecutionStatus::error);
  auto rec = storage::open_recorder(options_for(storage));
  rec->start();
  rec->session_opened(s);  // at ready
  rec->statement(st);
  rec->execution(ok);
  rec->execution(bad);
  rec->session_opened(failed);  // at its end, never ready
  rec->session_closed(failed);
  s.disconnected_at = t0 + 30000;
  s.end_reason = lifecycle::EndReason::client_terminate;
  rec->session_closed(s);
  rec->stop();
  const Rows r = db.query(
      "SELECT tls_ms, startup_ms, backend_ms, auth_ms, connect_ms, duration_ms, executions, "
      "errors, execution_ms, end_reason FROM session_summary WHERE session_id = " + db.id(s.id));
  REQUIRE(r.size() == 1);
  const double want[] = {2.0, 0.5, 1.5, 5.0, 9.5, 30.0, 2, 1, 5.0};
  for (int i = 0; i < 9; ++i) {
    CAPTURE(i);
    REQUIRE(r[0][i].has_value());
    CHECK(std::stod(*r[0][i]) == doctest::Approx(want[i]));
  }
  CHECK(*r[0][9] == "client_terminate");
  CHECK(db.count("session_events WHERE session_id = " + db.id(s.id)) == 7);
  const Rows f = db.query(
      "SELECT tls_ms IS NULL, startup_ms, backend_ms, auth_ms IS NULL, connect_ms IS NULL, "
      "executions, end_reason FROM session_summary WHERE session_id = " + db.id(failed.id));
  REQUIRE(f.size() == 1);
  CHECK(std::stod(*f[0][1]) == doctest::Approx(0.3));
  CHECK(std::stod(*f[0][2]) == doctest::Approx(0.5));
  CHECK(*f[0][5] == "0");
  CHECK(*f[0][6] == "auth_failed");
  for (int i : {0, 3, 4}) CHECK((*f[0][i] == "1" || *f[0][i] == "t"));
  const Rows events = db.query("SELECT event FROM session_events WHERE session_id = " +
                               db.id(failed.id) + " ORDER BY occurred_at");
  CHECK(events == Rows{{"accepted"}, {"startup_received"}, {"backend_connected"}, {"closed"}});
}

}  // namespace

TEST_CASE("session phases: columns, session_events and session_summary in both stores") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("phases.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check_session_phases("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_phases");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_session_phases(conninfo, db);
  }
}

namespace {

// Statement classes (DESIGN §2) in statements and the views; a driver's pool reset is
// `driver`, the rest `application`; an unanalysed text has no statement_type.
void check_statement_classes(const std::string& storage, StoreReader& db) {
  const auto t0 = wall_now();
  const SessionRecord s = make_session(t0);
  auto with_type = [](std::shared_ptr<const lifecycle::SqlText> t, std::string_view type) {
    auto copy = std::make_shared<lifecycle::SqlText>(*t);
    copy->statement_type = type;
    return std::shared_ptr<const lifecycle::SqlText>(std::move(copy));
  };
  const StatementRecord sel = make_statement(
      s.id, StatementKind::simple,
      with_type(text("c1", "SELECT 1", "SELECT $1", "fpc1"), "select"), t0);
  const StatementRecord reset = make_statement(
      s.id, StatementKind::simple,
      with_type(text("c2", "DISCARD ALL", "DISCARD ALL", "fpc2"), "discard"), t0 + 10);
  const StatementRecord junk = make_statement(s.id, StatementKind::simple,
                                              text("c3", "SELEC x", std::nullopt, std::nullopt),
                                              t0 + 20);
  auto rec = storage::open_recorder(options_for(storage));
  rec->start();
  rec->session_opened(s);
  for (const auto* st : {&sel, &reset, &junk}) {
    rec->statement(*st);
    rec->execution(make_execution(*st, st->received_at, 0, st->received_at + 5,
                                  st->received_at + 9, 0));
  }
  rec->stop();
  const Rows r = db.query(
      "SELECT sql, statement_type, origin FROM statement_summary ORDER BY received_at");
  CHECK(r == Rows{{"SELECT 1", "select", "application"},
                  {"DISCARD ALL", "discard", "driver"},
                  {"SELEC x", std::nullopt, "application"}});
  CHECK(db.count("execution_summary WHERE origin = 'driver' AND statement_type = 'discard'") == 1);
  // query_stats too (from the rollups): `WHERE origin = 'application'` leaves the pool's
  // resets out.
  CHECK(db.value("SELECT normalized_sql FROM query_stats WHERE origin = 'driver'") ==
        "DISCARD ALL");
  CHECK(db.count("query_stats WHERE origin = 'application'") == 2);
}

}  // namespace

TEST_CASE("statement classes: statement_type and origin in both stores") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("classes.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check_statement_classes("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_classes");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_statement_classes(conninfo, db);
  }
}

TEST_CASE("retention deletes old rows only, in small batches") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("ret.db");
    storage::open_recorder(options_for("sqlite:" + path));  // creates the schema
    SqliteReader db(path);
    check_retention("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_ret");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_retention(conninfo, db);
  }
}

namespace {

// A LATIN1 client's text (invalid UTF-8), a NUL byte, and a text longer than
// max_sql_length (the tracker cuts it; the store cuts again, on a character boundary).
void check_odd_texts(const std::string& storage, StoreReader& db) {
  auto o = options_for(storage);
  o.max_sql_length = 12;
  auto rec = storage::open_recorder(o);
  rec->start();
  const auto t0 = wall_now();
  auto session = make_session(t0);
  session.application_name = std::string("caf\xE9", 4);
  rec->session_opened(session);
  auto latin = make_statement(
      session.id, StatementKind::simple,
      text("hx1", std::string("SELECT 'caf\xE9'", 13), std::nullopt, std::nullopt), t0);
  auto nul = make_statement(session.id, StatementKind::simple,
                            text("hx2", std::string("SELECT '\0'", 10), std::nullopt, std::nullopt),
                            t0 + 1);
  auto long_text = make_statement(
      session.id, StatementKind::simple,
      text("hx3", "SELECT '\xE2\x82\xAC\xE2\x82\xAC'", std::nullopt, std::nullopt), t0 + 2);
  for (auto* st : {&latin, &nul, &long_text}) rec->statement(*st);
  auto ex = make_execution(latin, t0, 0, t0 + 5, t0 + 9, t0 + 10, ExecutionStatus::error);
  ex.sqlstate = "22021";
  ex.error_message = std::string("invalid byte sequence \xE9", 23);
  rec->execution(ex);
  rec->stop();
  CHECK(rec->stats().dropped_store_error == 0);
  // Cut at 12 bytes, the stray Latin-1 byte replaced by U+FFFD.
  CHECK(db.value("SELECT sql FROM sql_texts WHERE hash = 'hx1'") == "SELECT 'caf\xEF\xBF\xBD");
  CHECK(db.value("SELECT sql FROM sql_texts WHERE hash = 'hx2'") == "SELECT ''");
  // 12 bytes would end inside the second euro sign: the cut backs off to a whole character.
  CHECK(db.value("SELECT sql FROM sql_texts WHERE hash = 'hx3'") == "SELECT '\xE2\x82\xAC");
  CHECK(db.value("SELECT application_name FROM sessions") == "caf\xEF\xBF\xBD");
  CHECK(db.value("SELECT error_message FROM executions") == "invalid byte sequence \xEF\xBF\xBD");
}

}  // namespace

TEST_CASE("texts in another encoding, with NUL, or too long are stored repaired and cut") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("odd.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check_odd_texts("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_odd");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_odd_texts(conninfo, db);
  }
}

TEST_CASE("texts whose analysis the tracker deferred are normalized and fingerprinted here") {
  auto deferred = std::make_shared<lifecycle::SqlText>();
  deferred->sql = "SELECT * FROM orders WHERE id = 42 AND region = 'EU'";
  deferred->hash = "hdeferred";
  deferred->analysis_deferred = true;
  const auto expected = lifecycle::analyze_sql(deferred->sql, 65536);
  REQUIRE(expected.fingerprint.has_value());
  auto check = [&](const std::string& storage, StoreReader& db) {
    auto rec = storage::open_recorder(options_for(storage));
    rec->start();
    const auto t0 = wall_now();
    auto session = make_session(t0);
    rec->statement(make_statement(session.id, StatementKind::simple, deferred, t0));
    rec->stop();
    CHECK(db.query("SELECT sql, normalized_sql, fingerprint FROM sql_texts") ==
          Rows{{deferred->sql, "SELECT * FROM orders WHERE id = $1 AND region = $2",
                *expected.fingerprint}});
  };
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("deferred.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_deferred");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check(conninfo, db);
  }
}

TEST_CASE("PostgreSQL store: a recorder role without CREATE can use an existing store") {
  const std::string conninfo = fresh_pg_database("pglc_roles");
  storage::open_recorder(options_for(conninfo));  // the owner creates the schema
  PgReader owner(conninfo);
  owner.query(
      "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pglc_recorder') THEN "
      "CREATE ROLE pglc_recorder LOGIN PASSWORD 'rec_pw'; END IF; END $$");
  owner.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
  owner.query(
      "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pglc_recorder");
  const std::string db = *owner.value("SELECT current_database()");
  const std::string as_recorder = PgServer::shared().conninfo(db, "pglc_recorder", "rec_pw");
  Scenario s;
  auto rec = storage::open_recorder(options_for(as_recorder));
  rec->start();
  s.feed(*rec);
  rec->stop();
  CHECK(rec->stats().dropped_store_error == 0);
  CHECK(owner.count("executions") == 9);
}

TEST_CASE("a record seen twice is stored once, nothing is dropped") {
  auto check = [](const std::string& storage, StoreReader& db) {
    storage::RecorderTuning tuning;
    tuning.batch_size = 3;  // the duplicates land in the same batch and in later ones
    auto rec = storage::open_recorder(options_for(storage), tuning);
    rec->start();
    Scenario s;
    for (int round = 0; round < 3; ++round) s.feed(*rec);  // every record three times
    rec->stop();
    CHECK(rec->stats().dropped_store_error == 0);
    CHECK(db.count("executions") == 9);
    CHECK(db.count("execution_events") == 35);
    CHECK(db.count("statements") == 6);
    CHECK(db.count("statement_events") == 10);
    CHECK(db.count("sessions") == 1);
  };
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("dup.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_dup");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check(conninfo, db);
  }
}

TEST_CASE("SQLite store: rows written many per INSERT keep every column of their own record") {
  // Enough records in one transaction for full multi-row chunks and a partial rest, each
  // with different values, and every record twice inside the same chunk.
  TempDir dir;
  const std::string path = dir.file("chunks.db");
  const auto t0 = wall_now();
  const SessionRecord session = make_session(t0);
  std::vector<StatementRecord> statements;
  std::vector<ExecutionRecord> executions;
  const int n = 301;
  for (int i = 0; i < n; ++i) {
    const std::string sql = "SELECT " + std::to_string(i);
    statements.push_back(
        make_statement(session.id, i % 2 ? StatementKind::extended : StatementKind::simple,
                       text("hc" + std::to_string(i), sql, sql, "fpc"), t0 + i * 100,
                       "s" + std::to_string(i), i % 3, i % 2 ? "{25}" : ""));
    const auto b = t0 + i * 100;
    ExecutionRecord e = make_execution(statements.back(), b, i % 4 ? b + 1 : 0, b + 2 + i,
                                       i % 5 ? b + 50 + i : 0, i % 7 ? b + 60 + i : 0,
                                       i % 5 ? ExecutionStatus::success : ExecutionStatus::aborted);
    e.portal = "p" + std::to_string(i);
    e.rows = i * 3;
    e.result_bytes = i * 11;
    e.command_tag = i % 6 ? "SELECT " + std::to_string(i) : "";
    if (i % 9 == 0) {
      e.sqlstate = "2201" + std::to_string(i % 10);
      e.error_message = "bad " + std::to_string(i);
    }
    if (i % 8 == 0) e.params = "{" + std::to_string(i) + "}";
    e.application_name = "app " + std::to_string(i);
    executions.push_back(std::move(e));
  }
  storage::RecorderTuning tuning;
  tuning.batch_size = 100000;
  auto rec = storage::open_recorder(options_for("sqlite:" + path), tuning);
  rec->session_opened(session);
  for (int i = 0; i < n; ++i) {
    for (int twice = 0; twice < 2; ++twice) {
      rec->statement(statements[i]);
      rec->execution(executions[i]);
    }
  }
  rec->start();
  rec->stop();
  CHECK(rec->stats().dropped_store_error == 0);
  CHECK(rec->stats().rows_executions == 2 * n);
  SqliteReader db(path);
  REQUIRE(db.count("executions") == n);
  REQUIRE(db.count("statements") == n);
  CHECK(db.count("statement_events") == n);
  std::size_t events = 0;
  for (const auto& e : executions) events += e.events.size();
  CHECK(db.count("execution_events") == static_cast<long long>(events));

  auto str = [](auto v) { return Cell(std::to_string(v)); };
  auto opt = [](const std::string& v) { return v.empty() ? Cell() : Cell(v); };
  const Rows ex = db.query(
      "SELECT id, statement_id, session_id, portal, params, began_at, finished_at, status, "
      "sqlstate, error_message, command_tag, rows, result_bytes, fetches, sample_rate, "
      "application_name FROM executions ORDER BY began_at");
  REQUIRE(ex.size() == static_cast<std::size_t>(n));
  const Rows st = db.query(
      "SELECT id, session_id, kind, name, position, sql_hash, param_types, received_at "
      "FROM statements ORDER BY received_at");
  REQUIRE(st.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    const ExecutionRecord& e = executions[i];
    const Row want{db.id_value(e.id),
                   db.id_value(e.statement_id),
                   db.id_value(e.session_id),
                   e.portal,
                   e.params,
                   str(e.began_at),
                   e.finished_at ? str(*e.finished_at) : Cell(),
                   std::string(lifecycle::to_string(e.status)),
                   opt(e.sqlstate),
                   opt(e.error_message),
                   opt(e.command_tag),
                   str(e.rows),
                   str(e.result_bytes),
                   str(e.fetches),
                   Cell("1.0"),
                   e.application_name};
    CHECK(ex[i] == want);
    const StatementRecord& s = statements[i];
    const Row want_st{db.id_value(s.id),
                      db.id_value(s.session_id),
                      std::string(lifecycle::to_string(s.kind)),
                      s.name,
                      str(s.position),
                      s.sql->hash,
                      opt(s.param_types),
                      str(s.received_at)};
    CHECK(st[i] == want_st);
    const Rows got_events = db.query(
        "SELECT event, occurred_at FROM execution_events WHERE execution_id = " + db.id(e.id) +
        " ORDER BY occurred_at, event");
    Rows want_events;
    for (const auto& [ev, at] : e.events) {
      want_events.push_back({std::string(lifecycle::to_string(ev)), str(at)});
    }
    std::sort(want_events.begin(), want_events.end(), [](const Row& a, const Row& b) {
      return std::stoll(*a[1]) != std::stoll(*b[1]) ? std::stoll(*a[1]) < std::stoll(*b[1])
                                                    : *a[0] < *b[0];
    });
    CHECK(got_events == want_events);
  }
}

namespace {

// A store left by a version-1 pglifecycle (events as rows) with one execution of each
// shape; opening it with this binary must keep every event.
void check_v1_upgrade(StoreReader& db, const std::string& storage, bool pg) {
  const char* id1 = "0190aaaa-0000-7000-8000-000000000001";
  const char* id2 = "0190aaaa-0000-7000-8000-000000000002";
  const std::string ts_open = pg ? "(to_timestamp(0) + interval '1 microsecond' * " : "";
  const std::string ts_close = pg ? ")" : "";
  auto ts = [&](long long us) { return ts_open + std::to_string(us) + ts_close; };
  const long long t0 = 1'700'000'000'000'000LL;
  db.query(std::string("INSERT INTO executions (id, statement_id, session_id, portal, began_at, "
                       "finished_at, status, rows, result_bytes, fetches, sample_rate) VALUES ") +
           "('" + id1 + "', '" + id2 + "', '" + id2 + "', '', " + ts(t0) + ", " + ts(t0 + 900) +
           ", 'success', 1, 10, 1, 1), ('" + id2 + "', '" + id2 + "', '" + id2 + "', '', " +
           ts(t0 + 5000) + ", NULL, 'aborted', 0, 0, 0, 1)");
  db.query(std::string("INSERT INTO execution_events VALUES ") + "('" + id1 + "', 'received', " +
           ts(t0) + "), ('" + id1 + "', 'bound', " + ts(t0 + 100) + "), ('" + id1 +
           "', 'executed', " + ts(t0 + 400) + "), ('" + id1 + "', 'finished', " + ts(t0 + 900) +
           "), ('" + id1 + "', 'delivered', " + ts(t0 + 950) + "), ('" + id2 + "', 'received', " +
           ts(t0 + 5000) + ")");
  // id2 doubles as a statement: received, parsed, closed.
  db.query(std::string("INSERT INTO statements (id, session_id, kind, name, position, sql_hash, "
                       "received_at) VALUES ('") +
           id2 + "', '" + id2 + "', 'extended', 's1', 0, 'h', " + ts(t0 - 2000) + ")");
  db.query("INSERT INTO sql_texts (hash, sql) VALUES ('h', 'SELECT 1')");
  db.query(std::string("INSERT INTO statement_events VALUES ('") + id2 + "', 'received', " +
           ts(t0 - 2000) + "), ('" + id2 + "', 'parsed', " + ts(t0 - 1500) + "), ('" + id2 +
           "', 'closed', " + ts(t0 + 9000) + ")");
  storage::open_recorder(options_for(storage))->stop();
  CHECK(integer(db.value("SELECT max(version) FROM schema_migrations")) ==
        storage::schema_version());
  // SQLite gave the old text ids integers (storage/sqlite_id.hpp): the millisecond since
  // 2025 (none here: 2024) and the rank within it, per table. PostgreSQL keeps its uuids.
  auto migrated = [&](const char* uuid, int rank) {
    if (pg) return std::string(uuid);
    const long long ms = std::stoll(std::string(uuid, 8) + std::string(uuid + 9, 4), nullptr, 16);
    const long long m = std::max(ms - storage::kSqliteIdEpochMs, 0LL);
    return std::to_string((m << storage::kSqliteIdTimeShift) + rank);
  };
  auto lit = [&](const std::string& v) { return pg ? "'" + v + "'" : v; };
  const std::string e1 = migrated(id1, 0), e2 = migrated(id2, 1), s2 = migrated(id2, 0);
  const Rows r = db.query("SELECT execution_id, event, " + db.us("occurred_at") +
                          " FROM execution_events ORDER BY execution_id, occurred_at");
  CHECK(r == Rows{{e1, "received", std::to_string(t0)},
                  {e1, "bound", std::to_string(t0 + 100)},
                  {e1, "executed", std::to_string(t0 + 400)},
                  {e1, "finished", std::to_string(t0 + 900)},
                  {e1, "delivered", std::to_string(t0 + 950)},
                  {e2, "received", std::to_string(t0 + 5000)}});
  const Rows s = db.query(
      "SELECT bind_ms, first_row_ms, deliver_ms FROM execution_summary "
      "WHERE execution_id = " +
      lit(e1));
  REQUIRE(s.size() == 1);
  CHECK(std::stod(*s[0][0]) == doctest::Approx(0.1));
  CHECK(std::stod(*s[0][1]) == doctest::Approx(0.4));
  CHECK(std::stod(*s[0][2]) == doctest::Approx(0.05));
  const Rows se = db.query("SELECT statement_id, event, " + db.us("occurred_at") +
                           " FROM statement_events ORDER BY occurred_at");
  CHECK(se == Rows{{s2, "received", std::to_string(t0 - 2000)},
                   {s2, "parsed", std::to_string(t0 - 1500)},
                   {s2, "closed", std::to_string(t0 + 9000)}});
  CHECK(std::stod(*db.value("SELECT parse_ms FROM statement_summary")) == doctest::Approx(0.5));
  // Version 7 gave the text its statement's time.
  CHECK(integer(db.value("SELECT " + db.us("last_used") + " FROM sql_texts WHERE hash = 'h'")) ==
        t0 - 2000);

  // The upgraded store takes new rows, including events of a statement of an earlier batch.
  auto rec = storage::open_recorder(options_for(storage));
  rec->start();
  const Load load(wall_now(), 3);
  rec->session_opened(load.session);
  rec->statement(load.statement);
  for (const auto& e : load.executions) rec->execution(e);
  rec->stop();
  rec = storage::open_recorder(options_for(storage));
  rec->start();
  rec->statement_event({load.statement.id, lifecycle::StatementEvent::parsed, t0 + 1});
  rec->statement_event({load.statement.id, lifecycle::StatementEvent::closed, t0 + 2});
  rec->statement_event({load.statement.id, lifecycle::StatementEvent::parsed, t0 + 3});
  rec->stop();
  CHECK(db.count("executions") == 5);
  CHECK(db.count("execution_events") == 6 + 3 * 4);
  CHECK(db.count("statements") == 2);
  const Rows late =
      db.query("SELECT event, " + db.us("occurred_at") +
               " FROM statement_events WHERE statement_id = " + db.id(load.statement.id) +
               " AND event <> 'received' ORDER BY occurred_at");
  CHECK(late == Rows{{"parsed", std::to_string(t0 + 1)}, {"closed", std::to_string(t0 + 2)}});
}

}  // namespace

TEST_CASE("a version-1 store is upgraded in place and keeps every execution event") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("v1.db");
    std::ofstream{path};  // an empty file is an empty SQLite database
    {
      SqliteReader db(path);
      db.exec(
          "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
          "description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
      db.exec(storage::sqlite_migrations()[0].sql);
      db.exec("INSERT INTO schema_migrations VALUES (1, 'v1', 0)");
    }
    SqliteReader db(path);
    check_v1_upgrade(db, "sqlite:" + path, false);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_v1");
    PgReader db(conninfo);
    db.query(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
        "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    db.query(storage::pg_migrations()[0].sql);
    db.query("INSERT INTO schema_migrations (version, description) VALUES (1, 'v1')");
    check_v1_upgrade(db, conninfo, true);
  }
}
