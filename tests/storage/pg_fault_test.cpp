// The PostgreSQL store goes away mid-run (the fixture's server is stopped, then started
// again on the same port): nothing blocks, drops are counted exactly, writing resumes on
// a new connection. Its own executable: the server is shared by the whole process.
#include <doctest/doctest.h>

#include "storage/recorder.hpp"
#include "tests/storage/fault_load.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/storage/store_setup.hpp"

using namespace pglc;
using namespace pglc::test;
using namespace std::chrono_literals;

TEST_CASE("PostgreSQL store stopped and restarted mid-run") {
  const std::string conninfo = fresh_pg_database("pglc_fault");
  LogCapture log;
  storage::RecorderTuning tuning;
  tuning.retry_capacity = 500;
  tuning.retry_initial = 20ms;
  tuning.retry_max = 200ms;
  tuning.log = log.sink();
  auto rec = storage::open_recorder(options_for(conninfo), tuning);
  rec->start();

  const auto t0 = lifecycle::to_wall(lifecycle::now());
  auto session = make_session(t0);
  auto st = make_statement(session.id, StatementKind::extended,
                           text("hp", "SELECT $1", "SELECT $1", "fpp"), t0);
  rec->session_opened(session);
  rec->statement(st);
  enqueue_all(*rec, executions_of(st, t0, 1000));
  REQUIRE(eventually([&] { return rec->stats().rows_executions == 1000; }));

  PgServer::shared().stop();
  const auto worst = enqueue_all(*rec, executions_of(st, t0 + 100000, 2000));
  CHECK(worst < 50ms);
  CHECK(eventually([&] { return rec->stats().dropped_store_error == 1500; }, 30s));
  CHECK(log.count_containing("cannot write to PostgreSQL store") == 1);

  PgServer::shared().start();
  CHECK(eventually([&] { return log.count_containing("again") == 1; }, 30s));
  enqueue_all(*rec, executions_of(st, t0 + 200000, 1000));
  rec->stop();

  const auto& s = rec->stats();
  CHECK(s.dropped_store_error == 1500);
  CHECK(s.dropped_queue_full == 0);
  CHECK(s.rows_executions == 2500);
  PgReader db(conninfo);
  CHECK(db.count("executions") == 2500);
  CHECK(db.count("execution_events") == 2500 * 5);
  CHECK(log.count_containing("cannot write") == 1);
}

TEST_CASE("PostgreSQL store down at start, up later: the first write that connects migrates") {
  const std::string conninfo = fresh_pg_database("pglc_fault_start");
  PgServer::shared().stop();
  LogCapture log;
  storage::RecorderTuning tuning;
  tuning.retry_capacity = 500;
  tuning.retry_initial = 20ms;
  tuning.retry_max = 200ms;
  tuning.log = log.sink();
  auto rec = storage::open_recorder(options_for(conninfo), tuning);  // does not throw
  rec->start();
  CHECK(log.count_containing("cannot connect to the PostgreSQL store") == 1);

  const auto t0 = lifecycle::to_wall(lifecycle::now());
  auto session = make_session(t0);
  auto st = make_statement(session.id, StatementKind::extended,
                           text("hq", "SELECT $2", "SELECT $1", "fpq"), t0);
  rec->session_opened(session);
  rec->statement(st);
  // Kept in the retry backlog while the store is down.
  enqueue_all(*rec, executions_of(st, t0, 100));
  PgServer::shared().start();
  CHECK(eventually([&] { return rec->stats().rows_executions == 100; }, 30s));
  rec->stop();
  CHECK(rec->stats().dropped_store_error == 0);
  PgReader db(conninfo);
  CHECK(db.count("executions") == 100);
  CHECK(db.count("schema_migrations") >= 1);
}
