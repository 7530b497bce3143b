/*
 * qspinlock_pv.c - the paravirtual queued lock (reference section 5), step by
 * step: the head sleeps and unlock kicks it; a queued waiter sleeps early and
 * its new owner hashes it on its behalf (kick_node); lock stealing while the
 * head sleeps and the head sleeping again after a steal; a newcomer that
 * cannot steal yielding (steal yields) before it queues, or stealing once
 * the lock is free, and looking on while the head spins; the head finding
 * the lock free at its xchg; forced spurious wake-ups; colliding hash
 * entries; unlock never touching the lock after releasing it.
 *
 * The recording backend (tests/lib/record_backend.c) counts waits and can
 * hold kicks back, and fault-injection point hooks run test code at exact
 * places inside the algorithm, so every interleaving here is forced, not
 * hoped for.  A small spin threshold makes waiters sleep at once.
 *
 * These cases step through the CAS kind of pv unlock (_Q_SLOW_VAL): main()
 * sets it before any lock is contended, as the library's constructor does
 * for PVLOCK_PV_UNLOCK=cas.  tests/pv_unlock.c has the store kind's cases.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "algo/pv_hash.h"
#include "lib/check.h"

#define SLOW	PVLOCK__Q_SLOW_VAL
#define TAIL_MASK 0xffff0000u

static pvlock_t lock, lock2;
static int order[8], order_n;

static void note(int who)
{
	order[__atomic_fetch_add(&order_n, 1, __ATOMIC_SEQ_CST)] = who;
}

static void *locker(void *arg)
{
	pvlock_t *l = arg;

	pvlock_lock(l);
	note(l == &lock2 ? 2 : 1);
	pvlock_unlock(l);
	return NULL;
}

/* Holds `lock` until `release_holder` is set. */
static int release_holder;
static void *holder(void *arg)
{
	(void)arg;
	pvlock_lock(&lock);
	note(9);
	while (!__atomic_load_n(&release_holder, __ATOMIC_ACQUIRE))
		test_pause();
	pvlock_unlock(&lock);
	return NULL;
}

static uint32_t word_of(pvlock_t *l)
{
	return __atomic_load_n(&l->val, __ATOMIC_ACQUIRE);
}

static int load_int(int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static uint8_t locked_byte(pvlock_t *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_ACQUIRE);
}

/*
 * Queue a second waiter behind a sleeping head.  The lock is held (by us),
 * so the newcomer cannot steal; it looks steal_spin() times, then, with
 * steal yields on, yields and looks again up to steal_yields() times before
 * it queues.  The cases that use this need it queued and asleep in
 * pv_wait_node, not yielding: they set steal yields to 0 (setup_queueing),
 * so that it queues after its looks, and we wait until it has.
 */
static test_thread second;
static void queue_behind_sleeping_head(pvlock_t *l)
{
	uint32_t head_tail = word_of(l) & TAIL_MASK;
	unsigned waits = rec_waits();

	CHECK_EQ(pvlock_get_steal_yields(), 0);
	second = test_start(locker, l);
	WAIT_UNTIL((word_of(l) & TAIL_MASK) != head_tail && rec_waits() == waits + 1, 10);
}

static void setup(unsigned threshold)
{
	rec_install();
	CHECK_EQ(pvlock_set_spin_threshold(threshold), 0);
}

/* For cases whose newcomers must queue behind a waiter already queued: with
 * the default steal yields, a newcomer that cannot steal yields and looks
 * again up to PVLOCK_STEAL_YIELDS_DEFAULT times before it queues, which on
 * a loaded machine takes seconds and is not what these cases test (the
 * yields have cases of their own below).  0: it queues after its looks. */
static void setup_queueing(unsigned threshold)
{
	setup(threshold);
	CHECK_EQ(pvlock_set_steal_yields(0), 0);
}

/* The head spins, hashes itself, sets _Q_SLOW_VAL, sleeps; unlock finds the
 * entry, releases, kicks. */
static void head_sleeps_unlock_kicks(void)
{
	setup(64);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	CHECK_EQ(locked_byte(&lock), SLOW);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	CHECK_EQ(word_of(&lock) & 0xff00, 0);			/* not spinning: stealable */
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_head, 1);
	CHECK_EQ(s.pv_kick_unlock, 1);
	CHECK_EQ(s.pv_hash_ops, 2);			/* insert, remove */
	CHECK_EQ(s.pv_kick_wake, 1);
	CHECK_EQ(s.lock_pending, 0);			/* pv: no pending protocol */
}

