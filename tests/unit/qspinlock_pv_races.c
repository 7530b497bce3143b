/*
 * qspinlock_pv_races.c - the paravirtual queued lock at the exact places
 * where Linux's pv-spinlock races live (docs/design.md, "Linux's
 * pv-spinlock races"), each forced by a fault-injection point hook: the
 * head finding the lock free at its xchg, forced spurious wake-ups,
 * colliding hash entries, unlock never touching the lock after releasing
 * it, no double hash when the kicker is preempted, unhash before release,
 * and a head woken before its unlocker releases.
 *
 * The recording backend (tests/lib/record_backend.c) counts waits and can
 * hold kicks back; a small spin threshold makes waiters sleep at once.
 * These cases step through the CAS kind of pv unlock (_Q_SLOW_VAL): main()
 * sets it before any lock is contended, as the library's constructor does
 * for PVLOCK_PV_UNLOCK=cas.  tests/unit/pv_unlock.c has the store kind's
 * cases.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "lib/qspinlock_pv.h"

/* The lock is released between the head's hashing and its xchg: the xchg
 * returns 0, the head owns the lock, puts 1 back and removes its entry
 * before anyone can see _Q_SLOW_VAL.  Also checks the order that "slow
 * flag before hash entry" (docs/design.md) breaks: at that point the entry
 * exists and SLOW is not yet set. */
static int free_at_xchg;
static void hook_release_before_slow(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_HEAD_BEFORE_SLOW)
		return;
	if (pvlock__pv_hash_entries_for(&lock) != 1 || locked_byte(&lock) == SLOW)
		FAIL("hash entry must exist before _Q_SLOW_VAL is set");
	__atomic_store_n(&free_at_xchg, 1, __ATOMIC_RELEASE);
	WAIT_UNTIL(locked_byte(&lock) == 0, 10);
}

static void head_finds_lock_free_at_xchg(void)
{
	setup(64);
	test_point_hook(hook_release_before_slow);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(load_int(&free_at_xchg), 10);
	pvlock_unlock(&lock);			/* locked is 1, not SLOW: plain CAS */
	test_join(b);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_head, 0);
	CHECK_EQ(s.pv_kick_unlock, 0);
	CHECK_EQ(s.pv_hash_ops, 2);		/* insert, take back */
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_HEAD_BEFORE_SLOW], 1);
}

/* Every wait returns at once (forced spurious wake-ups): queued waiters
 * count spurious wake-ups and loop; nobody is lost, nothing is left hashed. */
static void forced_spurious_wakeups(void)
{
	/* Only queued waiters behind the head count spurious wake-ups
	 * (pv_wait_node): the second and third must queue, not yield. */
	setup_queueing(64);
	pvlock__fault.spurious_wakeup_pct = 100;
	pvlock_lock(&lock);
	test_thread t[3];
	for (int i = 0; i < 3; i++)
		t[i] = test_start(locker, &lock);
	WAIT_UNTIL(test_stats().pv_spurious_wakeup >= 10, 10);
	pvlock_unlock(&lock);
	for (int i = 0; i < 3; i++)
		test_join(t[i]);
	CHECK_EQ(load_int(&order_n), 3);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_GE(f.spurious_wakeups, 10);
	CHECK_GE(test_stats().pv_wait_head, 1);
}

/* "hash line collision" (docs/design.md): two locks share the one hash
 * line left; each unlock must find its own entry, whatever the order. */
static void colliding_hash_entries(void)
{
	setup(64);
	pvlock__fault.hash_lines = 1;
	pvlock_lock(&lock);
	pvlock_lock(&lock2);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	test_thread c = test_start(locker, &lock2);
	WAIT_UNTIL(rec_waits_on(&lock2.locked) == 1, 10);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock2), 1);
	pvlock_unlock(&lock2);			/* the second entry first */
	test_join(c);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock2), 0);
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(order[0], 2);
	CHECK_EQ(order[1], 1);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_kick_unlock, 2);
	CHECK(s.pv_hash_hops > s.pv_hash_ops);	/* someone probed past the first entry */
}

/* "touch after release" (docs/design.md): after its release store, unlock
 * must not touch the lock (its next owner may free it).  The lock sits alone in a page that the point hook
 * makes inaccessible right after the release; the kick is held so that the
 * woken waiter cannot touch it either until we restore access. */
static pvlock_t *page_lock;
static void hook_protect_after_release(enum pvlock_preempt_point where)
{
	if (where == PVLOCK_PP_UNLOCK_BEFORE_KICK)
		mprotect(page_lock, 4096, PROT_NONE);
}

static void *page_locker(void *arg)
{
	(void)arg;
	pvlock_lock(page_lock);
	pvlock_unlock(page_lock);
	return NULL;
}

