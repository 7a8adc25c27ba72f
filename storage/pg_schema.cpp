// DESIGN §3 in PostgreSQL: uuid ids, timestamptz, bigint counters; durations in the views
// are double precision milliseconds. Same tables, columns and views as the SQLite store.
// Relations are not declared as foreign keys (see sqlite_schema.cpp for why).
#include "storage/schema.hpp"

#include <stdexcept>

#include <string>
#include <vector>

namespace pglc::storage {
namespace {

constexpr const char* kV1 = R"sql(
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  proxy_instance text NOT NULL,
  connected_at timestamptz NOT NULL,
  disconnected_at timestamptz,
  client_addr text,
  client_port integer,
  backend_addr text,
  backend_pid integer,
  user_name text,
  database_name text,
  application_name text,
  client_tls boolean NOT NULL,
  backend_tls boolean NOT NULL,
  end_reason text
);
CREATE INDEX sessions_connected_at ON sessions (connected_at);

CREATE TABLE sql_texts (
  hash text PRIMARY KEY,
  sql text NOT NULL,
  normalized_sql text,
  fingerprint text
);

CREATE TABLE statements (
  id uuid PRIMARY KEY,
  session_id uuid NOT NULL,
  kind text NOT NULL,
  name text NOT NULL,
  position integer NOT NULL,
  sql_hash text NOT NULL,
  param_types text,
  received_at timestamptz NOT NULL
);
CREATE INDEX statements_session_id ON statements (session_id);
CREATE INDEX statements_sql_hash ON statements (sql_hash);
CREATE INDEX statements_received_at ON statements (received_at);

CREATE TABLE executions (
  id uuid PRIMARY KEY,
  statement_id uuid NOT NULL,
  session_id uuid NOT NULL,
  portal text NOT NULL,
  params text,
  began_at timestamptz NOT NULL,
  finished_at timestamptz,
  status text NOT NULL,
  sqlstate text,
  error_message text,
  command_tag text,
  rows bigint NOT NULL,
  result_bytes bigint NOT NULL,
  fetches integer NOT NULL,
  sample_rate double precision NOT NULL,
  application_name text
);
CREATE INDEX executions_statement_id ON executions (statement_id);
CREATE INDEX executions_session_id ON executions (session_id, began_at);
CREATE INDEX executions_began_at ON executions (began_at);

CREATE TABLE statement_events (
  statement_id uuid NOT NULL,
  event text NOT NULL,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (statement_id, event, occurred_at)
);

CREATE TABLE execution_events (
  execution_id uuid NOT NULL,
  event text NOT NULL,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (execution_id, event, occurred_at)
);

-- Milliseconds between two timestamptz, exact to the microsecond.
CREATE FUNCTION pglc_ms(later timestamptz, earlier timestamptz) RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS 'SELECT (extract(epoch FROM later - earlier) * 1000)::double precision';

CREATE VIEW execution_summary AS
SELECT e.id AS execution_id, e.session_id, e.statement_id,
       s.proxy_instance, s.user_name, s.database_name, e.application_name,
       st.kind, st.name AS statement_name, st.position, e.portal,
       t.sql, t.normalized_sql, t.fingerprint,
       e.began_at, v.bound_at, v.executed_at, e.finished_at, v.delivered_at,
       e.status, e.sqlstate, e.error_message, e.command_tag, e.rows, e.result_bytes,
       e.fetches, e.sample_rate,
       pglc_ms(v.bound_at, e.began_at) AS bind_ms,
       pglc_ms(v.executed_at, e.began_at) AS first_row_ms,
       pglc_ms(e.finished_at, coalesce(v.bound_at, e.began_at)) AS execute_ms,
       pglc_ms(e.finished_at, e.began_at) AS total_ms,
       pglc_ms(v.delivered_at, e.finished_at) AS deliver_ms
FROM executions e
LEFT JOIN LATERAL (
  SELECT min(occurred_at) FILTER (WHERE event = 'bound') AS bound_at,
         min(occurred_at) FILTER (WHERE event = 'executed') AS executed_at,
         min(occurred_at) FILTER (WHERE event = 'delivered') AS delivered_at
  FROM execution_events x WHERE x.execution_id = e.id) v ON true
LEFT JOIN statements st ON st.id = e.statement_id
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = e.session_id;

CREATE VIEW statement_summary AS
SELECT st.id AS statement_id, st.session_id,
       s.proxy_instance, s.user_name, s.database_name, s.application_name,
       st.kind, st.name, st.position, t.sql, t.normalized_sql, t.fingerprint, st.param_types,
       st.received_at, v.parsed_at, v.described_at, v.closed_at,
       pglc_ms(v.parsed_at, st.received_at) AS parse_ms,
       (SELECT count(*) FROM executions e WHERE e.statement_id = st.id) AS executions,
       (SELECT count(*) FROM executions e
        WHERE e.statement_id = st.id AND e.status IN ('error', 'canceled')) AS errors
FROM statements st
LEFT JOIN LATERAL (
  SELECT min(occurred_at) FILTER (WHERE event = 'parsed') AS parsed_at,
         min(occurred_at) FILTER (WHERE event = 'described') AS described_at,
         min(occurred_at) FILTER (WHERE event = 'closed') AS closed_at
  FROM statement_events x WHERE x.statement_id = st.id) v ON true
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = st.session_id;

-- Percentiles by nearest rank, as in the SQLite store: the value at rank
-- ceil(p * n / 100) of the n finished executions in ascending order.
CREATE VIEW query_stats AS
WITH x AS (
  SELECT t.fingerprint, s.user_name, s.database_name, t.normalized_sql, e.status, e.rows,
         e.began_at,
         (extract(epoch FROM e.finished_at - e.began_at) * 1000000)::bigint AS us
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
       count(*) FILTER (WHERE status IN ('error', 'canceled')) AS errors,
       count(*) FILTER (WHERE status = 'aborted') AS aborted,
       sum(rows)::bigint AS rows,
       (sum(us) / 1000.0)::double precision AS total_ms,
       (avg(us) / 1000.0)::double precision AS mean_ms,
       (max(us) / 1000.0)::double precision AS max_ms,
       (max(us) FILTER (WHERE rn = (50 * n + 99) / 100) / 1000.0)::double precision AS p50_ms,
       (max(us) FILTER (WHERE rn = (95 * n + 99) / 100) / 1000.0)::double precision AS p95_ms,
       (max(us) FILTER (WHERE rn = (99 * n + 99) / 100) / 1000.0)::double precision AS p99_ms,
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
       pglc_ms(CASE WHEN st.timing = 'precise' THEN st.parsed_at END, st.received_at) AS parse_ms,
)sql"
                : R"sql(       pglc_ms(st.parsed_at, st.received_at) AS parse_ms,
)sql") +
         R"sql(       (SELECT count(*) FROM executions e WHERE e.statement_id = st.id) AS executions,
       (SELECT count(*) FROM executions e
        WHERE e.statement_id = st.id AND e.status IN ('error', 'canceled')) AS errors
