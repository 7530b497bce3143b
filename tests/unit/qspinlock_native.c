/*
 * qspinlock_native.c - every transition of the native queued lock
 * (docs/design.md), driven step by step.
 *
 * Each case holds the lock in the main thread, starts waiters, and waits
 * until the lock word shows the state the waiter must have reached before
 * moving on, so the order of events is fixed, not left to the scheduler.
 * Word states are written (tail, pending, locked).
 */
#include "algo/hooks.h"
#include "lib/check.h"

#define LOCKED		0x001u
#define PENDING		0x100u
#define TAIL_MASK	0xffff0000u

static pvlock_t lock;
static int done_order[8], done_count;

static void *locker(void *arg)
{
	pvlock_lock(&lock);
	done_order[__atomic_fetch_add(&done_count, 1, __ATOMIC_SEQ_CST)] = (int)(intptr_t)arg;
	pvlock_unlock(&lock);
	return NULL;
}

/* Lock and keep it until told to let go. */
static int release_flag;
static void *holder(void *arg)
{
	(void)arg;
	pvlock_lock(&lock);
	done_order[__atomic_fetch_add(&done_count, 1, __ATOMIC_SEQ_CST)] = 99;
	while (!__atomic_load_n(&release_flag, __ATOMIC_ACQUIRE))
		test_pause();
	pvlock_unlock(&lock);
	return NULL;
}

static uint32_t word(void)
{
	return __atomic_load_n(&lock.val, __ATOMIC_ACQUIRE);
}

/* (0,0,0) -> (0,0,1) -> (0,0,0); trylock; predicates. */
static void fast_path(void)
{
	pvlock_t zero;
	__builtin_memset(&zero, 0, sizeof(zero));
	CHECK(!pvlock_is_locked(&zero));

	CHECK(!pvlock_is_locked(&lock));
	pvlock_lock(&lock);
	CHECK_EQ(word(), LOCKED);
	CHECK(pvlock_is_locked(&lock));
	CHECK(!pvlock_is_contended(&lock));
	CHECK(!pvlock_trylock(&lock));
	pvlock_unlock(&lock);
	CHECK_EQ(word(), 0);
	CHECK(pvlock_trylock(&lock));
	CHECK_EQ(word(), LOCKED);
	pvlock_unlock(&lock);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.lock_slowpath + s.lock_pending, 0);	/* fast paths count nothing */
}

/* (0,0,1) -> (0,1,1) -> (0,1,0) -> (0,0,1): one waiter takes the pending bit. */
static void pending(void)
{
	pvlock_lock(&lock);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL(word() == (PENDING | LOCKED), 10);
	CHECK(pvlock_is_contended(&lock));
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(word(), 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.lock_pending, 1);
	CHECK_EQ(s.lock_slowpath, 0);
}

/* A second waiter queues behind the pending one; the queue head claims
 * (n,0,0) -> (0,0,1), emptying the queue. */
static void queue_then_claim(void)
{
	pvlock_lock(&lock);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL(word() == (PENDING | LOCKED), 10);
	test_thread c = test_start(locker, (void *)2);
	WAIT_UNTIL((word() & TAIL_MASK) != 0, 10);
	CHECK_EQ(word() & 0xffff, PENDING | LOCKED);
	pvlock_unlock(&lock);
	test_join(b);
	test_join(c);
	CHECK_EQ(word(), 0);
	CHECK_EQ(done_order[0], 1);		/* pending waiter first, then the queue */
	CHECK_EQ(done_order[1], 2);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.lock_pending, 1);
	CHECK_EQ(s.lock_slowpath, 1);
}

/* Contended claim: the head has a successor, so it sets locked, waits for
 * next and hands the MCS lock on: *,*,0 -> *,*,1.  FIFO order is kept. */
