/*
 * qspinlock_slowpath.h - the one copy of the queued spinlock slow path.
 *
 * qspin_slowpath(lock, val, pv) is instantiated twice by qspinlock.c, with pv
 * a compile-time constant.  With pv == false it calls none of the pv hooks
 * (qspinlock_pv.h) and is the native queued lock (Linux's
 * kernel/locking/qspinlock.c); with pv == true it calls them and is the
 * paravirtual lock (Linux's kernel/locking/qspinlock_paravirt.h).  The logic
 * between the hooks is the same source in both: that is the point.  The
 * lock word's layout and helpers: qspinlock_word.h.
 *
 * Lock word transitions as (tail, pending, locked):
 *
 *   fast        :  slow                                  :  unlock
 *               :                                        :
 *   uncontended :  (0,0,0) ---------------> (0,0,1) -----:--> (*,*,0)
 *               :    |       ^------------------.    /    :
 *               :    v                          |   /     :
 *   pending     :  (0,1,1) +---> (0,1,0) -------'  /      :   native only
 *               :    |     ^--'                    |      :
 *               :    v                             |      :
 *   queue       :  (n,x,y) +---> (n,0,0) ----------'      :   head claims
 *               :    ^-----'                              :
 *
 * pv changes the word only in the locked byte and the pending bit:
 * qspinlock_pv.h.
 */
#ifndef PVLOCK_ALGO_QSPINLOCK_SLOWPATH_H
#define PVLOCK_ALGO_QSPINLOCK_SLOWPATH_H

#include "algo/qspinlock_pv.h"
#include "algo/qspinlock_word.h"

/* Re-reads of an in-flight (0,1,0) hand-over before we queue anyway. */
#if defined(__x86_64__) || defined(__i386__)
#define Q_PENDING_LOOPS		512
#else
#define Q_PENDING_LOOPS		1
#endif

/* A newcomer's try: native, a CAS of a free word; pv, the steal loop. */
static inline bool qspin_trylock(pvlock_t *lock, struct pvlock_slot *self, const bool pv)
{
	return pv ? pv_trylock_steal(lock, self) : native_trylock(lock);
}

