/*
 * fork_repair.c - a fork child takes the parent's other threads out of the
 * lock words they waited on.
 *
 * The child of fork has one thread, the one that forked.  Every other thread
 * that was in a slow path at the fork left its mark in a lock word and does
 * not exist here; its record (algo/fork_wait.h) names the lock.  The child
 * runs this from its fork handler, before the program's own child handlers,
 * with no other thread to race with; so plain (relaxed) accesses suffice,
 * and nothing here pairs with anything.
 *
 *   queued lock  tail and pending cleared: every queued or pending waiter
 *                was another thread.  A locked byte of _Q_SLOW_VAL ("the
 *                head sleeps, kick it") becomes 1: the holder, if any, still
 *                holds the lock, but no sleeper exists any more.  A free
 *                lock stays free.
 *   ticket lock  every waiting ticket dropped: tail = head + 2 while a turn
 *                is held, so that the holder's unlock leaves the lock free;
 *                tail = head when the turn at head is itself a dead waiter's
 *                (handed to it, or claimed for it by the skip use, but not
 *                yet taken), since then nobody holds the lock.  The pv flag
 *                is cleared: no waiter sleeps.
 *   tas lock     nothing: a waiter leaves no mark in the word.
 *
 * The forking thread itself is not in a wait (a fork from a signal handler
 * that interrupted one of its waits is not supported: pvlock(3)), so its
 * own marks are never among those removed.  The holder of a lock is not
 * known from the word: a lock held by another thread of the parent stays
 * held in the child, as a glibc mutex does.  A lock in memory the child
 * shares with the parent (MAP_SHARED) is the parent's too, and a repair
 * would change it under the parent's threads: pvlock's locks are not
 * shared between processes (pvlock(3), LIMITS).  Each repair reads the word
 * and writes what it must be, so repairing one lock for each of several
 * records gives the same result in any order.
 */
#include <pvlock/qspinlock.h>
#include <pvlock/ticket.h>

#include "algo/atomic.h"
#include "algo/fork_wait.h"

/* Write a repaired word only if it changed: a lock word that needs no
 * repair is left untouched (not even rewritten with the same value). */
static void store_if_changed(uint32_t *word, uint32_t old, uint32_t val)
{
	if (val != old)
		store_relaxed(word, val);
}

static void repair_queued(pvlock_t *lock)
{
	uint32_t val = load_relaxed(&lock->val);
	uint32_t locked = val & PVLOCK__Q_LOCKED_MASK;

	if (locked == PVLOCK__Q_SLOW_VAL)
		locked = PVLOCK__Q_LOCKED_VAL;
	store_if_changed(&lock->val, val, locked);
}

/* `ticket`: the dead waiter's ticket, as its record says. */
static void repair_ticket(pvlock_ticket_t *lock, uint16_t ticket)
{
	uint32_t val = load_relaxed(&lock->val);
	uint16_t head = (uint16_t)(val & 0xffffu & ~PVLOCK__TICKET_FLAG);
	uint16_t tail = (uint16_t)(val >> 16);

	if (tail != head)	/* a turn is held: by a thread, or given to `ticket` */
		tail = ticket == head ? head : (uint16_t)(head + PVLOCK__TICKET_INC);
	store_if_changed(&lock->val, val, ((uint32_t)tail << 16) | head);
}

void pvlock__fork_repair_waits(const struct pvlock_slot *keep)
{
	unsigned hw = pvlock__slot_high_water();

	for (unsigned s = 0; s < hw; s++) {
		struct pvlock_slot *slot = &pvlock__slots[s];

		if (slot == keep)
			continue;
		for (int level = 0; level < PVLOCK_MAX_NODES; level++) {
			struct fork_wait *w = &slot->fwait[level];
			uintptr_t lock = load_relaxed(&w->lock);
			void *addr = (void *)(lock & ~(uintptr_t)FORK_WAIT_KIND_MASK);

			switch (lock & FORK_WAIT_KIND_MASK) {
			case FORK_WAIT_QUEUED:
				repair_queued(addr);
				break;
			case FORK_WAIT_TICKET:
				repair_ticket(addr, load_relaxed(&w->ticket));
				break;
			default:
				break;
			}
			store_relaxed(&w->lock, 0);
		}
		store_relaxed(&slot->fwait_depth, 0);
	}
}
