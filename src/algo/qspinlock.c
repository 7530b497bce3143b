/*
 * qspinlock.c - the queued spinlock's out-of-line halves.
 *
 * The slow path is compiled twice from qspinlock_slowpath.h: once without
 * the pv hooks of qspinlock_pv.h (native) and once with them (pv).  The
 * mode was chosen before the first slow path ran and is frozen from then on.
 */
#include "algo/qspinlock_slowpath.h"
#include "algo/fork_wait.h"

/* Store kind of pv unlock: hash entries of sleeping heads (element 0), in a
 * cache line of its own; read by every pv unlock. */
unsigned pvlock__pv_sleepers[16] __attribute__((aligned(64)));

static __attribute__((noinline)) void qspin_slowpath_native(pvlock_t *lock, uint32_t val,
							     struct pvlock_slot *self)
{
	qspin_slowpath(lock, val, self, false, false);
}

static __attribute__((noinline)) void qspin_slowpath_pv(pvlock_t *lock, uint32_t val,
							 struct pvlock_slot *self, bool store)
{
	qspin_slowpath(lock, val, self, true, store);
}

/* The kind of pv unlock, fixed before any lock was contended (relaxed). */
static inline bool store_kind(void)
{
	return !(load_relaxed(&pvlock__mode_state) & PVLOCK__MODE_CAS_UNLOCK);
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
		qspin_slowpath_pv(lock, val, self, store_kind());
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
 * (the "touch after release" race, docs/design.md).  Anything else is a
 * misuse: report it and return.
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

	/* The store kind never writes SLOW: another copy's, or garbage. */
	if (store_kind())
		pvlock__fatal_word("pvlock_unlock", lock, load_relaxed(&lock->val),
				   "the lock word says a waiter sleeps (locked byte 3), but "
				   "no waiter of this copy of pvlock sleeps on this lock", true);

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

/*
 * Store kind: the unlock released the lock and then saw sleepers.  `lock` is
 * an address to look up from here on, never to read or write: the release
 * may have let the next owner free it.  Claim its entry if there is one
 * (the head of this lock sleeps, or a head of a later user of the address:
 * then we wake it early, and it looks again), uncount it, tell the head its
 * entry is gone, free the entry and kick the head's slot.
 */
void pvlock__qspin_unlock_wake(pvlock_t *lock)
{
	struct pvlock_slot *self = pvlock__slot_peek();

	ev_inc(self, pv_unlock_wake);
	PREEMPT_POINT(UNLOCK_WAKE);
	struct pv_hash_entry *entry = pvlock__pv_hash_claim(lock, self);
	if (!entry) {
		ev_inc(self, pv_unlock_wake_none);
		return;
	}
	/* Relaxed: after the claim's acquire (pv_hash.c). */
	struct qnode *node = load_relaxed(&entry->node);
	/* Relaxed: the count is a hint to unlockers; we hold the claimed
	 * entry, so it goes below the entries never. */
	__atomic_fetch_sub(&pvlock__pv_sleepers[0], 1, __ATOMIC_RELAXED);
	PREEMPT_POINT(UNLOCK_WAKE_CLAIMED);
	/* Release, pairing with the head's load_acquire of the notice: it
	 * then hashes again, or leaves; the node is still its node. */
	store_release(&node->unhashed, 1);
	pv_hash_free(entry);
	PREEMPT_POINT(UNLOCK_BEFORE_KICK);
	ev_inc(self, pv_kick_unlock);
	pvlock__pv_kick(pvlock__slot_of_node(node));
}
