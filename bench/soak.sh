#!/usr/bin/env bash
# bench/soak.sh — a soak of the proxy (not a CI test): SESSIONS concurrent client sessions
# for DURATION seconds through pglifecycle (Release, default options except a SQLite store
# in a temp dir and client TLS with a generated self-signed certificate) against a
# throwaway PostgreSQL 15, with a mixed workload (bench/load/soak_load.cpp: simple,
# extended, prepared, pipelined batches, COPY in/out, intended errors, cancels, a share
# of TLS sessions). The same workload runs first for DIRECT_DURATION seconds directly
# against PostgreSQL, to know which outcomes are expected. See docs/bench.md#soak.
#
# Environment:
#   SESSIONS=1000 DURATION=600   sessions and seconds of the run through the proxy
#   DIRECT_DURATION=30           seconds of the direct baseline run (at most DURATION)
#   TLS_PERCENT=25               share of the sessions with sslmode=require
#   PER_THREAD=8                 sessions per driver thread
#   THINK_MIN_MS=1000 THINK_MAX_MS=2000   think time between a session's units
#   RSS_INTERVAL=3               seconds between RSS samples
#   PGLC_BINARY=path             use this pglifecycle instead of building build-soak (Release)
#   PGLC_EXTRA="..."              extra proxy options (default none: the soak uses the defaults)
#   BUILD_DIR=build-soak         where pglifecycle and soak_load are built
#   OUT=$BUILD_DIR/soak-report.txt   where the report is written (also printed)
#   KEEP_WORK=1                  keep the temp dir (logs, store, samples)
# Exits non-zero when any check of the report fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SESSIONS=${SESSIONS:-1000}
DURATION=${DURATION:-600}
DIRECT_DURATION=${DIRECT_DURATION:-30}
((DIRECT_DURATION > DURATION)) && DIRECT_DURATION=$DURATION
TLS_PERCENT=${TLS_PERCENT:-25}
PER_THREAD=${PER_THREAD:-8}
THINK_MIN_MS=${THINK_MIN_MS:-1000}
THINK_MAX_MS=${THINK_MAX_MS:-2000}
RSS_INTERVAL=${RSS_INTERVAL:-3}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-soak}
OUT=${OUT:-$BUILD_DIR/soak-report.txt}
# shellcheck disable=SC2034
SCALE=1          # (read by lib.sh) pgbench tables: 100,000 accounts; soak_load reads them
GRACE=30         # seconds the driver's sessions get to finish their last unit
PG_MARGIN=50     # max_connections = SESSIONS + this

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

command -v sqlite3 >/dev/null || die "sqlite3 is needed (apt-get install sqlite3)"
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
command -v openssl >/dev/null || die "openssl is needed"

# --- limits -------------------------------------------------------------------------------
# The proxy holds two sockets per session, the driver one; lib.sh raised the soft limit
# to the hard one.
need_fds=$((2 * SESSIONS + 256))
if (($(ulimit -n) < need_fds)); then
  ulimit -n "$need_fds" 2>/dev/null ||
    die "open files limit $(ulimit -n) (hard $(ulimit -Hn)) < $need_fds needed for $SESSIONS sessions; raise it (ulimit -Hn / limits.conf)"
fi
log "open files limit $(ulimit -n) (needed $need_fds)"

# --- build + PostgreSQL ---------------------------------------------------------------------
build_pglc soak_load
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/server.key" -out "$WORK/server.crt" \
  -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
chmod 600 "$WORK/server.key"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/server.key" "$WORK/server.crt"
# TLS on in PostgreSQL too: the direct baseline runs the same sslmode=require sessions, and
# the proxy's default --backend-sslmode prefer then uses TLS to the server. The intended
# errors are not written to the server log (log_min_messages=log keeps LOG/FATAL/PANIC).
init_pg "max_connections=$((SESSIONS + PG_MARGIN))" ssl=on "ssl_cert_file=$WORK/server.crt" \
  "ssl_key_file=$WORK/server.key" log_min_messages=log log_min_error_statement=panic
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE UNLOGGED TABLE soak_copy (session int, n int, payload text);
CREATE TABLE soak_unique (id int PRIMARY KEY);
INSERT INTO soak_unique VALUES (1);
SQL

