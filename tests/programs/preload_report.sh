#!/usr/bin/env bash
# tests/programs/preload_report.sh - the preload's exit report (PVLOCK_PRELOAD_REPORT=1,
# pvlock-run --report; docs/preload.md, "The report"): one line per process
# the library is loaded into, however it leaves (exit, _exit, _Exit,
# returning from main), even if it took no lock; a forked child's line only
# if it counted something after the fork.  Protocol of tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
LIB=$PWD/build/lib/libpvlock-preload.so
failed=0
pass() { echo "PASS: preload report: $1"; }
fail() { echo "FAIL: preload report: $1: $2"; failed=1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-report.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

[ -f "$LIB" ] || { fail "build" "$LIB missing (make builds it)"; exit 1; }

# under: run a command with the preload and the report; stderr to $TMP/e.
under() { env LD_PRELOAD="$LIB" PVLOCK_PRELOAD_REPORT=1 "$@" 2>"$TMP/e"; }
lines() { grep -c '^pvlock-preload: spinlocks' "$TMP/e"; }
forked() { grep '^pvlock-preload: spinlocks' "$TMP/e" | grep -c 'forked)$'; }
show() { tr '\n' '|' <"$TMP/e"; }

# A shell that takes no lock and leaves through _exit.
under sh -c 'exit 42'; rc=$?
[ $rc -eq 42 ] && [ "$(lines)" -eq 1 ] && [ "$(forked)" -eq 0 ] &&
	pass "sh -c 'exit 42': status 42, one line: $(cat "$TMP/e")" ||
	fail "sh -c 'exit 42'" "status $rc, stderr: $(show)"

# Each way out of a program that takes no lock, and of forked children.
cat >"$TMP/ways.c" <<'C'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static void child(const char *how, int lock)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (lock) {
			pthread_mutex_lock(&m);
			pthread_mutex_unlock(&m);
		}
		if (strcmp(how, "exit") == 0)
			exit(0);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}
int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "return";
	if (argc > 2) {			/* forked children: idle ones, then busy ones */
		child("exit", 0);
		child("_exit", 0);
		child("exit", 1);
		child("_exit", 1);
	}
	if (strcmp(how, "exit") == 0)
		exit(3);
	if (strcmp(how, "_exit") == 0)
		_exit(3);
	if (strcmp(how, "_Exit") == 0)
		_Exit(3);
	return 3;
}
C
if ${CC:-cc} -o "$TMP/ways" "$TMP/ways.c" -pthread 2>"$TMP/e"; then
	for how in return exit _exit _Exit; do
		under "$TMP/ways" "$how"; rc=$?
		[ $rc -eq 3 ] && [ "$(lines)" -eq 1 ] && [ "$(forked)" -eq 0 ] &&
			pass "no lock, leaves by $how: one line" ||
			fail "no lock, leaves by $how" "status $rc, stderr: $(show)"
	done
	under "$TMP/ways" _exit children; rc=$?
	[ $rc -eq 3 ] && [ "$(lines)" -eq 3 ] && [ "$(forked)" -eq 2 ] &&
		[ "$(grep -c 'mutexes 1 pvlock.*forked)$' "$TMP/e")" -eq 2 ] &&
		pass "forked children: silent if idle (exit, _exit), a line each if they locked" ||
		fail "forked children" "status $rc, stderr: $(show)"
else
	fail "programs" "cannot compile the test program: $(head -2 "$TMP/e")"
fi

# Without the variable: nothing, whichever way out.
env LD_PRELOAD="$LIB" sh -c 'exit 0' 2>"$TMP/e"
[ ! -s "$TMP/e" ] && pass "no PVLOCK_PRELOAD_REPORT: nothing on stderr" ||
	fail "quiet" "stderr: $(show)"
exit $failed
