#include "storage/sqlite_store.hpp"

#include "storage/sqlite_id.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "lifecycle/statement_class.hpp"
#include "storage/schema.hpp"
#include "storage/text_row.hpp"
#include "storage/text_util.hpp"

namespace pglc::storage {

using lifecycle::WallMicros;

namespace {

// Busy waits are bounded: the writer must come back to drain the queue and count drops
// rather than sit behind another process's lock.
constexpr int kBusyTimeoutMs = 100;
constexpr int kOpenBusyTimeoutMs = 5000;

// Rows per multi-row INSERT. Bound parameters stay under 999, the limit of SQLite builds
// older than 3.32.
constexpr std::size_t kExecutionChunk = 32;  // 19 columns
constexpr std::size_t kStatementChunk = 32;  // 11 columns

bool transient_code(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

}  // namespace

class SqliteStore::Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("cannot prepare SQLite statement: ") +
                               sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

  Stmt& text(int i, std::string_view v) {
    if (is_clean_utf8(v)) {
      sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    } else {
      std::string clean;
      append_clean_utf8(clean, v);
      sqlite3_bind_text(stmt_, i, clean.data(), static_cast<int>(clean.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  // Our own names of enum values: string literals, ASCII, alive for the whole process.
  Stmt& name(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  // Empty text is stored as NULL (sqlstate, error_message, command_tag, param_types).
  Stmt& text_or_null(int i, std::string_view v) { return v.empty() ? null(i) : text(i, v); }
  Stmt& opt_text(int i, const std::optional<std::string>& v) { return v ? text(i, *v) : null(i); }
  Stmt& opt_text(int i, const std::optional<std::string_view>& v) {
    return v ? text(i, *v) : null(i);
  }
  Stmt& integer(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  template <typename T>
  Stmt& opt_integer(int i, const std::optional<T>& v) {
    return v ? integer(i, static_cast<std::int64_t>(*v)) : null(i);
  }
  Stmt& real(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // Runs to completion; returns the error code (SQLITE_OK on success).
  int run() {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Rows of one table collected during a write() and inserted `rows` per INSERT statement:
// a statement's fixed costs (step, reset, opening a cursor on the table and on each
// index, halting) are then paid once per chunk instead of once per row, which was about
// a third of the writer's instructions with one INSERT per row. Values are bound
// SQLITE_STATIC: they point into the items of the write() in progress, which outlive
// every flush of it. The rest of a chunk goes in through the single-row statement.
template <typename Row>
class SqliteStore::Batch {
 public:
  using Bind = void (*)(Stmt&, int base, const Row&);

  // `insert` is "INSERT ... (columns) VALUES ", `tail` what follows the rows.
  Batch(sqlite3* db, std::string_view insert, std::string_view tail, int columns, std::size_t rows,
        Bind bind, const char* what)
      : columns_(columns), rows_(rows), bind_(bind), what_(what) {
    std::string one = "(?";
    for (int i = 1; i < columns; ++i) one += ",?";
    one += ')';
    std::string sql(insert);
    sql += one;
    single_ = std::make_unique<Stmt>(db, (sql + std::string(tail)).c_str());
    for (std::size_t r = 1; r < rows; ++r) sql += ',' + one;
    many_ = std::make_unique<Stmt>(db, (sql + std::string(tail)).c_str());
    pending_.reserve(rows);
  }

  // Returns an error code from the flush this add triggered (SQLITE_OK otherwise).
  int add(const Row& row) {
    pending_.push_back(row);
    if (pending_.size() < rows_) return SQLITE_OK;
    int base = 0;
    for (const Row& r : pending_) {
      bind_(*many_, base, r);
      base += columns_;
    }
    pending_.clear();
    return many_->run();
  }

  int flush() {
    for (const Row& r : pending_) {
      bind_(*single_, 0, r);
      if (const int rc = single_->run(); rc != SQLITE_OK) {
        pending_.clear();
        return rc;
      }
    }
    pending_.clear();
    return SQLITE_OK;
  }

  void clear() { pending_.clear(); }
  const char* what() const { return what_; }

 private:
  int columns_;
  std::size_t rows_;
  Bind bind_;
  const char* what_;
  std::unique_ptr<Stmt> single_, many_;
  std::vector<Row> pending_;
};

SqliteStore::SqliteStore(std::string path, const RecorderConfig& options)
    : path_(std::move(path)), max_sql_length_(options.max_sql_length) {
  shown_path_ = path_;
  if (path_ != ":memory:" && !path_.starts_with("file:")) {
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(path_, ec);
    if (!ec) shown_path_ = absolute.lexically_normal().string();
  }
  // Memory statistics cost a global mutex on every SQLite allocation; nobody reads them.
  // Only effective before SQLite's first use in the process (a no-op after).
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  // Create the file ourselves so that it is private from the first byte; SQLite gives
  // the -wal and -shm files the database file's mode.
  const int fd = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    throw std::runtime_error("cannot create SQLite store " + path_ + ": " + std::strerror(errno));
  }
  const int rc =
      sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open SQLite store " + path_ + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  try {
    sqlite3_busy_timeout(db_, kOpenBusyTimeoutMs);
    exec("PRAGMA journal_mode = WAL");
    // WAL + NORMAL survives a crash of the proxy; only an OS crash may lose the last
    // commits. Telemetry does not need an fsync per batch.
    exec("PRAGMA synchronous = NORMAL");
    // Index pages of the hot tables stay in memory between batches. Ids and times grow
    // with time, so inserts touch the right edge of each b-tree: 4 MiB holds it, and the
    // cache counts against the proxy's memory budget (DESIGN §8: 50 MB fixed).
    exec("PRAGMA cache_size = -4096");
    // A checkpoint copies every page the WAL holds into the file and syncs it. At SQLite's
    // default (1,000 pages) a busy writer checkpoints after nearly every batch, so an index
    // page with random keys (sql_texts.hash under `pgbench -M simple`: each execution a new
    // text) is written to the file once per batch. 10,000 pages (40 MiB of WAL on disk)
    // let a page that several batches dirtied go to the file once: the writer's CPU per
    // execution under `-M simple -c 16` fell 8 % (bench/notes.md).
    exec("PRAGMA wal_autocheckpoint = 10000");
    migrate();
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);

    session_ = std::make_unique<Stmt>(db_, R"sql(
      INSERT INTO sessions (id, proxy_instance, connected_at, disconnected_at, client_addr,
        client_port, backend_addr, backend_pid, user_name, database_name, application_name,
        client_tls, backend_tls, end_reason, tls_established_at, startup_received_at,
        backend_connected_at, authenticated_at, ready_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
              ?19)
      ON CONFLICT (id) DO UPDATE SET
        disconnected_at = coalesce(excluded.disconnected_at, disconnected_at),
        end_reason = coalesce(excluded.end_reason, end_reason),
        application_name = excluded.application_name,
        backend_pid = coalesce(excluded.backend_pid, backend_pid),
        authenticated_at = coalesce(authenticated_at, excluded.authenticated_at),
        ready_at = coalesce(ready_at, excluded.ready_at))sql");
    const std::string text_upsert =
        "INSERT INTO sql_texts (hash, sql, normalized_sql, fingerprint, last_used) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hash) DO UPDATE SET last_used = "
        "excluded.last_used WHERE excluded.last_used >= last_used + " +
        std::to_string(kTextTouchUs);
    sql_text_ = std::make_unique<Stmt>(db_, text_upsert.c_str());
    statements_ = std::make_unique<Batch<StatementRow>>(
        db_,
        "INSERT OR IGNORE INTO statements (id, session_id, kind, name, position, sql_hash, "
        "param_types, received_at, parsed_at, described_at, closed_at, timing, "
        "statement_type, origin) VALUES ",
        "", 14, kStatementChunk,
        [](Stmt& s, int b, const StatementRow& row) {
          const lifecycle::StatementRecord* r = row.record;
          s.integer(b + 1, sqlite_id(r->id))
              .integer(b + 2, sqlite_id(r->session_id))
              .name(b + 3, lifecycle::to_string(r->kind))
              .text(b + 4, r->name)
              .integer(b + 5, r->position)
              .text(b + 6, r->sql ? std::string_view(r->sql->hash) : std::string_view())
              .text_or_null(b + 7, r->param_types)
              .integer(b + 8, r->received_at)
              .opt_integer(b + 9, row.times.parsed)
              .opt_integer(b + 10, row.times.described)
              .opt_integer(b + 11, row.times.closed)
              .name(b + 12, lifecycle::to_string(r->timing));
          if (row.classes.statement_type.empty()) {
            s.null(b + 13);
          } else {
            s.name(b + 13, row.classes.statement_type);
          }
          s.name(b + 14, row.classes.origin);
        },
        "inserting a statement");
    // The first time of each event wins, as min(occurred_at) did when events were rows.
    statement_parsed_ = std::make_unique<Stmt>(
        db_, "UPDATE statements SET parsed_at = min(coalesce(parsed_at, ?2), ?2) WHERE id = ?1");
    statement_described_ = std::make_unique<Stmt>(
        db_,
        "UPDATE statements SET described_at = min(coalesce(described_at, ?2), ?2) WHERE id = ?1");
    statement_closed_ = std::make_unique<Stmt>(
        db_, "UPDATE statements SET closed_at = min(coalesce(closed_at, ?2), ?2) WHERE id = ?1");
    executions_ = std::make_unique<Batch<ExecutionRow>>(
        db_,
        "INSERT OR IGNORE INTO executions (id, statement_id, session_id, portal, params, "
        "began_at, finished_at, status, sqlstate, error_message, command_tag, rows, "
        "result_bytes, fetches, sample_rate, application_name, bound_at, executed_at, "
        "delivered_at, timing) VALUES ",
        "", 20, kExecutionChunk,
        [](Stmt& s, int b, const ExecutionRow& row) {
          const ExecutionItem& r = *row.item;
          s.integer(b + 1, sqlite_id(r.id.view()))
              .integer(b + 2, sqlite_id(r.statement_id.view()))
              .integer(b + 3, sqlite_id(r.session_id.view()))
              .text(b + 4, r.portal())
              .opt_text(b + 5, r.params())
              .integer(b + 6, r.began_at)
              .opt_integer(b + 7, r.finished_at)
              .name(b + 8, lifecycle::to_string(r.status))
              .text_or_null(b + 9, r.sqlstate)
              .text_or_null(b + 10, r.error_message())
              .text_or_null(b + 11, r.command_tag)
              .integer(b + 12, r.rows)
              .integer(b + 13, r.result_bytes)
              .integer(b + 14, r.fetches)
              .real(b + 15, r.sample_rate)
              .text(b + 16, r.application_name);
          s.opt_integer(b + 17, r.times.bound)
              .opt_integer(b + 18, r.times.executed)
              .opt_integer(b + 19, r.times.delivered)
              .name(b + 20, lifecycle::to_string(r.timing));
        },
        "inserting an execution");
    del_executions_ = std::make_unique<Stmt>(db_, "DELETE FROM executions WHERE id = ?1");
    del_statements_ = std::make_unique<Stmt>(db_, "DELETE FROM statements WHERE id = ?1");
    del_sessions_ = std::make_unique<Stmt>(db_, "DELETE FROM sessions WHERE id = ?1");
    del_sql_texts_ = std::make_unique<Stmt>(db_, "DELETE FROM sql_texts WHERE hash = ?1");
  } catch (const StoreError& e) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot use SQLite store " + path_ + ": " + e.what());
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteStore::~SqliteStore() {
  session_.reset();
  sql_text_.reset();
  statements_.reset();
  statement_parsed_.reset();
  statement_described_.reset();
  statement_closed_.reset();
  executions_.reset();
  del_executions_.reset();
  del_statements_.reset();
  del_sessions_.reset();
  del_sql_texts_.reset();
  if (db_) sqlite3_close_v2(db_);
}

void SqliteStore::fail(int rc, std::string_view what) {
  throw StoreError(std::string(what) + ": " + sqlite3_errmsg(db_), transient_code(rc));
}

void SqliteStore::exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(rc, "SQLite");
}

void SqliteStore::rollback_quietly() {
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void SqliteStore::migrate() {
  exec("BEGIN IMMEDIATE");
  try {
    exec(R"sql(CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 description TEXT NOT NULL,
                 applied_at INTEGER NOT NULL))sql");
    int current = 0;
    {
      Stmt q(db_, "SELECT coalesce(max(version), 0) FROM schema_migrations");
      if (sqlite3_step(q.get()) == SQLITE_ROW) current = sqlite3_column_int(q.get(), 0);
    }
    if (current > kSchemaVersion) {
      throw std::runtime_error("the SQLite store " + path_ + " has schema version " +
                               std::to_string(current) + ", newer than this pglifecycle knows (" +
                               std::to_string(kSchemaVersion) +
                               "); upgrade pglifecycle or use another store");
    }
    for (const Migration& m : sqlite_migrations()) {
      if (m.version <= current) continue;
      exec(m.sql);
      Stmt ins(db_,
               "INSERT INTO schema_migrations (version, description, applied_at) "
               "VALUES (?1, ?2, ?3)");
      ins.integer(1, m.version)
          .text(2, m.description)
          .integer(3, lifecycle::to_wall(lifecycle::now()));
      if (const int rc = ins.run(); rc != SQLITE_OK) fail(rc, "recording the schema version");
    }
    exec("COMMIT");
  } catch (...) {
    rollback_quietly();
    throw;
  }
}

void SqliteStore::write_session(const lifecycle::SessionRecord& r) {
  Stmt& s = *session_;
  s.integer(1, sqlite_id(r.id))
      .text(2, r.proxy_instance)
      .integer(3, r.connected_at)
      .opt_integer(4, r.disconnected_at)
      .text(5, r.client_addr)
      .integer(6, r.client_port)
      .text(7, r.backend_addr)
      .opt_integer(8, r.backend_pid)
      .text(9, r.user_name)
      .text(10, r.database_name)
      .text(11, r.application_name)
      .integer(12, r.client_tls ? 1 : 0)
      .integer(13, r.backend_tls ? 1 : 0);
  if (r.end_reason) {
    s.text(14, lifecycle::to_string(*r.end_reason));
  } else {
    s.null(14);
  }
  s.opt_integer(15, r.tls_established_at)
      .opt_integer(16, r.startup_received_at)
      .opt_integer(17, r.backend_connected_at)
      .opt_integer(18, r.authenticated_at)
      .opt_integer(19, r.ready_at);
  if (const int rc = s.run(); rc != SQLITE_OK) fail(rc, "inserting a session");
}

void SqliteStore::write_statement(const lifecycle::StatementRecord& r, RowCounts& c) {
  TextAnalysis a = r.sql ? text_analysis(*r.sql, max_sql_length_) : TextAnalysis{};
  const TextClasses classes{a.statement_type, a.origin};
  if (r.sql && texts_.stage(r.sql->hash, r.received_at)) {
    new_texts_.push_back({r.sql.get(), std::move(a), r.received_at});
  }
  if (const int rc = statements_->add({&r, fold_.times(r), classes}); rc != SQLITE_OK) {
    fail(rc, statements_->what());
  }
  ++c.statements;
  ++c.statement_events;  // received
  if (r.parsed_at) ++c.statement_events;  // in the record
}

bool SqliteStore::write_statement_event(const lifecycle::StatementEventRecord& r) {
  if (fold_.folded(r)) return true;  // in its statement's row, written in this batch
  Stmt* update = nullptr;
  switch (r.event) {
    case lifecycle::StatementEvent::parsed:
      update = statement_parsed_.get();
      break;
    case lifecycle::StatementEvent::described:
      update = statement_described_.get();
      break;
    case lifecycle::StatementEvent::closed:
      update = statement_closed_.get();
      break;
    default:
      return false;  // received is the statement row itself
  }
  update->integer(1, sqlite_id(r.statement_id)).integer(2, r.occurred_at);
  if (const int rc = update->run(); rc != SQLITE_OK) fail(rc, "updating a statement's events");
  // No row when the statement record was dropped under pressure: the event goes with it.
  return sqlite3_changes(db_) > 0;
}

void SqliteStore::write_execution(const ExecutionItem& item, RowCounts& c) {
  if (const int rc = executions_->add(ExecutionRow{&item}); rc != SQLITE_OK) {
    fail(rc, executions_->what());
  }
  ++c.executions;
  c.execution_events += item.event_rows();
}

// In hash order: the keys are random, so under ever-new texts (`pgbench -M simple`) each one
// lands on another page of the hash index; sorted, consecutive inserts walk the index from
// one end to the other and find the path to their page in the cache. recorder_bench's
// simple mix with keys sorted per batch (an experiment, bench/notes.md): 15 % more
// executions per CPU-second.
void SqliteStore::write_texts(RowCounts& c) {
  std::sort(new_texts_.begin(), new_texts_.end(),
            [](const NewText& x, const NewText& y) { return x.text->hash < y.text->hash; });
  for (const NewText& t : new_texts_) {
    const TextRow row = text_row(*t.text, t.analysis, max_sql_length_);
    sql_text_->text(1, t.text->hash)
        .text(2, row.sql)
        .opt_text(3, row.normalized_sql)
        .opt_text(4, row.fingerprint)
        .integer(5, t.used_at);
    if (const int rc = sql_text_->run(); rc != SQLITE_OK) fail(rc, "inserting a SQL text");
    ++c.sql_texts;
  }
  new_texts_.clear();
}

void SqliteStore::flush_batches() {
  auto flush = [this](auto& batch) {
    if (const int rc = batch->flush(); rc != SQLITE_OK) fail(rc, batch->what());
  };
  flush(statements_);
  flush(executions_);
}

void SqliteStore::clear_batches() {
  new_texts_.clear();
  statements_->clear();
  executions_->clear();
}

RowCounts SqliteStore::write(std::span<const Item* const> items) {
  RowCounts c;
  try {
    exec("BEGIN IMMEDIATE");
    fold_.prepare(items);
    for (const Item* item : items) {
      std::visit(
          [&](const auto& r) {
            using T = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<T, lifecycle::SessionRecord>) {
              write_session(r);
              ++c.sessions;
            } else if constexpr (std::is_same_v<T, lifecycle::StatementRecord>) {
              write_statement(r, c);
            } else if constexpr (std::is_same_v<T, lifecycle::StatementEventRecord>) {
              if (write_statement_event(r)) ++c.statement_events;
            } else {
              write_execution(r, c);
            }
          },
          *item);
    }
    write_texts(c);
    flush_batches();
    exec("COMMIT");
  } catch (...) {
    clear_batches();
    rollback_quietly();
    texts_.rollback();
    throw;
  }
  texts_.commit();
  return c;
}

namespace {

std::string column_text(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
}

}  // namespace

bool SqliteStore::write_rollups(const std::string& instance, std::span<const RollupRow> minutes,
                                std::span<const RollupRow> totals,
                                std::span<const QueryTotal> queries) {
  if (minutes.empty() && totals.empty()) return true;
  if (!rollup_insert_) {
    rollup_insert_ = std::make_unique<Stmt>(
        db_,
        "INSERT INTO rollups VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15, ?16, ?17, ?18, ?19, ?20)");
    rollup_total_ = std::make_unique<Stmt>(
        db_,
        "INSERT OR REPLACE INTO rollup_totals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)");
    query_total_ = std::make_unique<Stmt>(
        db_, "INSERT OR REPLACE INTO query_totals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  }
  // Binds the columns after the key that both tables share, from `at`.
  auto bind_stats = [](Stmt& q, int at, const RollupStats& st, std::string(&json)[4]) {
    json[0] = st.total.to_json();
    json[1] = st.first_row.to_json();
    json[2] = st.bind.to_json();
    json[3] = st.parse.to_json();
    q.integer(at, static_cast<std::int64_t>(st.calls))
        .integer(at + 1, static_cast<std::int64_t>(st.rows))
        .integer(at + 2, st.total_us)
        .integer(at + 3, static_cast<std::int64_t>(st.timed));
    if (st.timed > 0) {
      q.integer(at + 4, st.min_us).integer(at + 5, st.max_us);
    } else {
      q.null(at + 4).null(at + 5);
    }
    q.integer(at + 6, st.first_at).integer(at + 7, st.last_at);
  };
  try {
    exec("BEGIN IMMEDIATE");
    // Serialized with `pglifecycle reset` (its transaction is IMMEDIATE too).
    if (stats_reset_at() != loaded_reset_) {
      rollback_quietly();
      loaded_reset_.reset();
      return false;
    }
    for (const RollupRow& r : minutes) {
      Stmt& q = *rollup_insert_;
      std::string json[4];
      q.integer(1, r.minute).text(2, instance).text_or_null(3, r.key.fingerprint);
      q.text(4, r.key.user_name).text(5, r.key.database_name).text(6, r.key.application_name);
      q.name(7, lifecycle::to_string(r.key.status)).text_or_null(8, r.key.sqlstate);
      bind_stats(q, 9, r.stats, json);
      for (int i = 0; i < 4; ++i) q.text(17 + i, json[i]);
      if (const int rc = q.run(); rc != SQLITE_OK) fail(rc, "writing rollups");
    }
    for (const RollupRow& r : totals) {
      Stmt& q = *rollup_total_;
      std::string json[4];
      q.text(1, instance).text(2, r.key.fingerprint).text(3, r.key.user_name);
      q.text(4, r.key.database_name).text(5, r.key.application_name);
      q.name(6, lifecycle::to_string(r.key.status)).text(7, r.key.sqlstate);
      q.text_or_null(8, r.normalized_sql);
      bind_stats(q, 9, r.stats, json);
      q.text_or_null(17, r.stats.last_error);
      for (int i = 0; i < 4; ++i) q.text(18 + i, json[i]);
      q.name(22, lifecycle::origin_of(r.normalized_sql));
      if (const int rc = q.run(); rc != SQLITE_OK) fail(rc, "writing rollup totals");
    }
    for (const QueryTotal& t : queries) {
      Stmt& q = *query_total_;
      q.text(1, instance).text(2, t.fingerprint).text(3, t.user_name).text(4, t.database_name);
      q.integer(5, static_cast<std::int64_t>(t.total.count()));
      int i = 6;
      for (double p : {0.50, 0.95, 0.99}) {
        if (t.total.empty()) {
          q.null(i++);
        } else {
          q.real(i++, LogHistogram::as_stored_ms(t.total.quantile(p)));
        }
      }
      const std::string json = t.total.to_json();
      q.text(9, json);
      if (const int rc = q.run(); rc != SQLITE_OK) fail(rc, "writing query totals");
    }
    exec("COMMIT");
  } catch (...) {
    rollback_quietly();
    throw;
  }
  return true;
}

std::optional<WallMicros> SqliteStore::stats_reset_at() {
  Stmt q(db_, "SELECT reset_at FROM stats_reset WHERE id = 1");
  std::optional<WallMicros> at;
  if (sqlite3_step(q.get()) == SQLITE_ROW) at = sqlite3_column_int64(q.get(), 0);
  return at;
}

void SqliteStore::reset_totals(WallMicros at) {
  try {
    exec("BEGIN IMMEDIATE");
    Stmt u(db_, "UPDATE stats_reset SET reset_at = ?1 WHERE id = 1");
    u.integer(1, at);
    if (const int rc = u.run(); rc != SQLITE_OK) fail(rc, "resetting");
    exec("DELETE FROM rollup_totals");
    exec("DELETE FROM query_totals");
    exec("COMMIT");
  } catch (...) {
    rollback_quietly();
    throw;
  }
}

ExpireResult SqliteStore::expire_rollups(WallMicros cutoff, std::size_t limit) {
  Stmt q(db_,
         "DELETE FROM rollups WHERE rowid IN "
         "(SELECT rowid FROM rollups WHERE minute < ?1 LIMIT ?2)");
  q.integer(1, cutoff).integer(2, static_cast<std::int64_t>(limit));
  if (const int rc = q.run(); rc != SQLITE_OK) fail(rc, "rollup retention");
  ExpireResult r;
  r.rows = static_cast<std::size_t>(sqlite3_changes(db_));
  r.more = r.rows >= limit;
  return r;
}

std::vector<RollupRow> SqliteStore::load_rollup_totals(const std::string& instance) {
  std::vector<RollupRow> out;
  // The totals and the reset they follow, in one read transaction.
  exec("BEGIN");
  struct End {
    SqliteStore& s;
    ~End() { s.rollback_quietly(); }
  } end{*this};
  loaded_reset_ = stats_reset_at();
  Stmt q(db_,
         "SELECT fingerprint, user_name, database_name, application_name, status, sqlstate, "
         "normalized_sql, calls, rows, total_us, timed, min_us, max_us, first_at, last_at, "
         "last_error, hist_total, hist_first_row, hist_bind, hist_parse "
         "FROM rollup_totals WHERE proxy_instance = ?1");
  q.text(1, instance);
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    sqlite3_stmt* st = q.get();
    RollupRow r;
    r.key.fingerprint = column_text(st, 0);
    r.key.user_name = column_text(st, 1);
    r.key.database_name = column_text(st, 2);
    r.key.application_name = column_text(st, 3);
    const auto status = lifecycle::execution_status_from(column_text(st, 4));
    if (!status) continue;
    r.key.status = *status;
    r.key.sqlstate = column_text(st, 5);
    r.normalized_sql = column_text(st, 6);
    r.stats.calls = static_cast<std::uint64_t>(sqlite3_column_int64(st, 7));
    r.stats.rows = static_cast<std::uint64_t>(sqlite3_column_int64(st, 8));
    r.stats.total_us = sqlite3_column_int64(st, 9);
    r.stats.timed = static_cast<std::uint64_t>(sqlite3_column_int64(st, 10));
    r.stats.min_us = sqlite3_column_int64(st, 11);
    r.stats.max_us = sqlite3_column_int64(st, 12);
    r.stats.first_at = sqlite3_column_int64(st, 13);
    r.stats.last_at = sqlite3_column_int64(st, 14);
    r.stats.last_error = column_text(st, 15);
    LogHistogram* hists[] = {&r.stats.total, &r.stats.first_row, &r.stats.bind, &r.stats.parse};
    for (int i = 0; i < 4; ++i) {
      if (auto h = LogHistogram::from_json(column_text(st, 16 + i))) *hists[i] = std::move(*h);
    }
    out.push_back(std::move(r));
  }
  sqlite3_reset(q.get());
  if (rc != SQLITE_DONE) fail(rc, "reading rollup totals");
  return out;
}

// One short transaction: the keys chosen by `select_ids` (?1 = the first id at the cutoff,
// ?2 = limit, ?3 = the cutoff in microseconds), each deleted through `deletes` in order.
// Returns how many keys were found.
std::size_t SqliteStore::expire_step(const char* select_ids, std::initializer_list<Stmt*> deletes,
                                     WallMicros cutoff, std::size_t limit) {
  std::vector<std::string> texts;
  std::vector<std::int64_t> ids;
  try {
    exec("BEGIN IMMEDIATE");
    {
      Stmt q(db_, select_ids);
      q.integer(1, sqlite_id_floor(cutoff))
          .integer(2, static_cast<std::int64_t>(limit))
          .integer(3, cutoff);
      int rc;
      while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
        if (sqlite3_column_type(q.get(), 0) == SQLITE_INTEGER) {
          ids.push_back(sqlite3_column_int64(q.get(), 0));
        } else {
          texts.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0)),
                             static_cast<std::size_t>(sqlite3_column_bytes(q.get(), 0)));
        }
      }
      if (rc != SQLITE_DONE) fail(rc, "retention");
    }
    auto run = [&](Stmt* d) {
      if (const int rc = d->run(); rc != SQLITE_OK) fail(rc, "retention");
    };
    for (std::int64_t id : ids) {
      for (Stmt* d : deletes) run(&d->integer(1, id));
    }
    for (const std::string& t : texts) {
      for (Stmt* d : deletes) run(&d->text(1, t));
    }
    exec("COMMIT");
  } catch (...) {
    rollback_quietly();
    throw;
  }
  return ids.size() + texts.size();
}

ExpireResult SqliteStore::expire(WallMicros cutoff, std::size_t limit) {
  ExpireResult result;
  auto step = [&](const char* sql, std::initializer_list<Stmt*> deletes) {
    const std::size_t n = expire_step(sql, deletes, cutoff, limit);
    result.rows += n;
    if (n >= limit) result.more = true;
    return n;
  };
  // Ids are time-ordered (storage/sqlite_id.hpp): the oldest rows are the lowest ids.
  step("SELECT id FROM executions WHERE id < ?1 AND ?3 IS NOT NULL ORDER BY id LIMIT ?2",
       {del_executions_.get()});
  step(
      "SELECT id FROM statements s WHERE id < ?1 AND received_at < ?3 AND NOT EXISTS "
      "(SELECT 1 FROM executions e WHERE e.statement_id = s.id) ORDER BY id LIMIT ?2",
      {del_statements_.get()});
  step(
      "SELECT id FROM sessions s WHERE id < ?1 AND coalesce(disconnected_at, connected_at) < ?3 "
      "AND NOT EXISTS (SELECT 1 FROM statements t WHERE t.session_id = s.id) AND "
      "NOT EXISTS (SELECT 1 FROM executions e WHERE e.session_id = s.id) ORDER BY id LIMIT ?2",
      {del_sessions_.get()});
  // Texts by last_used (storage/schema.hpp), once the statements before the cutoff are
  // down to those still executed: those few are read once into the NOT IN set.
  if (!result.more) {
    const std::string texts_sql =
        "SELECT hash FROM sql_texts WHERE last_used < ?3 - " + std::to_string(kTextSlackUs) +
        " AND hash NOT IN (SELECT sql_hash FROM statements WHERE id < ?1) "
        "ORDER BY last_used LIMIT ?2";
    if (step(texts_sql.c_str(), {del_sql_texts_.get()}) > 0) texts_.clear();
  }
  return result;
}

}  // namespace pglc::storage
