#!/bin/bash
# models/check.sh: exhaustively check the SPIN models of pvlock and make sure
# every mutant (one of Linux's pv-spinlock races, docs/design.md, or an ordering too
# weak for M5's memory model) is rejected.
#
# Output: one line per check, "PASS: ..." or "FAIL: ...: reason".
# Exit status 0 iff there is no FAIL line.
# Works from any directory; builds in a temporary directory (removed at
# exit) and never writes into the source tree.
#
# Environment knobs: SPIN (default spin), CC (default gcc),
# PAN_CPU_LIMIT (CPU seconds per pan run, default 300; PAN_TIMEOUT is the
# old name), MEMLIM (MB, default 4096), DEPTH (pan -m, default 1000000),
# MODEL_JOBS (checks run at once, default: the CPUs this process may use).
#
# No verdict depends on the machine's speed or load: a pan run is bounded
# by the CPU time it used (ulimit -t), not by the clock, so a search that
# a loaded machine runs slowly is not cut short; run.sh's watchdog is the
# hang detector.  (The script takes 83 s idle; it ran past run.sh's old
# 400 s watchdog at load 30-60, and took 574 s with three busy loops.)  The
# checks are independent and each mostly compiles pan.c, so they run
# MODEL_JOBS at a time (231 s with the same three loops); the lines are
# printed in the order below.

set -u

MODELS_DIR=$(cd "$(dirname "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-gcc}
PAN_CPU_LIMIT=${PAN_CPU_LIMIT:-${PAN_TIMEOUT:-300}}
MODEL_JOBS=${MODEL_JOBS:-$(nproc 2>/dev/null || echo 1)}
MEMLIM=${MEMLIM:-4096}
DEPTH=${DEPTH:-1000000}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-models.XXXXXX") || {
	echo "FAIL: setup: mktemp -d failed"; exit 1; }
trap 'rm -rf "$TMP"' EXIT

seq=0

# Each check runs in a subshell of its own (see run_check): these print its
# one line, which the end of the script collects and counts.
fail() { echo "FAIL: $*"; }
pass() { echo "PASS: $*"; }

for tool in "$SPIN" "$CC"; do
	command -v "$tool" >/dev/null 2>&1 || { fail "setup: $tool not found"; exit 1; }
done

# build_and_run MODEL "SPIN_DEFINES" "CC_FLAGS" "PAN_FLAGS"
# Sets WORK (the run directory: $TMP/run$seq, seq set by run_check),
# RC (pan exit status; CPU_OUT: it used up PAN_CPU_LIMIT), OUT (pan output
# file), BUILD_ERR (non-empty if spin/gcc failed).
build_and_run() {
	local model=$1 sdefs=$2 ccflags=$3 panflags=$4
	WORK="$TMP/run$seq"
	BUILD_ERR=""
	RC=0
	mkdir -p "$WORK"
	# The model and the parts it includes: every file named like it up to
	# the first _ (m1_pv_qspinlock.pml includes m1_pv_hooks.pml, ...).
	cp "$MODELS_DIR/${model%%_*}"_*.pml "$WORK/" || { BUILD_ERR="cannot copy $model"; return; }
	# spin runs the C preprocessor, so -D flags select variants/mutants
	# shellcheck disable=SC2086
	if ! (cd "$WORK" && "$SPIN" $sdefs -a "$model" >spin.log 2>&1); then
		BUILD_ERR="spin -a failed: $(head -3 "$WORK/spin.log" | tr '\n' ' ')"
		return
	fi
	# shellcheck disable=SC2086
	# -O2 unless the caller chose a level (small runs use -O0: compiling
	# pan.c at -O2 costs more than the whole search)
	local opt="-O2"
	case " $ccflags " in *" -O"*) opt="" ;; esac
	if ! (cd "$WORK" && "$CC" -w $opt -DMEMLIM="$MEMLIM" $ccflags -o pan pan.c >cc.log 2>&1); then
		BUILD_ERR="gcc failed: $(head -3 "$WORK/cc.log" | tr '\n' ' ')"
		return
	fi
	OUT="$WORK/pan.out"
	# shellcheck disable=SC2086
	# SIGXCPU at the soft limit (pan does not catch it), SIGKILL at the hard.
	(cd "$WORK" && ulimit -S -t "$PAN_CPU_LIMIT" && ulimit -H -t $((PAN_CPU_LIMIT + 10)) &&
		exec ./pan -m$DEPTH $panflags >pan.out 2>&1) 2>/dev/null
	RC=$?
	CPU_OUT=""
	[ "$RC" -eq $((128 + $(kill -l XCPU))) ] || [ "$RC" -eq $((128 + $(kill -l KILL))) ] && CPU_OUT=1
}

