/*
 * pv_hash.c - open-addressed table of (lock, sleeping head) pairs.
 *
 * Entries are 16 bytes, four to a 64-byte line.  A lock hashes to a line and
 * probes linearly from there, wrapping around.  Two locks that collide each
 * find their own entry because removal matches the lock address, never the
 * position (the "hash line collision" race, docs/design.md).
 *
 * Reuse of an entry: whoever frees it (the unlocker that removed it, or the
 * head that took its own entry back) stores NULL with release, and the next
 * inserter's CAS from NULL is acquire.  So everything the previous user did
 * with the entry (its read or write of `node`) happens before the new
 * inserter writes `node`: an unlocker can never read the next lock's node
 * as its own, nor a head's late node store land on the next user's.
 */
#include "algo/pv_hash.h"
#include "algo/atomic.h"

#define HASH_ENTRIES	(4u * 16384u)	/* power of two >= 4 x PVLOCK_MAX_SLOTS */
#define LINE_ENTRIES	4u
#define HASH_BITS	16

_Static_assert(HASH_ENTRIES >= 4u * PVLOCK_MAX_SLOTS, "table can never fill");
_Static_assert(HASH_ENTRIES == 1u << HASH_BITS, "power of two");
_Static_assert(sizeof(struct pv_hash_entry) * LINE_ENTRIES == 64, "4 per line");

static struct pv_hash_entry table[HASH_ENTRIES] __attribute__((aligned(64)));

/* How many entries are in use: all of them, unless a test shrank the table. */
static inline unsigned table_entries(void)
{
#ifdef PVLOCK_FAULT_INJECTION
	unsigned lines = pvlock__fault_hash_lines();
	if (lines && lines * LINE_ENTRIES < HASH_ENTRIES)
		return lines * LINE_ENTRIES;
#endif
	return HASH_ENTRIES;
}

/* First entry of the lock's line (Fibonacci hashing of the address). */
static inline unsigned hash_start(const pvlock_t *lock, unsigned entries)
{
	uint64_t h = (uint64_t)(uintptr_t)lock * 0x9e3779b97f4a7c15ull;
	unsigned line = (unsigned)(h >> (64 - HASH_BITS)) % (entries / LINE_ENTRIES);

	return line * LINE_ENTRIES;
}

/*
 * Take the first free entry from the lock's line on, writing `mark` into its
 * lock field (the lock itself, or a reservation); NULL when none is free.
 * *hops: the entries probed.
 */
static struct pv_hash_entry *take_free(const pvlock_t *lock, pvlock_t *mark, unsigned *hops)
{
	unsigned entries = table_entries();
	unsigned start = hash_start(lock, entries);

	for (unsigned i = 0; i < entries; i++) {
		struct pv_hash_entry *he = &table[(start + i) % entries];
		pvlock_t *expected = NULL;

		/* Relaxed probe; the CAS decides.  Acquire: pairs with the
		 * release NULL store of the entry's previous user, so its
		 * read of `node` comes before our write of it. */
		if (load_relaxed(&he->lock) == NULL &&
		    cas(&he->lock, &expected, mark, __ATOMIC_ACQUIRE)) {
			*hops = i + 1;
			return he;
		}
	}
	return NULL;
}

struct pv_hash_entry *pvlock__pv_hash_insert(pvlock_t *lock, struct qnode *node,
				     struct pvlock_slot *self)
{
	unsigned hops;
	struct pv_hash_entry *he = take_free(lock, lock, &hops);

	/* Only sleeping heads insert, one per lock: a full table is a bug. */
	if (!he)
		pvlock__fatal("pv hash table full", lock);
	/* Published by the caller's seq_cst xchg of _Q_SLOW_VAL to the
	 * unlocker's load_acquire of it (or, from pv_kick_node, read back by
	 * this same thread). */
	store_relaxed(&he->node, node);
	ev_inc(self, pv_hash_ops);
	ev_add(self, pv_hash_hops, hops);
	return he;
}

struct qnode *pvlock__pv_hash_remove(pvlock_t *lock, struct pvlock_slot *self)
{
	unsigned entries = table_entries();
	unsigned start = hash_start(lock, entries);

	for (unsigned i = 0; i < entries; i++) {
		struct pv_hash_entry *he = &table[(start + i) % entries];

		/* Relaxed: our load_acquire of SLOW (the caller's) ordered
		 * these after the inserter's writes. */
		if (load_relaxed(&he->lock) == lock) {
			struct qnode *node = load_relaxed(&he->node);

			/* Release: our node read comes before the next
			 * inserter's node write (its CAS is acquire). */
			store_release(&he->lock, NULL);
			ev_inc(self, pv_hash_ops);
			ev_add(self, pv_hash_hops, i + 1);
			return node;
		}
	}
	return NULL;
}

/* ---- store kind ---------------------------------------------------------- */

/* Markers in the lock field: never the address of a lock (both odd; a
 * pvlock_t is 4-byte aligned). */
