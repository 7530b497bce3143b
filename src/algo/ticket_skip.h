/*
 * ticket_skip.h - the pv ticket lock's hand-offs past waiters that do not
 * run: the skip protocol, kick-ahead, and far-back sleep.  Part of ticket.c
 * (included once, after its record helpers); split out for size.
 *
 * A sleeping or preempted waiter stalls every hand-off to it: the lock sits
 * unowned for a wake-up (hundreds of microseconds on a busy machine) while
 * the running threads wait.  So an unlocker whose next ticket's waiter is
 * not running passes the turn over it, as if that waiter had taken and
 * released the lock at once; the skipped waiter, kicked, takes a new ticket.
 * "Not running" is what the waiter's record says (asleep: it is in pv_wait,
 * on every backend) or, with the skip use (PVLOCK_PREEMPT_USES), what a
 * backend that knows who runs says (preempted or blocked).  Both are hints
 * that may be stale: exactly one of the two parties wins each turn, by CAS.
 * The waiter owns its turn only after retiring its record's claim
 * (WAITING -> DONE), and the unlocker may move head past it only after
 * claiming it (WAITING -> SKIPPED).  The claim word holds a generation, so
 * a claim read for one wait can never succeed against a later wait of the
 * same record.  One acquisition's waiter is passed over at most
 * pvlock__ticket_skips times (K): after the K-th skip it waits FIRM, and
 * nobody may skip a FIRM record.  models/m6_ticket_skip.pml checks this.
 *
 * Kick-ahead: a hand-off to ticket N also wakes the sleeping waiter of
 * N + 2k, so that it is running when its turn comes instead of stalling it
 * for a wake-up (or being skipped).  Far-back sleep: a waiter more turns
 * behind head than the process has CPUs cannot get its turn soon, and its
 * spinning takes a CPU from the holder and the waiters ahead: it sleeps at
 * once, and kick-ahead (or its unlocker) wakes it.
 */
#ifndef PVLOCK_ALGO_TICKET_SKIP_H
#define PVLOCK_ALGO_TICKET_SKIP_H

/* A skipping waiter looks at its claim and its predecessor every this + 1 spins. */
#define PV_CHECK_MASK 0xffu

/*
 * Claim the waiter of ticket `next` if it is not running and it still waits
 * for that turn.  Success means the turn `next` belongs to us (the waiter
 * will take a new ticket) and nobody else owns it.  Anyone may do this, at
 * any time: the claim CAS makes the skip exclusive.
 *
 * Only the record is read here, never the lock: an unlocker calls this after
 * its releasing fetch_add, when the lock may already have been taken,
 * released and freed by the waiter it found (the claim it read may be a
 * moment old).  Once the CAS succeeds we own a turn of the lock, which keeps
 * it in use (nobody may free a lock with a ticket outstanding), so from then
 * on pass_turn may touch it.  A caller's `next` may be stale (its thread
 * preempted while the tickets wrapped): then the claimed turn is a later
 * one, and pass_turn waits for head to reach it.
 */
static bool claim_for_skip(pvlock_ticket_t *lock, struct ticket_wait *w, uint16_t next)
{
	/* Relaxed: a hint, paired with the waiter's relaxed stores of asleep
	 * in sleep_once; stale, it only passes over a waiter that just woke
	 * (fairness), as the claim CAS below decides who owns the turn. */
	if (!load_relaxed(&w->asleep)) {
		int state = preempt_use(PVLOCK_USE_SKIP) ?
			    pvlock__pv_slot_state(pvlock__slot_of(w)) : 0;

		if (state != PVLOCK_SLOT_RUNNABLE && state != PVLOCK_SLOT_BLOCKED)
			return false;
	}
	/* Acquire: pairs with the waiter's release of WAITING, so lock and
	 * want below belong to this claim's wait (or the CAS fails). */
	uint32_t claim = load_acquire(&w->claim);
	if (claim_state(claim) != CLAIM_WAITING || (uint16_t)claim != next ||
	    load_relaxed(&w->lock) != lock)
		return false;
	PREEMPT_POINT(TICKET_SKIP_LOOKED);
	/* acq_rel.  Acquire: pass_turn's accesses to the lock stay after the
	 * claim that makes them safe.  Release: pairs with the waiter's loads
	 * of SKIPPED (sleep_once, lock_skipping), which then see our look. */
	return cas(&w->claim, &claim, (claim & ~(3u << 16)) | (CLAIM_SKIPPED << 16),
		   __ATOMIC_ACQ_REL);
}

/*
 * We own the turn `next` (claimed from a skipped waiter): pass it on, as
 * that waiter's unlock would.  Returns the head before (with the flag).
 * Safe to touch the lock: the turn we own keeps it in use.  Usually head is
 * `next` already; with a stale `next` (tickets wrapped while the claimer was
 * preempted) the turn is a later one, and we wait for it as its waiter
 * would have.  Once head is `next` nobody but us moves it; only the flag
 * changes (waiters' fetch_or), hence the CAS loop.
 */
static uint16_t pass_turn(pvlock_ticket_t *lock, uint16_t next)
{
	/* Acquire: pairs with the release that made head `next`. */
	uint16_t head = load_acquire(&lock->head);

	while ((head & ~TICKET_FLAG) != next) {
		cpu_relax();
		head = load_acquire(&lock->head);
	}
	/* acq_rel.  Release: the new owner's acquire load of head reads this
	 * RMW (or a later one in its release sequence) and so sees the turn's
	 * hand-off.  Acquire: a waiter that set the flag before this CAS (its
	 * seq_cst fetch_or, a release) reset its kicked to 0 before that; the
	 * acquire makes the reset happen before our kick's store of 1, so the
	 * store is the later one and the waiter cannot sleep through it.  A
	 * release-only CAS leaves the two stores unordered (aarch64 may make
	 * the reset land last). */
	while (!cas(&lock->head, &head, (uint16_t)(head + TICKET_INC), __ATOMIC_ACQ_REL))
		;
	return head;
}

