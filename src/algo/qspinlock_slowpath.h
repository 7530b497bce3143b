/*
 * qspinlock_slowpath.h - the one copy of the queued spinlock slow path.
 *
 * qspin_slowpath(lock, val, pv) is instantiated twice by qspinlock.c, with pv
 * a compile-time constant.  With pv == false every pv_* hook below is a no-op
 * and the function is the native queued lock of reference section 4; with
 * pv == true it is the paravirtual lock of section 5.  The logic between the
 * hooks is the same source in both: that is the point.
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
 * pv adds, in the locked byte: 1 -> 3 (_Q_SLOW_VAL: "the head sleeps, look
 * it up in the hash table and kick it"), set by the head or on its behalf;
 * and lets newcomers take the lock (steal) while the head is not spinning.
 *
 * pv node states (per queue node):
 *
 *            pv_wait_node: spun too long            pv_kick_node (new owner):
 *   RUNNING ---------------------------> HALTED ---------------------------> HASHED
 *      ^   <-------------------------------'          CAS, then SLOW + hash    |
 *      |     woken (CAS HALTED -> RUNNING)                                     |
 *      '------ pv_wait_head_or_lock: state = RUNNING while it spins <----------'
 *              (and HASHED again before it sleeps as the head)
 */
#ifndef PVLOCK_ALGO_QSPINLOCK_SLOWPATH_H
#define PVLOCK_ALGO_QSPINLOCK_SLOWPATH_H

#include "algo/atomic.h"
#include "algo/hooks.h"
#include "algo/pv_hash.h"

#define Q_LOCKED_VAL		PVLOCK__Q_LOCKED_VAL
#define Q_SLOW_VAL		PVLOCK__Q_SLOW_VAL
#define Q_LOCKED_MASK		0x000000ffu
#define Q_PENDING_VAL		0x00000100u
#define Q_PENDING_MASK		0x0000ff00u
#define Q_LOCKED_PENDING_MASK	0x0000ffffu
#define Q_TAIL_IDX_OFFSET	16
#define Q_TAIL_IDX_MASK		0x00030000u
#define Q_TAIL_SLOT_OFFSET	18
#define Q_TAIL_MASK		0xffff0000u

/* Re-reads of an in-flight (0,1,0) hand-over before we queue anyway. */
#if defined(__x86_64__) || defined(__i386__)
#define Q_PENDING_LOOPS		512
#else
#define Q_PENDING_LOOPS		1
#endif
/* A queued pv waiter looks at its predecessor every this many + 1 spins. */
#define PV_PREV_CHECK_MASK	0xffu

_Static_assert(PVLOCK_MAX_SLOTS <= (Q_TAIL_MASK >> Q_TAIL_SLOT_OFFSET),
	       "tail must encode every slot + 1");
_Static_assert(PVLOCK_MAX_NODES - 1 <= (Q_TAIL_IDX_MASK >> Q_TAIL_IDX_OFFSET),
	       "tail must encode every nesting level");

static inline uint32_t encode_tail(uint32_t slot, int idx)
{
	return ((slot + 1) << Q_TAIL_SLOT_OFFSET) | ((uint32_t)idx << Q_TAIL_IDX_OFFSET);
}

static inline struct qnode *decode_tail(uint32_t tail)
{
	uint32_t slot = (tail >> Q_TAIL_SLOT_OFFSET) - 1;
	uint32_t idx = (tail & Q_TAIL_IDX_MASK) >> Q_TAIL_IDX_OFFSET;

	return &pvlock__slots[slot].qnodes[idx];
}

/* Publish our tail; returns the previous tail (and the rest of the word).
 * acq_rel: our node's initialisation is released to whoever follows the
 * tail to it, and the predecessor's initialisation is acquired before we
 * write its next pointer (reference race 6). */
static inline uint32_t xchg_tail(pvlock_t *lock, uint32_t tail)
{
	uint16_t old = xchg(&lock->tail, (uint16_t)(tail >> 16), __ATOMIC_ACQ_REL);

	return (uint32_t)old << 16;
}

static inline void clear_pending(pvlock_t *lock)
{
	store_relaxed(&lock->pending, 0);
}