/* B sleeps as head; C queues behind it, sees its predecessor is not running
 * and sleeps early.  When B gets the lock and hands the queue to C, C is
 * asleep, so B marks the lock SLOW and hashes C (kick_node) instead of
 * kicking; B's unlock then kicks C. */
static void node_sleeps_early_and_is_hashed_by_owner(void)
{
	setup_queueing(512);		/* loop 512 is a multiple of 256: prev checked at once */
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	queue_behind_sleeping_head(&lock);		/* C asleep in wait_node */
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_node, 1);
	CHECK_EQ(s.pv_wait_early, 1);
	pvlock_unlock(&lock);			/* kicks B; B hands to C */
	test_join(b);
	test_join(second);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	s = test_stats();
	CHECK_EQ(s.pv_kick_unlock, 2);		/* us -> B, B -> C */
	CHECK_EQ(s.pv_hash_ops, 4);		/* B in/out, C (by B) in/out */
	CHECK_EQ(order[0], 1);
	CHECK_EQ(order[1], 1);
}

/* While the head sleeps, a newcomer steals the lock; the head, woken late,
 * finds it taken, learns its entry was removed, hashes again and sleeps
 * again (pvlock's departure from Linux, which would spin from then on). */
static void steal_then_head_sleeps_again(void)
{
	setup(64);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);
	rec_hold_kicks(true);
	pvlock_unlock(&lock);			/* kick to B held back */
	CHECK_EQ(rec_kicks_held(), 1);
	CHECK_EQ(locked_byte(&lock), 0);
	CHECK(word_of(&lock) & TAIL_MASK);		/* B still queued */

	release_holder = 0;
	test_thread c = test_start(holder, NULL);	/* steals */
	WAIT_UNTIL(load_int(&order_n) == 1, 10);
	CHECK_EQ(test_stats().pv_lock_stealing, 1);
	rec_hold_kicks(false);			/* B wakes, finds C holding */
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 2, 10);
	CHECK_EQ(locked_byte(&lock), SLOW);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 1);
	__atomic_store_n(&release_holder, 1, __ATOMIC_RELEASE);
	test_join(c);
	test_join(b);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_head, 2);
	CHECK_EQ(s.pv_wait_again, 1);
	CHECK_EQ(s.pv_kick_unlock, 2);
	CHECK_EQ(order[0], 9);
	CHECK_EQ(order[1], 1);
}

/*
 * The steal-yield cases start alike: we hold the lock, B sleeps as its
 * queue head, and a newcomer will look once (steal spin 1) and then yield
 * up to `yields` times.  Returns B; *head_tail is B's tail in the word.
 */
static test_thread head_asleep_for_yielder(unsigned yields, uint32_t *head_tail)
{
	setup(64);
	CHECK_EQ(pvlock_set_steal_spin(1), 0);
	CHECK_EQ(pvlock_set_steal_yields(yields), 0);
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 1, 10);	/* B asleep as head */
	*head_tail = word_of(&lock) & TAIL_MASK;
	return b;
}

/*
 * The steal loop's yields (pvlock_set_steal_yields): a newcomer behind a
 * sleeping head, on a lock we hold, can never steal; it looks steal_spin()
 * times, yields, looks again, and after steal_yields() yields it queues and
 * sleeps in pv_wait_node.  With a steal spin of 1 and Y yields it counts
 * exactly Y pv_steal_yield (none with Y = 0), and only then publishes its
 * tail.  The head itself queued at once (the queue was empty): no yields.
 */
static void newcomer_yields_then_queues(unsigned yields)
{
	uint32_t head_tail;
	test_thread b = head_asleep_for_yielder(yields, &head_tail);
	CHECK_EQ(test_stats().pv_steal_yield, 0);
	unsigned waits = rec_waits();

	test_thread c = test_start(locker, &lock);
	/* C queued (its tail is the lock's) and sleeps in pv_wait_node. */
	WAIT_UNTIL((word_of(&lock) & TAIL_MASK) != head_tail && rec_waits() == waits + 1, 10);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_steal_yield, yields);
	CHECK_EQ(s.lock_slowpath, 2);			/* B, C */
	CHECK_EQ(s.pv_wait_node, 1);			/* C */
	CHECK_EQ(s.pv_wait_head, 1);			/* B */
	CHECK_EQ(s.pv_lock_stealing, 0);
	CHECK_EQ(rec_waits_on(&lock.locked), 1);	/* C's wait was on its node */

	pvlock_unlock(&lock);			/* kicks B; B hands to C */
	test_join(b);
	test_join(c);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	s = test_stats();
	CHECK_EQ(s.pv_steal_yield, yields);		/* nobody looked again */
	CHECK_EQ(s.pv_lock_stealing, 0);
	CHECK_EQ(s.pv_kick_unlock, 2);			/* us -> B, B -> C */
	CHECK_EQ(load_int(&order_n), 2);
}

