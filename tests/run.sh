#!/usr/bin/env bash
# tests/run.sh - run every check of `make check` and print one summary line.
#
# Protocol: each check (a program in build/tests/, a script tests/KIND/*.sh
# for KIND unit, system, programs, packaging, or models/check.sh) prints one
# line per case:
#     PASS: <case>            FAIL: <case>: <why>            SKIP: <case>: <why>
# Each check runs under a watchdog (timeout); a hang is a FAIL with a message.
# A check that exits non-zero without printing FAIL gets one FAIL line.
# The last line is "N passed, N failed" (", N skipped" when any were skipped).
set -u
cd "$(dirname "$0")/.."
LOG_DIR=build/test-logs
mkdir -p "$LOG_DIR"
# Seconds per check: a hang detector only, so generous.  A check's own time
# grows with the machine's load (stress: 12 s idle, 87 s at load 45-60 on
# the 2-core machines; freestanding: 9 s and 116 s), and each program's
# cases have their own watchdog (TEST_WATCHDOG_S in tests/lib/check.h),
# which must fire first so that the hang is named.
WATCHDOG=${PVLOCK_TEST_WATCHDOG:-600}
FILTER=${1:-}

pass=0 fail=0 skip=0
run_check() {	# name, command...
	local name=$1; shift
	local log="$LOG_DIR/$name.log"
	local start=$SECONDS rc
	timeout -k 5 "$WATCHDOG" "$@" >"$log" 2>&1
	rc=$?
	local p f s
	p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
	grep -E '^(FAIL|SKIP): ' "$log" | sed "s|^|  [$name] |"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "  [$name] FAIL: watchdog: still running after ${WATCHDOG}s (hang?); log: $log"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "  [$name] FAIL: exited with status $rc without a FAIL line; log: $log"
		f=$((f + 1))
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		echo "  [$name] FAIL: printed no PASS/FAIL/SKIP line; log: $log"
		f=$((f + 1))
	fi
	printf '%-28s %3d passed %3d failed %3d skipped  %4ds\n' "$name" "$p" "$f" "$s" $((SECONDS - start))
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

TEST_DIR=${PVLOCK_TEST_DIR:-build/tests}
PROGRAMS_ONLY=${PVLOCK_TEST_PROGRAMS_ONLY:-}
for t in "$TEST_DIR"/*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	[ -n "$FILTER" ] && [[ "$n" != *$FILTER* ]] && continue
	run_check "$n" "$t"
done
for s in tests/unit/*.sh tests/system/*.sh tests/programs/*.sh tests/packaging/*.sh; do
	[ -n "$PROGRAMS_ONLY" ] && break
	[ -f "$s" ] || continue
	n=$(basename "$s" .sh)
	[ -n "$FILTER" ] && [[ "$n" != *$FILTER* ]] && continue
	run_check "$n" bash "$s"
done
if [ -z "$PROGRAMS_ONLY" ] && [ -f models/check.sh ]; then
	if [ -z "$FILTER" ] || [[ models == *$FILTER* ]]; then
		# CPU-bound (spin, gcc, pan): 83 s idle, 231 s with 3 busy
		# loops (574 s one check at a time), so a hang detector far above.
		WATCHDOG=${PVLOCK_MODEL_WATCHDOG:-1800} run_check models bash models/check.sh
	fi
fi

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