# stats: "N states, depth D, T s"
stats() {
	local st dp tm
	st=$(grep -m1 'states, stored' "$OUT" | awk '{print $1}')
	dp=$(grep -m1 'depth reached' "$OUT" | sed -E 's/.*depth reached ([0-9]+).*/\1/')
	tm=$(grep -m1 'pan: elapsed time' "$OUT" | sed -E 's/pan: elapsed time ([0-9.e+]+).*/\1/')
	echo "${st:-?} states, depth ${dp:-?}, ${tm:-?} s"
}

# truncated: prints a reason if the search was not exhaustive
truncated() {
	if grep -q 'too small' "$OUT"; then echo "search depth truncated (-m too small)"; return; fi
	if grep -q 'reached -DMEMLIM' "$OUT"; then echo "out of memory (MEMLIM=$MEMLIM MB)"; return; fi
	if grep -q 'out of memory' "$OUT"; then echo "out of memory"; return; fi
	if grep -q 'Search not completed' "$OUT"; then echo "search not completed"; return; fi
	echo ""
}

# check_model LABEL DESCRIPTION MODEL "SPIN_DEFINES" "CC_FLAGS" "PAN_FLAGS"
# Expects an exhaustive search with no error.
check_model() {
	local label=$1 desc=$2
	build_and_run "$3" "$4" "$5" "$6"
	if [ -n "$BUILD_ERR" ]; then fail "model $label $desc: $BUILD_ERR"; return; fi
	if [ -n "$CPU_OUT" ]; then fail "model $label $desc: no result in ${PAN_CPU_LIMIT} CPU seconds"; return; fi
	local why
	why=$(truncated)
	if [ -n "$why" ]; then fail "model $label $desc: $why"; return; fi
	if ! grep -q 'errors: 0$' "$OUT"; then
		local err
		err=$(grep -m1 -E '^pan:[0-9]+:' "$OUT")
		fail "model $label $desc: spin found: ${err:-pan exit $RC, no 'errors: 0'}"
		return
	fi
	if [ "$RC" -ne 0 ]; then fail "model $label $desc: pan exit status $RC"; return; fi
	pass "model $label $desc [$(stats)]"
}

# check_mutant LABEL "EXPECTED_REGEX" MEANING MODEL "SPIN_DEFINES" "CC_FLAGS" "PAN_FLAGS"
# Expects pan to find an error whose first report matches EXPECTED_REGEX.
check_mutant() {
	local label=$1 expect=$2 meaning=$3
	build_and_run "$4" "$5" "-O0 $6" "$7"
	if [ -n "$BUILD_ERR" ]; then fail "mutant $label: $BUILD_ERR"; return; fi
	if [ -n "$CPU_OUT" ]; then fail "mutant $label: ${PAN_CPU_LIMIT} CPU seconds without finding the bug"; return; fi
	if grep -q 'errors: 0$' "$OUT"; then
		local why
		why=$(truncated)
		if [ -n "$why" ]; then
			fail "mutant $label: $why, bug not found [$(stats)]"
			return
		fi
		fail "mutant $label accepted: spin found no error [$(stats)]"
		return
	fi
	local err
	err=$(grep -m1 -E '^pan:[0-9]+:' "$OUT" | sed -E 's/^pan:[0-9]+: *//; s/ \(at depth [0-9]+\)//')
	if [ -z "$err" ]; then fail "mutant $label: pan failed without an error report (exit $RC)"; return; fi
	if ! printf '%s\n' "$err" | grep -qE -- "$expect"; then
		fail "mutant $label: rejected for the wrong reason: $err"
		return
	fi
	pass "mutant $label rejected (spin found: $err = $meaning)"
}

