// DESIGN §3 in SQLite: timestamps are INTEGER microseconds since the Unix epoch (UTC),
// durations in the views are REAL milliseconds. Relations are not declared as foreign
// keys: the recorder may drop records under pressure, and an execution whose statement
// was lost must still be stored.
#include "storage/schema.hpp"

#include <stdexcept>

#include <string>
#include <vector>

namespace pglc::storage {
namespace {

constexpr const char* kV1 = R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  proxy_instance TEXT NOT NULL,
  connected_at INTEGER NOT NULL,
  disconnected_at INTEGER,
  client_addr TEXT,
  client_port INTEGER,
  backend_addr TEXT,
  backend_pid INTEGER,
  user_name TEXT,
  database_name TEXT,
  application_name TEXT,
  client_tls INTEGER NOT NULL,
  backend_tls INTEGER NOT NULL,
  end_reason TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_connected_at ON sessions (connected_at);

CREATE TABLE sql_texts (
  hash TEXT PRIMARY KEY,
  sql TEXT NOT NULL,
  normalized_sql TEXT,
  fingerprint TEXT
);

CREATE TABLE statements (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  sql_hash TEXT NOT NULL,
  param_types TEXT,
  received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX statements_session_id ON statements (session_id);
CREATE INDEX statements_sql_hash ON statements (sql_hash);
CREATE INDEX statements_received_at ON statements (received_at);

CREATE TABLE executions (
  id TEXT PRIMARY KEY,
  statement_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  portal TEXT NOT NULL,
  params TEXT,
  began_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL,
  sqlstate TEXT,
  error_message TEXT,
  command_tag TEXT,
  rows INTEGER NOT NULL,
  result_bytes INTEGER NOT NULL,
  fetches INTEGER NOT NULL,
  sample_rate REAL NOT NULL,
  application_name TEXT
) WITHOUT ROWID;
CREATE INDEX executions_statement_id ON executions (statement_id);
CREATE INDEX executions_session_id ON executions (session_id, began_at);
CREATE INDEX executions_began_at ON executions (began_at);

CREATE TABLE statement_events (
  statement_id TEXT NOT NULL,
  event TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  PRIMARY KEY (statement_id, event, occurred_at)
) WITHOUT ROWID;

CREATE TABLE execution_events (
  execution_id TEXT NOT NULL,
  event TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  PRIMARY KEY (execution_id, event, occurred_at)
) WITHOUT ROWID;

CREATE VIEW execution_summary AS
SELECT e.id AS execution_id, e.session_id, e.statement_id,
       s.proxy_instance, s.user_name, s.database_name, e.application_name,
       st.kind, st.name AS statement_name, st.position, e.portal,
       t.sql, t.normalized_sql, t.fingerprint,
       e.began_at, e.bound_at, e.executed_at, e.finished_at, e.delivered_at,
       e.status, e.sqlstate, e.error_message, e.command_tag, e.rows, e.result_bytes,
       e.fetches, e.sample_rate,
       (e.bound_at - e.began_at) / 1000.0 AS bind_ms,
       (e.executed_at - e.began_at) / 1000.0 AS first_row_ms,
       (e.finished_at - coalesce(e.bound_at, e.began_at)) / 1000.0 AS execute_ms,
       (e.finished_at - e.began_at) / 1000.0 AS total_ms,
       (e.delivered_at - e.finished_at) / 1000.0 AS deliver_ms
FROM (SELECT x.*,
             (SELECT min(occurred_at) FROM execution_events v
              WHERE v.execution_id = x.id AND v.event = 'bound') AS bound_at,
             (SELECT min(occurred_at) FROM execution_events v
              WHERE v.execution_id = x.id AND v.event = 'executed') AS executed_at,
             (SELECT min(occurred_at) FROM execution_events v
              WHERE v.execution_id = x.id AND v.event = 'delivered') AS delivered_at
      FROM executions x) e
LEFT JOIN statements st ON st.id = e.statement_id
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = e.session_id;

CREATE VIEW statement_summary AS
SELECT st.id AS statement_id, st.session_id,
       s.proxy_instance, s.user_name, s.database_name, s.application_name,
       st.kind, st.name, st.position, t.sql, t.normalized_sql, t.fingerprint, st.param_types,
       st.received_at, st.parsed_at, st.described_at, st.closed_at,
       (st.parsed_at - st.received_at) / 1000.0 AS parse_ms,
       (SELECT count(*) FROM executions e WHERE e.statement_id = st.id) AS executions,
       (SELECT count(*) FROM executions e
        WHERE e.statement_id = st.id AND e.status IN ('error', 'canceled')) AS errors
FROM (SELECT x.*,
             (SELECT min(occurred_at) FROM statement_events v
              WHERE v.statement_id = x.id AND v.event = 'parsed') AS parsed_at,
             (SELECT min(occurred_at) FROM statement_events v
              WHERE v.statement_id = x.id AND v.event = 'described') AS described_at,
             (SELECT min(occurred_at) FROM statement_events v
              WHERE v.statement_id = x.id AND v.event = 'closed') AS closed_at
      FROM statements x) st
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = st.session_id;

-- Percentiles by nearest rank: the value at rank ceil(p * n / 100) of the n finished
-- executions in ascending order (integer arithmetic, so both stores agree exactly).
CREATE VIEW query_stats AS
WITH x AS (
  SELECT t.fingerprint, s.user_name, s.database_name, t.normalized_sql, e.status, e.rows,
         e.began_at, e.finished_at - e.began_at AS us
  FROM executions e
  LEFT JOIN statements st ON st.id = e.statement_id
  LEFT JOIN sql_texts t ON t.hash = st.sql_hash
  LEFT JOIN sessions s ON s.id = e.session_id),
r AS (
  SELECT x.*,
         row_number() OVER (PARTITION BY fingerprint, user_name, database_name
                            ORDER BY us NULLS LAST) AS rn,
         count(us) OVER (PARTITION BY fingerprint, user_name, database_name) AS n
  FROM x)
SELECT fingerprint, user_name, database_name, min(normalized_sql) AS normalized_sql,
       count(*) AS calls,
       sum(CASE WHEN status IN ('error', 'canceled') THEN 1 ELSE 0 END) AS errors,
       sum(CASE WHEN status = 'aborted' THEN 1 ELSE 0 END) AS aborted,
       sum(rows) AS rows,
       sum(us) / 1000.0 AS total_ms,
       avg(us) / 1000.0 AS mean_ms,
       max(us) / 1000.0 AS max_ms,
       max(CASE WHEN rn = (50 * n + 99) / 100 THEN us END) / 1000.0 AS p50_ms,
       max(CASE WHEN rn = (95 * n + 99) / 100 THEN us END) / 1000.0 AS p95_ms,
       max(CASE WHEN rn = (99 * n + 99) / 100 THEN us END) / 1000.0 AS p99_ms,
       min(began_at) AS first_seen,
       max(began_at) AS last_seen
FROM r
GROUP BY fingerprint, user_name, database_name;

CREATE VIEW error_stats AS
WITH x AS (
  SELECT e.sqlstate, t.fingerprint, t.normalized_sql, e.began_at,
         first_value(e.error_message) OVER (PARTITION BY e.sqlstate, t.fingerprint
                                            ORDER BY e.began_at DESC, e.id DESC) AS last_message
  FROM executions e
  LEFT JOIN statements st ON st.id = e.statement_id
  LEFT JOIN sql_texts t ON t.hash = st.sql_hash
  WHERE e.sqlstate IS NOT NULL)
SELECT sqlstate, fingerprint, min(normalized_sql) AS normalized_sql, count(*) AS count,
       min(began_at) AS first_seen, max(began_at) AS last_seen, max(last_message) AS last_message
FROM x
GROUP BY sqlstate, fingerprint;
)sql";

// v2: the events become columns of the execution and statement rows. Each event happens
// at most once per execution or statement, and writing one row instead of six (or four)
// is what lets the writer keep up with tens of thousands of executions per second.
// execution_events and statement_events stay, as views with the same columns and rows.
constexpr const char* kV2 = R"sql(
ALTER TABLE executions ADD COLUMN bound_at INTEGER;
ALTER TABLE executions ADD COLUMN executed_at INTEGER;
ALTER TABLE executions ADD COLUMN delivered_at INTEGER;
UPDATE executions SET
  bound_at = (SELECT min(occurred_at) FROM execution_events v
              WHERE v.execution_id = executions.id AND v.event = 'bound'),
  executed_at = (SELECT min(occurred_at) FROM execution_events v
                 WHERE v.execution_id = executions.id AND v.event = 'executed'),
  delivered_at = (SELECT min(occurred_at) FROM execution_events v
                  WHERE v.execution_id = executions.id AND v.event = 'delivered');
ALTER TABLE statements ADD COLUMN parsed_at INTEGER;
ALTER TABLE statements ADD COLUMN described_at INTEGER;
ALTER TABLE statements ADD COLUMN closed_at INTEGER;
UPDATE statements SET
  parsed_at = (SELECT min(occurred_at) FROM statement_events v
               WHERE v.statement_id = statements.id AND v.event = 'parsed'),
  described_at = (SELECT min(occurred_at) FROM statement_events v
                  WHERE v.statement_id = statements.id AND v.event = 'described'),
  closed_at = (SELECT min(occurred_at) FROM statement_events v
               WHERE v.statement_id = statements.id AND v.event = 'closed');
DROP VIEW execution_summary;
DROP VIEW statement_summary;
DROP TABLE execution_events;
DROP TABLE statement_events;

)sql";

// statement_summary as version 2 made it; `timed` (version 8): with the timing column,
// and parse_ms of precisely timed statements only.
std::string statement_summary_view(bool timed, bool classes = false) {
  return std::string(R"sql(CREATE VIEW statement_summary AS
SELECT st.id AS statement_id, st.session_id,
       s.proxy_instance, s.user_name, s.database_name, s.application_name,
       st.kind, st.name, st.position, t.sql, t.normalized_sql, t.fingerprint, st.param_types,
       st.received_at, st.parsed_at, st.described_at, st.closed_at,
)sql") + (classes ? "       st.statement_type, st.origin,\n" : "") +
         (timed ? R"sql(       st.timing,
       (CASE WHEN st.timing = 'precise' THEN st.parsed_at END - st.received_at) / 1000.0
         AS parse_ms,
)sql"
                : R"sql(       (st.parsed_at - st.received_at) / 1000.0 AS parse_ms,
)sql") +
         R"sql(       (SELECT count(*) FROM executions e WHERE e.statement_id = st.id) AS executions,
       (SELECT count(*) FROM executions e
        WHERE e.statement_id = st.id AND e.status IN ('error', 'canceled')) AS errors
FROM statements st
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = st.session_id;
)sql";
}

