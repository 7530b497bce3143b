/*
 * ticket.c - the ticket lock's slow paths (native spin, pv sleep and kick).
 *
 * pv waiting, in the order that makes it safe:
 *
 *   waiter                                  unlocker
 *   record = {lock, want}  (lock last)      head += 2  (fetch_add; returns old
 *   head |= FLAG           (atomic)           head, whose FLAG bit says
 *   re-check head == want                     "look for a sleeper")
 *   sleep unless kicked                     if FLAG: find {lock, head}, kick
 *
 * The flag is set before the re-check (reference race 12): either the
 * unlocker's releasing RMW sees the flag, or our re-check sees its new head.  The flag
 * lives in head, so the unlocker learns it from the releasing fetch_add
 * itself and never reads the lock after releasing it.  Records are per nesting level,
 * so a signal handler waiting on another ticket lock uses its own record and
 * cannot overwrite ours (reference race 13 cannot arise; see tests).
 *
 * Orderings (each access below names its partner): the waiter's seq_cst
 * fetch_or of the flag releases its record and its slot's waiting bit; the
 * unlocker's acq_rel fetch_add that returns the flag acquires them.  The
 * 16-bit RMWs of head and the 32-bit CAS/add of the word are mixed-size
 * RMWs of the same bytes: outside C11, ordered by the hardware as Linux
 * relies on (see qspinlock_slowpath.h).
 */
#include <pvlock/ticket.h>

#include "algo/atomic.h"
#include "algo/hooks.h"

#define TICKET_INC	PVLOCK__TICKET_INC
#define TICKET_FLAG	PVLOCK__TICKET_FLAG

/* Slots with a ticket wait in progress: what an unlocker scans. */
static uint64_t waiting_slots[(PVLOCK_MAX_SLOTS + 63) / 64];

/* Relaxed RMWs: setting the bit is released by our flag fetch_or, which
 * comes after it; a stale bit after clearing costs the unlocker one look. */
static void mark_waiting(uint32_t slot, bool waiting)
{
	uint64_t bit = 1ull << (slot % 64);

	if (waiting)
		fetch_or(&waiting_slots[slot / 64], bit, __ATOMIC_RELAXED);
	else
		fetch_and(&waiting_slots[slot / 64], ~bit, __ATOMIC_RELAXED);
}

/* Publish our wait, set the flag, re-check, and sleep if still not ours.
 * false: no record to publish (no slot, or nested deeper than 4 levels). */
static bool pv_ticket_wait(pvlock_ticket_t *lock, uint16_t want, struct pvlock_slot *self)
{
	if (unlikely(!self))
		return false;
	/* Ours and our signal handlers' (which restore it); read by a
	 * reclaim pass: relaxed load and store. */
	int level = load_relaxed(&self->ticket_depth);
	store_relaxed(&self->ticket_depth, level + 1);
	signal_barrier();			/* level is ours before the record is */
	if (unlikely(level >= PVLOCK_MAX_NODES)) {
		store_relaxed(&self->ticket_depth, level);
		return false;
	}
	struct ticket_wait *w = &self->twait[level];
	PREEMPT_POINT(TICKET_LEVEL_TAKEN);

	/* Relaxed: before our store_release of w->lock, which the unlocker
	 * reads with acquire before it stores kicked = 1. */
	store_relaxed(&w->kicked, 0);
	/* A reader that sees the lock must see the right ticket: clear, write
	 * want (relaxed), then publish with release, pairing with the
	 * unlocker's load_acquire of w->lock before its load of want. */
	store_relaxed(&w->lock, NULL);
	store_relaxed(&w->want, want);
	store_release(&w->lock, lock);
	/* Every level marks the slot, not just level 0: a signal handler may
	 * wait here while the interrupted wait has taken its level but not
	 * yet marked the slot, or already unmarked it (tests/ticket.c replays
	 * both windows). */
	mark_waiting(self->index, true);

	PREEMPT_POINT(TICKET_BEFORE_FLAG);
	/* 16-bit RMW of head, seq_cst: releases the record and the waiting bit
	 * to the unlocker's acq_rel fetch_add that returns it, and the value it
	 * returns is the re-check: either that unlock comes later and sees the
	 * flag, or it came earlier and we see its new head (reference race 12). */
	uint16_t head = fetch_or(&lock->head, TICKET_FLAG, __ATOMIC_SEQ_CST);
	if ((head & ~TICKET_FLAG) != want) {
		ev_inc(self, ticket_wait);
		pvlock__pv_wait(self, &w->kicked, 0);
	}

	/* Release, pairing with the unlocker's load_acquire of w->lock: our
	 * wait is over; an unlocker that still finds the record only sends a
	 * spurious kick, which every waiter tolerates. */
	store_release(&w->lock, NULL);
	PREEMPT_POINT(TICKET_RECORD_CLEARED);
	signal_barrier();
	/* Unmark only when no wait is left on this slot; a handler that runs
	 * between the decrement and the unmark waits with the slot marked. */
	store_relaxed(&self->ticket_depth, level);
	if (level == 0)
		mark_waiting(self->index, false);
	return true;
}

