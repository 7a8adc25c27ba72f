-- 1. Slowest fingerprints by p95: pg_stat_statements over the recorded history, from the
-- rollups (every execution counted, percentiles within 1 %).
SELECT normalized_sql, calls, errors, round(p50_ms, 2) AS p50_ms, round(p95_ms, 2) AS p95_ms,
       round(p99_ms, 2) AS p99_ms, round(total_ms / 1000, 1) AS total_s,
       strftime('%Y-%m-%d %H:%M:%S', last_seen / 1e6, 'unixepoch') AS last_seen_utc
FROM query_stats
WHERE calls >= 10
ORDER BY p95_ms DESC
LIMIT 20;