// execution_summary over the event columns; `statement_join` is the condition that
// finds an execution's statement (version 6 adds the session to it).
// `timed` (version 8): with the timing column, and bind times of precisely timed rows
// only: a passive bound_at marks when a packet arrived, so execute_ms starts at the Bind.
std::string execution_summary_view(const char* statement_join, bool timed, bool classes = false) {
  return std::string(R"sql(CREATE VIEW execution_summary AS
SELECT e.id AS execution_id, e.session_id, e.statement_id,
       s.proxy_instance, s.user_name, s.database_name, e.application_name,
       st.kind, st.name AS statement_name, st.position, e.portal,
       t.sql, t.normalized_sql, t.fingerprint,
       e.began_at, e.bound_at, e.executed_at, e.finished_at, e.delivered_at,
       e.status, e.sqlstate, e.error_message, e.command_tag, e.rows, e.result_bytes,
       e.fetches, e.sample_rate,
)sql") + (classes ? "       st.statement_type, st.origin,\n" : "") +
         (timed ? R"sql(       e.timing,
       (CASE WHEN e.timing = 'precise' THEN e.bound_at END - e.began_at) / 1000.0 AS bind_ms,
       (e.executed_at - e.began_at) / 1000.0 AS first_row_ms,
       (e.finished_at - CASE WHEN e.timing = 'precise' THEN coalesce(e.bound_at, e.began_at)
                        ELSE e.began_at END) / 1000.0 AS execute_ms,
)sql"
                : R"sql(       (e.bound_at - e.began_at) / 1000.0 AS bind_ms,
       (e.executed_at - e.began_at) / 1000.0 AS first_row_ms,
       (e.finished_at - coalesce(e.bound_at, e.began_at)) / 1000.0 AS execute_ms,
)sql") +
         R"sql(       (e.finished_at - e.began_at) / 1000.0 AS total_ms,
       (e.delivered_at - e.finished_at) / 1000.0 AS deliver_ms
