// Rollups: exact counts whatever happens to raw rows (sampling, --min-duration, a full
// queue), minutes, a restart, and a fleet of proxies merging in one PostgreSQL store.
#include <doctest/doctest.h>

#include <random>
#include <thread>
#include <vector>

#include "storage/recorder.hpp"
#include "storage/reset.hpp"
#include "storage/rollup.hpp"
#include "tests/storage/scenario.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/storage/store_setup.hpp"

using namespace pglc;
using namespace pglc::test;

namespace {

constexpr WallMicros kMinute = 60'000'000;

// Executions of `texts` statements spread over `threads` io threads; durations from a
// known distribution (1..100 ms, so a tenth of them are under --min-duration 10ms).
struct Load {
  SessionRecord session;
  std::vector<StatementRecord> statements;
  WallMicros t0;
  explicit Load(WallMicros start, int texts = 5) : session(make_session(start)), t0(start) {
    for (int i = 0; i < texts; ++i) {
      const std::string n = std::to_string(i);
      statements.push_back(make_statement(
          session.id, StatementKind::extended,
          text("h" + n, "SELECT " + n + " FROM t", "SELECT $1 FROM t", "fp" + n), start));
    }
  }
  ExecutionRecord execution(int i) const {
    const auto& st = statements[static_cast<std::size_t>(i) % statements.size()];
    const int ms = i % 100 + 1;
    const WallMicros began = t0 + i * 100;
    ExecutionRecord e = make_execution(st, began, 0, began + 500, began + ms * 1000, 0,
                                       i % 17 == 0   ? ExecutionStatus::error
                                       : i % 23 == 0 ? ExecutionStatus::aborted
                                                     : ExecutionStatus::success);
    if (e.status == ExecutionStatus::error) {
      e.sqlstate = "22012";
      e.error_message = "division by zero";
    }
    if (e.status == ExecutionStatus::aborted) e.finished_at.reset();
    return e;
  }
};

// What the views must say for `n` executions of Load.
struct Expected {
  long long ran = 0, errors = 0, aborted = 0;
};
Expected expected(int n) {
  Expected x;
  for (int i = 0; i < n; ++i) {
    if (i % 17 == 0) {
      ++x.errors;
      ++x.ran;
    } else if (i % 23 == 0) {
      ++x.aborted;
    } else {
      ++x.ran;
    }
  }
  return x;
}

void feed(storage::Recorder& rec, const Load& load, int n, int threads) {
  rec.session_opened(load.session);
  for (const auto& st : load.statements) rec.statement(st);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = t; i < n; i += threads) rec.execution(load.execution(i));
    });
  }
  for (auto& th : pool) th.join();
}

void check_counts(StoreReader& db, int n) {
  const Expected x = expected(n);
  Rows r = db.query("SELECT sum(calls), sum(errors), sum(aborted), count(*) FROM query_stats");
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == std::to_string(x.ran));
  CHECK(r[0][1] == std::to_string(x.errors));
  CHECK(r[0][2] == std::to_string(x.aborted));
  CHECK(r[0][3] == "5");
  CHECK(db.value("SELECT sum(count) FROM error_stats WHERE sqlstate = '22012'") ==
        std::to_string(x.errors));
  // Per minute too: the minutes add up to the totals.
  CHECK(db.value("SELECT sum(calls) FROM query_stats_by_minute") == std::to_string(x.ran));
  // The distribution of every fingerprint: 1..100 ms of which each gets a fifth.
  for (const auto& row : db.query("SELECT p50_ms, p99_ms, max_ms FROM query_stats")) {
    CHECK(num(row[0]) > 40);
    CHECK(num(row[0]) < 60);
    CHECK(num(row[1]) <= num(row[2]) * 1.01);
  }
}

}  // namespace

