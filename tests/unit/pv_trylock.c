/*
 * pv_trylock.c - in pv mode, trylock takes a lock that nobody holds even
 * while a waiter is queued on it.
 *
 * The waiter sleeps as the queue head; the holder unlocks, and the kick
 * that would wake the head is held back by the recording backend, so the
 * lock stays free with the head asleep and its tail in the word.  trylock
 * must take it then (a newcomer's steal), fail while it is held, and the
 * head must still get the lock once the trylocker unlocks: with either
 * kind of pv unlock (store, the default where membarrier works, and CAS).
 * In native mode the same trylock fails: the queue head claims with a
 * plain store.
 */
#include "algo/pv_hash.h"
#include "lib/check.h"

#define TAIL_MASK 0xffff0000u

static pvlock_t lock;
static int waiter_done;

static void *waiter(void *arg)
{
	(void)arg;
	pvlock_lock(&lock);
	pvlock_unlock(&lock);
	__atomic_store_n(&waiter_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static uint32_t word(void)
{
	return __atomic_load_n(&lock.val, __ATOMIC_ACQUIRE);
}

/* pv: the head sleeps, the lock is free, the kick is held back. */
static void trylock_past_sleeping_head(void)
{
	rec_install();
	CHECK_EQ(rec_waits(), 0);
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	pvlock_lock(&lock);
	test_thread w = test_start(waiter, NULL);
	WAIT_UNTIL(rec_waits() == 1, TEST_PATIENCE_S);	/* the head asleep */
	CHECK(!pvlock_trylock(&lock));			/* held: fails */

	rec_hold_kicks(true);
	pvlock_unlock(&lock);				/* frees the byte; kick held */
	CHECK_EQ(rec_kicks_held(), 1);
	CHECK(word() & TAIL_MASK);			/* the head is still queued */
	CHECK_EQ(word() & 0xffffu, 0);			/* nobody holds, nobody pending */

	CHECK(pvlock_trylock(&lock));			/* taken past the queue */
	CHECK(!pvlock_trylock(&lock));			/* and now held */
	rec_hold_kicks(false);				/* the head wakes, finds it held */
	WAIT_UNTIL(rec_waits() == 2, TEST_PATIENCE_S);	/* and sleeps again */
	CHECK(!__atomic_load_n(&waiter_done, __ATOMIC_ACQUIRE));
	pvlock_unlock(&lock);				/* kicks it */
	test_join(w);
	CHECK(__atomic_load_n(&waiter_done, __ATOMIC_ACQUIRE));
	CHECK_EQ(word(), 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_head, 2);
	CHECK_EQ(s.pv_wait_again, 1);
	CHECK_EQ(rec_kicks(), 2);
}

/* The same with the CAS kind of unlock (_Q_SLOW_VAL in the word), chosen
 * before any slow path has run. */
static void trylock_past_sleeping_head_cas(void)
{
	__atomic_fetch_or(&pvlock__mode_state, PVLOCK__MODE_CAS_UNLOCK, __ATOMIC_RELAXED);
	trylock_past_sleeping_head();
}

/* native: a queued waiter spins as head; while its tail is in the word,
 * a free lock is its to claim, and trylock leaves it alone. */
static void native_trylock_leaves_queue_alone(void)
{
	/* Word states are written directly: no native head ever sees them. */
	__atomic_store_n(&lock.val, 1u << 18, __ATOMIC_RELAXED);	/* a tail, free */
	CHECK(!pvlock_trylock(&lock));
	CHECK_EQ(word(), 1u << 18);
	__atomic_store_n(&lock.val, 0, __ATOMIC_RELAXED);
	CHECK(pvlock_trylock(&lock));
	CHECK_EQ(word(), 1);
}

int main(void)
{
	test_run("trylock_past_sleeping_head", PVLOCK_MODE_PV, trylock_past_sleeping_head);
	test_run("trylock_past_sleeping_head, CAS unlock", PVLOCK_MODE_PV,
		 trylock_past_sleeping_head_cas);
	test_run("native_trylock_leaves_queue_alone", PVLOCK_MODE_NATIVE,
		 native_trylock_leaves_queue_alone);
	return test_finish();
}
