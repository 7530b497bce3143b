#!/usr/bin/env bash
# tests/programs/vm.sh - the bounded VM run of `make check`.
#
# One QEMU guest with 4 vCPUs pinned to 2 host CPUs (tools/vm/qemu-run.sh),
# booting Debian's kernel with an initramfs of static binaries only.  Inside:
#   * pvlock-vm-check (tools/vm/guest-check.c): 4 threads, 1 s each of
#     pvlock queued (pv mode) and CK ticket, then the shared counter must
#     equal the acquisitions; pvlock's lock_slowpath must be > 0 (the lock was
#     contended, so the check meant something); and the negative control
#     `none` (no lock) must LOSE updates, or the check could not see a
#     broken lock (each run goes on past its seconds until it has shown
#     what is checked, up to 20 times as long: a starved guest is slow,
#     not wrong);
#   * the static pvlock-bench: 0.3 s each of pv-queued and ck-ticket at 4
#     threads, status ok (the benchmark's own exact check where it joined).
# Checks that the guest booted, ran and exited, and correctness; never a
# speed.  Bounded: qemu-run.sh kills the guest after 300 s, a hang detector
# (tests/run.sh's watchdog is 600 s); about 20 s on an idle machine, 45 s at
# load 45-60.  Skips with a reason
# without QEMU or a guest kernel, or when the watchdog fired because the
# host starved QEMU (its threads waited for a CPU longer than they ran),
# unless PVLOCK_VM_REQUIRED=1: then those are failures.
set -u
cd "$(dirname "$0")/../.."
skip() {
	if [ "${PVLOCK_VM_REQUIRED:-0}" = 1 ]; then
		echo "FAIL: vm: $1 (PVLOCK_VM_REQUIRED=1)"
	else
		echo "SKIP: vm: $1"
	fi
	exit 0
}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (Debian: qemu-system-x86)"
ls /boot/vmlinuz-* >/dev/null 2>&1 || skip "no guest kernel /boot/vmlinuz-* (Debian: linux-image-amd64)"
command -v busybox >/dev/null || skip "busybox not installed (Debian: busybox-static)"
command -v cpio >/dev/null || skip "cpio not installed"
for b in build/bin/pvlock-bench-static build/bin/pvlock-vm-check-static; do
	[ -x "$b" ] || { echo "FAIL: vm: $b not built (make all builds it)"; exit 1; }
done

dir=build/test-logs/vm
rm -rf "$dir"; mkdir -p "$dir"
cat >"$dir/job" <<'EOF'
mark check
for l in pv-queued ck-ticket; do pvlock-vm-check $l 4 1; done
pvlock-vm-check none 4 0.5
mark bench
pvlock-bench --cpus 4 --threads 4 --locks pv-queued,ck-ticket --duration 0.3 --repeat 1 \
	--quiet --output /tmp/bench >/dev/null
echo "bench-exit $?"
sed 's/^/bench-runs /' /tmp/bench/runs.csv
mark end
EOF
bash tools/vm/mkinitramfs.sh "$dir/initrd.gz" "$dir/job" \
	build/bin/pvlock-bench-static build/bin/pvlock-vm-check-static ||
	{ echo "FAIL: vm: could not build the initramfs"; exit 1; }

start=$SECONDS
bash tools/vm/qemu-run.sh --initrd "$dir/initrd.gz" --vcpus 4 --pcpus 2 --timeout 300 \
	--console "$dir/console.log" --data "$dir/data.log" --schedstat "$dir/schedstat.txt" \
	--meta "$dir/meta.txt"
rc=$?
secs=$((SECONDS - start))
data=$dir/data.log
if [ "$rc" -eq 124 ]; then
	# Starved or hung?  schedstat at the kill: if QEMU's threads spent more
	# time runnable-but-waiting for a host CPU than running, the host's load
	# (other work on this machine) starved the guest: that is no verdict on
	# pvlock.  A hung guest halts (little run, little wait) and a livelocked
	# one runs: both FAIL.
	why=$(awk '$1 == "@start" && $3 == "@host-clock-ns" { t0 = $4 }
		   $1 == "@timeout" && $3 == "@host-clock-ns" { t1 = $4 }
		   $1 == "@timeout" && $3 != "@host-clock-ns" { run += $4; wait += $5 }
		   END { printf "%s %.1f %.1f %.0f", (wait > run ? "starved" : "hung"),
			 run / 1e9, wait / 1e9, (t1 - t0) / 1e9 }' "$dir/schedstat.txt")
	set -- $why
	msg="QEMU's threads ran $2 CPU-s and waited $3 s for a host CPU in $4 s"
	if [ "$1" = starved ]; then
		skip "the host is too loaded to boot a guest in 300 s ($msg; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	fi
	echo "FAIL: vm: the guest was still running after 300 s (watchdog; $msg); console: $dir/console.log"
	exit 1
fi
if ! grep -q '^@@boot nproc=4 ' "$data"; then
	echo "FAIL: vm: the guest did not boot with 4 vCPUs (QEMU exit $rc); console: $dir/console.log"
	exit 1
fi
echo "PASS: vm: guest booted with 4 vCPUs on 2 host CPUs ($(grep '^accel=' "$dir/meta.txt"))"
grep -q '^@@exit 0' "$data" && echo "PASS: vm: guest job finished and the guest powered off (${secs}s)" ||
	echo "FAIL: vm: guest job did not finish cleanly (QEMU exit $rc): $(grep '^@@exit' "$data" || echo no @@exit line); data: $data"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
for l in pv-queued ck-ticket; do
	line=$(grep "^vm-check lock=$l " "$data")
	acq=$(field acquisitions <<<"$line") lost=$(field lost <<<"$line")
	if [ -z "$line" ]; then
		echo "FAIL: vm: mutual exclusion $l: no result line; data: $data"
	elif [ "$lost" != 0 ] || [ "${acq:-0}" -eq 0 ]; then
		echo "FAIL: vm: mutual exclusion $l: $line"
	else
		echo "PASS: vm: mutual exclusion $l, 4 threads in the guest: $acq acquisitions, none lost"
	fi
done
sp=$(grep '^vm-check lock=pv-queued ' "$data" | field slowpath)
[ "${sp:-0}" -gt 0 ] 2>/dev/null && echo "PASS: vm: pv-queued was contended in the guest (lock_slowpath $sp)" ||
	echo "FAIL: vm: pv-queued never took its slow path in the guest (lock_slowpath '${sp}'): the check proved nothing"
lost=$(grep '^vm-check lock=none ' "$data" | field lost)
[ "${lost:-0}" -gt 0 ] 2>/dev/null && echo "PASS: vm: negative control: no lock loses $lost updates, so the check can see a broken lock" ||
	echo "FAIL: vm: negative control: no lock lost no update ('${lost}'): the check cannot see a broken lock"

# The benchmark: both runs status ok, exit 0 (1 would mean a failed exact check).
bexit=$(sed -n 's/^bench-exit //p' "$data")
nok=$(grep -c '^bench-runs contention,\(pv-queued\|ck-ticket\),.*,ok,' "$data")
if [ "$bexit" = 0 ] && [ "$nok" -eq 2 ]; then
	echo "PASS: vm: static pvlock-bench ran pv-queued and ck-ticket in the guest, status ok"
else
	echo "FAIL: vm: static pvlock-bench in the guest: exit '${bexit}', $nok of 2 runs ok; data: $data"
fi