# run_check check_model|check_mutant ARGS...: in the background, at most
# MODEL_JOBS at a time; its line goes to $TMP/result.N, N in script order.
run_check() {
	seq=$((seq + 1))
	while [ "$(jobs -rp | wc -l)" -ge "$MODEL_JOBS" ]; do
		wait -n
	done
	("$@" >"$TMP/result.$seq" 2>&1) &
}

SAFE="-DSAFETY"
SAFE0="-O0 -DSAFETY"     # for state spaces small enough that -O2 does not pay
NP="-DNP"
NPRUN="-l -f"

start=$(date +%s)

# ---------------------------------------------------------------- M1
M=m1_pv_qspinlock.pml
run_check check_model M1 "safety (mutual exclusion, assertions, end states, hash invariant; 3 threads x 2 acquisitions, 2 colliding locks)" \
	$M "" "$SAFE" "-w26"
run_check check_model M1 "progress (non-progress cycles, weak fairness; 2 threads looping forever)" \
	$M "-DNTHR=2 -DACQ=0" "$NP" "$NPRUN"
run_check check_mutant M1-rehash-on-notice 'assertion violated .*hnode\[0\]==\(me\+1\)' \
	"stale hash entry: head re-hashed before the slow unlocker's release, which overwrote its SLOW" \
	$M "-DREHASH_ON_NOTICE -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-rehash-on-notice-hang 'invalid end state' \
	"lost wake-up: a later slow unlock removes the stale entry and kicks the wrong thread" \
	$M "-DREHASH_ON_NOTICE -DNO_MONITOR" "$SAFE" "-A"
run_check check_mutant M1-double-hash 'assertion violated +!\(\(\(hlock\[0\]==\(L\+1\)\)' \
	"double hash: a second hash entry for the same lock" \
	$M "-DMUTANT_DOUBLE_HASH -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-no-unhash-notice-rehash 'assertion violated +!\(\(\(hlock\[0\]==\(L\+1\)\)' \
	"double hash variant: a second hash entry for the same lock ('still hashed?' guessed from the lock word)" \
	$M "-DMUTANT_NO_UNHASH_NOTICE_REHASH -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-slow-before-hash 'assertion violated \(\(ent\+1\)<2\)' \
	"slow flag before hash entry: unlock saw SLOW and probed the whole table without finding an entry" \
	$M "-DMUTANT_SLOW_BEFORE_HASH -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-slow-before-hash-invariant 'assertion violated .*lk\[0\]!=3' \
	"slow flag before hash entry: invariant 'SLOW => hash entry exists' broken" \
	$M "-DMUTANT_SLOW_BEFORE_HASH" "$SAFE" ""
run_check check_mutant M1-release-before-unhash 'assertion violated +!\(\(\(hlock\[0\]==\(L\+1\)\)' \
	"release before unhash: a new head hashed the lock while the old entry was still there" \
	$M "-DMUTANT_RELEASE_BEFORE_UNHASH -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-steal-test-then-set 'assertion violated \(incs\[L\]==1\)' \
	"two owners: a stealer read the byte free and stored LOCKED over the queue head that took it meanwhile" \
	$M "-DMUTANT_STEAL_TEST_THEN_SET -DNO_MONITOR" "$SAFE" ""

