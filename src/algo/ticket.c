/*
 * ticket.c - the ticket lock's slow paths (native spin, pv sleep and kick).
 *
 * The hand-offs past waiters that do not run (skip, kick-ahead, far-back
 * sleep) are in ticket_skip.h.
 *
 * pv waiting, in the order that makes it safe:
 *
 *   waiter                                  unlocker
 *   record = {lock, want}  (lock last)      head += 2  (fetch_add; returns old
 *   head |= FLAG           (atomic)           head, whose FLAG bit says
 *   re-check head == want                     "look for a sleeper")
 *   sleep unless kicked                     if FLAG: find {lock, head}, kick
 *
 * The flag is set before the re-check (the "ticket flag after re-check"
 * race, docs/design.md): either the unlocker's releasing RMW sees the flag,
 * or our re-check sees its new head.  The flag lives in head, so the
 * unlocker learns it from the releasing fetch_add itself and never reads
 * the lock after releasing it.  Records are per nesting level, so a signal
 * handler waiting on another ticket lock uses its own record and cannot
 * overwrite ours (the "ticket record overwrite" race, docs/design.md,
 * cannot arise; see tests).
 *
 * Orderings (each access below names its partner): the waiter's seq_cst
 * fetch_or of the flag releases its record and its slot's waiting bit; the
 * unlocker's acq_rel fetch_add that returns the flag acquires them.  The
 * 16-bit RMWs of head and the 32-bit CAS/add of the word are mixed-size
 * RMWs of the same bytes: outside C11, ordered by the hardware as Linux
 * relies on (see qspinlock_word.h).
 */
#include <pvlock/ticket.h>

#include "algo/atomic.h"
#include "algo/fork_wait.h"
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

/* A record's claim (src/algo/ticket_skip.h): whether the skip protocol may
 * pass this wait over (WAITING), has (SKIPPED), may not (FIRM), or the wait
 * owns its turn or is not published (DONE). */
enum { CLAIM_DONE = 0, CLAIM_WAITING = 1, CLAIM_SKIPPED = 2, CLAIM_FIRM = 3 };

static inline uint32_t claim_word(uint32_t gen, uint32_t state, uint16_t want)
{
	return (gen << 18) | (state << 16) | want;
}

static inline uint32_t claim_state(uint32_t claim)
{
	return (claim >> 16) & 3u;
}

/* A new generation for w's claim, in state `state`: a skipper holding a
 * claim it read for an earlier wait of this record now fails its CAS.  Only
 * this thread (and its signal handlers, at other levels) writes it. */
static uint32_t claim_renew(struct ticket_wait *w, uint32_t state, uint16_t want)
{
	uint32_t claim = claim_word((load_relaxed(&w->claim) >> 18) + 1, state, want);

	store_relaxed(&w->claim, claim);
	return claim;
}

/* Take this slot's next nesting level's record; NULL if none (no slot,
 * or nested deeper than 4 levels: the caller counts ticket_no_record). */
static struct ticket_wait *record_take(struct pvlock_slot *self)
{
	if (unlikely(!self))
		return NULL;
	/* Ours and our signal handlers' (which restore it); read by a
	 * reclaim pass: relaxed load and store. */
	int level = load_relaxed(&self->ticket_depth);
	store_relaxed(&self->ticket_depth, level + 1);
	signal_barrier();			/* level is ours before the record is */
	if (unlikely(level >= PVLOCK_MAX_NODES)) {
		store_relaxed(&self->ticket_depth, level);
		return NULL;
	}
	PREEMPT_POINT(TICKET_LEVEL_TAKEN);
	return &self->twait[level];
}

/* Publish "this slot waits on lock for ticket want", claim in `state`
 * (FIRM: nobody may skip it; WAITING: the skip use may). */
static uint32_t record_publish(struct ticket_wait *w, pvlock_ticket_t *lock, uint16_t want,
			       uint32_t state, struct pvlock_slot *self)
{
	/* Not WAITING until the record below is complete. */
	claim_renew(w, CLAIM_DONE, want);
	/* Relaxed: before our store_release of w->lock, which the unlocker
	 * reads with acquire before it stores kicked = 1. */
	store_relaxed(&w->kicked, 0);
	/* A reader that sees the lock must see the right ticket: clear, write
	 * want (relaxed), then publish with release, pairing with the
	 * unlocker's load_acquire of w->lock before its load of want. */
	store_relaxed(&w->lock, NULL);
	store_relaxed(&w->want, want);
	store_release(&w->lock, lock);
	/* Release: a skipper that reads WAITING with acquire sees this wait's
	 * lock and want. */
	uint32_t claim = claim_word(load_relaxed(&w->claim) >> 18, state, want);
	store_release(&w->claim, claim);
	/* Every level marks the slot, not just level 0: a signal handler may
	 * wait here while the interrupted wait has taken its level but not
	 * yet marked the slot, or already unmarked it (tests/unit/ticket.c replays
	 * both windows). */
	mark_waiting(self->index, true);
	return claim;
}

