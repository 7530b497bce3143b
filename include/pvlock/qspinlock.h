/*
 * pvlock/qspinlock.h - the 4-byte queued spinlock: inline fast paths.
 *
 * The lock word, as (tail, pending, locked):
 *
 *   bits  0- 7  locked byte: 0 free, 1 locked, 3 locked and the queue head
 *               sleeps (_Q_SLOW_VAL, pv mode with the CAS kind of unlock
 *               only: unlock must kick it)
 *   bits  8-15  pending byte: 0 or 1
 *   bits 16-17  tail index: nesting level of the last queued node (0-3)
 *   bits 18-31  tail slot + 1: 0 when nobody is queued
 *
 * An all-zero word is an unlocked lock; there is nothing to destroy.
 * The slow paths live in src/algo/qspinlock_slowpath.h (the generic path)
 * and src/algo/qspinlock_pv.h (its pv hooks).
 *
 * Orderings: every lock operation that takes the lock is an acquire, and
 * every one that frees it a release, so a critical section happens before
 * the next one.  docs/design.md pairs each access with its partner.
 */
#ifndef PVLOCK_QSPINLOCK_H
#define PVLOCK_QSPINLOCK_H

#include <pvlock/arch.h>
#include <pvlock/mode.h>

PVLOCK__BEGIN_DECLS

typedef union pvlock_qspin {	/* tag: C++ has namespace pvlock */
	uint32_t val;	/* the whole word */
#if PVLOCK__LITTLE_ENDIAN
	__extension__ struct { uint8_t locked, pending; };
	__extension__ struct { uint16_t locked_pending, tail; };
#else
	__extension__ struct { uint8_t reserved_[2], pending, locked; };
	__extension__ struct { uint16_t tail, locked_pending; };
#endif
} pvlock_t;	/* fields are private: use the functions below */

PVLOCK__STATIC_ASSERT(sizeof(pvlock_t) == 4, "pvlock_t must be exactly 4 bytes");

/* A constant initialiser (C99, C11, C++): static pvlock_t l = PVLOCK_INIT; */
#define PVLOCK_INIT { 0 }

/*
 * (Re)initialise a lock at run time: for memory that is not statically
 * initialised, and in a fork child for a lock that another thread of the
 * parent held (or, after _Fork, waited on: see pvlock(3), "fork").  Nobody
 * may use the lock meanwhile.
 */
static inline void pvlock_init(pvlock_t *lock)
{
	__atomic_store_n(&lock->val, 0, __ATOMIC_RELAXED);
}

#define PVLOCK__Q_LOCKED_VAL	1u
#define PVLOCK__Q_SLOW_VAL	3u
#define PVLOCK__Q_LOCKED_MASK	0xffu

/* Out of line, in the library. */
void pvlock__qspin_lock_slow(pvlock_t *lock, uint32_t val);
void pvlock__qspin_unlock_slow(pvlock_t *lock, uint8_t locked);
void pvlock__qspin_unlock_wake(pvlock_t *lock);
/* pv, store kind: hash entries of sleeping queue heads (element 0; the
 * array fills its own cache line).  Not 0 sends an unlock to the wake path. */
extern unsigned pvlock__pv_sleepers[16];
#ifdef PVLOCK_FAULT_INJECTION
/* Test builds: the preemption point between the store kind's release store
 * and its sleepers load (src/algo/preempt_points.h, UNLOCK_RELEASED). */
void pvlock__fault_unlock_released(void);
#define PVLOCK__UNLOCK_RELEASED() pvlock__fault_unlock_released()
#else
#define PVLOCK__UNLOCK_RELEASED() ((void)0)
#endif