FROM statements st
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = st.session_id;
)sql";
}

// execution_summary over the event columns; `statement_join` is the condition that finds
// an execution's statement (version 6 adds the session to it).
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
       pglc_ms(CASE WHEN e.timing = 'precise' THEN e.bound_at END, e.began_at) AS bind_ms,
       pglc_ms(e.executed_at, e.began_at) AS first_row_ms,
       pglc_ms(e.finished_at, CASE WHEN e.timing = 'precise' THEN coalesce(e.bound_at, e.began_at)
                              ELSE e.began_at END) AS execute_ms,
)sql"
                : R"sql(       pglc_ms(e.bound_at, e.began_at) AS bind_ms,
       pglc_ms(e.executed_at, e.began_at) AS first_row_ms,
       pglc_ms(e.finished_at, coalesce(e.bound_at, e.began_at)) AS execute_ms,
)sql") +
         R"sql(       pglc_ms(e.finished_at, e.began_at) AS total_ms,
       pglc_ms(e.delivered_at, e.finished_at) AS deliver_ms
FROM executions e
LEFT JOIN statements st ON )sql" +
         statement_join +
         R"sql(
LEFT JOIN sql_texts t ON t.hash = st.sql_hash
LEFT JOIN sessions s ON s.id = e.session_id;
)sql";
}

