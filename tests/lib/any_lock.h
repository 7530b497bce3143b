/*
 * any_lock.h - one of pvlock's three locks, chosen at run time, for the
 * tests that run the same case over every lock (stress, signals, ASan).
 */
#ifndef PVLOCK_TESTS_ANY_LOCK_H
#define PVLOCK_TESTS_ANY_LOCK_H

#include <pvlock.h>

enum kind { QUEUED, TICKET, TAS };
static const char *const kind_name[] __attribute__((unused)) = { "queued", "ticket", "tas" };

union any_lock {
	pvlock_t q;
	pvlock_ticket_t t;
	pvlock_tas_t s;
};

static inline void any_lock_take(enum kind kind, union any_lock *lock)
{
	switch (kind) {
	case QUEUED: pvlock_lock(&lock->q); break;
	case TICKET: pvlock_ticket_lock(&lock->t); break;
	case TAS:    pvlock_tas_lock(&lock->s); break;
	}
}

static inline void any_lock_release(enum kind kind, union any_lock *lock)
{
	switch (kind) {
	case QUEUED: pvlock_unlock(&lock->q); break;
	case TICKET: pvlock_ticket_unlock(&lock->t); break;
	case TAS:    pvlock_tas_unlock(&lock->s); break;
	}
}

#endif /* PVLOCK_TESTS_ANY_LOCK_H */
