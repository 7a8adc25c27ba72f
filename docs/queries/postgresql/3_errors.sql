-- 3. Errors by SQLSTATE, from the rollups (every error counted).
SELECT sqlstate, sum(count) AS errors, max(last_seen) AS last_seen, max(last_message) AS example
FROM error_stats
GROUP BY sqlstate
ORDER BY errors DESC;