// v2: as in the SQLite store, the events become columns of executions and statements, and
// execution_events and statement_events views with the same columns and rows.
const std::string& v2() {
  static const std::string sql = R"sql(
ALTER TABLE executions ADD COLUMN bound_at timestamptz,
                       ADD COLUMN executed_at timestamptz,
                       ADD COLUMN delivered_at timestamptz;
UPDATE executions e SET bound_at = v.bound_at, executed_at = v.executed_at,
                        delivered_at = v.delivered_at
FROM (SELECT execution_id,
             min(occurred_at) FILTER (WHERE event = 'bound') AS bound_at,
             min(occurred_at) FILTER (WHERE event = 'executed') AS executed_at,
             min(occurred_at) FILTER (WHERE event = 'delivered') AS delivered_at
      FROM execution_events GROUP BY execution_id) v
WHERE v.execution_id = e.id;
ALTER TABLE statements ADD COLUMN parsed_at timestamptz,
                       ADD COLUMN described_at timestamptz,
                       ADD COLUMN closed_at timestamptz;
UPDATE statements st SET parsed_at = v.parsed_at, described_at = v.described_at,
                         closed_at = v.closed_at
FROM (SELECT statement_id,
             min(occurred_at) FILTER (WHERE event = 'parsed') AS parsed_at,
             min(occurred_at) FILTER (WHERE event = 'described') AS described_at,
             min(occurred_at) FILTER (WHERE event = 'closed') AS closed_at
      FROM statement_events GROUP BY statement_id) v
WHERE v.statement_id = st.id;
DROP VIEW execution_summary;
DROP VIEW statement_summary;
DROP TABLE execution_events;
DROP TABLE statement_events;

CREATE VIEW statement_events AS
SELECT id AS statement_id, 'received'::text AS event, received_at AS occurred_at FROM statements
UNION ALL
SELECT id, 'parsed', parsed_at FROM statements WHERE parsed_at IS NOT NULL
UNION ALL
SELECT id, 'described', described_at FROM statements WHERE described_at IS NOT NULL
UNION ALL
SELECT id, 'closed', closed_at FROM statements WHERE closed_at IS NOT NULL;

CREATE VIEW execution_events AS
SELECT id AS execution_id, 'received'::text AS event, began_at AS occurred_at FROM executions
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
  return sql;
}

// A query's percentile `q` in query_stats: the writer's for a key of one proxy, else ranked
// over the merged histograms of query_totals; never above the exact maximum.
#define PGLC_PG_QUERY_PCT(q, col, key)                                                       \
  "least(CASE WHEN q.instances = 1 THEN q." col                                              \
  " ELSE (SELECT min(ms) FROM (SELECT ms, "                                                  \
  "sum(n) OVER (ORDER BY ms ROWS UNBOUNDED PRECEDING) AS cum FROM (SELECT "                  \
  "j.key::double precision AS ms, sum(j.value::bigint) AS n FROM query_totals r CROSS JOIN " \
  "LATERAL jsonb_each_text(r.hist_total) AS j WHERE r.fingerprint = " key                    \
  " AND r.user_name = t.user_name AND r.database_name = t.database_name GROUP BY 1) b) c "   \
  "WHERE cum >= " q " * q.timed) END, t.max_ms)"

