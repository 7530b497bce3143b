/*
 * seams.h - where the runtime lets a test build inject faults.  With
 * -DPVLOCK_FAULT_INJECTION these are functions of the test builds' library
 * (tests/seams/fault.c, driven through tests/seams/fault.h); without it they
 * are constant no-ops, and the product library has no fault code at all.
 */
#ifndef PVLOCK_RUNTIME_SEAMS_H
#define PVLOCK_RUNTIME_SEAMS_H

#include <stdbool.h>

#ifdef PVLOCK_FAULT_INJECTION
bool fault_spurious_wakeup(void);	/* this wait returns at once */
bool fault_drop_kick(void);		/* this kick is lost */
void fault_delay_kick(void);		/* sleep before the kick */
unsigned pvlock__fault_max_slots(void);	/* 0: all slots; N: only N exist */
#else
static inline bool fault_spurious_wakeup(void) { return false; }
static inline bool fault_drop_kick(void) { return false; }
static inline void fault_delay_kick(void) { }
static inline unsigned pvlock__fault_max_slots(void) { return 0; }
#endif

#endif /* PVLOCK_RUNTIME_SEAMS_H */
