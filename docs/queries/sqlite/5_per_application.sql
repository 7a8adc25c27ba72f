-- 5. Executions per application over the last 24 hours, from the minute rollups (every
-- execution counted, also those whose raw rows were sampled or shed). Grouped by minute
-- first, in the order of the rollups' minute index, so SQLite sums as it reads the index
-- instead of sorting every rollup row of the day.
SELECT application_name, sum(calls) AS executions, sum(failed) AS failed,
       round(sum(total_us) / 1000.0 / sum(calls), 2) AS mean_ms
FROM (SELECT minute, application_name, sum(calls) AS calls,
             sum(CASE WHEN status <> 'success' THEN calls ELSE 0 END) AS failed,
             sum(total_us) AS total_us
      FROM rollups
      WHERE minute > (strftime('%s', 'now') - 86400) * 1000000
      GROUP BY minute, application_name)
GROUP BY application_name
ORDER BY executions DESC;