// v3: rollups (see sqlite_schema.cpp for the why). Histograms are jsonb {"<ms>": count};
// timestamps timestamptz; a fleet's proxies each write their own rows (the key includes
// proxy_instance) and the views sum over them.
constexpr const char* kV3 = R"sql(
CREATE TABLE rollups (
  minute timestamptz NOT NULL,
  proxy_instance text NOT NULL,
  fingerprint text,
  user_name text NOT NULL,
  database_name text NOT NULL,
  application_name text NOT NULL,
  status text NOT NULL,
  sqlstate text,
  calls bigint NOT NULL,
  rows bigint NOT NULL,
  total_us bigint NOT NULL,
  timed bigint NOT NULL,
  min_us bigint,
  max_us bigint,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL,
  hist_total jsonb NOT NULL,
  hist_first_row jsonb NOT NULL,
  hist_bind jsonb NOT NULL,
  hist_parse jsonb NOT NULL
);
CREATE INDEX rollups_minute ON rollups (minute);
CREATE INDEX rollups_fingerprint ON rollups (fingerprint, minute);

CREATE TABLE rollup_totals (
  proxy_instance text NOT NULL,
  fingerprint text NOT NULL,
  user_name text NOT NULL,
  database_name text NOT NULL,
  application_name text NOT NULL,
  status text NOT NULL,
  sqlstate text NOT NULL,
  normalized_sql text,
  calls bigint NOT NULL,
  rows bigint NOT NULL,
  total_us bigint NOT NULL,
  timed bigint NOT NULL,
  min_us bigint,
  max_us bigint,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL,
  last_error text,
  hist_total jsonb NOT NULL,
  hist_first_row jsonb NOT NULL,
  hist_bind jsonb NOT NULL,
  hist_parse jsonb NOT NULL,
  PRIMARY KEY (proxy_instance, fingerprint, user_name, database_name, application_name,
               status, sqlstate)
);
-- error_stats finds each (sqlstate, fingerprint)'s last message through it.
CREATE INDEX rollup_totals_errors ON rollup_totals (fingerprint, sqlstate, last_at);

-- Per query key and proxy: the merged histogram of the executions that ran and its
-- percentiles, kept by the writer (see the SQLite schema).
CREATE TABLE query_totals (
  proxy_instance text NOT NULL,
  fingerprint text NOT NULL,
  user_name text NOT NULL,
  database_name text NOT NULL,
  timed bigint NOT NULL,
  p50_ms double precision,
  p95_ms double precision,
  p99_ms double precision,
  hist_total jsonb NOT NULL,
  PRIMARY KEY (proxy_instance, fingerprint, user_name, database_name)
);

CREATE VIEW rollup_buckets AS
SELECT r.minute, r.proxy_instance, r.fingerprint, r.user_name, r.database_name,
       r.application_name, r.status, r.sqlstate, h.phase, j.key::double precision AS ms,
       j.value::bigint AS n
FROM rollups r
CROSS JOIN LATERAL (VALUES ('total', r.hist_total), ('first_row', r.hist_first_row),
                           ('bind', r.hist_bind), ('parse', r.hist_parse)) AS h(phase, hist)
CROSS JOIN LATERAL jsonb_each_text(h.hist) AS j;

DROP VIEW query_stats;
DROP VIEW error_stats;

CREATE VIEW query_stats AS
WITH t AS (
  SELECT NULLIF(fingerprint, '') AS fingerprint, user_name, database_name,
         min(normalized_sql) AS normalized_sql,
         sum(calls) FILTER (WHERE status <> 'aborted') AS calls,
         coalesce(sum(calls) FILTER (WHERE status IN ('error', 'canceled')), 0) AS errors,
         coalesce(sum(calls) FILTER (WHERE status = 'aborted'), 0) AS aborted,
         sum(rows) AS rows,
         (coalesce(sum(total_us) FILTER (WHERE status <> 'aborted'), 0) / 1000.0)::double precision AS total_ms,
         (max(max_us) FILTER (WHERE status <> 'aborted') / 1000.0)::double precision AS max_ms,
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
SELECT t.fingerprint, t.user_name, t.database_name, t.normalized_sql,
       coalesce(t.calls, 0) AS calls, t.errors, t.aborted, t.rows, t.total_ms,
       t.total_ms / NULLIF(t.calls, 0) AS mean_ms, t.max_ms,
       )sql" PGLC_PG_QUERY_PCT("0.50", "p50_ms", "coalesce(t.fingerprint, '')") R"sql( AS p50_ms,
       )sql" PGLC_PG_QUERY_PCT("0.95", "p95_ms", "coalesce(t.fingerprint, '')") R"sql( AS p95_ms,
       )sql" PGLC_PG_QUERY_PCT("0.99", "p99_ms", "coalesce(t.fingerprint, '')") R"sql( AS p99_ms,
       t.first_seen, t.last_seen
FROM t
LEFT JOIN q ON q.fingerprint IS NOT DISTINCT FROM t.fingerprint AND q.user_name = t.user_name
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

)sql";

