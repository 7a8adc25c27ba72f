-- 3. Errors by SQLSTATE, from the rollups (every error counted).
SELECT sqlstate, sum(count) AS errors,
       strftime('%Y-%m-%d %H:%M:%S', max(last_seen) / 1e6, 'unixepoch') AS last_seen_utc,
       max(last_message) AS example
FROM error_stats
GROUP BY sqlstate
ORDER BY errors DESC;
