/*
 * fault.c - fault injection for tests: the knobs of fault.h, and the seams
 * the library calls (src/runtime/seams.h, PREEMPT_POINT in src/algo/hooks.h).
 * Compiled only into the libraries built with -DPVLOCK_FAULT_INJECTION.
 *
 * Decisions use a per-thread xorshift generator: no locks, no libc random
 * state, safe in signal handlers.
 */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "algo/hooks.h"
#include "runtime/seams.h"
#include "seams/fault.h"

struct pvlock_fault pvlock__fault;
static struct pvlock_fault_counts counts;

bool pvlock__fault_enabled(void)
{
#ifdef PVLOCK_FAULT_INJECTION
	return true;
#else
	return false;
#endif
}

void pvlock__fault_counts_read(struct pvlock_fault_counts *out)
{
	out->spurious_wakeups = __atomic_load_n(&counts.spurious_wakeups, __ATOMIC_RELAXED);
	out->kicks_delayed = __atomic_load_n(&counts.kicks_delayed, __ATOMIC_RELAXED);
	out->kicks_dropped = __atomic_load_n(&counts.kicks_dropped, __ATOMIC_RELAXED);
	out->preemptions = __atomic_load_n(&counts.preemptions, __ATOMIC_RELAXED);
	for (int i = 0; i < PVLOCK_PP_COUNT; i++)
		out->points_passed[i] = __atomic_load_n(&counts.points_passed[i], __ATOMIC_RELAXED);
}

void pvlock__fault_reset(void)
{
	memset(&pvlock__fault, 0, sizeof(pvlock__fault));
	__atomic_store_n(&counts.spurious_wakeups, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counts.kicks_delayed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counts.kicks_dropped, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&counts.preemptions, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < PVLOCK_PP_COUNT; i++)
		__atomic_store_n(&counts.points_passed[i], 0, __ATOMIC_RELAXED);
}

#ifdef PVLOCK_FAULT_INJECTION

static __thread uint64_t rng_state __attribute__((tls_model("initial-exec")));

/* True with probability pct/100. */
static bool chance(unsigned pct)
{
	if (!pct)
		return false;
	uint64_t x = rng_state;
	if (!x)
		x = (uint64_t)(uintptr_t)&rng_state * 0x9e3779b97f4a7c15ull | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return (x >> 32) % 100 < pct;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

bool fault_spurious_wakeup(void)
{
	if (!chance(__atomic_load_n(&pvlock__fault.spurious_wakeup_pct, __ATOMIC_RELAXED)))
		return false;
	__atomic_fetch_add(&counts.spurious_wakeups, 1, __ATOMIC_RELAXED);
	return true;
}

bool fault_drop_kick(void)
{
	if (!__atomic_load_n(&pvlock__fault.drop_kicks, __ATOMIC_RELAXED))
		return false;
	__atomic_fetch_add(&counts.kicks_dropped, 1, __ATOMIC_RELAXED);
	return true;
}

void fault_delay_kick(void)
{
	unsigned us = __atomic_load_n(&pvlock__fault.kick_delay_us, __ATOMIC_RELAXED);

	if (!us)
		return;
	__atomic_fetch_add(&counts.kicks_delayed, 1, __ATOMIC_RELAXED);
	sleep_us(us);
}

unsigned pvlock__fault_max_slots(void)
{
	return __atomic_load_n(&pvlock__fault.max_slots, __ATOMIC_RELAXED);
}

unsigned pvlock__fault_hash_lines(void)
{
	return __atomic_load_n(&pvlock__fault.hash_lines, __ATOMIC_RELAXED);
}

void pvlock__preempt_point(enum pvlock_preempt_point where)
{
	void (*hook)(enum pvlock_preempt_point) =
		__atomic_load_n(&pvlock__fault.point_hook, __ATOMIC_ACQUIRE);

	__atomic_fetch_add(&counts.points_passed[where], 1, __ATOMIC_RELAXED);
	if (hook)
		hook(where);
	if (!chance(__atomic_load_n(&pvlock__fault.preempt_pct, __ATOMIC_RELAXED)))
		return;
	__atomic_fetch_add(&counts.preemptions, 1, __ATOMIC_RELAXED);
	unsigned us = __atomic_load_n(&pvlock__fault.preempt_us, __ATOMIC_RELAXED);
	if (us)
		sleep_us(us);
	else
		sched_yield();
}

void pvlock__fault_unlock_released(void)
{
	pvlock__preempt_point(PVLOCK_PP_UNLOCK_RELEASED);
}

#endif /* PVLOCK_FAULT_INJECTION */
