#!/usr/bin/env bash
# bench/store_scale.sh — the SQLite store at scale, without the proxy or PostgreSQL
# (bench/load/store_scale.cpp feeds the recorder in-process): bytes on disk per execution,
# executions stored per CPU-second, and how long query_stats, error_stats,
# query_stats_by_minute and a one-hour execution_summary count take with EXECUTIONS
# executions spread over DAYS days, next to the DESIGN §3 budgets; then a retention run
# (10 days fed, 3 kept) that prints the file size at each million executions, to show what
# retention does to the file.
#
# With STORE=postgresql the same generator fills a PostgreSQL store instead (a server of
# its own, initdb'ed in the work directory), and psql times the same queries there.
#
# Environment:
#   STORE=sqlite|postgresql           which store (default sqlite)
#   EXECUTIONS=10000000 DAYS=7        the main run
#   RETENTION_EXECUTIONS=3000000      the retention run (10 days fed, 3 kept); 0 skips it
#   STORE_SCALE_DRAIN=0 STORE_SCALE_RETENTION_WAIT=1800   see bench/load/store_scale.cpp
#   BUILD_DIR=path (default build-bench, Release)  PGLC_BINARY=path (skips building the proxy)
#   KEEP_WORK=1                       keep the stores
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXECUTIONS=${EXECUTIONS:-10000000}
DAYS=${DAYS:-7}
RETENTION_EXECUTIONS=${RETENTION_EXECUTIONS:-3000000}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

build_pglc store_scale
STORE_SCALE_BIN=$DRIVER_DIR/store_scale
[ -x "$STORE_SCALE_BIN" ] || die "no store_scale at $STORE_SCALE_BIN"

# About 260 bytes per execution without retention, and the WAL on top while it runs.
need=$(((EXECUTIONS + RETENTION_EXECUTIONS) * 400))
avail=$(df --output=avail -B1 "$WORK" | tail -n 1)
((avail > need)) || die "$WORK has $((avail >> 20)) MiB free, the runs need about $((need >> 20)) MiB"

