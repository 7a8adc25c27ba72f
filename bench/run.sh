#!/usr/bin/env bash
# bench/run.sh — pglifecycle's overhead against direct PostgreSQL, haproxy (TCP relay) and
# PgBouncer (session mode), measured side by side on this machine. See docs/bench.md.
#
# Environment:
#   REPEATS=3 DURATION=10   runs per cell and seconds per pgbench run (medians are reported)
#   QUICK=1                 smoke test: REPEATS=1 DURATION=2, three cells, 200 idle conns
#   PGLC_BINARY=path        use this pglifecycle instead of building build-bench (Release)
#   TARGETS="direct pglc pglc-precise pglc-passive pglc-norec haproxy pgbouncer"   subset / order
#   CELLS="..."             subset of: S-simple-1 S-extended-1 S-prepared-1 S-simple-16
#                           S-extended-16 S-prepared-16 tpcb-extended-8
#   IDLE_CONNS=1000         connections for the RSS check (0 skips it)
#   POWERBI=1 POWERBI_CLIENTS=4 POWERBI_BACKEND_SSLMODE=require   PowerBI-shaped TLS load
#   MICRO=1 RECORDER_BENCH=1  also run the micro-benchmarks (0 skips them)
#   STORE_SIZE=1            bench/store_size.sh (bytes per execution per pgbench mode;
#                           STORE_SIZE_TRANSACTIONS=40000)
#   STORE_SCALE=1           bench/store_scale.sh on 10 million executions in SQLite (no
#                           retention run; STORE_SCALE_EXECUTIONS), STORE_SCALE_PG=1 in
#                           PostgreSQL too. QUICK=1 skips these three unless they are set.
#   HOT_PATH=1              syscalls and io-thread allocations per transaction at -c 16
#                           (bench/profile.sh strace and allocs; pglifecycle with and
#                           without recording, haproxy). QUICK=1 skips it unless set.
#   OUT=BENCHMARKS.md       report file (QUICK defaults to build-bench/BENCHMARKS-quick.md)
#   KEEP_WORK=1             keep the temp dir (logs, stores) for inspection
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMMAND_LINE="$(for v in QUICK REPEATS DURATION TARGETS CELLS IDLE_CONNS POWERBI \
  POWERBI_CLIENTS PGLC_BINARY STORE_SIZE STORE_SCALE STORE_SCALE_PG STORE_SCALE_EXECUTIONS; do if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/run.sh $*"
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  REPEATS=${REPEATS:-1}
  DURATION=${DURATION:-2}
  CELLS=${CELLS:-"S-simple-1 S-extended-16 tpcb-extended-8"}
  IDLE_CONNS=${IDLE_CONNS:-200}
  OUT=${OUT:-$ROOT/build-bench/BENCHMARKS-quick.md}
  STORE_SIZE=${STORE_SIZE:-0}
  STORE_SCALE=${STORE_SCALE:-0}
  HOT_PATH=${HOT_PATH:-0}
fi
HOT_PATH=${HOT_PATH:-1}
STORE_SIZE=${STORE_SIZE:-1}
STORE_SCALE=${STORE_SCALE:-1}
STORE_SCALE_PG=${STORE_SCALE_PG:-0}
STORE_SCALE_EXECUTIONS=${STORE_SCALE_EXECUTIONS:-10000000}
REPEATS=${REPEATS:-3}
DURATION=${DURATION:-10}
CELLS=${CELLS:-"S-simple-1 S-extended-1 S-prepared-1 S-simple-16 S-extended-16 S-prepared-16 tpcb-extended-8"}
TARGETS=${TARGETS:-"direct pglc pglc-precise pglc-passive pglc-norec haproxy pgbouncer"}
IDLE_CONNS=${IDLE_CONNS:-1000}
POWERBI=${POWERBI:-1}
POWERBI_CLIENTS=${POWERBI_CLIENTS:-4}
POWERBI_BACKEND_SSLMODE=${POWERBI_BACKEND_SSLMODE:-require}
OUT=${OUT:-$ROOT/BENCHMARKS.md}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SCALE=${SCALE:-10}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- tools ------------------------------------------------------------------------------------
need_pkg() {  # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  log "installing $2"
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
}
case " $TARGETS " in *" haproxy "*) need_pkg haproxy haproxy ;; esac
case " $TARGETS " in *" pgbouncer "*) need_pkg pgbouncer pgbouncer ;; esac
need_pkg sqlite3 sqlite3
need_pkg curl curl
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

# --- build + PostgreSQL -----------------------------------------------------------------------
build_pglc powerbi_load idle_conns
init_pg max_connections=100 ssl=off

# --- targets ----------------------------------------------------------------------------------
declare -A PORT PID METRICS_PORT AVAILABLE
PORT[direct]=$PGPORT
AVAILABLE[direct]=1

# pglifecycle with full recording restarts with a fresh store for every run, so that the
# store check after a clean SIGTERM compares exactly that run's executions.
pglc_args() {  # target
  local t=$1
  case $t in
    pglc | rss | pbi | pbi-passive | pbi-precise)
      echo "--storage sqlite:$WORK/$t.db --metrics-listen 127.0.0.1:${METRICS_PORT[$t]}"
      ;;
    pglc-passive | pglc-precise)
      echo "--storage sqlite:$WORK/$t.db --metrics-listen 127.0.0.1:${METRICS_PORT[$t]}" \
        "--phase-timing ${t#pglc-}"
      ;;
    pglc-norec) echo "--storage none --metrics-listen 127.0.0.1:${METRICS_PORT[$t]}" ;;
  esac
}

