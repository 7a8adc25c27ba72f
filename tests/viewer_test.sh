#!/usr/bin/env bash
# A trace of real sessions (written by explain_test from `pglifecycle trace`) loaded in a
# real browser-based viewer: speedscope (npm, pinned) in Debian's headless Chromium, served
# over loopback HTTP. Passes when speedscope lists one profile per track of the trace, i.e.
# it parsed the events; a file it cannot parse shows none.
set -euo pipefail
trace=$1      # the trace explain_test wrote (PGLC_TRACE_OUT)
cache=$2      # where speedscope is installed once (the build directory)
fail() { echo "viewer_test: $*" >&2; exit 1; }
[ -s "$trace" ] || fail "no trace at $trace (explain_test writes it)"
command -v chromium >/dev/null || fail "no chromium (scripts/deps --test installs it)"
version=1.25.0
if [ ! -f "$cache/speedscope/node_modules/speedscope/dist/release/index.html" ]; then
  mkdir -p "$cache/speedscope"
  npm install --prefix "$cache/speedscope" --no-audit --no-fund --silent "speedscope@$version" \
    >/dev/null 2>&1 || fail "npm install speedscope@$version failed"
fi
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ln -s "$cache/speedscope/node_modules/speedscope/dist/release" "$work/speedscope"
cp "$trace" "$work/trace.json"
echo '{"traceEvents":[{"ph":"X","pid":1,"tid":' >"$work/broken.json"
# The tracks speedscope makes a profile of: one per pid and tid with slices.
tracks=$(python3 - "$work/trace.json" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
print(len({(e["pid"], e["tid"]) for e in events if e.get("ph") == "X"}))
PY
)
[ "$tracks" -ge 2 ] || fail "the trace has $tracks tracks with slices; expected sessions with executions"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done
view() {  # FILE SECONDS → the page's text once speedscope has loaded it (or given up)
  timeout "$2" chromium --headless=new --no-sandbox --disable-gpu --no-zygote \
    --disable-dev-shm-usage --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/profile-$1" \
    --virtual-time-budget=10000 --dump-dom \
    "http://127.0.0.1:$port/speedscope/index.html#profileURL=http://127.0.0.1:$port/$1&title=pglc" \
    2>/dev/null | sed -e 's/<[^>]*>/ /g' | tr -s ' \n' ' ' || true
}
page=$(view trace.json 60)
grep -q "pglc (1/$tracks)" <<<"$page" ||
  fail "speedscope did not show $tracks profiles; its page: ${page:0:600}"
# Speedscope keeps waiting on a file it cannot parse: a shorter bound.
broken=$(view broken.json 15)
if grep -q "pglc (1/" <<<"$broken"; then fail "speedscope showed profiles for a broken file"; fi
echo "viewer_test: speedscope $version in $(chromium --version 2>/dev/null | head -n 1) parsed $tracks tracks"