# The value of KEY=... in LINE (fields are separated by spaces).
field() { sed -n "s/^.* $2=\([^ ]*\).*$/\1/p" <<<"$1" | head -n 1; }
line() { grep -m 1 "^$2" "$WORK/$1.out" || true; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
# VALUE OP LIMIT → "ok" or "OVER"
verdict() { awk -v v="$1" -v l="$3" -v op="$2" \
  'BEGIN {ok = op == "<" ? v < l : op == "<=" ? v <= l : v >= l; print ok ? "ok" : "OVER"}'; }

run_scale() {  # LABEL ARGS...: the tool's lines go to the terminal and to $WORK/LABEL.out
  local label=$1
  shift
  log "store_scale $*"
  "$STORE_SCALE_BIN" "$@" | tee "$WORK/$label.out" >&2 ||
    die "store_scale $* failed (status ${PIPESTATUS[0]}); see above"
}

# explain and trace on the same store (DESIGN §7: within a second at 10 million executions):
# the best of three runs of the real binary, output discarded.
# STORAGE "ARGS|LABEL"...: times each read command of the binary on STORAGE against
# DESIGN §7's one second.
time_read_commands() {
  local storage=$1 spec t
  shift
  echo "  explain and trace (the binary, best of 3, output discarded):"
  for spec in "$@"; do
    # shellcheck disable=SC2086
    t=$(best_ms "$PGLC_BINARY" ${spec%%|*} --storage "$storage")
    printf '  %-46s %14s   %s\n' "${spec#*|}, ms" "$t" "< 1000: $(verdict "$t" "<" 1000)"
  done
}

best_ms() {  # COMMAND...
  local best="" t0 t1 ms i
  for i in 1 2 3; do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>"$WORK/cmd.err" || die "$* failed: $(tail -n 3 "$WORK/cmd.err")"
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    if [ -z "$best" ] || ((ms < best)); then best=$ms; fi
  done
  echo "$best"
}
STORE=${STORE:-sqlite}
if [ "$STORE" = postgresql ]; then
  SCALE=1
  init_pg
  "$PGBIN/psql" -X -q -d postgres -c 'CREATE DATABASE pglc_scale' >/dev/null
  conninfo="host=127.0.0.1 port=$PGPORT dbname=pglc_scale user=bench"
  run_scale main "$conninfo" "$EXECUTIONS" "$DAYS"
  s=$(line main summary)
  end_us=$(field "$(line main data)" end_us)
  psql_scale() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d pglc_scale "$@"; }
  # Best of three runs inside one psql session, from psql's \timing (client round trip included).
  pgq() {  # NAME SQL [BUDGET_MS]: against SQLite's budget, as PostgreSQL has none of its own
    local ms budget=""
    ms=$(printf '\\timing on\n\\o /dev/null\n%s;\n%s;\n%s;\n' "$2" "$2" "$2" | psql_scale 2>&1 |
      sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | head -n 1)
    [ -n "$ms" ] || die "query $1 failed: $(psql_scale -c "$2" 2>&1 | tail -n 3)"
    [ -n "${3:-}" ] && budget="< $3: $(verdict "$ms" "<" "$3") (SQLite's budget)"
    printf '  %-46s %14s   %s\n' "$1, ms" "$ms" "$budget"
  }
  end="to_timestamp($end_us / 1e6)"
  rows=$(psql_scale -A -t -c 'SELECT count(*) FROM executions')
  bytes=$(psql_scale -A -t -c 'SELECT pg_database_size(current_database())')
  echo
  echo "bench/store_scale.sh STORE=postgresql: EXECUTIONS=$EXECUTIONS DAYS=$DAYS," \
    "$(git -C "$ROOT" rev-parse --short HEAD), load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
  echo "main run: $rows executions stored of $(field "$s" executions_fed) over $DAYS days," \
    "drops $(field "$s" drops), $(field "$s" wall_s) s wall, $(field "$s" cpu_s) s CPU of this process" \
    "(the server's is not counted), stop $(field "$s" stop_s) s"
  echo "  database size $(mib "$bytes") ($((bytes / (rows > 0 ? rows : 1))) bytes per execution)," \
    "executions per CPU-second of the writer thread $(field "$s" executions_per_writer_cpu_s)," \
    "longest commit gap $(field "$(line main stall)" longest_commit_gap_ms) ms"
  pgq "query_stats ORDER BY calls DESC LIMIT 5" "SELECT * FROM query_stats ORDER BY calls DESC LIMIT 5" 100
  pgq "error_stats" "SELECT * FROM error_stats" 100
  pgq "query_stats_by_minute, last hour" \
    "SELECT * FROM query_stats_by_minute WHERE minute >= $end - interval '1 hour' ORDER BY calls DESC LIMIT 5"
  pgq "execution_summary count(*), last hour" \
    "SELECT count(*) FROM execution_summary WHERE began_at >= $end - interval '1 hour'"
  pgq "README 1: slowest fingerprints by p95" \
    "SELECT normalized_sql, calls, errors, round(p50_ms::numeric, 2) AS p50, round(p95_ms::numeric, 2) AS p95,
            round(p99_ms::numeric, 2) AS p99, round((total_ms / 1000)::numeric, 1) AS total_s
     FROM query_stats WHERE calls >= 10 ORDER BY p95_ms DESC LIMIT 20" 100
  pgq "README 2: one execution (the newest)" \
    "SELECT kind, statement_name, sql, status, rows, bind_ms, first_row_ms, execute_ms, total_ms, deliver_ms
     FROM execution_summary WHERE execution_id = (SELECT id FROM executions ORDER BY id DESC LIMIT 1)" 100
  pgq "README 2: its events" \
    "SELECT event, occurred_at FROM execution_events
     WHERE execution_id = (SELECT id FROM executions ORDER BY id DESC LIMIT 1) ORDER BY occurred_at" 100
  pgq "README 3: errors by SQLSTATE" \
    "SELECT sqlstate, sum(count) AS errors, max(last_seen) AS last_seen, max(last_message) AS example
     FROM error_stats GROUP BY sqlstate ORDER BY errors DESC" 100
  pgq "README 4: newest PowerBI session's timeline" \
    "SELECT to_char(e.began_at, 'HH24:MI:SS.US') AS began, e.kind, e.statement_name, e.status, e.rows,
            round(e.first_row_ms::numeric, 1) AS first_row_ms, round(e.total_ms::numeric, 1) AS total_ms,
            substr(e.sql, 1, 80) AS sql
     FROM execution_summary e WHERE e.session_id = (SELECT id FROM sessions
       WHERE application_name LIKE 'PowerBI%' ORDER BY connected_at DESC LIMIT 1)
     ORDER BY e.began_at" 100
  pgq "README 5: per application, last 24 hours" \
    "SELECT application_name, sum(calls) AS executions,
            sum(CASE WHEN status <> 'success' THEN calls ELSE 0 END) AS failed,
            round((sum(total_us) / 1000.0 / sum(calls))::numeric, 2) AS mean_ms
     FROM rollups WHERE minute > $end - interval '1 day'
     GROUP BY application_name ORDER BY executions DESC" 100
  calls=$(psql_scale -A -t -c 'SELECT sum(calls) FROM query_stats')
  echo "  rollups: query_stats counts $calls calls (fed $(field "$s" executions_fed))"
  newest=$(psql_scale -A -t -c 'SELECT id FROM executions ORDER BY id DESC LIMIT 1')
  session=$(psql_scale -A -t -c "SELECT session_id FROM executions WHERE id = '$newest'")
  time_read_commands "$conninfo" \
    "explain --execution $newest|explain --execution (the newest)" \
    "explain --session $session|explain --session (its session)" \
    "explain --slowest 5 --since 1h|explain --slowest 5 --since 1h" \
    "explain --slowest 5 --since 1d|explain --slowest 5 --since 1d" \
    "explain --slowest 5 --since 30d|explain --slowest 5 --since 30d (every execution)" \
    "trace --session $session|trace --session (the same session)"
  exit 0
