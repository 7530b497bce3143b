#!/usr/bin/env bash
# guest/run.sh - boot the bare-metal guest and print its serial console.
# Used by tests/programs/guest.sh (make check) and guest/demo.sh (make guest-demo).
#
#   guest/run.sh [--vcpus V] [--pcpus P] [--timeout S] [--log FILE] [--meta FILE] -- GUEST-ARGS
#
#   --vcpus V      vCPUs (default 4); the guest is told cpus=V
#   --pcpus P      host CPUs: QEMU, every thread, pinned to the first P this
#                  process may use (default 2)
#   --timeout S    watchdog: kill QEMU after S seconds (default 60)
#   --log FILE     keep the serial console there (default: a temporary file)
#   --meta FILE    tools/vm/qemu-run.sh's key=value facts (accel, host CPUs)
#   GUEST-ARGS     the guest's command line: ms=N hz=N cs=N think=N spin=N check
#
# Exit status: 0 the guest ended with status 0; 1 it reported failures;
# 2 it did not finish (crash, watchdog); 3 bad usage or no QEMU.
#
# The QEMU plumbing (pinning, accelerator choice, serial capture, watchdog)
# is tools/vm/qemu-run.sh's: KVM where /dev/kvm is a standard KVM (then the
# guest takes its KVM paths, chosen by CPUID), else multi-threaded TCG.  We
# add only QEMU's isa-debug-exit device, through which the guest ends QEMU
# with status 2v+1 (guest/console.c).
set -u
cd "$(dirname "$0")/.." || exit 3
VCPUS=4 PCPUS=2 TIMEOUT=60 LOG="" META=""
while [ $# -gt 0 ]; do
	case $1 in
	--vcpus) VCPUS=${2-}; shift 2 ;;
	--pcpus) PCPUS=${2-}; shift 2 ;;
	--timeout) TIMEOUT=${2-}; shift 2 ;;
	--log) LOG=${2-}; shift 2 ;;
	--meta) META=${2-}; shift 2 ;;
	--) shift; break ;;
	*) echo "guest/run.sh: unknown option '$1'; accepted: --vcpus V, --pcpus P, --timeout S, --log FILE, --meta FILE, then -- and the guest's arguments" >&2
	   exit 3 ;;
	esac
done
if ! [[ "$VCPUS" =~ ^[0-9]+$ ]] || [ "$VCPUS" -lt 1 ] || [ "$VCPUS" -gt 16 ]; then
	echo "guest/run.sh: --vcpus '$VCPUS' is not valid; accepted: 1 to 16 (the guest's MAX_CPUS)" >&2
	exit 3
fi
IMAGE=build/guest/pvlock-guest
[ -f "$IMAGE" ] || { echo "guest/run.sh: $IMAGE not built (make $IMAGE)" >&2; exit 3; }

tmp=""
if [ -z "$LOG" ]; then
	tmp=$(mktemp "${TMPDIR:-/tmp}/pvlock-guest.XXXXXX") || exit 3
	LOG=$tmp
	trap 'rm -f "$tmp"' EXIT
fi
meta_args=()
[ -z "$META" ] || meta_args=(--meta "$META")

bash tools/vm/qemu-run.sh --quiet --kernel "$IMAGE" --append "cpus=$VCPUS $*" \
	--vcpus "$VCPUS" --pcpus "$PCPUS" --mem 128 --console "$LOG" \
	--timeout "$TIMEOUT" "${meta_args[@]}" -- -device isa-debug-exit,iobase=0xf4,iosize=0x04
rc=$?
tr -d '\r' <"$LOG"
case $rc in
1) exit 0 ;;			# guest_exit(0)
3) exit 1 ;;			# guest_exit(1): failures reported
2) exit 3 ;;			# qemu-run.sh: bad usage, no QEMU
124) echo "guest/run.sh: watchdog: the guest did not exit within ${TIMEOUT}s" >&2; exit 2 ;;
*) echo "guest/run.sh: QEMU ended with status $rc" >&2; exit 2 ;;
esac
