/*
 * hooks.c - what src/algo/hooks.h asks of the world, in the guest.
 *
 * In the library these come from src/runtime/ (threads, futexes, getenv);
 * here a slot is a vCPU, the mode is set by the experiment between phases,
 * and pv_wait/pv_kick go to the guest backend (guest/pv.c).
 */
#include "guest/kernel.h"
#include "guest/guest.h"
#include "algo/hooks.h"
#include "backend/backend.h"
#include "runtime/pv_latency.h"

/* Slots are vCPUs: slot i belongs to cpus[i] for the life of the guest. */
struct pvlock_slot pvlock__slots[PVLOCK_MAX_SLOTS];
uint64_t pvlock__orphan_events[PVLOCK_EV_COUNT];

void guest_slots_init(void)
{
	for (unsigned i = 0; i < MAX_CPUS; i++)
		pvlock__slots[i].index = i;
}

struct pvlock_slot *pvlock__slot_self(void)
{
	return &pvlock__slots[this_cpu()->index];
}

struct pvlock_slot *pvlock__slot_peek(void)
{
	return pvlock__slot_self();
}

unsigned pvlock__slot_high_water(void)
{
	return ncpus;
}

/*
 * The mode, always with the CAS kind of pv unlock (no membarrier here).
 * The library freezes it at the first slow path because a lock
 * may then be in a pv-only state (_Q_SLOW_VAL) that native code would not
 * understand.  The guest changes it only between phases, with every vCPU
 * at a barrier and every lock of the phase at rest, which gives the same
 * guarantee; so freeze just reads it.
 */
unsigned pvlock__mode_state = PVLOCK__MODE_PV_BIT | PVLOCK__MODE_CAS_UNLOCK;
unsigned pvlock__spin_threshold = PVLOCK_SPIN_THRESHOLD_DEFAULT;
unsigned pvlock__steal_spin = PVLOCK_STEAL_SPIN_DEFAULT;
/* 0: a vCPU has no other thread to yield to, so a newcomer queues (and
 * halts) as Linux's does. */
unsigned pvlock__steal_yields = 0;
/* Every vCPU can hold or wait: the spin budgets always apply here. */
bool pvlock__one_cpu = false;
/* 0: unknown, so no waiter sleeps for being far back in a ticket line (a
 * vCPU spinning there takes no CPU from anyone). */
unsigned pvlock__cpus_usable = 0;
unsigned pvlock__ticket_skips = PVLOCK_TICKET_SKIPS_DEFAULT;
unsigned pvlock__ticket_kick_ahead = PVLOCK_TICKET_KICK_AHEAD_DEFAULT;
unsigned pvlock__ticket_far_sleep = PVLOCK_TICKET_FAR_SLEEP_DEFAULT;

enum pvlock_mode pvlock__mode_freeze(void)
{
	return pvlock__mode_is_pv() ? PVLOCK_MODE_PV : PVLOCK_MODE_NATIVE;
}

void guest_set_mode(bool pv)
{
	__atomic_store_n(&pvlock__mode_state,
			 (pv ? PVLOCK__MODE_PV_BIT : 0) | PVLOCK__MODE_CAS_UNLOCK, __ATOMIC_RELAXED);
}

void guest_set_spin_threshold(unsigned loops)
{
	__atomic_store_n(&pvlock__spin_threshold, loops, __ATOMIC_RELAXED);
}

unsigned guest_spin_threshold(void)
{
	return spin_threshold();
}

static uint64_t now_ns(void)
{
	return rdtsc() * 1000 / tsc_per_us;
}

/* pv_wait and pv_kick as the algorithms see them: the backend, plus the
 * kick and wake latency accounting the library shares (runtime/pv_latency.h). */
void pvlock__pv_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	pv_latency_wait_begin(self);
	pvlock__guest_backend.wait(self, ptr, val);
	pv_latency_wait_end(self, now_ns);
}

void pvlock__pv_kick(struct pvlock_slot *target)
{
	uint64_t start = pv_latency_kick_begin(target, now_ns);

	pvlock__guest_backend.kick(target);
	pv_latency_kick_end(start, now_ns);
}

bool pvlock__pv_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	return pvlock__guest_backend.vcpu_is_preempted(slot);
}

/* No membarrier in the guest: the mode word keeps the CAS kind of pv
 * unlock (PVLOCK__MODE_CAS_UNLOCK), so the slow paths never call this. */
int pvlock__pv_membarrier(void)
{
	return -1;
}

/* A vCPU never changes slot: nothing to record. */
void pvlock__slot_attached(struct pvlock_slot *slot)
{
	(void)slot;
}

/* "Who runs" for the slow paths: known only under KVM with steal time, from
 * the host-written preempted byte (guest/pv.c); otherwise "don't know". */
bool pvlock__backend_knows;
unsigned pvlock__preempt_uses = PVLOCK_USES_DEFAULT;

void guest_backend_knows(bool knows)
{
	__atomic_store_n(&pvlock__backend_knows, knows, __ATOMIC_RELAXED);
}

int pvlock__pv_slot_state(const struct pvlock_slot *slot)
{
	if (!pvlock__backend_knows)
		return PVLOCK_SLOT_UNKNOWN;
	return pvlock__pv_vcpu_is_preempted(slot) ? PVLOCK_SLOT_RUNNABLE : PVLOCK_SLOT_RUNNING;
}

uint64_t pvlock__pv_steal_ns(const struct pvlock_slot *slot)
{
	return pv_steal_ns(slot->index);
}

/* Nobody else runs on this vCPU, so there is nothing to give the CPU to;
 * pause and try again.  (Steal yields are off here: pvlock__steal_yields.) */
void pvlock__pv_yield(void)
{
	__builtin_ia32_pause();
}

/* The tail we replaced must name a queued node of an online vCPU. */
void pvlock__check_prev(union pvlock_qspin *lock, uint32_t tail, const struct qnode *node)
{
	uint32_t s = (tail >> 18) - 1;
	int idx = (int)((tail >> 16) & 3);

	if (s < ncpus && &pvlock__slots[s].qnodes[idx] != node &&
	    __atomic_load_n(&pvlock__slots[s].qnodes[0].count, __ATOMIC_RELAXED) > idx)
		return;
	pvlock__fatal_word("pvlock_lock", lock, *(volatile uint32_t *)lock,
			   "the queue tail names a waiter that does not exist", true);
}

void pvlock__report_bad_unlock(const char *function, const void *lock, uint32_t word,
			       bool corrupt)
{
	kprintf("FAIL: guest: %s(%p) on a lock that was not locked (word %x%s)\n",
		function, lock, word, corrupt ? ", corrupt" : "");
}

void pvlock__fatal(const char *what, const void *lock)
{
	panic("pvlock: %s (lock %p)", what, lock);
}

void pvlock__fatal_word(const char *function, const void *lock, uint32_t word,
			const char *what, bool corrupt)
{
	panic("pvlock: %s(%p): %s (lock word %x%s)", function, lock, what, word,
	      corrupt ? "; memory corrupt?" : "");
}