/* Our wait is over: withdraw the record and give the level back. */
static void record_release(struct ticket_wait *w, struct pvlock_slot *self)
{
	/* Release, pairing with the unlocker's load_acquire of w->lock: our
	 * wait is over; an unlocker that still finds the record only sends a
	 * spurious kick, which every waiter tolerates. */
	store_release(&w->lock, NULL);
	PREEMPT_POINT(TICKET_RECORD_CLEARED);
	signal_barrier();
	/* Unmark only when no wait is left on this slot; a handler that runs
	 * between the decrement and the unmark waits with the slot marked. */
	int level = (int)(w - self->twait);
	store_relaxed(&self->ticket_depth, level);
	if (level == 0)
		mark_waiting(self->index, false);
}

/* The record is published: set the flag, re-check, sleep if still not
 * ours (until kicked, or spuriously).  skippable: the record's claim may
 * be skipped (WAITING), and a waiter passed over does not sleep either.  While
 * it sleeps, the record says so (asleep): a hint for skippers and
 * kick-ahead, published after the re-check and withdrawn on waking. */
static void sleep_once(pvlock_ticket_t *lock, uint16_t want, struct ticket_wait *w,
		       struct pvlock_slot *self, bool skippable)
{
	PREEMPT_POINT(TICKET_BEFORE_FLAG);
	/* 16-bit RMW of head, seq_cst: releases the record and the waiting bit
	 * to the unlocker's acq_rel fetch_add that returns it, and the value it
	 * returns is the re-check: either that unlock comes later and sees the
	 * flag, or it came earlier and we see its new head (the "ticket flag
	 * after re-check" race, docs/design.md). */
	uint16_t head = fetch_or(&lock->head, TICKET_FLAG, __ATOMIC_SEQ_CST);
	if ((head & ~TICKET_FLAG) == want)
		return;
	/* Skip use: a skipper claims us before it moves head past us, and
	 * kicks us after.  If our fetch_or read its head, its claim is visible
	 * here (release RMW of head, read by our seq_cst RMW); its kick may
	 * have come before our caller reset kicked, so do not sleep on it. */
	if (skippable && claim_state(load_relaxed(&w->claim)) == CLAIM_SKIPPED)
		return;
	ev_inc(self, ticket_wait);
	/* Relaxed stores of a hint, read relaxed by claim_for_skip and
	 * kick_ahead: stale either way, it costs fairness or a wake-up, never
	 * ownership (the claim CAS decides) nor a lost kick (kicked does). */
	store_relaxed(&w->asleep, 1);
	pvlock__pv_wait(self, &w->kicked, 0);
	store_relaxed(&w->asleep, 0);
}

/* One pv wait without the skip protocol: take a record, publish it FIRM,
 * sleep_once, withdraw it.  false: no record to publish (no slot, or nested
 * deeper than 4 levels). */
static bool pv_ticket_wait(pvlock_ticket_t *lock, uint16_t want, struct pvlock_slot *self)
{
	struct ticket_wait *w = record_take(self);

	if (!w)
		return false;
	record_publish(w, lock, want, CLAIM_FIRM, self);
	sleep_once(lock, want, w, self, false);
	record_release(w, self);
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
				 * its want).  A record passed over by the
				 * skip use keeps its spent ticket until its
				 * thread runs again, which may be after the
				 * 16-bit tickets wrapped: never it. */
				if (load_acquire(&w->lock) == lock &&
				    load_relaxed(&w->want) == want &&
				    claim_state(load_relaxed(&w->claim)) != CLAIM_SKIPPED)
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
	pvlock__pv_kick(pvlock__slot_of(w));
}

#include "algo/ticket_skip.h"

/* The process's threads, 0 if unknown: report.c's; weak, as a freestanding
 * build (guest/) need not define it. */
extern unsigned pvlock__thread_count(void) __attribute__((weak));

/*
 * Our add made tail catch up with head: the lock reads as free while held,
 * and nothing can repair that.  It takes a holder and 32766 waiters before
 * us, a thread each (a signal handler taking a second ticket while its
 * thread waits for the first could never be served).  With fewer threads,
 * no lock operation made this word: garbage, never initialised, or shared.
 */
