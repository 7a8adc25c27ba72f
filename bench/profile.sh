#!/usr/bin/env bash
# bench/profile.sh [perf|system|sched|callgrind|strace|threads|writer|queue|allocs] — where pglifecycle spends its CPU under pgbench.
#   perf       sampled flat profile of the proxy process (default)
#   callgrind  instruction counts (reproducible on a noisy machine; ~50× slower, so it runs
#              -c 1 for a few seconds)
#   strace     syscalls per transaction (strace -c -f; slows the proxy, counts stay exact);
#              STRACE_OF=postgres traces the postmaster and its backends instead
#   threads    per thread: CPU and time spent runnable but waiting for a core (schedstat)
#   writer     the SQLite writer thread's fsyncs and checkpoints: how long each blocked it
#              (strace -T on that thread only, so the io threads run untraced)
#   system     the whole machine (perf record -a): CPU µs per transaction by command, so that
#              work the proxy causes elsewhere (pgbench, postgres, kernel threads) shows
#   sched      the whole machine's scheduler events per transaction by command: times
#              switched in, woken (and of those, woken onto another CPU than the waker's),
#              and migrated; who wakes whom
#   allocs     malloc-family calls per transaction in each thread (an LD_PRELOAD counter,
#              bench/alloc_count/alloc_count.c, read before and after the load)
#   queue      the recorder queue over the run: /metrics every 100 ms, per second the
#              fullest queue (bytes) and the records dropped, to see when the writer fell
#              behind (a burst, a slow batch, or all along)
# Environment: SCRIPT=S (select-only) or tpcb, MODE=extended, CLIENTS=16, DURATION=10,
#   PGLC_EXTRA="--phase-timing passive", STORAGE=sqlite (or none), PGLC_BINARY, SCALE=1,
#   TARGET=haproxy profiles haproxy (mode tcp) instead, for comparison.
#   WRITER_NICE=N renices the writer thread once the proxy is up (it asks for -10 itself).
#   LOAD=powerbi runs bench/load/powerbi_load (CLIENTS=4 by default, TLS on both sides of
#   the proxy as in bench/run.sh; haproxy passes it through) instead of pgbench; "per
#   transaction" then means per batch.
#   PERF_ARGS="-e probe_libc:malloc" samples every malloc instead of the clock (after
#   `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc`): who allocates.
#   RATE=N runs pgbench at N transactions per second (-R) instead of as fast as it can:
#   on a machine that the load saturates, CPU per transaction then measures the work, not
#   the wait for a core (for comparing two binaries; PGLC_BINARY=path).
# Output: a summary on stdout and the raw files under build-bench/profile/<time>/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TOOL=${1:-perf}
SCRIPT=${SCRIPT:-S}
MODE=${MODE:-extended}
CLIENTS_SET=${CLIENTS:-}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-10}
SCALE=${SCALE:-1}
STORAGE=${STORAGE:-sqlite}
if [ "$TOOL" = callgrind ]; then
  CLIENTS=${CLIENTS_CALLGRIND:-1}
  DURATION=${DURATION_CALLGRIND:-5}
fi
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