FROM executions e
LEFT JOIN statements st ON )sql" +
         statement_join +
         R"sql(
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = e.session_id;
)sql";
}

// The relations over the event columns, as version 2 made them (version 4 makes them
// again over its new tables).
const std::string& event_views() {
  static const std::string views = R"sql(
CREATE VIEW statement_events AS
SELECT id AS statement_id, 'received' AS event, received_at AS occurred_at FROM statements
UNION ALL
SELECT id, 'parsed', parsed_at FROM statements WHERE parsed_at IS NOT NULL
UNION ALL
SELECT id, 'described', described_at FROM statements WHERE described_at IS NOT NULL
UNION ALL
SELECT id, 'closed', closed_at FROM statements WHERE closed_at IS NOT NULL;

CREATE VIEW execution_events AS
SELECT id AS execution_id, 'received' AS event, began_at AS occurred_at FROM executions
UNION ALL
SELECT id, 'bound', bound_at FROM executions WHERE bound_at IS NOT NULL
UNION ALL
SELECT id, 'executed', executed_at FROM executions WHERE executed_at IS NOT NULL
UNION ALL
SELECT id, 'finished', finished_at FROM executions WHERE finished_at IS NOT NULL
UNION ALL
SELECT id, 'delivered', delivered_at FROM executions WHERE delivered_at IS NOT NULL;

)sql" + execution_summary_view("st.id = e.statement_id", false) +
                                   R"sql(
)sql" + statement_summary_view(false);
  return views;
}

// A query's percentile `q` in query_stats: the writer's for a key of one proxy, else ranked
// over the merged histograms of query_totals; never above the exact maximum.
#define PGLC_SQLITE_QUERY_PCT(q, col, key)                                                \
  "min(CASE WHEN q.instances = 1 THEN q." col                                             \
  " ELSE (SELECT min(ms) FROM (SELECT ms, "                                               \
  "sum(n) OVER (ORDER BY ms ROWS UNBOUNDED PRECEDING) AS cum FROM (SELECT CAST(j.key AS " \
  "REAL) AS ms, sum(j.value) AS n FROM query_totals r, json_each(r.hist_total) j WHERE "  \
  "r.fingerprint = " key                                                                  \
  " AND r.user_name = t.user_name AND "                                                   \
  "r.database_name = t.database_name GROUP BY 1)) WHERE cum >= " q                        \
  " * q.timed) END, "                                                                     \
  "t.max_ms)"

