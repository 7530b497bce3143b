/*
 * qspinlock_pv.c - the paravirtual queued lock (docs/design.md), step by
 * step: the head sleeps and unlock kicks it; a queued waiter sleeps early and
 * its new owner hashes it on its behalf (kick_node); lock stealing while the
 * head sleeps and the head sleeping again after a steal; a newcomer that
 * cannot steal yielding (steal yields) before it queues, or stealing once
 * the lock is free, and looking on while the head spins.
 * tests/unit/qspinlock_pv_races.c has the cases at the places of Linux's
 * pv-spinlock races.
 *
 * The recording backend (tests/lib/record_backend.c) counts waits and can
 * hold kicks back, and fault-injection point hooks run test code at exact
 * places inside the algorithm, so every interleaving here is forced, not
 * hoped for.  A small spin threshold makes waiters sleep at once.
 *
 * These cases step through the CAS kind of pv unlock (_Q_SLOW_VAL): main()
 * sets it before any lock is contended, as the library's constructor does
 * for PVLOCK_PV_UNLOCK=cas.  tests/unit/pv_unlock.c has the store kind's cases.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "lib/qspinlock_pv.h"

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
 * again (where Linux's head would spin from then on). */
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
	return test_finish();
}
