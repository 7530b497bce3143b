/*
 * fork_wait.h - a slow path's record of the lock it waits on, for fork.
 *
 * A waiter's thread does not exist in a fork child, but what it wrote into
 * the lock word does: a queued lock's tail, pending bit or _Q_SLOW_VAL, a
 * ticket lock's tickets.  So that the child can take those out again
 * (pvlock__fork_repair_waits), each slow path that may write such a thing
 * records the lock first and withdraws the record once it holds the lock.
 * Only slow paths do this; the fast paths are untouched, which leaves one
 * gap: a ticket lock's fast path takes its ticket before the slow path can
 * record it.  A waiter caught there at the fork has no record; the child's
 * repair drops every waiting ticket of a lock, so another recorded waiter
 * on the same lock covers it, but a lone one is missed.  A thread with no
 * slot (more threads than PVLOCK_MAX_SLOTS) records nothing either.
 *
 * The records are per nesting level, as queue nodes are: a signal handler
 * that waits on another lock while this thread waits takes the next level,
 * and gives it back before it returns.  Deeper than PVLOCK_MAX_NODES levels
 * a wait goes unrecorded (fork_wait_push returns -1).
 *
 * Every access is relaxed.  The one reader is a fork child, which has a
 * single thread and reads the records after the fork: what it sees is the
 * copy of memory the kernel made.  A record's stores precede, in its
 * thread's program order, every store that thread makes to the lock word
 * while waiting; a store to a page the fork has already write-protected
 * faults and waits for the fork to finish, and a fault is precise (no later
 * store of the thread takes effect first, on x86 or aarch64), so a child
 * that sees a mark the slow path wrote into a lock word also sees its
 * record.  The
 * converse (a record whose mark the child does not see) only makes the
 * child repair a word that needed none, which is harmless: the lock is in
 * use, so its memory is valid.  Within the thread, a signal handler is
 * ordered by signal_barrier().
 */
#ifndef PVLOCK_ALGO_FORK_WAIT_H
#define PVLOCK_ALGO_FORK_WAIT_H

#include "algo/atomic.h"
#include "algo/hooks.h"

/* Record "this slot waits on lock (kind, ticket)"; the level, or -1. */
static inline int fork_wait_push(struct pvlock_slot *self, const void *lock, unsigned kind,
				 uint16_t ticket)
{
	if (unlikely(!self))
		return -1;
	/* The level is ours before its record is (as the queue nodes'
	 * count): a handler arriving in between takes the next one. */
	int level = load_relaxed(&self->fwait_depth);
	store_relaxed(&self->fwait_depth, level + 1);
	signal_barrier();
	if (unlikely(level >= PVLOCK_MAX_NODES)) {
		store_relaxed(&self->fwait_depth, level);
		return -1;
	}
	struct fork_wait *w = &self->fwait[level];
	store_relaxed(&w->ticket, ticket);
	store_relaxed(&w->lock, (uintptr_t)lock | kind);
	return level;
}

/* A ticket waiter passed over by the skip use took a new ticket. */
static inline void fork_wait_ticket(struct pvlock_slot *self, int level, uint16_t ticket)
{
	if (level >= 0)
		store_relaxed(&self->fwait[level].ticket, ticket);
}

/* The wait is over (we hold the lock): withdraw the record. */
static inline void fork_wait_pop(struct pvlock_slot *self, int level)
{
	if (level < 0)
		return;
	store_relaxed(&self->fwait[level].lock, 0);
	signal_barrier();
	store_relaxed(&self->fwait_depth, level);
}

#endif /* PVLOCK_ALGO_FORK_WAIT_H */