static inline void set_pending(pvlock_t *lock)
{
	store_relaxed(&lock->pending, 1);
}

/* (*,1,0) -> (*,0,1): we own the pending bit and nobody else may move. */
static inline void clear_pending_set_locked(pvlock_t *lock)
{
	store_relaxed(&lock->locked_pending, Q_LOCKED_VAL);
}

static inline void set_locked(pvlock_t *lock)
{
	store_relaxed(&lock->locked, Q_LOCKED_VAL);
}

static inline bool native_trylock(pvlock_t *lock)
{
	uint32_t val = load_relaxed(&lock->val);

	return !val && cas(&lock->val, &val, Q_LOCKED_VAL, __ATOMIC_ACQUIRE);
}

/*
 * pv: the hybrid unfair trylock.  Take the lock whenever locked and pending
 * are both clear, even past a non-empty queue: the head sets pending while
 * it spins, so this only steals from a head that is asleep (or preempted),
 * which is what keeps an overcommitted system moving.  Give up and queue
 * when the queue is empty or the head is spinning, and (pvlock's departure
 * from Linux, which spins here for as long as the head sleeps) after
 * steal_spin() failed looks: a waiter that cannot steal soon is better off
 * queued, where it sleeps behind the sleeping head, than spinning on a CPU
 * the lock holder needs (docs/design.md has the measurements).
 */
static inline bool pv_trylock_steal(pvlock_t *lock, struct pvlock_slot *self)
{
	for (unsigned tries = steal_spin();; tries--) {
		uint32_t val = load_relaxed(&lock->val);
		uint8_t unlocked = 0;

		if (!(val & Q_LOCKED_PENDING_MASK) &&
		    cas(&lock->locked, &unlocked, Q_LOCKED_VAL, __ATOMIC_ACQUIRE)) {
			ev_inc(self, pv_lock_stealing);
			return true;
		}
		if (!(val & Q_TAIL_MASK) || (val & Q_PENDING_MASK) || !tries)
			return false;
		cpu_relax();
	}
}

static inline bool qspin_trylock(pvlock_t *lock, struct pvlock_slot *self, const bool pv)
{
	return pv ? pv_trylock_steal(lock, self) : native_trylock(lock);
}