TEST_CASE("rollups count every execution exactly, also when raw rows are sampled or shed") {
  const int n = 20000;
  for (std::string which : {"sample", "min-duration", "overflow"}) {
    CAPTURE(which);
    TempDir dir;
    auto options = options_for("sqlite:" + dir.file("r.db"));
    if (which == "sample") options.sample_rate = 0.01;
    if (which == "min-duration") options.min_duration = std::chrono::milliseconds(10);
    if (which == "overflow") options.recorder_queue = 50;
    auto rec = storage::open_recorder(options);
    rec->start();
    Load load(lifecycle::to_wall(lifecycle::now()) - 10 * kMinute);
    feed(*rec, load, n, 4);
    rec->stop();
    SqliteReader db(dir.file("r.db"));
    const long long raw = db.count("executions");
    MESSAGE(which << ": " << raw << " raw rows of " << n << " executions");
    CHECK(raw < n);
    if (which == "overflow") CHECK(rec->stats().dropped_queue_full > 0);
    CHECK(rec->stats().dropped_rollups == 0);
    check_counts(db, n);
  }
}

TEST_CASE("rollups: one row per key and minute; a restart adds to the totals") {
  TempDir dir;
  const std::string path = "sqlite:" + dir.file("m.db");
  const WallMicros start = lifecycle::to_wall(lifecycle::now()) / kMinute * kMinute - 30 * kMinute;
  for (int run = 0; run < 2; ++run) {
    auto rec = storage::open_recorder(options_for(path));
    rec->start();
    Load load(start + run * 10 * kMinute, 1);
    rec->session_opened(load.session);
    rec->statement(load.statements[0]);
    // Ten executions in each of three minutes.
    for (int m = 0; m < 3; ++m) {
      for (int i = 0; i < 10; ++i) {
        ExecutionRecord e = make_execution(
            load.statements[0], start + run * 10 * kMinute + m * kMinute + i * 1000, 0, 0, 0, 0);
        e.finished_at = e.began_at + 2000;
        rec->execution(e);
      }
    }
    rec->stop();
  }
  SqliteReader db(dir.file("m.db"));
  CHECK(db.count("rollups") == 6);
  CHECK(db.count("rollup_totals") == 1);
  CHECK(db.value("SELECT calls FROM query_stats") == "60");
  CHECK(db.value("SELECT count(*) FROM query_stats_by_minute WHERE calls = 10") == "6");
  // Each minute's percentiles from that minute's histograms, also under a time filter.
  CHECK(db.value("SELECT count(*) FROM query_stats_by_minute WHERE abs(p50_ms - 2.0) < 0.03 "
                 "AND abs(p99_ms - 2.0) < 0.03") == "6");
  CHECK(ms_near(db.value("SELECT p95_ms FROM query_stats_by_minute "
                         "WHERE minute >= (SELECT max(minute) FROM rollups)"),
                2.0));
  CHECK(ms_near(db.value("SELECT p95_ms FROM query_stats"), 2.0));
  // Any merged set of rollups can be ranked in plain SQL (the recipe of docs/storage.md).
  CHECK(ms_near(db.value(R"sql(
      WITH b AS (SELECT ms, sum(n) AS n FROM rollup_buckets
                 WHERE phase = 'total' AND status <> 'aborted' GROUP BY ms),
           c AS (SELECT ms, sum(n) OVER (ORDER BY ms) AS cum, sum(n) OVER () AS n_all FROM b)
      SELECT min(ms) FROM c WHERE cum >= 0.95 * n_all)sql"),
                2.0));
}

