#!/usr/bin/env bash
# tests/system/torture_short.sh - a short pvlock-torture of every lock in both modes,
# the fault injections (each shown to reach its path through the printed lock
# statistics) and the negative controls, which the tool must report as
# FAILURE.  Protocol of tests/run.sh: PASS:/FAIL: lines, non-zero exit if any
# case failed.  About 45 s in all.
#
# No verdict depends on the machine's speed or load: each fault-injection run
# goes on past its 2 s until the counters show its path (--until; a loaded
# machine gets less done per second), and the tool's stall watchdog counts
# the run's CPU time, not the clock (docs/torture.md).
set -u
cd "$(dirname "$0")/../.."
TOOL=${PVLOCK_TORTURE:-build/bin/pvlock-torture}	# override: test another build
LOGS=build/test-logs/torture_short
DUR=${TORTURE_SHORT_SECONDS:-2}
mkdir -p "$LOGS"
failed=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }

if [ ! -x "$TOOL" ]; then
	fail "build" "$TOOL is missing (make build/bin/pvlock-torture)"
	exit 1
fi

# run NAME ARGS...: run the tool (8 threads: 4x overcommit on 2 cores),
# leaving its output in $LOGS/NAME.log, its exit status in $rc and its last
# line in $last.  The timeout only guards the guard: the tool's own watchdog
# ends every run (at most --until-max 60 s past its duration, and its hang
# limits beyond that).
run() {
	local name=$1; shift
	log="$LOGS/$(tr -c 'A-Za-z0-9\n' '_' <<<"$name").log"
	timeout -k 5 $((DUR + 300)) "$TOOL" --threads 8 --duration "$DUR" "$@" >"$log" 2>&1
	rc=$?
	last=$(tail -n 1 "$log")
}

# stat NAME / fault NAME: a counter from the last run's report (0 if absent).
stat() { awk -v n="$1" '$1 == "stat" && $2 == n { v = $3 } END { print v + 0 }' "$log"; }
fault() { awk -v n="$1" '$1 == "fault" && $2 == n { v = $3 } END { print v + 0 }' "$log"; }

# expect_success NAME ARGS...: the run must end in SUCCESS with status 0.
expect_success() {
	local name=$1
	run "$@"
	if [ "$rc" -ne 0 ] || [ "$last" != SUCCESS ]; then
		fail "$name" "exit $rc, last line: $last (log: $log)"
		return 1
	fi
	return 0
}

# check NAME DESCRIPTION CONDITION...: after a successful run, the condition
# (an arithmetic test over counters) shows the injected path was reached.
check() {
	local name=$1 what=$2; shift 2
	if "$@"; then
		pass "$name"
	else
		fail "$name" "$what was not reached (log: $log)"
	fi
}
gt() { [ "$1" -gt "$2" ]; }

# --- every real lock in both modes, with torture on top ---------------------
for case in \
	"queued native --signals --churn" \
	"queued pv --signals --signal-depth 3 --churn --stutter" \
	"ticket native --signals --stutter" \
	"ticket pv --signals --churn --stutter" \
	"tas native --churn --stutter" \
	"tas pv --signals --signal-depth 2 --churn"; do
	set -- $case
	lock=$1 mode=$2; shift 2
	name="$lock/$mode ${*:-plain}"
	expect_success "$name" --lock "$lock" --mode "$mode" "$@" && pass "$name"
done

# --- fault injection: each must reach the path it targets -------------------
# A low spin threshold makes pv waiters sleep often, so the paths are hot.
PV="--mode pv --spin-threshold 256"

n="queued/pv spurious wake-ups"
expect_success "$n" --lock queued $PV --spurious-wakeup 30 \
	--until 'spurious_wakeups,pv_spurious_wakeup|pv_wait_again' &&
	check "$n" "a spurious wake-up of a queued waiter or head (pv_spurious_wakeup, pv_wait_again)" \
		gt $(( $(fault spurious_wakeups) > 0 ? $(stat pv_spurious_wakeup) + $(stat pv_wait_again) : 0 )) 0

