#!/usr/bin/env bash
# tests/programs/preload_run.sh - the pvlock-run wrapper and the preload library's
# environment: --help, --version, clear one-line errors, the program's exit
# status, the variables it sets, the pvlock-preload: report, bad values of
# PVLOCK_PRELOAD_LOCK / PVLOCK_MODE / PVLOCK_PRELOAD_REPORT, and the
# exported symbols.  Protocol of tests/run.sh.  About 2 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
RUN=build/bin/pvlock-run
LIB=build/lib/libpvlock-preload.so
failed=0
pass() { echo "PASS: pvlock-run: $1"; }
fail() { echo "FAIL: pvlock-run: $1: $2"; failed=1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-run.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

[ -x "$RUN" ] && [ -f "$LIB" ] || { fail "build" "$RUN or $LIB missing (make builds them)"; exit 1; }

out=$("$RUN" --help 2>&1); rc=$?
[ $rc -eq 0 ] && [[ "$out" == Usage:* ]] && [[ "$out" == *--lock* ]] && [[ "$out" == *--report* ]] &&
	pass "--help: usage on stdout, status 0" || fail "--help" "status $rc: $(head -2 <<<"$out")"
out=$("$RUN" --version 2>&1); rc=$?
[ $rc -eq 0 ] && [[ "$out" =~ ^pvlock-run\ \(pvlock\)\ [0-9]+\.[0-9]+\.[0-9]+$ ]] &&
	pass "--version: $out" || fail "--version" "status $rc: $out"

# Bad command lines: status 2, exactly one line on stderr naming the problem.
bad() {	# description expected-substring args...
	local what=$1 want=$2; shift 2
	"$RUN" "$@" >"$TMP/o" 2>"$TMP/e"; local rc=$?
	if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/e")" -eq 1 ] && grep -q -- "$want" "$TMP/e" && [ ! -s "$TMP/o" ]; then
		pass "$what: status 2, one line: $(cat "$TMP/e")"
	else
		fail "$what" "status $rc, stderr '$(tr '\n' '|' <"$TMP/e")'"
	fi
}
bad "no program" "no program" --report
bad "no program after --" "no program" --
bad "--lock bogus" "accepted values: queued, ticket, tas" --lock bogus -- true
bad "--mode=fast" "accepted values: pv, native" --mode=fast -- true
bad "--lock without a value" "needs a value" --lock
bad "unknown option" "unknown option \"--frobnicate\"" --frobnicate -- true

"$RUN" -- /nonexistent/program 2>"$TMP/e"; rc=$?
[ $rc -eq 127 ] && grep -q 'cannot run "/nonexistent/program"' "$TMP/e" &&
	pass "missing program: status 127, $(cat "$TMP/e")" || fail "missing program" "status $rc, $(cat "$TMP/e")"
"$RUN" -- sh -c 'exit 7'; rc=$?
[ $rc -eq 7 ] && pass "the program's exit status (7) is pvlock-run's" || fail "exit status" "got $rc, want 7"
{ "$RUN" -- sh -c 'kill -TERM $$'; rc=$?; } 2>/dev/null
[ $rc -eq 143 ] && pass "a program killed by SIGTERM: status 143, as without pvlock-run" ||
	fail "killed program" "got $rc, want 143"

# The environment it sets, and arguments passed through untouched.
out=$(LD_PRELOAD= "$RUN" --lock ticket --mode native --report sh -c \
	'echo "$LD_PRELOAD|$PVLOCK_PRELOAD_LOCK|$PVLOCK_MODE|$PVLOCK_PRELOAD_REPORT|$1|$2"' sh "a b" "--lock" 2>/dev/null)
want="$(readlink -f "$LIB")|ticket|native|1|a b|--lock"
[ "$out" = "$want" ] && pass "sets LD_PRELOAD (absolute), PVLOCK_PRELOAD_LOCK, PVLOCK_MODE, PVLOCK_PRELOAD_REPORT; passes arguments through" ||
	fail "environment" "got '$out', want '$want'"
