-- 5. Executions per application over the last 24 hours, from the minute rollups (every
-- execution counted, also those whose raw rows were sampled or shed).
SELECT application_name, sum(calls) AS executions,
       sum(CASE WHEN status <> 'success' THEN calls ELSE 0 END) AS failed,
       round((sum(total_us) / 1000.0 / sum(calls))::numeric, 2) AS mean_ms
FROM rollups
WHERE minute > now() - interval '24 hours'
GROUP BY application_name
ORDER BY executions DESC;