static void newcomer_yields_3_then_queues(void) { newcomer_yields_then_queues(3); }
static void newcomer_steal_yields_0_queues(void) { newcomer_yields_then_queues(0); }

/*
 * C, a yielder, is stealing the lock that B (asleep, its kick held back)
 * is queued for.  Show that C took it without queueing, then let B wake,
 * find C holding, hash and sleep again; C's unlock kicks it.  Clean end.
 */
static void stolen_by_yielder_then_head_again(test_thread b, test_thread c, uint32_t head_tail)
{
	WAIT_UNTIL(load_int(&order_n) == 1, 10);		/* C stole it */
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_lock_stealing, 1);
	CHECK_GE(s.pv_steal_yield, 1);
	CHECK_EQ(s.pv_wait_node, 0);
	CHECK_EQ(s.lock_slowpath, 2);			/* B, C */
	CHECK_EQ(word_of(&lock) & TAIL_MASK, head_tail);	/* C's tail never published: */
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_BEFORE_TAIL_PUBLISH], 1);	/* B's only */

	rec_hold_kicks(false);			/* B wakes, finds C holding */
	WAIT_UNTIL(rec_waits_on(&lock.locked) == 2, 10);
	__atomic_store_n(&release_holder, 1, __ATOMIC_RELEASE);
	test_join(c);
	test_join(b);
	CHECK_EQ(word_of(&lock), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	s = test_stats();
	CHECK_EQ(s.pv_lock_stealing, 1);
	CHECK_EQ(s.pv_wait_node, 0);
	CHECK_EQ(s.pv_wait_head, 2);
	CHECK_EQ(s.pv_wait_again, 1);
	CHECK_EQ(s.pv_kick_unlock, 2);		/* us -> B (held), C -> B */
	CHECK_EQ(order[0], 9);		/* read once joined: note() stores after */
	CHECK_EQ(order[1], 1);		/* the count it bumps */
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_BEFORE_TAIL_PUBLISH], 1);
}

/*
 * A yielding newcomer steals once the holder releases, and never queues.
 * B sleeps as head; C comes with a yield budget far beyond what this case
 * needs (PVLOCK_STEAL_YIELDS_MAX, one system call each) and yields while we
 * hold the lock.  Our unlock kicks B, but the kick is held: B stays asleep,
 * the lock is free with pending clear, and C takes it in its steal loop.
 * Had C queued instead, it would wait behind B, whose kick is held, and
 * the wait for C's note below would time out: so C holding the lock is
 * itself the proof, with the statistics and the tail (still B's) to say
 * how.  Then B, woken late, finds C holding, hashes and sleeps again.
 */
static void yielding_newcomer_steals_after_release(void)
{
	uint32_t head_tail;
	test_thread b = head_asleep_for_yielder(PVLOCK_STEAL_YIELDS_MAX, &head_tail);

	release_holder = 0;
	test_thread c = test_start(holder, NULL);
	WAIT_UNTIL(test_stats().pv_steal_yield >= 1, 10);	/* C yields */
	CHECK_EQ(word_of(&lock) & TAIL_MASK, head_tail);	/* and has not queued */
	CHECK_EQ(load_int(&order_n), 0);

	rec_hold_kicks(true);
	pvlock_unlock(&lock);			/* kick to B held back */
	CHECK_EQ(rec_kicks_held(), 1);
	stolen_by_yielder_then_head_again(b, c, head_tail);
}

/*
 * While the head spins (pending set), a newcomer with yields to spend
 * yields and looks again instead of queueing: the head takes the next
 * release, and the one after is the newcomer's to steal.  B sleeps as head; we stand in for a spinning head
 * by setting pending, as pv_wait_head_or_lock does.  C yields and does not
 * queue.  Our unlock (B's kick held) frees the locked byte but leaves
 * pending set, so C cannot steal; we take the lock as the head does, the
 * 16-bit CAS (*,1,0) -> (*,0,1).  Had C stolen first, that CAS would fail.
 * Our second unlock frees it with pending clear, and C steals it.
 */
