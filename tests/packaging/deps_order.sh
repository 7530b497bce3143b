#!/usr/bin/env bash
# tests/packaging/deps_order.sh - a goal that installs packages (here `make demo`)
# configures the benchmark with what the install brought, not with what
# make found before it.  A fresh machine is played in a copy of the tree:
# the C compiler looks first in a directory whose <ck_spinlock.h> is an
# #error (Concurrency Kit "not installed"), and the install step
# (INSTALL_DEPS) removes that header, so CK's real one (libck-dev) is found
# from then on.  The bench must come out with the CK peers, make must not
# say they were left out, and the demo's run step (BENCH_LOCK, a recorder
# here: nothing is measured) must have been reached.  Needs libck-dev.
# Protocol of tests/run.sh.  About 30 s (the bench's build).
set -u
cd "$(dirname "$0")/../.." || exit 1
pass() { echo "PASS: deps order: $1"; }
fail() { echo "FAIL: deps order: $1: $2"; }
cc=${CC:-cc}

if ! printf '\043include <ck_spinlock.h>\n' | $cc -E -x c - >/dev/null 2>&1; then
	echo "SKIP: deps order: needs libck-dev (<ck_spinlock.h>) to play its installation"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-deps-order.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/poison" "$tmp/tree"
echo '#error "not installed yet"' >"$tmp/poison/ck_spinlock.h"
tar --exclude=./build --exclude=./.git --exclude='./results*' -cf - . | tar -xf - -C "$tmp/tree"
# The library as this tree built it (times kept, so make reuses it).
[ -d build/lib ] && mkdir -p "$tmp/tree/build" && cp -rp build/lib "$tmp/tree/build/"

cat >"$tmp/record" <<'EOF'
#!/bin/sh
# Stands in for the measurement lock: records the bench's command line.
printf '%s\n' "$*" >"$(dirname "$0")/bench-command"
EOF
chmod +x "$tmp/record"

out=$(cd "$tmp/tree" && env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS -u HAVE_CK -u HAVE_ABSL -u HAVE_TBB \
	make demo CC="$cc -I$tmp/poison" INSTALL_DEPS="rm -f $tmp/poison/ck_spinlock.h" \
	BENCH_LOCK="$tmp/record" BENCH_PRIO= BENCH_PLOT=true 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
	fail "make demo" "exit $rc: $(echo "$out" | grep -m3 -E 'error:|\*\*\*' | tr '\n' ' ')"
	exit 1
fi
if [ -e "$tmp/poison/ck_spinlock.h" ]; then
	fail "install step" "INSTALL_DEPS did not run"
elif [ ! -s "$tmp/bench-command" ]; then
	fail "run step" "the demo never reached the bench's run"
else
	pass "make demo installed, built and reached the run ($(cut -c1-60 "$tmp/bench-command")...)"
fi
cfg=$(cat "$tmp/tree/build/bench/peers.cfg" 2>/dev/null)
if [[ "$cfg" == *HAVE_CK=1* ]] && "$tmp/tree/build/bin/pvlock-bench" --help | grep -q '^  ck-ticket'; then
	pass "the bench was configured after the install: $cfg, and lists ck-ticket"
else
	fail "bench configuration" "peers.cfg '$cfg' (want HAVE_CK=1: the probe ran before the install)"
fi
if echo "$out" | grep 'optional peers left out' | grep -q 'ck-'; then
	fail "left-out line" "make said CK was left out: $(echo "$out" | grep -m1 'left out')"
else
	pass "make does not say CK was left out"
fi