// query_stats_by_minute: one row per minute and key, filtered before its percentiles are
// worked out (see the SQLite store's definition for why they are correlated subqueries).
std::string by_minute_view() {
  auto pct = [](const char* q) {
    return std::string(
               "least((SELECT min(ms) FROM (SELECT ms, sum(n) OVER (ORDER BY ms ROWS UNBOUNDED "
               "PRECEDING) AS cum FROM (SELECT j.key::double precision AS ms, "
               "sum(j.value::bigint) AS n FROM rollups r CROSS JOIN LATERAL "
               "jsonb_each_text(r.hist_total) AS j WHERE r.minute = t.minute AND "
               "r.fingerprint IS NOT DISTINCT FROM t.fingerprint AND r.user_name = t.user_name "
               "AND r.database_name = t.database_name AND r.status <> 'aborted' GROUP BY 1) b) c "
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
         coalesce(sum(calls) FILTER (WHERE status <> 'aborted'), 0) AS calls,
         coalesce(sum(calls) FILTER (WHERE status IN ('error', 'canceled')), 0) AS errors,
         coalesce(sum(calls) FILTER (WHERE status = 'aborted'), 0) AS aborted,
         sum(rows) AS rows,
         (coalesce(sum(total_us) FILTER (WHERE status <> 'aborted'), 0) / 1000.0)::double precision AS total_ms,
         (max(max_us) FILTER (WHERE status <> 'aborted') / 1000.0)::double precision AS max_ms,
         coalesce(sum(timed) FILTER (WHERE status <> 'aborted'), 0) AS timed
  FROM rollups
  GROUP BY 1, 2, 3, 4) t;
)sql";
}

// v4: only the indexes that the views and retention follow. Ids are UUIDv7 (16 bytes, the
// most compact type that keeps a fleet's ids apart without coordination) and sort by
// time, so retention deletes by id range and the time indexes go.
constexpr const char* kV4 = R"sql(
DROP INDEX sessions_connected_at;
DROP INDEX statements_received_at;
DROP INDEX executions_began_at;
DROP INDEX executions_session_id;
CREATE INDEX executions_session_id ON executions (session_id);
)sql";

// v5: query_stats joins its two halves (rollup_totals, query_totals) on the stored
// fingerprint ('' when unanalysed) with plain equality: the planner can hash or merge on
// it, where IS NOT DISTINCT FROM left it a nested loop over every pair of keys (1.1 s with
// 3,000 keys). The merged percentile of a fleet's key is a function: as a correlated
// subquery in the view, its estimated cost per row (though it runs only for keys that more
// than one proxy wrote) put the query over jit_above_cost, and JIT compiling it took 1 s of
// a 26 ms query.
constexpr const char* kV5 = R"sql(
CREATE FUNCTION pglc_query_pct(p_fingerprint text, p_user text, p_database text,
                               p_q double precision, p_timed numeric)
RETURNS double precision LANGUAGE sql STABLE AS $$
  SELECT min(ms) FROM (
    SELECT ms, sum(n) OVER (ORDER BY ms ROWS UNBOUNDED PRECEDING) AS cum
    FROM (SELECT j.key::double precision AS ms, sum(j.value::bigint) AS n
          FROM query_totals r CROSS JOIN LATERAL jsonb_each_text(r.hist_total) AS j
          WHERE r.fingerprint = p_fingerprint AND r.user_name = p_user
            AND r.database_name = p_database
          GROUP BY 1) b) c
  WHERE cum >= p_q * p_timed