/*
 * The turn just went to ticket `now`: wake the waiter of now + 2k if it
 * sleeps, so that it runs by the time its turn comes.  Reads only records,
 * never the lock (an unlocker calls this after its release).  A missed
 * kick-ahead (asleep not yet published, or the record not yet found) costs
 * a wake-up on the hand-off; one sent to a waiter that has just left is a
 * spurious kick, which every waiter tolerates.
 */
static void kick_ahead(pvlock_ticket_t *lock, uint16_t now, struct pvlock_slot *me)
{
	unsigned k = ticket_kick_ahead();
	struct ticket_wait *w;

	if (!k)
		return;
	w = ticket_waiter(lock, (uint16_t)(now + k * TICKET_INC));
	/* Relaxed: a hint, paired with the waiter's relaxed stores in
	 * sleep_once; the kick itself is ordered by ticket_kick. */
	if (!w || !load_relaxed(&w->asleep))
		return;
	ev_inc(me, ticket_kick_ahead);
	ticket_kick(w);
}

/* Skip, the waiter behind a stalled turn: head is `prev`, the ticket just
 * before ours, and prev's waiter does not run.  Take its turn from it and
 * pass the turn on, to us.  True if head is now our ticket. */
static bool skip_ahead(pvlock_ticket_t *lock, uint16_t prev)
{
	struct ticket_wait *w = ticket_waiter(lock, prev);
	struct pvlock_slot *me = pvlock__slot_peek();

	if (!w || !claim_for_skip(lock, w, prev))
		return false;
	ev_inc(me, ticket_skip);
	PREEMPT_POINT(TICKET_SKIP_CLAIMED);
	pass_turn(lock, prev);
	ticket_kick(w);			/* so that it takes a new ticket */
	kick_ahead(lock, (uint16_t)(prev + TICKET_INC), me);
	return true;
}

/* More turns between head and our ticket than the process has CPUs (and
 * far-back sleep on)?  We hold a ticket, so the lock is in use: a relaxed
 * look at head (a hint: a stale head only sleeps or spins once more). */
static bool far_back(pvlock_ticket_t *lock, uint16_t ticket)
{
	unsigned cpus = cpus_usable();

	if (!cpus || !ticket_far_sleep())
		return false;
	uint16_t head = load_relaxed(&lock->head) & ~TICKET_FLAG;
	return (unsigned)(uint16_t)(ticket - head) / TICKET_INC > cpus;
}

/*
 * The pv wait with a record: it stays published for the whole wait, its
 * claim WAITING while we may still be passed over, so that our unlocker or
 * our successor can pass our turn over us while we do not run.  We own a
 * turn only after retiring the claim; if it was skipped, our ticket is
 * spent and we take a new one, FIRM once we were skipped K times.
 * Returns the head we acquired with.
 */
static uint16_t lock_skipping(pvlock_ticket_t *lock, uint16_t ticket, struct ticket_wait *w,
			      struct pvlock_slot *self, int fork_level)
{
	unsigned skips_left = ticket_skips();
	uint32_t claim = record_publish(w, lock, ticket,
					skips_left ? CLAIM_WAITING : CLAIM_FIRM, self);
	uint16_t head;

	for (;;) {
		unsigned n = pv_spin_budget();

		if (far_back(lock, ticket)) {
			ev_inc(self, ticket_far_sleep);
			n = 0;
		}
		for (; n; n--) {
			/* Acquire: pairs with the release of the unlock's
			 * fetch_add or the skipper's head CAS that made head our ticket. */
			head = load_acquire(&lock->head);
			if ((head & ~TICKET_FLAG) == ticket) {
				/* Acquire: a failed CAS means a skipper claimed
				 * us first; its head update is then visible. */
				if (cas(&w->claim, &claim, claim_word(claim >> 18, CLAIM_DONE, ticket),
					__ATOMIC_ACQUIRE))
					goto got;
				goto retake;
			}
			/* Once per 256 spins, and at the last spin of a round. */
			if ((n & PV_CHECK_MASK) == 1) {
				/* Relaxed: a hint; the CAS above decides. */
				if (claim_state(load_relaxed(&w->claim)) == CLAIM_SKIPPED)
					goto retake;
				if ((head & ~TICKET_FLAG) == (uint16_t)(ticket - TICKET_INC))
					skip_ahead(lock, (uint16_t)(ticket - TICKET_INC));
			}
			cpu_relax();
		}
		/* Not again until the next kick, after which we spin. */
		store_relaxed(&w->kicked, 0);
		sleep_once(lock, ticket, w, self, claim_state(claim) == CLAIM_WAITING);
		if (claim_state(load_relaxed(&w->claim)) != CLAIM_SKIPPED)
			continue;
		/* fall through: skipped while we slept */
retake:
		/* Passed over: our ticket is spent.  Take a new one, as the
		 * fast path does (acquire, like it); FIRM after the K-th skip
		 * (only a WAITING claim can be skipped: skips_left > 0). */
		skips_left--;
		ticket = (uint16_t)(__atomic_fetch_add(&lock->val, TICKET_INC << 16,
						       __ATOMIC_ACQUIRE) >> 16);
		fork_wait_ticket(self, fork_level, ticket);
		claim = record_publish(w, lock, ticket,
				       skips_left ? CLAIM_WAITING : CLAIM_FIRM, self);
	}
got:
	record_release(w, self);
	return head;
}

#endif /* PVLOCK_ALGO_TICKET_SKIP_H */