#define ENTRY_RESERVED	((pvlock_t *)(uintptr_t)1)	/* inserter writing the node */
#define ENTRY_CLAIMED	((pvlock_t *)(uintptr_t)3)	/* claimer reading the node */

/* The longest probe (entries looked at) of any store-kind insert so far;
 * only grows.  An unlocker or a head looks no further.  Relaxed: the
 * inserter raises it before its membarrier (or, from pv_kick_node, before
 * its own unlock), which is what orders it before the unlocker's look, as
 * for the entry itself. */
static unsigned max_probe;

static void raise_max_probe(unsigned probe)
{
	unsigned old = load_relaxed(&max_probe);

	while (old < probe && !__atomic_compare_exchange_n(&max_probe, &old, probe, false,
							   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static inline unsigned probe_limit(unsigned entries)
{
	unsigned probe = load_relaxed(&max_probe);

	return probe < entries ? probe : entries;
}

void pvlock__pv_hash_insert_store(pvlock_t *lock, struct qnode *node,
				  struct pvlock_slot *self)
{
	unsigned hops;
	struct pv_hash_entry *he;

	/* Reserve, so that no claimer reads the entry before its node. */
	while (!(he = take_free(lock, ENTRY_RESERVED, &hops)))
		pvlock__pv_yield();
	store_relaxed(&he->node, node);
	raise_max_probe(hops);
	/* Publish: release, pairing with the claimer's and the taker's
	 * acquire of the lock field, so they read our node. */
	store_release(&he->lock, lock);
	ev_inc(self, pv_hash_ops);
	ev_add(self, pv_hash_hops, hops);
}

struct pv_hash_entry *pvlock__pv_hash_claim(pvlock_t *lock, struct pvlock_slot *self)
{
	unsigned entries = table_entries();
	unsigned start = hash_start(lock, entries), limit = probe_limit(entries);

	for (unsigned i = 0; i < limit; i++) {
		struct pv_hash_entry *he = &table[(start + i) % entries];
		pvlock_t *expected = lock;

		/* The claim: lock -> CLAIMED, one winner among the unlockers
		 * and the head.  Acquire, pairing with the inserter's release
		 * of the lock field: the caller's node read is its node. */
		if (load_relaxed(&he->lock) == lock &&
		    cas(&he->lock, &expected, ENTRY_CLAIMED, __ATOMIC_ACQUIRE)) {
			ev_inc(self, pv_hash_ops);
			ev_add(self, pv_hash_hops, i + 1);
			return he;
		}
	}
	return NULL;
}

bool pvlock__pv_hash_take_back(pvlock_t *lock, const struct qnode *node,
			       struct pvlock_slot *self)
{
	unsigned entries = table_entries();
	unsigned start = hash_start(lock, entries), limit = probe_limit(entries);

	for (unsigned i = 0; i < limit; i++) {
		struct pv_hash_entry *he = &table[(start + i) % entries];
		pvlock_t *expected = lock;

		/* Acquire, pairing with the inserter's release (ours, or our
		 * kicker's, which our lock acquire already ordered before us):
		 * the node we compare is the entry's.  Only this head, or its
		 * kicker before it, inserts (lock, node), so lock and node
		 * cannot name another use of the entry between the look and
		 * the CAS.  The CAS: release, pairing with the next inserter's
		 * acquire reservation; a claimer that won instead keeps it. */
		if (load_acquire(&he->lock) == lock && load_relaxed(&he->node) == node) {
			if (!cas(&he->lock, &expected, NULL, __ATOMIC_RELEASE))
				return false;
			ev_inc(self, pv_hash_ops);
			ev_add(self, pv_hash_hops, i + 1);
			return true;
		}
	}
	return false;
}

#ifdef PVLOCK_FAULT_INJECTION
unsigned pvlock__pv_hash_entries_for(const pvlock_t *lock)
{
	unsigned n = 0;

	/* A test's look (relaxed), taken while the lock's threads are parked. */
	for (unsigned i = 0; i < HASH_ENTRIES; i++)
		n += load_relaxed(&table[i].lock) == lock;
	return n;
}
#endif

/* fork child: drop the entries of every other slot's (now absent) thread,
 * reserved or claimed ones too (their inserter or claimer is gone), and
 * count the sleepers again: the ones that are left. */
void pvlock__pv_hash_forget_others(const struct pvlock_slot *keep)
{
	unsigned left = 0;

	for (unsigned i = 0; i < HASH_ENTRIES; i++) {
		struct qnode *node = load_relaxed(&table[i].node);
		pvlock_t *lock = load_relaxed(&table[i].lock);

		/* Relaxed: the child has one thread, the one running this. */
		if (!lock)
			continue;
		if (lock == ENTRY_RESERVED || lock == ENTRY_CLAIMED ||
		    pvlock__slot_of_node(node) != keep)
			store_relaxed(&table[i].lock, NULL);
		else
			left++;
	}
	store_relaxed(&pvlock__pv_sleepers[0], left);
}
