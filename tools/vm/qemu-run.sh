#!/usr/bin/env bash
# tools/vm/qemu-run.sh - boot one QEMU guest with V vCPUs pinned to P host
# CPUs, capture its two serial ports, watch it, and sample the host-side
# CPU time of QEMU's threads.  Used by make vm-demo, tests/programs/vm.sh, and any
# other guest (a bare-metal kernel works too: --initrd and --append are
# optional).
#
#   tools/vm/qemu-run.sh --kernel FILE [options] [-- extra qemu arguments]
#
#   --kernel FILE     guest kernel (bzImage or multiboot ELF); "auto" = the
#                     newest /boot/vmlinuz-* (default)
#   --initrd FILE     initramfs (optional)
#   --append STR      kernel command line (default: console=ttyS0 panic=-1
#                     quiet; ignored without --initrd unless given)
#   --vcpus V         vCPUs (default 2)
#   --pcpus P         pin QEMU (every thread) to the first P host CPUs this
#                     process may use (default: all of them)
#   --cpu-list LIST   pin to this taskset list instead, e.g. 0,1
#   --mem MB          guest memory (default 512)
#   --accel MODE      auto (default): KVM if /dev/kvm is a standard KVM, else
#                     TCG; kvm: KVM or fail; tcg: TCG
#   --console FILE    first serial port (ttyS0, the console) -> FILE
#   --data FILE       second serial port (ttyS1, COM2 at 0x2f8) -> FILE: the
#                     guest's data channel
#   --schedstat FILE  host-side truth: every time the guest writes a line
#                     "@@mark NAME" on the data port (and once at start and
#                     at exit), append each QEMU thread's
#                     /proc/PID/task/TID/schedstat (ns on CPU, ns waiting on a
#                     run queue, slices) as "NAME TID COMM RUN_NS WAIT_NS SLICES",
#                     (also as @timeout just before a watchdog kill)
#                     after a line "NAME 0 @host-clock-ns NS 0 0" (wall clock)
#   --meta FILE       write key=value facts: accel, why, qemu, vcpus, cpus...
#   --autogroup-nice N  run QEMU in a session of its own whose scheduler
#                     autogroup has nice N (-20..19; below 0 needs root).  On
#                     a machine with autogroups, nice 19 work of other
#                     sessions otherwise shares the CPUs equally with QEMU
#                     (nice applies only within a session); make vm-demo uses
#                     -20 so that P host CPUs are really P, and records the
#                     CPU the vCPU threads got either way
#   --timeout SECS    kill QEMU after SECS (default 300); exit status 124
#   --quiet           do not print the accelerator line
#
# Prints one line saying which accelerator and why ("vm: accel=tcg ...").
# Exit status: QEMU's (0 when the guest powered off), 124 on timeout, 2 on
# bad usage or when --accel kvm is impossible.  Whether the guest's own work
# succeeded is the caller's to read from the data file.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

kernel=auto initrd= append= append_set= vcpus=2 pcpus= cpu_list= mem=512
accel=auto console=/dev/null data=/dev/null schedstat= meta= timeout=300 quiet= agnice=
usage() { sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "qemu-run: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] || die "$1 needs a value"; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 '$2': expected a positive integer"; }
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) need "$@"; kernel=$2; shift 2 ;;
	--initrd) need "$@"; initrd=$2; shift 2 ;;
	--append) need "$@"; append=$2; append_set=1; shift 2 ;;
	--vcpus) need "$@"; posint "$1" "$2"; vcpus=$2; shift 2 ;;
	--pcpus) need "$@"; posint "$1" "$2"; pcpus=$2; shift 2 ;;
	--cpu-list) need "$@"; [[ $2 =~ ^[0-9,-]+$ ]] || die "--cpu-list '$2': expected a taskset list like 0,1 or 0-3"; cpu_list=$2; shift 2 ;;
	--mem) need "$@"; posint "$1" "$2"; mem=$2; shift 2 ;;
	--accel) need "$@"; case $2 in auto|kvm|tcg) accel=$2 ;; *) die "--accel '$2': expected auto, kvm or tcg" ;; esac; shift 2 ;;
	--console) need "$@"; console=$2; shift 2 ;;
	--data) need "$@"; data=$2; shift 2 ;;
	--schedstat) need "$@"; schedstat=$2; shift 2 ;;
	--meta) need "$@"; meta=$2; shift 2 ;;
	--timeout) need "$@"; posint "$1" "$2"; timeout=$2; shift 2 ;;
	--autogroup-nice) need "$@"; [[ $2 =~ ^-?[0-9]+$ ]] && [ "$2" -ge -20 ] && [ "$2" -le 19 ] ||
		die "--autogroup-nice '$2': expected -20..19"; agnice=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--help|-h) usage ;;
	--) shift; break ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
extra=("$@")

qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found (Debian: qemu-system-x86)"
if [ "$kernel" = auto ]; then
	kernel=$(ls -1v /boot/vmlinuz-* 2>/dev/null | tail -n 1)
	[ -n "$kernel" ] || die "no /boot/vmlinuz-* (Debian: linux-image-amd64); pass --kernel FILE"
fi
[ -r "$kernel" ] || die "--kernel '$kernel': not a readable file"
[ -z "$initrd" ] || [ -r "$initrd" ] || die "--initrd '$initrd': not a readable file"

