#!/usr/bin/env bash
# pvlock-preload-programs.sh - real programs (Debian packages nobody here
# wrote) under pvlock-run, against plain glibc.  docs/preload.md.
#
#   tools/pvlock-preload-programs.sh check
#       make check's bounded subset (tests/programs/preload_programs.sh): each program
#       once, small inputs; PASS/FAIL/SKIP lines.  A case passes when the
#       output under pvlock-run equals the plain run's and the
#       `pvlock-preload:` line shows pvlock handled its mutexes or condvars.
#   tools/pvlock-preload-programs.sh table [REPEATS]
#       the full set at 1x, 4x and 16x overcommit, REPEATS (default 3) runs
#       each, interleaved; every level is measured under the shared
#       measurement lock (flock /tmp/pvlock-bench.lock, a few minutes each);
#       writes docs/preload-results.md (PVLOCK_PRELOAD_LOCK_KIND=ticket or
#       tas: docs/preload-results-KIND.md), with its .csv files.
#   tools/pvlock-preload-programs.sh fastpath
#       instructions per uncontended lock+unlock and per signal without a
#       waiter, glibc against each pvlock kind (callgrind: repeatable, so
#       no measurement lock; --vgdb=no, since valgrind's gdb server maps a
#       shared page, and the preload's spinlocks cost more in a process
#       with shared mappings: docs/preload.md).
#
# Output "identical" means: the same bytes on stdout (compressed data and
# decompressed data byte for byte, SQL results) and the same stderr once the
# lines that differ between two plain runs are normalised (kccachetest's
# seed, times and memory; stress-ng's pids and run time).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RUN=${PVLOCK_PROGRAMS_RUN:-$ROOT/build/bin/pvlock-run}
LOCK=${PVLOCK_PRELOAD_LOCK_KIND:-queued}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pvlock-programs.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

# ---- inputs --------------------------------------------------------------------
# A text that compresses like real data, generated the same way every time.
make_input() {	# size-in-lines file
	awk -v n="$1" 'BEGIN { s = 12345; for (i = 0; i < n; i++) {
		s = (s * 1103515245 + 12345) % 2147483648;
		printf "%08d line %d of the input, value %d, word%d\n", i, i, s % 100000, s % 977 } }' >"$2"
}

sql_script() {	# threads rows
	cat <<SQL
PRAGMA threads=$1;
PRAGMA cache_size=200;
CREATE TABLE t(a INTEGER, b TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<$2)
INSERT INTO t SELECT (i*7919)%200003, printf('row%08d', (i*104729)%1000003) FROM c;
CREATE INDEX ta ON t(a);
CREATE INDEX tb ON t(b, a);
SELECT count(*), sum(a), min(b), max(b) FROM t;
SELECT a, b FROM t ORDER BY b DESC, a LIMIT 3 OFFSET 1000;
SELECT count(DISTINCT a) FROM t;
SQL
}

