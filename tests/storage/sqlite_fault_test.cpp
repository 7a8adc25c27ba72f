// SQLite locked by another process mid-run (an exclusive transaction held open — the
// tests run as root, where a chmod would not stop writes through the open descriptor).
#include <doctest/doctest.h>

#include "storage/recorder.hpp"
#include "tests/storage/fault_load.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/storage/store_setup.hpp"

using namespace pglc;
using namespace pglc::test;
using namespace std::chrono_literals;

TEST_CASE("SQLite locked mid-run: nothing blocks, drops are counted, writing resumes") {
  TempDir dir;
  const std::string path = dir.file("locked.db");
  LogCapture log;
  storage::RecorderTuning tuning;
  tuning.retry_capacity = 500;
  tuning.retry_initial = 20ms;
  tuning.retry_max = 100ms;
  tuning.log = log.sink();
  auto rec = storage::open_recorder(options_for("sqlite:" + path), tuning);
  rec->start();

  const auto t0 = lifecycle::to_wall(lifecycle::now());
  auto session = make_session(t0);
  auto st = make_statement(session.id, StatementKind::simple,
                           text("hf", "SELECT 1", "SELECT $1", "fpf"), t0);
  rec->session_opened(session);
  rec->statement(st);
  enqueue_all(*rec, executions_of(st, t0, 1000));
  REQUIRE(eventually([&] { return rec->stats().rows_executions == 1000; }));

  SqliteReader locker(path);
  locker.exec("BEGIN EXCLUSIVE");
  // While the store is locked: the writer keeps 500 records and drops the other 1500.
  const auto worst = enqueue_all(*rec, executions_of(st, t0 + 100000, 2000));
  CHECK(worst < 50ms);
  CHECK(eventually([&] { return rec->stats().dropped_store_error == 1500; }));
  CHECK(log.count_containing("cannot write to SQLite store") == 1);
  CHECK(rec->stats().rows_executions == 1000);

  locker.exec("COMMIT");
  CHECK(eventually([&] { return log.count_containing("again") == 1; }));
  enqueue_all(*rec, executions_of(st, t0 + 200000, 1000));
  rec->stop();

  const auto& s = rec->stats();
  CHECK(s.dropped_store_error == 1500);
  CHECK(s.dropped_queue_full == 0);
  CHECK(s.rows_executions == 2500);
  CHECK(locker.count("executions") == 2500);
  // One line when it failed, one when it came back: not one per record or retry.
  CHECK(log.count_containing("cannot write") == 1);
  CHECK(log.count_containing("1500 records dropped") == 1);
}

TEST_CASE("stop() while the SQLite store stays locked gives up after stop_timeout") {
  TempDir dir;
  const std::string path = dir.file("stuck.db");
  LogCapture log;
  storage::RecorderTuning tuning;
  tuning.stop_timeout = 300ms;
  tuning.retry_initial = 20ms;
  tuning.log = log.sink();
  auto rec = storage::open_recorder(options_for("sqlite:" + path), tuning);
  SqliteReader locker(path);
  locker.exec("BEGIN EXCLUSIVE");
  rec->start();
  const auto t0 = lifecycle::to_wall(lifecycle::now());
  auto session = make_session(t0);
  auto st = make_statement(session.id, StatementKind::simple,
                           text("hs", "SELECT 1", "SELECT $1", "fps"), t0);
  enqueue_all(*rec, executions_of(st, t0, 100));
  const auto started = std::chrono::steady_clock::now();
  rec->stop();
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(rec->stats().dropped_store_error == 100);
  CHECK(log.count_containing("stopping while") == 1);
  locker.exec("ROLLBACK");
}

TEST_CASE("rows the store refuses are dropped, counted and logged once; the writer goes on") {
  TempDir dir;
  const std::string path = dir.file("refused.db");
  LogCapture log;
  storage::RecorderTuning tuning;
  tuning.batch_size = 100;
  tuning.log = log.sink();
  auto rec = storage::open_recorder(options_for("sqlite:" + path), tuning);
  {
    // Someone broke the schema: every write of an execution now fails for good.
    SqliteReader vandal(path);
    vandal.exec("DROP TABLE executions");
  }
  rec->start();
  const auto t0 = lifecycle::to_wall(lifecycle::now());
  auto session = make_session(t0);
  auto st = make_statement(session.id, StatementKind::simple,
                           text("hr", "SELECT 1", "SELECT $1", "fpr"), t0);
  const auto worst = enqueue_all(*rec, executions_of(st, t0, 1000));
  CHECK(worst < 50ms);
  rec->stop();
  CHECK(rec->stats().dropped_store_error == 1000);
  CHECK(rec->stats().rows_executions == 0);
  CHECK(log.count_containing("rows refused") == 1);
  CHECK(log.count_containing("no such table: executions") == 1);
}
