/*
 * qspinlock_pv.h - the paravirtual hooks of the queued spinlock slow path.
 *
 * The generic slow path (qspinlock_slowpath.h) calls these, and only these,
 * when it is instantiated with pv == true; with pv == false it calls none of
 * them.  The seam, in the order a waiter meets it:
 *
 *   qspin_trylock     -> pv_trylock_steal   newcomer: steal, yield, or queue
 *   pv_init_node                            a fresh node is RUNNING
 *   pv_wait_node                            queued: spin, then sleep
 *   pv_wait_head                            head: spin, then hash and sleep;
 *                                           returns owning the lock
 *   pv_kick_node                            new owner: make its unlock kick
 *                                           the next head if it sleeps
 *   pv_no_node_yield                        no node: yield now and then
 *
 * Two kinds of pv unlock (the mode word says which, fixed before any lock
 * was contended): the CAS kind marks the locked byte 1 -> 3 (_Q_SLOW_VAL:
 * "the head sleeps, look it up in the hash table and kick it"), set by the
 * head or on its behalf; the store kind writes nothing in the word (a
 * sleeper count and membarrier instead: pv_wait_head_store).  Both let
 * newcomers take the lock (steal) while the head is not spinning.
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
#ifndef PVLOCK_ALGO_QSPINLOCK_PV_H
#define PVLOCK_ALGO_QSPINLOCK_PV_H

#include "algo/pv_hash.h"
#include "algo/qspinlock_word.h"

/* A queued pv waiter looks at its predecessor every this many + 1 spins. */
#define PV_PREV_CHECK_MASK	0xffu

/* pv head: "I am spinning, don't steal".  Relaxed, as clear_pending: a
 * stealer that misses it only steals, and its steal CAS of the locked byte
 * and our CAS of locked_pending are RMWs of the same byte: one fails. */
static inline void set_pending(pvlock_t *lock)
{
	store_relaxed(&lock->pending, 1);
}

/*
 * pv: the hybrid unfair trylock.  Take the lock whenever locked and pending
 * are both clear, even past a non-empty queue: the head sets pending while
 * it spins, so this only steals from a head that is asleep (or preempted),
 * which is what keeps an overcommitted system moving.  Queue when the queue
 * is empty (we then become the head at once and spin with pending set).
 *
 * Two departures from Linux, which looks for as long as the head sleeps or
 * until it sees the head spinning (docs/design.md, "Departures from Linux":
 * the bounded steal loop, and yielding before queueing):
 *   - after steal_spin() failed looks, stop spinning on a CPU the lock
 *     holder may need;
 *   - then, and at once while the head spins (it takes the next release),
 *     yield the CPU and look again, steal_yields() times, before queueing.
 *     A waiter queued behind sleeping waiters waits one scheduler wake-up
 *     per waiter ahead of it while the running threads steal; a waiter
 *     that yields stays runnable and gets its fair share of the CPUs.
 *     (The user-space analogue of a hypervisor's pause-loop exit, which
 *     gives a spinning vCPU's CPU away.)  With steal_yields() == 0 this is
 *     the bounded steal loop alone.
 */
static inline bool pv_trylock_steal(pvlock_t *lock, struct pvlock_slot *self)
{
	unsigned yields = steal_yields();

	for (unsigned tries = pv_steal_budget();; tries--) {
		/* A hint; the byte CAS decides (acquire: pairs with the
		 * release of the unlock that freed the byte). */
		uint32_t val = load_relaxed(&lock->val);
		uint8_t unlocked = 0;

		if (!(val & Q_LOCKED_PENDING_MASK) &&
		    cas(&lock->locked, &unlocked, Q_LOCKED_VAL, __ATOMIC_ACQUIRE)) {
			ev_inc(self, pv_lock_stealing);
			return true;
		}
		if (!(val & Q_TAIL_MASK))
			return false;
		if ((val & Q_PENDING_MASK) || !tries) {
			if (!yields--)
				return false;
			ev_inc(self, pv_steal_yield);
			pvlock__pv_yield();
			tries = pv_steal_budget() + 1;
		}
		cpu_relax();
	}
}