start_pglc() {  # target [extra args...]
  local t=$1
  shift
  [ -n "${PORT[$t]:-}" ] || PORT[$t]=$(free_port)
  [ -n "${METRICS_PORT[$t]:-}" ] || METRICS_PORT[$t]=$(free_port)
  rm -f "$WORK/$t.db" "$WORK/$t.db-wal" "$WORK/$t.db-shm"
  # shellcheck disable=SC2046
  as_service "$PGLC_BINARY" --listen "127.0.0.1:${PORT[$t]}" --backend "127.0.0.1:$PGPORT" \
    --backend-sslmode "${BACKEND_SSLMODE:-disable}" --log-level warning $(pglc_args "$t") "$@" \
    >>"$WORK/$t.log" 2>&1 &
  PID[$t]=$!
  PIDS+=("${PID[$t]}")
  if ! wait_ready "${PORT[$t]}" "${PID[$t]}" "$t"; then
    # Another process may have taken a port between free_port and bind: retry once.
    [ "${_retry:-0}" = 1 ] && return 1
    forget_pid "${PID[$t]}"
    stop_pid "${PID[$t]}" 5 || true
    PORT[$t]=$(free_port)
    METRICS_PORT[$t]=$(free_port)
    _retry=1 start_pglc "$t" "$@"
  fi
}

start_haproxy() {
  PORT[haproxy]=$(free_port)
  cat >"$WORK/haproxy.cfg" <<EOF
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen pg
  bind 127.0.0.1:${PORT[haproxy]}
  server pg 127.0.0.1:$PGPORT
EOF
  as_service "$HAPROXY" -db -f "$WORK/haproxy.cfg" >>"$WORK/haproxy.log" 2>&1 &
  PID[haproxy]=$!
  PIDS+=("${PID[haproxy]}")
  wait_ready "${PORT[haproxy]}" "${PID[haproxy]}" haproxy
}

start_pgbouncer() {
  PORT[pgbouncer]=$(free_port)
  echo '"bench" ""' >"$WORK/userlist.txt"
  cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PORT[pgbouncer]}
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = session
max_client_conn = 2000
default_pool_size = 40
logfile = $WORK/pgbouncer.log
log_connections = 0
log_disconnections = 0
EOF
  local run=()
  # PgBouncer refuses to run as root; setpriv execs, so $! is PgBouncer itself.
  [ "$(id -u)" -eq 0 ] && run=(setpriv --reuid=postgres --regid=postgres --init-groups)
  as_service "${run[@]}" "$PGBOUNCER" "$WORK/pgbouncer.ini" >>"$WORK/pgbouncer.out" 2>&1 &
  PID[pgbouncer]=$!
  PIDS+=("${PID[pgbouncer]}")
  wait_ready "${PORT[pgbouncer]}" "${PID[pgbouncer]}" pgbouncer
}

for t in $TARGETS; do
  case $t in
    direct) ;;
    pglc | pglc-precise | pglc-passive | pglc-norec) start_pglc "$t" && AVAILABLE[$t]=1 || AVAILABLE[$t]=0 ;;
    haproxy) start_haproxy && AVAILABLE[$t]=1 || AVAILABLE[$t]=0 ;;
    pgbouncer) start_pgbouncer && AVAILABLE[$t]=1 || AVAILABLE[$t]=0 ;;
    *) die "unknown target $t" ;;
  esac
  [ "${AVAILABLE[$t]}" = 1 ] && log "target $t on port ${PORT[$t]}" || log "target $t unavailable"
done

# --- store check ------------------------------------------------------------------------------
metric_sum() {  # metrics-port regex
  { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $NF} END {printf "%d", s}'
}

STORE_CHECKS=()
STORE_FAILURES=0
TOTAL_DROPPED=0
# Stops the recording proxy cleanly (every queued record flushed, DESIGN §6) and compares
# the executions in its store with what pgbench reports it ran.
LOAD_RSS_WORST=""  # "ratio-to-limit peak-MiB limit-MiB label" of the worst store check
check_store() {  # target label expected_executions [clients]
  local t=$1 label=$2 expected=$3 clients=${4:-1} dropped sampled rc=0 recorded statuses verdict
  dropped=$(metric_sum "${METRICS_PORT[$t]}" '^pglifecycle_recorder_dropped_total')
  sampled=$(metric_sum "${METRICS_PORT[$t]}" '^pglifecycle_recorder_(sampled|skipped)')
  # Peak memory of the run under load (DESIGN §8: 50 MB + 64 KiB per connection).
  local hwm limit_kib
  hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/${PID[$t]}/status" 2>/dev/null || echo 0)
  limit_kib=$((50 * 1024 + 64 * clients))
  LOAD_RSS_WORST=$(printf '%s\n%s %d %d %s\n' "$LOAD_RSS_WORST" \
    "$(awk -v a="$hwm" -v b="$limit_kib" 'BEGIN {printf "%.3f", a / b}')" $((hwm / 1024)) \
    $((limit_kib / 1024)) "$t-$label" | sed '/^$/d' | sort -g | tail -n 1)
  forget_pid "${PID[$t]}"
  stop_pid "${PID[$t]}" 60 || rc=$?
  recorded=$(sqlite3 "$WORK/$t.db" 'SELECT count(*) FROM executions' 2>/dev/null || echo "?")
  statuses=$(sqlite3 -separator '=' "$WORK/$t.db" \
    'SELECT status, count(*) FROM executions GROUP BY status' 2>/dev/null | tr '\n' ' ' || true)
  local missing=$((expected - ${recorded/\?/0} - sampled))
  if [ "$recorded" = "?" ]; then
    verdict="FAIL (store unreadable)"
  elif ((missing <= 0 && dropped == 0)); then
    verdict="OK"
  elif ((missing <= 0)); then
    verdict="INCOMPLETE: every execution stored, but $dropped other records (events, statements) dropped"
  elif ((dropped > 0)); then
    verdict="INCOMPLETE: $missing executions missing; the recorder reported $dropped dropped records (all kinds), so the loss was counted, not silent"
  else
    verdict="FAIL: $missing executions missing and no drop reported"
  fi
  [ "$verdict" = OK ] || STORE_FAILURES=$((STORE_FAILURES + 1))
  TOTAL_DROPPED=$((TOTAL_DROPPED + dropped))
  STORE_CHECKS+=("$t $label: the client ran $expected executions; store has $recorded [${statuses% }]; dropped records $dropped, sampled out $sampled; peak RSS $((hwm / 1024)) MiB ($clients clients); proxy exit status $rc → $verdict")
  log "store check ${STORE_CHECKS[-1]}"
}