driver() {  # label port seconds → $WORK/label.out, $WORK/label.err; returns the driver's status
  local label=$1 port=$2 seconds=$3 rc=0
  "$DRIVER_DIR/soak_load" \
    "host=127.0.0.1 port=$port user=bench dbname=bench application_name=pglifecycle-soak connect_timeout=30" \
    "$SESSIONS" "$seconds" "label=$label" "tls_percent=$TLS_PERCENT" "per_thread=$PER_THREAD" \
    "think_min_ms=$THINK_MIN_MS" "think_max_ms=$THINK_MAX_MS" "grace=$GRACE" \
    >"$WORK/$label.out" 2>"$WORK/$label.err" || rc=$?
  return $rc
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1" | head -n 1; }  # "k=v ..." key

# --- 1. the same workload directly against PostgreSQL ---------------------------------------
log "direct baseline: $SESSIONS sessions for ${DIRECT_DURATION}s against PostgreSQL :$PGPORT"
direct_rc=0
driver direct "$PGPORT" "$DIRECT_DURATION" || direct_rc=$?
DIRECT_SUMMARY=$(grep '^summary ' "$WORK/direct.out" || echo "summary none")
log "direct: $DIRECT_SUMMARY"

# --- 2. the proxy ---------------------------------------------------------------------------
PPORT=$(free_port)
MPORT=$(free_port)
# shellcheck disable=SC2086  # PGLC_EXTRA is a list of options
as_service "$PGLC_BINARY" --listen "127.0.0.1:$PPORT" --backend "127.0.0.1:$PGPORT" \
  --storage "sqlite:$WORK/soak.db" --metrics-listen "127.0.0.1:$MPORT" \
  --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key" ${PGLC_EXTRA:-} >"$WORK/pglc.log" 2>&1 &
PGLC_PID=$!
PIDS+=("$PGLC_PID")
wait_ready "$PPORT" "$PGLC_PID" pglc || die "pglifecycle did not start"
log "pglifecycle (PID $PGLC_PID) on :$PPORT, metrics :$MPORT, store $WORK/soak.db"

metrics() { curl -s --max-time 10 "http://127.0.0.1:$MPORT/metrics" 2>/dev/null || true; }
msum() {  # file regex on the series (name{labels}) → sum of the values
  awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $NF} END {printf "%.0f", s}' "$1"
}

# RSS (and, for the record, open sessions and the recorder queue) every RSS_INTERVAL s.
: >"$WORK/samples.tsv"
(
  while kill -0 "$PGLC_PID" 2>/dev/null; do
    rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$PGLC_PID/status" 2>/dev/null || true)
    [ -n "$rss" ] || break
    metrics >"$WORK/sample.prom"
    printf '%s\t%s\t%s\t%s\n' "$(date +%s)" "$rss" \
      "$(msum "$WORK/sample.prom" '^pglifecycle_client_connections$')" \
      "$(msum "$WORK/sample.prom" '^pglifecycle_recorder_queue_depth$')" >>"$WORK/samples.tsv"
    sleep "$RSS_INTERVAL"
  done
) &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")

log "soak: $SESSIONS sessions for ${DURATION}s through pglifecycle ($TLS_PERCENT% TLS)"
proxy_rc=0
driver proxy "$PPORT" "$DURATION" || proxy_rc=$?
PROXY_SUMMARY=$(grep '^summary ' "$WORK/proxy.out" || echo "summary none")
log "proxy: $PROXY_SUMMARY"