// v3: rollups, the truth for counts and percentiles (DESIGN §3). One row per key per
// minute (a straggler that finishes after its minute was written adds a second row: rows
// are additive), and all-time totals per key that the writer keeps merged. Histograms are
// JSON objects {"<ms>": count} (storage/log_histogram.hpp) that json_each can expand.
// query_stats and error_stats read the totals: complete even when raw rows were sampled or
// dropped, and as fast with ten million executions as with ten.
constexpr const char* kV3 = R"sql(
CREATE TABLE rollups (
  minute INTEGER NOT NULL,
  proxy_instance TEXT NOT NULL,
  fingerprint TEXT,
  user_name TEXT NOT NULL,
  database_name TEXT NOT NULL,
  application_name TEXT NOT NULL,
  status TEXT NOT NULL,
  sqlstate TEXT,
  calls INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  total_us INTEGER NOT NULL,
  timed INTEGER NOT NULL,
  min_us INTEGER,
  max_us INTEGER,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  hist_total TEXT NOT NULL,
  hist_first_row TEXT NOT NULL,
  hist_bind TEXT NOT NULL,
  hist_parse TEXT NOT NULL
);
CREATE INDEX rollups_minute ON rollups (minute);
CREATE INDEX rollups_fingerprint ON rollups (fingerprint, minute);

CREATE TABLE rollup_totals (
  proxy_instance TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  user_name TEXT NOT NULL,
  database_name TEXT NOT NULL,
  application_name TEXT NOT NULL,
  status TEXT NOT NULL,
  sqlstate TEXT NOT NULL,
  normalized_sql TEXT,
  calls INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  total_us INTEGER NOT NULL,
  timed INTEGER NOT NULL,
  min_us INTEGER,
  max_us INTEGER,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  last_error TEXT,
  hist_total TEXT NOT NULL,
  hist_first_row TEXT NOT NULL,
  hist_bind TEXT NOT NULL,
  hist_parse TEXT NOT NULL,
  PRIMARY KEY (proxy_instance, fingerprint, user_name, database_name, application_name,
               status, sqlstate)
) WITHOUT ROWID;
-- error_stats finds each (sqlstate, fingerprint)'s last message through it.
CREATE INDEX rollup_totals_errors ON rollup_totals (fingerprint, sqlstate, last_at);

-- Per query key and proxy: the merged histogram of the executions that ran and its
-- percentiles, kept by the writer, so that query_stats ranks nothing for a key that one
-- proxy wrote (a fleet's keys merge the few histograms here).
CREATE TABLE query_totals (
  proxy_instance TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  user_name TEXT NOT NULL,
  database_name TEXT NOT NULL,
  timed INTEGER NOT NULL,
  p50_ms REAL,
  p95_ms REAL,
  p99_ms REAL,
  hist_total TEXT NOT NULL,
  PRIMARY KEY (proxy_instance, fingerprint, user_name, database_name)
) WITHOUT ROWID;

-- Every histogram bucket of every rollup row: merge any set of rows by summing n per ms,
-- then rank (see docs/storage.md for the percentile recipe).
CREATE VIEW rollup_buckets AS
SELECT r.minute, r.proxy_instance, r.fingerprint, r.user_name, r.database_name,
       r.application_name, r.status, r.sqlstate, 'total' AS phase,
       CAST(j.key AS REAL) AS ms, j.value AS n
FROM rollups r, json_each(r.hist_total) j
UNION ALL
SELECT r.minute, r.proxy_instance, r.fingerprint, r.user_name, r.database_name,
       r.application_name, r.status, r.sqlstate, 'first_row', CAST(j.key AS REAL), j.value
FROM rollups r, json_each(r.hist_first_row) j
UNION ALL
SELECT r.minute, r.proxy_instance, r.fingerprint, r.user_name, r.database_name,
       r.application_name, r.status, r.sqlstate, 'bind', CAST(j.key AS REAL), j.value
FROM rollups r, json_each(r.hist_bind) j
UNION ALL
SELECT r.minute, r.proxy_instance, r.fingerprint, r.user_name, r.database_name,
       r.application_name, r.status, r.sqlstate, 'parse', CAST(j.key AS REAL), j.value
FROM rollups r, json_each(r.hist_parse) j;

DROP VIEW query_stats;
DROP VIEW error_stats;

-- calls: executions that ran (success, error, canceled); aborted ones apart.
-- Percentiles by nearest rank over the merged histogram: within 1 % of the exact value.
CREATE VIEW query_stats AS
WITH t AS (
  SELECT NULLIF(fingerprint, '') AS fingerprint, user_name, database_name,
         min(normalized_sql) AS normalized_sql,
         sum(CASE WHEN status <> 'aborted' THEN calls ELSE 0 END) AS calls,
         sum(CASE WHEN status IN ('error', 'canceled') THEN calls ELSE 0 END) AS errors,
         sum(CASE WHEN status = 'aborted' THEN calls ELSE 0 END) AS aborted,
         sum(rows) AS rows,
         sum(CASE WHEN status <> 'aborted' THEN total_us ELSE 0 END) / 1000.0 AS total_ms,
         max(CASE WHEN status <> 'aborted' THEN max_us END) / 1000.0 AS max_ms,
         min(first_at) AS first_seen,
         max(last_at) AS last_seen
  FROM rollup_totals
  GROUP BY 1, 2, 3),
q AS (
  SELECT NULLIF(fingerprint, '') AS fingerprint, user_name, database_name,
         count(*) AS instances, sum(timed) AS timed, max(p50_ms) AS p50_ms,
         max(p95_ms) AS p95_ms, max(p99_ms) AS p99_ms
  FROM query_totals
  GROUP BY 1, 2, 3)
SELECT t.fingerprint, t.user_name, t.database_name, t.normalized_sql, t.calls, t.errors,
       t.aborted, t.rows, t.total_ms, t.total_ms / NULLIF(t.calls, 0) AS mean_ms, t.max_ms,
       )sql" PGLC_SQLITE_QUERY_PCT("0.50", "p50_ms",
                                   "coalesce(t.fingerprint, '')") R"sql( AS p50_ms,
       )sql" PGLC_SQLITE_QUERY_PCT("0.95", "p95_ms",
                                   "coalesce(t.fingerprint, '')") R"sql( AS p95_ms,
       )sql" PGLC_SQLITE_QUERY_PCT("0.99", "p99_ms",
                                   "coalesce(t.fingerprint, '')") R"sql( AS p99_ms,
       t.first_seen, t.last_seen
