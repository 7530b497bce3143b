/*
 * pv_hash.h - the lock -> sleeping queue head table.
 *
 * A sleeping queue head (or its kicker, on its behalf) inserts (lock, node)
 * before it makes the lock _Q_SLOW_VAL; the unlocker that finds _Q_SLOW_VAL
 * removes the entry and kicks the node's slot.  At most one entry per lock, and
 * only sleeping heads insert, so the table (4 entries per slot) never fills.
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

#endif /* PVLOCK_ALGO_PV_HASH_H */
