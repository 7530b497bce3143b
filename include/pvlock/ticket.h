/*
 * pvlock/ticket.h - the 4-byte ticket lock: inline fast paths.
 *
 * Word: head (low 16 bits) and tail (high 16 bits).  Tickets advance by 2 in
 * both modes; bit 0 of head is the pv slow-path flag ("a waiter may sleep:
 * unlock must look for it").  Keeping the flag in head lets the pv unlock
 * learn it from the same atomic add that releases the lock, so unlock never
 * reads the lock after releasing it.  The lock holds up to 32766 waiters
 * besides its holder (PVLOCK_TICKET_MAX_WAITERS).
 */
#ifndef PVLOCK_TICKET_H
#define PVLOCK_TICKET_H

#include <pvlock/arch.h>
#include <pvlock/mode.h>

PVLOCK__BEGIN_DECLS

typedef union pvlock_ticket {
	uint32_t val;
#if PVLOCK__LITTLE_ENDIAN
	__extension__ struct { uint16_t head, tail; };
#else
	__extension__ struct { uint16_t tail, head; };
#endif
} pvlock_ticket_t;	/* fields are private */

PVLOCK__STATIC_ASSERT(sizeof(pvlock_ticket_t) == 4, "pvlock_ticket_t must be exactly 4 bytes");

/* A constant initialiser (C99, C11, C++). */
#define PVLOCK_TICKET_INIT { 0 }

/* Waiters one ticket lock holds besides its holder: tickets advance by 2 in
 * 16 bits, and tail may never catch up with head again.  The waiter that
 * would be one too many stops the program with a message saying so. */
#define PVLOCK_TICKET_MAX_WAITERS 32766u

/* (Re)initialise at run time; see pvlock_init(). */
static inline void pvlock_ticket_init(pvlock_ticket_t *lock)
{
	__atomic_store_n(&lock->val, 0, __ATOMIC_RELAXED);
}

#define PVLOCK__TICKET_INC	2u
#define PVLOCK__TICKET_FLAG	1u

void pvlock__ticket_lock_slow(pvlock_ticket_t *lock, uint16_t ticket);
void pvlock__ticket_unlock_kick(pvlock_ticket_t *lock, uint16_t next);
void pvlock__ticket_unlock_bad(pvlock_ticket_t *lock);

/* head and tail equal, ignoring the pv flag: nobody holds the lock. */
static inline bool pvlock__ticket_word_free(uint32_t val)
{
	return ((val ^ (val >> 16)) & (0xffffu & ~PVLOCK__TICKET_FLAG)) == 0;
}

static inline void pvlock_ticket_lock_raw(pvlock_ticket_t *lock)
{
	/* 32-bit add to tail, acquire: pairs with the release of the unlock
	 * that made head our ticket (when we need not wait). */
	uint32_t old = __atomic_fetch_add(&lock->val, PVLOCK__TICKET_INC << 16,
					  __ATOMIC_ACQUIRE);
	uint16_t ticket = (uint16_t)(old >> 16);

	/* Exact compare: a set flag sends us to the slow path, which clears it. */
	if (pvlock__likely((uint16_t)old == ticket))
		return;
	pvlock__ticket_lock_slow(lock, ticket);
}

static inline bool pvlock_ticket_trylock_raw(pvlock_ticket_t *lock)
{
	/* A relaxed look; the CAS (acquire, as the lock's add) decides. */
	uint32_t val = __atomic_load_n(&lock->val, __ATOMIC_RELAXED);

	if (!pvlock__ticket_word_free(val))
		return false;
	/* Take the next ticket and drop a stale flag: nobody waits behind us. */
	uint32_t new_val = (val + (PVLOCK__TICKET_INC << 16)) & ~PVLOCK__TICKET_FLAG;
	return __atomic_compare_exchange_n(&lock->val, &val, new_val, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/*
 * Unlock: head += 2, on head alone (16 bits: it wraps without carrying into
 * tail), wait-free as Linux's (docs/design.md, "Departures from Linux"):
 *   pv      a 16-bit fetch_add, acq_rel: releases the lock (pairs with the
 *           next owner's acquire of head) and returns the old head, whose
 *           flag says "a waiter may sleep", so unlock never reads the lock
 *           after releasing it; acquires the records of waiters that set the
 *           flag with their seq_cst 16-bit fetch_or
 *   native  a 16-bit store-release: only the owner writes head in native
 *           mode (the flag is never set), and it knows head is its ticket
 * A lock that was not held is reported, not "released" into a state that
 * would hand the next ticket out twice.  The mode is read relaxed: see
 * <pvlock/qspinlock.h> for what that demands of pvlock_set_mode callers.
 * The 16-bit accesses and the 32-bit lock add are mixed-size, as there.
 */
static inline void pvlock_ticket_unlock_raw(pvlock_ticket_t *lock)
{
	/* Relaxed: the owner's look at its own lock (head is its ticket). */
	uint32_t val = __atomic_load_n(&lock->val, __ATOMIC_RELAXED);

	if (pvlock__unlikely(pvlock__ticket_word_free(val))) {
		pvlock__ticket_unlock_bad(lock);
		return;
	}
	if (pvlock__mode_is_pv()) {
		uint16_t old = __atomic_fetch_add(&lock->head, PVLOCK__TICKET_INC,
						  __ATOMIC_ACQ_REL);

		if (pvlock__unlikely(old & PVLOCK__TICKET_FLAG))
			pvlock__ticket_unlock_kick(lock,
				(uint16_t)((old & ~PVLOCK__TICKET_FLAG) + PVLOCK__TICKET_INC));
	} else {
		__atomic_store_n(&lock->head, (uint16_t)(val + PVLOCK__TICKET_INC),
				 __ATOMIC_RELEASE);
	}
}

PVLOCK__ANNOTATED_OPS(pvlock_ticket_t, pvlock_ticket_lock, pvlock_ticket_trylock, pvlock_ticket_unlock)

static inline bool pvlock_ticket_is_locked(pvlock_ticket_t *lock)
{
	/* A snapshot (relaxed): it orders nothing, as Linux's spin_is_locked. */
	return !pvlock__ticket_word_free(__atomic_load_n(&lock->val, __ATOMIC_RELAXED));
}

PVLOCK__END_DECLS

#endif /* PVLOCK_TICKET_H */
