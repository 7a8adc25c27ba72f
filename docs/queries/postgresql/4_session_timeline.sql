-- 4. The last session of an application, as a timeline: its connect, then its executions.
-- Edit the pattern in `params` (PowerBI's own sessions: 'PowerBI%' or 'Mashup%').
WITH params AS (SELECT 'PowerBI%'::text AS app),
     last_session AS (
       SELECT session_id FROM session_summary, params
       WHERE application_name LIKE params.app ORDER BY connected_at DESC LIMIT 1)
SELECT * FROM (
  SELECT 'connect' AS what, s.connected_at AS at, NULL::text AS status, NULL::bigint AS rows,
         round(s.connect_ms::numeric, 1) AS ms,
         'tls ' || coalesce(round(s.tls_ms::numeric, 1)::text, '-') || ' · auth ' ||
           coalesce(round(s.auth_ms::numeric, 1)::text, '-') AS detail
  FROM session_summary s JOIN last_session USING (session_id)
  UNION ALL
  SELECT e.kind || coalesce(' ' || nullif(e.statement_name, ''), ''), e.began_at, e.status,
         e.rows, round(e.total_ms::numeric, 1), substr(e.sql, 1, 80)
  FROM execution_summary e JOIN last_session USING (session_id)) t
ORDER BY at;