# --- pgbench cells ----------------------------------------------------------------------------
cell_args() {  # cell → pgbench arguments
  local script=${1%%-*} rest=${1#*-}
  local mode=${rest%-*} clients=${rest##*-} jobs=2
  [ "$clients" = 1 ] && jobs=1
  [ "$script" = S ] && echo -n "-S "
  echo "-M $mode -c $clients -j $jobs"
}
cell_statements() { case $1 in S-*) echo 1 ;; *) echo 7 ;; esac; }  # per transaction

RESULTS=$WORK/results.tsv
: >"$RESULTS"
run_cell() {  # target cell rep
  local t=$1 cell=$2 rep=$3 out="$WORK/pgbench-$1-$2-$3.log" pid=${PID[$1]:-} t0=0 t1=0 w0=0 w1=0
  case $t in pglc | pglc-precise | pglc-passive)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || start_pglc "$t" || return 0
    pid=${PID[$t]}
    ;;
  esac
  [ -n "$pid" ] && t0=$(cpu_ticks "$pid") && w0=$(writer_ticks "$pid")
  # shellcheck disable=SC2046
  if ! "$PGBIN/pgbench" -n -T "$DURATION" -p "${PORT[$t]}" $(cell_args "$cell") bench \
    >"$out" 2>&1; then
    log "pgbench failed against $t ($cell): $(tail -n 3 "$out" | tr '\n' ' ')"
  fi
  [ -n "$pid" ] && t1=$(cpu_ticks "$pid") && w1=$(writer_ticks "$pid")
  local tps lat txns cpu="-" wcpu="-"
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -n 1)
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
  if [ -z "$tps" ] || [ -z "$lat" ] || [ -z "${txns:-}" ] || [ "$txns" = 0 ]; then
    log "no result for $t $cell rep $rep"
    case $t in pglc | pglc-precise | pglc-passive) stop_pid "${PID[$t]}" 5 || true ;; esac
    return 0
  fi
  [ -n "$pid" ] && cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$txns" \
    'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
  case $t in pglc | pglc-precise | pglc-passive)
    wcpu=$(awk -v d=$((w1 - w0)) -v hz="$CLK_TCK" -v n="$txns" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
    ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$cell" "$rep" "$tps" "$lat" "$txns" "$cpu" \
    "$wcpu" >>"$RESULTS"
  log "$(printf '%-12s %-16s rep %s: %10.1f tps  %8.3f ms  cpu %s us/txn (writer %s)' "$t" \
    "$cell" "$rep" "$tps" "$lat" "$cpu" "$wcpu")"
  case $t in pglc | pglc-precise | pglc-passive)
    check_store "$t" "$cell rep $rep" $((txns * $(cell_statements "$cell"))) "${cell##*-}"
    ;;
  esac
}

log "cells: $CELLS; targets: $TARGETS; $REPEATS × ${DURATION}s each, interleaved"
for cell in $CELLS; do
  for ((rep = 1; rep <= REPEATS; rep++)); do
    for t in $TARGETS; do
      [ "${AVAILABLE[$t]}" = 1 ] || continue
      run_cell "$t" "$cell" "$rep"
    done
  done
done

# --- table --------------------------------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col_median() {  # target cell column
  awk -F'\t' -v t="$1" -v c="$2" -v k="$3" '$1 == t && $2 == c && $k != "-" {print $k}' \
    "$RESULTS" | median
}
declare -A M_TPS M_LAT M_CPU M_WCPU M_RCPU
for cell in $CELLS; do
  for t in $TARGETS; do
    M_TPS[$t,$cell]=$(col_median "$t" "$cell" 4)
    M_LAT[$t,$cell]=$(col_median "$t" "$cell" 5)
    M_CPU[$t,$cell]=$(col_median "$t" "$cell" 7)
    M_WCPU[$t,$cell]=$(col_median "$t" "$cell" 8)
    # The relay's and tracker's half: every thread but the writer, per run, then the median.
    M_RCPU[$t,$cell]=$(awk -F'\t' -v t="$t" -v c="$cell" \
      '$1 == t && $2 == c && $7 != "-" {print $7 - ($8 == "-" ? 0 : $8)}' "$RESULTS" | median)
  done
