#!/usr/bin/env bash
# tests/system/bpf_stress.sh - the stress test and a short torture of every lock on
# the bpf backend, with every use of "who runs" switched on, so that each
# slow-path use also runs under overcommit and faults.  Root only (the
# program needs root, or CAP_BPF with CAP_PERFMON); skipped with the reason
# otherwise.  About 20 s.  Protocol of tests/run.sh.
set -u
cd "$(dirname "$0")/../.."
LOGS=build/test-logs/bpf_stress
mkdir -p "$LOGS"
failed=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: bpf stress: not root (the bpf backend needs root, or CAP_BPF with CAP_PERFMON)"
	exit 0
fi
if [ ! -e build/lib/libpvlock-bpf.so ]; then
	echo "SKIP: bpf stress: the bpf backend was not built (clang, bpftool or libbpf-dev missing)"
	exit 0
fi
export PVLOCK_BACKEND=bpf PVLOCK_PREEMPT_USES=wait-early,holder,skip PVLOCK_TICKET_KICK_AHEAD=1
probe=$(build/tests/backend_env --probe 2>&1)
if [ "${probe%% *}" != bpf ]; then
	echo "SKIP: bpf stress: the program does not load here: $probe"
	exit 0
fi

# The stress cases, each in its own process with its own program; pv mode
# only (PVLOCK_TEST_MODES): the native locks never ask the backend anything
# (only the pv slow paths wait, kick and ask who runs), so their cases here
# repeated make check's stress at their cost: at load 45-60 the native
# 16x-overcommit cases took 7-25 s each to drain, and the script ran past
# the 120 s watchdog.
if PVLOCK_TEST_MODES=pv build/tests/stress >"$LOGS/stress.log" 2>&1; then
	pass "bpf stress: every stress case on the bpf backend, all uses on ($(grep -c '^PASS' "$LOGS/stress.log") cases)"
else
	fail "bpf stress" "$(grep -m1 '^FAIL' "$LOGS/stress.log") (log: $LOGS/stress.log)"
fi

# A short torture of each lock; the steal counter shows the backend was live.
for case in "queued pv --signals --churn --stutter" "ticket pv --signals --churn --stutter" \
	    "tas pv --signals --churn" "queued pv --spin-threshold 256 --preempt 50 --signals" \
	    "ticket pv --spin-threshold 256 --preempt 20 --preempt-us 20"; do
	set -- $case
	lock=$1 mode=$2; shift 2
	name="bpf torture $lock/$mode ${*}"
	log="$LOGS/$(tr -c 'A-Za-z0-9\n' '_' <<<"$name").log"
	timeout -k 5 300 build/bin/pvlock-torture --threads 8 --duration 2 --lock "$lock" \
		--mode "$mode" --until preempt_steal_ns "$@" >"$log" 2>&1
	rc=$?
	steal=$(awk '$1 == "stat" && $2 == "preempt_steal_ns" { v = $3 } END { printf "%.0f", v + 0 }' "$log")
	if [ "$rc" -ne 0 ] || [ "$(tail -n 1 "$log")" != SUCCESS ]; then
		fail "$name" "exit $rc, last line: $(tail -n 1 "$log") (log: $log)"
	elif [ "$steal" -le 0 ]; then
		fail "$name" "preempt_steal_ns is 0: the bpf backend was not live (log: $log)"
	else
		pass "$name (steal of waiters: $((steal / 1000000)) ms)"
	fi
done
# The timeline tool: a short window, both kinds of rows drawn.  A window is
# 20 ms of wall time, and on a loaded machine the process may get no CPU in
# it at all (seen beside a TSan run: 0 lock events in every lane), so the
# verdict is by event: up to 5 windows, until one shows both kinds.
out=$LOGS/timeline
tl_ok=0 tl_ran=0
for attempt in 1 2 3 4 5; do
	if timeout 60 build/bin/pvlock-timeline --lock pv-queued --threads 4 --window-ms 20 \
		--output "$out" >"$LOGS/timeline.log" 2>&1 || [ -s "$out.dat" ]; then
		tl_ran=1
		if grep -q '0x2ca02c' "$out.dat" && grep -q '0x1f77b4' "$out.dat"; then
			tl_ok=1
			break
		fi
	fi
done
if [ "$tl_ok" -eq 1 ]; then
	pass "bpf timeline: running and holding intervals drawn ($(grep -c . "$out.dat") rectangles, window $attempt of up to 5)"
elif [ "$tl_ran" -eq 1 ]; then
	fail "bpf timeline" "no running or no holding interval in 5 windows; last: $out.dat"
else
	fail "bpf timeline" "pvlock-timeline failed (log: $LOGS/timeline.log)"
fi
[ "$failed" -eq 0 ]
