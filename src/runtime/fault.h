/*
 * fault.h - fault injection, compiled only into test builds.
 *
 * The knobs exist in every build so that tools compile anywhere, but only a
 * library built with -DPVLOCK_FAULT_INJECTION (build/fi/) acts on them; a
 * program can ask pvlock__fault_enabled() which one it got.  Set the knobs
 * before the threads that should see them start (plain fields, read racily
 * by design: a fault a little early or late is still a fault).
 */
#ifndef PVLOCK_RUNTIME_FAULT_H
#define PVLOCK_RUNTIME_FAULT_H

#include <stdbool.h>
#include <stdint.h>

/* Preemption points inside the algorithms: one id per place. */
enum pvlock_preempt_point {
	PVLOCK_PP_BEFORE_TAIL_PUBLISH,	/* node initialised, tail not yet swapped */
	PVLOCK_PP_BEFORE_PREV_LINK,	/* tail swapped, prev->next not yet written */
	PVLOCK_PP_KICK_NODE,		/* next->locked set, state not yet CASed */
	PVLOCK_PP_KICK_NODE_HASH,	/* _Q_SLOW_VAL written, hash entry not yet */
	PVLOCK_PP_HEAD_BEFORE_SLOW,	/* head hashed, _Q_SLOW_VAL not yet set */
	PVLOCK_PP_UNLOCK_UNHASHED,	/* unlock removed the entry, lock not yet released */
	PVLOCK_PP_UNLOCK_BEFORE_KICK,	/* lock released, waiter not yet kicked */
	PVLOCK_PP_TICKET_BEFORE_FLAG,	/* ticket record published, flag not yet set */
	PVLOCK_PP_TICKET_BEFORE_KICK,	/* ticket released, waiter not yet kicked */
	PVLOCK_PP_TICKET_LEVEL_TAKEN,	/* ticket wait level taken, record not yet published */
	PVLOCK_PP_TICKET_RECORD_CLEARED,	/* ticket record cleared, level not yet given back */
	PVLOCK_PP_COUNT
};

struct pvlock_fault {
	unsigned spurious_wakeup_pct;	/* % of waits that return at once, unslept */
	unsigned kick_delay_us;		/* sleep this long before delivering a kick */
	bool     drop_kicks;		/* negative control: kicks wake nobody */
	unsigned hash_lines;		/* 0: whole table; N: only N 64-byte lines */
	unsigned preempt_pct;		/* % of preemption points that give up the CPU */
	unsigned preempt_us;		/* 0: sched_yield(); N: sleep N us there */
	unsigned max_slots;		/* 0: all; N: only N thread slots exist */
	/* Called at every preemption point (before the preempt_pct draw), so a
	 * test can act at an exact place in an algorithm.  NULL: none. */
	void (*point_hook)(enum pvlock_preempt_point where);
};

extern struct pvlock_fault pvlock__fault;

/* What the injections did (summed over threads). */
struct pvlock_fault_counts {
	uint64_t spurious_wakeups;	/* waits returned at once */
	uint64_t kicks_delayed;
	uint64_t kicks_dropped;
	uint64_t preemptions;		/* preemption points that yielded/slept */
	uint64_t points_passed[PVLOCK_PP_COUNT];	/* times each point was passed */
};

bool pvlock__fault_enabled(void);
void pvlock__fault_counts_read(struct pvlock_fault_counts *out);
void pvlock__fault_reset(void);		/* knobs to zero, counts to zero */

#endif /* PVLOCK_RUNTIME_FAULT_H */