static void newcomer_keeps_looking_while_head_spins(void)
{
	uint32_t head_tail;
	test_thread b = head_asleep_for_yielder(PVLOCK_STEAL_YIELDS_MAX, &head_tail);
	__atomic_store_n(&lock.pending, 1, __ATOMIC_RELEASE);	/* "the head spins" */

	release_holder = 0;
	test_thread c = test_start(holder, NULL);
	/* Before 839df78 it queued as soon as it saw pending set. */
	WAIT_UNTIL(test_stats().pv_steal_yield >= 2, 10);
	CHECK_EQ(word_of(&lock) & TAIL_MASK, head_tail);	/* not queued */

	rec_hold_kicks(true);
	pvlock_unlock(&lock);			/* locked byte 0, pending still 1 */
	CHECK_EQ(rec_kicks_held(), 1);
	uint16_t expected = 0x0100;		/* pending, not locked */
	CHECK(__atomic_compare_exchange_n(&lock.locked_pending, &expected, 0x0001, false,
					  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
	uint64_t yields = test_stats().pv_steal_yield;
	CHECK_EQ(test_stats().pv_lock_stealing, 0);
	CHECK_EQ(load_int(&order_n), 0);
	/* C is still looking, not queued: its yields go on. */
	WAIT_UNTIL(test_stats().pv_steal_yield > yields, 10);
	CHECK_EQ(word_of(&lock) & TAIL_MASK, head_tail);

	pvlock_unlock(&lock);			/* the release after the head's */
	stolen_by_yielder_then_head_again(b, c, head_tail);
}

/* The lock is released between the head's hashing and its xchg: the xchg
 * returns 0, the head owns the lock, puts 1 back and removes its entry
 * before anyone can see _Q_SLOW_VAL.  Also checks race 3's ordering: at that
 * point the entry exists and SLOW is not yet set. */
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

/* Race 15: two locks share the one hash line left; each unlock must find
 * its own entry, whatever the order. */
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

/* Race 5: after its release store, unlock must not touch the lock (its next
 * owner may free it).  The lock sits alone in a page that the point hook
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

/* Race 1: the new owner is preempted inside kick_node, after marking the
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

/* Race 4: unlock removes the entry before it releases the lock. */
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
	test_run("pv head sleeps, unlock finds it and kicks", PVLOCK_MODE_PV, head_sleeps_unlock_kicks);
	test_run("pv queued waiter sleeps early, owner hashes it (kick_node)", PVLOCK_MODE_PV,
		 node_sleeps_early_and_is_hashed_by_owner);
	test_run("pv steal while head sleeps; head hashes and sleeps again", PVLOCK_MODE_PV,
		 steal_then_head_sleeps_again);
	test_run("pv newcomer that cannot steal yields 3 times, then queues", PVLOCK_MODE_PV,
		 newcomer_yields_3_then_queues);
	test_run("pv steal yields 0: a newcomer queues without yielding", PVLOCK_MODE_PV,
		 newcomer_steal_yields_0_queues);
	test_run("pv yielding newcomer steals once the holder releases, never queues",
		 PVLOCK_MODE_PV, yielding_newcomer_steals_after_release);
	test_run("pv newcomer keeps looking while the head spins, steals the release after",
		 PVLOCK_MODE_PV, newcomer_keeps_looking_while_head_spins);
	test_run("pv head finds lock free at xchg (race 3 order)", PVLOCK_MODE_PV,
		 head_finds_lock_free_at_xchg);
	test_run("pv forced spurious wake-ups", PVLOCK_MODE_PV, forced_spurious_wakeups);
	test_run("pv colliding hash entries (race 15)", PVLOCK_MODE_PV, colliding_hash_entries);
	test_run("pv unlock never touches a released lock (race 5)", PVLOCK_MODE_PV,
		 unlock_never_touches_released_lock);
	test_run("pv no double hash when kicker is preempted (race 1)", PVLOCK_MODE_PV,
		 no_double_hash_when_kicker_preempted);
	test_run("pv unlock unhashes before releasing (race 4)", PVLOCK_MODE_PV, unhash_before_release);
	test_run("pv head woken before its unlocker releases does not re-hash (M1)",
		 PVLOCK_MODE_PV, head_woken_before_unlocker_releases);
	return test_finish();
}
