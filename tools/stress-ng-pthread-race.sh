#!/usr/bin/env bash
# stress-ng-pthread-race.sh - force the end-of-run interleaving in which
# stress-ng 0.15's --pthread stressor reports
#     pthread: pthread_mutex_unlock failed, tid=N, errno=22 (Invalid argument)
# and show it comes from stress-ng, with or without pvlock (see
# docs/preload-results.md, "stress-ng --pthread and EINVAL").
#
#   tools/stress-ng-pthread-race.sh                      plain glibc
#   tools/stress-ng-pthread-race.sh --lock tas [...]     under build/bin/pvlock-run
#
# The program and the C library are unmodified: gdb (attached to the stressor
# process) only decides which thread runs when, as a loaded machine may.
#  1. The controlling thread creates a worker while it holds the stressor's
#     mutex, and is then not scheduled; the worker runs until it blocks in
#     pthread_mutex_lock on that mutex.
#  2. stress-ng's own timeout (SIGALRM, blocked and polled) becomes pending.
#  3. Only the controlling thread runs: it sees the timeout, breaks out of its
#     create loop without counting the worker it just made (so it never joins
#     it), unlocks, and destroys the mutex.
#  4. The worker runs: it takes the mutex, sees the run is over, unlocks.
# Exit status: 0 if that unlock returned 0, 1 if it failed, 2 if the
# interleaving could not be set up.  Needs stress-ng, gdb, ptrace rights and
# x86-64 (arguments are read from registers); about RUN_SECONDS (60) per run.
set -u
cd "$(dirname "$0")/.." || exit 2
for c in stress-ng gdb; do
	command -v "$c" >/dev/null || { echo "SKIP: $c is not installed"; exit 2; }
done
pre=()
[ $# -gt 0 ] && pre=("$PWD/build/bin/pvlock-run" "$@" --)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stress-ng-race.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/force.py" <<'EOF'
import gdb, os, time
pid = int(os.environ["STRESS_PID"])
def x(c, s=False):
    return gdb.execute(c, to_string=s)
x("set pagination off"); x("set confirm off")
x("handle SIGALRM nostop noprint pass"); x("handle SIGUSR1 nostop noprint pass")
x("attach %d" % pid)
main = gdb.selected_thread()
# 1.
x("break pthread_create thread %d" % main.num)
x("continue")
x("set scheduler-locking on")
x("finish")
x("delete")
t = max(gdb.selected_inferior().threads(), key=lambda th: th.num)
x("thread %d" % t.num)
if "mutex_lock" not in x("bt", True):
    for f in ("__lll_lock_wait", "pvlock__qspin_lock_slow", "pvlock__ticket_lock_slow",
              "pvlock__tas_lock_slow"):
        try:
            x("break %s thread %d" % (f, t.num), True)
        except gdb.error:
            pass
    x("continue")
    x("delete")
print("FORCE: the new worker waits in:\n%s" % x("bt 4", True))
# 2.
def alarm_pending():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("ShdPnd:"):
            return int(line.split()[1], 16) & (1 << 13)
while not alarm_pending():
    time.sleep(0.05)
print("FORCE: stress-ng's SIGALRM is pending")
# 3.
x("thread %d" % main.num)
x("break pthread_mutex_destroy thread %d" % main.num)
x("continue")
print("FORCE: the controlling thread destroys the mutex at %#x" % int(gdb.parse_and_eval("$rdi")))
x("delete")
x("finish")
print("FORCE: pthread_mutex_destroy returned %d" % int(gdb.parse_and_eval("$rax")))
# 4.
x("thread %d" % t.num)
x("break pthread_mutex_unlock thread %d" % t.num)
x("continue")
x("delete")
x("finish")
print("FORCE: the worker's pthread_mutex_unlock returned %d" % int(gdb.parse_and_eval("$rax")))
# The worker reports a failed unlock before its next step, setns(): let it
# get there before the controlling thread may end the process.
x("break setns thread %d" % t.num)
x("continue")
x("delete")
x("set scheduler-locking off")
x("detach")
EOF

secs=${RUN_SECONDS:-60}
for attempt in 1 2 3; do
	"${pre[@]}" stress-ng --pthread 1 --pthread-max 1 -t "$secs" >"$WORK/out" 2>&1 &
	top=$!
	child=
	for _ in $(seq 200); do
		child=$(pgrep -P "$top" -f "stress-ng-pthread .run") && break
		sleep 0.05
	done
	[ -n "$child" ] && STRESS_PID=$child timeout $((secs * 5)) gdb -q -batch -x "$WORK/force.py" \
		>"$WORK/gdb" 2>&1
	wait "$top"
	grep -q "^FORCE: the worker's" "$WORK/gdb" && break
	echo "(could not set up the interleaving, attempt $attempt; gdb said: $(grep -m1 -i error "$WORK/gdb"))"
done
grep -A4 "^FORCE" "$WORK/gdb" | grep -E "^(FORCE|#)"
echo "stress-ng printed:"
sed 's/^/  /' "$WORK/out"
ret=$(sed -n "s/^FORCE: the worker's pthread_mutex_unlock returned //p" "$WORK/gdb")
[ -n "$ret" ] || exit 2
[ "$ret" = 0 ]
