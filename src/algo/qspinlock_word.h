/*
 * qspinlock_word.h - the queued spinlock's lock word: its layout and the
 * helpers that read and write its parts.  Both the generic slow path
 * (qspinlock_slowpath.h) and the pv hooks (qspinlock_pv.h) use them.
 *
 * The 32-bit word, by bit (union pvlock_qspin in <pvlock/qspinlock.h> names
 * the parts on either byte order):
 *
 *    31              18 17 16 15          8 7           0
 *   +------------------+-----+-------------+-------------+
 *   |   tail slot + 1  | idx |   pending   |   locked    |
 *   +------------------+-----+-------------+-------------+
 *   '------ tail (16 bits) ---'------ locked_pending -----'
 *
 *   locked   1 (Q_LOCKED_VAL) while held; pv, CAS kind of unlock: 3
 *            (Q_SLOW_VAL) while held and the queue head sleeps
 *   pending  one waiter spins here instead of queueing (native), or the
 *            pv queue head says "I am spinning, don't steal"
 *   tail     the last queued node: its slot + 1 and its nesting level
 *            (0: the queue is empty)
 *
 * Orderings: every atomic access names, in a comment, the access it pairs
 * with and why its order is enough under the C11 model (and so on aarch64);
 * docs/design.md has the same pairs as one table.  Accesses of different
 * sizes to the one lock word (the locked byte, the 16-bit locked_pending and
 * tail halves, the 32-bit word) are outside C11, which defines no order
 * between atomics of different sizes; pvlock relies, as Linux does, on what
 * x86 and aarch64 guarantee: each access is single-copy atomic, and all
 * accesses that overlap a byte are ordered in that byte's coherence order.
 */
#ifndef PVLOCK_ALGO_QSPINLOCK_WORD_H
#define PVLOCK_ALGO_QSPINLOCK_WORD_H

#include <pvlock/qspinlock.h>

#include "algo/atomic.h"
#include "algo/hooks.h"

/* The lock word's layout: the values the inline fast paths share are
 * defined once, in <pvlock/qspinlock.h>; the rest only the slow path uses. */
#define Q_LOCKED_VAL		PVLOCK__Q_LOCKED_VAL
#define Q_SLOW_VAL		PVLOCK__Q_SLOW_VAL
#define Q_LOCKED_MASK		PVLOCK__Q_LOCKED_MASK
#define Q_PENDING_VAL		0x00000100u
#define Q_PENDING_MASK		0x0000ff00u
#define Q_LOCKED_PENDING_MASK	0x0000ffffu
#define Q_TAIL_IDX_OFFSET	16
#define Q_TAIL_IDX_MASK		0x00030000u
#define Q_TAIL_SLOT_OFFSET	18
#define Q_TAIL_MASK		0xffff0000u

_Static_assert(PVLOCK_MAX_SLOTS <= (Q_TAIL_MASK >> Q_TAIL_SLOT_OFFSET),
	       "tail must encode every slot + 1");
_Static_assert(PVLOCK_MAX_NODES - 1 <= (Q_TAIL_IDX_MASK >> Q_TAIL_IDX_OFFSET),
	       "tail must encode every nesting level");

static inline uint32_t encode_tail(uint32_t slot, int idx)
{
	return ((slot + 1) << Q_TAIL_SLOT_OFFSET) | ((uint32_t)idx << Q_TAIL_IDX_OFFSET);
}

static inline struct qnode *decode_tail(uint32_t tail)
{
	uint32_t slot = (tail >> Q_TAIL_SLOT_OFFSET) - 1;
	uint32_t idx = (tail & Q_TAIL_IDX_MASK) >> Q_TAIL_IDX_OFFSET;

	return &pvlock__slots[slot].qnodes[idx];
}

/* Publish our tail; returns the previous tail (and the rest of the word).
 * 16-bit xchg of the tail half.  acq_rel, pairing with the next waiter's
 * xchg_tail: our node's initialisation (locked, next, pv state) is released
 * to the waiter that gets our tail back and links itself to our node, and
 * our predecessor's initialisation is acquired before we write its next
 * pointer, so its `next = NULL` cannot overwrite our link (the "unpublished
 * node" race, docs/design.md). */
static inline uint32_t xchg_tail(pvlock_t *lock, uint32_t tail)
{
	uint16_t old = xchg(&lock->tail, (uint16_t)(tail >> 16), __ATOMIC_ACQ_REL);

	return (uint32_t)old << 16;
}

/* Byte store of our own pending bit.  Relaxed: it orders nothing; others
 * read pending only to decide whether to wait, and each decision is then
 * made by an RMW of the word (the pending fetch_or, the claim CAS, the
 * steal CAS), which sees the latest value of the byte. */
static inline void clear_pending(pvlock_t *lock)
{
	store_relaxed(&lock->pending, 0);
}
/* (*,1,0) -> (*,0,1): we own the pending bit and nobody else may move.
 * 16-bit store, relaxed: the previous owner's critical section was already
 * acquired by our load_acquire of the locked byte (which read its release);
 * nobody can take the lock meanwhile, since pending is set. */
static inline void clear_pending_set_locked(pvlock_t *lock)
{
	store_relaxed(&lock->locked_pending, Q_LOCKED_VAL);
}

/* The head claims a lock it already acquired (load_acquire of the word, or
 * the pv CAS): byte store, relaxed.  Its successor sees it through our
 * store_release of next->locked (happens-before, then coherence). */
static inline void set_locked(pvlock_t *lock)
{
	store_relaxed(&lock->locked, Q_LOCKED_VAL);
}

/* 32-bit CAS 0 -> locked, acquire: pairs with the release of the unlock
 * that freed the word (any of the three unlock stores/CASes). */
static inline bool native_trylock(pvlock_t *lock)
{
	uint32_t val = load_relaxed(&lock->val);

	return !val && cas(&lock->val, &val, Q_LOCKED_VAL, __ATOMIC_ACQUIRE);
}

#endif /* PVLOCK_ALGO_QSPINLOCK_WORD_H */
