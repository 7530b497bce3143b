#!/usr/bin/env bash
# guest/demo.sh - make guest-demo: the seeds' picture on a real (emulated)
# machine.  Boots the bare-metal guest with V = 2, 4, 8 vCPUs on P = 2 host
# CPUs (V/P = 1, 2, 4); in each boot every lock runs for GUEST_DEMO_MS ms
# (default 5000) on every vCPU; GUEST_DEMO_REPS boots per V (default 3);
# medians go into docs/guest.md (table) and docs/guest.png (plot).
#
# Each boot is one measurement under the shared lock /tmp/pvlock-bench.lock
# (under a minute each), so no other benchmark runs beside it.
# Raw serial logs: build/guest-demo/.
set -eu
cd "$(dirname "$0")/.."
MS=${GUEST_DEMO_MS:-5000}
REPS=${GUEST_DEMO_REPS:-3}
HZ=${GUEST_DEMO_HZ:-250}
OUT=build/guest-demo
DOC=docs/guest.md
PLOT=docs/guest.png
mkdir -p "$OUT"

command -v qemu-system-x86_64 >/dev/null || {
	echo "guest-demo: qemu-system-x86_64 not installed (bash scripts/install-deps.sh)" >&2
	exit 1
}
[ -f build/guest/pvlock-guest ] || make --no-print-directory build/guest/pvlock-guest
P=${GUEST_DEMO_PCPUS:-2}

rm -f "$OUT"/*.log "$OUT"/*.meta
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
for rep in $(seq 1 "$REPS"); do
	for v in $((P * 1)) $((P * 2)) $((P * 4)); do
		log="$OUT/v$v-rep$rep.log"
		echo "guest-demo: V=$v on $P host CPUs, boot $rep of $REPS, ${MS} ms per lock" >&2
		flock /tmp/pvlock-bench.lock bash guest/run.sh --vcpus "$v" --pcpus "$P" \
			--timeout 300 --log "$log" --meta "$OUT/v$v-rep$rep.meta" \
			-- "ms=$MS" "hz=$HZ" >/dev/null ||
			{ echo "guest-demo: boot failed, see $log" >&2; exit 1; }
	done
done
meta=$(ls "$OUT"/*.meta | head -1)
HOST_CPUS=$(sed -n 's/^host_cpus=//p' "$meta")
ACCEL=$(sed -n 's/^accel=//p' "$meta")
PATHS=$(grep -h -m1 '^guest: TSC' "$OUT"/*.log | head -1 | sed 's/^guest: TSC [0-9]* MHz, //')

# One line per (lock, V): medians over the boots of acquisitions/s, Jain's
# index, halts/s, kicks/s, steals/s.
cat "$OUT"/*.log | tr -d '\r' | grep '^RESULT ' | awk -v P="$P" '
function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	delete f
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	key = f["lock"] SUBSEP f["vcpus"]
	secs = f["ms"] / 1000
	tput[key] = tput[key] " " f["total"] / secs
	jain[key] = jain[key] " " f["jain"]
	halts[key] = halts[key] " " f["halts"] / secs
	kicks[key] = kicks[key] " " f["kicks"] / secs
	steals[key] = steals[key] " " f["steals"] / secs
	n[key]++
	locks[f["lock"]] = 1; vs[f["vcpus"]] = 1
}
END {
	for (key in n) {
		split(key, k, SUBSEP)
		printf "%s %d %.0f %.3f %.0f %.0f %.0f %d\n", k[1], k[2], median(tput[key]),
			median(jain[key]), median(halts[key]), median(kicks[key]),
			median(steals[key]), n[key]
	}
}' | sort -k1,1 -k2,2n >"$OUT/medians.txt"

LOCKS="queued-native queued-pv ticket-native ticket-pv tas"
VS="$((P * 1)) $((P * 2)) $((P * 4))"
val() { awk -v l="$1" -v v="$2" -v c="$3" '$1 == l && $2 == v { print $c }' "$OUT/medians.txt"; }

# Plot data: one row per V/P, one column per lock (acquisitions/s).
{
	echo "V/P $LOCKS"
	for v in $VS; do
		row="$((v / P))"
		for l in $LOCKS; do row+=" $(val "$l" "$v" 3)"; done
		echo "$row"
	done
} >"$OUT/plot.dat"

QEMU_VERSION=$(qemu-system-x86_64 --version | head -1)
{
	echo "# The bare-metal guest: pvlock's locks as a guest kernel's spinlocks"
	echo
	echo "Written by \`make guest-demo\` (guest/demo.sh) on $(date -u +%Y-%m-%d); do not edit by hand."
	echo "What the guest is and how it maps onto Linux: README.md and docs/design.md"
	echo "(\"The bare-metal guest\")."
	echo
	echo "Setup: $QEMU_VERSION, accelerator $ACCEL (TCG: \`thread=multi\`, one host"
	echo "thread per vCPU; tools/vm/qemu-run.sh), the whole QEMU process pinned to $P host CPUs ($HOST_CPUS) with"
	echo "\`taskset\`; V = $VS vCPUs, so V/P = 1, 2, 4.  In each boot every vCPU takes"
	echo "and releases one shared lock for ${MS} ms per lock (critical section and"
	echo "think time: 20 PAUSE each), while its ${HZ} Hz timer interrupt, a broadcast lock"
	echo "IPI and a broadcast NMI take locks of their own.  Each figure is the median"
	echo "of $REPS boots; each boot ran under /tmp/pvlock-bench.lock (load average"
	echo "$LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end).  The guest reported: $PATHS."
	echo "Raw serial logs: build/guest-demo/."
	echo
	echo "- acq/s: task-level acquisitions per second, all vCPUs together"
	echo "- vs tas: that, as a ratio to the test-and-set lock in the same boots"
	echo "- Jain: Jain's fairness index over the vCPUs' acquisitions (1 = equal)"
	echo "- halts/s, kicks/s: HLTs executed by pv waits, kicks sent (IPIs under TCG)"
	echo "- steals/s: pv queued lock taken past a sleeping queue head"
	echo
	echo "| lock | V/P | acq/s | vs tas | Jain | halts/s | kicks/s | steals/s |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for l in $LOCKS; do
		for v in $VS; do
			t=$(val "$l" "$v" 3); base=$(val tas "$v" 3)
			ratio=$(awk -v a="$t" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
			echo "| $l | $((v / P)) | $t | $ratio | $(val "$l" "$v" 4) | $(val "$l" "$v" 5) | $(val "$l" "$v" 6) | $(val "$l" "$v" 7) |"
		done
	done
	echo
	echo "![acquisitions per second against V/P](guest.png)"
	echo
	echo "Command: \`make guest-demo\` (GUEST_DEMO_MS=$MS GUEST_DEMO_REPS=$REPS GUEST_DEMO_HZ=$HZ)."
} >"$DOC"

if command -v gnuplot >/dev/null; then
	gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output "$PLOT"
set title "Bare-metal guest under QEMU TCG: $P host CPUs, median of $REPS boots"
set xlabel "vCPUs per host CPU (V/P)"
set ylabel "lock acquisitions per second (log)"
set logscale y
set xtics ("1" 1, "2" 2, "4" 4)
set key outside right
set grid
plot for [i=2:6] "$OUT/plot.dat" using 1:i with linespoints lw 2 title columnhead(i)
GP
	echo "guest-demo: wrote $DOC and $PLOT" >&2
else
	echo "guest-demo: wrote $DOC; no plot (gnuplot not installed)" >&2
fi
