#!/usr/bin/env bash
# bench/store_size.sh — bytes on disk per execution in the SQLite store, per pgbench mode
# (DESIGN §3: at most 200 bytes for `pgbench -S -M prepared`, indexes and the share of
# statements and texts included), with each table's and index's share (SQLite's dbstat),
# and how long query_stats and error_stats take on that store. See docs/bench.md.
#
# Environment:
#   TRANSACTIONS=100000 CLIENTS=4   pgbench -S transactions per mode (one execution each)
#   MODES="prepared extended simple"
#   PGLC_BINARY=path  PGLC_EXTRA="..."   binary (default: build-bench, Release), options
#   KEEP_WORK=1                      keep the stores
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRANSACTIONS=${TRANSACTIONS:-100000}
CLIENTS=${CLIENTS:-4}
MODES=${MODES:-"prepared extended simple"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SCALE=1
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
command -v sqlite3 >/dev/null || die "sqlite3 is needed (apt-get install sqlite3)"

build_pglc
init_pg

report=()
for mode in $MODES; do
  db=$WORK/$mode.db
  port=$(free_port)
  # shellcheck disable=SC2086  # PGLC_EXTRA is a list of options
  as_service "$PGLC_BINARY" --listen "127.0.0.1:$port" --backend "127.0.0.1:$PGPORT" \
    --storage "sqlite:$db" --metrics-listen "" ${PGLC_EXTRA:-} >"$WORK/pglc-$mode.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_ready "$port" "$pid" "pglc-$mode" || die "pglifecycle did not start"
  log "pgbench -S -M $mode: $TRANSACTIONS transactions, $CLIENTS clients"
  "$PGBIN/pgbench" -n -S -M "$mode" -c "$CLIENTS" -j 2 -t $((TRANSACTIONS / CLIENTS)) \
    -h 127.0.0.1 -p "$port" bench >"$WORK/pgbench-$mode.log" 2>&1 ||
    die "pgbench failed: $(tail -n 5 "$WORK/pgbench-$mode.log")"
  # SIGTERM flushes every queued record and checkpoints the WAL into the file.
  stop_pid "$pid" 60 || die "pglifecycle exited with status $? (see $WORK/pglc-$mode.log)"
  forget_pid "$pid"
  executions=$(sqlite3 "$db" 'SELECT count(*) FROM executions')
  ((executions > 0)) || die "no executions stored for $mode"
  bytes=$(($(stat -c %s "$db") + $(stat -c %s "$db-wal" 2>/dev/null || echo 0)))
  per=$((bytes / executions))
  # Time of the two aggregate views, best of three.
  best() {
    local q=$1 t b=""
    for _ in 1 2 3; do
      t=$( { TIMEFORMAT=%R; time sqlite3 "$db" "$q" >/dev/null; } 2>&1 | tail -n 1)
      if [ -z "$b" ] || awk -v a="$t" -v b="$b" 'BEGIN {exit !(a < b)}'; then b=$t; fi
    done
    echo "$b"
  }
  qs=$(best 'SELECT * FROM query_stats ORDER BY calls DESC LIMIT 5')
  es=$(best 'SELECT * FROM error_stats')
  report+=("-M $mode: $executions executions, $bytes bytes → $per bytes per execution; query_stats ${qs}s, error_stats ${es}s")
  report+=("$(sqlite3 -separator ' ' "$db" \
    "SELECT '    ' || name, printf('%.1f', sum(pgsize) * 1.0 / $executions) || ' B/execution'
     FROM dbstat GROUP BY name HAVING sum(pgsize) * 1.0 / $executions >= 0.5
     ORDER BY sum(pgsize) DESC")")
done

echo
echo "bench/store_size.sh: TRANSACTIONS=$TRANSACTIONS CLIENTS=$CLIENTS, $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%s\n' "${report[@]}"
echo "budget (DESIGN §3): ≤ 200 bytes per execution for -M prepared"