fi

run_scale main "$WORK/scale.db" "$EXECUTIONS" "$DAYS"
if ((RETENTION_EXECUTIONS > 0)); then
  run_scale retention "$WORK/retention.db" "$RETENTION_EXECUTIONS" 10 3
fi

s=$(line main summary)
q() { field "$(line main "query name=$1 ")" best_ms; }
row() { printf '  %-46s %14s   %s\n' "$@"; }

echo
echo "bench/store_scale.sh: EXECUTIONS=$EXECUTIONS DAYS=$DAYS RETENTION_EXECUTIONS=$RETENTION_EXECUTIONS," \
  "$(git -C "$ROOT" rev-parse --short HEAD), load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "main run: $(field "$s" executions_rows) executions stored of $(field "$s" executions_fed)" \
  "over $DAYS days, drops $(field "$s" drops), $(field "$s" wall_s) s wall, $(field "$s" cpu_s) s CPU" \
  "(stop $(field "$s" stop_s) s), $(field "$s" rollup_rows) rollup rows"
[ "$EXECUTIONS" = 10000000 ] ||
  echo "  (the query budgets are stated at 10,000,000 executions; this run has $EXECUTIONS)"
row "figure" "measured" "budget (DESIGN §3)"
bpe=$(field "$s" bytes_per_execution)
row "bytes on disk per execution" "$bpe" \
  "≤ 200 is for pgbench -M prepared; here a statement every 10 executions and per-minute rollups: reported only"