# ---- the workloads ---------------------------------------------------------------
# workload NAME THREADS SIZE: sets CMD (array), STDIN (file or /dev/null),
# NEED (package command) and NORM (sed script for stderr/stdout).
# xz and zstd get -T0 (one thread per CPU they may use) where T0=1: in the
# check and at 1x; elsewhere -TN, to overcommit.
workload() {
	local name=$1 th=$2 size=$3 zt=$2
	[ "${T0:-}" = 1 ] && zt=0
	STDIN=/dev/null NORM='' DESC='' OPS=''
	case $name in
	xz-compress)
		NEED=xz CMD=(xz -T"$zt" --block-size=1MiB -6 -c "$WORK/in.$size")
		DESC="xz -T$zt -6 --block-size=1MiB, compress";;
	xz-decompress)
		NEED=xz CMD=(xz -T"$zt" -d -c "$WORK/in.$size.xz")
		DESC="xz -T$zt, decompress";;
	zstd-compress)
		NEED=zstd CMD=(zstd -q -T"$zt" -6 --long=24 -c "$WORK/in.$size")
		DESC="zstd -T$zt -6, compress";;
	zstd-decompress)
		NEED=zstd CMD=(zstd -q -T"$zt" -d -c "$WORK/in.$size.zst")
		DESC="zstd -T$zt, decompress";;
	sqlite3)
		NEED=sqlite3 CMD=(sqlite3 :memory:) STDIN=$WORK/sql.$th.$size
		DESC="sqlite3, PRAGMA threads=$th, sorts and indexes";;
	kccachetest)
		NEED=kccachetest CMD=(kccachetest order -th "$th" "$([ "$size" = small ] && echo 10000 || echo 100000)")
		NORM='s/seed=[0-9]+/seed=N/; /^(time|memory): /d'
		DESC="kccachetest order -th $th";;
	stress-mutex)
		NEED=stress-ng CMD=(stress-ng --mutex 1 --mutex-procs "$th" --metrics-brief -t "$([ "$size" = small ] && echo 1 || echo 3)")
		NORM='s/\[[0-9]+\]/[PID]/; s/completed in [0-9.]+ ?s.*/completed/; / metrc: /d'
		OPS=mutex
		DESC="stress-ng --mutex 1 --mutex-procs $th";;
	stress-pthread)
		NEED=stress-ng CMD=(stress-ng --pthread 1 --pthread-max "$th" --metrics-brief -t "$([ "$size" = small ] && echo 1 || echo 3)")
		NORM='s/\[[0-9]+\]/[PID]/; s/completed in [0-9.]+ ?s.*/completed/; / metrc: /d'
		OPS=pthread
		DESC="stress-ng --pthread 1 --pthread-max $th";;
	python-queue)
		# Request and response through queue.Queue: a condvar signalled
		# with its mutex held, the waiter then taking that mutex.
		NEED=python3 CMD=(python3 -c "$PY_QUEUE" "$th" "$([ "$size" = small ] && echo 5000 || echo 20000)")
		DESC="python3 queue.Queue request/response, $th client threads";;
	esac
}
WORKLOADS=(xz-compress xz-decompress zstd-compress zstd-decompress sqlite3 kccachetest
	   stress-mutex stress-pthread python-queue)

# python-queue: CLIENTS threads each send ROUNDS requests to one server
# thread and wait for each answer; prints the sum of the answers.
PY_QUEUE='
import queue, sys, threading
clients, rounds = int(sys.argv[1]), int(sys.argv[2])
requests = queue.Queue()
def server():
    while True:
        item = requests.get()
        if item is None:
            return
        n, answer = item
        answer.put(n + 1)
def client(out, i):
    answer, total = queue.Queue(), 0
    for n in range(rounds):
        requests.put((n, answer))
        total += answer.get()
    out[i] = total
