/*
 * tas.c - the test-and-set lock's slow path: test-and-test-and-set, as
 * Linux's virt_spin_lock.  Spin reading (shared cache line) until the lock
 * looks free, then try the compare-and-swap; the same in both modes, except
 * that a pv waiter in a process that has one CPU (hooks.h, one_cpu) yields
 * between its looks instead of spinning against the holder it waits for.
 */
#include <pvlock/tas.h>

#include "algo/atomic.h"
#include "algo/hooks.h"

void pvlock__tas_lock_slow(pvlock_tas_t *lock)
{
	struct pvlock_slot *self = pvlock__slot_self();
	uint64_t steal = steal_begin(self);

	bool pv = pvlock__mode_freeze() == PVLOCK_MODE_PV;
	bool counted = false;

	ev_inc(self, tas_slowpath);
	for (;;) {
		uint32_t val = 0;

		/* Relaxed look; the CAS decides.  Acquire: pairs with the
		 * store-release in pvlock_tas_unlock. */
		while (load_relaxed(&lock->val)) {
			if (pv && one_cpu()) {
				if (!counted)	/* one count per slow path */
					ev_inc(self, pv_one_cpu);
				counted = true;
				pvlock__pv_yield();
				continue;
			}
			cpu_relax();
		}
		if (cas(&lock->val, &val, 1, __ATOMIC_ACQUIRE))
			break;
	}
	steal_end(self, steal);
}

void pvlock__tas_unlock_bad(pvlock_tas_t *lock)
{
	ev_inc(pvlock__slot_peek(), bad_unlock);
	uint32_t word = load_relaxed(&lock->val);	/* a report's look: relaxed */

	pvlock__report_bad_unlock("pvlock_tas_unlock", lock, word, word != 0);
}
