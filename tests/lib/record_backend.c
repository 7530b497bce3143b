/*
 * record_backend.c - a wait/kick backend for deterministic tests.
 *
 * It wraps the futex backend: waits are counted (with their address) before
 * they block; kicks are counted and, while held, parked per slot and
 * delivered later by rec_hold_kicks(false).  Holding a kick keeps a waiter
 * asleep exactly as long as the case wants, to set up a race on purpose.
 */
#include <pthread.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "lib/check.h"

#define MAX_RECORDED 4096

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static const void *wait_ptrs[MAX_RECORDED];
static unsigned n_waits, n_kicks;
static struct pvlock_slot *held[MAX_RECORDED];
static unsigned n_held;
static bool holding;

static void rec_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	/* Same order as the futex backend: token first, then the check. */
	uint32_t token = __atomic_load_n(&self->token, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(ptr, __ATOMIC_ACQUIRE) != val)
		return;
	pthread_mutex_lock(&rec_lock);
	if (n_waits < MAX_RECORDED)
		wait_ptrs[n_waits] = ptr;
	n_waits++;
	pthread_mutex_unlock(&rec_lock);
	/* Sleep until the token moves: poll, so held kicks stay held. */
	while (__atomic_load_n(&self->token, __ATOMIC_ACQUIRE) == token)
		test_pause();
}

static void deliver(struct pvlock_slot *target)
{
	__atomic_fetch_add(&target->token, 1, __ATOMIC_SEQ_CST);
}

static void rec_kick(struct pvlock_slot *target)
{
	pthread_mutex_lock(&rec_lock);
	n_kicks++;
	if (holding && n_held < MAX_RECORDED) {
		held[n_held++] = target;
		target = NULL;
	}
	pthread_mutex_unlock(&rec_lock);
	if (target)
		deliver(target);
}

/* The knowing variant: every slot but the asking thread's own reads
 * "preempted" while preempt_on is set, and steal time grows by 1000 ns at
 * every read. */
static bool preempt_on;
static uint64_t fake_steal;

static bool rec_preempted(const struct pvlock_slot *slot)
{
	return __atomic_load_n(&preempt_on, __ATOMIC_ACQUIRE) && slot != pvlock__slot_peek();
}

static int rec_slot_state(const struct pvlock_slot *slot)
{
	return rec_preempted(slot) ? PVLOCK_SLOT_RUNNABLE : PVLOCK_SLOT_RUNNING;
}

static uint64_t rec_steal_ns(const struct pvlock_slot *slot)
{
	(void)slot;
	return __atomic_add_fetch(&fake_steal, 1000, __ATOMIC_RELAXED);
}

static const struct pvlock_backend record_backend = {
	.name = "record",
	.wait = rec_wait,
	.kick = rec_kick,
	.vcpu_is_preempted = rec_preempted,
};

static const struct pvlock_backend knowing_backend = {
	.name = "record-knowing",
	.wait = rec_wait,
	.kick = rec_kick,
	.vcpu_is_preempted = rec_preempted,
	.slot_state = rec_slot_state,
	.steal_ns = rec_steal_ns,
};

void rec_install(void)
{
	pvlock__backend_install(&record_backend);
}

void rec_install_knowing(unsigned uses)
{
	pvlock__preempt_uses = uses;
	pvlock__backend_install(&knowing_backend);
}

void rec_set_preempted(bool on)
{
	__atomic_store_n(&preempt_on, on, __ATOMIC_RELEASE);
}

void rec_hold_kicks(bool hold)
{
	pthread_mutex_lock(&rec_lock);
	holding = hold;
	if (!hold) {
		for (unsigned i = 0; i < n_held; i++)
			deliver(held[i]);
		n_held = 0;
	}
	pthread_mutex_unlock(&rec_lock);
}

#define LOCKED_READ(expr) ({ pthread_mutex_lock(&rec_lock); unsigned v_ = (expr); \
	pthread_mutex_unlock(&rec_lock); v_; })

unsigned rec_waits(void) { return LOCKED_READ(n_waits); }
unsigned rec_kicks(void) { return LOCKED_READ(n_kicks); }
unsigned rec_kicks_held(void) { return LOCKED_READ(n_held); }

unsigned rec_waits_on(const void *ptr)
{
	unsigned n = 0;

	pthread_mutex_lock(&rec_lock);
	for (unsigned i = 0; i < n_waits && i < MAX_RECORDED; i++)
		n += wait_ptrs[i] == ptr;
	pthread_mutex_unlock(&rec_lock);
	return n;
}
