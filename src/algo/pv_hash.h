/*
 * pv_hash.h - the lock -> sleeping queue head table.
 *
 * CAS kind of pv unlock: a sleeping queue head (or its kicker, on its
 * behalf) inserts (lock, node) before it makes the lock _Q_SLOW_VAL; the
 * unlocker that finds _Q_SLOW_VAL removes the entry and kicks the node's
 * slot.  At most one entry per lock, and only sleeping heads insert, so the
 * table (4 entries per slot) never fills.
 *
 * Store kind: the head (or its kicker) counts itself in pvlock__pv_sleepers
 * and inserts with pvlock__pv_hash_insert_store; an unlocker that sees the
 * count non-zero claims the entry of its lock, if any, with
 * pvlock__pv_hash_claim (several may try: exactly one wins), and frees it
 * with pv_hash_free after reading its node; the head that took the lock
 * takes its own entry back with pvlock__pv_hash_take_back (or learns that
 * an unlocker claimed it).  Unlockers look only as far as the longest probe
 * any store-kind insert made (max_probe, published with the entry).
 */
#ifndef PVLOCK_ALGO_PV_HASH_H
#define PVLOCK_ALGO_PV_HASH_H

#include <stddef.h>

#include <pvlock/qspinlock.h>

#include "algo/hooks.h"

struct pv_hash_entry {
	pvlock_t *lock;		/* NULL: free */
	struct qnode *node;
};

struct pv_hash_entry *pvlock__pv_hash_insert(pvlock_t *lock, struct qnode *node,
				     struct pvlock_slot *self);
/* Remove the entry of a lock whose owner found _Q_SLOW_VAL; NULL if absent. */
struct qnode *pvlock__pv_hash_remove(pvlock_t *lock, struct pvlock_slot *self);

/* Store kind.  Insert (node published before the lock address: an unlocker
 * finds the entry through the table, not through _Q_SLOW_VAL); waits,
 * yielding, while the table is full (entries being claimed are freed a few
 * instructions later). */
void pvlock__pv_hash_insert_store(pvlock_t *lock, struct qnode *node,
				  struct pvlock_slot *self);
/* Claim the entry naming lock, or NULL if none.  The entry is then the
 * caller's: it reads the node (relaxed: the claim's acquire ordered it) and
 * frees the entry with pv_hash_free once it wrote the notice. */
struct pv_hash_entry *pvlock__pv_hash_claim(pvlock_t *lock, struct pvlock_slot *self);
/* The head that owns the lock: free its own entry if nobody claimed it. */
bool pvlock__pv_hash_take_back(pvlock_t *lock, const struct qnode *node,
			       struct pvlock_slot *self);

#ifdef PVLOCK_FAULT_INJECTION
/* Entries that name this lock (tests: there must never be more than one). */
unsigned pvlock__pv_hash_entries_for(const pvlock_t *lock);
#endif

/* Give back an entry we inserted ourselves (the head that got the lock). */
static inline void pv_hash_release_entry(struct pv_hash_entry *entry,
					 struct pvlock_slot *self)
{
	/* Release: pairs with the next inserter's acquire CAS, so our node
	 * store lands before its own (see pv_hash.c). */
	__atomic_store_n(&entry->lock, NULL, __ATOMIC_RELEASE);
	ev_inc(self, pv_hash_ops);
	ev_add(self, pv_hash_hops, 1);	/* one entry touched, none probed past */
}

/* Store kind: a claimed entry is ours until this release store, which
 * pairs with the next inserter's acquire CAS (our node read comes first). */
static inline void pv_hash_free(struct pv_hash_entry *entry)
{
	__atomic_store_n(&entry->lock, NULL, __ATOMIC_RELEASE);
}

#endif /* PVLOCK_ALGO_PV_HASH_H */
