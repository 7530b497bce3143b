/*
 * pv_unlock.c - the store kind of pv unlock (docs/design.md, "The pv unlock
 * without a locked instruction"), step by step: the head sleeps on its
 * notice and the unlock's wake path claims its entry and kicks it; the owner
 * hashes a sleeping successor on its behalf; an unlocker parked after its
 * release meets the entry of a later head (a stranger's claim) and the head
 * just hashes again; the head that finds the lock free after its membarrier
 * races an unlocker for its own entry (both outcomes); a forked child's
 * heads still sleep and are woken; the CAS kind chosen by PVLOCK_PV_UNLOCK
 * or because membarrier(2) is refused (a seccomp filter); membarrier refused
 * at run time (the head looks again instead of sleeping).
 *
 * Fault-injection point hooks park threads at exact places, the recording
 * backend counts waits, and the lock statistics show each path was taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "algo/pv_hash.h"
#include "lib/check.h"

static pvlock_t lock;
static int order[8], order_n;
static char self_path[4096];

static void note(int who)
{
	order[__atomic_fetch_add(&order_n, 1, __ATOMIC_SEQ_CST)] = who;
}

static void *locker(void *arg)
{
	pvlock_lock(arg);
	note(1);
	pvlock_unlock(arg);
	return NULL;
}

static int release_holder, holding;
static void *holder(void *arg)
{
	(void)arg;
	pvlock_lock(&lock);
	note(9);
	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&release_holder, __ATOMIC_ACQUIRE))
		test_pause();
	pvlock_unlock(&lock);
	return NULL;
}

static int flag(int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void set_flag(int *p)
{
	__atomic_store_n(p, 1, __ATOMIC_RELEASE);
}

static uint8_t locked_byte(void)
{
	return __atomic_load_n(&lock.locked, __ATOMIC_ACQUIRE);
}

static unsigned sleepers(void)
{
	return __atomic_load_n(&pvlock__pv_sleepers[0], __ATOMIC_ACQUIRE);
}

static bool store_kind(void)
{
	return !(__atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED) & PVLOCK__MODE_CAS_UNLOCK);
}

static void setup(void)
{
	rec_install();
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	CHECK_EQ(pvlock_set_steal_yields(0), 0);	/* newcomers queue after their looks */
	CHECK(store_kind());
}

/* A head B sleeps behind us (on its notice, not the lock word). */
static test_thread head_sleeps_behind_us(void)
{
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits() == 1, 10);
	CHECK_EQ(rec_waits_on(&lock.locked), 0);
	CHECK_EQ(locked_byte(), PVLOCK__Q_LOCKED_VAL);		/* no _Q_SLOW_VAL */
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	CHECK_EQ(sleepers(), 1);
	return b;
}

static void head_sleeps_unlock_wakes(void)
{
	setup();
	test_thread b = head_sleeps_behind_us();
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(sleepers(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_membarrier, 1);
	CHECK_EQ(s.pv_membarrier_fail, 0);
	CHECK_EQ(s.pv_wait_head, 1);
	CHECK_EQ(s.pv_unlock_wake, 1);		/* ours; B's own unlock saw 0 */
	CHECK_EQ(s.pv_unlock_wake_none, 0);
	CHECK_EQ(s.pv_kick_unlock, 1);
	CHECK_EQ(s.pv_claim_lost, 0);
}

/* C sleeps queued behind the sleeping head B; B, given the lock, hashes C
 * (kick_node) and counts it; B's unlock then claims C's entry and kicks it. */
static void owner_hashes_sleeping_successor(void)
{
	setup();
	test_thread b = head_sleeps_behind_us();
	test_thread c = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits() == 2, 10);		/* C asleep in pv_wait_node */
	pvlock_unlock(&lock);
	test_join(b);
	test_join(c);
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(sleepers(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_node, 1);
	CHECK_EQ(s.pv_wait_head, 1);
	CHECK_EQ(s.pv_unlock_wake, 2);
	CHECK_EQ(s.pv_kick_unlock, 2);
	CHECK_EQ(s.pv_unlock_wake_none, 0);
}

/* Our unlock parks between its release store and its sleepers load.  Then
 * a holder takes the lock and a head B hashes, membarriers and sleeps.  Our
 * unlock goes on, sees the sleeper, claims B's entry (a lock we no longer
 * hold: a stranger's claim) and kicks B; B hashes again and sleeps again;
 * the holder's unlock wakes it, and B gets the lock. */
static pthread_t main_thread;
static int parked_done;
static test_thread t_holder, t_b;

static void hook_park_after_release(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_UNLOCK_RELEASED || !pthread_equal(pthread_self(), main_thread) ||
	    flag(&parked_done))
		return;
	set_flag(&parked_done);
	t_holder = test_start(holder, NULL);
	WAIT_UNTIL(flag(&holding), 10);
	t_b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits() == 1, 10);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	CHECK_EQ(test_stats().pv_unlock_wake, 0);	/* nobody has read sleepers yet */
}