# The store kind of pv unlock (STORE_UNLOCK): release store, sleepers load,
# wake path; the head's membarrier drains every store buffer.  One lock, so
# that an unlocker delayed after its release meets the entry of a later head
# (a stranger's claim); bounded to keep the checks to seconds.
SU="-DSTORE_UNLOCK -DNLOCKS=1"
run_check check_model M1-store "safety, store-kind unlock (3 threads x 1 acquisition: stranger claims, no lost wake-up, no late notice)" \
	$M "$SU -DACQ=1" "$SAFE -DCOLLAPSE" ""
run_check check_model M1-store "safety, store-kind unlock (2 threads x 2 acquisitions)" \
	$M "$SU -DNTHR=2 -DACQ=2" "$SAFE -DCOLLAPSE" ""
run_check check_model M1-store "progress, store-kind unlock (2 threads looping forever)" \
	$M "$SU -DNTHR=2 -DACQ=0" "$NP" "$NPRUN"
run_check check_mutant M1-store-stranger-reached 'assertion violated \(hgen\[ent\]==mygen\)' \
	"a witness, not a bug: the safety check above covers stranger claims (an unlocker claimed the entry of a later head)" \
	$M "$SU -DACQ=1 -DREACH_STRANGER -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-store-no-membarrier 'invalid end state' \
	"lost wake-up: the unlocker read sleepers 0 before its release was visible; the head read the lock held and slept" \
	$M "$SU -DACQ=1 -DMUTANT_NO_MEMBARRIER -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-store-sleep-on-lock 'invalid end state' \
	"lost wake-up: the head slept on the locked byte; a stranger's claim kicked it before its token read, later unlocks found no entry" \
	$M "$SU -DACQ=1 -DMUTANT_SLEEP_ON_LOCK -DNO_MONITOR" "$SAFE" ""
run_check check_mutant M1-store-wake-reads-lock 'assertion violated \(relleft\[L\]>0\)' \
	"use after free: the wake path read the lock word after the last release of the lock" \
	$M "$SU -DACQ=1 -DMUTANT_WAKE_READS_LOCK -DNO_MONITOR" "$SAFE" ""

# ---------------------------------------------------------------- M2
M=m2_store_buffer_tso.pml
run_check check_model M2 "safety (no lost wake-up under TSO store buffers, relaxed CAS, both fences)" \
	$M "" "$SAFE0" ""
run_check check_model M2 "x86 control (LOCK CMPXCHG drains the buffer: kicker fence redundant on x86)" \
	$M "-DMUTANT_NO_KICKER_BARRIER -DX86_LOCKED_CAS" "$SAFE0" ""
run_check check_mutant M2-no-waiter-barrier 'invalid end state' \
	"lost wake-up: waiter's HALTED store still buffered, kicker's CAS saw RUNNING" \
	$M "-DMUTANT_NO_WAITER_BARRIER" "$SAFE" ""
run_check check_mutant M2-no-kicker-barrier 'invalid end state' \
	"kick-node ordering: lost wake-up, failed CAS did not order the locked=1 store" \
	$M "-DMUTANT_NO_KICKER_BARRIER" "$SAFE" ""

# ---------------------------------------------------------------- M3
M=m3_native_qspinlock.pml
run_check check_model M3 "safety (mutual exclusion, assertions, end states; 3 threads x 2 acquisitions)" \
	$M "" "$SAFE0" ""
run_check check_model M3 "progress (non-progress cycles, weak fairness; 3 threads looping forever)" \
	$M "-DNTHR=3 -DACQ=0" "$NP" "$NPRUN"
run_check check_mutant M3-clear-others-pending 'assertion violated \(incs==1\)' \
	"foreign pending bit: two owners (someone else's pending bit cleared)" \
	$M "-DMUTANT_CLEAR_OTHERS_PENDING" "$SAFE" ""
run_check check_mutant M3-keep-pending 'invalid end state' \
	"foreign pending bit: deadlock, the queue head waits forever for our pending bit" \
	$M "-DMUTANT_KEEP_PENDING" "$SAFE" ""