FROM t
LEFT JOIN q ON q.fingerprint IS t.fingerprint AND q.user_name = t.user_name
           AND q.database_name = t.database_name;

CREATE VIEW error_stats AS
SELECT r.sqlstate, NULLIF(r.fingerprint, '') AS fingerprint,
       min(r.normalized_sql) AS normalized_sql, sum(r.calls) AS count,
       min(r.first_at) AS first_seen, max(r.last_at) AS last_seen,
       (SELECT x.last_error FROM rollup_totals x
        WHERE x.sqlstate = r.sqlstate AND x.fingerprint = r.fingerprint
        ORDER BY x.last_at DESC LIMIT 1) AS last_message
FROM rollup_totals r
WHERE r.sqlstate <> ''
GROUP BY r.sqlstate, r.fingerprint;

-- Per minute, summed over proxies and applications; filter on `minute` (µs since the
-- epoch, the minute's start). p95 per hour and the like: docs/storage.md.
)sql";

// query_stats_by_minute: one row per minute and key, filtered before its percentiles are
// worked out. Each percentile is a subquery correlated to its row, so `WHERE minute >= x`
// (pushed into the aggregate, on rollups_minute) limits the histograms read to those
// minutes, found by rollups_fingerprint.
std::string by_minute_view() {
  auto pct = [](const char* q) {
    return std::string(
               "min((SELECT min(ms) FROM (SELECT ms, sum(n) OVER (ORDER BY ms ROWS UNBOUNDED "
               "PRECEDING) AS cum FROM (SELECT CAST(j.key AS REAL) AS ms, sum(j.value) AS n "
               "FROM rollups r, json_each(r.hist_total) j WHERE r.minute = t.minute AND "
               "r.fingerprint IS t.fingerprint AND r.user_name = t.user_name AND "
               "r.database_name = t.database_name AND r.status <> 'aborted' GROUP BY 1)) "
               "WHERE cum >= ") +
           q + " * t.timed), t.max_ms)";
  };
  return std::string(R"sql(
CREATE VIEW query_stats_by_minute AS
SELECT t.minute, t.fingerprint, t.user_name, t.database_name,
       (SELECT min(x.normalized_sql) FROM rollup_totals x
        WHERE x.fingerprint = coalesce(t.fingerprint, '')) AS normalized_sql,
       t.calls, t.errors, t.aborted, t.rows, t.total_ms,
       t.total_ms / NULLIF(t.calls, 0) AS mean_ms, t.max_ms,
       )sql") +
         pct("0.50") + " AS p50_ms,\n       " + pct("0.95") + " AS p95_ms,\n       " + pct("0.99") +
         R"sql( AS p99_ms
FROM (
  SELECT minute, fingerprint, user_name, database_name,
         sum(CASE WHEN status <> 'aborted' THEN calls ELSE 0 END) AS calls,
         sum(CASE WHEN status IN ('error', 'canceled') THEN calls ELSE 0 END) AS errors,
         sum(CASE WHEN status = 'aborted' THEN calls ELSE 0 END) AS aborted,
         sum(rows) AS rows,
         sum(CASE WHEN status <> 'aborted' THEN total_us ELSE 0 END) / 1000.0 AS total_ms,
         max(CASE WHEN status <> 'aborted' THEN max_us END) / 1000.0 AS max_ms,
         sum(CASE WHEN status <> 'aborted' THEN timed ELSE 0 END) AS timed
  FROM rollups
  GROUP BY 1, 2, 3, 4) t;
)sql";
}

// Milliseconds since the Unix epoch of a UUIDv7 text column, in plain SQL (SQLite 3.40
// has no unhex): its first 12 hex digits.
std::string uuid_ms(const std::string& col) {
  static constexpr int kPositions[] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13};
  std::string out = "(";
  for (int k = 0; k < 12; ++k) {
    if (k > 0) out += " | ";
    out += "((instr('0123456789abcdef', lower(substr(" + col + ", " +
           std::to_string(kPositions[k]) + ", 1))) - 1) << " + std::to_string(4 * (11 - k)) + ")";
  }
  return out + ")";
}