done
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3f", a / b}'; }
describe_target() {
  case $1 in
    direct) echo "direct" ;;
    pglc) echo "pglifecycle (full recording, sampled timing)" ;;
    pglc-precise) echo "pglifecycle (full, precise timing)" ;;
    pglc-passive) echo "pglifecycle (full, passive timing)" ;;
    pglc-norec) echo "pglifecycle (recording off)" ;;
    haproxy) echo "haproxy (TCP)" ;;
    pgbouncer) echo "PgBouncer (session)" ;;
  esac
}
describe_cell() {
  local script=${1%%-*} rest=${1#*-}
  local mode=${rest%-*}
  [ "$script" = S ] && echo "select-only, $mode" || echo "TPC-B-like, $mode"
}

TABLE=$WORK/table.md
{
  echo "| target | mode | clients | TPS | avg latency ms | ratio to direct | ratio to haproxy | added µs vs direct | proxy CPU µs/txn | relay + tracker µs/txn | writer µs/txn |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for cell in $CELLS; do
    clients=${cell##*-}
    for t in $TARGETS; do
      tps=${M_TPS[$t,$cell]}
      [ -n "$tps" ] || {
        echo "| $(describe_target "$t") | $(describe_cell "$cell") | $clients | n/a | | | | | | | |"
        continue
      }
      lat=${M_LAT[$t,$cell]}
      added=$(awk -v a="$lat" -v b="${M_LAT[direct,$cell]:-}" 'BEGIN {if (b != "") printf "%+.0f", (a - b) * 1000}')
      cpu=${M_CPU[$t,$cell]:-} rcpu="" wcpu=""
      case $t in pglc*) rcpu=${M_RCPU[$t,$cell]:-} wcpu=${M_WCPU[$t,$cell]:-} ;; esac
      [ "$t" = pglc-norec ] && wcpu=0
      printf '| %s | %s | %s | %.0f | %.3f | %s | %s | %s | %s | %s | %s |\n' "$(describe_target "$t")" \
        "$(describe_cell "$cell")" "$clients" "$tps" "$lat" \
        "$(ratio "$tps" "${M_TPS[direct,$cell]:-}")" "$(ratio "$tps" "${M_TPS[haproxy,$cell]:-}")" \
        "$added" "${cpu:-—}" "${rcpu:-—}" "${wcpu:-—}"
    done
  done
} >"$TABLE"

# --- RSS with idle connections ----------------------------------------------------------------
RSS_REPORT=""
RSS_MET=""
SSL_OPTS=()
if [ "$POWERBI" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/server.key" -out "$WORK/server.crt" \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
  chmod 600 "$WORK/server.key"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/server.key" "$WORK/server.crt"
  SSL_OPTS=(ssl=on "ssl_cert_file=$WORK/server.crt" "ssl_key_file=$WORK/server.key")
fi
if [ "$IDLE_CONNS" -gt 0 ] || [ "$POWERBI" = 1 ]; then
  # Stop the pgbench targets: the remaining steps measure one proxy at a time.
  for t in $TARGETS; do
    if [ -n "${PID[$t]:-}" ]; then
      forget_pid "${PID[$t]}"
      stop_pid "${PID[$t]}" 30 || true
    fi
  done
  log "restarting PostgreSQL with max_connections=$((IDLE_CONNS + 100))${SSL_OPTS:+ and ssl=on}"
  stop_pg
  start_pg "max_connections=$((IDLE_CONNS + 100))" "${SSL_OPTS[@]:-ssl=off}"
fi

vm_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
if [ "$IDLE_CONNS" -gt 0 ]; then
  if start_pglc rss; then
    rss_pid=${PID[rss]}
    before=$(vm_kib "$rss_pid" VmRSS)
    "$DRIVER_DIR/idle_conns" "host=127.0.0.1 port=${PORT[rss]} user=bench dbname=bench sslmode=disable" \
      "$IDLE_CONNS" >"$WORK/idle_conns.out" 2>"$WORK/idle_conns.err" &
    idle_pid=$!
    PIDS+=("$idle_pid")
    for ((i = 0; i < 1200; i++)); do
      grep -q '^ready' "$WORK/idle_conns.out" 2>/dev/null && break
      kill -0 "$idle_pid" 2>/dev/null || break
      sleep 0.1
    done
    ready=$(grep '^ready' "$WORK/idle_conns.out" || echo "ready ok=0 failed=?")
    after=$(vm_kib "$rss_pid" VmRSS)
    hwm=$(vm_kib "$rss_pid" VmHWM)
    ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$ready")
    forget_pid "$idle_pid"
    stop_pid "$idle_pid" 30 || true
    forget_pid "$rss_pid"
    stop_pid "$rss_pid" 60 || true
    limit_kib=$((50 * 1024 + ok * 64))
    per_conn=$(awk -v a="$after" -v b="$before" -v n="$ok" 'BEGIN {if (n > 0) printf "%.1f", (a - b) / n}')
    if ((ok < IDLE_CONNS)); then
      RSS_MET="not met (only $ok of $IDLE_CONNS connections opened: $(head -c 200 "$WORK/idle_conns.err"))"
    elif ((after <= limit_kib)); then
      RSS_MET="met"
    else
      RSS_MET="not met"
    fi
    RSS_REPORT="pglifecycle (full recording) with $ok idle client connections ($ready): VmRSS $((after / 1024)) MiB (idle proxy before: $((before / 1024)) MiB, peak VmHWM $((hwm / 1024)) MiB), $per_conn KiB per connection; limit 50 MiB + 64 KiB × $ok = $((limit_kib / 1024)) MiB → $RSS_MET"
  else
    RSS_MET="not measured (proxy did not start)"
    RSS_REPORT="not measured: pglifecycle did not start"
  fi
  log "RSS: $RSS_REPORT"
fi

# --- PowerBI-shaped load over TLS --------------------------------------------------------------
POWERBI_REPORT=""
if [ "$POWERBI" = 1 ]; then
  # The three phase-timing modes: precise timing makes the server answer each Parse and
  # Bind in a packet (here: a TLS record) of its own, which is most of what a batch costs;
  # sampled (the default, pbi) does so for new texts and a fraction of the rest.
  declare -A PBI_OK PBI_BATCHES
  PBI_TARGETS=(pbi pbi-precise pbi-passive)
  for t in "${PBI_TARGETS[@]}"; do
    PBI_OK[$t]=0
    PBI_BATCHES[$t]=0
    extra=()
    [ "$t" != pbi ] && extra=(--phase-timing "${t#pbi-}")
    if BACKEND_SSLMODE=$POWERBI_BACKEND_SSLMODE start_pglc "$t" \
      --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key" "${extra[@]}"; then
      PBI_OK[$t]=1
    fi
  done
  # haproxy in TCP mode passes TLS through to the server, end to end: the baseline relay.
  # (The pgbench targets were stopped for the restart above: a haproxy of its own.)
  PBI_BASELINE=()
  if [ "${AVAILABLE[haproxy]:-0}" = 1 ] && start_haproxy; then
    PBI_BASELINE=(haproxy)
    PBI_OK[haproxy]=1
  fi
  : >"$WORK/powerbi.tsv"
  for ((rep = 1; rep <= REPEATS; rep++)); do
    for t in direct "${PBI_TARGETS[@]}" "${PBI_BASELINE[@]}"; do
      port=$PGPORT
      t0=0
      if [ "$t" != direct ]; then
        [ "${PBI_OK[$t]}" = 1 ] || continue
        port=${PORT[$t]}
        t0=$(cpu_ticks "${PID[$t]}")
      fi
      line=$("$DRIVER_DIR/powerbi_load" \
        "host=127.0.0.1 port=$port user=bench dbname=bench sslmode=require" \
        "$DURATION" "$POWERBI_CLIENTS" 2>>"$WORK/powerbi.err" || true)
      [ -n "$line" ] || continue
      cpu="-"
      batches=$(sed -n 's/.* batches=\([0-9]*\) .*/\1/p' <<<"$line")
      if [ "$t" != direct ]; then
        PBI_BATCHES[$t]=$((${PBI_BATCHES[$t]:-0} + batches))
        cpu=$(awk -v d=$(($(cpu_ticks "${PID[$t]}") - t0)) -v hz="$CLK_TCK" -v n="$batches" \
          'BEGIN {if (n > 0) printf "%.1f", d * 1e6 / hz / n}')
      fi
      log "powerbi $t rep $rep: $line cpu_us_per_batch=$cpu"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" \
        "$(sed -n 's/.*batches_per_s=\([0-9.]*\).*/\1/p' <<<"$line")" \
        "$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$line")" \
        "$(sed -n 's/.*p95_us=\([0-9]*\).*/\1/p' <<<"$line")" \
        "$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$line")" "$cpu" >>"$WORK/powerbi.tsv"
    done
  done
  if [ "${#PBI_BASELINE[@]}" -gt 0 ]; then
    forget_pid "${PID[haproxy]}"
    stop_pid "${PID[haproxy]}" 30 || true
  fi
  pbi_med() { awk -F'\t' -v t="$1" -v k="$2" '$1 == t && $k != "-" {print $k}' "$WORK/powerbi.tsv" | median; }
  PBI_CHECKS=()
  for t in "${PBI_TARGETS[@]}"; do
    if [ "${PBI_OK[$t]}" = 1 ]; then
      check_store "$t" "PowerBI load" $((PBI_BATCHES[$t] * 3)) "$POWERBI_CLIENTS"
      PBI_CHECKS+=("${STORE_CHECKS[-1]}")
    fi
  done
  {
    echo "| target | batches/s | p50 µs | p95 µs | p99 µs | ratio to direct | ratio to haproxy | proxy CPU µs/batch |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for t in direct "${PBI_TARGETS[@]}" "${PBI_BASELINE[@]}"; do
      bps=$(pbi_med "$t" 2)
      [ -n "$bps" ] || {
        echo "| $t | n/a | | | | | | |"
        continue
      }
      case $t in
        direct) name="direct (TLS to PostgreSQL)" ;;
        pbi) name="pglifecycle (full recording, sampled timing, TLS client side, backend sslmode=$POWERBI_BACKEND_SSLMODE)" ;;
        pbi-precise) name="pglifecycle (same, precise timing)" ;;
        pbi-passive) name="pglifecycle (same, passive timing)" ;;
        haproxy) name="haproxy (TCP, TLS passed through to the server)" ;;
      esac
      hap=$(pbi_med haproxy 2)
      printf '| %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$name" "$bps" "$(pbi_med "$t" 3)" \
        "$(pbi_med "$t" 4)" "$(pbi_med "$t" 5)" "$(ratio "$bps" "$(pbi_med direct 2)")" \
        "$([ -n "$hap" ] && ratio "$bps" "$hap" || echo —)" "$(pbi_med "$t" 6 | sed 's/^$/—/')"
    done
    hap=$(pbi_med haproxy 2) ours=$(pbi_med pbi 2)
    if [ -n "$hap" ] && [ -n "$ours" ]; then
      r=$(ratio "$ours" "$hap")
      echo
      echo "- **$(awk -v r="$r" 'BEGIN {print (r >= 0.9) ? "met" : "not met"}')** — PowerBI-shaped TLS load with full recording ≥ 0.9 × haproxy: ratio $r"
    fi
  } >"$WORK/powerbi.md"
  POWERBI_REPORT=$(cat "$WORK/powerbi.md")
  for c in "${PBI_CHECKS[@]}"; do POWERBI_REPORT+=$'\n\n'"Store check: $c"; done
