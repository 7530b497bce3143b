#!/usr/bin/env bash
# tests/packaging/build_nopeers.sh - `make all` on a machine without the benchmark's
# optional peers (libck-dev, libabsl-dev, libtbb-dev), shown without
# removing them: a copy of the tree is built with the compilers looking
# first in a directory whose <ck_spinlock.h>, <absl/synchronization/mutex.h>
# and <oneapi/tbb/queuing_mutex.h> are each an #error.  Make's own probes
# must then find no peer (one line says what was left out), and everything
# must build: the bench, the VM's static bench and check program, all of
# it, none of it including a peer's header.  Protocol of tests/run.sh.
# A whole build: about 1 minute on 2 CPUs (more when loaded).
set -u
cd "$(dirname "$0")/../.." || exit 1
pass() { echo "PASS: build without peers: $1"; }
fail() { echo "FAIL: build without peers: $1: $2"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-build-nopeers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/poison/absl/synchronization" "$tmp/poison/oneapi/tbb" "$tmp/tree"
for h in ck_spinlock.h absl/synchronization/mutex.h oneapi/tbb/queuing_mutex.h; do
	echo '#error "this test hides the peer: the build must not include it"' >"$tmp/poison/$h"
done
tar --exclude=./build --exclude=./.git --exclude='./results*' -cf - . | tar -xf - -C "$tmp/tree"

cc=${CC:-cc}
cxx=${CXX:-g++}
# A top-level make of its own: nothing inherited from a surrounding make check.
out=$(cd "$tmp/tree" && env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS -u HAVE_CK -u HAVE_ABSL -u HAVE_TBB \
	make -j2 all CC="$cc -I$tmp/poison" CXX="$cxx -I$tmp/poison" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
	pass "make all succeeds with the peers' headers unusable"
else
	fail "make all" "exit $rc: $(echo "$out" | grep -m4 -E 'error:|\*\*\*' | tr '\n' ' ')"
fi
if echo "$out" | grep -q 'pvlock-bench: optional peers left out: ck-ticket.*absl-mutex.*tbb-queuing'; then
	pass "make's probes find none of the peers and say so in one line"
else
	fail "probes" "no line naming ck, absl and tbb as left out: $(echo "$out" | grep -m1 'left out')"
fi
if echo "$out" | grep -qE -- '-DHAVE_(CK|ABSL|TBB)=1'; then
	fail "peer flags" "a compile still had a peer on: $(echo "$out" | grep -m1 -oE -- '-DHAVE_(CK|ABSL|TBB)=1')"
else
	pass "no compile has a peer on"
fi
[ $rc -eq 0 ] || exit 1
missing=""
for b in pvlock-bench pvlock-bench-static pvlock-vm-check-static pvlock-run pvlock-timeline pvlock-torture; do
	[ -x "$tmp/tree/build/bin/$b" ] || missing+=" $b"
done
[ -z "$missing" ] && pass "the tools are built, the VM's static programs too" || fail "tools" "not built:$missing"
msg=$("$tmp/tree/build/bin/pvlock-vm-check-static" ck-ticket 2 0.1 2>&1)
rc=$?
if [ $rc -eq 2 ] && echo "$msg" | grep -q "'ck-ticket' was left out of this build (it needs libck-dev)"; then
	pass "pvlock-vm-check without CK: ck-ticket refused in one line naming the package"
else
	fail "pvlock-vm-check ck-ticket" "exit $rc: $msg"
fi
