/*
 * pv_latency.h - the kick and wake latency accounting around a backend's
 * wait and kick (pv_latency_kick_ns, pv_kick_wake, pv_latency_wake_ns).
 *
 * Shared by the library (src/runtime/pv_ops.c, clock_gettime) and the
 * bare-metal guest (guest/hooks.c, the TSC): each passes its own clock.
 * The kicker stamps the target's kick_ns before it kicks; the woken waiter
 * takes the stamp and counts the time from kick to running.  Relaxed: the
 * stamp is a statistic and pairs with no other access; a stale or lost
 * stamp only drops one sample.
 */
#ifndef PVLOCK_RUNTIME_PV_LATENCY_H
#define PVLOCK_RUNTIME_PV_LATENCY_H

#include "algo/hooks.h"

/* Before the wait: forget a kick that reached us while we were not waiting. */
static inline void pv_latency_wait_begin(struct pvlock_slot *self)
{
	__atomic_store_n(&self->kick_ns, 0, __ATOMIC_RELAXED);
}

/* After the wait: if a kick woke us, count it and its latency. */
static inline void pv_latency_wait_end(struct pvlock_slot *self, uint64_t (*now_ns)(void))
{
	uint64_t kicked_at = __atomic_exchange_n(&self->kick_ns, 0, __ATOMIC_RELAXED);

	if (kicked_at) {
		uint64_t now = now_ns();
		ev_inc(self, pv_kick_wake);
		ev_add(self, pv_latency_wake_ns, now > kicked_at ? now - kicked_at : 0);
	}
}

/* Before the kick: stamp the target; returns the stamp for kick_end. */
static inline uint64_t pv_latency_kick_begin(struct pvlock_slot *target,
					     uint64_t (*now_ns)(void))
{
	uint64_t start = now_ns();

	__atomic_store_n(&target->kick_ns, start, __ATOMIC_RELAXED);
	return start;
}

/* After the kick: what issuing it cost the kicker. */
static inline void pv_latency_kick_end(uint64_t start, uint64_t (*now_ns)(void))
{
	ev_add(pvlock__slot_peek(), pv_latency_kick_ns, now_ns() - start);
}

#endif /* PVLOCK_RUNTIME_PV_LATENCY_H */