TEST_CASE("a fleet: two proxies write one PostgreSQL store, the views sum them") {
  const std::string conninfo = fresh_pg_database("pglc_fleet");
  const WallMicros start = lifecycle::to_wall(lifecycle::now()) - 5 * kMinute;
  std::vector<std::unique_ptr<storage::Recorder>> proxies;
  for (const char* name : {"proxy-a:6432", "proxy-b:6432"}) {
    auto options = options_for(conninfo);
    options.instance_name = name;
    proxies.push_back(storage::open_recorder(options));
    proxies.back()->start();
  }
  Load load(start);
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < proxies.size(); ++p) {
    threads.emplace_back([&, p] { feed(*proxies[p], load, 5000, 2); });
  }
  for (auto& t : threads) t.join();
  for (auto& p : proxies) p->stop();
  PgReader db(conninfo);
  CHECK(db.value("SELECT count(DISTINCT proxy_instance) FROM rollup_totals") == "2");
  const Expected x = expected(5000);
  CHECK(db.value("SELECT sum(calls) FROM query_stats") == std::to_string(2 * x.ran));
  CHECK(db.value("SELECT sum(aborted) FROM query_stats") == std::to_string(2 * x.aborted));
  CHECK(db.value("SELECT sum(calls) FROM query_stats_by_minute") == std::to_string(2 * x.ran));
  for (const auto& row : db.query("SELECT p50_ms FROM query_stats")) {
    CHECK(num(row[0]) > 40);
    CHECK(num(row[0]) < 60);
  }
  // Per minute, merged across the fleet, and filtered: every row has its percentiles.
  CHECK(db.value("SELECT count(*) FROM query_stats_by_minute WHERE calls > 0 AND "
                 "(p50_ms IS NULL OR NOT (p50_ms <= p95_ms AND p95_ms <= p99_ms AND "
                 "p99_ms <= max_ms))") == "0");
  CHECK(db.value("SELECT count(*) FROM query_stats_by_minute WHERE minute >= now() - "
                 "interval '1 hour' AND p95_ms IS NOT NULL") != "0");
}

TEST_CASE("a store that fails while rollups are due: kept, written once it is back") {
  TempDir dir;
  const std::string path = dir.file("l.db");
  storage::RecorderTuning tuning;
  tuning.rollup_interval = std::chrono::milliseconds(50);
  tuning.retry_initial = std::chrono::milliseconds(10);
  tuning.retry_max = std::chrono::milliseconds(50);
  LogCapture log;
  tuning.log = log.sink();
  auto rec = storage::open_recorder(options_for("sqlite:" + path), tuning);
  rec->start();
  // Hold the database locked while old minutes are due.
  SqliteReader lock(path);
  lock.exec("BEGIN EXCLUSIVE");
  Load load(lifecycle::to_wall(lifecycle::now()) - 10 * kMinute);
  feed(*rec, load, 2000, 2);
  CHECK(eventually([&] { return log.count_containing("cannot write rollups") >= 1; }));
  lock.exec("COMMIT");
  CHECK(eventually([&] { return rec->stats().rows_rollups > 0; }));
  rec->stop();
  SqliteReader db(path);
  CHECK(db.value("SELECT sum(calls) + sum(aborted) FROM query_stats") == "2000");
}

TEST_CASE("--rollup-retention deletes old minutes, keeps the totals") {
  TempDir dir;
  auto options = options_for("sqlite:" + dir.file("rr.db"));
  options.rollup_retention = std::chrono::hours(24 * 30);
  storage::RecorderTuning tuning;
  tuning.rollup_interval = std::chrono::milliseconds(20);
  tuning.retention_interval = std::chrono::milliseconds(20);
  auto rec = storage::open_recorder(options, tuning);
  rec->start();
  const WallMicros now = lifecycle::to_wall(lifecycle::now());
  Load old_load(now - 40LL * 24 * 3600 * 1'000'000, 1);  // forty days ago
  Load recent(now - 10 * kMinute, 1);
  feed(*rec, old_load, 100, 1);
  feed(*rec, recent, 100, 1);
  SqliteReader db(dir.file("rr.db"));
  CHECK(eventually([&] {
    return db.count("rollups") > 0 &&
           db.count("rollups WHERE minute < " +
                    std::to_string(now - 30LL * 24 * 3600 * 1'000'000)) == 0;
  }));
  rec->stop();
  CHECK(db.count("rollups") >= 1);
  const Expected x = expected(100);
  CHECK(db.value("SELECT sum(calls) FROM query_stats") == std::to_string(2 * x.ran));
}

