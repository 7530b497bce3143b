#!/usr/bin/env bash
# tests/packaging/bench_nopeers.sh - pvlock-bench builds and runs without its optional
# peers, as on a machine with only gcc and make: no Concurrency Kit, no absl,
# no oneTBB, and no C++ compiler (CXX=false fails any attempt to use one).
# A copy of the tree is built with HAVE_CK=0 HAVE_ABSL=0 HAVE_TBB=0.
set -u
cd "$(dirname "$0")/../.."
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }

tmp=$(mktemp -d /tmp/pvlock-nopeers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Timestamps kept (cp -p), so that make reuses the library as this tree
# built it: what is under test is the bench's build, not the library's.
cp -rp Makefile include src tools examples scripts "$tmp"/
mkdir -p "$tmp/tests" && cp -p tests/rules.mk "$tmp/tests/"
[ -f build/lib/libpvlock.a ] && mkdir -p "$tmp/build/lib" && cp -p build/lib/libpvlock.a "$tmp/build/lib/"

# A top-level make of its own: nothing inherited from a surrounding make check.
# Not niced (nor the study below): at nice 19 beside three busy loops this
# build took 407 s (the library was rebuilt too, the sources' copies being
# newer than it), near run.sh's watchdog; at an ordinary share of the CPU
# it takes seconds.
out=$(cd "$tmp" && env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS -u HAVE_CK -u HAVE_ABSL -u HAVE_TBB \
	make HAVE_CK=0 HAVE_ABSL=0 HAVE_TBB=0 CXX=false build/bin/pvlock-bench 2>&1)
rc=$?
bench=$tmp/build/bin/pvlock-bench
if [ $rc -eq 0 ] && [ -x "$bench" ]; then
	pass "make HAVE_CK=0 HAVE_ABSL=0 HAVE_TBB=0 CXX=false builds pvlock-bench"
else
	fail "make without peers" "exit $rc: $(echo "$out" | grep -m3 -iE 'error|fatal')"
	exit 0
fi
lines=$(echo "$out" | grep -c 'pvlock-bench: optional peers left out:')
if [ "$lines" -eq 1 ] && echo "$out" | grep -q 'ck-ticket.*absl-mutex.*tbb-queuing'; then
	pass "make says in one line which peers it left out"
else
	fail "left-out line" "expected one line naming ck, absl and tbb peers, got $lines"
fi
built=$(echo "$out" | grep -v 'optional peers left out' | grep -m1 -E 'peers\.o|g\+\+|-lck|-ltbb|-labsl')
if [ -n "$built" ]; then
	fail "no peer build" "the build still compiled or linked a peer: $built"
else
	pass "nothing of CK, absl, TBB or C++ in the build"
fi
if "$bench" --help | grep -qE '^  (ck-|absl-|tbb-)'; then
	fail "--help" "lists a peer that was left out"
else
	pass "--help lists only the locks that were built"
fi
msg=$("$bench" --locks pv-queued,ck-mcs --threads 2 2>&1)
rc=$?
if [ $rc -eq 2 ] && [ "$(echo "$msg" | wc -l)" -eq 1 ] &&
   echo "$msg" | grep -q "'ck-mcs' was left out of this build (it needs libck-dev)"; then
	pass "asking for a left-out peer: one line naming the package"
else
	fail "left-out peer" "exit $rc: $msg"
fi
# --grace: a run that a loaded machine starves is slow, not a timeout.
run=$("$bench" --cpus 1 --locks pv-queued,mutex --threads 1,2 --duration 0.05 \
	--repeat 1 --grace 120 --quiet 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$run" | grep -q '^peers left out of this build: .*ck-ticket' &&
   echo "$run" | grep -qE '^2 +pv-queued'; then
	pass "a study runs without the peers and says which were left out"
else
	fail "study without peers" "exit $rc: $(echo "$run" | head -3)"
fi
