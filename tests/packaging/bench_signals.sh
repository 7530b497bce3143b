#!/usr/bin/env bash
# tests/packaging/bench_signals.sh - pvlock-bench under Ctrl-C and kill: it stops its
# child run, writes what finished (table, CSV, JSON), says it was
# interrupted and after how many runs, and exits 128+signal; --resume then
# finishes the study from the journal.  --output naming a file is refused
# before any run starts.  The signal goes once two runs are in the journal,
# waited for with 120 s as a hang detector (it was 10 s, for a study at
# nice 19, which a loaded machine starves: it runs at an ordinary share of
# the CPU now, and with --grace 120 a starved run is slow, not a timeout).
# The study kills and reaps its child run before it exits, so no child may
# be found after it, whatever the load.
set -u
cd "$(dirname "$0")/../.."
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }
bench=build/bin/pvlock-bench
[ -x $bench ] || { fail "setup" "$bench is not built"; exit 0; }

tmp=$(mktemp -d /tmp/pvlock-benchsig.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
seed=$((700000 + RANDOM))	# marks this test's children for pgrep
study=(--cpus 1 --locks pv-queued,mutex --threads 2,4 --duration 0.2 --repeat 4
       --grace 120 --seed $seed --quiet)

# --output names a file: refused, one line, before any run.
touch "$tmp/file"
msg=$($bench "${study[@]}" --output "$tmp/file" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [ "$(echo "$msg" | wc -l)" -eq 1 ] &&
   echo "$msg" | grep -q "is a file, not a directory" && [ ! -e "$tmp/journal.txt" ]; then
	pass "--output naming a file is refused before any run"
else
	fail "--output file" "exit $rc: $msg"
fi

# interrupted(signal, expected status)
interrupted() {
	local sig=$1 want=$2 dir=$tmp/out-$1
	$bench "${study[@]}" --output "$dir" >"$tmp/stdout" 2>"$tmp/stderr" &
	local pid=$!
	# Wait until at least two runs are in the journal, then signal the study alone.
	local n=0
	for _ in $(seq 1 2400); do
		n=$(grep -c '^run ' "$dir/journal.txt" 2>/dev/null)
		[ "${n:-0}" -ge 2 ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	if [ "${n:-0}" -lt 2 ]; then
		fail "SIG$sig" "the study had not finished 2 runs after 120 s (${n:-0} in the journal)"
		kill -KILL $pid 2>/dev/null
		wait $pid
		return
	fi
	kill -"$sig" $pid
	wait $pid
	local rc=$?
	local line done
	line=$(grep -c 'interrupted by SIG' "$tmp/stderr")
	done=$(sed -n 's/.*interrupted by SIG[A-Z]* after \([0-9]*\) of 16 runs.*/\1/p' "$tmp/stderr")
	if [ $rc -eq "$want" ] && [ "$line" -eq 1 ] && [ -n "$done" ]; then
		pass "SIG$sig: exit $want and one line: $(cat "$tmp/stderr")"
	else
		fail "SIG$sig" "exit $rc (want $want), stderr: $(head -c 300 "$tmp/stderr")"
		return
	fi
	local rows=$(( $(wc -l <"$dir/runs.csv") - 1 ))
	if [ -s "$dir/table.txt" ] && [ -s "$dir/summary.csv" ] && [ -s "$dir/results.json" ] &&
	   [ "$rows" -eq "$done" ] && grep -q '"interrupted_by": "SIG' "$dir/results.json" &&
	   grep -q "^INCOMPLETE: $done of 16" "$tmp/stdout"; then
		pass "SIG$sig: table, CSV and JSON hold the $done finished runs"
	else
		fail "SIG$sig outputs" "runs.csv has $rows rows for $done runs, or a file is missing"
	fi
	sleep 0.2
	if pgrep -f -- "--seed $((seed))|--seed $((seed + 1))|--seed $((seed + 2))|--seed $((seed + 3))" >/dev/null; then
		fail "SIG$sig child" "a child run outlived the study"
	else
		pass "SIG$sig: no child run left behind"
	fi
}
interrupted INT 130
interrupted TERM 143

# The interrupted study resumes and completes from its journal.
$bench "${study[@]}" --output "$tmp/out-INT" --resume >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
runs=$(grep -c '^run ' "$tmp/out-INT/journal.txt")
if [ $rc -eq 0 ] && [ "$runs" -eq 16 ] && grep -q '^plus [0-9]* runs .* from earlier' "$tmp/stdout" &&
   [ "$(( $(wc -l <"$tmp/out-INT/runs.csv") - 1 ))" -eq 16 ]; then
	pass "--resume finishes the interrupted study: 16 runs in the journal and runs.csv"
else
	fail "--resume" "exit $rc, $runs runs in the journal: $(head -c 300 "$tmp/stderr")"
fi