other=$(readlink -f build/lib/libpvlock.so)
out=$(LD_PRELOAD=$other "$RUN" sh -c 'echo "$LD_PRELOAD"' 2>&1)
[ "$out" = "$other:$(readlink -f "$LIB")" ] &&
	pass "an existing LD_PRELOAD is kept, ours appended" || fail "existing LD_PRELOAD" "got '$out'"
out=$(cd /tmp && "$OLDPWD/$RUN" --version >/dev/null && "$OLDPWD/$RUN" sh -c 'echo "$LD_PRELOAD"' 2>&1)
[ "$out" = "$(readlink -f "$LIB")" ] && pass "finds the library from another directory (../lib beside itself)" ||
	fail "library lookup" "got '$out'"
PVLOCK_PRELOAD_LIB=/nonexistent.so "$RUN" true 2>"$TMP/e"; rc=$?
[ $rc -eq 2 ] && grep -q 'PVLOCK_PRELOAD_LIB=/nonexistent.so' "$TMP/e" &&
	pass "PVLOCK_PRELOAD_LIB naming no file: $(cat "$TMP/e")" || fail "PVLOCK_PRELOAD_LIB" "status $rc: $(cat "$TMP/e")"

# The report: one line per process that exits, counting what pvlock took.
# sort(1) with threads takes glibc mutexes and condvars (--parallel).
seq 200000 | sort -R --random-source=/dev/zero >"$TMP/in"
"$RUN" --report -- sort --parallel=4 -S 1M -n "$TMP/in" >"$TMP/sorted" 2>"$TMP/e"; rc=$?
line=$(grep '^pvlock-preload: ' "$TMP/e")
if [ $rc -eq 0 ] && [ "$(grep -c '^pvlock-preload: ' "$TMP/e")" -eq 1 ] && cmp -s "$TMP/sorted" <(seq 200000) &&
   [[ "$line" =~ mutexes\ [1-9][0-9]*\ pvlock ]] && [[ "$line" == *"queued lock, pv mode"* ]]; then
	pass "--report: sort --parallel=4 sorts right, one line: $line"
else
	fail "--report" "status $rc, line '$line', stderr $(head -3 "$TMP/e" | tr '\n' '|')"
fi
"$RUN" --lock tas --mode native --report -- true 2>"$TMP/e"
grep -q '^pvlock-preload: .*tas lock, native mode' "$TMP/e" &&
	pass "--lock tas --mode native reach the library: $(cat "$TMP/e")" || fail "lock and mode" "$(cat "$TMP/e")"
"$RUN" -- true 2>"$TMP/e"
[ ! -s "$TMP/e" ] && pass "no --report: nothing on stderr" || fail "quiet" "stderr: $(cat "$TMP/e")"

# Bad values in the library's variables: one line each, naming the variable
# and the accepted values; the program still runs with the default.
badenv() {	# var value expected
	env "$1=$2" LD_PRELOAD="$LIB" PVLOCK_PRELOAD_REPORT=1 sh -c 'exit 0' 2>"$TMP/e"; local rc=$?
	local lines; lines=$(grep -vc '^pvlock-preload: spinlocks' "$TMP/e")
	if [ $rc -eq 0 ] && [ "$lines" -eq 1 ] && grep -q "$1=\"$2\"" "$TMP/e" && grep -q "$3" "$TMP/e"; then
		pass "$1=$2: one line, default kept: $(grep -v '^pvlock-preload: spinlocks' "$TMP/e")"
	else
		fail "$1=$2" "status $rc, stderr: $(tr '\n' '|' <"$TMP/e")"
	fi
}
badenv PVLOCK_PRELOAD_LOCK mcs "accepted values: queued, ticket, tas (using the default, queued)"
badenv PVLOCK_MODE fast "accepted values: native, pv"
env PVLOCK_PRELOAD_REPORT=yes LD_PRELOAD="$LIB" sh -c 'exit 0' 2>"$TMP/e"
[ "$(wc -l <"$TMP/e")" -eq 1 ] && grep -q 'PVLOCK_PRELOAD_REPORT="yes".*accepted values: 0, 1' "$TMP/e" &&
	pass "PVLOCK_PRELOAD_REPORT=yes: $(cat "$TMP/e")" || fail "PVLOCK_PRELOAD_REPORT=yes" "$(tr '\n' '|' <"$TMP/e")"