// old text id -> new integer id (storage/sqlite_id.hpp: the millisecond since 2025 and the
// rank within it) for every id that `ids` (one column named old) yields.
std::string id_map(const std::string& table, const std::string& ids) {
  return "CREATE TABLE " + table +
         " (old TEXT PRIMARY KEY, new INTEGER NOT NULL) WITHOUT ROWID;\n"
         "INSERT INTO " +
         table +
         " SELECT old, (m << 22) + row_number() OVER "
         "(PARTITION BY m ORDER BY old) - 1 FROM (SELECT old, max(" +
         uuid_ms("old") + " - 1735689600000, 0) AS m FROM (" + ids + "));\n";
}

// v4: compact ids (DESIGN §3). Sessions, statements and executions are rowid tables keyed
// by a 64-bit integer (storage/sqlite_id.hpp) instead of 36-character texts that every
// index repeated; ids are time-ordered, so the indexes on connected_at, received_at and
// began_at go (retention deletes by id range). What is left: the two relations the views
// and retention follow (statement -> session, execution -> statement and session) and
// texts by hash.
std::string v4() {
  return "DROP VIEW statement_events;\nDROP VIEW execution_events;\n"
         "DROP VIEW execution_summary;\nDROP VIEW statement_summary;\n" +
         id_map("pglc_map_sessions",
                "SELECT id AS old FROM sessions UNION SELECT session_id FROM statements "
                "UNION SELECT session_id FROM executions") +
         id_map("pglc_map_statements",
                "SELECT id AS old FROM statements UNION SELECT statement_id FROM executions") +
         id_map("pglc_map_executions", "SELECT id AS old FROM executions") + R"sql(
CREATE TABLE sessions_v4 (
  id INTEGER PRIMARY KEY,
  proxy_instance TEXT NOT NULL,
  connected_at INTEGER NOT NULL,
  disconnected_at INTEGER,
  client_addr TEXT,
  client_port INTEGER,
  backend_addr TEXT,
  backend_pid INTEGER,
  user_name TEXT,
  database_name TEXT,
  application_name TEXT,
  client_tls INTEGER NOT NULL,
  backend_tls INTEGER NOT NULL,
  end_reason TEXT
);
INSERT INTO sessions_v4
SELECT m.new, s.proxy_instance, s.connected_at, s.disconnected_at, s.client_addr,
       s.client_port, s.backend_addr, s.backend_pid, s.user_name, s.database_name,
       s.application_name, s.client_tls, s.backend_tls, s.end_reason
FROM sessions s JOIN pglc_map_sessions m ON m.old = s.id;

CREATE TABLE statements_v4 (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  sql_hash TEXT NOT NULL,
  param_types TEXT,
  received_at INTEGER NOT NULL,
  parsed_at INTEGER,
  described_at INTEGER,
  closed_at INTEGER
);
INSERT INTO statements_v4
SELECT m.new, ms.new, s.kind, s.name, s.position, s.sql_hash, s.param_types, s.received_at,
       s.parsed_at, s.described_at, s.closed_at
FROM statements s JOIN pglc_map_statements m ON m.old = s.id
JOIN pglc_map_sessions ms ON ms.old = s.session_id;

CREATE TABLE executions_v4 (
  id INTEGER PRIMARY KEY,
  statement_id INTEGER NOT NULL,
  session_id INTEGER NOT NULL,
  portal TEXT NOT NULL,
  params TEXT,
  began_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL,
  sqlstate TEXT,
  error_message TEXT,
  command_tag TEXT,
  rows INTEGER NOT NULL,
  result_bytes INTEGER NOT NULL,
  fetches INTEGER NOT NULL,
  sample_rate REAL NOT NULL,
  application_name TEXT,
  bound_at INTEGER,
  executed_at INTEGER,
  delivered_at INTEGER
);
INSERT INTO executions_v4
SELECT m.new, mt.new, ms.new, e.portal, e.params, e.began_at, e.finished_at, e.status,
       e.sqlstate, e.error_message, e.command_tag, e.rows, e.result_bytes, e.fetches,
       e.sample_rate, e.application_name, e.bound_at, e.executed_at, e.delivered_at
FROM executions e JOIN pglc_map_executions m ON m.old = e.id
JOIN pglc_map_statements mt ON mt.old = e.statement_id
JOIN pglc_map_sessions ms ON ms.old = e.session_id;

DROP TABLE executions;
DROP TABLE statements;
DROP TABLE sessions;
DROP TABLE pglc_map_executions;
DROP TABLE pglc_map_statements;
DROP TABLE pglc_map_sessions;
ALTER TABLE sessions_v4 RENAME TO sessions;
ALTER TABLE statements_v4 RENAME TO statements;
ALTER TABLE executions_v4 RENAME TO executions;
CREATE INDEX statements_session_id ON statements (session_id);
CREATE INDEX statements_sql_hash ON statements (sql_hash);
CREATE INDEX executions_statement_id ON executions (statement_id);
CREATE INDEX executions_session_id ON executions (session_id);
)sql" + event_views();
}