/* We hold the lock and found the flag set: clear it if nobody waits behind
 * us (tail == head + INC), so later unlocks take the cheap path again. */
static void ticket_clear_slowpath_flag(pvlock_ticket_t *lock, uint16_t head)
{
	uint16_t next = (uint16_t)((head & ~TICKET_FLAG) + TICKET_INC);
	uint32_t old = ((uint32_t)next << 16) | head;

	/* 32-bit CAS, relaxed: we already hold the lock (acquired by the load
	 * of head); it fails if anyone took a ticket meanwhile. */
	cas(&lock->val, &old, old & ~TICKET_FLAG, __ATOMIC_RELAXED);
}

void pvlock__ticket_lock_slow(pvlock_ticket_t *lock, uint16_t ticket)
{
	bool pv = pvlock__mode_freeze() == PVLOCK_MODE_PV;
	struct pvlock_slot *self = pvlock__slot_self();
	uint64_t steal = steal_begin(self);
	uint16_t head = 0;

	ev_inc(self, ticket_slowpath);
	/* Our ticket is 2 below head: our add made tail catch up with head, so
	 * the lock now reads as free while held.  Nothing can repair that. */
	head = load_relaxed(&lock->head);
	if (unlikely((uint16_t)(head & ~TICKET_FLAG) == (uint16_t)(ticket + TICKET_INC)))
		pvlock__fatal_word("pvlock_ticket_lock", lock, load_relaxed(&lock->val),
				   "more than 32766 threads wait on this ticket lock, its limit "
				   "(PVLOCK_TICKET_MAX_WAITERS): the tickets wrapped around", false);
	bool no_record = false;
	for (;;) {
		for (unsigned n = spin_threshold(); n; n--) {
			/* 16-bit load, acquire: pairs with the release of the
			 * unlock that made head our ticket. */
			head = load_acquire(&lock->head);
			if ((head & ~TICKET_FLAG) == ticket)
				goto got;
			cpu_relax();
		}
		if (pv && !pv_ticket_wait(lock, ticket, self)) {
			if (!no_record)		/* one count per wait */
				ev_inc(self, ticket_no_record);
			no_record = true;
			pvlock__pv_yield(self);
		}
	}
got:
	if (pv && (head & TICKET_FLAG))
		ticket_clear_slowpath_flag(lock, head);
	steal_end(self, steal);
}

/*
 * pv unlock saw the flag: kick the waiter holding ticket `next`, if it has
 * published a record (if not, it will see the new head when it re-checks).
 * `lock` is only compared, never dereferenced: it may be freed already.
 */
