#include "storage/pg_store.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lifecycle/statement_class.hpp"
#include "storage/pg_id.hpp"
#include "storage/schema.hpp"
#include "storage/text_row.hpp"
#include "storage/text_util.hpp"

namespace pglc::storage {

using lifecycle::WallMicros;

namespace {

// Any constant: serializes schema migrations of a fleet starting at once.
constexpr long long kMigrationLock = 0x70676c63'73746f72;  // "pglcstor"

// The columns this binary writes, in COPY order: explicit, so that a later migration
// adding a column does not shift what COPY and INSERT ... SELECT expect.
struct Table {
  const char* name;
  const char* columns;
};
constexpr Table kSessions{"sessions",
                          "id, proxy_instance, connected_at, disconnected_at, client_addr, "
                          "client_port, backend_addr, backend_pid, user_name, database_name, "
                          "application_name, client_tls, backend_tls, end_reason, "
                          "tls_established_at, startup_received_at, backend_connected_at, "
                          "authenticated_at, ready_at"};
constexpr Table kSqlTexts{"sql_texts", "hash, sql, normalized_sql, fingerprint, last_used"};
constexpr Table kStatements{"statements",
                            "id, session_id, kind, name, position, sql_hash, param_types, "
                            "received_at, parsed_at, described_at, closed_at, timing, "
                            "statement_type, origin"};
constexpr Table kExecutions{"executions",
                            "id, statement_id, session_id, portal, params, began_at, "
                            "finished_at, status, sqlstate, error_message, command_tag, rows, "
                            "result_bytes, fetches, sample_rate, application_name, bound_at, "
                            "executed_at, delivered_at, timing"};
constexpr Table kStatementEvents{"statement_events", "statement_id, event, occurred_at"};
constexpr const Table* kTables[] = {&kSessions, &kSqlTexts, &kStatements, &kExecutions,
                                    &kStatementEvents};

std::string copy_command(const Table& t) {
  return std::string("COPY pglc_tmp_") + t.name + " (" + t.columns + ") FROM STDIN";
}
std::string move_command(const Table& t) {
  return std::string("INSERT INTO ") + t.name + " (" + t.columns + ") SELECT " + t.columns +
         " FROM pglc_tmp_" + t.name;
}

// Errors after which the same rows may go in later: connection trouble, server
// shutting down or starting, resources, serialization, read-only standby, locks, I/O.
bool transient_sqlstate(std::string_view s) {
  if (s.size() != 5) return true;  // no SQLSTATE: a client-side (connection) failure
  const std::string_view cls = s.substr(0, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "40" || cls == "58" || cls == "55" ||
         s == "25006" || s == "XX000";
}

// One COPY text-format row at a time.
class CopyRow {
 public:
  explicit CopyRow(std::string& out) : out_(out) {}
  ~CopyRow() { out_.push_back('\n'); }
  CopyRow& text(std::string_view v) {
    sep();
    append_copy_text(out_, v);
    return *this;
  }
  CopyRow& text_or_null(std::string_view v) { return v.empty() ? null() : text(v); }
  CopyRow& opt_text(const std::optional<std::string>& v) { return v ? text(*v) : null(); }
  CopyRow& opt_text(const std::optional<std::string_view>& v) { return v ? text(*v) : null(); }
  CopyRow& integer(std::int64_t v) {
    sep();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
    return *this;
  }
  template <typename T>
  CopyRow& opt_integer(const std::optional<T>& v) {
    return v ? integer(static_cast<std::int64_t>(*v)) : null();
  }
  CopyRow& real(double v) {
    sep();
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
    return *this;
  }
  CopyRow& boolean(bool v) {
    sep();
    out_.push_back(v ? 't' : 'f');
    return *this;
  }
  CopyRow& ts(WallMicros v) {
    sep();
    append_timestamp(out_, v);
    return *this;
  }
  CopyRow& opt_ts(const std::optional<WallMicros>& v) { return v ? ts(*v) : null(); }
  CopyRow& null() {
    sep();
    out_.append("\\N");
    return *this;
  }

 private:
  void sep() {
    if (!first_) out_.push_back('\t');
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

std::string sqlstate_of(const PGresult* r) {
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s ? s : "";
}

std::string timestamp_text(WallMicros v) {
  std::string s;
  append_timestamp(s, v);
  return s;
}

}  // namespace

PgStore::PgStore(std::string conninfo, const RecorderConfig& options)
    : conninfo_(std::move(conninfo)), max_sql_length_(options.max_sql_length) {
  try {
    connect();
  } catch (const StoreError& e) {
    // Traffic does not wait for the store (DESIGN §6): the proxy starts, the recorder
    // counts what it cannot write, and the first write that connects migrates.
    startup_problem_ = std::string("cannot connect to the PostgreSQL store: ") + e.what() +
                       "; serving anyway, records are dropped and counted until it is reachable";
    return;
  }
  prepare_schema();
}

// Migrates on a connection made for it (a store that is reachable but has a newer or a
// foreign schema is refused here, at start, with the reason).
void PgStore::prepare_schema() {
  try {
    migrate();
    disconnect();  // temp tables are created after the migration, on a fresh session
    connect();
    migrated_ = true;
  } catch (const StoreError& e) {
    disconnect();
    throw std::runtime_error("cannot use " + describe() + ": " + e.what());
  } catch (...) {
    disconnect();
    throw;
  }
}

PgStore::~PgStore() {
  disconnect();
}

void PgStore::disconnect() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

void PgStore::fail(std::string message, const char* sqlstate) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  last_sqlstate_ = sqlstate ? sqlstate : "";
  const bool lost = !conn_ || PQstatus(conn_) != CONNECTION_OK;
  const bool transient = lost || transient_sqlstate(last_sqlstate_);
  if (lost) {
    disconnect();
  } else if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PGresult* r = PQexec(conn_, "ROLLBACK");
    PQclear(r);
  }
  throw StoreError(message, transient);
}

void PgStore::connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
  disconnect();
  // Our defaults come before the user's string, so the user's settings win.
  // A store that vanishes without a RST (network partition) must not hang the writer
  // forever, or stop() at shutdown: keepalives and tcp_user_timeout bound every call.
  const char* keys[] = {"connect_timeout",
                        "application_name",
                        "client_encoding",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* values[] = {"5",     "pglifecycle recorder", "UTF8", "10", "5", "3",
                          "30000", conninfo_.c_str(),      nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = conn_ ? PQerrorMessage(conn_) : "out of memory";
    disconnect();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw StoreError(msg, true);
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  where_ = std::string(PQhost(conn_)) + ":" + PQport(conn_) + "/" + PQdb(conn_);
  // Staging tables live as long as this connection; ON COMMIT DELETE ROWS empties them.
  std::string ddl;
  for (const Table* t : kTables) {
    ddl += std::string("CREATE TEMP TABLE IF NOT EXISTS pglc_tmp_") + t->name + " (LIKE " +
           t->name + ") ON COMMIT DELETE ROWS;";
  }
  PGresult* r = PQexec(conn_, ddl.c_str());
  // Before the first migration the tables do not exist yet: that is fine then.
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string state = ok ? "" : (sqlstate_of(r));
  PQclear(r);
  if (!ok && state != "42P01")
    fail("creating staging tables: " + std::string(PQerrorMessage(conn_)), state.c_str());
}

// A store unreachable at start is migrated by the first write that reaches it. A schema
// problem refuses that write (the recorder logs why) and is tried again with the next.
void PgStore::connect_migrated() {
  connect();
  if (migrated_) return;
  try {
    prepare_schema();
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(e.what(), false);
  }
}

void PgStore::exec(const std::string& sql, std::string_view what) {
  PGresult* r = PQexec(conn_, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::string msg = std::string(what) + ": " + PQresultErrorMessage(r);
    const std::string state = sqlstate_of(r);
    PQclear(r);
    fail(msg, state.c_str());
  }
  PQclear(r);
}

void PgStore::migrate() {
  exec("BEGIN", "migrating");
  exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")", "migrating");
  // Created only when missing: CREATE ... IF NOT EXISTS would still need the CREATE
  // privilege, which a recorder role of an existing store need not have.
  exec(R"sql(DO $$ BEGIN
               IF to_regclass('schema_migrations') IS NULL THEN
                 CREATE TABLE schema_migrations (
                   version integer PRIMARY KEY,
                   description text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now());
               END IF;
             END $$)sql",
       "migrating");
  PGresult* r = PQexec(conn_, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string msg = std::string("migrating: ") + PQresultErrorMessage(r);
    PQclear(r);
    fail(msg, nullptr);
  }
  const int current = std::atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  if (current > kSchemaVersion) {
    exec("ROLLBACK", "migrating");
    throw std::runtime_error(describe() + " has schema version " + std::to_string(current) +
                             ", newer than this pglifecycle knows (" +
                             std::to_string(kSchemaVersion) +
                             "); upgrade pglifecycle or use another store");
  }
  for (const Migration& m : pg_migrations()) {
    if (m.version <= current) continue;
    exec(m.sql, "migrating to schema version " + std::to_string(m.version));
    // Bound, as the SQLite store does: a description may hold an apostrophe.
    exec_count("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
               {std::to_string(m.version), m.description}, "migrating");
  }
  exec("COMMIT", "migrating");
}

void PgStore::copy_in(const std::string& command, const std::string& data) {
  PGresult* r = PQexec(conn_, command.c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    std::string msg = std::string("COPY: ") + PQresultErrorMessage(r);
    const std::string state = sqlstate_of(r);
    PQclear(r);
    fail(msg, state.c_str());
  }
  PQclear(r);
  // PQputCopyData takes an int: a large batch goes in pieces.
  constexpr std::size_t kPiece = 64u << 20;
  for (std::size_t at = 0; at < data.size(); at += kPiece) {
    const std::size_t n = std::min(kPiece, data.size() - at);
    if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1) {
      fail(std::string("COPY: ") + PQerrorMessage(conn_), nullptr);
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1)
    fail(std::string("COPY: ") + PQerrorMessage(conn_), nullptr);
  r = PQgetResult(conn_);
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string msg = ok ? "" : std::string("COPY: ") + PQresultErrorMessage(r);
  const std::string state = ok ? "" : (sqlstate_of(r));
  PQclear(r);
  while ((r = PQgetResult(conn_)) != nullptr) PQclear(r);
  if (!ok) fail(msg, state.c_str());
}

RowCounts PgStore::write(std::span<const Item* const> items) {
  try {
    connect_migrated();
  } catch (...) {
    careful_ = true;
    throw;
  }
  RowCounts c;
  std::string sessions, texts, statements, executions, statement_events;

  // A session opened and closed within one batch is one upserted row: an INSERT ... ON
  // CONFLICT DO UPDATE may not touch the same row twice.
  std::vector<const lifecycle::SessionRecord*> session_rows;
  std::unordered_map<std::string_view, std::size_t> session_index;
  fold_.prepare(items);

  for (const Item* item : items) {
    if (const auto* s = std::get_if<lifecycle::SessionRecord>(item)) {
      auto [it, fresh] = session_index.emplace(s->id, session_rows.size());
      if (fresh) {
        session_rows.push_back(s);
      } else {
        session_rows[it->second] = s;
      }
      ++c.sessions;
    } else if (const auto* st = std::get_if<lifecycle::StatementRecord>(item)) {
      std::string_view hash;
      const TextAnalysis a = st->sql ? text_analysis(*st->sql, max_sql_length_) : TextAnalysis{};
      if (st->sql) {
        hash = st->sql->hash;
        if (texts_.stage(st->sql->hash, st->received_at)) {
          const TextRow row = text_row(*st->sql, a, max_sql_length_);
          CopyRow(texts)
              .text(st->sql->hash)
              .text(row.sql)
              .opt_text(row.normalized_sql)
              .opt_text(row.fingerprint)
              .ts(st->received_at);
          ++c.sql_texts;
        }
      }
      const StatementTimes times = fold_.times(*st);
      const TextClasses cls{a.statement_type, a.origin};
      CopyRow row(statements);
      row.text(st->id)
          .text(st->session_id)
          .text(lifecycle::to_string(st->kind))
          .text(st->name)
          .integer(st->position)
          .text(hash)
          .text_or_null(st->param_types)
          .ts(st->received_at)
          .opt_ts(times.parsed)
          .opt_ts(times.described)
          .opt_ts(times.closed)
          .text(lifecycle::to_string(st->timing));
      if (cls.statement_type.empty()) {
        row.null();
      } else {
        row.text(cls.statement_type);
      }
      row.text(cls.origin);
      ++c.statements;
      ++c.statement_events;  // received
      if (st->parsed_at) ++c.statement_events;  // in the record
    } else if (const auto* ev = std::get_if<lifecycle::StatementEventRecord>(item)) {
      if (fold_.folded(*ev)) {
        ++c.statement_events;
      } else if (ev->event != lifecycle::StatementEvent::received) {
        // The statement's row was written by an earlier batch: an UPDATE below. Counted
        // as written even if that row was dropped under pressure.
        CopyRow(statement_events)
            .text(ev->statement_id)
            .text(lifecycle::to_string(ev->event))
            .ts(ev->occurred_at);
        ++c.statement_events;
      }
    } else if (const auto* ex = std::get_if<ExecutionItem>(item)) {
      const ExecutionItem& r = *ex;
      CopyRow(executions)
          .text(r.id.view())
          .text(r.statement_id.view())
          .text(r.session_id.view())
          .text(r.portal())
          .opt_text(r.params())
          .ts(r.began_at)
          .opt_ts(r.finished_at)
          .text(lifecycle::to_string(r.status))
          .text_or_null(r.sqlstate)
          .text_or_null(r.error_message())
          .text_or_null(r.command_tag)
          .integer(r.rows)
          .integer(r.result_bytes)
          .integer(r.fetches)
          .real(r.sample_rate)
          .text(r.application_name)
          .opt_ts(r.times.bound)
          .opt_ts(r.times.executed)
          .opt_ts(r.times.delivered)
          .text(lifecycle::to_string(r.timing));
      ++c.executions;
      // The rows the execution_events view shows for it.
      c.execution_events += r.event_rows();
    }
  }
  for (const lifecycle::SessionRecord* s : session_rows) {
    CopyRow row(sessions);
    row.text(s->id)
        .text(s->proxy_instance)
        .ts(s->connected_at)
        .opt_ts(s->disconnected_at)
        .text(s->client_addr)
        .integer(s->client_port)
        .text(s->backend_addr)
        .opt_integer(s->backend_pid)
        .text(s->user_name)
        .text(s->database_name)
        .text(s->application_name)
        .boolean(s->client_tls)
        .boolean(s->backend_tls);
    if (s->end_reason) {
      row.text(lifecycle::to_string(*s->end_reason));
    } else {
      row.null();
    }
    row.opt_ts(s->tls_established_at)
        .opt_ts(s->startup_received_at)
        .opt_ts(s->backend_connected_at)
        .opt_ts(s->authenticated_at)
        .opt_ts(s->ready_at);
  }

  // ON CONFLICT DO NOTHING makes a retried batch safe (its first attempt may have
  // committed before the connection died) but costs ~1.6x per row, so rows with fresh
  // UUIDs go in plainly on a first attempt; after any failure, and when a first attempt
  // meets a duplicate (a record seen twice), the batch goes in the careful way.
  auto transaction = [&](bool careful) {
    exec("BEGIN", "BEGIN");
    std::string merge;
    if (!sessions.empty()) {
      copy_in(copy_command(kSessions), sessions);
      merge += move_command(kSessions) +
               " ON CONFLICT (id) DO UPDATE SET "
               "disconnected_at = coalesce(EXCLUDED.disconnected_at, sessions.disconnected_at), "
               "end_reason = coalesce(EXCLUDED.end_reason, sessions.end_reason), "
               "application_name = EXCLUDED.application_name, "
               "backend_pid = coalesce(EXCLUDED.backend_pid, sessions.backend_pid), "
               "authenticated_at = coalesce(sessions.authenticated_at, EXCLUDED.authenticated_at), "
               "ready_at = coalesce(sessions.ready_at, EXCLUDED.ready_at);";
    }
    auto stage = [&](const Table& table, const std::string& data) {
      if (data.empty()) return;
      copy_in(copy_command(table), data);
      merge += move_command(table) + (careful ? " ON CONFLICT DO NOTHING;" : ";");
    };
    if (!texts.empty()) {  // shared by every session and proxy
      copy_in(copy_command(kSqlTexts), texts);
      merge += move_command(kSqlTexts) +
               " ON CONFLICT (hash) DO UPDATE SET last_used = EXCLUDED.last_used "
               "WHERE EXCLUDED.last_used >= sql_texts.last_used + interval '" +
               std::to_string(kTextTouchUs / 1'000'000) + " seconds';";
    }
    stage(kStatements, statements);
    if (!statement_events.empty()) {
      copy_in(copy_command(kStatementEvents), statement_events);
      // The first time of each event wins, as min(occurred_at) did when events were rows.
      merge +=
          "UPDATE statements s SET "
          "parsed_at = least(s.parsed_at, v.parsed_at), "
          "described_at = least(s.described_at, v.described_at), "
          "closed_at = least(s.closed_at, v.closed_at) "
          "FROM (SELECT statement_id, "
          "min(occurred_at) FILTER (WHERE event = 'parsed') AS parsed_at, "
          "min(occurred_at) FILTER (WHERE event = 'described') AS described_at, "
          "min(occurred_at) FILTER (WHERE event = 'closed') AS closed_at "
          "FROM pglc_tmp_statement_events GROUP BY statement_id) v "
          "WHERE s.id = v.statement_id;";
    }
    stage(kExecutions, executions);
    merge += "COMMIT";
    exec(merge, "writing");
  };
  try {
    try {
      transaction(careful_);
    } catch (const StoreError&) {
      if (careful_ || last_sqlstate_ != "23505" || !conn_) throw;
      transaction(true);
    }
  } catch (...) {
    careful_ = true;
    texts_.rollback();
    throw;
  }
  careful_ = false;
  texts_.commit();
  return c;
}

namespace {

constexpr const char* kRollupTotalColumns =
    "proxy_instance, fingerprint, user_name, database_name, application_name, status, sqlstate, "
    "normalized_sql, calls, rows, total_us, timed, min_us, max_us, first_at, last_at, "
    "last_error, hist_total, hist_first_row, hist_bind, hist_parse, origin";

void copy_stats(CopyRow& row, const RollupStats& st) {
  row.integer(static_cast<std::int64_t>(st.calls))
      .integer(static_cast<std::int64_t>(st.rows))
      .integer(st.total_us)
      .integer(static_cast<std::int64_t>(st.timed));
  if (st.timed > 0) {
    row.integer(st.min_us).integer(st.max_us);
  } else {
    row.null().null();
  }
  row.ts(st.first_at).ts(st.last_at);
}

void copy_histograms(CopyRow& row, const RollupStats& st) {
  row.text(st.total.to_json())
      .text(st.first_row.to_json())
      .text(st.bind.to_json())
      .text(st.parse.to_json());
}

}  // namespace

bool PgStore::write_rollups(const std::string& instance, std::span<const RollupRow> minutes,
                            std::span<const RollupRow> totals,
                            std::span<const QueryTotal> queries) {
  if (minutes.empty() && totals.empty()) return true;
  connect_migrated();
  std::string minute_rows, total_rows, query_rows;
  for (const QueryTotal& q : queries) {
    CopyRow row(query_rows);
    row.text(instance).text(q.fingerprint).text(q.user_name).text(q.database_name);
    row.integer(static_cast<std::int64_t>(q.total.count()));
    for (double p : {0.50, 0.95, 0.99}) {
      if (q.total.empty()) {
        row.null();
      } else {
        row.real(LogHistogram::as_stored_ms(q.total.quantile(p)));
      }
    }
    row.text(q.total.to_json());
  }
  for (const RollupRow& r : minutes) {
    CopyRow row(minute_rows);
    row.ts(r.minute).text(instance).text_or_null(r.key.fingerprint).text(r.key.user_name);
    row.text(r.key.database_name).text(r.key.application_name);
    row.text(lifecycle::to_string(r.key.status)).text_or_null(r.key.sqlstate);
    copy_stats(row, r.stats);
    copy_histograms(row, r.stats);
  }
  for (const RollupRow& r : totals) {
    CopyRow row(total_rows);
    row.text(instance).text(r.key.fingerprint).text(r.key.user_name).text(r.key.database_name);
    row.text(r.key.application_name).text(lifecycle::to_string(r.key.status)).text(r.key.sqlstate);
    row.text_or_null(r.normalized_sql);
    copy_stats(row, r.stats);
    row.text_or_null(r.stats.last_error);
    copy_histograms(row, r.stats);
    row.text(lifecycle::origin_of(r.normalized_sql));
  }
  exec("BEGIN", "BEGIN");
  // FOR SHARE waits for a reset in progress (it updates this row first) and then reads
  // what it committed; a reset that starts later waits for this transaction.
  if (stats_reset_at(" FOR SHARE") != loaded_reset_) {
    exec("ROLLBACK", "ROLLBACK");
    loaded_reset_.reset();
    return false;
  }
  if (!minute_rows.empty()) copy_in("COPY rollups FROM STDIN", minute_rows);
  if (!total_rows.empty()) {
    exec(
        "CREATE TEMP TABLE IF NOT EXISTS pglc_tmp_rollup_totals (LIKE rollup_totals) "
        "ON COMMIT DELETE ROWS",
        "writing rollups");
    copy_in(std::string("COPY pglc_tmp_rollup_totals (") + kRollupTotalColumns + ") FROM STDIN",
            total_rows);
    // This proxy's rows only (the key starts with proxy_instance): the writer merged them.
    exec(std::string("INSERT INTO rollup_totals (") + kRollupTotalColumns + ") SELECT " +
             kRollupTotalColumns +
             " FROM pglc_tmp_rollup_totals ON CONFLICT (proxy_instance, fingerprint, user_name, "
             "database_name, application_name, status, sqlstate) DO UPDATE SET "
             "normalized_sql = EXCLUDED.normalized_sql, calls = EXCLUDED.calls, "
             "rows = EXCLUDED.rows, total_us = EXCLUDED.total_us, timed = EXCLUDED.timed, "
             "min_us = EXCLUDED.min_us, max_us = EXCLUDED.max_us, first_at = EXCLUDED.first_at, "
             "last_at = EXCLUDED.last_at, last_error = EXCLUDED.last_error, "
             "hist_total = EXCLUDED.hist_total, hist_first_row = EXCLUDED.hist_first_row, "
             "hist_bind = EXCLUDED.hist_bind, hist_parse = EXCLUDED.hist_parse, "
             "origin = EXCLUDED.origin",
         "writing rollup totals");
  }
  if (!query_rows.empty()) {
    exec(
        "CREATE TEMP TABLE IF NOT EXISTS pglc_tmp_query_totals (LIKE query_totals) "
        "ON COMMIT DELETE ROWS",
        "writing rollups");
    copy_in("COPY pglc_tmp_query_totals FROM STDIN", query_rows);
    exec(
        "INSERT INTO query_totals SELECT * FROM pglc_tmp_query_totals ON CONFLICT "
        "(proxy_instance, fingerprint, user_name, database_name) DO UPDATE SET "
        "timed = EXCLUDED.timed, p50_ms = EXCLUDED.p50_ms, p95_ms = EXCLUDED.p95_ms, "
        "p99_ms = EXCLUDED.p99_ms, hist_total = EXCLUDED.hist_total",
        "writing query totals");
  }
  exec("COMMIT", "COMMIT");
  return true;
}

std::optional<WallMicros> PgStore::stats_reset_at(const char* lock) {
  const std::string sql = std::string(
                              "SELECT (extract(epoch FROM reset_at) * 1000000)::bigint FROM "
                              "stats_reset WHERE id = 1") +
                          lock;
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string msg = std::string("reading stats_reset: ") + PQresultErrorMessage(r);
    const std::string state = sqlstate_of(r);
    PQclear(r);
    fail(msg, state.c_str());
  }
  std::optional<WallMicros> at;
  if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
    at = std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10);
  PQclear(r);
  return at;
}