namespace {

// pglifecycle reset while a proxy writes: its next totals write sees stats_reset move,
// forgets its totals and counts from the store's (empty) ones, so the reset holds.
void check_reset_while_writing(const std::string& storage, StoreReader& db) {
  const WallMicros start = lifecycle::to_wall(lifecycle::now()) / kMinute * kMinute - 30 * kMinute;
  Load load(start, 1);
  auto run = [&](storage::Recorder& rec, int minute, int n) {
    for (int i = 0; i < n; ++i) {
      ExecutionRecord e =
          make_execution(load.statements[0], start + minute * kMinute + i * 1000, 0, 0, 0, 0);
      e.finished_at = e.began_at + 2000;
      rec.execution(e);
    }
  };
  {
    auto first = storage::open_recorder(options_for(storage));
    first->start();
    first->session_opened(load.session);
    first->statement(load.statements[0]);
    run(*first, 0, 30);
    first->stop();
  }
  storage::RecorderTuning tuning;
  tuning.rollup_interval = std::chrono::milliseconds(20);
  auto rec = storage::open_recorder(options_for(storage), tuning);
  rec->start();
  run(*rec, 1, 10);
  auto calls = [&] { return db.value("SELECT coalesce(sum(calls), 0) FROM query_stats"); };
  // It loaded 30 and wrote 40; its raw rows are in too (what is still queued when a reset
  // runs is written after it).
  REQUIRE(eventually([&] { return calls() == "40" && db.count("executions") == 40; }));
  const WallMicros now = lifecycle::to_wall(lifecycle::now());
  const storage::ResetReport report = storage::reset_store(storage, true, now, now);
  CHECK(report.totals);
  CHECK(report.raw_rows >= 40);  // the executions, and their statement, text and session
  CHECK(calls() == "0");
  CHECK(db.count("executions") == 0);
  run(*rec, 2, 5);
  CHECK(eventually([&] { return calls() == "5"; }));
  rec->stop();
  CHECK(calls() == "5");  // not 45: the proxy's stale totals did not come back
  CHECK(db.count("executions") == 5);
  CHECK(db.count("stats_reset WHERE id = 1") == 1);
}

}  // namespace

TEST_CASE("reset --all while a proxy writes: the totals start again and stay reset") {
  SUBCASE("SQLite") {
    TempDir dir;
    const std::string path = dir.file("reset.db");
    storage::open_recorder(options_for("sqlite:" + path));
    SqliteReader db(path);
    check_reset_while_writing("sqlite:" + path, db);
  }
  SUBCASE("PostgreSQL") {
    const std::string conninfo = fresh_pg_database("pglc_reset");
    storage::open_recorder(options_for(conninfo));
    PgReader db(conninfo);
    check_reset_while_writing(conninfo, db);
  }
}

TEST_CASE("reset --before deletes older raw rows and minutes, keeps the totals") {
  TempDir dir;
  const std::string path = dir.file("before.db");
  const WallMicros now = lifecycle::to_wall(lifecycle::now());
  const WallMicros old_start = now / kMinute * kMinute - 3 * 24 * 60 * kMinute;
  {
    auto rec = storage::open_recorder(options_for("sqlite:" + path));
    rec->start();
    for (WallMicros t0 : {old_start, now / kMinute * kMinute - 30 * kMinute}) {
      Load load(t0, 1);
      rec->session_opened(load.session);
      rec->statement(load.statements[0]);
      for (int i = 0; i < 10; ++i) {
        ExecutionRecord e = make_execution(load.statements[0], t0 + i * 1000, 0, 0, 0, 0);
        e.finished_at = e.began_at + 2000;
        rec->execution(e);
      }
      SessionRecord closed = load.session;
      closed.disconnected_at = t0 + 20000;
      rec->session_closed(closed);
    }
    rec->stop();
  }
  SqliteReader db(path);
  REQUIRE(db.count("executions") == 20);
  REQUIRE(db.count("rollups") == 2);
  const storage::ResetReport r =
      storage::reset_store("sqlite:" + path, false, now - 24 * 60 * kMinute, now);
  CHECK_FALSE(r.totals);
  CHECK(r.minute_rows == 1);
  CHECK(db.count("executions") == 10);
  CHECK(db.count("sessions") == 1);
  CHECK(db.count("rollups") == 1);
  CHECK(db.value("SELECT calls FROM query_stats") == "20");  // the all-time totals stay
}
