/*
 * qspinlock.c - the queued spinlock's out-of-line halves.
 *
 * The slow path is compiled twice from qspinlock_slowpath.h: once with the
 * pv hooks as no-ops (native) and once with them live (pv).  The mode was
 * chosen before the first slow path ran and is frozen from then on.
 */
#include "algo/qspinlock_slowpath.h"
#include "algo/fork_wait.h"

static __attribute__((noinline)) void qspin_slowpath_native(pvlock_t *lock, uint32_t val,
							     struct pvlock_slot *self)
{
	qspin_slowpath(lock, val, self, false);
}

static __attribute__((noinline)) void qspin_slowpath_pv(pvlock_t *lock, uint32_t val,
							 struct pvlock_slot *self)
{
	qspin_slowpath(lock, val, self, true);
}

void pvlock__qspin_lock_slow(pvlock_t *lock, uint32_t val)
{
	enum pvlock_mode mode = pvlock__mode_freeze();
	struct pvlock_slot *self = pvlock__slot_self();
	uint64_t steal = steal_begin(self);
	/* Before the slow path marks the word (pending, tail, SLOW): a fork
	 * child takes a thread that is not there out of it again. */
	int level = fork_wait_push(self, lock, FORK_WAIT_QUEUED, 0);

	if (mode == PVLOCK_MODE_PV) {
		if (one_cpu())
			ev_inc(self, pv_one_cpu);
		qspin_slowpath_pv(lock, val, self);
	} else {
		qspin_slowpath_native(lock, val, self);
	}
	fork_wait_pop(self, level);
	steal_end(self, steal);
}

/*
 * pv unlock found the locked byte not 1.  _Q_SLOW_VAL: the queue head sleeps;
 * find it, release the lock, kick it.  After the release store the lock may
 * be freed by its next owner, so the kick goes by slot, never by the lock
 * (reference race 5).  Anything else is a misuse: report it and return.
 */
void pvlock__qspin_unlock_slow(pvlock_t *lock, uint8_t locked)
{
	struct pvlock_slot *self = pvlock__slot_peek();

	if (unlikely(locked != Q_SLOW_VAL)) {
		ev_inc(self, bad_unlock);
		/* 0: not locked; anything but 0, 1, 3: not a lock word at all. */
		pvlock__report_bad_unlock("pvlock_unlock", lock, load_relaxed(&lock->val),
					  locked != 0);
		return;
	}

	/* The failed CAS that saw SLOW ordered nothing.  Read SLOW again with
	 * acquire (only we can change it now: we hold the lock), pairing with
	 * the head's seq_cst xchg of SLOW, so the entry and node reads below
	 * follow its hash insert.  (If we set SLOW ourselves, in pv_kick_node,
	 * program order does it.)  An acquire load rather than a fence: the
	 * same on x86, and visible to TSan. */
	if (unlikely(load_acquire(&lock->locked) != Q_SLOW_VAL))
		pvlock__fatal("internal error: _Q_SLOW_VAL changed under its owner", lock);
	struct qnode *node = pvlock__pv_hash_remove(lock, self);
	if (unlikely(!node))	/* SLOW that no waiter of this copy wrote */
		pvlock__fatal_word("pvlock_unlock", lock, load_relaxed(&lock->val),
				   "the lock word says a waiter sleeps (locked byte 3), but "
				   "no waiter of this copy of pvlock sleeps on this lock", true);

	/* Tell the head its entry is gone, before it can run again.  Release,
	 * pairing with the head's load_acquire of the notice: a head that sees
	 * it then reads the locked byte no older than the SLOW we read above,
	 * so it waits for our release instead of hashing again into a SLOW
	 * that our release would overwrite (models M1 and M5). */
	store_release(&node->unhashed, 1);
	PREEMPT_POINT(UNLOCK_UNHASHED);
	/* Byte store, release: pairs with the acquire of the next owner
	 * (steal CAS, the head's CAS or xchg, the backend's load in pv_wait). */
	store_release(&lock->locked, 0);
	/* From here on, `lock` must not be touched. */
	PREEMPT_POINT(UNLOCK_BEFORE_KICK);
	ev_inc(self, pv_kick_unlock);
	pvlock__pv_kick(pvlock__slot_of_node(node));
}