static void queue_handoff(void)
{
	release_flag = 0;
	test_thread a = test_start(holder, NULL);
	WAIT_UNTIL(word() == LOCKED, 10);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL(word() == (PENDING | LOCKED), 10);
	test_thread w[3];
	uint32_t tails[3];
	for (int i = 0; i < 3; i++) {
		uint32_t before = word() & TAIL_MASK;
		w[i] = test_start(locker, (void *)(intptr_t)(2 + i));
		WAIT_UNTIL((word() & TAIL_MASK) != before, 10);
		tails[i] = word() & TAIL_MASK;
	}
	CHECK(tails[0] != tails[1] && tails[1] != tails[2]);
	__atomic_store_n(&release_flag, 1, __ATOMIC_RELEASE);
	test_join(a);
	test_join(b);
	for (int i = 0; i < 3; i++)
		test_join(w[i]);
	CHECK_EQ(word(), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(done_order[i], i == 0 ? 99 : i);
	CHECK_EQ(test_stats().lock_slowpath, 3);
}

/* A (0,1,0) hand-over that never completes: a newcomer re-reads a bounded
 * number of times ("endless hand-over re-reads", docs/design.md), then
 * queues; it must not hang.  The stuck "pending owner" is the test, which clears pending to let it through. */
static void pending_handover_bounded(void)
{
	__atomic_store_n(&lock.val, PENDING, __ATOMIC_RELEASE);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL((word() & TAIL_MASK) != 0, 10);	/* queued: re-reads were bounded */
	CHECK_EQ(word() & 0xffff, PENDING);		/* we still "own" pending */
	__atomic_store_n(&lock.pending, 0, __ATOMIC_RELEASE);
	test_join(b);
	CHECK_EQ(word(), 0);
	CHECK_EQ(test_stats().lock_slowpath, 1);
}

/* A waiter that finds tail set while setting pending must clear only the
 * pending bit it set itself ("foreign pending bit", docs/design.md).  Here
 * the pending bit is somebody else's (set by the test): the newcomer queues and leaves it alone. */
static void others_pending_left_alone(void)
{
	__atomic_store_n(&lock.val, PENDING | LOCKED, __ATOMIC_RELEASE);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL((word() & TAIL_MASK) != 0, 10);
	test_sleep_ms(20);
	CHECK_EQ(word() & 0xffff, PENDING | LOCKED);	/* pending still set */
	__atomic_store_n(&lock.locked_pending, 0, __ATOMIC_RELEASE);
	test_join(b);
	CHECK_EQ(word(), 0);
}

/* Nesting: levels 2..4 use their own nodes, deeper ones spin without a node
 * ("nesting overflow", docs/design.md).  We stand in for outer levels by raising our slot's nesting
 * count, exactly as a signal handler would find it. */
static void nesting_levels(void)
{
	struct pvlock_slot *self = pvlock__slot_self();
	CHECK(self != NULL);
	for (int depth = 1; depth <= PVLOCK_MAX_NODES; depth++) {
		release_flag = 0;
		done_count = 0;
		test_thread a = test_start(holder, NULL);
		WAIT_UNTIL(word() == LOCKED, 10);
		/* native: someone pending, so that we must queue (pv queues
		 * at once: it has no pending-bit protocol for newcomers). */
		bool native = pvlock_get_mode() == PVLOCK_MODE_NATIVE;
		test_thread b = { 0 };
		if (native) {
			b = test_start(locker, (void *)1);
			WAIT_UNTIL(word() == (PENDING | LOCKED), 10);
		}
		self->qnodes[0].count = depth;
		__atomic_store_n(&release_flag, 1, __ATOMIC_RELEASE);
		pvlock_lock(&lock);
		CHECK_EQ(self->qnodes[0].count, depth);	/* restored on the way out */
		self->qnodes[0].count = 0;
		pvlock_unlock(&lock);
		test_join(a);
		if (native)
			test_join(b);
	}
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.lock_use_node2, 1);
	CHECK_EQ(s.lock_use_node3, 1);
	CHECK_EQ(s.lock_use_node4, 1);
	CHECK_EQ(s.lock_no_node, 1);
}

/* pvlock_set_mode fails with EBUSY once a slow path ran. */
static void mode_frozen_after_slowpath(void)
{
	CHECK_EQ(pvlock_set_mode(PVLOCK_MODE_NATIVE), 0);	/* not frozen yet */
	pvlock_lock(&lock);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL(word() == (PENDING | LOCKED), 10);
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(pvlock_set_mode(PVLOCK_MODE_PV), -1);
	CHECK_EQ(pvlock_get_mode(), PVLOCK_MODE_NATIVE);
}

int main(void)
{
	test_run("queued fast path and predicates", PVLOCK_MODE_NATIVE, fast_path);
	test_run("queued fast path and predicates", PVLOCK_MODE_PV, fast_path);
	test_run("queued (0,0,1)->(0,1,1)->(0,0,1) pending", PVLOCK_MODE_NATIVE, pending);
	test_run("queued queue behind pending, claim empties queue", PVLOCK_MODE_NATIVE, queue_then_claim);
	test_run("queued contended claim hands over in FIFO order", PVLOCK_MODE_NATIVE, queue_handoff);
	test_run("queued (0,1,0) hand-over wait is bounded", PVLOCK_MODE_NATIVE, pending_handover_bounded);
	test_run("queued never clears another's pending bit", PVLOCK_MODE_NATIVE, others_pending_left_alone);
	test_run("queued nesting levels 2-4 and no-node fallback", PVLOCK_MODE_NATIVE, nesting_levels);
	test_run("queued nesting levels 2-4 and no-node fallback", PVLOCK_MODE_PV, nesting_levels);
	test_run("mode frozen after first slow path", -1, mode_frozen_after_slowpath);
	return test_finish();
}