# The host CPUs: a taskset list.  --pcpus P takes the first P of our affinity.
if [ -z "$cpu_list" ]; then
	allowed=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))' 2>/dev/null ||
		  seq -s, 0 $(($(nproc) - 1)))
	IFS=, read -r -a all <<<"$allowed"
	[ -z "$pcpus" ] && pcpus=${#all[@]}
	[ "$pcpus" -le ${#all[@]} ] || die "--pcpus $pcpus: only ${#all[@]} CPUs available ($allowed)"
	cpu_list=$(IFS=,; echo "${all[*]:0:$pcpus}")
fi

# The accelerator: KVM only where /dev/kvm is checked to be a standard KVM.
kvm_check=$root/build/bin/pvlock-kvm-check
pick_accel() {
	if [ ! -e /dev/kvm ]; then
		use=tcg why="no /dev/kvm"
		return
	fi
	if [ ! -x "$kvm_check" ]; then
		mkdir -p "$(dirname "$kvm_check")"
		${CC:-cc} -O2 -o "$kvm_check" "$here/kvm-check.c" 2>/dev/null ||
			{ use=tcg why="/dev/kvm found but the checker (tools/vm/kvm-check.c) did not build"; return; }
	fi
	local out rc
	out=$("$kvm_check" /dev/kvm 2>&1); rc=$?
	case $rc in
	0) use=kvm why=$out ;;
	1) use=tcg why="/dev/kvm is NOT a standard KVM, falling back to TCG: ${out#not standard KVM: }" ;;
	*) use=tcg why="/dev/kvm unusable (${out:-checker exit status $rc})" ;;
	esac
}
case $accel in
tcg) use=tcg why="--accel tcg" ;;
*) pick_accel
   [ "$accel" = kvm ] && [ "$use" != kvm ] && die "--accel kvm: $why" ;;
esac
if [ "$use" = kvm ]; then
	accel_args=(-accel kvm -cpu host)
else
	# Multi-threaded TCG: one host thread per vCPU, scheduled by the host
	# like a KVM vCPU thread.
	accel_args=(-accel tcg,thread=multi -cpu max)
fi
[ -n "$quiet" ] || echo "vm: accel=$use ($why); $vcpus vCPUs on host CPUs $cpu_list"

args=(-nodefaults -no-user-config -display none -monitor none -no-reboot
      -name pvlock-vm,debug-threads=on
      "${accel_args[@]}" -smp "$vcpus" -m "$mem" -kernel "$kernel"
      -serial "file:$console" -serial "file:$data")
if [ -n "$initrd" ]; then
	args+=(-initrd "$initrd")
	[ -n "$append_set" ] || append="console=ttyS0 panic=-1 quiet"
fi
[ -n "$append_set" ] || [ -n "$initrd" ] && args+=(-append "$append")

if [ -n "$meta" ]; then
	{
		echo "accel=$use"
		echo "accel_why=$why"
		echo "qemu=$("$qemu" --version | head -n 1)"
		echo "kernel=$kernel"
		echo "vcpus=$vcpus"
		echo "host_cpus=$cpu_list"
		echo "mem_mb=$mem"
		echo "append=$append"
		echo "autogroup_nice=${agnice:-none}"
	} >"$meta"
fi

sample() {	# mark name: the host clock, then one line per QEMU thread
	local t s comm
	echo "$1 0 @host-clock-ns ${EPOCHREALTIME/./}000 0 0" >>"$schedstat"
	for t in /proc/$pid/task/*; do
		read -r s <"$t/schedstat" 2>/dev/null || continue
		read -r comm <"$t/comm" 2>/dev/null || comm=?
		echo "$1 ${t##*/} ${comm// /_} $s"
	done >>"$schedstat"
}

[ "$data" = /dev/null ] || : >"$data"
[ -z "$schedstat" ] || : >"$schedstat"
start=$SECONDS
launch=(taskset -c "$cpu_list" "$qemu" "${args[@]}" "${extra[@]}")
if [ -n "$agnice" ]; then
	# setsid execs in place here (a background job of a script is no process
	# group leader), so $! stays QEMU's pid.
	[ -w /proc/self/autogroup ] || die "--autogroup-nice: no /proc/self/autogroup (kernel without autogroups)"
	launch=(setsid bash -c 'echo "$0" >/proc/self/autogroup || exit 125; exec "$@"' "$agnice" "${launch[@]}")
fi
"${launch[@]}" &
pid=$!
seen=0 rc=
[ -z "$schedstat" ] || sample @start
while kill -0 "$pid" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		echo "qemu-run: guest still running after ${timeout}s: killed" >&2
		[ -z "$schedstat" ] || sample @timeout
		kill "$pid" 2>/dev/null; sleep 1; kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
		break
	fi
	if [ -n "$schedstat" ] && [ -f "$data" ]; then
		mapfile -t marks < <(grep -a '^@@mark ' "$data")
		while [ "$seen" -lt ${#marks[@]} ]; do
			m=${marks[$seen]#@@mark }
			m=${m%%[[:space:]]*}
			sample "${m//[^A-Za-z0-9_.:=-]/_}"
			seen=$((seen + 1))
		done
	fi
	sleep 0.2
done
if [ -z "$rc" ]; then
	wait "$pid"
	rc=$?
fi
exit "$rc"
