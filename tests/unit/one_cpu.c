/*
 * one_cpu.c - a process that can run one thread at a time does not spin.
 *
 * With one CPU in the affinity mask, a pv waiter that spins only keeps the
 * holder it waits for off the CPU.  src/runtime/cpus.c notices (at start,
 * after fork, and every so many pv waits) and the pv slow paths then look
 * once and sleep (queued, ticket) or yield (test-and-set, steal).  Each case
 * shows through pv_one_cpu that the lock took that path, and native mode,
 * which spins as told, never does.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "lib/check.h"
#include "runtime/internal.h"

static cpu_set_t all_cpus;

/* The lowest CPU of the current mask, which is all_cpus' lowest: the cases
 * pin only to that CPU, and unpin back to all_cpus. */
static void pin_to_one_cpu(void)
{
	if (!test_pin_to_one_cpu())
		FAIL("sched_setaffinity to one CPU failed");
}

static void unpin(void)
{
	if (sched_setaffinity(0, sizeof(all_cpus), &all_cpus))
		FAIL("sched_setaffinity back to every CPU failed");
}

/* The affinity mask decides, at every look. */
static void case_affinity_look(void)
{
	pin_to_one_cpu();
	pvlock__cpus_look();
	CHECK(pvlock__one_cpu);
	unpin();
	pvlock__cpus_look();
	CHECK(!pvlock__one_cpu);
}

/* A mask changed behind the library's back is seen after some pv waits. */
static void case_look_again_after_waits(void)
{
	pin_to_one_cpu();
	CHECK(!pvlock__one_cpu);
	unsigned ticks = 0;
	while (!__atomic_load_n(&pvlock__one_cpu, __ATOMIC_RELAXED) && ticks < 100000) {
		pvlock__cpus_wait_tick();
		ticks++;
	}
	CHECK(pvlock__one_cpu);
	CHECK(ticks > 1);	/* not at every wait: a syscall there would cost */
}

/* The pv budgets: one look before sleeping, no failed steal look. */
static void case_budgets(void)
{
	pvlock_set_spin_threshold(1000);
	pvlock_set_steal_spin(7);
	CHECK_EQ(pv_spin_budget(), 1000);
	CHECK_EQ(pv_steal_budget(), 7);
	__atomic_store_n(&pvlock__one_cpu, true, __ATOMIC_RELAXED);
	CHECK_EQ(pv_spin_budget(), 1);
	CHECK_EQ(pv_steal_budget(), 0);
	CHECK_EQ(spin_threshold(), 1000);	/* native mode spins as told */
}

/* ---- contention on one CPU, one case per lock kind ---- */

static pvlock_t qlock;
static pvlock_ticket_t tlock;
static pvlock_tas_t slock;
static int kind;		/* 0 queued, 1 ticket, 2 test-and-set */
static int waiter_done;

static void take(void)
{
	if (kind == 0)
		pvlock_lock(&qlock);
	else if (kind == 1)
		pvlock_ticket_lock(&tlock);
	else
		pvlock_tas_lock(&slock);
}

static void give(void)
{
	if (kind == 0)
		pvlock_unlock(&qlock);
	else if (kind == 1)
		pvlock_ticket_unlock(&tlock);
	else
		pvlock_tas_unlock(&slock);
}

static void *waiter(void *arg)
{
	(void)arg;
	take();
	give();
	__atomic_store_n(&waiter_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A waiter that entered its slow path: the wait it takes next tells. */
static bool waiter_in_slow_path(void)
{
	struct pvlock_stats s = test_stats();

	/* Queued: pending set, or a tail published (native takes the pending
	 * path, which counts only once it has the lock). */
	return kind == 0 ? pvlock_is_contended(&qlock) : kind == 1 ? s.ticket_slowpath >= 1
							     : s.tas_slowpath >= 1;
}

static void contend_on_one_cpu(void)
{
	bool pv = pvlock_get_mode() == PVLOCK_MODE_PV;

	/* A spin round this long would hold the one CPU for a long time;
	 * the case shows by its counters that no round was spun. */
	pvlock_set_spin_threshold(PVLOCK_SPIN_THRESHOLD_MAX);
	pvlock_set_steal_yields(0);
	pin_to_one_cpu();
	pvlock__cpus_look();
	CHECK(pvlock__one_cpu);

	take();
	test_thread t = test_start(waiter, NULL);
	WAIT_UNTIL(waiter_in_slow_path(), TEST_PATIENCE_S);
	if (pv && kind == 0)	/* the head hashed itself and slept */
		WAIT_UNTIL(test_stats().pv_wait_head >= 1, TEST_PATIENCE_S);
	if (pv && kind == 1)
		WAIT_UNTIL(test_stats().ticket_wait >= 1, TEST_PATIENCE_S);
	give();
	test_join(t);
	CHECK(__atomic_load_n(&waiter_done, __ATOMIC_ACQUIRE));

	struct pvlock_stats s = test_stats();
	if (pv)
		CHECK_GE(s.pv_one_cpu, 1);
	else
		CHECK_EQ(s.pv_one_cpu, 0);
}

static void case_queued(void) { kind = 0; contend_on_one_cpu(); }
static void case_ticket(void) { kind = 1; contend_on_one_cpu(); }
static void case_tas(void) { kind = 2; contend_on_one_cpu(); }

int main(void)
{
	if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus))
		return 1;
	if (CPU_COUNT(&all_cpus) >= 2) {
		test_run("affinity_look", -1, case_affinity_look);
		test_run("look_again_after_waits", -1, case_look_again_after_waits);
	} else {
		printf("SKIP: affinity_look: this process has one CPU already\n");
		printf("SKIP: look_again_after_waits: this process has one CPU already\n");
	}
	test_run("budgets", -1, case_budgets);
	test_run_both("queued_one_cpu", case_queued);
	test_run_both("ticket_one_cpu", case_ticket);
	test_run_both("tas_one_cpu", case_tas);
	return test_finish();
}
