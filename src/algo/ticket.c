/*
 * ticket.c - the ticket lock's slow paths (native spin, pv sleep and kick).
 *
 * pv waiting, in the order that makes it safe:
 *
 *   waiter                                  unlocker
 *   record = {lock, want}  (lock last)      head += 2  (atomic; returns old
 *   head |= FLAG           (atomic)           head, whose FLAG bit says
 *   re-check head == want                     "look for a sleeper")
 *   sleep unless kicked                     if FLAG: find {lock, head}, kick
 *
 * The flag is set before the re-check (reference race 12): either the
 * unlocker's add sees the flag, or our re-check sees its new head.  The flag
 * lives in head, so the unlocker learns it from the releasing add itself and
 * never reads the lock after releasing it.  Records are per nesting level,
 * so a signal handler waiting on another ticket lock uses its own record and
 * cannot overwrite ours (reference race 13 cannot arise; see tests).
 */
#include "algo/atomic.h"
#include "algo/hooks.h"

#define TICKET_INC	PVLOCK__TICKET_INC
#define TICKET_FLAG	PVLOCK__TICKET_FLAG

/* Slots with a ticket wait in progress: what an unlocker scans. */
static uint64_t waiting_slots[(PVLOCK_MAX_SLOTS + 63) / 64];

static void mark_waiting(uint32_t slot, bool waiting)
{
	uint64_t bit = 1ull << (slot % 64);

	if (waiting)
		fetch_or(&waiting_slots[slot / 64], bit, __ATOMIC_RELAXED);
	else
		fetch_and(&waiting_slots[slot / 64], ~bit, __ATOMIC_RELAXED);
}

/* Publish our wait, set the flag, re-check, and sleep if still not ours. */
static void pv_ticket_wait(pvlock_ticket_t *lock, uint16_t want, struct pvlock_slot *self)
{
	if (unlikely(!self)) {
		ev_inc(self, ticket_no_record);
		return;				/* keep spinning */
	}
	int level = self->ticket_depth++;
	signal_barrier();			/* level is ours before the record is */
	if (unlikely(level >= PVLOCK_MAX_NODES)) {
		self->ticket_depth--;
		ev_inc(self, ticket_no_record);
		return;
	}
	struct ticket_wait *w = &self->twait[level];
	PREEMPT_POINT(TICKET_LEVEL_TAKEN);

	store_relaxed(&w->kicked, 0);
	/* A reader that sees the lock must see the right ticket. */
	store_relaxed(&w->lock, NULL);
	store_relaxed(&w->want, want);
	store_release(&w->lock, lock);
	/* Every level marks the slot, not just level 0: a signal handler may
	 * wait here while the interrupted wait has taken its level but not
	 * yet marked the slot, or already unmarked it (found by
	 * pvlock-torture's author; tests/ticket.c replays both windows). */
	mark_waiting(self->index, true);

	PREEMPT_POINT(TICKET_BEFORE_FLAG);
	/* seq_cst RMW: releases the record, and orders the re-check after it. */
	uint16_t head = fetch_or(&lock->head, TICKET_FLAG, __ATOMIC_SEQ_CST);
	if ((head & ~TICKET_FLAG) != want) {
		ev_inc(self, ticket_wait);
		pvlock__pv_wait(self, &w->kicked, 0);
	}

	store_release(&w->lock, NULL);
	PREEMPT_POINT(TICKET_RECORD_CLEARED);
	signal_barrier();
	/* Unmark only when no wait is left on this slot; a handler that runs
	 * between the decrement and the unmark waits with the slot marked. */
	if (--self->ticket_depth == 0)
		mark_waiting(self->index, false);
}

/* We hold the lock and found the flag set: clear it if nobody waits behind
 * us (tail == head + INC), so later unlocks take the cheap path again. */
static void ticket_clear_slowpath_flag(pvlock_ticket_t *lock, uint16_t head)
{
	uint16_t next = (uint16_t)((head & ~TICKET_FLAG) + TICKET_INC);
	uint32_t old = ((uint32_t)next << 16) | head;

	cas(&lock->val, &old, old & ~TICKET_FLAG, __ATOMIC_RELAXED);
}

void pvlock__ticket_lock_slow(pvlock_ticket_t *lock, uint16_t ticket)
{
	bool pv = pvlock__mode_freeze() == PVLOCK_MODE_PV;
	struct pvlock_slot *self = pvlock__slot_self();
	uint16_t head = 0;

	ev_inc(self, ticket_slowpath);
	for (;;) {
		for (unsigned n = spin_threshold(); n; n--) {
			head = load_acquire(&lock->head);
			if ((head & ~TICKET_FLAG) == ticket)
				goto got;
			cpu_relax();
		}
		if (pv)
			pv_ticket_wait(lock, ticket, self);
	}
got:
	if (pv && (head & TICKET_FLAG))
		ticket_clear_slowpath_flag(lock, head);
}

/*
 * pv unlock saw the flag: kick the waiter holding ticket `next`, if it has
 * published a record (if not, it will see the new head when it re-checks).
 * `lock` is only compared, never dereferenced: it may be freed already.
 */
void pvlock__ticket_unlock_kick(pvlock_ticket_t *lock, uint16_t next)
{
	/* The releasing add in pvlock_ticket_unlock() was acq_rel: it acquired
	 * the waiting-slot bits and records the waiters released with their
	 * flag RMW. */
	PREEMPT_POINT(TICKET_BEFORE_KICK);
	unsigned words = (pvlock__slot_high_water() + 63) / 64;

	for (unsigned i = 0; i < words; i++) {
		uint64_t bits = load_relaxed(&waiting_slots[i]);

		while (bits) {
			unsigned slot = i * 64 + (unsigned)__builtin_ctzll(bits);
			struct pvlock_slot *s = &pvlock__slots[slot];

			bits &= bits - 1;
			for (int level = 0; level < PVLOCK_MAX_NODES; level++) {
				struct ticket_wait *w = &s->twait[level];

				if (load_acquire(&w->lock) == lock &&
				    load_relaxed(&w->want) == next) {
					store_release(&w->kicked, 1);
					ev_inc(pvlock__slot_peek(), ticket_kick);
					pvlock__pv_kick(s);
					return;
				}
			}
		}
	}
}

void pvlock__ticket_unlock_bad(pvlock_ticket_t *lock)
{
	ev_inc(pvlock__slot_peek(), bad_unlock);
	pvlock__report_bad_unlock("pvlock_ticket_unlock", lock,
				  load_relaxed(&lock->val));
}