void PgStore::reset_totals(WallMicros at) {
  connect_migrated();
  exec("BEGIN", "BEGIN");
  exec("UPDATE stats_reset SET reset_at = '" + timestamp_text(at) + "' WHERE id = 1", "resetting");
  exec("DELETE FROM rollup_totals", "resetting");
  exec("DELETE FROM query_totals", "resetting");
  exec("COMMIT", "COMMIT");
}

ExpireResult PgStore::expire_rollups(WallMicros cutoff, std::size_t limit) {
  if (!migrated_) return {};
  connect();
  ExpireResult r;
  r.rows = exec_count(
      "DELETE FROM rollups WHERE ctid IN (SELECT ctid FROM rollups WHERE minute < $1 LIMIT $2)",
      {timestamp_text(cutoff), std::to_string(limit)});
  r.more = r.rows >= limit;
  return r;
}

std::vector<RollupRow> PgStore::load_rollup_totals(const std::string& instance) {
  connect();
  if (!migrated_) throw StoreError("the store is not reachable yet", true);
  std::vector<RollupRow> out;
  // The totals and the reset they follow, from one snapshot.
  exec("BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN");
  loaded_reset_ = stats_reset_at("");
  const char* values[] = {instance.c_str()};
  PGresult* r = PQexecParams(
      conn_,
      "SELECT fingerprint, user_name, database_name, application_name, status, sqlstate, "
      "coalesce(normalized_sql, ''), calls, rows, total_us, timed, coalesce(min_us, 0), "
      "coalesce(max_us, 0), (extract(epoch FROM first_at) * 1000000)::bigint, "
      "(extract(epoch FROM last_at) * 1000000)::bigint, coalesce(last_error, ''), "
      "hist_total::text, hist_first_row::text, hist_bind::text, hist_parse::text "
      "FROM rollup_totals WHERE proxy_instance = $1",
      1, nullptr, values, nullptr, nullptr, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string msg = std::string("reading rollup totals: ") + PQresultErrorMessage(r);
    const std::string state = sqlstate_of(r);
    PQclear(r);
    fail(msg, state.c_str());
  }
  for (int i = 0; i < PQntuples(r); ++i) {
    auto v = [&](int c) { return std::string(PQgetvalue(r, i, c)); };
    auto n = [&](int c) { return std::strtoll(PQgetvalue(r, i, c), nullptr, 10); };
    const auto status = lifecycle::execution_status_from(v(4));
    if (!status) continue;
    RollupRow row;
    row.key = RollupKey{v(0), v(1), v(2), v(3), *status, v(5)};
    row.normalized_sql = v(6);
    row.stats.calls = static_cast<std::uint64_t>(n(7));
    row.stats.rows = static_cast<std::uint64_t>(n(8));
    row.stats.total_us = n(9);
    row.stats.timed = static_cast<std::uint64_t>(n(10));
    row.stats.min_us = n(11);
    row.stats.max_us = n(12);
    row.stats.first_at = n(13);
    row.stats.last_at = n(14);
    row.stats.last_error = v(15);
    LogHistogram* hists[] = {&row.stats.total, &row.stats.first_row, &row.stats.bind,
                             &row.stats.parse};
    for (int h = 0; h < 4; ++h) {
      if (auto parsed = LogHistogram::from_json(v(16 + h))) *hists[h] = std::move(*parsed);
    }
    out.push_back(std::move(row));
  }
  PQclear(r);
  exec("COMMIT", "COMMIT");
  return out;
}