static inline __attribute__((always_inline))
void qspin_slowpath(pvlock_t *lock, uint32_t val, struct pvlock_slot *self, const bool pv,
		    bool store)
{
	struct qnode *node0, *node, *prev, *next;
	const struct pvlock_slot *holder = NULL;	/* pv: who handed us the head */
	uint32_t old, tail;
	int idx;

	if (pv)
		goto queue;

	/* (0,1,0): a pending owner is mid hand-over; give it a bounded moment
	 * (bounded: the "endless hand-over re-reads" race, docs/design.md). */
	if (val == Q_PENDING_VAL) {
		for (int cnt = Q_PENDING_LOOPS; cnt; cnt--) {
			val = load_relaxed(&lock->val);		/* a hint */
			if (val != Q_PENDING_VAL)
				break;
			cpu_relax();
		}
	}

	/* Anyone pending or queued: queue behind them. */
	if (val & ~Q_LOCKED_MASK)
		goto queue;

	/* 0,0,* -> 0,1,*: try to become the one pending waiter.  32-bit
	 * fetch_or, acquire: if the word was free (0,0,0) this takes the lock's
	 * previous critical section, pairing with the release of its unlock. */
	val = fetch_or(&lock->val, Q_PENDING_VAL, __ATOMIC_ACQUIRE);
	if (val & ~Q_LOCKED_MASK) {
		/* Someone beat us.  Undo our pending bit, only if it is ours,
		 * and queue (the "foreign pending bit" race, docs/design.md). */
		if (!(val & Q_PENDING_MASK))
			clear_pending(lock);
		goto queue;
	}

	/* 0,1,1 -> 0,1,0: wait for the owner; nobody can steal meanwhile.
	 * Acquire: pairs with the owner's release unlock (a byte store or a
	 * 32-bit CAS; mixed sizes, see qspinlock_word.h). */
	if (val & Q_LOCKED_MASK)
		while (load_acquire(&lock->locked))
			cpu_relax();

	/* 0,1,0 -> 0,0,1 */
	clear_pending_set_locked(lock);
	ev_inc(self, lock_pending);
	return;

queue:
	ev_inc(self, lock_slowpath);
	if (unlikely(!self))
		goto no_node;		/* more threads waiting than slots */

	node0 = &self->qnodes[0];
	/* The nesting count is written only by this thread (and its signal
	 * handlers, which restore it before they return), but read by others:
	 * a reclaim pass and a successor's foreign-tail check.  Relaxed
	 * load and store, no RMW: those readers need the value only. */
	idx = load_relaxed(&node0->count);
	store_relaxed(&node0->count, idx + 1);
	/* The count is ours before the node is: a signal handler entering a
	 * slow path now takes the next node, not this one (the "nesting
	 * re-entry" race, docs/design.md). */
	signal_barrier();
	if (unlikely(idx >= PVLOCK_MAX_NODES)) {
		store_relaxed(&node0->count, idx);
		/* Nested deeper than 4: the "nesting overflow" race
		 * (docs/design.md). */
		goto no_node;
	}
	node = &self->qnodes[idx];
	if (idx)	/* lock_use_node2..4, one counter per level */
		ev_count(self, PVLOCK_EV_lock_use_node2 + (idx - 1), 1);

	/* Relaxed: released by xchg_tail and by our store_release of
	 * prev->next, which is how anyone else reaches this node. */
	store_relaxed(&node->locked, 0);
	store_relaxed(&node->next, NULL);
	if (pv)
		pv_init_node(node);

	/* The node's cache line was probably cold: the lock may be free now. */
	if (qspin_trylock(lock, self, pv))
		goto release;

	PREEMPT_POINT(BEFORE_TAIL_PUBLISH);
	tail = encode_tail(self->index, idx);
	old = xchg_tail(lock, tail);
	next = NULL;

	if (old & Q_TAIL_MASK) {
		/* A tail this copy never wrote would hang us: say so instead. */
		pvlock__check_prev(lock, old, node);
		prev = decode_tail(old);
		PREEMPT_POINT(BEFORE_PREV_LINK);
		/* Release, pairing with prev's load_acquire of its next: our
		 * node's initialisation comes before prev writes our locked
		 * and CASes our state. */
		store_release(&prev->next, node);

		if (pv)
			pv_wait_node(node, prev, self);
		/* Acquire, pairing with prev's store_release of our locked:
		 * we then read the lock word no older than prev's set_locked. */
		while (!load_acquire(&node->locked))
			cpu_relax();
		holder = pvlock__slot_of_node(prev);

		/* Someone may have queued behind us meanwhile (acquire: pairs
		 * with its store_release of our next, as below). */
		next = load_acquire(&node->next);
	}

	/* We are the head: wait for the owner and any pending waiter to go.
	 * pv: pv_wait_head returns owning the lock. */
	if (pv) {
		val = pv_wait_head(lock, node, self, holder, store);
	} else {
		/* Acquire: pairs with the release of the owner's unlock. */
		while ((val = load_acquire(&lock->val)) & Q_LOCKED_PENDING_MASK)
			cpu_relax();
	}

	/*
	 * Claim the lock:
	 *   n,0,0 -> 0,0,1   we are the only one queued: empty the queue too
	 *   *,*,0 -> *,*,1   others queued behind us: just set locked
	 * pv may already have locked set (we got it while spinning as head):
	 *   n,0,1 -> 0,0,1
	 * Pending is clear here, so a new pending waiter makes the first CAS
	 * fail, and it will then see our tail and queue behind us.  The CAS is
	 * relaxed: the lock was acquired above; it only empties the queue.
	 */
	if ((val & Q_TAIL_MASK) == tail &&
	    cas(&lock->val, &val, Q_LOCKED_VAL, __ATOMIC_RELAXED))
		goto release;

	set_locked(lock);
	/* Acquire: pairs with next's store_release of our next pointer; its
	 * node's initialisation then precedes our writes to that node. */
	if (!next)
		while (!(next = load_acquire(&node->next)))
			cpu_relax();

	/* Release: pairs with next's load_acquire of its locked; carries our
	 * set_locked, so the new head cannot read the word as free. */
	store_release(&next->locked, 1);
	if (pv)
		pv_kick_node(lock, next, self, store);

release:
	signal_barrier();
	store_relaxed(&node0->count, idx);
	return;

no_node:
	/* No node to queue with: spin on the lock (pv: yielding now and then). */
	ev_inc(self, lock_no_node);
	for (unsigned loop = 0; !qspin_trylock(lock, self, pv); loop++) {
		if (pv)
			loop = pv_no_node_yield(loop, self);
		cpu_relax();
	}
}

#endif /* PVLOCK_ALGO_QSPINLOCK_SLOWPATH_H */
