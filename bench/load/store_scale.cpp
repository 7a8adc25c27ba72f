// The SQLite store at scale, in-process (no proxy, no PostgreSQL), for bench/store_scale.sh:
// feeds EXECUTIONS synthetic executions spread evenly over the last DAYS days through
// storage::open_recorder into a new SQLite file, then measures what DESIGN §3 budgets —
// bytes on disk per execution, executions stored per CPU-second, how long query_stats and
// error_stats take — plus query_stats_by_minute and a one-hour execution_summary count on the
// result. With RETENTION_DAYS it also shows how the file grows while retention runs, and
// how long retention then needs to catch up.
//
//   store_scale FILE EXECUTIONS [DAYS=7] [RETENTION_DAYS=0]
//   store_scale CONNINFO EXECUTIONS [DAYS=7]   the PostgreSQL store: fed and summarized;
//                                              bench/store_scale.sh times its queries
//
// Workload: sessions of 10,000 executions; every tenth execution comes with a new extended
// statement (and its parsed event) of one of 10,000 texts of 2,000 shapes (2,000
// fingerprints), in sessions of four applications and two users; 2 %
// of the executions fail with 22012; totals are spread log-uniformly (0.2–65 ms) so that the
// rollups' histograms have realistic widths. FILE must not exist.
//
// Output: one "progress" line per million executions fed (per tenth of a shorter run), then
// "summary", "query", "table" and "check" lines of key=value fields (bench/store_scale.sh
// reads them). Exit status 2 when a record was dropped or an execution is missing.
//
// Environment: STORE_SCALE_DRAIN=0 keeps the recorder queue full instead of letting the
// writer drain it every 50,000 records (see throttle()); STORE_SCALE_RETENTION_WAIT=seconds
// bounds the wait for retention to catch up (default 1800).
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/options.hpp"
#include "lifecycle/records.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/uuid.hpp"
#include "storage/recorder.hpp"

namespace {

using namespace pglc;
using lifecycle::WallMicros;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kSessionSize = 10000;
constexpr std::int64_t kStatementEvery = 10;
constexpr std::int64_t kChunk = 10000;      // executions fed between two looks at the queue
constexpr std::int64_t kHighWater = 50000;  // queued records
constexpr int kTexts = 10000;
constexpr int kShapes = 2000;
constexpr WallMicros kDayUs = 86'400'000'000;
constexpr WallMicros kHourUs = 3'600'000'000;

double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::int64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

// What the store occupies while it is open: the WAL holds pages not yet checkpointed.
std::int64_t disk_bytes(const std::string& path) {
  return file_size(path) + file_size(path + "-wal");
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64: a cheap, fixed pseudo-random sequence
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Read-only connection of our own: the queries are timed as a reader (Grafana, sqlite3)
// would see them, beside the writer while it runs and on the closed store afterwards.
class Reader {
 public:
  explicit Reader(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path + " read-only: " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Reader() { sqlite3_close(db_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Steps `sql` to the end, calling row(stmt) per row; the rows count. Throws on error.
  template <typename F>
  std::int64_t each(const std::string& sql, F&& row) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sqlite3_errmsg(db_)) + " in: " + sql);
    }
    std::int64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      row(st);
      ++n;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string(sqlite3_errmsg(db_)) + ": " + sql);
    return n;
  }
  std::int64_t count(const std::string& sql) {
    return each(sql, [](sqlite3_stmt*) {});
  }
  std::optional<std::int64_t> integer(const std::string& sql) {
    std::optional<std::int64_t> v;
    each(sql, [&](sqlite3_stmt* st) {
      if (sqlite3_column_type(st, 0) != SQLITE_NULL) v = sqlite3_column_int64(st, 0);
    });
    return v;
  }