std::size_t PgStore::exec_count(const char* sql, const std::vector<std::string>& params,
                                std::string_view what) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r = PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    std::string msg = std::string(what) + ": " + PQresultErrorMessage(r);
    const std::string state = sqlstate_of(r);
    PQclear(r);
    fail(msg, state.c_str());
  }
  const std::size_t n = std::strtoull(PQcmdTuples(r), nullptr, 10);
  PQclear(r);
  return n;
}

ExpireResult PgStore::expire(WallMicros cutoff, std::size_t limit) {
  if (!migrated_) return {};
  connect();
  ExpireResult result;
  const std::string ts = timestamp_text(cutoff);
  const std::string lim = std::to_string(limit);
  auto count = [&](std::size_t n) {
    result.rows += n;
    if (n >= limit) result.more = true;
    return n;
  };
  // Each statement is its own short transaction. UUIDv7 ids sort by time: the oldest rows
  // have the lowest ids, and the primary keys find them.
  const std::string floor = uuid_floor(cutoff);
  count(
      exec_count("DELETE FROM executions WHERE id IN "
                 "(SELECT id FROM executions WHERE id < $1::uuid ORDER BY id LIMIT $2)",
                 {floor, lim}));
  count(
      exec_count("DELETE FROM statements WHERE id IN (SELECT id FROM statements s WHERE "
                 "id < $1::uuid AND received_at < $3 AND NOT EXISTS "
                 "(SELECT 1 FROM executions e WHERE e.statement_id = s.id) ORDER BY id LIMIT $2)",
                 {floor, lim, ts}));
  count(exec_count(
      "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions s WHERE id < $1::uuid AND "
      "coalesce(disconnected_at, connected_at) < $3 AND "
      "NOT EXISTS (SELECT 1 FROM statements t WHERE t.session_id = s.id) AND "
      "NOT EXISTS (SELECT 1 FROM executions e WHERE e.session_id = s.id) ORDER BY id LIMIT $2)",
      {floor, lim, ts}));
  // Texts by last_used (storage/schema.hpp), once the statements before the cutoff are
  // down to those still executed: those few are read once into the NOT IN set.
  if (!result.more) {
    const std::string texts_sql =
        "DELETE FROM sql_texts WHERE hash IN (SELECT hash FROM sql_texts WHERE last_used < "
        "$3::timestamptz - interval '" +
        std::to_string(kTextSlackUs / 1'000'000) +
        " seconds' AND hash NOT IN (SELECT sql_hash FROM statements WHERE id < $1::uuid) "
        "ORDER BY last_used LIMIT $2)";
    if (count(exec_count(texts_sql.c_str(), {floor, lim, ts})) > 0) texts_.clear();
  }
  return result;
}

}  // namespace pglc::storage
