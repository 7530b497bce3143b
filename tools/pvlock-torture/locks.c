#define _GNU_SOURCE
/*
 * locks.c - the lock types under test behind one small table of functions,
 * and "busted", the negative control that must be caught.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

static void q_lock(struct torture_lock *l) { pvlock_lock(&l->u.q); }
static bool q_trylock(struct torture_lock *l) { return pvlock_trylock(&l->u.q); }
static void q_unlock(struct torture_lock *l) { pvlock_unlock(&l->u.q); }
static bool q_is_locked(struct torture_lock *l) { return pvlock_is_locked(&l->u.q); }

static void t_lock(struct torture_lock *l) { pvlock_ticket_lock(&l->u.t); }
static bool t_trylock(struct torture_lock *l) { return pvlock_ticket_trylock(&l->u.t); }
static void t_unlock(struct torture_lock *l) { pvlock_ticket_unlock(&l->u.t); }
static bool t_is_locked(struct torture_lock *l) { return pvlock_ticket_is_locked(&l->u.t); }

static void tas_lock(struct torture_lock *l) { pvlock_tas_lock(&l->u.tas); }
static bool tas_trylock(struct torture_lock *l) { return pvlock_tas_trylock(&l->u.tas); }
static void tas_unlock(struct torture_lock *l) { pvlock_tas_unlock(&l->u.tas); }
static bool tas_is_locked(struct torture_lock *l) { return pvlock_tas_is_locked(&l->u.tas); }

/*
 * busted: test, then set, with a yield in between.  Two threads can both see
 * the lock free and both take it; the critical-section checks must say so.
 * Volatile so the compiler keeps the broken protocol exactly as written.
 */
static void busted_lock(struct torture_lock *l)
{
	volatile uint32_t *v = &l->u.busted;

	while (*v)
		sched_yield();
	sched_yield();		/* widen the window between test and set */
	*v = 1;
}

static bool busted_trylock(struct torture_lock *l)
{
	volatile uint32_t *v = &l->u.busted;

	if (*v)
		return false;
	*v = 1;
	return true;
}

static void busted_unlock(struct torture_lock *l) { *(volatile uint32_t *)&l->u.busted = 0; }
static bool busted_is_locked(struct torture_lock *l) { return *(volatile uint32_t *)&l->u.busted; }

/* The raw lock word, whatever the type (all are one 32-bit word). */
static uint32_t any_word(struct torture_lock *l)
{
	return __atomic_load_n(&l->u.busted, __ATOMIC_RELAXED);
}

/* Queued: an unused lock is all zero (no pending bit, no tail). */
static bool zero_clean(uint32_t word) { return word == 0; }
/* Ticket: head == tail; a stale slow-path flag is allowed. */
static bool ticket_clean(uint32_t word) { return pvlock__ticket_word_free(word); }

static const struct lock_ops ops[LOCK_KINDS] = {
	[LOCK_QUEUED] = { q_lock, q_trylock, q_unlock, q_is_locked, any_word, zero_clean },
	[LOCK_TICKET] = { t_lock, t_trylock, t_unlock, t_is_locked, any_word, ticket_clean },
	[LOCK_TAS]    = { tas_lock, tas_trylock, tas_unlock, tas_is_locked, any_word, zero_clean },
	[LOCK_BUSTED] = { busted_lock, busted_trylock, busted_unlock, busted_is_locked, any_word,
			  zero_clean },
};

const struct lock_ops *lock_ops_for(int kind)
{
	return &ops[kind];
}

/*
 * Locks are packed (16 bytes each, four to a cache line) rather than padded:
 * neighbouring locks then share lines and hash-table neighbourhoods, as
 * locks embedded in real data structures do.
 */
struct torture_lock *locks_alloc(unsigned n)
{
	struct torture_lock *l = aligned_alloc(64, ((n * sizeof(*l) + 63) / 64) * 64);

	if (!l) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EXIT_FAILED);
	}
	memset(l, 0, n * sizeof(*l));
	return l;
}