$$;
DROP VIEW query_stats;
CREATE VIEW query_stats AS
WITH t AS (
  SELECT fingerprint AS fp, user_name, database_name,
         min(normalized_sql) AS normalized_sql,
         sum(calls) FILTER (WHERE status <> 'aborted') AS calls,
         coalesce(sum(calls) FILTER (WHERE status IN ('error', 'canceled')), 0) AS errors,
         coalesce(sum(calls) FILTER (WHERE status = 'aborted'), 0) AS aborted,
         sum(rows) AS rows,
         (coalesce(sum(total_us) FILTER (WHERE status <> 'aborted'), 0) / 1000.0)::double precision AS total_ms,
         (max(max_us) FILTER (WHERE status <> 'aborted') / 1000.0)::double precision AS max_ms,
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
       coalesce(t.calls, 0) AS calls, t.errors, t.aborted, t.rows, t.total_ms,
       t.total_ms / NULLIF(t.calls, 0) AS mean_ms, t.max_ms,
       least(CASE WHEN q.instances = 1 THEN q.p50_ms
                  ELSE pglc_query_pct(t.fp, t.user_name, t.database_name, 0.50, q.timed) END,
             t.max_ms) AS p50_ms,
       least(CASE WHEN q.instances = 1 THEN q.p95_ms
                  ELSE pglc_query_pct(t.fp, t.user_name, t.database_name, 0.95, q.timed) END,
             t.max_ms) AS p95_ms,
       least(CASE WHEN q.instances = 1 THEN q.p99_ms
                  ELSE pglc_query_pct(t.fp, t.user_name, t.database_name, 0.99, q.timed) END,
             t.max_ms) AS p99_ms,
       t.first_seen, t.last_seen
FROM t
LEFT JOIN q ON q.fp = t.fp AND q.user_name = t.user_name AND q.database_name = t.database_name;
)sql";

// v6: execution_summary joins a statement on its session too (always the execution's:
// statements are per session). The planner then derives st.session_id from a filter on
// e.session_id and reads one session's statements by statements_session_id instead of
// hashing every statement of the store: one session's timeline at 10 million executions
// took 184 ms. pglc_ms computes in double precision: extract() of an interval is numeric
// since PostgreSQL 14, and five numeric extractions per row were most of the time left.
const std::string& v6() {
  static const std::string sql =
      R"sql(
CREATE OR REPLACE FUNCTION pglc_ms(later timestamptz, earlier timestamptz)
  RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS 'SELECT date_part(''epoch'', later - earlier) * 1000';
DROP VIEW execution_summary;
)sql" +
      execution_summary_view("st.id = e.statement_id AND st.session_id = e.session_id", false);
  return sql;
}

// v7: texts carry last_used (storage/schema.hpp) and retention deletes them by it, so
// statements_sql_hash goes (a second random-key b-tree per new text). Existing texts take
// their latest statement's time; a writer of version 6 still running in a fleet leaves
// the default, the time of its insert.
constexpr const char* kV7 = R"sql(
ALTER TABLE sql_texts ADD COLUMN last_used timestamptz NOT NULL DEFAULT now();
UPDATE sql_texts t SET last_used =
  coalesce((SELECT max(received_at) FROM statements s WHERE s.sql_hash = t.hash), '-infinity');
DROP INDEX statements_sql_hash;
CREATE INDEX sql_texts_last_used ON sql_texts (last_used);
)sql";