# --- 3. metrics, SIGTERM, store -------------------------------------------------------------
# Let the sessions close and the writer commit what the last units queued (queue empty,
# and the executions row counter caught up with the executions counter or stopped
# moving), then scrape. Waits 60 s at most; the store is counted after SIGTERM anyway.
PROXY_ALIVE_AT_END=1
kill -0 "$PGLC_PID" 2>/dev/null || PROXY_ALIVE_AT_END=0
last_rows=-1 stable=0
for ((i = 0; i < 120 && PROXY_ALIVE_AT_END; i++)); do
  metrics >"$WORK/final.prom"
  if [ -s "$WORK/final.prom" ] &&
    [ "$(msum "$WORK/final.prom" '^pglifecycle_recorder_queue_depth$')" = 0 ] &&
    [ "$(msum "$WORK/final.prom" '^pglifecycle_client_connections$')" = 0 ]; then
    rows=$(msum "$WORK/final.prom" '^pglifecycle_recorder_rows_total\{.*table="executions"')
    accounted=$((rows + $(msum "$WORK/final.prom" '^pglifecycle_recorder_(dropped|skipped)_total')))
    [ "$accounted" = "$(msum "$WORK/final.prom" '^pglifecycle_executions_total')" ] && break
    if [ "$rows" = "$last_rows" ]; then stable=$((stable + 1)); else stable=0; fi
    ((stable >= 4)) && break
    last_rows=$rows
  fi
  sleep 0.5
done
[ -f "$WORK/final.prom" ] || : >"$WORK/final.prom"
HWM=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$PGLC_PID/status" 2>/dev/null || echo 0)
forget_pid "$SAMPLER_PID"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true

DROPPED=$(msum "$WORK/final.prom" '^pglifecycle_recorder_dropped_total')
SKIPPED=$(msum "$WORK/final.prom" '^pglifecycle_recorder_skipped_total')
ROWS_EXEC=$(msum "$WORK/final.prom" '^pglifecycle_recorder_rows_total\{.*table="executions"')
COUNTED=$(msum "$WORK/final.prom" '^pglifecycle_executions_total')
BY_STATUS=$(awk '$0 !~ /^#/ && $1 ~ /^pglifecycle_executions_total/ && $NF > 0 {
    match($1, /status="[a-z_]*"/); st = substr($1, RSTART + 8, RLENGTH - 9); s[st] += $NF }
  END {for (k in s) printf "%s=%.0f ", k, s[k]}' "$WORK/final.prom")