fi

# --- recorder micro-benchmark (written by the storage owner), when it builds --------------------
RECORDER_REPORT=""
if [ "${RECORDER_BENCH:-1}" = 1 ] && [ -f "$ROOT/bench/micro/recorder_bench.cpp" ]; then
  if cmake --build "$BUILD_DIR" --target recorder_bench >"$WORK/recorder-build.log" 2>&1; then
    rb_time=0.5
    [ "$QUICK" = 1 ] && rb_time=0.1
    "$PGBIN/psql" -X -q -d postgres -c 'CREATE DATABASE recorder_bench' >/dev/null 2>&1 || true
    PGLC_BENCH_PG="host=127.0.0.1 port=$PGPORT user=bench dbname=recorder_bench sslmode=disable" \
      "$DRIVER_DIR/recorder_bench" --benchmark_min_time="$rb_time" >"$WORK/recorder.txt" 2>&1 ||
      true
    RECORDER_REPORT=$(grep -v '^\*\*\*WARNING' "$WORK/recorder.txt" || true)
  else
    RECORDER_REPORT="recorder_bench did not build: $(tail -n 3 "$WORK/recorder-build.log")"
  fi
fi

# --- the other micro-benchmarks (pgwire, tracker, libpg_query), summarized ----------------------
MICRO_REPORT=""
if [ "${MICRO:-1}" = 1 ]; then
  for src in "$ROOT"/bench/micro/*.cpp; do
    name=$(basename "$src" .cpp)
    [ "$name" = recorder_bench ] && continue
    if ! cmake --build "$BUILD_DIR" --target "$name" >"$WORK/$name-build.log" 2>&1; then
      MICRO_REPORT+="$name did not build"$'\n'
      continue
    fi
    mt=0.5
    [ "$QUICK" = 1 ] && mt=0.05
    "$DRIVER_DIR/$name" --benchmark_min_time="$mt" >"$WORK/$name.txt" 2>&1 || true
    MICRO_REPORT+=$(awk '/^[A-Za-z_].*\/.* (ns|us|ms) / {print}' "$WORK/$name.txt")$'\n'
  done
fi

# --- the store: bytes per execution per pgbench mode, and queries on 10 million executions ------
# Each script brings up a PostgreSQL of its own and runs this binary; their reports go into
# the file as they print them.
STORE_SIZE_REPORT="" STORE_SCALE_REPORT="" STORE_SCALE_PG_REPORT=""
store_script() {  # NAME OUTFILE ENV=... — the report lines (from the "bench/NAME" line on)
  local name=$1 out=$2
  shift 2
  log "bench/$name $*"
  if env "$@" PGLC_BINARY="$PGLC_BINARY" BUILD_DIR="$BUILD_DIR" "$ROOT/bench/$name" \
    >"$out" 2>"$out.err"; then
    sed -n "/^bench\/$name/,\$p" "$out"
  else
    echo "bench/$name failed: $(tail -n 3 "$out.err")"
  fi
}
if [ "$STORE_SIZE" = 1 ]; then
  STORE_SIZE_REPORT=$(store_script store_size.sh "$WORK/store_size.txt" \
    TRANSACTIONS="${STORE_SIZE_TRANSACTIONS:-40000}")
fi
if [ "$STORE_SCALE" = 1 ]; then
  STORE_SCALE_REPORT=$(store_script store_scale.sh "$WORK/store_scale.txt" \
    EXECUTIONS="$STORE_SCALE_EXECUTIONS" RETENTION_EXECUTIONS=0)
fi
if [ "$STORE_SCALE_PG" = 1 ]; then
  STORE_SCALE_PG_REPORT=$(store_script store_scale.sh "$WORK/store_scale_pg.txt" \
    STORE=postgresql EXECUTIONS="$STORE_SCALE_EXECUTIONS" RETENTION_EXECUTIONS=0)
fi

# --- syscalls and allocations per transaction (bench/profile.sh) --------------------------------
HOT_PATH_REPORT=""
hot_path_row() {  # MODE LABEL ENV... — one table row from profile.sh strace (and allocs)
  local mode=$1 label=$2
  shift 2
  local out="$WORK/hot-$mode-${label// /_}.txt"
  env "$@" MODE="$mode" CLIENTS=16 DURATION=8 PGLC_BINARY="$PGLC_BINARY" BUILD_DIR="$BUILD_DIR" \
    "$ROOT/bench/profile.sh" strace >"$out" 2>&1 || { echo "| $mode | $label | profile.sh failed ||||||"; return; }
  local allocs="—"
  if [ "${label#pglifecycle}" != "$label" ]; then
    env "$@" MODE="$mode" CLIENTS=16 DURATION=8 PGLC_BINARY="$PGLC_BINARY" BUILD_DIR="$BUILD_DIR" \
      "$ROOT/bench/profile.sh" allocs >"$out.allocs" 2>&1 || true
    allocs=$(awk '$1 ~ /^pglc-io/ && / per transaction$/ {a += $(NF - 2)} END {printf "%.2f", a}' "$out.allocs")
  fi
  awk -v mode="$mode" -v label="$label" -v allocs="$allocs" '
    / calls\/txn$/ { v[$1] = $2 }
    END { recv = v["recvfrom"] + v["recvmsg"]; db = v["pwrite64"] + v["pread64"]
      printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %.2f | %s |\n", mode, label, recv, v["sendto"] + v["write"],
        v["epoll_wait"], v["epoll_ctl"], (db > 0 ? sprintf("%.2f", db) : "—"), v["total"], allocs }' "$out"
}
if [ "$HOT_PATH" = 1 ]; then
  log "syscalls and allocations per transaction (bench/profile.sh strace, allocs)"
  HOT_PATH_REPORT=$(
    echo "| mode | proxy | recv | send | epoll_wait | epoll_ctl | SQLite pwrite64 + pread64 | all syscalls | io-thread allocations |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for mode in simple extended prepared; do
      hot_path_row "$mode" "pglifecycle (full recording)"
      hot_path_row "$mode" "pglifecycle (recording off)" STORAGE=none
      hot_path_row "$mode" "haproxy" TARGET=haproxy
    done
  )
fi

# --- targets ------------------------------------------------------------------------------------
fmt_target() {  # met(0/1/-) text
  case $1 in 1) echo "- **met** — $2" ;; 0) echo "- **not met** — $2" ;; *) echo "- **not measured** — $2" ;; esac
}
TARGET_LINES=()
fmt_worst() {  # "value cell" [unit] → "value unit (cell)"
  if [ -z "$1" ]; then echo "n/a"; else echo "${1%% *}${2:-} (${1#* })"; fi
}
have() { [ -n "${M_TPS[$1,$2]:-}" ]; }

# 1. full recording ≥ 0.9 × haproxy and ≥ PgBouncer TPS in every -c 16 mode.
worst_h="" worst_b="" t1=-
for cell in $CELLS; do
  [ "${cell##*-}" = 16 ] || continue
  have pglc "$cell" && have haproxy "$cell" && have pgbouncer "$cell" || continue
  rh=$(ratio "${M_TPS[pglc,$cell]}" "${M_TPS[haproxy,$cell]}")
  rb=$(ratio "${M_TPS[pglc,$cell]}" "${M_TPS[pgbouncer,$cell]}")
  worst_h=$(printf '%s\n%s %s\n' "$worst_h" "$rh" "$cell" | sed '/^$/d' | sort -g | head -n 1)
  worst_b=$(printf '%s\n%s %s\n' "$worst_b" "$rb" "$cell" | sed '/^$/d' | sort -g | head -n 1)
  t1=1
done
if [ "$t1" = 1 ]; then
  awk -v h="${worst_h%% *}" -v b="${worst_b%% *}" 'BEGIN {exit !(h >= 0.9 && b >= 1.0)}' || t1=0
fi
TARGET_LINES+=("$(fmt_target "$t1" "full recording TPS ≥ 0.9 × haproxy and ≥ PgBouncer at -c 16: worst ratio to haproxy $(fmt_worst "$worst_h"), worst ratio to PgBouncer $(fmt_worst "$worst_b")")")

# 2. added latency at -c 1 within 15 µs of haproxy's.
worst_l="" t2=-
for cell in $CELLS; do
  [ "${cell##*-}" = 1 ] || continue
  have pglc "$cell" && have haproxy "$cell" || continue
  d=$(awk -v a="${M_LAT[pglc,$cell]}" -v b="${M_LAT[haproxy,$cell]}" 'BEGIN {printf "%.1f", (a - b) * 1000}')
  worst_l=$(printf '%s\n%s %s\n' "$worst_l" "$d" "$cell" | sed '/^$/d' | sort -g | tail -n 1)
  t2=1
done
[ "$t2" = 1 ] && { awk -v d="${worst_l%% *}" 'BEGIN {exit !(d <= 15)}' || t2=0; }
TARGET_LINES+=("$(fmt_target "$t2" "added latency at -c 1 within 15 µs of haproxy's: worst pglifecycle − haproxy = $(fmt_worst "$worst_l" " µs")")")

# 3. proxy CPU per transaction: with --storage none ≤ 1.0 × haproxy's, with full recording
# ≤ 1.2 × — the whole process, and its relay-and-tracker half (every thread but the
# writer; the store's half is the writer's, reported beside it), in every cell.
worst_cpu() {  # array target limit → "met worst" where worst is "ratio cell"
  local -n arr=$1
  local t=$2 limit=$3 worst="" met=- cell r
  for cell in $CELLS; do
    [ -n "${arr[$t,$cell]:-}" ] && [ -n "${M_CPU[haproxy,$cell]:-}" ] || continue
    r=$(ratio "${arr[$t,$cell]}" "${M_CPU[haproxy,$cell]}")
    [ -n "$r" ] || continue
    worst=$(printf '%s\n%s %s\n' "$worst" "$r" "$cell" | sed '/^$/d' | sort -g | tail -n 1)
    met=1
  done
  [ "$met" = 1 ] && { awk -v r="${worst%% *}" -v l="$limit" 'BEGIN {exit !(r <= l)}' || met=0; }
  echo "$met $worst"
}
read -r t3 worst_c <<<"$(worst_cpu M_CPU pglc-norec 1.0)"
TARGET_LINES+=("$(fmt_target "$t3" "proxy CPU per transaction with --storage none (recording off) ≤ 1.0 × haproxy's: worst ratio $(fmt_worst "$worst_c")")")
read -r t3 worst_c <<<"$(worst_cpu M_CPU pglc 1.2)"
read -r t3r worst_r <<<"$(worst_cpu M_RCPU pglc 1.2)"
TARGET_LINES+=("$(fmt_target "$t3" "proxy CPU per transaction with full recording ≤ 1.2 × haproxy's: worst ratio $(fmt_worst "$worst_c")")")
TARGET_LINES+=("$(fmt_target "$t3r" "the relay-and-tracker half of it (every thread but the writer) ≤ 1.2 × haproxy's: worst ratio $(fmt_worst "$worst_r"); the writer's half is in the table's last column")")

# 4. the writer stores ≥ 200,000 executions per CPU-second (recorder_bench, DESIGN §3) and
# drops nothing in any cell (DESIGN §8).
t4=- rec_rate="" rec_simple=""
per_cpu() {  # benchmark name → its executions_per_cpu_s counter
  grep "^$1/" <<<"$RECORDER_REPORT" | grep -o 'executions_per_cpu_s=[0-9.]*[kM]*' |
    sed 's/executions_per_cpu_s=//' |
    awk '{v = $1; if (v ~ /k$/) v *= 1e3; else if (v ~ /M$/) v *= 1e6; printf "%d\n", v + 0}' |
    head -n 1 || true
}
if [ -n "$RECORDER_REPORT" ]; then
  rec_rate=$(per_cpu BM_RecorderSqlite)
  rec_simple=$(per_cpu BM_RecorderSqliteSimple)
  [ -n "$rec_rate" ] && { awk -v r="$rec_rate" 'BEGIN {exit !(r >= 200000)}' && t4=1 || t4=0; }
fi
if [ "$t4" = 1 ] && { ((TOTAL_DROPPED > 0)) || ((STORE_FAILURES > 0)); }; then t4=0; fi
TARGET_LINES+=("$(fmt_target "$t4" "writer ≥ 200,000 executions per CPU-second (recorder_bench, SQLite, a statement every 10 executions: ${rec_rate:-n/a}; a new text per execution as pgbench -M simple: ${rec_simple:-n/a}) and zero drops in every cell: $STORE_FAILURES of ${#STORE_CHECKS[@]} store checks were not complete (records dropped in total: $TOTAL_DROPPED)")")

# 5. RSS.
t5=-
case "$RSS_MET" in met) t5=1 ;; "not met"*) t5=0 ;; esac
TARGET_LINES+=("$(fmt_target "$t5" "RSS ≤ 50 MB + 64 KiB per idle connection: ${RSS_REPORT:-not run}")")
# 6. RSS under load: the peak of each recording run against 50 MB + 64 KiB per client.
t6=-
if [ -n "$LOAD_RSS_WORST" ]; then
  read -r lr_ratio lr_peak lr_limit lr_label <<<"$LOAD_RSS_WORST"
  awk -v r="$lr_ratio" 'BEGIN {exit !(r <= 1)}' && t6=1 || t6=0
  TARGET_LINES+=("$(fmt_target "$t6" "RSS under load ≤ 50 MB + 64 KiB per connection: worst peak (VmHWM) $lr_peak MiB against $lr_limit MiB ($lr_label), ratio $lr_ratio")")
fi

# 7. bytes on disk per execution for pgbench -S -M prepared (DESIGN §3).
if [ -n "$STORE_SIZE_REPORT" ]; then
  bpe=$(sed -n 's/^-M prepared: .* → \([0-9]*\) bytes per execution.*/\1/p' <<<"$STORE_SIZE_REPORT")
  t7=-
  [ -n "$bpe" ] && { ((bpe <= 200)) && t7=1 || t7=0; }
  others=$(sed -n 's/^-M \([a-z]*\): .* → \([0-9]*\) bytes per execution.*/\1 \2/p' <<<"$STORE_SIZE_REPORT" |
    { grep -v '^prepared' || true; } | tr '\n' ',' | sed 's/,$//; s/,/, /g')
  TARGET_LINES+=("$(fmt_target "$t7" "store ≤ 200 bytes per execution for pgbench -S -M prepared (bench/store_size.sh): ${bpe:-n/a} (reported: ${others:-n/a})")")
