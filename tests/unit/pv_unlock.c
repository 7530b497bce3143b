/*
 * pv_unlock.c - the store kind of pv unlock (docs/design.md, "The pv unlock
 * without a locked instruction"), step by step: the head sleeps on its
 * notice and the unlock's wake path claims its entry and kicks it; the owner
 * hashes a sleeping successor on its behalf; an unlocker parked after its
 * release meets the entry of a later head (a stranger's claim), before or
 * after that head's sleep began, and the head just hashes again; the head
 * that finds the lock free after its membarrier races an unlocker for its
 * own entry (both outcomes); a forked child's heads still sleep and are
 * woken.  tests/unit/pv_unlock_cas.c has the CAS kind's choice (PVLOCK_PV_UNLOCK,
 * membarrier refused) and membarrier refused at run time.
 *
 * Fault-injection point hooks park threads at exact places, the recording
 * backend counts waits, and the lock statistics show each path was taken.
 */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "algo/pv_hash.h"
#include "lib/check.h"

static pvlock_t lock;
static int order[8], order_n;

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
	test_point_hook(hook_park_after_release);
	pvlock_unlock(&lock);
	test_point_hook(NULL);
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

/* As above, but B is parked after its look (the lock held by the holder),
 * before it sleeps, while our unlock claims its entry and kicks it: the
 * kick comes before B's sleep begins.  B sleeps on its notice, which is
 * already set, so it hashes again and sleeps until the holder's unlock.
 * (A head that slept on the locked byte it saw would sleep through the
 * holder's unlock, which finds no entry: a lost wake-up, M1's mutant
 * MUTANT_SLEEP_ON_LOCK.) */
static int b_looked, go_looked;

static void hook_kick_before_sleep(enum pvlock_preempt_point where)
{
	bool is_main = pthread_equal(pthread_self(), main_thread);

	if (where == PVLOCK_PP_UNLOCK_RELEASED && is_main && !flag(&parked_done)) {
		set_flag(&parked_done);
		t_holder = test_start(holder, NULL);
		WAIT_UNTIL(flag(&holding), 10);
		t_b = test_start(locker, &lock);
		WAIT_UNTIL(flag(&b_looked), 10);
	} else if (where == PVLOCK_PP_HEAD_LOOKED && !is_main && !flag(&b_looked)) {
		set_flag(&b_looked);
		WAIT_UNTIL(flag(&go_looked), 10);
	}
}

static void stranger_kick_before_sleep(void)
{
	setup();
	main_thread = pthread_self();
	pvlock_lock(&lock);
	test_point_hook(hook_kick_before_sleep);
	pvlock_unlock(&lock);
	CHECK_EQ(test_stats().pv_kick_unlock, 1);	/* B kicked before its sleep */
	CHECK_EQ(rec_waits(), 0);
	set_flag(&go_looked);
	WAIT_UNTIL(rec_waits() == 1, 10);		/* B hashed again and sleeps */
	test_point_hook(NULL);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	set_flag(&release_holder);
	test_join(t_holder);
	test_join(t_b);
	CHECK_EQ(order_n, 2);
	CHECK_EQ(order[1], 1);
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(sleepers(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_unlock_wake, 2);
	CHECK_EQ(s.pv_kick_unlock, 2);
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
	test_point_hook(hook_take_back_race);
	pvlock_lock(&lock);
	test_thread b = test_start(b_locker, &lock);
	WAIT_UNTIL(flag(&b_parked), 10);
	CHECK_EQ(sleepers(), 1);
	pvlock_unlock(&lock);
	set_flag(&go_b2);
	test_join(b);
	test_point_hook(NULL);
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

int main(void)
{
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
	test_run("pv store unlock: a stranger's kick before the head sleeps; the head sleeps on "
		 "its notice, hashes again", PVLOCK_MODE_PV, stranger_kick_before_sleep);
	test_run("pv store unlock: head finds the lock free, takes its entry back first",
		 PVLOCK_MODE_PV, take_back_head_wins);
	test_run("pv store unlock: head finds the lock free, the unlocker claims first",
		 PVLOCK_MODE_PV, take_back_unlocker_wins);
	test_run("pv store unlock: a forked child's heads sleep and are woken", PVLOCK_MODE_PV,
		 forked_child_heads_sleep);
	return test_finish();
}