/* The head's attempt while it spins: (*,1,0) -> (*,0,1). */
static inline bool pv_trylock_clear_pending(pvlock_t *lock)
{
	uint16_t expected = Q_PENDING_VAL;

	return !load_relaxed(&lock->locked) &&
	       cas(&lock->locked_pending, &expected, Q_LOCKED_VAL, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* The pv hooks.  Each is called only when pv is true.                      */

static inline void pv_init_node(struct qnode *node)
{
	store_relaxed(&node->unhashed, 0);
	store_relaxed(&node->state, PV_RUNNING);
}

/* Sleep early when the node ahead of us is itself not running: our turn
 * cannot come before it runs again. */
static inline bool pv_wait_early(struct qnode *prev, unsigned loop)
{
	if (loop & PV_PREV_CHECK_MASK)
		return false;
	return load_relaxed(&prev->state) != PV_RUNNING ||
	       pvlock__pv_vcpu_is_preempted(pvlock__slot_of_node(prev));
}

/*
 * A queued, non-head waiter: spin a bounded time on node->locked, then sleep
 * until the lock owner that makes us head kicks us (at its unlock).
 */
static void pv_wait_node(struct qnode *node, struct qnode *prev, struct pvlock_slot *self)
{
	for (;;) {
		bool early = false;

		for (unsigned loop = spin_threshold(); loop; loop--) {
			if (load_relaxed(&node->locked))
				return;
			if (pv_wait_early(prev, loop)) {
				early = true;
				break;
			}
			cpu_relax();
		}

		/*
		 * Store-buffering pair with pv_kick_node():
		 *
		 *   [S] node->state = HALTED       [S] next->locked = 1
		 *       MB                             MB
		 *   [L] node->locked               [RmW] next->state HALTED -> HASHED
		 *
		 * Either we see locked, or the kicker sees HALTED and hashes us.
		 */
		store_relaxed(&node->state, PV_HALTED);
		smp_mb();
		if (!load_relaxed(&node->locked)) {
			ev_inc(self, pv_wait_node);
			if (early)
				ev_inc(self, pv_wait_early);
			pvlock__pv_wait(self, &node->state, PV_HALTED);
		}

		/* If pv_kick_node() made us HASHED, keep that: it tells
		 * pv_wait_head_or_lock() that an entry exists for us. */
		uint8_t halted = PV_HALTED;
		cas(&node->state, &halted, PV_RUNNING, __ATOMIC_RELAXED);

		if (load_relaxed(&node->locked))
			return;
		/* Woken without our turn: spin again before sleeping again,
		 * halting and kicking cost far more than a little spinning. */
		ev_inc(self, pv_spurious_wakeup);
	}
}

/*
 * Called by the new lock owner right after next->locked = 1.  If next is
 * asleep, do not kick it now (it could only spin: we hold the lock); instead
 * mark the lock _Q_SLOW_VAL and hash it, so that our unlock kicks it.
 */
static void pv_kick_node(pvlock_t *lock, struct qnode *node, struct pvlock_slot *self)
{
	PREEMPT_POINT(KICK_NODE);
	/* A failed CAS orders nothing, so the barrier must precede it
	 * (reference race 2): next->locked = 1 before we read its state. */
	smp_mb();
	uint8_t halted = PV_HALTED;
	if (!cas(&node->state, &halted, PV_HASHED, __ATOMIC_RELAXED))
		return;

	/* We own the lock and our own unlock reads these: plain order suffices. */
	store_relaxed(&lock->locked, Q_SLOW_VAL);
	PREEMPT_POINT(KICK_NODE_HASH);
	pvlock__pv_hash_insert(lock, node, self);
}

/*
 * The queue head: spin a bounded time for the lock with the pending bit set
 * (no stealing while we spin), then make sure unlock will find and kick us
 * (hash entry, then _Q_SLOW_VAL) and sleep.  Returns owning the lock.
 *
 * `hashed` tracks whether the table holds our entry.  pvlock departs from
 * Linux here: an unlocker that removes our entry also sets node->unhashed,
 * so after a wake-up in which a stealer beat us to the lock we may hash and
 * sleep again (Linux spins from then on).  We cannot infer "unhashed" from
 * the lock word instead: pv_kick_node may still be about to set _Q_SLOW_VAL
 * and insert on our behalf (the double-hash window, reference race 1).
 * models/m1_pv_qspinlock.pml checks this variant.
 */
static uint32_t pv_wait_head_or_lock(pvlock_t *lock, struct qnode *node,
				     struct pvlock_slot *self)
{
	bool hashed = load_relaxed(&node->state) == PV_HASHED;
	struct pv_hash_entry *entry;

	for (unsigned waits = 0;; waits++) {
		if (hashed && load_acquire(&node->unhashed)) {
			store_relaxed(&node->unhashed, 0);
			hashed = false;
		}
		store_relaxed(&node->state, PV_RUNNING);
		set_pending(lock);
		for (unsigned loop = spin_threshold(); loop; loop--) {
			if (pv_trylock_clear_pending(lock))
				goto gotlock;
			cpu_relax();
		}
		clear_pending(lock);

		/*
		 * Not hashed, but the lock still reads SLOW: the unlocker that
		 * removed our entry has not released yet (only it can have left
		 * SLOW there).  Hashing now would let its release overwrite our
		 * SLOW and strand the new entry (found by the M1 model); just
		 * wait, it kicks us right after the release.
		 */
		if (!hashed && load_relaxed(&lock->locked) != Q_SLOW_VAL) {
			/* Hash before _Q_SLOW_VAL: an unlocker that sees SLOW
			 * must find the entry (reference race 3).  Nobody else
			 * can make the byte SLOW now, so the xchg returns 0 or 1. */
			entry = pvlock__pv_hash_insert(lock, node, self);
			hashed = true;
			PREEMPT_POINT(HEAD_BEFORE_SLOW);
			if (xchg(&lock->locked, Q_SLOW_VAL, __ATOMIC_SEQ_CST) == 0) {
				/* The lock was free: it is ours; undo SLOW and
				 * take our entry back before anyone sees it. */
				store_relaxed(&lock->locked, Q_LOCKED_VAL);
				pv_hash_release_entry(entry, self);
				goto gotlock;
			}
		}
		store_relaxed(&node->state, PV_HASHED);
		ev_inc(self, pv_wait_head);
		if (waits)
			ev_inc(self, pv_wait_again);
		pvlock__pv_wait(self, &lock->locked, Q_SLOW_VAL);
		/* Woken by the unlocker, spuriously, or a stealer may hold the
		 * lock already: spin again. */
	}
gotlock:
	return load_relaxed(&lock->val) | Q_LOCKED_VAL;
}

/* ------------------------------------------------------------------------ */

static inline __attribute__((always_inline))
void qspin_slowpath(pvlock_t *lock, uint32_t val, struct pvlock_slot *self, const bool pv)
{
	struct qnode *node0, *node, *prev, *next;
	uint32_t old, tail;
	int idx;

	if (pv)
		goto queue;

	/* (0,1,0): a pending owner is mid hand-over; give it a bounded moment
	 * (bounded: reference race 9). */
	if (val == Q_PENDING_VAL) {
		for (int cnt = Q_PENDING_LOOPS; cnt; cnt--) {
			val = load_relaxed(&lock->val);
			if (val != Q_PENDING_VAL)
				break;
			cpu_relax();
		}
	}

	/* Anyone pending or queued: queue behind them. */
	if (val & ~Q_LOCKED_MASK)
		goto queue;

	/* 0,0,* -> 0,1,*: try to become the one pending waiter. */
	val = fetch_or(&lock->val, Q_PENDING_VAL, __ATOMIC_ACQUIRE);
	if (val & ~Q_LOCKED_MASK) {
		/* Someone beat us.  Undo our pending bit, only if it is ours,
		 * and queue (reference race 8). */
		if (!(val & Q_PENDING_MASK))
			clear_pending(lock);
		goto queue;
	}

	/* 0,1,1 -> 0,1,0: wait for the owner; nobody can steal meanwhile. */
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
	idx = node0->count++;
	/* The count is ours before the node is: a signal handler entering a
	 * slow path now takes the next node, not this one (race 7). */
	signal_barrier();
	if (unlikely(idx >= PVLOCK_MAX_NODES)) {
		node0->count--;
		goto no_node;		/* nested deeper than 4 (race 10) */
	}
	node = &self->qnodes[idx];
	if (idx)
		ev_add(self, PVLOCK_EV_lock_use_node2 + (idx - 1), 1);

	node->locked = 0;
	node->next = NULL;
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
		prev = decode_tail(old);
		PREEMPT_POINT(BEFORE_PREV_LINK);
		store_release(&prev->next, node);

		if (pv)
			pv_wait_node(node, prev, self);
		while (!load_acquire(&node->locked))
			cpu_relax();

		/* Someone may have queued behind us meanwhile. */
		next = load_acquire(&node->next);
	}

	/* We are the head: wait for the owner and any pending waiter to go.
	 * pv: pv_wait_head_or_lock returns owning the lock. */
	if (pv) {
		val = pv_wait_head_or_lock(lock, node, self);
	} else {
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
	 * fail, and it will then see our tail and queue behind us.
	 */
	if ((val & Q_TAIL_MASK) == tail &&
	    cas(&lock->val, &val, Q_LOCKED_VAL, __ATOMIC_RELAXED))
		goto release;

	set_locked(lock);
	if (!next)
		while (!(next = load_acquire(&node->next)))
			cpu_relax();

	store_release(&next->locked, 1);
	if (pv)
		pv_kick_node(lock, next, self);

release:
	signal_barrier();
	node0->count--;
	return;

no_node:
	ev_inc(self, lock_no_node);
	while (!qspin_trylock(lock, self, pv))
		cpu_relax();
}

#endif /* PVLOCK_ALGO_QSPINLOCK_SLOWPATH_H */
