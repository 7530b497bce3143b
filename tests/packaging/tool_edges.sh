#!/usr/bin/env bash
# tests/packaging/tool_edges.sh - the tools' edges: pvlock-timeline's --help,
# --version and bad values (one line naming the option and the value, exit
# 2; --cpus beyond the CPUs it may use; an --output that cannot be written,
# refused before anything is measured); pvlock-bench interrupted without
# --output does not suggest --resume (which needs --output); an empty
# PVLOCK_PREEMPT_USES is one line, like any bad value; pvlock-run --help
# says what the ticket lock costs under overcommit.
# Protocol of tests/run.sh.  About 5 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
failed=0
pass() { echo "PASS: tool edges: $1"; }
fail() { echo "FAIL: tool edges: $1: $2"; failed=1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-edges.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
CC=${CC:-cc}

# ---- pvlock-timeline -----------------------------------------------------------
TL=$PWD/build/bin/pvlock-timeline
if [ ! -x "$TL" ]; then
	fail "pvlock-timeline" "$TL is not built (make builds it)"
else
	out=$("$TL" --help 2>"$TMP/e"); rc=$?
	[ $rc -eq 0 ] && [[ "$out" == usage:* ]] && [[ "$out" == *--cpus* ]] && [ ! -s "$TMP/e" ] &&
		pass "pvlock-timeline --help: usage on stdout, status 0" ||
		fail "pvlock-timeline --help" "status $rc: $(head -1 <<<"$out") $(cat "$TMP/e")"
	out=$("$TL" --version 2>&1); rc=$?
	[ $rc -eq 0 ] && [[ "$out" =~ ^pvlock-timeline\ [0-9]+\.[0-9]+\.[0-9]+\ \(pvlock\ [0-9.]+\)$ ]] &&
		pass "pvlock-timeline --version: $out" || fail "pvlock-timeline --version" "status $rc: $out"

	# bad(description, expected substring, args...): status 2, one line on
	# stderr, nothing on stdout (nothing was measured).
	bad() {
		local what=$1 want=$2; shift 2
		# In $TMP: a run that went ahead writes its default timeline.* there.
		(cd "$TMP" && timeout 120 "$TL" "$@" >"$TMP/o" 2>"$TMP/e"); local rc=$?
		if [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/e")" -eq 1 ] && grep -qF -- "$want" "$TMP/e" &&
		   [ ! -s "$TMP/o" ]; then
			pass "pvlock-timeline $what: status 2, one line: $(cat "$TMP/e")"
		else
			fail "pvlock-timeline $what" "status $rc, stderr '$(tr '\n' '|' <"$TMP/e")', stdout '$(head -c 200 "$TMP/o")'"
		fi
	}
	cpus=$(nproc)
	bad "--cpus $((cpus + 1))" "--cpus: bad value '$((cpus + 1))': expected an integer from 1 to $cpus" \
		--cpus $((cpus + 1))
	bad "--cpus 0" "--cpus: bad value '0'" --cpus 0
	bad "--threads x" "--threads: bad value 'x': expected an integer from 1 to 64" --threads x
	bad "--threads 65" "--threads: bad value '65'" --threads 65
	bad "--window-ms=5000" "--window-ms: bad value '5000': expected an integer from 1 to 1000" --window-ms=5000
	bad "--lock bogus" "--lock: bad value 'bogus': expected pv-queued, pv-ticket" --lock bogus
	bad "--threads without a value" "--threads: missing value" --threads
	bad "an unknown option" "unknown option '--frobnicate'" --frobnicate
	bad "an unwritable --output" "--output: cannot write $TMP/missing/tl.dat" --output "$TMP/missing/tl"
fi

# ---- pvlock-bench interrupted without --output ---------------------------------------
BENCH=build/bin/pvlock-bench
if [ ! -x "$BENCH" ]; then
	fail "pvlock-bench" "$BENCH is not built (make builds it)"
else
	# Interrupted once its first run is reported (an event, not a time);
	# 120 s only as a hang detector.
	"$BENCH" --cpus 1 --locks pv-queued,mutex --threads 2,4 --duration 0.2 --repeat 4 \
		--grace 120 >"$TMP/bo" 2>"$TMP/be" &
	pid=$!
	for _ in $(seq 1 2400); do
		grep -q '^\[ *1/' "$TMP/be" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	kill -INT $pid 2>/dev/null
	wait $pid
	rc=$?
	if [ $rc -ne 130 ]; then
		fail "pvlock-bench interrupted" "exit $rc, want 130: $(tail -2 "$TMP/be" | tr '\n' '|')"
	elif grep -q -- '--resume continues' "$TMP/bo" "$TMP/be"; then
		fail "pvlock-bench interrupted without --output" "suggests --resume, which needs --output: $(grep -h -- --resume "$TMP/bo" "$TMP/be" | tr '\n' '|')"
	elif grep -q '^INCOMPLETE: .*--output DIR' "$TMP/bo" &&
	     grep -q 'interrupted by SIGINT.*--output DIR' "$TMP/be"; then
		pass "pvlock-bench interrupted without --output: table and stderr point to --output, not a bare --resume"
	else
		fail "pvlock-bench interrupted without --output" "stdout '$(grep INCOMPLETE "$TMP/bo")', stderr '$(grep interrupted "$TMP/be")'"
	fi
fi

# ---- PVLOCK_PREEMPT_USES="" (read where pvlock_backend() lives) --------------------
printf '#include <pvlock.h>\n#include <stdio.h>\nint main(void) { return puts(pvlock_backend()) < 0; }\n' >"$TMP/p.c"
if ! $CC -std=gnu11 -Iinclude -o "$TMP/p" "$TMP/p.c" build/lib/libpvlock.a -pthread >"$TMP/cc.log" 2>&1; then
	fail "PVLOCK_PREEMPT_USES probe" "does not build: $(head -2 "$TMP/cc.log" | tr '\n' ' ')"
else
	for v in "" "holder"; do
		PVLOCK_PREEMPT_USES=$v "$TMP/p" >/dev/null 2>"$TMP/e"; rc=$?
		if [ -z "$v" ]; then
			[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/e")" -eq 1 ] &&
			grep -qF 'pvlock: PVLOCK_PREEMPT_USES="" is not valid; accepted: none, default' "$TMP/e" &&
				pass "PVLOCK_PREEMPT_USES=\"\": one line, like any bad value: $(cat "$TMP/e")" ||
				fail "PVLOCK_PREEMPT_USES=\"\"" "status $rc, stderr '$(tr '\n' '|' <"$TMP/e")'"
		else
			[ $rc -eq 0 ] && [ ! -s "$TMP/e" ] &&
				pass "PVLOCK_PREEMPT_USES=holder: accepted silently" ||
				fail "PVLOCK_PREEMPT_USES=holder" "status $rc, stderr '$(cat "$TMP/e")'"
		fi
	done
fi

# ---- pvlock-run --help: the ticket lock under overcommit ------------------------------
out=$(build/bin/pvlock-run --help 2>&1)
if grep -q 'ticket can run far slower than' <<<"$out" && grep -q 'threads outnumber CPUs: see pvlock(3)' <<<"$out"; then
	pass "pvlock-run --help: --lock ticket's cost under overcommit, pointing to pvlock(3)"
else
	fail "pvlock-run --help" "no word on the ticket lock under overcommit: $(grep -A2 -- --lock <<<"$out" | tr '\n' '|')"
fi

exit $failed