# vfork: the child shares the parent's memory and runs no fork handler; its
# _exit must not print the parent's counts, nor stop the parent's line.
cat >"$TMP/vf.c" <<'C'
#include <pthread.h>
#include <unistd.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
int main(void)
{
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	if (vfork() == 0) {
		execl("/nonexistent", "x", (char *)0);
		_exit(127);
	}
	return 0;
}
C
if ${CC:-cc} -o "$TMP/vf" "$TMP/vf.c" -pthread 2>"$TMP/e"; then
	"$RUN" --report "$TMP/vf" 2>"$TMP/e"
	[ "$(grep -c '^pvlock-preload: ' "$TMP/e")" -eq 1 ] && grep -q 'mutexes 1 pvlock' "$TMP/e" && ! grep -q forked "$TMP/e" &&
		pass "vfork + _exit in the child: one report line, the parent's" ||
		fail "vfork" "stderr: $(tr '\n' '|' <"$TMP/e")"
else
	fail "vfork" "cannot compile the test program: $(head -2 "$TMP/e")"
fi

# Only the interposers are exported: pthread_*, _exit/_Exit (for the
# report), and the mapping calls that keep spin.c's cache of shared memory.
others=$(nm -D --defined-only "$LIB" | awk '{print $3}' | grep -v -E '^(pthread_.*|_exit|_Exit|mmap|mmap64|munmap|mremap|shmat|shmdt)$' | tr '\n' ' ')
[ -z "$others" ] && pass "the library exports only pthread_*, _exit, _Exit and the mapping calls" || fail "exports" "$others"

# make install puts both in PREFIX; the installed wrapper finds the
# installed library (../lib beside itself), and make uninstall removes them.
PREFIX=$TMP/prefix
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install PREFIX="$PREFIX" >"$TMP/install.log" 2>&1 &&
   [ -x "$PREFIX/bin/pvlock-run" ] && [ -f "$PREFIX/lib/libpvlock-preload.so" ]; then
	out=$(cd / && "$PREFIX/bin/pvlock-run" sh -c 'echo "$LD_PRELOAD"' && "$PREFIX/bin/pvlock-run" --report true 2>"$TMP/e")
	if [ "$out" = "$(readlink -f "$PREFIX/lib/libpvlock-preload.so")" ] && grep -q '^pvlock-preload: ' "$TMP/e"; then
		pass "make install: PREFIX/bin/pvlock-run runs programs on PREFIX/lib/libpvlock-preload.so"
	else
		fail "installed pvlock-run" "LD_PRELOAD '$out', stderr '$(cat "$TMP/e")'"
	fi
	if grep -q '^uninstall:' Makefile src/preload/rules.mk 2>/dev/null &&
	   env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s uninstall PREFIX="$PREFIX" >>"$TMP/install.log" 2>&1; then
		[ ! -e "$PREFIX/bin/pvlock-run" ] && [ ! -e "$PREFIX/lib/libpvlock-preload.so" ] &&
			pass "make uninstall removes pvlock-run and libpvlock-preload.so" ||
			fail "make uninstall" "left $(ls "$PREFIX/bin" "$PREFIX/lib" | tr '\n' ' ')"
	else
		fail "make uninstall" "failed: $(tail -3 "$TMP/install.log" | tr '\n' ' ')"
	fi
else
	fail "make install" "pvlock-run or libpvlock-preload.so not installed: $(tail -3 "$TMP/install.log" | tr '\n' ' ')"
fi

exit $failed