static void ticket_full(pvlock_ticket_t *lock)
{
	uint32_t word = load_relaxed(&lock->val);	/* a report's look */
	unsigned threads = pvlock__thread_count ? pvlock__thread_count() : 0;

	if (threads && threads < PVLOCK_TICKET_MAX_WAITERS + 2)
		pvlock__fatal_word("pvlock_ticket_lock", lock, word,
				   "tail caught up with head, as only more than 32766 waiters "
				   "(PVLOCK_TICKET_MAX_WAITERS, the limit) could make it, and "
				   "the process has fewer threads than that", true);
	pvlock__fatal_word("pvlock_ticket_lock", lock, word,
			   "more than 32766 threads wait on this ticket lock, its limit "
			   "(PVLOCK_TICKET_MAX_WAITERS): the tickets wrapped around", false);
}

void pvlock__ticket_lock_slow(pvlock_ticket_t *lock, uint16_t ticket)
{
	bool pv = pvlock__mode_freeze() == PVLOCK_MODE_PV;
	struct pvlock_slot *self = pvlock__slot_self();
	uint64_t steal = steal_begin(self);
	uint16_t head = 0;
	struct ticket_wait *w;
	/* Our ticket is in the word already: record it as early as we can
	 * (algo/fork_wait.h), for a fork child to drop it again. */
	int fork_level = fork_wait_push(self, lock, FORK_WAIT_TICKET, ticket);

	ev_inc(self, ticket_slowpath);
	/* Tails start at 0 and advance by 2: an odd ticket is never served. */
	if (unlikely(ticket & TICKET_FLAG))
		pvlock__fatal_word("pvlock_ticket_lock", lock, load_relaxed(&lock->val),
				   "the lock's tail is odd, which no ticket lock's tail can be "
				   "(tickets start at 0 and advance by 2)", true);
	if (pv && one_cpu())
		ev_inc(self, pv_one_cpu);
	/* Our ticket is 2 below head: see ticket_full.  A look: relaxed. */
	head = load_relaxed(&lock->head);
	if (unlikely((uint16_t)(head & ~TICKET_FLAG) == (uint16_t)(ticket + TICKET_INC)))
		ticket_full(lock);
	if (pv && (w = record_take(self))) {
		head = lock_skipping(lock, ticket, w, self, fork_level);
		goto got;
	}
	bool no_record = false;
	for (;;) {
		for (unsigned n = pv ? pv_spin_budget() : spin_threshold(); n; n--) {
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
			ev_inc(self, pv_no_node_yield);
			pvlock__pv_yield();
		}
	}
got:
	if (pv && (head & TICKET_FLAG))
		ticket_clear_slowpath_flag(lock, head);
	fork_wait_pop(self, fork_level);
	steal_end(self, steal);
}

/*
 * pv unlock saw the flag: kick the waiter holding ticket `next`, if it has
 * published a record (if not, it will see the new head when it re-checks).
 * `lock` is only compared, never dereferenced, except by the skip protocol
 * while it holds a skipped turn (nobody else can own the lock then, so
 * nobody can have freed it).  A next that is not running has its turn
 * passed over it (ticket_skip.h); the waiter kick-ahead distance behind the
 * new owner is woken if it sleeps.  With a backend that knows who runs, a
 * next waiter that is preempted is counted.
 */
void pvlock__ticket_unlock_kick(pvlock_ticket_t *lock, uint16_t next)
{
	/* The releasing fetch_add in pvlock_ticket_unlock() was acq_rel: it acquired
	 * the waiting-slot bits and records that the waiters released with
	 * their flag RMW.  So the bitmap loads are relaxed. */
	PREEMPT_POINT(TICKET_BEFORE_KICK);
	struct pvlock_slot *me = pvlock__slot_peek();
	struct ticket_wait *w;

	for (;;) {
		w = ticket_waiter(lock, next);
		if (!w || !claim_for_skip(lock, w, next))
			break;
		ev_inc(me, ticket_skip);
		PREEMPT_POINT(TICKET_SKIP_CLAIMED);
		uint16_t head = pass_turn(lock, next);
		ticket_kick(w);			/* so that it takes a new ticket */
		if (!(head & TICKET_FLAG))
			return;			/* nobody sleeps behind it */
		next = (uint16_t)(next + TICKET_INC);
	}
	if (w) {
		ticket_kick(w);
		if (preempt_known() && pvlock__pv_vcpu_is_preempted(pvlock__slot_of(w)))
			ev_inc(me, preempt_waiter);
	}
	kick_ahead(lock, next, me);
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