fi
# 8. every query of the budget under 100 ms on 10 million executions (SQLite; PostgreSQL
# reported beside it).
if [ -n "$STORE_SCALE_REPORT" ]; then
  ok=$(grep -c '< 100: ok' <<<"$STORE_SCALE_REPORT" || true)
  over=$(grep -c '< 100: OVER' <<<"$STORE_SCALE_REPORT" || true)
  worst=$({ grep '< 100: ' <<<"$STORE_SCALE_REPORT" || true; } |
    awk '{for (i = NF; i > 0; i--) if ($i ~ /^[0-9.]+$/) {v = $i; break}
          if (v + 0 > m) {m = v + 0; l = $0}} END {sub(/^ */, "", l); sub(/, ms.*/, "", l); printf "%s ms (%s)", m, l}')
  t8=-
  if ((ok + over > 0)); then ((over == 0)) && t8=1 || t8=0; fi
  pg=""
  [ -n "$STORE_SCALE_PG_REPORT" ] &&
    pg="; PostgreSQL: $(grep -c '< 100: ok' <<<"$STORE_SCALE_PG_REPORT" || true) under, $(grep -c '< 100: OVER' <<<"$STORE_SCALE_PG_REPORT" || true) over"
  TARGET_LINES+=("$(fmt_target "$t8" "the store's views and the README's queries under 100 ms at $STORE_SCALE_EXECUTIONS executions (bench/store_scale.sh, SQLite): $ok of $((ok + over)) under, slowest $worst$pg")")
  rd_ok=$(grep -c '< 1000: ok' <<<"$STORE_SCALE_REPORT" || true)
  rd_over=$(grep -c '< 1000: OVER' <<<"$STORE_SCALE_REPORT" || true)
  t9=-
  if ((rd_ok + rd_over > 0)); then ((rd_over == 0)) && t9=1 || t9=0; fi
  rd_list=$({ grep '< 1000: OVER' <<<"$STORE_SCALE_REPORT" || true; } | sed 's/^ *//; s/, ms */ /; s/ *< 1000: OVER//' |
    tr '\n' ';' | sed 's/;$//; s/;/; /g')
  TARGET_LINES+=("$(fmt_target "$t9" "explain and trace within a second on that store (DESIGN §7): $rd_ok of $((rd_ok + rd_over)) within${rd_list:+; over: $rd_list ms}")")