/* The slot a ticket-wait record belongs to (records live in the slots). */
static struct pvlock_slot *slot_of_record(const struct ticket_wait *w)
{
	size_t offset = (size_t)((const char *)w - (const char *)pvlock__slots);

	return &pvlock__slots[offset / sizeof(struct pvlock_slot)];
}

/* The record of the waiter on lock for ticket want, or NULL. */
static struct ticket_wait *ticket_waiter(pvlock_ticket_t *lock, uint16_t want)
{
	/* Relaxed bitmap loads: see pvlock__ticket_unlock_kick. */
	unsigned words = (pvlock__slot_high_water() + 63) / 64;

	for (unsigned i = 0; i < words; i++) {
		uint64_t bits = load_relaxed(&waiting_slots[i]);

		while (bits) {
			unsigned slot = i * 64 + (unsigned)__builtin_ctzll(bits);
			struct pvlock_slot *s = &pvlock__slots[slot];

			bits &= bits - 1;
			for (int level = 0; level < PVLOCK_MAX_NODES; level++) {
				struct ticket_wait *w = &s->twait[level];

				/* Acquire: pairs with the waiter's
				 * store_release of w->lock (want is then
				 * its want). */
				if (load_acquire(&w->lock) == lock &&
				    load_relaxed(&w->want) == want)
					return w;
			}
		}
	}
	return NULL;
}

static void ticket_kick(struct ticket_wait *w)
{
	/* kicked = 1 with release, pairing with the acquire load of kicked
	 * in the backend's wait check; the kick itself is ordered by the
	 * backend. */
	store_release(&w->kicked, 1);
	ev_inc(pvlock__slot_peek(), ticket_kick);
	pvlock__pv_kick(slot_of_record(w));
}

/*
 * pv unlock saw the flag: kick the waiter holding ticket `next`, if it has
 * published a record (if not, it will see the new head when it re-checks).
 * `lock` is only compared, never dereferenced: it may be freed already.
 * With a backend that knows who runs, a next waiter that is preempted is
 * counted, and with the kick-ahead use the waiter after a sleeping next is
 * woken too, so that it runs by the time its turn comes.
 */
void pvlock__ticket_unlock_kick(pvlock_ticket_t *lock, uint16_t next)
{
	/* The releasing fetch_add in pvlock_ticket_unlock() was acq_rel: it acquired
	 * the waiting-slot bits and records that the waiters released with
	 * their flag RMW.  So the bitmap loads are relaxed. */
	PREEMPT_POINT(TICKET_BEFORE_KICK);
	struct ticket_wait *w = ticket_waiter(lock, next);

	if (!w)
		return;
	ticket_kick(w);
	if (!preempt_known())
		return;
	/* next has to be woken (it published a record to sleep) or is
	 * preempted: its turn stalls, so wake the one after it now. */
	if (pvlock__pv_vcpu_is_preempted(slot_of_record(w)))
		ev_inc(pvlock__slot_peek(), preempt_waiter);
	if (preempt_use(PVLOCK_USE_KICK_AHEAD) &&
	    (w = ticket_waiter(lock, (uint16_t)(next + TICKET_INC))) &&
	    !load_relaxed(&w->kicked))
		ticket_kick(w);
}

void pvlock__ticket_unlock_bad(pvlock_ticket_t *lock)
{
	ev_inc(pvlock__slot_peek(), bad_unlock);
	/* A report's look: relaxed. */
	pvlock__report_bad_unlock("pvlock_ticket_unlock", lock,
				  load_relaxed(&lock->val), false);
}

/* fork child: only `keep`'s thread exists; forget everyone else's waits. */
void pvlock__ticket_forget_others(const struct pvlock_slot *keep)
{
	for (unsigned i = 0; i < sizeof(waiting_slots) / sizeof(waiting_slots[0]); i++)
		store_relaxed(&waiting_slots[i],
			      keep && keep->index / 64 == i ?
			      load_relaxed(&waiting_slots[i]) & (1ull << (keep->index % 64)) : 0);
}
