/*
 * qspinlock_pv.h - what the step-by-step cases of the paravirtual queued
 * lock share (tests/unit/qspinlock_pv.c, tests/unit/qspinlock_pv_races.c):
 * the locks, waiter threads that note their order, reading the lock word,
 * and the setup of the recording backend.  Each program is one translation
 * unit: these are its own statics.
 */
#ifndef PVLOCK_TESTS_QSPINLOCK_PV_H
#define PVLOCK_TESTS_QSPINLOCK_PV_H

#include "algo/pv_hash.h"
#include "lib/check.h"

#define SLOW	PVLOCK__Q_SLOW_VAL
#define TAIL_MASK 0xffff0000u

static pvlock_t lock, lock2 __attribute__((unused));
static int order[8] __attribute__((unused)), order_n;

static inline void note(int who)
{
	order[__atomic_fetch_add(&order_n, 1, __ATOMIC_SEQ_CST)] = who;
}

static inline void *locker(void *arg)
{
	pvlock_t *l = arg;

	pvlock_lock(l);
	note(l == &lock2 ? 2 : 1);
	pvlock_unlock(l);
	return NULL;
}

static inline uint32_t word_of(pvlock_t *l)
{
	return __atomic_load_n(&l->val, __ATOMIC_ACQUIRE);
}

static inline int load_int(int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint8_t locked_byte(pvlock_t *l)
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
static test_thread second __attribute__((unused));
static inline void queue_behind_sleeping_head(pvlock_t *l)
{
	uint32_t head_tail = word_of(l) & TAIL_MASK;
	unsigned waits = rec_waits();

	CHECK_EQ(pvlock_get_steal_yields(), 0);
	second = test_start(locker, l);
	WAIT_UNTIL((word_of(l) & TAIL_MASK) != head_tail && rec_waits() == waits + 1, 10);
}

static inline void setup(unsigned threshold)
{
	rec_install();
	CHECK_EQ(pvlock_set_spin_threshold(threshold), 0);
}

/* For cases whose newcomers must queue behind a waiter already queued: with
 * the default steal yields, a newcomer that cannot steal yields and looks
 * again up to PVLOCK_STEAL_YIELDS_DEFAULT times before it queues, which on
 * a loaded machine takes seconds and is not what these cases test (the
 * yields have cases of their own below).  0: it queues after its looks. */
static inline void setup_queueing(unsigned threshold)
{
	setup(threshold);
	CHECK_EQ(pvlock_set_steal_yields(0), 0);
}

#endif /* PVLOCK_TESTS_QSPINLOCK_PV_H */