qs=$(q query_stats) es=$(q error_stats)
row "query_stats ORDER BY calls DESC LIMIT 5, ms" "$qs" "< 100: $(verdict "$qs" "<" 100)"
row "error_stats, ms" "$es" "< 100: $(verdict "$es" "<" 100)"
row "query_stats_by_minute, last hour, ms" "$(q query_stats_by_minute_1h)" "none"
row "execution_summary count(*), last hour, ms" "$(q execution_summary_1h)" "none"
for r in readme_1_slowest_p95 readme_2_one_execution readme_2_its_events \
  readme_3_errors_by_sqlstate readme_4_session_timeline readme_5_per_application_24h; do
  t=$(q "$r")
  row "README ${r#readme_}, ms" "$t" "< 100: $(verdict "$t" "<" 100)"
done
eps=$(field "$s" executions_per_cpu_s)
row "executions per CPU-second (whole process)" "$eps" "≥ 200000: $(verdict "$eps" ">=" 200000)"
row "executions per CPU-second (writer thread)" "$(field "$s" executions_per_writer_cpu_s)" \
  "the rest is the feeder: the io threads' share in the proxy"
st=$(line main stall)
row "longest commit gap while records waited, ms" "$(field "$st" longest_commit_gap_ms)" \
  "none (the recorder does not expose writer blocking)"
echo "  share of the file, bytes per execution:"
grep '^table ' "$WORK/main.out" | while read -r t; do
  printf '    %-32s %8s\n' "$(field "$t" name)" "$(field "$t" bytes_per_execution)"
done
c=$(line main check)
echo "  rollups: query_stats counts $(field "$c" query_stats_calls) calls," \
  "$(field "$c" query_stats_errors) errors (expected $(field "$c" expected_errors))"

db="sqlite:$WORK/scale.db"
newest=$(sqlite3 "$WORK/scale.db" "SELECT id FROM executions ORDER BY id DESC LIMIT 1")
session=$(sqlite3 "$WORK/scale.db" "SELECT session_id FROM executions WHERE id = $newest")
session_rows=$(sqlite3 "$WORK/scale.db" "SELECT count(*) FROM executions WHERE session_id = $session")
time_read_commands "$db" \
  "explain --execution $newest|explain --execution (the newest)" \
  "explain --session $session|explain --session (its session, $session_rows executions)" \
  "explain --slowest 5 --since 1d|explain --slowest 5 --since 1d" \
  "explain --slowest 5 --since 30d|explain --slowest 5 --since 30d (every execution)" \
  "trace --session $session|trace --session (the same session)"

if ((RETENTION_EXECUTIONS > 0)); then
  r=$(line retention summary)
  echo
  echo "retention run: $RETENTION_EXECUTIONS executions over 10 days, 3 kept (retention pass every 1 s)"
  echo "  file (db + WAL) as the executions were fed:"
  grep '^progress ' "$WORK/retention.out" | while read -r p; do
    printf '    %10s fed   %12s   oldest row %s days old\n' "$(field "$p" fed)" \
      "$(mib "$(field "$p" disk_bytes)")" "$(field "$p" oldest_days)"
  done
  w=$(line retention written) c=$(line retention "retention caught_up")
  echo "  all written after $(field "$w" elapsed_s) s: $(mib "$(field "$w" disk_bytes)")"
  echo "  retention caught up: $(field "$c" caught_up) after $(field "$c" after_s) s more" \
    "($(field "$c" cpu_s) s CPU), oldest row $(field "$c" oldest_days) days old," \
    "$(mib "$(field "$c" disk_bytes)")"
  echo "  after close: $(mib "$(field "$r" disk_bytes)"), $(field "$r" executions_rows) executions" \
    "(3/10 of the fed: $((RETENTION_EXECUTIONS * 3 / 10))); SQLite reuses freed pages, the file never shrinks"
  echo "  longest commit gap while records waited: $(field "$(line retention stall)" longest_commit_gap_ms) ms;" \
    "longest retention pass (the recorder's figure: the writer inserted nothing meanwhile):" \
    "$(field "$(line retention stall)" retention_longest_pass_ms) ms, budget ~50:" \
    "$(verdict "$(field "$(line retention stall)" retention_longest_pass_ms)" "<=" 50)," \
    "$(field "$(line retention stall)" expired_rows) rows expired"
fi