  struct Timed {
    double best_ms = 0;
    std::int64_t rows = 0;
    int runs = 0;
  };
  // Best of three: the first run also pays for reading the pages into the OS cache.
  // A query slower than 10 s runs once: its best would not change the verdict.
  Timed best_of_3(const std::string& sql) {
    Timed t{1e300, 0, 0};
    while (t.runs == 0 || (t.runs < 3 && t.best_ms < 10'000)) {
      const auto start = Clock::now();
      t.rows = count(sql);
      t.best_ms = std::min(t.best_ms, seconds_since(start) * 1e3);
      ++t.runs;
    }
    return t;
  }
  std::string plan(const std::string& sql) {
    std::string out;
    each("EXPLAIN QUERY PLAN " + sql, [&](sqlite3_stmt* st) {
      if (!out.empty()) out += "; ";
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    });
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Age of the oldest execution stored, in days before `now` ("none" while there is none).
std::string oldest_days(Reader& db, WallMicros now) {
  const auto b = db.integer("SELECT began_at FROM executions ORDER BY id LIMIT 1");
  if (!b) return "none";
  char out[32];
  std::snprintf(out, sizeof out, "%.2f",
                static_cast<double>(now - *b) / static_cast<double>(kDayUs));
  return out;
}

// True when retention has nothing left before `cutoff`: the oldest execution is newer, and
// the oldest statement and session are newer or still referred to by it (ids sort by time,
// so each look is one step down a b-tree).
bool retention_caught_up(Reader& db, WallMicros cutoff) {
  std::optional<std::int64_t> e_stmt, e_session;
  bool old_execution = false;
  db.each("SELECT began_at, statement_id, session_id FROM executions ORDER BY id LIMIT 1",
          [&](sqlite3_stmt* st) {
            old_execution = sqlite3_column_int64(st, 0) < cutoff;
            e_stmt = sqlite3_column_int64(st, 1);
            e_session = sqlite3_column_int64(st, 2);
          });
  if (old_execution) return false;
  bool old = false;
  auto check = [&](const char* sql, const std::optional<std::int64_t>& referred) {
    db.each(sql, [&](sqlite3_stmt* st) {
      old =
          old || (sqlite3_column_int64(st, 1) < cutoff && sqlite3_column_int64(st, 0) != referred);
    });
  };
  check("SELECT id, received_at FROM statements ORDER BY id LIMIT 1", e_stmt);
  check("SELECT id, coalesce(disconnected_at, connected_at) FROM sessions ORDER BY id LIMIT 1",
        e_session);
  return !old;
}

// The longest time without a commit of raw rows while records waited, watched from the
// recorder's counters (it keeps no such figure itself). Each gap includes the write of one
// batch; what stands out beyond that is the writer doing something else: rollups,
// retention, a checkpoint.
class CommitWatch {
 public:
  explicit CommitWatch(const storage::RecorderStats& s) : stats_(s), thread_([this] { run(); }) {}
  ~CommitWatch() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double longest_ms() const { return longest_us_.load() / 1e3; }
  std::int64_t over_100ms() const { return over_100ms_.load(); }
  double cpu_s() const { return cpu_s_.load(); }

 private:
  std::uint64_t committed() const {
    return stats_.rows_executions.load() + stats_.rows_statements.load() +
           stats_.rows_sessions.load();
  }
  void run() {
    std::uint64_t last = committed();
    auto since = Clock::now();
    std::int64_t gap_us = 0;
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const auto now = Clock::now();
      const std::uint64_t rows = committed();
      if (rows != last || stats_.queue_bytes.load() == 0) {
        if (gap_us > 100'000) over_100ms_.fetch_add(1);
        last = rows;
        since = now;
        gap_us = 0;
        continue;
      }
      gap_us = std::chrono::duration_cast<std::chrono::microseconds>(now - since).count();
      if (gap_us > longest_us_.load()) longest_us_.store(gap_us);
    }
    cpu_s_.store(thread_cpu_s());
  }

  const storage::RecorderStats& stats_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> longest_us_{0}, over_100ms_{0};
  std::atomic<double> cpu_s_{0};
  std::thread thread_;
};

// Replaying days in minutes saturates the writer, and the recorder writes rollups and runs
// retention only between batches when no full batch is waiting: with the queue kept full
// neither would happen before stop(). A proxy's writer has such pauses all the time, so by
// default the feeder lets the writer drain the queue (and its last batch) whenever more
// than kHighWater records wait, which costs the writer a few milliseconds of idleness per
// cycle and no CPU. STORE_SCALE_DRAIN=0 only holds the queue under kHighWater.
void throttle(const storage::RecorderStats& s, bool drain) {
  if (s.queue_depth.load() <= kHighWater) return;
  while (drain ? s.queue_bytes.load() > 0 : s.queue_depth.load() > kHighWater) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::vector<std::shared_ptr<const lifecycle::SqlText>> make_texts(std::size_t max_sql_length) {
  std::vector<std::shared_ptr<const lifecycle::SqlText>> out;
  for (int t = 0; t < kTexts; ++t) {
    const int shape = t % kShapes;
    // Letters, not numbers: libpg_query's fingerprint folds relation names that differ in
    // their numbers (partitions such as orders_2024), and orders_0..orders_49 gave 11.
    std::string table = "orders_";
    table += static_cast<char>('a' + shape / 676);
    table += static_cast<char>('a' + shape / 26 % 26);
    table += static_cast<char>('a' + shape % 26);
    const std::string sql =
        "select \"_\".\"OrderID\", \"_\".\"Amount\", \"_\".\"Region\" from \"public\".\"" + table +
        "\" \"_\" where \"_\".\"Region\" = $1 and \"_\".\"Year\" = " +
        std::to_string(2000 + t / kShapes);
    const lifecycle::SqlAnalysis a = lifecycle::analyze_sql(sql, max_sql_length);
    out.push_back(std::make_shared<const lifecycle::SqlText>(
        lifecycle::SqlText{lifecycle::sql_hash(sql), sql, a.normalized_sql.value_or(sql),
                           a.fingerprint.value_or("shape" + std::to_string(shape))}));
  }
  return out;
}

std::optional<double> parse_number(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string(v) == "0";
}

// A libpq conninfo instead of a file: the PostgreSQL store. The tool then feeds it and
// reports the writer's figures; bench/store_scale.sh times the queries with psql.
bool is_conninfo(const std::string& target) {
  return target.rfind("postgresql://", 0) == 0 || target.rfind("postgres://", 0) == 0 ||
         target.find('=') != std::string::npos;
}

int run(const std::string& path, std::int64_t n, double days, double retention_days) {
  const bool pg = is_conninfo(path);
  storage::RecorderConfig o;
  o.storage = pg ? path : "sqlite:" + path;
  o.instance_name = "bench:6432";
  // Far above kHighWater: the throttle looks at the queue once per chunk only.
  o.recorder_queue = 1'000'000;
  o.recorder_queue_bytes = std::size_t{1} << 30;
  if (retention_days > 0) {
    o.retention = std::chrono::seconds(static_cast<std::int64_t>(retention_days * 86400));
  }
  storage::RecorderTuning tuning;
  tuning.retention_interval = std::chrono::milliseconds(1000);
  const bool drain = !env_off("STORE_SCALE_DRAIN");
  const char* wait_env = std::getenv("STORE_SCALE_RETENTION_WAIT");
  const double retention_wait_s = wait_env ? std::atof(wait_env) : 1800;

  const auto texts = make_texts(o.max_sql_length);
  std::set<std::string> fingerprints;
  for (const auto& t : texts) fingerprints.insert(*t->fingerprint);

  auto rec = storage::open_recorder(o, tuning);
  const storage::RecorderStats& stats = rec->stats();
  auto live = pg ? nullptr : std::make_unique<Reader>(path);

  // The data ends now; its last hour is what the one-hour queries select.
  const WallMicros data_end = lifecycle::to_wall(lifecycle::now());
  const WallMicros span = static_cast<WallMicros>(days * static_cast<double>(kDayUs));
  const WallMicros data_begin = data_end - span;
  const double spacing = static_cast<double>(span) / static_cast<double>(n);
  const std::int64_t every =
      n >= 2'000'000 ? 1'000'000 : std::max<std::int64_t>(kChunk, n / 10 / kChunk * kChunk);

  std::printf("store_scale: %s, %" PRId64
              " executions over %g days (retention %g days), sessions of %" PRId64
              ", a statement every %" PRId64 " executions, %d texts, %zu fingerprints, drain=%d\n",
              path.c_str(), n, days, retention_days, kSessionSize, kStatementEvery, kTexts,
              fingerprints.size(), drain ? 1 : 0);
  std::fflush(stdout);

  // Ids of the record's own time, as the proxy makes them live: retention deletes by id
  // range, so an id of the feeding time would make old rows look new.
  std::uint32_t sequence = 0;
  auto id_at = [&](WallMicros t) {
    return lifecycle::uuid_v7_with(t / 1000, sequence++ & 0x3fffff);
  };

  lifecycle::SessionRecord session;
  session.proxy_instance = o.instance_name;
  session.client_addr = "10.1.2.3";
  session.backend_addr = "127.0.0.1:5432";
  session.user_name = "bench";
  session.database_name = "sales";
  session.application_name = "PowerBI Desktop";
  lifecycle::StatementRecord stmt;
  stmt.kind = lifecycle::StatementKind::extended;
  stmt.param_types = "{25}";
  lifecycle::ExecutionRecord e;
  e.application_name = session.application_name;
  e.kind = stmt.kind;
  e.user_name = session.user_name;
  e.database_name = session.database_name;
  e.fetches = 1;

  const auto wall0 = Clock::now();
  const double cpu0 = process_cpu_s(), main_cpu0 = thread_cpu_s();
  CommitWatch watch(stats);
  rec->start();

  std::int64_t statements = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (i % kChunk == 0) throttle(stats, drain);
    const WallMicros b = data_begin + static_cast<WallMicros>(static_cast<double>(i) * spacing);
    const std::uint64_t r = mix(static_cast<std::uint64_t>(i));
    if (i % kSessionSize == 0) {
      session.connected_at = b - 5000;
      session.id = id_at(session.connected_at);
      session.client_port = 40000 + static_cast<int>(i / kSessionSize % 20000);
      session.backend_pid = 1000 + static_cast<std::int32_t>(i / kSessionSize % 30000);
      // Several applications and users, as a shared database sees them.
      static const char* const kApps[] = {"PowerBI Desktop", "Mashup Engine", "psql", "etl"};
      const auto k = static_cast<std::size_t>(i / kSessionSize % 4);
      session.application_name = kApps[k];
      session.user_name = k == 3 ? "etl" : "bench";
      e.application_name = session.application_name;
      e.user_name = session.user_name;
      session.disconnected_at.reset();
      session.end_reason.reset();
      rec->session_opened(session);
    }
    const bool fresh_statement = i % kStatementEvery == 0;
    if (fresh_statement) {
      stmt.received_at = b - 200;
      stmt.id = id_at(stmt.received_at);
      stmt.session_id = session.id;
      stmt.sql = texts[static_cast<std::size_t>(statements++ % kTexts)];
      rec->statement(stmt);
      rec->statement_event({stmt.id, lifecycle::StatementEvent::parsed, b - 80});
    }
    const int shape = static_cast<int>((statements - 1) % kTexts % kShapes);
    const bool error = i % 50 == 25;
    // Log-uniform totals, slower for higher shapes: the fingerprints' percentiles differ.
    const double u = static_cast<double>(r >> 11) / 9007199254740992.0;
    const auto total = static_cast<WallMicros>((200.0 + 40.0 * shape) * std::pow(30.0, u));
    const WallMicros bind = 30 + static_cast<WallMicros>(r % 50);
    e.id = id_at(b);
    e.statement_id = stmt.id;
    e.session_id = session.id;
    e.sql = stmt.sql;
    e.began_at = b;
    e.finished_at = b + total;
    e.status = error ? lifecycle::ExecutionStatus::error : lifecycle::ExecutionStatus::success;
    e.sqlstate = error ? "22012" : "";
    e.error_message = error ? "division by zero" : "";
    e.command_tag = error ? "" : "SELECT 42";
    e.rows = error ? 0 : 42;
    e.result_bytes = error ? 0 : 4200;
    e.events.clear();
    e.events.emplace_back(lifecycle::ExecutionEvent::received, b);
    e.events.emplace_back(lifecycle::ExecutionEvent::bound, b + bind);
    if (!error) e.events.emplace_back(lifecycle::ExecutionEvent::executed, b + total * 6 / 10);
    e.events.emplace_back(lifecycle::ExecutionEvent::finished, b + total);
    e.events.emplace_back(lifecycle::ExecutionEvent::delivered, b + total + 50);
    e.bind_seconds = static_cast<double>(bind) / 1e6;
    e.first_row_seconds =
        error ? std::nullopt : std::optional<double>(static_cast<double>(total * 6 / 10) / 1e6);
    e.total_seconds = static_cast<double>(total) / 1e6;
    e.deliver_seconds = 50e-6;
    e.parse_seconds = fresh_statement ? std::optional<double>(120e-6) : std::nullopt;
    rec->execution(e);
    if (i % kSessionSize == kSessionSize - 1 || i == n - 1) {
      session.disconnected_at = b + total + 1000;
      session.end_reason = lifecycle::EndReason::client_terminate;
      rec->session_closed(session);
    }
    if ((i + 1) % every == 0) {
      std::printf("progress fed=%" PRId64 " written=%" PRIu64
                  " elapsed_s=%.1f cpu_s=%.1f disk_bytes=%" PRId64 " drops=%" PRIu64
                  " oldest_days=%s rollup_rows=%" PRIu64 "\n",
                  i + 1, stats.rows_executions.load(), seconds_since(wall0), process_cpu_s() - cpu0,
                  pg ? std::int64_t{-1} : disk_bytes(path),
                  stats.dropped_queue_full.load() + stats.dropped_store_error.load(),
                  pg ? "n/a" : oldest_days(*live, data_end).c_str(), stats.rows_rollups.load());
      std::fflush(stdout);
    }
  }
  const double main_cpu = thread_cpu_s() - main_cpu0;
  while (stats.queue_bytes.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double written_wall = seconds_since(wall0), written_cpu = process_cpu_s() - cpu0;
  const std::uint64_t rollups_before_stop = stats.rows_rollups.load();
  std::printf("written executions=%" PRIu64 " elapsed_s=%.1f cpu_s=%.1f disk_bytes=%" PRId64
              " rollup_rows=%" PRIu64 "\n",
              stats.rows_executions.load(), written_wall, written_cpu, disk_bytes(path),
              rollups_before_stop);
  std::fflush(stdout);

  if (o.retention) {
    // Retention deletes at most retention_chunk rows per table per pass between batches;
    // with the writer idle now, it runs pass after pass.
    const auto t0 = Clock::now();
    const double c0 = process_cpu_s();
    auto last_print = t0;
    bool caught_up = false;
    const WallMicros keep = static_cast<WallMicros>(retention_days * static_cast<double>(kDayUs));
    for (;;) {
      const WallMicros now = lifecycle::to_wall(lifecycle::now());
      caught_up = retention_caught_up(*live, now - keep);
      if (caught_up || seconds_since(t0) > retention_wait_s) break;
      if (seconds_since(last_print) >= 10) {
        last_print = Clock::now();
        std::printf("retention waiting_s=%.0f cpu_s=%.1f oldest_days=%s disk_bytes=%" PRId64 "\n",
                    seconds_since(t0), process_cpu_s() - c0, oldest_days(*live, data_end).c_str(),
                    disk_bytes(path));
        std::fflush(stdout);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::printf(
        "retention caught_up=%s after_s=%.1f cpu_s=%.1f oldest_days=%s "
        "disk_bytes=%" PRId64 "\n",
        caught_up ? "yes" : "no", seconds_since(t0), process_cpu_s() - c0,
        oldest_days(*live, data_end).c_str(), disk_bytes(path));
    std::fflush(stdout);
  }

  const auto stop_t0 = Clock::now();
  const double stop_cpu0 = process_cpu_s();
  rec->stop();
  watch.finish();
  const double stop_wall = seconds_since(stop_t0), stop_cpu = process_cpu_s() - stop_cpu0;
  const double wall = written_wall + stop_wall, cpu = written_cpu + stop_cpu;
  // The writer is the process minus the feeder (building records and enqueueing them,
  // which the io threads do in the proxy) and the watcher.
  const double writer_cpu = cpu - main_cpu - watch.cpu_s();
  const std::uint64_t fed_statements = static_cast<std::uint64_t>(statements);
  const std::uint64_t drops = stats.dropped_queue_full.load() + stats.dropped_store_error.load();
  const std::uint64_t rollup_rows = stats.rows_rollups.load();
  // The last connection to close checkpoints the WAL into the file and removes it: the
  // writer's, once the reader is gone.
  live.reset();
  rec.reset();
  if (pg) {
    std::printf("summary executions_fed=%" PRId64 " statements_fed=%" PRIu64 " drops=%" PRIu64
                " wall_s=%.1f cpu_s=%.1f writer_cpu_s=%.1f feeder_cpu_s=%.1f"
                " executions_per_cpu_s=%.0f executions_per_writer_cpu_s=%.0f stop_s=%.1f"
                " rollup_rows=%" PRIu64 "\n",
                n, fed_statements, drops, wall, cpu, writer_cpu, main_cpu,
                static_cast<double>(n) / cpu, static_cast<double>(n) / writer_cpu, stop_wall,
                rollup_rows);
    std::printf("stall longest_commit_gap_ms=%.0f gaps_over_100ms=%" PRId64 "\n",
                watch.longest_ms(), watch.over_100ms());
    std::printf("data end_us=%" PRId64 "\n", data_end);
    return drops == 0 ? 0 : 2;
  }

  const std::int64_t bytes = disk_bytes(path);
  Reader db(path);
  const std::int64_t rows = db.integer("SELECT count(*) FROM executions").value_or(0);
  std::printf("summary executions_fed=%" PRId64 " statements_fed=%" PRIu64
              " executions_rows=%" PRId64 " drops=%" PRIu64
              " wall_s=%.1f cpu_s=%.1f"
              " writer_cpu_s=%.1f feeder_cpu_s=%.1f executions_per_cpu_s=%.0f"
              " executions_per_writer_cpu_s=%.0f stop_s=%.1f rollup_rows=%" PRIu64
              " rollup_rows_at_stop=%" PRIu64 " disk_bytes=%" PRId64
              " bytes_per_execution=%.1f bytes_per_execution_fed=%.1f\n",
              n, fed_statements, rows, drops, wall, cpu, writer_cpu, main_cpu,
              static_cast<double>(n) / cpu, static_cast<double>(n) / writer_cpu, stop_wall,
              rollup_rows, rollup_rows - rollups_before_stop, bytes,
              rows > 0 ? static_cast<double>(bytes) / static_cast<double>(rows) : 0.0,
              static_cast<double>(bytes) / static_cast<double>(n));
  std::printf("stall longest_commit_gap_ms=%.0f gaps_over_100ms=%" PRId64
              " retention_longest_pass_ms=%.1f expired_rows=%" PRIu64
              " (the commit gap is the longest time no raw row was committed while records"
              " waited, one batch's write included; the retention pass, the recorder's own"
              " figure, is the longest time retention kept the writer from inserting)\n",
              watch.longest_ms(), watch.over_100ms(),
              static_cast<double>(stats.retention_longest_pass_us.load()) / 1e3,
              stats.rows_expired.load());

  // Each table's and index's share (needs SQLite's dbstat, present in Debian's build).
  try {
    db.each("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC",
            [&](sqlite3_stmt* st) {
              const double per = static_cast<double>(sqlite3_column_int64(st, 1)) /
                                 static_cast<double>(std::max<std::int64_t>(rows, 1));
              if (per >= 0.5) {
                std::printf("table name=%s bytes=%" PRId64 " bytes_per_execution=%.1f\n",
                            reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                            static_cast<std::int64_t>(sqlite3_column_int64(st, 1)), per);
              }
            });
  } catch (const std::exception& ex) {
    std::printf("table unavailable=\"%s\"\n", ex.what());
  }

  const std::string hour_ago = std::to_string(data_end - kHourUs);
  const struct {
    const char* name;
    std::string sql;
  } queries[] = {
      {"query_stats", "SELECT * FROM query_stats ORDER BY calls DESC LIMIT 5"},
      {"error_stats", "SELECT * FROM error_stats"},
      // minute: microseconds since the epoch, the minute's start (sqlite_schema.cpp).
      {"query_stats_by_minute_1h", "SELECT * FROM query_stats_by_minute WHERE minute >= " +
                                       hour_ago + " ORDER BY calls DESC LIMIT 5"},
      {"execution_summary_1h",
       "SELECT count(*) FROM execution_summary WHERE began_at >= " + hour_ago},
      // The README's five queries (2 and 4 for the newest execution and PowerBI session;
      // 5 over the last day of the data).
      {"readme_1_slowest_p95",
       "SELECT normalized_sql, calls, errors, round(p50_ms, 2) AS p50, round(p95_ms, 2) AS p95, "
       "round(p99_ms, 2) AS p99, round(total_ms / 1000, 1) AS total_s FROM query_stats "
       "WHERE calls >= 10 ORDER BY p95_ms DESC LIMIT 20"},
      {"readme_2_one_execution",
       "SELECT kind, statement_name, sql, status, rows, bind_ms, first_row_ms, execute_ms, "
       "total_ms, deliver_ms FROM execution_summary "
       "WHERE execution_id = (SELECT max(id) FROM executions)"},
      {"readme_2_its_events",
       "SELECT event, occurred_at FROM execution_events "
       "WHERE execution_id = (SELECT max(id) FROM executions) ORDER BY occurred_at"},
      {"readme_3_errors_by_sqlstate",
       "SELECT sqlstate, sum(count) AS errors, max(last_seen) AS last_seen, "
       "max(last_message) AS example FROM error_stats GROUP BY sqlstate ORDER BY errors DESC"},
      {"readme_4_session_timeline",
       "SELECT strftime('%H:%M:%f', e.began_at / 1e6, 'unixepoch') AS began, e.kind, "
       "e.statement_name, e.status, e.rows, round(e.first_row_ms, 1) AS first_row_ms, "
       "round(e.total_ms, 1) AS total_ms, substr(e.sql, 1, 80) AS sql "
       "FROM execution_summary e WHERE e.session_id = (SELECT id FROM sessions "
       "WHERE application_name LIKE 'PowerBI%' ORDER BY connected_at DESC LIMIT 1) "
       "ORDER BY e.began_at"},
      {"readme_5_per_application_24h",
       "SELECT application_name, sum(calls) AS executions, sum(failed) AS failed, "
       "round(sum(total_us) / 1000.0 / sum(calls), 2) AS mean_ms FROM (SELECT minute, "
       "application_name, sum(calls) AS calls, "
       "sum(CASE WHEN status <> 'success' THEN calls ELSE 0 END) AS failed, "
       "sum(total_us) AS total_us FROM rollups WHERE minute > " +
           std::to_string(data_end - kDayUs) +
           " GROUP BY minute, application_name) GROUP BY application_name "
           "ORDER BY executions DESC"},
  };
  for (const auto& q : queries) {
    const Reader::Timed t = db.best_of_3(q.sql);
    std::printf("query name=%s best_ms=%.1f runs=%d rows=%" PRId64, q.name, t.best_ms, t.runs,
                t.rows);
    if (std::string(q.name) == "execution_summary_1h") {
      std::printf(" count=%" PRId64, db.integer(q.sql).value_or(0));
    }
    // Where a query is slow, how SQLite runs it says why.
    if (t.best_ms >= 100) std::printf(" plan=\"%s\"", db.plan(q.sql).c_str());
    std::printf("\n");
  }
  // Rollups count every execution: a gap here is a lost rollup, not a slow query.
  const auto calls = db.integer("SELECT sum(calls) FROM query_stats").value_or(0);
  const auto errors = db.integer("SELECT sum(errors) FROM query_stats").value_or(0);
  const auto error_count = db.integer("SELECT sum(count) FROM error_stats").value_or(0);
  std::printf("check query_stats_calls=%" PRId64 " query_stats_errors=%" PRId64
              " error_stats_count=%" PRId64 " expected_errors=%" PRId64 "\n",
              calls, errors, error_count, (n + 24) / 50);
  std::fflush(stdout);

  bool ok = drops == 0 && calls == n;
  if (!o.retention) ok = ok && rows == n;
  if (!ok) std::fprintf(stderr, "store_scale: records were dropped or not all counted\n");
  return ok ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: %s SQLITE_FILE|CONNINFO EXECUTIONS [DAYS=7] [RETENTION_DAYS=0]\n",
                 argv[0]);
    return 1;
  }
  const std::string path = argv[1];
  const auto n = parse_number(argv[2]);
  const auto days = argc > 3 ? parse_number(argv[3]) : std::optional<double>(7);
  const auto retention = argc > 4 ? parse_number(argv[4]) : std::optional<double>(0);
  if (!n || *n < 1 || *n != std::floor(*n) || !days || *days <= 0 || !retention) {
    std::fprintf(stderr,
                 "store_scale: EXECUTIONS must be a positive integer, DAYS > 0, "
                 "RETENTION_DAYS >= 0\n");
    return 1;
  }
  if (is_conninfo(path) && *retention > 0) {
    std::fprintf(stderr, "store_scale: the retention run is for SQLite files only\n");
    return 1;
  }
  // Measurements of a store that already holds rows mean nothing; never touch one.
  if (!is_conninfo(path) && ::access(path.c_str(), F_OK) == 0) {
    std::fprintf(stderr, "store_scale: %s exists; give a new file\n", path.c_str());
    return 1;
  }
  try {
    return run(path, static_cast<std::int64_t>(*n), *days, *retention);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "store_scale: %s\n", ex.what());
    return 1;
  }
}