run_check check_mutant M3-claim-nonatomic 'invalid end state' \
	"orphaned waiter: tail checked then overwritten without CAS" \
	$M "-DMUTANT_CLAIM_NONATOMIC" "$SAFE" ""
run_check check_mutant M3-native-trylock-steal 'assertion violated' \
	"two owners: a trylock took the byte the queue head claims with a store" \
	$M "-DMUTANT_NATIVE_TRYLOCK_STEAL" "$SAFE" ""

# ---------------------------------------------------------------- M4
M=m4_pv_ticket.pml
run_check check_model M4 "safety (mutual exclusion, no lost kick, no access after final unlock, nested wait)" \
	$M "" "$SAFE0" ""
run_check check_model M4 "safety, T1 acquires twice" \
	$M "-DACQ=2" "$SAFE" ""
run_check check_model M4 "progress (non-progress cycles, weak fairness; 2 threads looping forever)" \
	$M "-DNP_CONFIG" "-O0 $NP" "$NPRUN"
run_check check_model M4 "starvation freedom of thread 0 (progress label only in T0)" \
	$M "-DNP_CONFIG -DPROGRESS_T0" "-O0 $NP" "$NPRUN"
run_check check_mutant M4-flag-after-recheck 'invalid end state' \
	"ticket flag after re-check: lost kick, unlock saw no FLAG" \
	$M "-DMUTANT_FLAG_AFTER_RECHECK" "$SAFE" ""
run_check check_mutant M4-shared-record 'invalid end state' \
	"ticket record overwrite: lost kick, nested wait overwrote the outer record" \
	$M "-DMUTANT_SHARED_RECORD" "$SAFE" ""
run_check check_mutant M4-unlock-reread 'assertion violated +!\(freed\[0\]\)' \
	"touch after release: unlock read the lock word after the last owner freed it" \
	$M "-DMUTANT_UNLOCK_REREAD" "$SAFE" ""

# ---------------------------------------------------------------- M5
# The same pv queued lock orderings under a weak memory model (stores
# visible out of program order, loads satisfied early, as ARMv8 and C11
# allow).  NOTICE_AND_ENTRY_RELAXED relaxes the unlocker's notice store and
# the hash entry's insert CAS and NULL stores together.
M=m5_weak_memory.pml
run_check check_model M5 "unhashed notice: head re-sleeps, weak memory (orderings as in src/algo)" \
	$M "-DSCENARIO_UNHASHED" "$SAFE0" ""
run_check check_model M5 "hash entry reuse by a second lock, weak memory (orderings as in src/algo)" \
	$M "-DSCENARIO_REUSE" "$SAFE0" ""
run_check check_mutant M5-notice-entry-relaxed-unhashed 'assertion violated +\(entry_lock!=1\)' \
	"notice and entry relaxed: head read the notice, then a locked byte older than SLOW, re-hashed; the release stranded its entry" \
	$M "-DSCENARIO_UNHASHED -DNOTICE_AND_ENTRY_RELAXED" "$SAFE" ""
run_check check_mutant M5-notice-entry-relaxed-reuse 'assertion violated +\(node==lid\)' \
	"notice and entry relaxed: an unlocker read the next lock's node from a reused entry and would kick the wrong slot" \
	$M "-DSCENARIO_REUSE -DNOTICE_AND_ENTRY_RELAXED" "$SAFE" ""
run_check check_mutant M5-unhashed-store-relaxed 'assertion violated +\(entry_lock!=1\)' \
	"notice stored relaxed: visible before the unlocker's SLOW, so the head re-hashed" \
	$M "-DSCENARIO_UNHASHED -DUNHASH_ST_RELAXED" "$SAFE" ""