static inline void pvlock_lock_raw(pvlock_t *lock)
{
	uint32_t val = 0;

	/* 32-bit CAS 0 -> locked, acquire: pairs with the release of the
	 * unlock that freed the word.  A failure orders nothing (relaxed):
	 * the slow path acquires again. */
	if (pvlock__likely(__atomic_compare_exchange_n(&lock->val, &val,
			PVLOCK__Q_LOCKED_VAL, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return;
	pvlock__qspin_lock_slow(lock, val);
}

/*
 * Trylock: a free word is taken as pvlock_lock_raw takes it.  In pv mode a
 * word with waiters queued but neither locked nor pending (the queue head
 * sleeps, or is on its way to the lock) is taken too, as a newcomer in the
 * slow path would steal it: so a trylock right after an unlock succeeds,
 * as POSIX programs expect of a mutex.  Native mode never steals: its queue
 * head claims the lock with a plain store once it saw the byte free.
 */
static inline bool pvlock_trylock_raw(pvlock_t *lock)
{
	/* A relaxed look; the CAS decides. */
	uint32_t val = __atomic_load_n(&lock->val, __ATOMIC_RELAXED);
	uint8_t unlocked = 0;

	if (pvlock__likely(!val))	/* the same CAS as pvlock_lock_raw */
		return __atomic_compare_exchange_n(&lock->val, &val,
				PVLOCK__Q_LOCKED_VAL, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
	/* Byte CAS 0 -> locked, acquire: pairs with the release of the unlock
	 * that freed the byte; an RMW of the byte that the queue head's claim
	 * (its CAS or xchg of the byte, or of the 16-bit locked_pending half)
	 * also writes, so exactly one of them takes a given release. */
	return (val & 0xffffu) == 0 && pvlock__mode_is_pv() &&
	       __atomic_compare_exchange_n(&lock->locked, &unlocked, PVLOCK__Q_LOCKED_VAL,
				false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/*
 * Unlock (docs/design.md, "Departures from Linux" and "The pv unlock without a locked
 * instruction"):
 *   native     a byte store-release of the locked byte: Linux's native
 *              unlock, a plain store, no locked instruction
 *   pv, store  (the default where membarrier(2) works) a plain load of the
 *              locked byte (anything but 1 is a misuse, reported), the
 *              byte store-release, then a relaxed load of the sleepers
 *              count: not 0, and pvlock__qspin_unlock_wake looks the lock's
 *              ADDRESS up in the hash table and kicks the head it finds.
 *              The store-release and the sleepers load may be reordered
 *              (a store buffer; stlrb then ldr on aarch64): a head that is
 *              about to sleep counts itself and hashes, then calls
 *              membarrier, which makes every other thread run a full
 *              barrier, then looks at the locked byte.  So either the head
 *              sees this release or this load sees the head.
 *   pv, CAS    uncontended, one 32-bit CAS of the word from exactly
 *              "locked" to 0; contended (tail or pending set), one CAS of
 *              the locked byte, 1 -> 0.  Either fails on anything else and
 *              calls out: _Q_SLOW_VAL (the queue head sleeps: find and kick
 *              it) or a lock that was not held (reported)
 * Every path is a release, pairing with the acquire of whoever takes the
 * lock next (fast CAS, pending or head acquire loads, steal CAS, head CAS or
 * xchg).  The byte accesses on the 32-bit word are mixed-size: outside C11,
 * and relied on as Linux relies on them (each single-copy atomic, ordered
 * in the coherence order of the bytes they touch).
 *
 * The mode is read relaxed.  That is enough only because the mode is fixed
 * before it matters: pvlock_set_mode() must happen before any lock
 * operation of other threads (call it before they start, or publish it to
 * them by a mutex, a thread start or a release/acquire pair).  Once a slow
 * path has run the mode is frozen and set_mode fails.  The kind of pv
 * unlock is fixed before main.
 */
static inline void pvlock_unlock_raw(pvlock_t *lock)
{
	unsigned state = __atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED);

	if (!(state & PVLOCK__MODE_PV_BIT)) {
		__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
	} else if (pvlock__likely(!(state & PVLOCK__MODE_CAS_UNLOCK))) {
		/* Only the owner writes the locked byte while it is held (no
		 * _Q_SLOW_VAL in this kind): a plain look is exact. */
		uint8_t locked = __atomic_load_n(&lock->locked, __ATOMIC_RELAXED);

		if (pvlock__unlikely(locked != PVLOCK__Q_LOCKED_VAL)) {
			pvlock__qspin_unlock_slow(lock, locked);
			return;
		}
		__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
		PVLOCK__UNLOCK_RELEASED();
		/* Relaxed: pairs with the sleeping head's count, insert and
		 * membarrier (see above); after the store `lock` is only an
		 * address to look up, never to read. */
		if (pvlock__unlikely(__atomic_load_n(&pvlock__pv_sleepers[0], __ATOMIC_RELAXED)))
			pvlock__qspin_unlock_wake(lock);
	} else {
		uint32_t val = PVLOCK__Q_LOCKED_VAL;
		uint8_t locked = PVLOCK__Q_LOCKED_VAL;

		if (pvlock__likely(__atomic_compare_exchange_n(&lock->val, &val, 0, false,
				__ATOMIC_RELEASE, __ATOMIC_RELAXED)))
			return;
		if (pvlock__unlikely(!__atomic_compare_exchange_n(&lock->locked,
				&locked, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED)))
			pvlock__qspin_unlock_slow(lock, locked);
	}
}

PVLOCK__ANNOTATED_OPS(pvlock_t, pvlock_lock, pvlock_trylock, pvlock_unlock)

static inline bool pvlock_is_locked(pvlock_t *lock)
{
	/* A snapshot (relaxed): it orders nothing, as Linux's spin_is_locked. */
	return __atomic_load_n(&lock->val, __ATOMIC_RELAXED) & PVLOCK__Q_LOCKED_MASK;
}

/* Someone besides the owner wants the lock (pending or queued). */
static inline bool pvlock_is_contended(pvlock_t *lock)
{
	return __atomic_load_n(&lock->val, __ATOMIC_RELAXED) & ~PVLOCK__Q_LOCKED_MASK;
}

PVLOCK__END_DECLS

#endif /* PVLOCK_QSPINLOCK_H */
