#!/usr/bin/env bash
# The Debian package scripts/package built (its path in PGLC_DEB; scripts/test sets it):
# its metadata, its files, and its binary serving real traffic (the queries test, whose
# proxy is this binary). With PGLC_PACKAGE_INSTALL=1 as root (the CI run, a throwaway
# machine) it is also installed with apt, checked where it landed, used, and removed.
set -euo pipefail
build=$1  # the test build, for the integration test binary
fail() { echo "package_test: $*" >&2; exit 1; }
if [ -z "${PGLC_DEB:-}" ]; then
  echo "package_test: PGLC_DEB is not set (scripts/test builds the package with scripts/package)"
  exit 77  # ctest: skipped
fi
[ -f "$PGLC_DEB" ] || fail "no package at $PGLC_DEB"
info=$(dpkg-deb --info "$PGLC_DEB")
grep -q "^ Package: pglifecycle$" <<<"$info" || fail "not the pglifecycle package: $info"
depends=$(sed -n 's/^ Depends: //p' <<<"$info")
for lib in libc6 libpq5 libsqlite3-0 libssl3 libboost-program-options1.74.0; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[ "$(dpkg-deb --ctrl-tarfile "$PGLC_DEB" | tar -xO ./conffiles)" = /etc/pglifecycle/pglifecycle.conf ] ||
  fail "the configuration is not a conffile"
# (Listed first: grep -q ending the pipe early would fail it under pipefail.)
control=$(dpkg-deb --ctrl-tarfile "$PGLC_DEB" | tar -t)
grep -qx './postinst' <<<"$control" || fail "no postinst: $control"
contents=$(dpkg-deb --contents "$PGLC_DEB")
for f in ./usr/bin/pglifecycle ./etc/pglifecycle/pglifecycle.conf \
  ./usr/lib/systemd/system/pglifecycle.service \
  ./usr/share/pglifecycle/queries/sqlite/1_slowest_fingerprints.sql \
  ./usr/share/doc/pglifecycle/README.md; do
  grep -q " $f\$" <<<"$contents" || fail "the package lacks $f"
done
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$PGLC_DEB" "$root"
grep -qx "ExecStart=/usr/bin/pglifecycle --config /etc/pglifecycle/pglifecycle.conf" \
  "$root/usr/lib/systemd/system/pglifecycle.service" || fail "the unit's ExecStart"
# Real traffic through the packaged binary.
PGLC_PROXY_BINARY=$root/usr/bin/pglifecycle "$build/tests/integration/queries_test" >"$root/q.log" 2>&1 ||
  { tail -n 30 "$root/q.log" >&2; fail "the queries test through the packaged binary failed"; }
if [ "${PGLC_PACKAGE_INSTALL:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "$PGLC_DEB" >"$root/apt.log" 2>&1 ||
    { cat "$root/apt.log" >&2; fail "apt-get install of the package failed"; }
  [ -x /usr/bin/pglifecycle ] || fail "installed, but no /usr/bin/pglifecycle"
  [ -f /etc/pglifecycle/pglifecycle.conf ] || fail "installed, but no configuration"
  if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /usr/lib/systemd/system/pglifecycle.service ||
      fail "systemd-analyze verify rejects the installed unit"
  fi
  PGLC_PROXY_BINARY=/usr/bin/pglifecycle "$build/tests/integration/queries_test" >"$root/q2.log" 2>&1 ||
    { tail -n 30 "$root/q2.log" >&2; fail "the queries test through the installed binary failed"; }
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pglifecycle >/dev/null 2>&1 ||
    fail "apt-get purge failed"
  [ ! -e /usr/bin/pglifecycle ] || fail "purged, but /usr/bin/pglifecycle is still there"
  echo "package_test: installed, used and purged"
fi
echo "package_test: ok ($PGLC_DEB)"