s = threading.Thread(target=server)
s.start()
out = [0] * clients
ts = [threading.Thread(target=client, args=(out, i)) for i in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
requests.put(None)
s.join()
print(sum(out))
'

prepare() {	# size threads...
	local size=$1; shift
	local lines; lines=$([ "$size" = small ] && echo 40000 || echo 150000)
	[ -f "$WORK/in.$size" ] || {
		make_input "$lines" "$WORK/in.$size"
		command -v xz >/dev/null && xz -T2 --block-size=1MiB -6 -c "$WORK/in.$size" >"$WORK/in.$size.xz"
		command -v zstd >/dev/null && zstd -q -T2 -6 -c "$WORK/in.$size" >"$WORK/in.$size.zst"
	}
	local rows th; rows=$([ "$size" = small ] && echo 60000 || echo 200000)
	for th in "$@"; do sql_script "$th" "$rows" >"$WORK/sql.$th.$size"; done
}

# run_one VARIANT CPUS TAG: runs CMD (plain or under pvlock-run), with
# stdout/stderr in $WORK/TAG.{out,err} and "wall user sys" in $WORK/TAG.time.
run_one() {
	local variant=$1 cpus=$2 tag=$3 pre=()
	[ -n "$cpus" ] && pre=(taskset -c "$cpus")
	[ "$variant" = pvlock ] && pre+=("$RUN" --lock "$LOCK" --report --)
	local TIMEFORMAT='%R %U %S'
	{ time env -u PVLOCK_PRELOAD_REPORT -u LD_PRELOAD "${pre[@]}" "${CMD[@]}" \
		<"$STDIN" >"$WORK/$tag.out" 2>"$WORK/$tag.err"; } 2>"$WORK/$tag.time"
	RC=$?
	# stress-ng runs for a fixed time: its bogo ops are the measure.
	OPS_DONE=0
	[ -n "$OPS" ] && OPS_DONE=$(awk -v n="$OPS" '$2 == "metrc:" && $4 == n && !d { print $5; d = 1 }' "$WORK/$tag.err")
	OPS_DONE=${OPS_DONE:-0}
}

# The outputs of the plain and the pvlock run, normalised, are equal.
same_output() {	# tag-plain tag-pvlock
	local a=$1 b=$2
	if [ -n "$NORM" ]; then
		cmp -s <(sed -E "$NORM" "$WORK/$a.out") <(sed -E "$NORM" "$WORK/$b.out")
	else
		cmp -s "$WORK/$a.out" "$WORK/$b.out"
	fi || { WHY="stdout differs"; return 1; }
	grep -v '^pvlock-preload: ' "$WORK/$b.err" | sed -E "$NORM" >"$WORK/$b.errn"
	sed -E "$NORM" "$WORK/$a.err" >"$WORK/$a.errn"
	cmp -s "$WORK/$a.errn" "$WORK/$b.errn" ||
		{ WHY="stderr differs: $(diff "$WORK/$a.errn" "$WORK/$b.errn" | head -4 | tr '\n' ' ')"; return 1; }
}

# Sum the report lines of all processes: "spins mutexes condvars slowpaths glibc-mutexes".
report_sums() {	# tag
	grep '^pvlock-preload: ' "$WORK/$1.err" | awk '
		{ for (i = 1; i <= NF; i++) {
			if ($i == "spinlocks") s += $(i+1);
			if ($i == "mutexes") { m += $(i+1); mg += $(i+3) }
			if ($i == "condvars") c += $(i+1);
			if ($i == "paths") p += $(i+1) } n++ }
		END { printf "%d %d %d %d %d %d\n", n, s, m, c, p, mg }'
}

# stress-ng 0.15 --pthread destroys its mutex while a worker it did not join
# may still be inside pthread_mutex_lock; that worker's unlock then fails on
# plain glibc (docs/preload-results.md, tools/stress-ng-pthread-race.sh).
STRESS_NG_RACE='pthread: pthread_mutex_unlock failed, tid=[0-9]*, errno=22'

# ---- check: the bounded subset of make check ------------------------------------------
check() {
	local failed=0
	[ -x "$RUN" ] || { echo "FAIL: preload programs: $RUN not built"; exit 1; }
	T0=1
	prepare small 4
	for w in "${WORKLOADS[@]}"; do
		workload "$w" 4 small
		if ! command -v "$NEED" >/dev/null; then
			echo "SKIP: preload program $w: $NEED not installed (scripts/install-deps.sh installs it)"
			continue
		fi
		run_one plain "" "$w.plain"; local rc_plain=$RC
		# stress-ng's own end-of-run race fails a plain --pthread run now
		# and then (docs/preload-results.md): run it again, not blame pvlock.
		for _ in 1 2; do
			grep -q "$STRESS_NG_RACE" "$WORK/$w.plain.err" || break
			echo "  (the plain run of $w hit stress-ng's own race; running it again)" >&2
			run_one plain "" "$w.plain"; rc_plain=$RC
		done
		run_one pvlock "" "$w.pvlock"; local rc_pv=$RC
		read -r procs spins mutexes condvars slow glibc_m <<<"$(report_sums "$w.pvlock")"
		WHY=
		if grep -q "$STRESS_NG_RACE" "$WORK/$w.plain.err"; then
			echo "SKIP: preload program $w: the plain run hit stress-ng's own race three times (docs/preload-results.md)"
		elif [ "$rc_plain" -ne 0 ]; then
			echo "SKIP: preload program $w: the plain run itself failed (status $rc_plain): $(tail -2 "$WORK/$w.plain.err" | tr '\n' ' ')"
		elif [ "$rc_pv" -ne "$rc_plain" ]; then
			echo "FAIL: preload program $w: exit status $rc_pv under pvlock-run, $rc_plain plain: $(tail -3 "$WORK/$w.pvlock.err" | tr '\n' ' ')"; failed=1
		elif ! same_output "$w.plain" "$w.pvlock"; then
			echo "FAIL: preload program $w: $WHY"; failed=1
		elif [ "$procs" -eq 0 ]; then
			echo "FAIL: preload program $w: no pvlock-preload: line (was the library preloaded?)"; failed=1
		elif [ $((mutexes + condvars)) -eq 0 ]; then
			echo "FAIL: preload program $w: the report shows no mutex or condvar handled by pvlock: $(grep pvlock-preload: "$WORK/$w.pvlock.err" | head -1)"; failed=1
		else
			echo "PASS: preload program $w ($DESC): same output as plain glibc; pvlock handled $mutexes mutexes, $condvars condvars, $spins spinlocks ($glibc_m mutexes left to glibc) in $procs process(es), $slow slow paths"
		fi
	done
	exit $failed
}

# ---- table: the full set, measured ---------------------------------------------------------
# Levels: name, CPUs given by taskset, threads asked of each program.
LEVELS=("1x 0,1 2" "4x 0 4" "16x 0 16")

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure LEVEL REPEATS CSV: one level, every workload, plain and pvlock interleaved.
measure() {
	local level=$1 repeats=$2 csv=$3 name cpus th
	for l in "${LEVELS[@]}"; do
		read -r name cpus th <<<"$l"
		[ "$name" = "$level" ] && break
		name=
	done
	[ -n "$name" ] || { echo "pvlock-preload-programs: unknown level \"$level\"" >&2; exit 2; }
	prepare full "$th" 8
	T0=; [ "$level" = 1x ] && T0=1
	for w in "${WORKLOADS[@]}"; do
		local t=$th
		[ "$w" = sqlite3 ] && [ "$t" -gt 8 ] && t=8	# SQLITE_MAX_WORKER_THREADS
		workload "$w" "$t" full
		command -v "$NEED" >/dev/null || continue
		for r in $(seq "$repeats"); do
			for variant in plain pvlock; do
				run_one "$variant" "$cpus" "$w.$level.$variant.$r"
				local tm; tm=$(cat "$WORK/$w.$level.$variant.$r.time")
				echo "$level,$w,$t,$variant,$r,$RC,${tm// /,},$(report_sums "$w.$level.$variant.$r" | tr ' ' ','),$OPS_DONE" >>"$csv"
			done
			local same=yes
			same_output "$w.$level.plain.$r" "$w.$level.pvlock.$r" || same="NO: $WHY"
			echo "$level,$w,same,$r,$same" >>"$csv.same"
		done
		echo "  $level $w: done" >&2
	done
}

table() {
	local repeats=${1:-3} csv=$WORK/results.csv
	# The queued lock's table is docs/preload-results.md; another kind's
	# gets its own page (docs/preload-results-ticket.md, ...).
	local base=docs/preload-results; [ "$LOCK" = queued ] || base=docs/preload-results-$LOCK
	local out=$base.md load_start load_end
	load_start=$(cut -d' ' -f1 /proc/loadavg)
	[ -x "$RUN" ] || { echo "pvlock-preload-programs: build first (make)" >&2; exit 1; }
	: >"$csv"; : >"$csv.same"
	# A snapshot of the wrapper and the library: a rebuild in the tree
	# while this runs (it waits for the lock) does not change what is measured.
	mkdir -p "$WORK/snap/bin" "$WORK/snap/lib"
	cp "$RUN" "$WORK/snap/bin/" && cp build/lib/libpvlock-preload.so "$WORK/snap/lib/" || exit 1
	local commit; commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo "+changes")
	for l in "${LEVELS[@]}"; do
		read -r name _ _ <<<"$l"
		echo "level $name: waiting for /tmp/pvlock-bench.lock" >&2
		PVLOCK_PROGRAMS_RUN=$WORK/snap/bin/pvlock-run \
			flock /tmp/pvlock-bench.lock "$0" measure-one "$name" "$repeats" "$csv" || exit 1
	done
	load_end=$(cut -d' ' -f1 /proc/loadavg)
	cp "$csv" "$base.csv"
	cp "$csv.same" "$base.same.csv"
	# The page's hand-written sections, from KEEP_MARK on, outlive the table.
	local kept; kept=$(awk -v m="$KEEP_MARK" 'index($0, m) == 1 { k = 1 } k' "$out" 2>/dev/null)
	{ render "$csv" "$repeats" "$commit" "$base" "$load_start" "$load_end"; [ -n "$kept" ] && printf '\n%s\n' "$kept"; } >"$out.new" &&
		mv "$out.new" "$out"
	echo "wrote $out" >&2
}