// v5: query_stats joins its two halves on the stored fingerprint ('' when unanalysed) with
// plain equality, as in the PostgreSQL store (whose planner could not hash or merge on IS
// NOT DISTINCT FROM).
constexpr const char* kV5 = R"sql(
DROP VIEW query_stats;
CREATE VIEW query_stats AS
WITH t AS (
  SELECT fingerprint AS fp, user_name, database_name,
         min(normalized_sql) AS normalized_sql,
         sum(CASE WHEN status <> 'aborted' THEN calls ELSE 0 END) AS calls,
         sum(CASE WHEN status IN ('error', 'canceled') THEN calls ELSE 0 END) AS errors,
         sum(CASE WHEN status = 'aborted' THEN calls ELSE 0 END) AS aborted,
         sum(rows) AS rows,
         sum(CASE WHEN status <> 'aborted' THEN total_us ELSE 0 END) / 1000.0 AS total_ms,
         max(CASE WHEN status <> 'aborted' THEN max_us END) / 1000.0 AS max_ms,
         min(first_at) AS first_seen,
         max(last_at) AS last_seen
  FROM rollup_totals
  GROUP BY 1, 2, 3),
q AS (
  SELECT fingerprint AS fp, user_name, database_name,
         count(*) AS instances, sum(timed) AS timed, max(p50_ms) AS p50_ms,
         max(p95_ms) AS p95_ms, max(p99_ms) AS p99_ms
  FROM query_totals
  GROUP BY 1, 2, 3)
SELECT NULLIF(t.fp, '') AS fingerprint, t.user_name, t.database_name, t.normalized_sql,
       t.calls, t.errors, t.aborted, t.rows, t.total_ms,
       t.total_ms / NULLIF(t.calls, 0) AS mean_ms, t.max_ms,
       )sql" PGLC_SQLITE_QUERY_PCT("0.50", "p50_ms", "t.fp") R"sql( AS p50_ms,
       )sql" PGLC_SQLITE_QUERY_PCT("0.95", "p95_ms", "t.fp") R"sql( AS p95_ms,
       )sql" PGLC_SQLITE_QUERY_PCT("0.99", "p99_ms", "t.fp") R"sql( AS p99_ms,
       t.first_seen, t.last_seen
FROM t
LEFT JOIN q ON q.fp = t.fp AND q.user_name = t.user_name AND q.database_name = t.database_name;
)sql";

// v6: execution_summary joins a statement on its session too, as in the PostgreSQL store
// (where it lets the planner read one session's statements by index).
const std::string& v6() {
  static const std::string sql =
      "DROP VIEW execution_summary;\n" +
      execution_summary_view("st.id = e.statement_id AND st.session_id = e.session_id", false);
  return sql;
}

// v7: texts carry last_used (storage/schema.hpp) and retention deletes them by it, so
// statements_sql_hash goes. It was a second b-tree with random keys written for every new
// text: under `pgbench -M simple`, where each execution brings one, it was half of the
// pages the writer dirtied. Existing texts take their latest statement's time.
constexpr const char* kV7 = R"sql(
ALTER TABLE sql_texts ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0;
UPDATE sql_texts SET last_used =
  coalesce((SELECT max(received_at) FROM statements s WHERE s.sql_hash = sql_texts.hash), 0);
DROP INDEX statements_sql_hash;
CREATE INDEX sql_texts_last_used ON sql_texts (last_used);
)sql";

// v8: each statement and execution records how it was timed (DESIGN §2, --phase-timing
// sampled), and the views compute parse and bind times from precisely timed rows only.
// Rows from before were timed as the proxy was configured; precise was the default.
const std::string& v8() {
  static const std::string sql =
      R"sql(
ALTER TABLE statements ADD COLUMN timing TEXT NOT NULL DEFAULT 'precise';
ALTER TABLE executions ADD COLUMN timing TEXT NOT NULL DEFAULT 'precise';
DROP VIEW execution_summary;
DROP VIEW statement_summary;
)sql" +
      execution_summary_view("st.id = e.statement_id AND st.session_id = e.session_id", true) +
      statement_summary_view(true);
  return sql;
}

// v9: the session phases of DESIGN §2 as columns of sessions (connected_at is `accepted`,
// disconnected_at `closed`), the session_events relation over them, and session_summary
// with each connect phase's duration and the session's executions.
constexpr const char* kV9 = R"sql(
ALTER TABLE sessions ADD COLUMN tls_established_at INTEGER;
ALTER TABLE sessions ADD COLUMN startup_received_at INTEGER;
ALTER TABLE sessions ADD COLUMN backend_connected_at INTEGER;
ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER;
ALTER TABLE sessions ADD COLUMN ready_at INTEGER;

CREATE VIEW session_events AS
SELECT id AS session_id, 'accepted' AS event, connected_at AS occurred_at FROM sessions
UNION ALL
SELECT id, 'tls_established', tls_established_at FROM sessions WHERE tls_established_at IS NOT NULL
UNION ALL
SELECT id, 'startup_received', startup_received_at FROM sessions
WHERE startup_received_at IS NOT NULL
UNION ALL
SELECT id, 'backend_connected', backend_connected_at FROM sessions
WHERE backend_connected_at IS NOT NULL
UNION ALL
SELECT id, 'authenticated', authenticated_at FROM sessions WHERE authenticated_at IS NOT NULL
UNION ALL
SELECT id, 'ready', ready_at FROM sessions WHERE ready_at IS NOT NULL
UNION ALL
SELECT id, 'closed', disconnected_at FROM sessions WHERE disconnected_at IS NOT NULL;