/* The head's attempt while it spins: (*,1,0) -> (*,0,1), a 16-bit CAS,
 * acquire: pairs with the release of the unlock that freed the byte. */
static inline bool pv_trylock_clear_pending(pvlock_t *lock)
{
	uint16_t expected = Q_PENDING_VAL;

	return !load_relaxed(&lock->locked) &&
	       cas(&lock->locked_pending, &expected, Q_LOCKED_VAL, __ATOMIC_ACQUIRE);
}
/* Relaxed: released to the kicker and our successor by xchg_tail and the
 * store_release of prev->next, which they read before touching our node. */
static inline void pv_init_node(struct qnode *node)
{
	store_relaxed(&node->unhashed, 0);
	store_relaxed(&node->state, PV_RUNNING);
}

/*
 * Sleep early when the node ahead of us is itself not running: our turn
 * cannot come before it runs again.  Linux looks at prev's node state only.
 * With a backend that knows who runs, a preempted prev is counted
 * (preempt_waiter, once per spin round: *seen) and, with the wait-early use
 * (Linux v5.2's variant, reverted in v5.4), also makes us sleep early.
 */
static inline bool pv_wait_early(struct qnode *prev, unsigned loop, struct pvlock_slot *self,
				 bool *seen)
{
	if (loop & PV_PREV_CHECK_MASK)
		return false;
	/* Hints (relaxed): a wrong guess only sleeps early or spins on. */
	if (load_relaxed(&prev->state) != PV_RUNNING)
		return true;
	if (!preempt_known() || !pvlock__pv_vcpu_is_preempted(pvlock__slot_of_node(prev)))
		return false;
	if (!*seen)
		ev_inc(self, preempt_waiter);
	*seen = true;
	return preempt_use(PVLOCK_USE_WAIT_EARLY);
}

/*
 * A queued, non-head waiter: spin a bounded time on node->locked, then sleep
 * until the lock owner that makes us head kicks us (at its unlock).
 */
