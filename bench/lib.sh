# shellcheck shell=bash disable=SC2034
# bench/lib.sh — shared by bench/run.sh and bench/profile.sh: a temp work dir, PID
# tracking with cleanup on exit, free loopback ports, a throwaway PostgreSQL, the build.
# Callers set ROOT and BUILD_DIR, then source this file.

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
  log "FATAL: $*"
  exit 1
}

# --- everything we start is tracked by PID and stopped on exit ------------------------------
PIDS=()
PG_STARTED=0
WORK=$(mktemp -d /tmp/pglc-bench.XXXXXX)
chmod 755 "$WORK"
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$WORK"
  AS_PG=(runuser -u postgres --)
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

stop_pid() {  # PID [grace seconds]: SIGTERM, wait, SIGKILL; returns the exit status if ours
  local pid=$1 grace=${2:-30} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "PID $pid did not stop in ${grace}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid" 5 || true; done
  if [ "$PG_STARTED" = 1 ]; then
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pgdata" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

USED_PORTS=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
      USED_PORTS+="$p "
      echo "$p"
      return
    fi
  done
}

# Waits until something speaking the PostgreSQL protocol answers on PORT, while PID lives.
wait_ready() {
  local port=$1 pid=$2 name=$3 i
  for ((i = 0; i < 200; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited during startup: $(tail -q -n 3 "$WORK/$name".{log,out} 2>/dev/null)"
      return 1
    fi
    if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U bench -d bench -t 1; then return 0; fi
    sleep 0.05
  done
  log "$name did not accept connections on $port"
  return 1
}

# as_service CMD ARGS... & — runs a proxy in a session of its own, as systemd starts every
# service. With the kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled,
# on for this machine's kernel) CPU is shared between sessions before it is shared between
# threads, and PostgreSQL gives each backend a session of its own: a proxy left in this
# script's session shares one share with pgbench and the shell against 16 backends, and
# its writer waits seconds for a core whatever its nice value. These scripts run without
# job control, so a background child leads no process group: setsid execs instead of
# forking, and $! is the proxy itself.
as_service() { exec setsid "$@"; }

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# writer_ticks PID — CPU ticks (user + system) of the recorder's writer thread (named
# pglc-writer) alone: the store's half of a pglifecycle process's CPU. cpu_ticks minus this
# is the relay's and tracker's half (the io threads, Asio's, the metrics server's).
writer_ticks() {
  local t sum=0
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = pglc-writer ] || continue
    sum=$((sum + $(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}')))
  done
  echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

export PGSSLMODE=disable PGUSER=bench PGDATABASE=bench PGHOST=127.0.0.1 PGCONNECT_TIMEOUT=10
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Builds pglifecycle (Release) and the given extra targets into $BUILD_DIR, unless
# PGLC_BINARY names an existing binary; sets PGLC_BINARY and DRIVER_DIR.
build_pglc() {
  local targets=("$@") launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
    -DPGLC_BUILD_BENCH=ON -DPGLC_BUILD_TESTS=OFF >/dev/null
  if [ -z "${PGLC_BINARY:-}" ]; then
    log "building pglifecycle (Release) ${targets[*]} in $BUILD_DIR"
    targets+=(pglifecycle)
    PGLC_BINARY=$BUILD_DIR/pglifecycle
  fi
  # Only what the scripts run: a micro-benchmark whose dependency is mid-edit must not
  # stop the suite.
  if ((${#targets[@]})) && ! cmake --build "$BUILD_DIR" --target "${targets[@]}" \
    >"$WORK/build.log" 2>&1; then
    tail -n 30 "$WORK/build.log" >&2
    die "build failed (PGLC_BINARY=path runs an existing binary instead)"
  fi
  [ -x "$PGLC_BINARY" ] || die "no pglifecycle binary at $PGLC_BINARY"
  PGLC_BINARY=$(readlink -f "$PGLC_BINARY")
  DRIVER_DIR=$BUILD_DIR/bench
}

# A throwaway PostgreSQL on a free loopback port, trust auth, database "bench" at SCALE.
init_pg() {  # extra -c settings for the first start...
  PGPORT=$(free_port)
  export PGPORT
  log "initdb + PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT"
  "${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pgdata" -U bench --auth=trust -E UTF8 \
    >"$WORK/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$WORK/initdb.log")"
  start_pg "$@"
  "$PGBIN/psql" -X -q -d postgres -c 'CREATE DATABASE bench' >/dev/null
  log "pgbench -i -s $SCALE"
  "$PGBIN/pgbench" -i -q -s "$SCALE" bench >"$WORK/pgbench-init.log" 2>&1 ||
    die "pgbench -i failed: $(tail -n 5 "$WORK/pgbench-init.log")"
  "$PGBIN/psql" -X -q -c 'VACUUM ANALYZE' >/dev/null
}

start_pg() {  # extra -c settings...
  local opts="-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off"
  opts+=" -c full_page_writes=off -c shared_buffers=256MB -c log_min_messages=warning"
  local kv
  for kv in "$@"; do opts+=" -c $kv"; done
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/postgres.log" -w -t 60 \
    -o "$opts" start >/dev/null || die "PostgreSQL did not start: $(tail -n 5 "$WORK/postgres.log")"
  PG_STARTED=1
}
stop_pg() {
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pgdata" -m fast -w stop >/dev/null
  PG_STARTED=0
}