// v8: each statement and execution records how it was timed (DESIGN §2, --phase-timing
// sampled), and the views compute parse and bind times from precisely timed rows only.
// Rows from before were timed as the proxy was configured; precise was the default.
const std::string& v8() {
  static const std::string sql =
      R"sql(
ALTER TABLE statements ADD COLUMN timing text NOT NULL DEFAULT 'precise';
ALTER TABLE executions ADD COLUMN timing text NOT NULL DEFAULT 'precise';
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
ALTER TABLE sessions ADD COLUMN tls_established_at timestamptz;
ALTER TABLE sessions ADD COLUMN startup_received_at timestamptz;
ALTER TABLE sessions ADD COLUMN backend_connected_at timestamptz;
ALTER TABLE sessions ADD COLUMN authenticated_at timestamptz;
ALTER TABLE sessions ADD COLUMN ready_at timestamptz;

CREATE VIEW session_events AS
SELECT id AS session_id, 'accepted'::text AS event, connected_at AS occurred_at FROM sessions
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
       pglc_ms(s.tls_established_at, s.connected_at) AS tls_ms,
       pglc_ms(s.startup_received_at, coalesce(s.tls_established_at, s.connected_at)) AS startup_ms,
       pglc_ms(s.backend_connected_at, s.startup_received_at) AS backend_ms,
       pglc_ms(s.authenticated_at, s.backend_connected_at) AS auth_ms,
       pglc_ms(s.ready_at, s.connected_at) AS connect_ms,
       pglc_ms(s.disconnected_at, s.connected_at) AS duration_ms,
       (SELECT count(*) FROM executions e WHERE e.session_id = s.id) AS executions,
       (SELECT count(*) FROM executions e
        WHERE e.session_id = s.id AND e.status IN ('error', 'canceled')) AS errors,
       (SELECT sum(pglc_ms(e.finished_at, e.began_at)) FROM executions e
        WHERE e.session_id = s.id) AS execution_ms
FROM sessions s;
)sql";

// v10: when `pglifecycle reset` last cleared the all-time totals (pg_stat_statements_info's
// stats_reset). Each writer reads it in the transaction that writes its totals and
// starts its totals afresh when it moved, so a reset holds while proxies run.
constexpr const char* kV10 = R"sql(
CREATE TABLE stats_reset (
  id integer PRIMARY KEY CHECK (id = 1),
  reset_at timestamptz NOT NULL
);
INSERT INTO stats_reset VALUES (1, 'epoch');
)sql";

// v11: statement classes (DESIGN §2): statement_type from the parse tree, origin `driver`
// or `application` (lifecycle/statement_class.cpp); the views show both.
const std::string& v11() {
  static const std::string sql =
      R"sql(
ALTER TABLE statements ADD COLUMN statement_type text;
ALTER TABLE statements ADD COLUMN origin text NOT NULL DEFAULT 'application';
DROP VIEW execution_summary;
DROP VIEW statement_summary;
)sql" +
      execution_summary_view("st.id = e.statement_id AND st.session_id = e.session_id", true,
                             true) +
      statement_summary_view(true, true);
  return sql;
}

// v13: the minute index covers the rollups' counts (sqlite_schema.cpp says why), so a
// time range is an index-only scan once autovacuum has marked the pages all-visible.
constexpr const char* kV13 = R"sql(
DROP INDEX rollups_minute;
CREATE INDEX rollups_minute ON rollups (minute) INCLUDE (application_name, user_name,
  database_name, fingerprint, status, calls, rows, total_us, timed, max_us);
)sql";

// v12: query_stats says whether a fingerprint is a driver's own (lifecycle/statement_class:
// the writer stores `origin` with each total, from its normalized text).
const std::vector<Migration>& migrations() {
  static const std::string v12_sql = query_stats_with_origin(kV5, "text");
  static const std::string v3 = std::string(kV3) + by_minute_view();
  static const std::vector<Migration> all = {
      {1, "lifecycle tables and views", kV1},
      {2, "event times as columns of executions and statements", v2().c_str()},
      {3, "rollups: per-minute and all-time aggregates; query_stats and error_stats read them",
       v3.c_str()},
      {4, "compact ids: indexes only where followed, retention by id range", kV4},
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

std::span<const Migration> pg_migrations() {
  return migrations();
}

}  // namespace pglc::storage
