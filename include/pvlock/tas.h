/*
 * pvlock/tas.h - the 4-byte test-and-set lock (Linux's virt_spin_lock).
 *
 * Unfair, but it never hands the lock to a waiter that is not running: the
 * baseline every fair lock under overcommit is measured against.  The same
 * in both modes.  Unlock checks the lock is held (a plain load of a line we
 * already own) so that a double unlock is reported, not silently absorbed.
 */
#ifndef PVLOCK_TAS_H
#define PVLOCK_TAS_H

#include <pvlock/arch.h>

PVLOCK__BEGIN_DECLS

typedef struct pvlock_tas {
	uint32_t val;	/* 0 free, 1 locked; private */
} pvlock_tas_t;

PVLOCK__STATIC_ASSERT(sizeof(pvlock_tas_t) == 4, "pvlock_tas_t must be exactly 4 bytes");

/* A constant initialiser (C99, C11, C++). */
#define PVLOCK_TAS_INIT { 0 }

/* (Re)initialise at run time; see pvlock_init(). */
static inline void pvlock_tas_init(pvlock_tas_t *lock)
{
	__atomic_store_n(&lock->val, 0, __ATOMIC_RELAXED);
}

void pvlock__tas_lock_slow(pvlock_tas_t *lock);
void pvlock__tas_unlock_bad(pvlock_tas_t *lock);

static inline bool pvlock_tas_trylock_raw(pvlock_tas_t *lock)
{
	uint32_t val = 0;

	/* Relaxed look; CAS acquire, pairing with the unlock's release store. */
	return __atomic_load_n(&lock->val, __ATOMIC_RELAXED) == 0 &&
	       __atomic_compare_exchange_n(&lock->val, &val, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void pvlock_tas_lock_raw(pvlock_tas_t *lock)
{
	uint32_t val = 0;

	/* Acquire: pairs with the store-release of pvlock_tas_unlock_raw. */
	if (pvlock__likely(__atomic_compare_exchange_n(&lock->val, &val, 1, false,
			__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return;
	pvlock__tas_lock_slow(lock);
}

static inline void pvlock_tas_unlock_raw(pvlock_tas_t *lock)
{
	/* Relaxed: the owner's check of its own lock (it wrote the 1). */
	if (pvlock__unlikely(__atomic_load_n(&lock->val, __ATOMIC_RELAXED) != 1)) {
		pvlock__tas_unlock_bad(lock);
		return;
	}
	/* Release: pairs with the acquire CAS of the next owner. */
	__atomic_store_n(&lock->val, 0, __ATOMIC_RELEASE);
}

PVLOCK__ANNOTATED_OPS(pvlock_tas_t, pvlock_tas_lock, pvlock_tas_trylock, pvlock_tas_unlock)

static inline bool pvlock_tas_is_locked(pvlock_tas_t *lock)
{
	/* A snapshot (relaxed): it orders nothing, as Linux's spin_is_locked. */
	return __atomic_load_n(&lock->val, __ATOMIC_RELAXED) != 0;
}

PVLOCK__END_DECLS

#endif /* PVLOCK_TAS_H */
