// DESIGN §3 in SQLite: timestamps are INTEGER microseconds since the Unix epoch (UTC),
// durations in the views are REAL milliseconds. Relations are not declared as foreign
// keys: the recorder may drop records under pressure, and an execution whose statement
// was lost must still be stored.
#include "storage/schema.hpp"

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
FROM executions e
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
FROM statements st
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = st.session_id;
)sql";

constexpr Migration kMigrations[] = {
    {1, "lifecycle tables and views", kV1},
    {2, "event times as columns of executions and statements", kV2},
};

}  // namespace

std::span<const Migration> sqlite_migrations() {
  return kMigrations;
}

}  // namespace pglc::storage
