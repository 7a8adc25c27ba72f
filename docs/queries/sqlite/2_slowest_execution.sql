-- 2. Where did the time of the slowest execution of the last hour go? (pglifecycle explain
-- --slowest 1 and --execution ID draw the same as a tree.) The id bound lets the store
-- read only the last hour (ids are time-ordered).
WITH slowest AS (
  SELECT execution_id FROM execution_summary
  WHERE execution_id >= ((CAST(strftime('%s', 'now', '-1 hour') AS INTEGER) * 1000
                          - 1735689600000) << 22)
    AND total_ms IS NOT NULL
  ORDER BY total_ms DESC LIMIT 1)
SELECT e.execution_id, e.application_name, e.kind, e.statement_name, e.status, e.rows,
       strftime('%Y-%m-%d %H:%M:%f', e.began_at / 1e6, 'unixepoch') AS began_utc,
       e.timing, round(e.bind_ms, 3) AS bind_ms, round(e.first_row_ms, 3) AS first_row_ms,
       round(e.execute_ms, 3) AS execute_ms, round(e.total_ms, 3) AS total_ms,
       round(e.deliver_ms, 3) AS deliver_ms, substr(e.sql, 1, 80) AS sql
FROM execution_summary e JOIN slowest USING (execution_id);
