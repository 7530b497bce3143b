#!/usr/bin/env bash
# guest/run.sh - boot the bare-metal guest under QEMU and print its serial
# console.  Used by tests/guest.sh (make check) and guest/demo.sh.
#
#   guest/run.sh [--vcpus V] [--host-cpus LIST] [--timeout S] [--log FILE] -- GUEST-ARGS
#
#   --vcpus V        vCPUs (QEMU -smp V); the guest is told cpus=V
#   --host-cpus LIST host CPUs the whole QEMU process may use (taskset -c);
#                    default: the first two this process may use
#   --timeout S      watchdog: kill QEMU after S seconds (default 60)
#   --log FILE       keep the serial output there (default: a temporary file)
#   GUEST-ARGS       the guest's command line: ms=N hz=N cs=N think=N spin=N check
#
# Exit status: 0 the guest ended with status 0; 1 it reported failures;
# 2 it did not finish (crash, watchdog); 3 QEMU is missing or failed to start.
#
# Acceleration: TCG with one host thread per vCPU (-accel tcg,thread=multi),
# always.  The image itself picks KVM's paravirtual paths by CPUID when a
# standard KVM runs it; this launcher does not use /dev/kvm.
set -u
cd "$(dirname "$0")/.." || exit 3
VCPUS=4 HOST_CPUS="" TIMEOUT=60 LOG=""
while [ $# -gt 0 ]; do
	case $1 in
	--vcpus) VCPUS=$2; shift 2 ;;
	--host-cpus) HOST_CPUS=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "guest/run.sh: unknown option '$1'; accepted: --vcpus V, --host-cpus LIST, --timeout S, --log FILE, then -- and the guest's arguments" >&2
	   exit 3 ;;
	esac
done
if ! [[ "$VCPUS" =~ ^[0-9]+$ ]] || [ "$VCPUS" -lt 1 ] || [ "$VCPUS" -gt 16 ]; then
	echo "guest/run.sh: --vcpus '$VCPUS' is not valid; accepted: 1 to 16" >&2
	exit 3
fi
QEMU=$(command -v qemu-system-x86_64) || { echo "guest/run.sh: qemu-system-x86_64 not found" >&2; exit 3; }
IMAGE=build/guest/pvlock-guest
[ -f "$IMAGE" ] || { echo "guest/run.sh: $IMAGE not built (make $IMAGE)" >&2; exit 3; }

# The first two CPUs we may run on, unless told.
if [ -z "$HOST_CPUS" ]; then
	allowed=$(taskset -pc $$ 2>/dev/null | sed 's/.*: //')
	HOST_CPUS=$(python3 - "$allowed" <<'PY' 2>/dev/null || echo 0
import sys
cpus = []
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    cpus += range(int(a), int(b or a) + 1)
print(",".join(map(str, cpus[:2])))
PY
)
fi

tmp=""
if [ -z "$LOG" ]; then
	tmp=$(mktemp "${TMPDIR:-/tmp}/pvlock-guest.XXXXXX") || exit 3
	LOG=$tmp
	trap 'rm -f "$tmp"' EXIT
fi
: >"$LOG"

# -nodefaults: no VGA, network or disks, only what we ask for:
#   COM1 into the log; isa-debug-exit at port 0xf4, through which the guest
#   ends QEMU with status 2v+1 (guest/console.c).
timeout -k 5 "$TIMEOUT" taskset -c "$HOST_CPUS" "$QEMU" \
	-accel tcg,thread=multi -smp "$VCPUS" -m 128M -nodefaults -display none \
	-monitor none -no-reboot -serial "file:$LOG" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$IMAGE" -append "cpus=$VCPUS $*" 2>"$LOG.err"
rc=$?
cat "$LOG"
if [ -s "$LOG.err" ]; then
	sed 's/^/qemu: /' "$LOG.err" >&2
fi
rm -f "$LOG.err"
case $rc in
1) exit 0 ;;			# guest_exit(0)
3) exit 1 ;;			# guest_exit(1): failures reported
124|137) echo "guest/run.sh: watchdog: no exit after ${TIMEOUT}s (host CPUs $HOST_CPUS)" >&2; exit 2 ;;
*) echo "guest/run.sh: QEMU ended with status $rc" >&2; exit 2 ;;
esac
