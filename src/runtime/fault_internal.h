/*
 * fault_internal.h - where the runtime consults the fault knobs.  In builds
 * without PVLOCK_FAULT_INJECTION these are constant no-ops.
 */
#ifndef PVLOCK_RUNTIME_FAULT_INTERNAL_H
#define PVLOCK_RUNTIME_FAULT_INTERNAL_H

#include "runtime/fault.h"

#ifdef PVLOCK_FAULT_INJECTION
bool fault_spurious_wakeup(void);	/* this wait returns at once */
bool fault_drop_kick(void);		/* this kick is lost */
void fault_delay_kick(void);		/* sleep before the kick */
#else
static inline bool fault_spurious_wakeup(void) { return false; }
static inline bool fault_drop_kick(void) { return false; }
static inline void fault_delay_kick(void) { }
#endif

#endif /* PVLOCK_RUNTIME_FAULT_INTERNAL_H */
