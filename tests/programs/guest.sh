#!/usr/bin/env bash
# tests/programs/guest.sh - the bare-metal guest (guest/) in make check.
#
# Boots build/guest/pvlock-guest under QEMU (TCG) with 4 vCPUs on 2 host
# CPUs and runs every lock for a second and then until it has shown what
# is checked (at most 20 s: guest/main.c), while timer, IPI and NMI
# handlers take locks of their own.  The guest prints the PASS/FAIL lines
# itself (guest/main.c):
#   - all 4 vCPUs came up (INIT-SIPI-SIPI);
#   - per lock and nesting level: mutual exclusion (a plain counter
#     incremented under the lock equals the acquisitions counted);
#   - pv locks: waiters halted and were kicked (statistics not zero);
#   - queued locks: a handler queued while the code it interrupted was queued;
#   - the control: the same counter without a lock loses updates.
# This script adds: the guest finished (no crash, no watchdog) and printed
# every line it should.  Bounded: a 300 s watchdog in guest/run.sh, a hang
# detector (about 10 s idle and 12 s at load 8-30; the guest's own bounds
# add up to about 130 s).
set -u
cd "$(dirname "$0")/../.." || exit 1
name=guest

if [ "$(uname -m)" != x86_64 ]; then
	echo "SKIP: $name: the guest is x86-64 code; this host is $(uname -m)"
	exit 0
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: $name: qemu-system-x86_64 not installed (scripts/install-deps.sh installs qemu-system-x86)"
	exit 0
fi
if [ ! -f build/guest/pvlock-guest ]; then
	echo "FAIL: $name: build/guest/pvlock-guest not built (make check builds it)"
	exit 1
fi

LOG=build/test-logs/guest-serial.log
mkdir -p "$(dirname "$LOG")"
bash guest/run.sh --vcpus 4 --timeout 300 --log "$LOG" -- ms=1000 check >/dev/null 2>"$LOG.stderr"
rc=$?
grep -E '^(PASS|FAIL|SKIP): ' "$LOG"

# 1 boot + 5 locks x 4 levels + 2 pv + 1 queued nesting + 1 control.
want=25
got=$(grep -c '^PASS: guest: ' "$LOG")
failed=$(grep -c '^FAIL: ' "$LOG")
case $rc in
0)	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $name: the guest printed $got PASS lines, expected $want (serial log: $LOG)"
		exit 1
	fi
	echo "PASS: $name: the guest booted, ran every lock and exited cleanly" ;;
1)	[ "$failed" -gt 0 ] || echo "FAIL: $name: the guest reported a failure (serial log: $LOG)"
	exit 1 ;;
*)	echo "FAIL: $name: the guest did not finish: $(tail -1 "$LOG.stderr" 2>/dev/null); last serial line: $(tail -1 "$LOG" | tr -d '\r') (log: $LOG)"
	exit 1 ;;
esac
