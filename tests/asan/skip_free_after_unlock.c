/*
 * skip_free_after_unlock.c - the ticket lock's skip use must not touch the
 * lock after the unlock's release; built with AddressSanitizer
 * (tests/rules.mk), fault injection and the recording backend that "knows"
 * who runs (tests/lib/record_backend.c: every other thread reads
 * preempted, so the skip use considers every waiter).
 *
 * Each round: a heap object holds a ticket lock and a count of its 2 users.
 * The main thread takes the lock and waits until the helper waits for it
 * with the flag set; then each user in turn does
 *
 *     lock; last = (--users == 0); unlock; if (last) free(object);
 *
 * The main thread's unlock releases, finds the helper's record and looks at
 * its claim (the skip use: "not running"), and stops there, at the
 * preemption point TICKET_SKIP_LOOKED, until the helper (polling: every
 * wait returns at once) has taken its turn, unlocked and freed the object.
 * Whatever the unlock does with the lock after that point runs on freed
 * memory: an AddressSanitizer report, and the case dies.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/hooks.h"
#include "lib/asan_options.h"
#include "lib/check.h"

/* Rounds until WINDOWS of them stopped the unlocker at the point (a round
 * misses when the polling helper takes its turn before the unlocker finds
 * its record: nothing to look at then); at most MAX_ROUNDS. */
#define WINDOWS		40
#define MAX_ROUNDS	4000

struct object {
	pvlock_ticket_t lock;
	long users;		/* plain, under the lock */
};

static struct object *current;		/* atomic: this round's object; NULL: done */
static unsigned round_no;		/* atomic: 1, 2, ... */
static unsigned freed_round;		/* atomic: last round whose object was freed */
static pthread_barrier_t round_start, round_end;
static __thread bool stop_here;		/* this thread's unlock stops at the point */
static unsigned long windows, misses;	/* atomic: hook outcomes */

static void finish(struct object *o)
{
	bool last = --o->users == 0;

	pvlock_ticket_unlock(&o->lock);
	if (last) {
		free(o);
		__atomic_store_n(&freed_round, __atomic_load_n(&round_no, __ATOMIC_RELAXED),
				 __ATOMIC_RELEASE);
	}
}

/* The unlocker has read the waiter's claim: hold it until the waiter has
 * taken the lock, released it and freed the object. */
static void looked_hook(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_TICKET_SKIP_LOOKED || !stop_here)
		return;
	stop_here = false;
	unsigned r = __atomic_load_n(&round_no, __ATOMIC_RELAXED);

	/* freed_round: acquire, paired with finish()'s release after free(). */
	if (test_await_equal(&freed_round, r))
		__atomic_fetch_add(&windows, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&misses, 1, __ATOMIC_RELAXED);
}

static void *helper(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&round_start);
		struct object *o = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
		if (!o)
			return NULL;
		pvlock_ticket_lock(&o->lock);	/* held by the main thread */
		finish(o);
		pthread_barrier_wait(&round_end);
	}
}

static void skip_free_case(void)
{
	CHECK(pvlock__fault_enabled());
	rec_install_knowing(PVLOCK_USE_SKIP);
	rec_set_preempted(true);
	CHECK(pvlock_set_spin_threshold(64) == 0);
	pvlock__fault.spurious_wakeup_pct = 100;
	__atomic_store_n(&pvlock__fault.point_hook, looked_hook, __ATOMIC_RELEASE);
	pthread_barrier_init(&round_start, NULL, 2);
	pthread_barrier_init(&round_end, NULL, 2);
	test_thread h = test_start(helper, NULL);

	int rounds = 0;
	for (int r = 0; r < MAX_ROUNDS &&
	     __atomic_load_n(&windows, __ATOMIC_RELAXED) < WINDOWS; r++) {
		struct object *o = malloc(sizeof(*o));

		CHECK(o != NULL);
		memset(o, 0, sizeof(*o));
		o->users = 2;
		pvlock_ticket_lock(&o->lock);
		__atomic_store_n(&round_no, (unsigned)r + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&current, o, __ATOMIC_RELEASE);
		pthread_barrier_wait(&round_start);
		/* The helper holds the next ticket and has set the flag (its
		 * record is published before): our unlock looks for it. */
		WAIT_UNTIL(({ uint32_t v_ = __atomic_load_n(&o->lock.val, __ATOMIC_RELAXED);
			      (v_ & PVLOCK__TICKET_FLAG) &&
			      (uint16_t)((v_ >> 16) - (v_ & ~PVLOCK__TICKET_FLAG & 0xffffu)) ==
			      2 * PVLOCK__TICKET_INC; }), TEST_PATIENCE_S);
		stop_here = true;
		finish(o);		/* the helper follows and frees */
		stop_here = false;
		pthread_barrier_wait(&round_end);
		CHECK_EQ(__atomic_load_n(&freed_round, __ATOMIC_ACQUIRE), r + 1);
		rounds++;
	}
	__atomic_store_n(&current, NULL, __ATOMIC_RELEASE);
	pthread_barrier_wait(&round_start);
	test_join(h);

	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	struct pvlock_stats s = test_stats();
	printf("# %d rounds: hook windows %lu misses %lu; ticket_wait %llu ticket_kick %llu "
	       "ticket_skip %llu\n", rounds, windows, misses,
	       (unsigned long long)s.ticket_wait, (unsigned long long)s.ticket_kick,
	       (unsigned long long)s.ticket_skip);
	if (misses)
		FAIL("%lu times the helper could not take and free the lock while the "
		     "unlocker was stopped after reading its claim", misses);
	/* WINDOWS rounds stopped at the point with the object freed meanwhile,
	 * and the unlock then kicked the (finished) waiter by its slot. */
	CHECK_GE(windows, WINDOWS);
	CHECK_GE(f.points_passed[PVLOCK_PP_TICKET_SKIP_LOOKED], WINDOWS);
	CHECK_GE(s.ticket_kick, WINDOWS);
	CHECK_EQ(s.bad_unlock, 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_run("asan: ticket skip use, the lock freed while the unlocker holds the "
		 "waiter's claim unchecked", PVLOCK_MODE_PV, skip_free_case);
	return test_finish();
}