KEEP_MARK='<!-- kept by tools/pvlock-preload-programs.sh table'

# render CSV REPEATS COMMIT BASE LOAD_START LOAD_END: the markdown table for
# BASE.csv, on stdout.
render() {
	local csv=$1 repeats=$2 commit=$3 base=$4 load_start=$5 load_end=$6
	{
		echo "# Real programs on pvlock$([ "$LOCK" = queued ] || echo "'s $LOCK lock"): the measured table"
		echo
		echo "Written by \`tools/pvlock-preload-programs.sh table $repeats\` on $(date -u '+%Y-%m-%d %H:%M UTC') (commit $commit),"
		echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average $load_start at the start and $load_end at the end."
		echo "Each level ran under \`flock /tmp/pvlock-bench.lock\`. Lock: pvlock $LOCK, pv mode."
		echo "Figures are medians of $repeats runs, plain and pvlock interleaved. Levels:"
		echo "1x = 2 threads on 2 CPUs; 4x = 4 threads on 1 CPU; 16x = 16 threads on 1 CPU"
		echo "(\`taskset -c 0\`; sqlite3 is capped at 8 worker threads, so 8x there)."
		echo "Counts are the \`pvlock-preload:\` lines summed over the program's processes:"
		echo "mutexes locked through pvlock / left to glibc, condvars waited on, and"
		echo "slow paths (acquisitions that did not take the fast path). CPU = user + system."
		echo "Speed is pvlock against glibc, above 1 meaning pvlock is faster: 1 / wall time"
		echo "for the fixed-work programs, bogo ops for stress-ng (which runs a fixed 3 s);"
		echo "\"same\" within 5%."
		echo
		echo "| level | program | threads | output identical | glibc wall s | pvlock wall s | glibc CPU s | pvlock CPU s | glibc ops | pvlock ops | pvlock speed | pvlock mutexes / glibc-kept | condvars | spinlocks | slow paths |"
		echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|"
		for l in "${LEVELS[@]}"; do
			read -r name _ _ <<<"$l"
			for w in "${WORKLOADS[@]}"; do
				grep -q "^$name,$w," "$csv" || continue
				# med VARIANT EXPR: median over the runs of an awk expression of the fields
				med() { awk -F, -v l="$name" -v w="$w" -v v="$1" "\$1 == l && \$2 == w && \$4 == v {print $2}" "$csv" | median; }
				local th pw cw pu cu po co pm pc psp pslow pgm speed
				th=$(awk -F, -v l="$name" -v w="$w" '$1 == l && $2 == w {print $3; exit}' "$csv")
				pw=$(med plain '$7'); cw=$(med pvlock '$7')
				pu=$(med plain '$8 + $9'); cu=$(med pvlock '$8 + $9')
				po=$(med plain '$16'); co=$(med pvlock '$16')
				pm=$(med pvlock '$12'); pc=$(med pvlock '$13'); psp=$(med pvlock '$11')
				pslow=$(med pvlock '$14'); pgm=$(med pvlock '$15')
				# Speed, pvlock against glibc, above 1 = pvlock faster: work per
				# second for stress-ng (fixed time), 1/wall time for the others.
				speed=$(awk -v pw="$pw" -v cw="$cw" -v po="$po" -v co="$co" 'BEGIN {
					r = (po > 0) ? co / po : (cw > 0 ? pw / cw : 0)
					v = (r > 1.05) ? "faster" : (r < 0.95) ? "slower" : "same"
					printf "%.2fx %s", r, v }')
				local same; same=$(awk -F, -v l="$name" -v w="$w" '$1 == l && $2 == w {print $5}' "$csv.same" | sort -u | tr '\n' ' ')
				[ "$same" = "yes " ] && same=yes || same="**${same}**"
				local bad; bad=$(awk -F, -v l="$name" -v w="$w" '$1 == l && $2 == w && $6 != 0 {n++} END {print n + 0}' "$csv")
				[ "$bad" -gt 0 ] && same="$same ($bad runs exited non-zero)"
				[ "$po" = 0 ] && po=- && co=-
				printf '| %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s / %s | %s | %s | %s |\n' \
					"$name" "$w" "$th" "$same" "$pw" "$cw" "$pu" "$cu" "$po" "$co" "$speed" \
					"$pm" "$pgm" "$pc" "$psp" "$pslow"
			done
		done
		echo
		echo "Raw runs: \`$base.csv\` (level, program, threads, variant, run, exit status,"
		echo "wall, user, sys, report lines, spinlocks, mutexes, condvars, slow paths, glibc-kept mutexes,"
		echo "stress-ng bogo ops)."
	}
}

