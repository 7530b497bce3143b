/*
 * fault.h - fault injection, for test builds only.
 *
 * tests/seams/fault.c is compiled and linked only into the libraries built
 * with -DPVLOCK_FAULT_INJECTION (build/fi/ and the sanitizer builds): the
 * product library has none of these symbols.  Set the knobs before the
 * threads that should see them start (plain fields, read racily by design:
 * a fault a little early or late is still a fault).
 */
#ifndef PVLOCK_SEAMS_FAULT_H
#define PVLOCK_SEAMS_FAULT_H

#include <stdbool.h>
#include <stdint.h>

/* Preemption points inside the algorithms: one id per place. */
#include "algo/preempt_points.h"

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

#endif /* PVLOCK_SEAMS_FAULT_H */