static void unlock_never_touches_released_lock(void)
{
	setup(64);
	page_lock = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(page_lock != MAP_FAILED);
	pvlock_lock(page_lock);
	test_thread b = test_start(page_locker, NULL);
	WAIT_UNTIL(rec_waits_on(&page_lock->locked) == 1, 10);
	rec_hold_kicks(true);
	test_point_hook(hook_protect_after_release);
	pvlock_unlock(page_lock);		/* a touch after release: SIGSEGV */
	test_point_hook(NULL);
	CHECK_EQ(rec_kicks_held(), 1);
	CHECK_EQ(mprotect(page_lock, 4096, PROT_READ | PROT_WRITE), 0);
	rec_hold_kicks(false);
	test_join(b);
	CHECK_EQ(test_stats().pv_kick_unlock, 1);
}

/* "double hash" (docs/design.md): the new owner is preempted inside kick_node, after marking the
 * sleeping successor HASHED and before hashing it.  The successor, woken
 * now, must see HASHED and not hash itself: at most one entry per lock. */
static void hook_wake_successor_mid_kick(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_KICK_NODE_HASH)
		return;
	/* The successor is the queue tail: wake it spuriously. */
	uint32_t tail = __atomic_load_n(&lock.val, __ATOMIC_ACQUIRE) >> 18;
	CHECK(tail != 0);
	struct pvlock_slot *succ = &pvlock__slots[tail - 1];
	unsigned head_waits = rec_waits_on(&lock.locked);
	__atomic_fetch_add(&succ->token, 1, __ATOMIC_SEQ_CST);
	/* It runs wait_head_or_lock and goes back to sleep, unhashed by itself. */
	WAIT_UNTIL(rec_waits_on(&lock.locked) == head_waits + 1, 10);
	if (pvlock__pv_hash_entries_for(&lock) != 0)
		FAIL("successor hashed itself while its kicker was about to (double hash)");
}

static void no_double_hash_when_kicker_preempted(void)
{
	setup_queueing(512);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	queue_behind_sleeping_head(&lock);
	test_point_hook(hook_wake_successor_mid_kick);
	pvlock_unlock(&lock);
	test_join(b);
	test_join(second);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_KICK_NODE_HASH], 1);
	CHECK_EQ(test_stats().pv_kick_unlock, 2);
}

/* "release before unhash" (docs/design.md): unlock removes the entry
 * before it releases the lock. */
static void hook_check_unhash_before_release(enum pvlock_preempt_point where)
{
	if (where == PVLOCK_PP_UNLOCK_UNHASHED &&
	    (pvlock__pv_hash_entries_for(&lock) != 0 || locked_byte(&lock) != SLOW))
		FAIL("unlock must remove the hash entry before releasing the lock");
}

static void unhash_before_release(void)
{
	setup(64);
	test_point_hook(hook_check_unhash_before_release);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	pvlock_unlock(&lock);
	test_join(b);
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_UNLOCK_UNHASHED], 1);
}

/* Found by the M1 model: the unlocker has removed the head's entry (and set
 * its "unhashed" notice) but not yet released, so the lock still reads SLOW,
 * when the head wakes spuriously.  The head must not hash again then: the
 * unlocker's release would overwrite the head's SLOW and strand the entry,
 * and a later unlock would find the stale entry and kick the wrong thread. */
static void hook_wake_head_before_release(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_UNLOCK_UNHASHED)
		return;
	uint32_t tail = __atomic_load_n(&lock.val, __ATOMIC_ACQUIRE) >> 18;
	CHECK(tail != 0);
	unsigned waits = rec_waits_on(&lock.locked);
	__atomic_fetch_add(&pvlock__slots[tail - 1].token, 1, __ATOMIC_SEQ_CST);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == waits + 1, 10);	/* asleep again */
	if (pvlock__pv_hash_entries_for(&lock) != 0)
		FAIL("head hashed again while its unlocker had not released (stale entry)");
}

static void head_woken_before_unlocker_releases(void)
{
	setup(64);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	test_point_hook(hook_wake_head_before_release);
	pvlock_unlock(&lock);
	test_point_hook(NULL);
	test_join(b);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_UNLOCK_UNHASHED], 1);
	CHECK_EQ(test_stats().pv_wait_head, 2);
}

int main(void)
{
	/* No slow path has run yet (each case runs in a fork child). */
	__atomic_fetch_or(&pvlock__mode_state, PVLOCK__MODE_CAS_UNLOCK, __ATOMIC_RELAXED);
	test_run("pv head finds lock free at xchg (slow flag before hash entry)", PVLOCK_MODE_PV,
		 head_finds_lock_free_at_xchg);
	test_run("pv forced spurious wake-ups", PVLOCK_MODE_PV, forced_spurious_wakeups);
	test_run("pv colliding hash entries (hash line collision)", PVLOCK_MODE_PV,
		 colliding_hash_entries);
	test_run("pv unlock never touches a released lock (touch after release)", PVLOCK_MODE_PV,
		 unlock_never_touches_released_lock);
	test_run("pv no double hash when kicker is preempted (double hash)", PVLOCK_MODE_PV,
		 no_double_hash_when_kicker_preempted);
	test_run("pv unlock unhashes before releasing (release before unhash)", PVLOCK_MODE_PV,
		 unhash_before_release);
	test_run("pv head woken before its unlocker releases does not re-hash (M1)",
		 PVLOCK_MODE_PV, head_woken_before_unlocker_releases);
	return test_finish();
}