# ---- fastpath: instructions per uncontended operation (callgrind, no lock needed) ----
fastpath() {
	command -v valgrind >/dev/null || { echo "pvlock-preload-programs: fastpath needs valgrind" >&2; exit 1; }
	cat >"$WORK/fp.c" <<'C'
#include <pthread.h>
#include <stdlib.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_spinlock_t s;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
int main(int argc, char **argv)
{
	long n = atol(argv[1]);
	int what = atoi(argv[2]);
	pthread_spin_init(&s, PTHREAD_PROCESS_PRIVATE);
	for (long i = 0; i < n; i++) {
		if (what == 0) { pthread_mutex_lock(&m); pthread_mutex_unlock(&m); }
		else if (what == 1) { pthread_spin_lock(&s); pthread_spin_unlock(&s); }
		else pthread_cond_signal(&c);
	}
	return 0;
}
C
	cc -O2 -o "$WORK/fp" "$WORK/fp.c" -pthread || exit 1
	ir() {	# preload-or-empty kind what n
		LD_PRELOAD=$1 PVLOCK_PRELOAD_LOCK=$2 valgrind --vgdb=no --tool=callgrind --callgrind-out-file=/dev/null \
			"$WORK/fp" "$4" "$3" 2>&1 | awk '/Collected/ {print $4}'
	}
	per_op() {	# preload kind what: instructions per operation (difference of two runs)
		local a b; a=$(ir "$1" "$2" "$3" 100000); b=$(ir "$1" "$2" "$3" 200000)
		echo $(((b - a) / 100000))
	}
	local lib; lib=$(readlink -f build/lib/libpvlock-preload.so)
	echo "| operation (uncontended) | glibc | pvlock queued | pvlock ticket | pvlock tas |"
	echo "|---|---:|---:|---:|---:|"
	local names=("pthread_mutex_lock + unlock" "pthread_spin_lock + unlock" "pthread_cond_signal, no waiter")
	for what in 0 1 2; do
		printf '| %s | %s | %s | %s | %s |\n' "${names[$what]}" "$(per_op "" queued $what)" \
			"$(per_op "$lib" queued $what)" "$(per_op "$lib" ticket $what)" "$(per_op "$lib" tas $what)"
	done
}

case ${1:-check} in
check) check;;
fastpath) fastpath;;
table) shift; table "$@";;
measure-one) shift; measure "$@";;
render) shift; render "$@";;
-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//';;
*) echo "pvlock-preload-programs: unknown command \"$1\"; accepted: check, table [REPEATS], fastpath" >&2; exit 2;;
esac