OUTDIR=$BUILD_DIR/profile/$(date -u +%Y%m%dT%H%M%S)-$TOOL
mkdir -p "$OUTDIR"
LOAD=${LOAD:-pgbench}
tls_args=(--backend-sslmode disable)
if [ "$LOAD" = powerbi ]; then
  [ -n "${CLIENTS_SET:-}" ] || CLIENTS=${POWERBI_CLIENTS:-4}
  build_pglc powerbi_load
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/server.key" -out "$WORK/server.crt" \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
  chmod 600 "$WORK/server.key"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/server.key" "$WORK/server.crt"
  init_pg max_connections=100 ssl=on "ssl_cert_file=$WORK/server.crt" "ssl_key_file=$WORK/server.key"
  tls_args=(--backend-sslmode require --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key")
else
  build_pglc
  init_pg max_connections=100 ssl=off
fi

PORT=$(free_port)
MPORT=$(free_port)
storage_arg="none"
[ "$STORAGE" = sqlite ] && storage_arg="sqlite:$WORK/profile.db"
# shellcheck disable=SC2206
proxy=("$PGLC_BINARY" --listen "127.0.0.1:$PORT" --backend "127.0.0.1:$PGPORT"
  "${tls_args[@]}" --log-level warning --storage "$storage_arg"
  --metrics-listen "127.0.0.1:$MPORT" ${PGLC_EXTRA:-})
if [ "${TARGET:-pglc}" = haproxy ]; then
  printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\nlisten pg\n  bind 127.0.0.1:%s\n  server pg 127.0.0.1:%s\n' \
    "$PORT" "$PGPORT" >"$WORK/haproxy.cfg"
  proxy=("$(command -v haproxy || echo /usr/sbin/haproxy)" -db -f "$WORK/haproxy.cfg")
fi
if [ "$TOOL" = allocs ]; then
  shim=$OUTDIR/alloc_count.so
  cc -O2 -shared -fPIC -o "$shim" "$ROOT/bench/alloc_count/alloc_count.c" || die "cannot build $shim"
  proxy=(env LD_PRELOAD="$shim" "${proxy[@]}")
fi
if [ "$TOOL" = callgrind ]; then
  proxy=(valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/callgrind.out" "${proxy[@]}")
fi
as_service "${proxy[@]}" >"$WORK/pglc.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for ((i = 0; i < 20; i++)); do wait_ready "$PORT" "$pid" pglc && break; done
if [ -n "${WRITER_NICE:-}" ]; then
  for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm")" = pglc-writer ] && renice -n "$WRITER_NICE" -p "$(basename "$t")" >/dev/null
  done
fi

jobs=2
((CLIENTS == 1)) && jobs=1
bench_args=(-n -T "$DURATION" -p "$PORT" -M "$MODE" -c "$CLIENTS" -j "$jobs")
[ "$SCRIPT" = S ] && bench_args+=(-S)
[ -n "${RATE:-}" ] && bench_args+=(-R "$RATE")
if [ "$LOAD" = powerbi ]; then log "powerbi_load, $CLIENTS clients, through ${TARGET:-pglc} under $TOOL"; else log "pgbench ${bench_args[*]} through ${TARGET:-pglc} under $TOOL"; fi

case $TOOL in
  perf)
    # shellcheck disable=SC2086
    perf record ${PERF_ARGS:--F 1999} -g -p "$pid" -o "$OUTDIR/perf.data" -- sleep "$DURATION" \
      >"$OUTDIR/perf-record.log" 2>&1 &
    prof=$!
    ;;
  system)
    perf record -a -F 997 -o "$OUTDIR/perf.data" -- sleep "$DURATION" >"$OUTDIR/perf-record.log" 2>&1 &
    prof=$!
    ;;
  sched)
    perf record -a -e sched:sched_switch -e sched:sched_wakeup -e sched:sched_migrate_task \
      -o "$OUTDIR/perf.data" -- sleep "$DURATION" >"$OUTDIR/perf-record.log" 2>&1 &
    prof=$!
    ;;
  strace)
    traced=$pid
    [ "${STRACE_OF:-}" = postgres ] && traced=$(head -n 1 "$WORK/pgdata/postmaster.pid")
    strace -c -f -p "$traced" -o "$OUTDIR/strace.txt" &
    prof=$!
    ;;
  callgrind) prof="" ;;
  writer)
    wtid=$(grep -l pglc-writer /proc/"$pid"/task/*/comm | head -n 1 | xargs dirname | xargs basename)
    strace -T -tt -e trace=fsync,fdatasync,pwrite64,pread64 -p "$wtid" -o "$OUTDIR/writer.txt" &
    prof=$!
    ;;
  queue)
    wtid=$(grep -l pglc-writer /proc/"$pid"/task/*/comm | head -n 1 | xargs dirname | xargs basename)
    # time, queue bytes, dropped, the writer's CPU and runnable-waiting nanoseconds
    (
      while kill -0 "$pid" 2>/dev/null; do
        printf '%s ' "$(date +%s.%N)"
        curl -s "http://127.0.0.1:$MPORT/metrics" |
          awk '/^pglifecycle_recorder_queue_bytes/ {b = $2} /^pglifecycle_recorder_dropped_total/ {d += $2}
               END {printf "%d %d ", b, d}'
        cut -d' ' -f1,2 "/proc/$pid/task/$wtid/schedstat"
        sleep 0.1
      done
    ) >"$OUTDIR/queue.txt" 2>/dev/null &
    prof=$!
    ;;
  allocs)
    prof=""
    allocs_snapshot() {  # tid allocations, per thread that allocated
      od -An -t d8 -w16 -v "/dev/shm/pglc-allocs-$pid" | awk '$1 != 0 {print $1, $2}' | sort
    }
    allocs_snapshot >"$OUTDIR/allocs-before.txt"
    ;;
  threads)
    prof=""
    snapshot() {  # tid name cpu_ns wait_ns times_run voluntary involuntary switches, per thread
      for t in /proc/"$pid"/task/*; do
        printf '%s %s %s %s %s\n' "$(basename "$t")" "$(cat "$t/comm")" "$(cut -d' ' -f1-3 "$t/schedstat")" \
          "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")" \
          "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status")"
      done
    }
    snapshot >"$OUTDIR/threads-before.txt"
    ;;
  *) die "unknown tool $TOOL (perf, system, callgrind, strace, threads, writer, queue, allocs)" ;;
esac
if [ "$LOAD" = powerbi ]; then
  "$DRIVER_DIR/powerbi_load" "host=127.0.0.1 port=$PORT user=bench dbname=bench sslmode=require" \
    "$DURATION" "$CLIENTS" >"$OUTDIR/pgbench.log" 2>&1
  txns=$(sed -n 's/.* batches=\([0-9]*\) .*/\1/p' "$OUTDIR/pgbench.log")
  cat "$OUTDIR/pgbench.log"
else
  "$PGBIN/pgbench" "${bench_args[@]}" bench >"$OUTDIR/pgbench.log" 2>&1
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$OUTDIR/pgbench.log")
  grep -E '^(tps|latency average)' "$OUTDIR/pgbench.log"
fi
[ "$TOOL" = threads ] && snapshot >"$OUTDIR/threads-after.txt"
if [ "$TOOL" = allocs ]; then
  allocs_snapshot >"$OUTDIR/allocs-after.txt"
  for t in $(cut -d' ' -f1 "$OUTDIR/allocs-after.txt"); do
    printf '%s %s\n' "$t" "$(cat "/proc/$pid/task/$t/comm" 2>/dev/null || echo gone)"
  done | sort >"$OUTDIR/allocs-names.txt"
fi
if [ "$TOOL" = strace ] || [ "$TOOL" = writer ]; then kill -INT "$prof" 2>/dev/null || true; fi
# A background subshell ignores SIGINT.
[ "$TOOL" = queue ] && { kill "$prof" 2>/dev/null || true; }
[ -n "$prof" ] && wait "$prof" || true
forget_pid "$pid"
stop_pid "$pid" 120 || true

case $TOOL in
  perf)
    report() { perf report -i "$OUTDIR/perf.data" --no-children -g none --stdio "$@" 2>/dev/null |
      grep '%' | grep -v '^#' | sed 's/[[:space:]-]*$//'; }
    {
      echo "-- CPU by binary/library"
      report --sort dso | head -n 12
      echo "-- hottest symbols"
      report --sort dso,symbol | head -n 30
      echo "-- hottest symbols inside pglifecycle itself"
      report --sort symbol --dsos "$(basename "${proxy[0]}")" | head -n 25
    } | tee "$OUTDIR/top.txt" || true
    ;;
  system)
    echo "-- CPU µs per transaction by command, whole machine (swapper = idle)"
    perf report -i "$OUTDIR/perf.data" --no-children --stdio --sort comm -F overhead,sample,comm 2>/dev/null |
      awk -v n="$txns" '$1 ~ /%$/ && n > 0 {printf "%-18s %8.2f µs/txn\n", $3, $2 / 997 * 1e6 / n}' | sort -k2 -gr |
      head -n 15 | tee "$OUTDIR/top.txt"
    ;;
  sched)
    # Commands are cut at 15 characters by the kernel; numbered kernel threads are folded.
    perf script -i "$OUTDIR/perf.data" -F comm,cpu,event,trace 2>/dev/null |
      awk -v n="$txns" '
        function name(c) { sub(/\/[0-9]+.*$/, "", c); return c }
        { waker = name($1); cpu = $2; gsub(/[][]/, "", cpu); cpu += 0 }
        $3 ~ /sched_switch/ { for (i = 4; i <= NF; i++) if ($i == "==>") { split($(i + 1), a, "="); nc = name(a[2]); sw[nc]++ } }
        $3 ~ /sched_wakeup/ { for (i = 4; i <= NF; i++) { split($i, a, "="); if (a[1] == "comm") wc = name(a[2]); if (a[1] == "target_cpu") t = a[2] + 0 }
                              wk[wc]++; if (t != cpu) remote[wc]++; pair[waker " -> " wc]++ }
        $3 ~ /sched_migrate/ { for (i = 4; i <= NF; i++) { split($i, a, "="); if (a[1] == "comm") { mg[name(a[2])]++; break } } }
        END { if (n == 0) n = 1
          printf "%-16s %9s %9s %9s %9s\n", "command", "in/txn", "woken", "remote", "migrated"
          for (c in sw) printf "%-16s %9.2f %9.2f %9.2f %9.2f\n", c, sw[c] / n, wk[c] / n, remote[c] / n, mg[c] / n
          print "-- who wakes whom (per transaction)"
          for (p in pair) if (pair[p] / n >= 0.05) printf "%-36s %6.2f\n", p, pair[p] / n }' |
      tee "$OUTDIR/top.txt"
    ;;
  strace)
    head -n 30 "$OUTDIR/strace.txt" || true
    awk -v n="$txns" 'NR > 2 && $4 ~ /^[0-9]+$/ && n > 0 {printf "%-20s %8.2f calls/txn\n", $NF, $4 / n}' \
      "$OUTDIR/strace.txt" | sort -k2 -gr | head -n 12
    ;;
  writer)
    echo "-- the writer's blocking calls: count, total and longest seconds"
    awk '{ call = $2; sub(/\(.*/, "", call); d = $NF; gsub(/[<>]/, "", d);
           if (d ~ /^[0-9.]+$/) { n[call]++; t[call] += d; if (d > m[call]) m[call] = d } }
         END { for (c in n) printf "%-10s %8d calls  %8.3f s  longest %.3f s\n", c, n[c], t[c], m[c] }' \
      "$OUTDIR/writer.txt" | tee "$OUTDIR/top.txt"
    ;;
  queue)
    echo "-- per second of the run: fullest queue (MiB) and records dropped in that second"
    awk 'NR == 1 {t0 = $1; d0 = $3} { s = int($1 - t0); if ($2 > m[s]) m[s] = $2; last[s] = $3; if (s > n) n = s }
         END { prev = d0; for (i = 0; i <= n; i++) { if (!(i in last)) continue;
               printf "%3d s  queue %6.2f MiB  dropped %d\n", i, m[i] / 1048576, last[i] - prev; prev = last[i] } }' \
      "$OUTDIR/queue.txt" | tee "$OUTDIR/top.txt"
    ;;
  threads)
    echo "-- per thread over the run: CPU seconds, seconds runnable but not running, share of a core, CPU µs and times scheduled in per transaction"
    join "$OUTDIR/threads-before.txt" "$OUTDIR/threads-after.txt" |
      awk -v d="$DURATION" -v n="$txns" '{cpu = ($9 - $3) / 1e9; wait = ($10 - $4) / 1e9;
        runs = $11 - $5; vol = $12 - $6; inv = $13 - $7
        if (cpu == 0 && wait == 0) next
        per = n > 0 ? 1e6 * cpu / n : 0
        printf "%-16s cpu %6.2f s  waiting %6.2f s  %5.1f %% of a core  %6.2f µs/txn  %5.2f runs/txn (%.2f slept, %.2f preempted)\n", $2, cpu, wait, 100 * cpu / d, per, (n > 0 ? runs / n : 0), (n > 0 ? vol / n : 0), (n > 0 ? inv / n : 0)
        if ($2 ~ /writer/) w += per; else { io += per; ioruns += runs; iovol += vol; ioinv += inv } }
        END { if (n == 0) n = 1
          printf "relay and tracker (every other thread) %.2f µs/txn and %.2f runs/txn (%.2f slept, %.2f preempted), writer %.2f µs/txn, total %.2f\n", io, ioruns / n, iovol / n, ioinv / n, w, io + w }' |
      tee "$OUTDIR/top.txt"
    ;;
  allocs)
    echo "-- allocations (malloc, calloc, realloc, memalign) per transaction, per thread"
    join -a 2 -e 0 -o 0,1.2,2.2 "$OUTDIR/allocs-before.txt" "$OUTDIR/allocs-after.txt" |
      join - "$OUTDIR/allocs-names.txt" |
      awk -v n="$txns" '{d = $3 - $2; if (d == 0) next
        printf "%-16s %10d allocations  %8.2f per transaction\n", $4, d, (n > 0 ? d / n : 0)}' |
      tee "$OUTDIR/top.txt"
    rm -f "/dev/shm/pglc-allocs-$pid"
    ;;
  callgrind)
    callgrind_annotate --inclusive=no "$OUTDIR/callgrind.out" >"$OUTDIR/annotate.txt" 2>&1 || true
    head -n 45 "$OUTDIR/annotate.txt" | tee "$OUTDIR/top.txt"
    awk -v n="$txns" '/PROGRAM TOTALS/ {gsub(",", "", $1); if (n > 0) printf "%.0f instructions per transaction (start-up included)\n", $1 / n}' \
      "$OUTDIR/top.txt"
    ;;
esac
log "transactions: $txns; raw output in $OUTDIR"