CREATE VIEW session_summary AS
SELECT s.id AS session_id, s.proxy_instance, s.user_name, s.database_name,
       s.application_name, s.client_addr, s.client_port, s.client_tls, s.backend_tls,
       s.backend_pid, s.connected_at, s.tls_established_at, s.startup_received_at,
       s.backend_connected_at, s.authenticated_at, s.ready_at, s.disconnected_at,
       s.end_reason,
       (s.tls_established_at - s.connected_at) / 1000.0 AS tls_ms,
       (s.startup_received_at - coalesce(s.tls_established_at, s.connected_at)) / 1000.0 AS startup_ms,
       (s.backend_connected_at - s.startup_received_at) / 1000.0 AS backend_ms,
       (s.authenticated_at - s.backend_connected_at) / 1000.0 AS auth_ms,
       (s.ready_at - s.connected_at) / 1000.0 AS connect_ms,
       (s.disconnected_at - s.connected_at) / 1000.0 AS duration_ms,
       (SELECT count(*) FROM executions e WHERE e.session_id = s.id) AS executions,
       (SELECT count(*) FROM executions e
        WHERE e.session_id = s.id AND e.status IN ('error', 'canceled')) AS errors,
       (SELECT sum((e.finished_at - e.began_at) / 1000.0) FROM executions e
        WHERE e.session_id = s.id) AS execution_ms
FROM sessions s;
)sql";

// v10: when `pglifecycle reset` last cleared the all-time totals (pg_stat_statements_info's
// stats_reset). Each writer reads it in the transaction that writes its totals and
// starts its totals afresh when it moved, so a reset holds while proxies run.
constexpr const char* kV10 = R"sql(
CREATE TABLE stats_reset (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  reset_at INTEGER NOT NULL
);
INSERT INTO stats_reset VALUES (1, 0);
)sql";

// v11: statement classes (DESIGN §2): statement_type from the parse tree, origin `driver`
// or `application` (lifecycle/statement_class.cpp); the views show both.
const std::string& v11() {
  static const std::string sql =
      R"sql(
ALTER TABLE statements ADD COLUMN statement_type TEXT;
ALTER TABLE statements ADD COLUMN origin TEXT NOT NULL DEFAULT 'application';
DROP VIEW execution_summary;
DROP VIEW statement_summary;
)sql" +
      execution_summary_view("st.id = e.statement_id AND st.session_id = e.session_id", true,
                             true) +
      statement_summary_view(true, true);
  return sql;
}

// v13: "over time" questions per application, user or database. A rollup row is mostly
// its four JSON histograms, so the minute index now carries every other column and a
// range of minutes reads the index alone. In that index's order (minute, application,
// user, database) SQLite aggregates as it scans, with no sort of every rollup row of the
// range: the README's per-application day groups by minute and application first
// (docs/storage.md, bench/store_scale.sh: 106-136 ms before at 10 million executions).
constexpr const char* kV13 = R"sql(
DROP INDEX rollups_minute;
CREATE INDEX rollups_minute ON rollups (minute, application_name, user_name, database_name,
  fingerprint, status, calls, rows, total_us, timed, max_us);
)sql";

// v12: query_stats says whether a fingerprint is a driver's own (lifecycle/statement_class:
// the writer stores `origin` with each total, from its normalized text).
const std::vector<Migration>& migrations() {
  static const std::string v12_sql = query_stats_with_origin(kV5, "TEXT");
  static const std::string v2 = std::string(kV2) + event_views();
  static const std::string v3 = std::string(kV3) + by_minute_view();
  static const std::string v4_sql = v4();
  static const std::vector<Migration> all = {
      {1, "lifecycle tables and views", kV1},
      {2, "event times as columns of executions and statements", v2.c_str()},
      {3, "rollups: per-minute and all-time aggregates; query_stats and error_stats read them",
       v3.c_str()},
      {4, "compact ids: 64-bit integer keys, time-ordered; indexes only where followed",
       v4_sql.c_str()},
      {5, "query_stats joins its halves on the stored fingerprint", kV5},
      {6, "execution_summary joins a statement on its session too", v6().c_str()},
      {7, "texts carry last_used; retention deletes them by it, not by statements_sql_hash", kV7},
      {8, "statements and executions record their timing; parse and bind from precise rows",
       v8().c_str()},
      {9, "session phases: columns of sessions, session_events and session_summary", kV9},
      {10, "stats_reset: when the all-time totals were last reset", kV10},
      {11, "statement classes: statement_type and origin of each statement", v11().c_str()},
      {12, "query_stats shows the origin of each fingerprint", v12_sql.c_str()},
      {13, "the minute index covers the rollups' counts: time ranges read no histograms", kV13},
  };
  return all;
}

}  // namespace

std::span<const Migration> sqlite_migrations() {
  return migrations();
}

}  // namespace pglc::storage
