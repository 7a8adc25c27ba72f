-- 2. Where did the time of the slowest execution of the last hour go? (pglifecycle explain
-- --slowest 1 and --execution ID draw the same as a tree.) The id bound lets the store
-- read only the last hour (ids are time-ordered UUIDv7s).
WITH slowest AS (
  SELECT execution_id FROM execution_summary
  WHERE execution_id >= (lpad(to_hex((extract(epoch FROM now() - interval '1 hour') * 1000)::bigint),
                              12, '0') || '00000000000000000000')::uuid
    AND total_ms IS NOT NULL
  ORDER BY total_ms DESC LIMIT 1)
SELECT e.execution_id, e.application_name, e.kind, e.statement_name, e.status, e.rows,
       e.began_at, e.timing, round(e.bind_ms::numeric, 3) AS bind_ms,
       round(e.first_row_ms::numeric, 3) AS first_row_ms,
       round(e.execute_ms::numeric, 3) AS execute_ms, round(e.total_ms::numeric, 3) AS total_ms,
       round(e.deliver_ms::numeric, 3) AS deliver_ms, substr(e.sql, 1, 80) AS sql
FROM execution_summary e JOIN slowest USING (execution_id);
