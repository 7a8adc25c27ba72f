-- 4. The last session of an application, as a timeline: its connect, then its executions.
-- Edit the pattern in `params` (PowerBI's own sessions: 'PowerBI%' or 'Mashup%').
WITH params AS (SELECT 'PowerBI%' AS app),
     last_session AS (
       SELECT session_id FROM session_summary, params
       WHERE application_name LIKE params.app ORDER BY connected_at DESC LIMIT 1)
SELECT 'connect' AS what, strftime('%H:%M:%f', s.connected_at / 1e6, 'unixepoch') AS at_utc,
       NULL AS status, NULL AS rows, round(s.connect_ms, 1) AS ms,
       'tls ' || coalesce(round(s.tls_ms, 1), '-') || ' · auth ' || coalesce(round(s.auth_ms, 1), '-') AS detail
FROM session_summary s JOIN last_session USING (session_id)
UNION ALL
SELECT e.kind || coalesce(' ' || nullif(e.statement_name, ''), ''),
       strftime('%H:%M:%f', e.began_at / 1e6, 'unixepoch'), e.status, e.rows,
       round(e.total_ms, 1), substr(e.sql, 1, 80)
FROM execution_summary e JOIN last_session USING (session_id)
ORDER BY at_utc;
