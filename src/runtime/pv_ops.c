/*
 * pv_ops.c - pv_wait, pv_kick and the questions the slow paths ask about a
 * slot (vcpu_is_preempted, slot_state, steal_ns), as the algorithms see them:
 * each goes to the installed backend (backend_select.c chooses it), with the
 * kick and wake latency accounting (pv_latency.h) around wait and kick, and
 * the test builds' fault seams (seams.h) in front of them.
 */
#include "algo/hooks.h"
#include "backend/backend.h"
#include "runtime/internal.h"
#include "runtime/pv_latency.h"
#include "runtime/seams.h"

static const struct pvlock_backend *backend = &pvlock__futex_backend;

/* Whether the current backend knows who runs (has slot_state); the slow
 * paths test it before asking, so the futex backend pays one load. */
bool pvlock__backend_knows;

void pvlock__backend_install(const struct pvlock_backend *b)
{
	b = b ? b : &pvlock__futex_backend;
	/* Release: pairs with pvlock__backend_current's acquire load, so a
	 * slow path that reads the new table reads it whole. */
	__atomic_store_n(&backend, b, __ATOMIC_RELEASE);
	/* Relaxed: pairs with preempt_known()'s relaxed load (algo/hooks.h);
	 * a hint, and every question it guards is answered by the table. */
	__atomic_store_n(&pvlock__backend_knows, b->slot_state != NULL, __ATOMIC_RELAXED);
}

const char *pvlock_backend(void)
{
	return pvlock__backend_current()->name;
}

const struct pvlock_backend *pvlock__backend_current(void)
{
	/* Acquire: pairs with pvlock__backend_install's release store. */
	return __atomic_load_n(&backend, __ATOMIC_ACQUIRE);
}

void pvlock__pv_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	pv_latency_wait_begin(self);
	pvlock__cpus_wait_tick();
	if (fault_spurious_wakeup())
		return;
	pvlock__backend_current()->wait(self, ptr, val);
	pv_latency_wait_end(self, pvlock__now_ns);
}

void pvlock__pv_kick(struct pvlock_slot *target)
{
	if (fault_drop_kick())
		return;
	fault_delay_kick();

	uint64_t start = pv_latency_kick_begin(target, pvlock__now_ns);
	pvlock__backend_current()->kick(target);
	pv_latency_kick_end(start, pvlock__now_ns);
}

bool pvlock__pv_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	return pvlock__backend_current()->vcpu_is_preempted(slot);
}

int pvlock__pv_slot_state(const struct pvlock_slot *slot)
{
	const struct pvlock_backend *b = pvlock__backend_current();

	return b->slot_state ? b->slot_state(slot) : 0;
}

uint64_t pvlock__pv_steal_ns(const struct pvlock_slot *slot)
{
	const struct pvlock_backend *b = pvlock__backend_current();

	return slot && b->steal_ns ? b->steal_ns(slot) : 0;
}

void pvlock__slot_attached(struct pvlock_slot *slot)
{
	const struct pvlock_backend *b = pvlock__backend_current();

	/* slot->tid is already ours: slots.c wrote it when it took the slot. */
	if (b->attach)
		b->attach(slot);
}
