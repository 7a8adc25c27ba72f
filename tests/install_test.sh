#!/usr/bin/env bash
# cmake --install into a scratch DESTDIR: the binary, the configuration (kept on a second
# install), the systemd unit pointing at both, the queries and the docs.
set -euo pipefail
build=$1
bindir=$2     # CMAKE_INSTALL_FULL_BINDIR
sysconfdir=$3 # CMAKE_INSTALL_FULL_SYSCONFDIR
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fail() { echo "install_test: $*" >&2; exit 1; }
DESTDIR=$dest cmake --install "$build" >/dev/null
unit=$(find "$dest" -name pglifecycle.service)
[ -n "$unit" ] || fail "no systemd unit"
grep -qx "ExecStart=$bindir/pglifecycle --config $sysconfdir/pglifecycle/pglifecycle.conf" "$unit" ||
  fail "ExecStart does not name the installed binary and config: $(grep ExecStart "$unit")"
[ -x "$dest$bindir/pglifecycle" ] || fail "no binary at $bindir"
conf=$dest$sysconfdir/pglifecycle/pglifecycle.conf
[ -f "$conf" ] || fail "no configuration at $sysconfdir/pglifecycle"
# The installed binary knows its subcommands and reads its installed configuration.
help=$("$dest$bindir/pglifecycle" explain --help)  # captured: grep -q in a pipe can SIGPIPE it
grep -q -- "--slowest" <<<"$help" || fail "explain --help"
echo "listen = 127.0.0.1:1" >>"$conf"
DESTDIR=$dest cmake --install "$build" >/dev/null
grep -q "^listen = 127.0.0.1:1$" "$conf" || fail "a second install replaced the edited configuration"
find "$dest" -path '*/pglifecycle/queries/sqlite/1_slowest_fingerprints.sql' | grep -q . ||
  fail "no queries"
find "$dest" -path '*/doc/pglifecycle/README.md' | grep -q . || fail "no README"
echo "install_test: ok ($dest)"