n="ticket/pv spurious wake-ups"
expect_success "$n" --lock ticket $PV --spurious-wakeup 30 --signals \
	--until 'ticket_wait,spurious_wakeups' &&
	check "$n" "an injected spurious wake-up of a ticket waiter" \
		gt $(( $(stat ticket_wait) > 0 ? $(fault spurious_wakeups) : 0 )) 0

n="queued/pv delayed kicks"
expect_success "$n" --lock queued $PV --kick-delay-us 200 --signals \
	--until 'pv_kick_unlock,kicks_delayed' &&
	check "$n" "a delayed unlock kick (pv_kick_unlock, kicks_delayed)" \
		gt $(( $(stat pv_kick_unlock) > 0 ? $(fault kicks_delayed) : 0 )) 0

n="ticket/pv delayed kicks"
expect_success "$n" --lock ticket $PV --kick-delay-us 200 --churn \
	--until 'ticket_kick,kicks_delayed' &&
	check "$n" "a delayed ticket kick (ticket_kick, kicks_delayed)" \
		gt $(( $(stat ticket_kick) > 0 ? $(fault kicks_delayed) : 0 )) 0

n="queued/pv tiny hash table"
expect_success "$n" --lock queued $PV --hash-lines 1 --locks 4 --until 'pv_hash_hops>pv_hash_ops' &&
	check "$n" "a hash collision (pv_hash_hops > pv_hash_ops)" \
		gt "$(stat pv_hash_hops)" "$(stat pv_hash_ops)"

# With signals waking sleeping heads, this case caught (in about half its
# runs) a head re-hashing while its unlocker was preempted between removing
# the entry and releasing the lock, which stranded a stale hash entry.
n="queued/pv preemption points"
expect_success "$n" --lock queued $PV --preempt 50 --signals --stutter --until preemptions &&
	check "$n" "an injected preemption" gt "$(fault preemptions)" 0

n="ticket/pv preemption points"
expect_success "$n" --lock ticket $PV --preempt 20 --preempt-us 20 --until preemptions &&
	check "$n" "an injected preemption" gt "$(fault preemptions)" 0

n="queued/pv few slots"
expect_success "$n" --lock queued $PV --slots 3 --churn --signals --until lock_no_node &&
	check "$n" "a slow path without a slot (lock_no_node)" gt "$(stat lock_no_node)" 0

n="ticket/pv few slots"
expect_success "$n" --lock ticket $PV --slots 3 --churn --until ticket_no_record &&
	check "$n" "a ticket wait without a record (ticket_no_record)" gt "$(stat ticket_no_record)" 0

# --- negative controls: the tool must call these FAILURE --------------------
# expect_failure NAME PATTERN ARGS...: exit 1 and a final FAILURE line that
# matches PATTERN (the right detector fired).
expect_failure() {
	local name=$1 pattern=$2; shift 2
	run "$name" "$@"
	if [ "$rc" -eq 1 ] && [[ "$last" == FAILURE:* ]] && grep -q -- "$pattern" <<<"$last"; then
		pass "$name (the tool reported: ${last#FAILURE: })"
	else
		fail "$name" "expected exit 1 and FAILURE: ...$pattern...; got exit $rc, last line: $last (log: $log)"
	fi
}
expect_failure "negative control: busted lock" "mutual exclusion violated" --lock busted --mode pv
expect_failure "negative control: queued/pv dropped kicks" "stall" \
	--lock queued --mode pv --drop-kicks --stall 2
expect_failure "negative control: ticket/pv dropped kicks" "stall" \
	--lock ticket --mode pv --drop-kicks --stall 2

# --- the command line -------------------------------------------------------
err=$("$TOOL" --threads lots 2>&1 >/dev/null); rc=$?
if [ "$rc" -eq 2 ] && grep -q -- "--threads.*lots.*expected" <<<"$err"; then
	pass "cli: a bad value is one clear error, exit 2"
else
	fail "cli: a bad value is one clear error, exit 2" "exit $rc: $err"
fi
if "$TOOL" --help | grep -q -- "--drop-kicks"; then
	pass "cli: --help documents the options"
else
	fail "cli: --help documents the options" "no --drop-kicks in --help"
fi

[ "$failed" -eq 0 ]
