#!/usr/bin/env bash
# bench/micro.sh — builds (Release, build-bench) and runs every Google Benchmark in
# bench/micro/*.cpp. A benchmark whose dependency does not build yet is reported and
# skipped, not fatal. Extra arguments go to every benchmark (e.g. --benchmark_filter=sqlite).
#   MIN_TIME=0.5   seconds per benchmark case (--benchmark_min_time)
#   BUILD_DIR=build-bench
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
MIN_TIME=${MIN_TIME:-0.5}

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DPGLC_BUILD_BENCH=ON -DPGLC_BUILD_TESTS=OFF >/dev/null

status=0
for src in "$ROOT"/bench/micro/*.cpp; do
  name=$(basename "$src" .cpp)
  echo "== $name"
  if ! log=$(cmake --build "$BUILD_DIR" --target "$name" 2>&1); then
    echo "did not build:"
    grep -E 'error|undefined reference' <<<"$log" | head -n 5
    status=1
    continue
  fi
  "$BUILD_DIR/bench/$name" --benchmark_min_time="$MIN_TIME" "$@" 2>&1 |
    grep -v '^\*\*\*WARNING\*\*\* Library was built as DEBUG' || status=1
  echo
done
exit $status
