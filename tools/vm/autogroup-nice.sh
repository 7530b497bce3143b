#!/usr/bin/env bash
# tools/vm/autogroup-nice.sh N COMMAND... - run COMMAND in a session of its
# own whose scheduler autogroup has nice N (-20..19; below 0 needs root), as
# qemu-run.sh --autogroup-nice does for QEMU.  make vm-demo runs the host
# side of its comparison this way, so that guest and host get the same
# treatment.  Without autogroups (or root for N < 0) it says so on stderr and
# runs COMMAND as it is.
n=${1:?usage: autogroup-nice.sh N COMMAND...}; shift
exec setsid -w bash -c 'echo "$0" >/proc/self/autogroup 2>/dev/null ||
	echo "autogroup-nice: cannot set autogroup nice $0: running at the default" >&2
	exec "$@"' "$n" "$@"