fi

# --- report -------------------------------------------------------------------------------------
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (working tree modified)" || true)
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); see docs/bench.md for"
  echo "what each column means and how to reproduce."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $cpu_model, $(nproc) cores (shared: other processes were running)"
  echo "- Memory: $mem; kernel $(uname -r)"
  echo "- PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (fsync=off, shared_buffers=256MB, trust auth, loopback TCP, no TLS), pgbench scale $SCALE"
  echo "- $("$HAPROXY" -v 2>/dev/null | head -n 1 | awk '{print "HAProxy " $3}') (mode tcp, default threads), PgBouncer $("$PGBOUNCER" --version 2>/dev/null | head -n 1 | awk '{print $2}') (pool_mode=session)"
  echo "- pglifecycle $commit$dirty, $PGLC_BINARY, default workers"
  echo
  echo "## Command"
  echo
  echo '```'
  echo "$COMMAND_LINE"
  echo '```'
  echo
  echo "Medians of $REPEATS runs of ${DURATION}s per cell; the targets run one after another in"
  echo "the order $TARGETS, repeated, so machine drift hits all alike. pgbench runs with -n."
  echo
  echo "## pgbench"
  echo
  cat "$TABLE"
  echo
  echo "## Targets"
  echo
  printf '%s\n' "${TARGET_LINES[@]}"
  echo
  echo "## Store checks (pglifecycle with recording; the proxy is stopped with SIGTERM after each run)"
  echo
  if ((${#STORE_CHECKS[@]})); then printf -- '- %s\n' "${STORE_CHECKS[@]}"; else echo "none ran"; fi
  echo
  echo "## Idle connections"
  echo
  echo "${RSS_REPORT:-not run}"
  echo
  echo "## PowerBI-shaped load"
  echo
  if [ -n "$POWERBI_REPORT" ]; then
    echo "\`bench/load/powerbi_load\`: $POWERBI_CLIENTS connections, TLS (sslmode=require), libpq"
    echo "pipeline mode, batches of 3 extended-protocol statements with binary results and one Sync."
    echo
    echo "$POWERBI_REPORT"
  else
    echo "not run"
  fi
  echo
  echo "## The store"
  echo
  for part in "$STORE_SIZE_REPORT" "$STORE_SCALE_REPORT" "$STORE_SCALE_PG_REPORT"; do
    [ -n "$part" ] || continue
    echo '```'
    echo "$part"
    echo '```'
    echo
  done
  [ -n "$STORE_SIZE_REPORT$STORE_SCALE_REPORT$STORE_SCALE_PG_REPORT" ] || { echo "not run"; echo; }
  echo "## Syscalls and allocations per transaction (-c 16)"
  echo
  if [ -n "$HOT_PATH_REPORT" ]; then
    echo "\`pgbench -S -c 16\`, 8 s per row: \`bench/profile.sh strace\` (strace -c -f on the proxy;"
    echo "it slows the proxy, the counts per transaction stay exact) and \`bench/profile.sh allocs\`"
    echo "(malloc-family calls per transaction on the io threads, both together)."
    echo
    echo "$HOT_PATH_REPORT"
  else
    echo "not run"
  fi
  echo
  echo "## Micro-benchmarks"
  echo
  echo "\`bench/micro.sh\` (Google Benchmark; CPU time per iteration; rates per CPU second)."
  echo
  if [ -n "$MICRO_REPORT" ]; then
    echo '```'
    printf '%s' "$MICRO_REPORT"
    echo '```'
  else
    echo "not run"
  fi
  echo
  echo "## Recorder micro-benchmark"
  echo
  if [ -n "$RECORDER_REPORT" ]; then
    echo '```'
    echo "$RECORDER_REPORT"
    echo '```'
  else
    echo "not run"
  fi
  if [ -f "$ROOT/bench/notes.md" ]; then
    echo
    cat "$ROOT/bench/notes.md"
  fi
} >"$OUT"

echo
cat "$TABLE"
echo
printf '%s\n' "${TARGET_LINES[@]}"
echo
[ -n "$POWERBI_REPORT" ] && echo "$POWERBI_REPORT" && echo
log "report written to $OUT"