static void pv_wait_node(struct qnode *node, struct qnode *prev, struct pvlock_slot *self)
{
	for (;;) {
		bool early = false, seen = false;

		for (unsigned loop = pv_spin_budget(); loop; loop--) {
			/* Relaxed: the caller re-reads it with acquire. */
			if (load_relaxed(&node->locked))
				return;
			if (pv_wait_early(prev, loop, self, &seen)) {
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
		 * The seq_cst fences make this store-buffering pattern safe
		 * (acquire/release could not); the state accesses themselves
		 * are relaxed.
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
		 * pv_wait_head_or_lock() that an entry exists for us.  Relaxed:
		 * an RMW of the same byte as the kicker's CAS, so exactly one of
		 * the two wins, and a later read here sees the winner. */
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
 * make sure our unlock kicks it: CAS kind, mark the lock _Q_SLOW_VAL and hash
 * it; store kind, count a sleeper and hash it (our unlock's sleepers load
 * follows our increment in program order, so it takes the wake path).
 */
static void pv_kick_node(pvlock_t *lock, struct qnode *node, struct pvlock_slot *self,
			 bool store)
{
	/* The hand-off just went to a thread that is not running: the stall
	 * a fair lock suffers under overcommit, counted where it happens. */
	if (preempt_known() && pvlock__pv_vcpu_is_preempted(pvlock__slot_of_node(node)))
		ev_inc(self, preempt_waiter);
	PREEMPT_POINT(KICK_NODE);
	/* A failed CAS orders nothing, so the barrier must precede it
	 * (the "kick-node ordering" race, docs/design.md): next->locked = 1
	 * before we read its state. */
	smp_mb();
	uint8_t halted = PV_HALTED;
	if (!cas(&node->state, &halted, PV_HASHED, __ATOMIC_RELAXED))
		return;

	if (store) {
		/* Relaxed: read back by our own unlock (program order), and by
		 * other unlockers only as "look in the table". */
		__atomic_fetch_add(&pvlock__pv_sleepers[0], 1, __ATOMIC_RELAXED);
		PREEMPT_POINT(KICK_NODE_HASH);
		pvlock__pv_hash_insert_store(lock, node, self);
		return;
	}
	/* We own the lock, and our own unlock reads SLOW and the entry back:
	 * program order suffices for that.  The head reads the byte too (its
	 * "still SLOW?" check, its pv_wait): it learns of this store through
	 * our unlock (the store_release of node->unhashed, then of locked). */
	store_relaxed(&lock->locked, Q_SLOW_VAL);
	PREEMPT_POINT(KICK_NODE_HASH);
	pvlock__pv_hash_insert(lock, node, self);
}

/*
 * The queue head knows the holder when its predecessor handed it the head
 * (the predecessor took the lock then), unless a stealer came between.
 * Every PV_PREV_CHECK_MASK + 1 spins, look: a preempted holder is counted
 * (preempt_holder, once per spin round) and, with the holder use, the head
 * stops spinning and sleeps (Solaris' adaptive mutex, Linux's owner_on_cpu).
 */
static inline bool pv_holder_stopped(const struct pvlock_slot *holder, unsigned loop,
				     struct pvlock_slot *self, bool *seen)
{
	if (!holder || (loop & PV_PREV_CHECK_MASK) || !preempt_known() ||
	    !pvlock__pv_vcpu_is_preempted(holder))
		return false;
	if (!*seen)
		ev_inc(self, preempt_holder);
	*seen = true;
	return preempt_use(PVLOCK_USE_HOLDER);
}

/*
 * One spin round of the queue head, the same for both kinds of pv unlock:
 * say that we spin (pending set: no stealing; the node's state: a hint to
 * our successor's pv_wait_early, relaxed), try for the lock a bounded time,
 * then stop saying so.  True: we own the lock (our claim cleared pending).
 */
static inline bool pv_head_spin(pvlock_t *lock, struct qnode *node, struct pvlock_slot *self,
				const struct pvlock_slot *holder)
{
	bool seen = false;

	store_relaxed(&node->state, PV_RUNNING);
	set_pending(lock);
	for (unsigned loop = pv_spin_budget(); loop; loop--) {
		if (pv_trylock_clear_pending(lock))
			return true;
		if (pv_holder_stopped(holder, loop, self, &seen))
			break;
		cpu_relax();
	}
	clear_pending(lock);
	return false;
}

/*
 * The queue head: spin a bounded time for the lock with the pending bit set
 * (no stealing while we spin), then make sure unlock will find and kick us
 * (hash entry, then _Q_SLOW_VAL) and sleep.  Returns owning the lock.
 *
 * `hashed` tracks whether the table holds our entry.  An unlocker that
 * removes our entry sets node->unhashed, so after a wake-up in which a
 * stealer beat us to the lock we may hash and sleep again (Linux spins from
 * then on: docs/design.md, "Departures from Linux").  "Unhashed" cannot be
 * inferred from the lock word: pv_kick_node may still be about to set
 * _Q_SLOW_VAL and insert on our behalf (the window of the "double hash"
 * race, docs/design.md).  Models:
 * M1 (the algorithm), M5 (its orderings under a weak memory model).
 */
static uint32_t pv_wait_head_or_lock(pvlock_t *lock, struct qnode *node,
				     struct pvlock_slot *self, const struct pvlock_slot *holder)
{
	/* Relaxed: read after our own RMW of state in pv_wait_node, or the
	 * kicker's CAS that beat it; coherence gives us the winner. */
	bool hashed = load_relaxed(&node->state) == PV_HASHED;
	struct pv_hash_entry *entry;

	for (unsigned waits = 0;; waits++) {
		/* Acquire, pairing with the unlocker's store_release of the
		 * notice: then our read of the locked byte below sees that
		 * unlocker's SLOW or its release, never an older value. */
		if (hashed && load_acquire(&node->unhashed)) {
			/* Ours again: the next notice comes only after we
			 * hash again, through our xchg and its acquire. */
			store_relaxed(&node->unhashed, 0);
			hashed = false;
		}
		if (pv_head_spin(lock, node, self, holder))
			goto gotlock;

		/*
		 * Not hashed, but the lock still reads SLOW: the unlocker that
		 * removed our entry has not released yet (only it can have left
		 * SLOW there).  Hashing now would let its release overwrite our
		 * SLOW and strand the new entry; wait instead, that unlocker
		 * kicks us right after its release.  Relaxed load: the acquire
		 * of the notice above already ordered it after that unlocker's
		 * SLOW (models M1 and M5).
		 */
		if (!hashed && load_relaxed(&lock->locked) != Q_SLOW_VAL) {
			/* Hash before _Q_SLOW_VAL: an unlocker that sees SLOW
			 * must find the entry (the "slow flag before hash
			 * entry" race, docs/design.md).  Nobody else
			 * can make the byte SLOW now, so the xchg returns 0 or 1.
			 * Byte xchg, seq_cst: its release publishes the entry
			 * to the unlocker's load_acquire of SLOW; its acquire,
			 * when it returns 0, takes the lock. */
			entry = pvlock__pv_hash_insert(lock, node, self);
			hashed = true;
			PREEMPT_POINT(HEAD_BEFORE_SLOW);
			if (xchg(&lock->locked, Q_SLOW_VAL, __ATOMIC_SEQ_CST) == 0) {
				/* The lock was free: it is ours; undo SLOW (we
				 * own the byte: relaxed) and give our entry
				 * back before any unlocker can look for it. */
				store_relaxed(&lock->locked, Q_LOCKED_VAL);
				pv_hash_release_entry(entry, self);
				goto gotlock;
			}
		}
		/* Relaxed: only our own later reads of it matter. */
		store_relaxed(&node->state, PV_HASHED);
		ev_inc(self, pv_wait_head);
		if (waits)
			ev_inc(self, pv_wait_again);
		pvlock__pv_wait(self, &lock->locked, Q_SLOW_VAL);
		/* Woken by the unlocker, spuriously, or a stealer may hold the
		 * lock already: spin again. */
	}
gotlock:
	/* Relaxed: the caller decides with a CAS of the word. */
	return load_relaxed(&lock->val) | Q_LOCKED_VAL;
}

/*
 * The queue head, store kind of pv unlock (docs/design.md, "The pv unlock
 * without a locked instruction").  Spin as above; then count ourselves
 * in pvlock__pv_sleepers and hash (unless our kicker did), call membarrier,
 * and look at the locked byte: free, take it; held, sleep until an unlocker
 * claims our entry (its notice).  The unlocker writes nothing to the lock
 * word for us, so we sleep on the notice, not on the lock: any unlocker may
 * claim the entry (a stranger too: one delayed after its release, of an
 * earlier owner of this lock or of a lock that lived at this address), and
 * its notice and kick are what wake us.
 *
 * The pairing, a store-buffering pattern with one side's fence supplied by
 * the other side's membarrier:
 *
 *   head:      W(sleepers++, entry)  membarrier  R(locked)
 *   unlocker:  W(locked = 0)  [its barrier instant]  R(sleepers), R(entry)
 *
 * membarrier makes every other running thread run a full barrier at some
 * instant of the call (a thread not running gets one from the context
 * switch).  If that instant falls after the unlocker's W(locked = 0), the
 * release is visible before the call returns and our R(locked) reads it or
 * a later value; if before it, our writes are visible to its reads, which
 * follow the instant.  Either the head sees the release or the unlocker
 * sees the head (models: M1 with STORE_UNLOCK).
 */
static uint32_t pv_wait_head_store(pvlock_t *lock, struct qnode *node,
				   struct pvlock_slot *self, const struct pvlock_slot *holder)
{
	/* Relaxed: as in pv_wait_head_or_lock. */
	bool hashed = load_relaxed(&node->state) == PV_HASHED, slept = false;

	for (;;) {
		/* Acquire, pairing with the claimer's store_release of the
		 * notice (after its claim): our entry is gone, hash again. */
		if (hashed && load_acquire(&node->unhashed)) {
			store_relaxed(&node->unhashed, 0);
			hashed = false;
		}
		if (pv_head_spin(lock, node, self, holder))
			goto gotlock;

		if (!hashed) {
			/* Count first, so that the count is never below the
			 * entries.  Relaxed: ordered before the unlocker's
			 * sleepers load by the membarrier below. */
			__atomic_fetch_add(&pvlock__pv_sleepers[0], 1, __ATOMIC_RELAXED);
			pvlock__pv_hash_insert_store(lock, node, self);
			hashed = true;
		}
		PREEMPT_POINT(HEAD_BEFORE_MEMBARRIER);
		ev_inc(self, pv_membarrier);
		if (pvlock__pv_membarrier() != 0) {
			/* No fence on the unlockers: we may not sleep on what we
			 * read now.  Give the CPU away and look again. */
			ev_inc(self, pv_membarrier_fail);
			pvlock__pv_yield();
			continue;
		}
		/* Relaxed: the membarrier above orders it after our count and
		 * insert, and against every unlocker's release (see above). */
		uint8_t locked = load_relaxed(&lock->locked);
		PREEMPT_POINT(HEAD_LOOKED);
		/* Byte CAS 0 -> locked, acquire: pairs with the release of the
		 * unlock that freed the byte. */
		if (!locked && cas(&lock->locked, &locked, Q_LOCKED_VAL, __ATOMIC_ACQUIRE))
			goto gotlock;
		/* Relaxed: only our own later reads of it matter. */
		store_relaxed(&node->state, PV_HASHED);
		ev_inc(self, pv_wait_head);
		if (slept)
			ev_inc(self, pv_wait_again);
		slept = true;
		/* Sleep until the notice: the claimer sets it, then kicks. */
		pvlock__pv_wait(self, &node->unhashed, 0);
	}
gotlock:
	if (hashed) {
		PREEMPT_POINT(HEAD_TAKE_BACK);
		if (pvlock__pv_hash_take_back(lock, node, self)) {
			/* Relaxed: our entry is gone first; the count may stay
			 * above the entries a moment, never below. */
			__atomic_fetch_sub(&pvlock__pv_sleepers[0], 1, __ATOMIC_RELAXED);
		} else {
			/* An unlocker claimed our entry: it writes the notice
			 * next (and kicks us, harmlessly).  Wait for the notice
			 * (acquire, pairing with its store_release) so that no
			 * write of it lands on our node after we leave. */
			ev_inc(self, pv_claim_lost);
			for (unsigned loop = 0; !load_acquire(&node->unhashed); loop++) {
				if (loop >= pv_spin_budget()) {
					pvlock__pv_yield();
					loop = 0;
				}
				cpu_relax();
			}
			store_relaxed(&node->unhashed, 0);
		}
	}
	/* Relaxed: the caller decides with a CAS of the word. */
	return load_relaxed(&lock->val) | Q_LOCKED_VAL;
}

/* The queue head's wait, by the kind of pv unlock. */
static inline uint32_t pv_wait_head(pvlock_t *lock, struct qnode *node, struct pvlock_slot *self,
				    const struct pvlock_slot *holder, bool store)
{
	return store ? pv_wait_head_store(lock, node, self, holder)
		     : pv_wait_head_or_lock(lock, node, self, holder);
}

/* A waiter with no node spins on the lock word; every spin threshold (loop
 * counts its looks) it gives the CPU away, so that waiters past the slot
 * limit (or nested deeper than 4) slow the lock down gently, not to a halt.
 * Returns the count to go on with: 0 after a yield. */
static inline unsigned pv_no_node_yield(unsigned loop, struct pvlock_slot *self)
{
	if (loop >= pv_spin_budget()) {
		ev_inc(self, pv_no_node_yield);
		pvlock__pv_yield();
		loop = 0;
	}
	return loop;
}

#endif /* PVLOCK_ALGO_QSPINLOCK_PV_H */
