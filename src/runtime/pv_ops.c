/*
 * pv_ops.c - pv_wait and pv_kick as the algorithms see them: the current
 * backend, plus kick and wake latency accounting and, in test builds, the
 * injected faults (spurious wake-ups, delayed and dropped kicks).
 */
#include <time.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "runtime/fault_internal.h"

static const struct pvlock_backend *backend = &pvlock__futex_backend;

void pvlock__backend_install(const struct pvlock_backend *b)
{
	__atomic_store_n(&backend, b ? b : &pvlock__futex_backend, __ATOMIC_RELEASE);
}

const struct pvlock_backend *pvlock__backend_current(void)
{
	return __atomic_load_n(&backend, __ATOMIC_ACQUIRE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: async-signal-safe */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pvlock__pv_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	/* Forget a kick that reached us while we were not waiting. */
	__atomic_store_n(&self->kick_ns, 0, __ATOMIC_RELAXED);
	if (fault_spurious_wakeup())
		return;
	pvlock__backend_current()->wait(self, ptr, val);

	uint64_t kicked_at = __atomic_exchange_n(&self->kick_ns, 0, __ATOMIC_RELAXED);
	if (kicked_at) {
		uint64_t now = now_ns();
		ev_inc(self, pv_kick_wake);
		ev_add(self, pv_latency_wake_ns, now > kicked_at ? now - kicked_at : 0);
	}
}

void pvlock__pv_kick(struct pvlock_slot *target)
{
	if (fault_drop_kick())
		return;
	fault_delay_kick();

	uint64_t start = now_ns();
	__atomic_store_n(&target->kick_ns, start, __ATOMIC_RELAXED);
	pvlock__backend_current()->kick(target);
	ev_add(pvlock__slot_peek(), pv_latency_kick_ns, now_ns() - start);
}

bool pvlock__pv_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	return pvlock__backend_current()->vcpu_is_preempted(slot);
}