ERR_CLASSES=$(awk '$0 !~ /^#/ && $1 ~ /^pglifecycle_errors_total/ && $NF > 0 {
    match($1, /sqlstate_class="[^"]*"/); c = substr($1, RSTART + 16, RLENGTH - 17); s[c] += $NF }
  END {for (k in s) printf "%s=%.0f ", k, s[k]}' "$WORK/final.prom")
if [ ! -s "$WORK/final.prom" ]; then  # the proxy was gone: nothing could be scraped
  DROPPED="n/a" SKIPPED="n/a" ROWS_EXEC="n/a" COUNTED="n/a (no /metrics)"
fi
CONN_RESULTS=$(awk '$0 !~ /^#/ && $1 ~ /^pglifecycle_client_connections_total/ && $NF > 0 {
    match($1, /result="[^"]*"/); c = substr($1, RSTART + 8, RLENGTH - 9); s[c] += $NF }
  END {for (k in s) printf "%s=%.0f ", k, s[k]}' "$WORK/final.prom")

# The proxy must still be running, stop on SIGTERM within its shutdown grace, and exit 0.
forget_pid "$PGLC_PID"
PGLC_RC=0
if ((PROXY_ALIVE_AT_END)); then
  kill -TERM "$PGLC_PID"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$PGLC_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PGLC_PID" 2>/dev/null; then
    log "pglifecycle did not exit within 60 s of SIGTERM; SIGKILL"
    kill -KILL "$PGLC_PID" 2>/dev/null || true
    PGLC_EXIT_NOTE="(did not exit within 60 s of SIGTERM: killed)"
  fi
  wait "$PGLC_PID" || PGLC_RC=$?
else
  wait "$PGLC_PID" || PGLC_RC=$?
  PGLC_EXIT_NOTE="(had already exited before the end of the run: crash?)"
fi
STORED=$(sqlite3 "$WORK/soak.db" 'SELECT count(*) FROM executions' 2>/dev/null || echo "?")
STORED_STATUS=$(sqlite3 -separator '=' "$WORK/soak.db" \
  'SELECT status, count(*) FROM executions GROUP BY status' 2>/dev/null | tr '\n' ' ' || true)
STORED_SESSIONS=$(sqlite3 "$WORK/soak.db" 'SELECT count(*) FROM sessions' 2>/dev/null || echo "?")

# --- 4. report ------------------------------------------------------------------------------
verdict() { if [ "$1" = 0 ]; then echo OK; else echo FAIL; fi; }  # 0 = the check held

# Outcomes per kind. An outcome other than the kind's intended one is expected when the
# direct run saw it too (a connection lost never is); everything else is unexpected.
KINDS_TABLE=$(awk '
  FNR == 1 {run = (FILENAME ~ /direct.out$/) ? "d" : "p"}
  /^kind / {for (i = 2; i <= NF; i++) {split($i, kv, "="); f[kv[1]] = kv[2]}
            if (!(f["name"] in seen)) {seen[f["name"]] = 1; order[++n] = f["name"]}
            intended[f["name"]] = f["intended"]; units[run, f["name"]] = f["units"]
            execs[run, f["name"]] = f["executions"]; ok[run, f["name"]] = f["as_intended"]}
  /^outcome / {for (i = 2; i <= NF; i++) {split($i, kv, "="); f[kv[1]] = kv[2]}
               out[run, f["kind"], f["result"]] = f["count"]; results[f["kind"]] = results[f["kind"]] " " f["result"]}
  END {
    printf "%-15s %-12s %8s %8s %10s %10s %10s  %s\n", "kind", "intended", "direct", "as-int.", "proxy", "as-int.", "executions", "other outcomes through the proxy (* = unexpected)"
    for (i = 1; i <= n; i++) {
      k = order[i]; other = ""; split(results[k], rs, " "); delete done
      for (j in rs) {
        r = rs[j]; if (r == intended[k] || (r in done)) continue; done[r] = 1
        if (out["p", k, r] == "") continue
        star = (r == "connection_lost" || out["d", k, r] == "") ? "*" : ""
        if (star == "*") unexpected += out["p", k, r]
        other = other sprintf("%s%s=%s ", star, r, out["p", k, r])
      }
      for (j in rs) {
        r = rs[j]; if (r == intended[k] || out["d", k, r] == "" || seen_d[k, r]++) continue
        dnote = dnote sprintf("%s %s=%s; ", k, r, out["d", k, r])
      }
      printf "%-15s %-12s %8d %8d %10d %10d %10d  %s\n", k, intended[k], units["d", k], ok["d", k], units["p", k], ok["p", k], execs["p", k], other
    }
    printf "UNEXPECTED %d\n", unexpected + 0
    printf "DIRECT_OTHER %s\n", dnote
  }' "$WORK/direct.out" "$WORK/proxy.out" 2>/dev/null || echo "UNEXPECTED -1")
UNEXPECTED_OUTCOMES=$(sed -n 's/^UNEXPECTED //p' <<<"$KINDS_TABLE")
DIRECT_OTHER=$(sed -n 's/^DIRECT_OTHER //p' <<<"$KINDS_TABLE")
KINDS_TABLE=$(grep -v '^UNEXPECTED \|^DIRECT_OTHER ' <<<"$KINDS_TABLE")

p_connected=$(field "$PROXY_SUMMARY" connected)
p_connfail=$(field "$PROXY_SUMMARY" connect_failures)
p_lost=$(field "$PROXY_SUMMARY" connections_lost)
p_hung=$(field "$PROXY_SUMMARY" hung)
p_units=$(field "$PROXY_SUMMARY" units)
p_execs=$(field "$PROXY_SUMMARY" executions)
d_connfail=$(field "$DIRECT_SUMMARY" connect_failures)
d_lost=$(field "$DIRECT_SUMMARY" connections_lost)
d_hung=$(field "$DIRECT_SUMMARY" hung)
# Session failures through the proxy: connects that failed (first or reconnect), sessions
# whose connection broke (also an outcome above), units that never returned.
SESSION_FAILURES=$((${p_connfail:-1} + ${p_hung:-1}))
UNEXPECTED=$((SESSION_FAILURES + ${UNEXPECTED_OUTCOMES:--1}))
((${UNEXPECTED_OUTCOMES:--1} < 0)) && UNEXPECTED=-1
v_unexp=$(verdict "$([ "$UNEXPECTED" = 0 ] && [ "$proxy_rc" = 0 ] && [ "${p_connected:-0}" -ge "$SESSIONS" ] && echo 0 || echo 1)")
DIRECT_FAILURES=$((${d_connfail:-1} + ${d_lost:-1} + ${d_hung:-1}))
v_direct=$(verdict "$([ "$DIRECT_FAILURES" = 0 ] && [ "$direct_rc" = 0 ] && echo 0 || echo 1)")

# RSS
RSS_STATS=$(cut -f2 "$WORK/samples.tsv" | sort -n | awk '{v[NR] = $1} END {
  if (NR == 0) {print "0 0 0 0"; exit}
  med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "%d %d %d %d\n", NR, v[1], med, v[NR]}')
read -r RSS_N RSS_MIN RSS_MED RSS_MAX <<<"$RSS_STATS"
RSS_LIMIT_KIB=$((50 * 1024 + SESSIONS * 64))
v_rss=$(verdict "$([ "$RSS_N" -gt 0 ] && [ "$RSS_MAX" -le "$RSS_LIMIT_KIB" ] && echo 0 || echo 1)")
# Trend while every session was open: the first and the last such sample, and the slope.
RSS_TREND=$(awk -v n="$SESSIONS" '$3 >= n {if (!t0) {t0 = $1; r0 = $2}; t1 = $1; r1 = $2}
  END {if (t0 && t1 > t0) printf "%.1f MiB → %.1f MiB over %d s (%+.2f MiB/min)", r0 / 1024, r1 / 1024, t1 - t0, (r1 - r0) / 1024 / (t1 - t0) * 60
       else print "n/a"}' "$WORK/samples.tsv")
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
MAX_OPEN=$(cut -f3 "$WORK/samples.tsv" | sort -n | tail -n 1)
MAX_QUEUE=$(cut -f4 "$WORK/samples.tsv" | sort -n | tail -n 1)

# Executions: what the proxy counted must be what it stored plus what it counted dropped
# (plus what sampling skipped: 0 with the default options).
v_eq=$(verdict "$([ "$STORED" != "?" ] && [ -s "$WORK/final.prom" ] &&
  [ "$COUNTED" = $((STORED + DROPPED + SKIPPED)) ] && echo 0 || echo 1)")
v_drv=$(verdict "$([ "${p_execs:-x}" = "$COUNTED" ] && echo 0 || echo 1)")
v_exit=$(verdict "$([ "$PGLC_RC" = 0 ] && [ -z "${PGLC_EXIT_NOTE:-}" ] && echo 0 || echo 1)")

LOG_PROBLEMS=$(grep -c -E '^[0-9T:.-]+Z (warning|error|critical|fatal) ' "$WORK/pglc.log" || true)
LOG_SAMPLE=$(grep -E '^[0-9T:.-]+Z (warning|error|critical|fatal) ' "$WORK/pglc.log" |
  sed -E 's/^[^ ]+ //; s/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 5 || true)
PG_PROBLEMS=$(grep -E 'FATAL|PANIC|terminated by signal' "$WORK/postgres.log" | head -n 5 || true)

FAILS=$(printf '%s\n' "$v_unexp" "$v_direct" "$v_rss" "$v_eq" "$v_drv" "$v_exit" | grep -c FAIL || true)

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (working tree modified)" || true)
{
  echo "pglifecycle soak — $(date -u '+%Y-%m-%d %H:%M UTC'), repository at $commit$dirty"
  echo "command: SESSIONS=$SESSIONS DURATION=$DURATION DIRECT_DURATION=$DIRECT_DURATION TLS_PERCENT=$TLS_PERCENT${PGLC_EXTRA:+ PGLC_EXTRA=\"$PGLC_EXTRA\"} bench/soak.sh"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') max_connections=$((SESSIONS + PG_MARGIN)), ssl=on"
  echo "proxy: $PGLC_BINARY --storage sqlite:<tmp> --tls-cert/--tls-key <self-signed> ${PGLC_EXTRA:-(other options default)}"
  echo
  echo "sessions: $SESSIONS ($(field "$PROXY_SUMMARY" tls_sessions) with sslmode=require), think time ${THINK_MIN_MS}-${THINK_MAX_MS} ms"
  echo "  direct: ${DIRECT_DURATION}s, connected $(field "$DIRECT_SUMMARY" connected) in $(field "$DIRECT_SUMMARY" connect_s)s, $(field "$DIRECT_SUMMARY" units) units, $(field "$DIRECT_SUMMARY" executions) executions"
  echo "  proxy:  ${DURATION}s (ran $(field "$PROXY_SUMMARY" seconds)s), connected ${p_connected:-?} in $(field "$PROXY_SUMMARY" connect_s)s, ${p_units:-?} units, ${p_execs:-?} executions, max open sessions seen by the proxy ${MAX_OPEN:-?}"
  echo
  echo "units of work per kind (direct | through the proxy):"
  echo "$KINDS_TABLE"
  [ -n "$DIRECT_OTHER" ] && echo "outcomes other than intended seen directly too (expected, not counted): $DIRECT_OTHER"
  echo "cancels resent (first cancel arrived before the query ran): direct $(field "$DIRECT_SUMMARY" cancel_resent), proxy $(field "$PROXY_SUMMARY" cancel_resent)"
  echo
  echo "failures through the proxy: connect failures ${p_connfail:-?}, connections lost ${p_lost:-?}, hung units ${p_hung:-?}, unexpected outcomes ${UNEXPECTED_OUTCOMES:-?} (connections lost included) → unexpected $UNEXPECTED, driver status $proxy_rc → $v_unexp"
  echo "failures directly (the baseline itself): connect ${d_connfail:-?}, lost ${d_lost:-?}, hung ${d_hung:-?}, driver status $direct_rc → $v_direct"
  if [ -s "$WORK/proxy.err" ] || [ -s "$WORK/direct.err" ]; then
    echo "driver messages (first lines):"
    sed 's/^/  proxy:  /' "$WORK/proxy.err" | head -n 8
    sed 's/^/  direct: /' "$WORK/direct.err" | head -n 4
  fi
  echo
  echo "RSS (VmRSS every ${RSS_INTERVAL}s, $RSS_N samples): min $(mib "$RSS_MIN") MiB, median $(mib "$RSS_MED") MiB, max $(mib "$RSS_MAX") MiB (VmHWM $(mib "${HWM:-0}") MiB); DESIGN §8 bound 50 + $SESSIONS × 0.0625 = $(mib "$RSS_LIMIT_KIB") MiB → $v_rss"
  echo "  with all $SESSIONS sessions open: $RSS_TREND; store at the end: $(du -k "$WORK/soak.db" 2>/dev/null | awk '{printf "%.1f MiB", $1 / 1024}')"
  echo
  echo "executions: the driver ran ${p_execs:-?}; the proxy counted $COUNTED (pglifecycle_executions_total: $BY_STATUS); stored $STORED [$STORED_STATUS] (pglifecycle_recorder_rows_total{table=\"executions\"} $ROWS_EXEC); dropped $DROPPED (pglifecycle_recorder_dropped_total, records of every kind); skipped by sampling $SKIPPED"
  echo "  counted = stored + dropped + skipped: $COUNTED = $STORED + $DROPPED + $SKIPPED → $v_eq"
  echo "  driver ran = proxy counted: ${p_execs:-?} = $COUNTED → $v_drv"
  echo "  errors by SQLSTATE class: $ERR_CLASSES; sessions stored: $STORED_SESSIONS; client connections by result: $CONN_RESULTS; max recorder queue depth sampled: ${MAX_QUEUE:-?}"
  echo
  echo "proxy exit status after SIGTERM: $PGLC_RC ${PGLC_EXIT_NOTE:-} → $v_exit"
  echo "proxy log: $LOG_PROBLEMS lines at warning or above${LOG_SAMPLE:+; most frequent:}"
  [ -n "$LOG_SAMPLE" ] && echo "$LOG_SAMPLE" | sed 's/^/  /'
  [ -n "$PG_PROBLEMS" ] && echo "PostgreSQL log (FATAL/PANIC):" && echo "$PG_PROBLEMS" | sed 's/^/  /'
  echo
  if ((FAILS == 0)); then echo "soak: all checks OK"; else echo "soak: $FAILS check(s) FAILED"; fi
} >"$WORK/report.txt"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.txt" "$OUT"
cat "$WORK/report.txt"
log "report written to $OUT"
((FAILS == 0))
