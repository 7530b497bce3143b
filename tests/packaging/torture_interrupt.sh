#!/usr/bin/env bash
# tests/packaging/torture_interrupt.sh - pvlock-torture under Ctrl-C and SIGTERM,
# and --version.
#   * SIGINT to the orchestrating parent alone, mid-run: the child stops too
#     (no process of the run is left), the output ends with an INTERRUPTED
#     line after the RESULT lines of finished runs, and the exit status is 130;
#   * SIGTERM to a single run: INTERRUPTED line, exit status 143;
#   * --version names the version.
# Protocol of tests/run.sh.  About 10 s.  Each step waits for the state it
# needs (a finished run, a started run, the processes gone) instead of
# sleeping a fixed time, with 120 s as a hang detector: on a loaded machine
# a run of 1.5 s may not have finished after the 4 s the first step used to
# sleep, and a signal sent before a run installed its handler kills it
# silently.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=build/bin/pvlock-torture
failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-interrupt.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: torture interrupt: $1"; failed=1; }

want=$(awk '/#define PVLOCK_VERSION_(MAJOR|MINOR|PATCH)/ {printf "%s%s", sep, $3; sep="."}' include/pvlock.h)
if out=$("$BIN" --version) && [[ "$out" == "pvlock-torture $want"* ]]; then
	echo "PASS: torture interrupt: --version prints \"$out\""
else
	fail "--version printed \"${out:-}\", expected pvlock-torture $want"
fi

PATIENCE=120	# seconds: a hang detector

# wait_gone PID SECONDS: 0 once the process is gone
wait_gone() {
	for _ in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# wait_for PATTERN FILE PID: 0 once a line of FILE matches, 1 if PID ended
# or PATIENCE passed first.
wait_for() {
	for _ in $(seq $((PATIENCE * 10))); do
		grep -q -- "$1" "$2" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || { grep -q -- "$1" "$2" 2>/dev/null; return; }
		sleep 0.1
	done
	return 1
}

# 1. SIGINT to the parent alone, during its runs (each 1.5 s), once one
# has finished.
setsid "$BIN" --duration 1.5 --threads 4 >"$TMP/all.out" 2>&1 &
pid=$!
wait_for '^RESULT ' "$TMP/all.out" "$pid" ||
	fail "SIGINT: no run had finished after ${PATIENCE} s (or the parent ended first): $(tail -1 "$TMP/all.out")"
kill -INT "$pid"
if ! wait_gone "$pid" "$PATIENCE"; then
	fail "SIGINT: the parent still runs ${PATIENCE} s after SIGINT"
	kill -KILL -- -"$pid" 2>/dev/null
fi
wait "$pid"; status=$?
for _ in $(seq $((PATIENCE * 10))); do	# a child on its way out
	pgrep -s "$pid" >/dev/null || break
	sleep 0.1
done
left=$(pgrep -s "$pid" | tr '\n' ' ')
last=$(tail -1 "$TMP/all.out")
if [ -n "$left" ]; then
	fail "SIGINT to the parent left processes of the run behind: $left"
	kill -KILL $left 2>/dev/null
elif [ "$status" -ne 130 ]; then
	fail "SIGINT: exit status $status, expected 130; last line: $last"
elif [[ "$last" != INTERRUPTED:* ]]; then
	fail "SIGINT: the last line is not INTERRUPTED: $last"
elif ! grep -q '^RESULT .*: SUCCESS' "$TMP/all.out"; then
	fail "SIGINT: no RESULT line of a finished run before the interruption"
else
	echo "PASS: torture interrupt: SIGINT to the parent stops its child; \"$last\", status 130"
fi

# 2. SIGTERM to a single run, once it has started (its handler is in place
# before it prints its first line).
"$BIN" --lock queued --mode pv --duration 20 --threads 4 >"$TMP/one.out" 2>&1 &
pid=$!
wait_for '^pvlock-torture: lock' "$TMP/one.out" "$pid" ||
	fail "SIGTERM: the run had not started after ${PATIENCE} s"
kill -TERM "$pid"
wait_gone "$pid" "$PATIENCE" || { fail "SIGTERM: still running ${PATIENCE} s later"; kill -KILL "$pid"; }
wait "$pid"; status=$?
last=$(tail -1 "$TMP/one.out")
if [ "$status" -eq 143 ] && [[ "$last" == INTERRUPTED:* ]]; then
	echo "PASS: torture interrupt: SIGTERM ends a single run with \"$last\", status 143"
else
	fail "SIGTERM: exit status $status (expected 143), last line: $last"
fi
exit $failed