run_check check_mutant M5-unhashed-load-relaxed 'assertion violated +\(entry_lock!=1\)' \
	"notice loaded relaxed: the locked-byte load was satisfied before it, so the head re-hashed" \
	$M "-DSCENARIO_UNHASHED -DUNHASH_LD_RELAXED" "$SAFE" ""
run_check check_mutant M5-insert-cas-relaxed 'assertion violated +\(node==lid\)' \
	"insert CAS relaxed: the new node store landed before the CAS, under the previous lock's remover" \
	$M "-DSCENARIO_REUSE -DINS_CAS_RELAXED" "$SAFE" ""
run_check check_mutant M5-remove-null-relaxed 'assertion violated +\(node==lid\)' \
	"remove's NULL store relaxed: performed before its node load, which then read the next lock's node" \
	$M "-DSCENARIO_REUSE -DREM_NULL_RELAXED" "$SAFE" ""

# The pv ticket lock's skip protocol (every backend): a waiter that does not
# run (asleep, or preempted as bpf tells) may have its turn passed over it,
# by its unlocker or by its successor, at most K times per acquisition; and
# kick-ahead.  (K = 2 passes too, in about 220 s of CPU: not run here.)
M=m6_ticket_skip.pml
run_check check_model M6 "skip protocol, K = 1, kick-ahead: mutual exclusion, no lost kick, no orphaned ticket, at most K skips (3 threads, tickets wrap)" \
	$M "-DACQ=1" "$SAFE" ""
run_check check_mutant M6-no-retire 'invalid end state|assertion violated' \
	"the waiter took its turn without retiring its claim: a skipper passed the same turn on" \
	$M "-DMUTANT_NO_RETIRE" "$SAFE" ""
run_check check_mutant M6-sleep-skipped 'invalid end state' \
	"lost kick: the waiter slept although skipped before it reset kicked" \
	$M "-DMUTANT_SLEEP_SKIPPED" "$SAFE" ""
run_check check_mutant M6-no-head-check 'assertion violated .*head.*==next' \
	"a skipper with a stale next (tickets wrapped) passed a turn that was not the current one" \
	$M "-DMUTANT_NO_HEAD_CHECK" "$SAFE" ""
run_check check_mutant M6-read-after-release 'assertion violated .*!=tail' \
	"the unlocker looked at head after its release, before owning a turn: the lock may be freed" \
	$M "-DMUTANT_READ_AFTER_RELEASE" "$SAFE" ""
run_check check_mutant M6-pass-release-only 'invalid end state' \
	"lost kick: a release-only pass_turn CAS let the waiter's reset of kicked land after the skipper's kick" \
	$M "-DMUTANT_PASS_RELEASE_ONLY" "$SAFE" ""
run_check check_mutant M6-retake-waiting 'assertion violated .*rskips' \
	"a skipped waiter retook its ticket WAITING, not FIRM after K skips: skipped more than K times" \
	$M "-DMUTANT_RETAKE_WAITING" "$SAFE" ""
run_check check_mutant M6-skip-left 'assertion violated|invalid end state' \
	"the claim ignored the record's state and generation: the turn of a waiter already done was passed on" \
	$M "-DMUTANT_SKIP_LEFT" "$SAFE" ""
run_check check_mutant M6-kick-ahead-only 'invalid end state' \
	"lost kick: the unlock woke the waiter after next instead of next" \
	$M "-DMUTANT_KICK_AHEAD_ONLY" "$SAFE" ""

wait
npass=0 nfail=0
for n in $(seq 1 "$seq"); do
	line=$(cat "$TMP/result.$n" 2>/dev/null)
	[ -n "$line" ] || line="FAIL: check $n of models/check.sh printed nothing"
	echo "$line"
	case $line in
	PASS:*) npass=$((npass + 1)) ;;
	*) nfail=$((nfail + 1)) ;;
	esac
done
end=$(date +%s)
echo "summary: $npass passed, $nfail failed, $((end - start)) s ($MODEL_JOBS at a time)"
[ "$nfail" -eq 0 ]