static void parked_unlocker_meets_later_head(void)
{
	setup();
	main_thread = pthread_self();
	pvlock_lock(&lock);
	pvlock__fault.point_hook = hook_park_after_release;
	pvlock_unlock(&lock);
	pvlock__fault.point_hook = NULL;
	CHECK(flag(&parked_done));
	WAIT_UNTIL(rec_waits() == 2, 10);		/* B woken by us, asleep again */
	CHECK_EQ(order_n, 1);				/* only the holder got in */
	set_flag(&release_holder);
	test_join(t_holder);
	test_join(t_b);
	CHECK_EQ(order_n, 2);
	CHECK_EQ(order[0], 9);
	CHECK_EQ(order[1], 1);
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(sleepers(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_unlock_wake, 2);		/* ours (the stranger) and the holder's */
	CHECK_EQ(s.pv_kick_unlock, 2);
	CHECK_EQ(s.pv_wait_head, 2);
	CHECK_EQ(s.pv_wait_again, 1);
	CHECK_EQ(s.pv_membarrier, 2);
}

/*
 * B, hashed, is parked before its membarrier while we hold the lock.  Our
 * unlock releases, sees the sleeper and parks before its claim; B goes on,
 * finds the lock free after its membarrier and takes it.  Then either
 *   B first: B takes its entry back and leaves; our claim finds nothing; or
 *   we first: B parks before taking its entry back, our claim wins, and B
 *             waits for our notice before it leaves (pv_claim_lost).
 */
static int b_parked, go_b, b_at_take_back, go_b2, b_done, unlocker_first;

static void *b_locker(void *arg)
{
	locker(arg);
	set_flag(&b_done);
	return NULL;
}

static void hook_take_back_race(enum pvlock_preempt_point where)
{
	bool is_main = pthread_equal(pthread_self(), main_thread);

	if (where == PVLOCK_PP_HEAD_BEFORE_MEMBARRIER && !is_main && !flag(&b_parked)) {
		set_flag(&b_parked);
		WAIT_UNTIL(flag(&go_b), 10);
	} else if (where == PVLOCK_PP_UNLOCK_WAKE && is_main) {
		set_flag(&go_b);
		if (unlocker_first)
			WAIT_UNTIL(flag(&b_at_take_back), 10);
		else
			WAIT_UNTIL(flag(&b_done), 10);
	} else if (where == PVLOCK_PP_HEAD_TAKE_BACK && !is_main && unlocker_first) {
		set_flag(&b_at_take_back);
		WAIT_UNTIL(flag(&go_b2), 10);
	}
}

static void take_back_race(bool unlocker_wins)
{
	setup();
	main_thread = pthread_self();
	unlocker_first = unlocker_wins;
	pvlock__fault.point_hook = hook_take_back_race;
	pvlock_lock(&lock);
	test_thread b = test_start(b_locker, &lock);
	WAIT_UNTIL(flag(&b_parked), 10);
	CHECK_EQ(sleepers(), 1);
	pvlock_unlock(&lock);
	set_flag(&go_b2);
	test_join(b);
	pvlock__fault.point_hook = NULL;
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(sleepers(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_membarrier, 1);
	CHECK_EQ(s.pv_wait_head, 0);			/* B never slept */
	CHECK_EQ(s.pv_unlock_wake, 1);
	CHECK_EQ(s.pv_unlock_wake_none, unlocker_wins ? 0 : 1);
	CHECK_EQ(s.pv_kick_unlock, unlocker_wins ? 1 : 0);
	CHECK_EQ(s.pv_claim_lost, unlocker_wins ? 1 : 0);
}

static void take_back_head_wins(void) { take_back_race(false); }
static void take_back_unlocker_wins(void) { take_back_race(true); }

/* A forked child: registered for membarrier (pthread_atfork), its heads
 * sleep and are woken as in the parent. */
static void forked_child_heads_sleep(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pvlock_stats_reset();
		CHECK_EQ(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), 0);
		head_sleeps_unlock_wakes();
		_exit(0);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- the CAS kind: PVLOCK_PV_UNLOCK=cas, or membarrier refused ------------- */

/* --probe: print the kind, then one head sleep and its counters. */
static int probe(void)
{
	rec_install();
	pvlock_set_spin_threshold(64);
	pvlock_lock(&lock);
	pthread_t b;
	pthread_create(&b, NULL, locker, &lock);
	for (unsigned ms = 0; rec_waits() < 1 && ms < test_patience_ms(); ms++)
		test_sleep_ms(1);
	unsigned byte = locked_byte();
	pvlock_unlock(&lock);
	pthread_join(b, NULL);
	struct pvlock_stats s;
	pvlock_stats_read(&s);
	printf("kind=%s byte=%u wait_head=%llu kick=%llu membarrier=%llu\n",
	       store_kind() ? "store" : "cas", byte, (unsigned long long)s.pv_wait_head,
	       (unsigned long long)s.pv_kick_unlock, (unsigned long long)s.pv_membarrier);
	return 0;
}

/* A filter that refuses membarrier(2) with EPERM, as container runtimes'
 * default profiles may.  false if the kernel will not take it. */
static bool refuse_membarrier(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* Run --probe with PVLOCK_PV_UNLOCK=kind (NULL: unset), membarrier refused
 * or not; its stdout and stderr in out.  false: no filter possible here. */
static bool run_probe(const char *kind, bool refuse, char *out, size_t len)
{
	int fds[2];

	CHECK_EQ(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		if (refuse && !refuse_membarrier())
			_exit(77);
		if (kind)
			setenv("PVLOCK_PV_UNLOCK", kind, 1);
		else
			unsetenv("PVLOCK_PV_UNLOCK");
		execl(self_path, self_path, "--probe", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(fds[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fds[0]);
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		return false;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return true;
}

static void env_cas_as_today(void)
{
	char out[1024];

	run_probe("cas", false, out, sizeof(out));
	if (!strstr(out, "kind=cas byte=3 wait_head=1 kick=1 membarrier=0"))
		FAIL("PVLOCK_PV_UNLOCK=cas: expected the CAS kind (_Q_SLOW_VAL while the head "
		     "sleeps, no membarrier), got: %s", out);
	run_probe("store", false, out, sizeof(out));
	if (!strstr(out, "kind=store byte=1 wait_head=1 kick=1 membarrier=1"))
		FAIL("PVLOCK_PV_UNLOCK=store: expected the store kind, got: %s", out);
	run_probe("fast", false, out, sizeof(out));
	if (!strstr(out, "PVLOCK_PV_UNLOCK=\"fast\" is not a kind of unlock; accepted values: "
			 "store, cas") || !strstr(out, "kind=store"))
		FAIL("PVLOCK_PV_UNLOCK=fast: expected one line naming the accepted values and "
		     "the default, got: %s", out);
}

static void refused_membarrier_gives_cas(void)
{
	char out[1024];

	if (!run_probe(NULL, true, out, sizeof(out)))
		return;		/* main() reported the SKIP */
	if (!strstr(out, "kind=cas byte=3 wait_head=1 kick=1 membarrier=0"))
		FAIL("membarrier refused: expected the CAS kind, got: %s", out);
	if (strstr(out, "pvlock:"))
		FAIL("membarrier refused, no PVLOCK_PV_UNLOCK: expected no message, got: %s", out);
	run_probe("store", true, out, sizeof(out));
	if (!strstr(out, "pvlock: PVLOCK_PV_UNLOCK=store: membarrier(2) is refused") ||
	    !strstr(out, "using cas") || !strstr(out, "kind=cas"))
		FAIL("PVLOCK_PV_UNLOCK=store with membarrier refused: expected one line saying "
		     "so and the CAS kind, got: %s", out);
}

/* The kind is store (chosen before the filter), but every membarrier now
 * fails: the head must not sleep; it yields and looks again until it gets
 * the lock. */
static void refused_at_run_time_head_stays_awake(void)
{
	setup();
	if (!refuse_membarrier())
		FAIL("seccomp filter refused after the probe accepted one");
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(test_stats().pv_membarrier_fail >= 3, 10);
	CHECK_EQ(rec_waits(), 0);
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(sleepers(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_head, 0);
	CHECK_EQ(s.pv_membarrier, s.pv_membarrier_fail);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--probe"))
		return probe();
	if (argc == 2 && !strcmp(argv[1], "--exec-test"))
		return 0;
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 2;
	self_path[n] = 0;

	if (!store_kind()) {
		printf("SKIP: pv store unlock: the CAS kind is in force here (membarrier(2) "
		       "refused, or PVLOCK_PV_UNLOCK=cas)\n");
		return 0;
	}
	test_run("pv store unlock: head sleeps on its notice, unlock claims and kicks",
		 PVLOCK_MODE_PV, head_sleeps_unlock_wakes);
	test_run("pv store unlock: owner hashes its sleeping successor, its unlock kicks it",
		 PVLOCK_MODE_PV, owner_hashes_sleeping_successor);
	test_run("pv store unlock: unlocker parked after its release claims a later head's "
		 "entry; the head hashes again", PVLOCK_MODE_PV, parked_unlocker_meets_later_head);
	test_run("pv store unlock: head finds the lock free, takes its entry back first",
		 PVLOCK_MODE_PV, take_back_head_wins);
	test_run("pv store unlock: head finds the lock free, the unlocker claims first",
		 PVLOCK_MODE_PV, take_back_unlocker_wins);
	test_run("pv store unlock: a forked child's heads sleep and are woken", PVLOCK_MODE_PV,
		 forked_child_heads_sleep);
	/* qemu-user cannot exec a program of another architecture by itself. */
	pid_t pid = fork();
	int status = 0;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(self_path, self_path, "--exec-test", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("SKIP: PVLOCK_PV_UNLOCK and membarrier refused: this program cannot "
		       "run itself here (qemu-user?)\n");
		return test_finish();
	}
	test_run("PVLOCK_PV_UNLOCK=cas: the CAS kind (_Q_SLOW_VAL); store; a bad value",
		 -1, env_cas_as_today);
	pid = fork();
	if (pid == 0)
		_exit(refuse_membarrier() ? 0 : 77);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		test_run("membarrier refused (seccomp): the CAS kind, and a message if store "
			 "was asked for", -1, refused_membarrier_gives_cas);
		test_run("membarrier refused at run time: the head looks again, awake",
			 PVLOCK_MODE_PV, refused_at_run_time_head_stays_awake);
	} else {
		printf("SKIP: membarrier refused (seccomp): no seccomp filter can be installed "
		       "here\n");
	}
	return test_finish();
}
