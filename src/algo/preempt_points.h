/*
 * preempt_points.h - the places in the algorithms where a test build can
 * stop, delay or act on a thread (PREEMPT_POINT in hooks.h).  The ids are
 * the algorithms' own; tests/seams/fault.c acts on them.
 */
#ifndef PVLOCK_ALGO_PREEMPT_POINTS_H
#define PVLOCK_ALGO_PREEMPT_POINTS_H

enum pvlock_preempt_point {
	PVLOCK_PP_BEFORE_TAIL_PUBLISH,	/* node initialised, tail not yet swapped */
	PVLOCK_PP_BEFORE_PREV_LINK,	/* tail swapped, prev->next not yet written */
	PVLOCK_PP_KICK_NODE,		/* next->locked set, state not yet CASed */
	PVLOCK_PP_KICK_NODE_HASH,	/* _Q_SLOW_VAL written (CAS kind) or sleeper counted (store kind), hash entry not yet */
	PVLOCK_PP_HEAD_BEFORE_SLOW,	/* head hashed, _Q_SLOW_VAL not yet set */
	PVLOCK_PP_UNLOCK_UNHASHED,	/* unlock removed the entry, lock not yet released */
	PVLOCK_PP_UNLOCK_BEFORE_KICK,	/* lock released, waiter not yet kicked */
	PVLOCK_PP_UNLOCK_RELEASED,	/* store-kind unlock: released, sleepers not yet read */
	PVLOCK_PP_UNLOCK_WAKE,		/* store-kind unlock: saw sleepers, entry not yet claimed */
	PVLOCK_PP_UNLOCK_WAKE_CLAIMED,	/* store-kind unlock: entry claimed, notice not yet written */
	PVLOCK_PP_HEAD_BEFORE_MEMBARRIER,	/* store kind: head counted and hashed, no membarrier yet */
	PVLOCK_PP_HEAD_LOOKED,		/* store kind: head looked at the locked byte after membarrier */
	PVLOCK_PP_HEAD_TAKE_BACK,	/* store kind: head owns the lock, entry not yet taken back */
	PVLOCK_PP_TICKET_BEFORE_FLAG,	/* ticket record published, flag not yet set */
	PVLOCK_PP_TICKET_BEFORE_KICK,	/* ticket released, waiter not yet kicked */
	PVLOCK_PP_TICKET_LEVEL_TAKEN,	/* ticket wait level taken, record not yet published */
	PVLOCK_PP_TICKET_RECORD_CLEARED,	/* ticket record cleared, level not yet given back */
	PVLOCK_PP_TICKET_SKIP_CLAIMED,	/* skip use: waiter claimed as skipped, turn not yet passed */
	PVLOCK_PP_TICKET_SKIP_LOOKED,	/* skip use: waiter's claim read, not yet CASed */
	PVLOCK_PP_COUNT
};

#endif /* PVLOCK_ALGO_PREEMPT_POINTS_H */
