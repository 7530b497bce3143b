/*
 * preload_cond.c - libpvlock-preload.so's condvars and errno, as glibc's
 * (docs/preload.md), once per lock kind (queued, ticket, tas), in pv mode:
 *
 *   - a waiter cancelled right after a signal: another waiter still wakes
 *     (POSIX, pthread_cond_wait: a cancelled thread must not consume a
 *     signal).  Whether the signal reached the cancelled waiter first is
 *     the scheduler's choice; every round must end with the token taken.
 *     tests/unit/preload_cond_seam.c forces the case where it did.
 *   - errno: glibc's pthread_* functions leave it alone, whatever system
 *     calls they make; so must the preload's.
 *
 * The program re-executes itself under LD_PRELOAD, as tests/programs/preload_api_*.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/check.h"
#include "lib/preload.h"
#include "lib/preload_api.h"	/* test_in_ms */

#define SENTINEL 12345		/* no errno value */

/* Call with errno set to the sentinel; fail naming the call if it changed. */
#define KEEPS_ERRNO(call, want) do { \
	errno = SENTINEL; \
	int r_ = (call); \
	int e_ = errno; \
	if (r_ != (want)) FAIL("%s returned %d, expected %d", #call, r_, (int)(want)); \
	if (e_ != SENTINEL) FAIL("%s changed errno to %d (%s)", #call, e_, strerror(e_)); \
} while (0)

/* ---- a waiter cancelled after a signal ------------------------------------------ */
struct round {
	pthread_mutex_t m;
	pthread_cond_t c;
	int tokens, waiting;	/* under m */
	int got[2], timed_out[2];
};

static struct round *cur;

static void unlock_m(void *arg)
{
	pthread_mutex_unlock(arg);
}

static void *token_waiter(void *arg)
{
	int me = (int)(long)arg;
	struct round *r = cur;
	struct timespec t;

	test_in_ms(&t, CLOCK_REALTIME, 10000 * (long)test_time_scale());	/* a hang bound */
	pthread_mutex_lock(&r->m);
	pthread_cleanup_push(unlock_m, &r->m);
	r->waiting++;
	while (!r->tokens) {
		if (pthread_cond_timedwait(&r->c, &r->m, &t) == ETIMEDOUT) {
			r->timed_out[me] = 1;
			break;
		}
	}
	if (r->tokens) {
		r->tokens--;
		r->got[me] = 1;
	}
	pthread_cleanup_pop(1);
	return NULL;
}

static void case_cancel_after_signal(void)
{
	int rounds = 50, raced = 0;

	for (int i = 0; i < rounds; i++) {
		struct round r = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };
		pthread_t t[2];
		void *ret[2];

		cur = &r;
		for (long k = 0; k < 2; k++)
			CHECK_EQ(pthread_create(&t[k], NULL, token_waiter, (void *)k), 0);
		WAIT_UNTIL(({ pthread_mutex_lock(&r.m); int w = r.waiting;
			      pthread_mutex_unlock(&r.m); w == 2; }), 10);
		test_sleep_ms(2);	/* more often asleep in the futex by now */
		pthread_mutex_lock(&r.m);
		r.tokens = 1;
		CHECK_EQ(pthread_cond_signal(&r.c), 0);
		pthread_mutex_unlock(&r.m);
		CHECK_EQ(pthread_cancel(t[0]), 0);
		CHECK_EQ(pthread_join(t[0], &ret[0]), 0);
		pthread_mutex_lock(&r.m);
		if (r.got[0]) {		/* it took the token first: one for waiter 1 */
			r.tokens++;
			CHECK_EQ(pthread_cond_signal(&r.c), 0);
		}
		pthread_mutex_unlock(&r.m);
		CHECK_EQ(pthread_join(t[1], &ret[1]), 0);
		if (r.timed_out[1])
			FAIL("round %d: waiter 0 %s and waiter 1 slept until its hang bound: "
			     "the signal was lost", i, r.got[0] ? "took the token" : "was cancelled");
		CHECK(r.got[1]);
		raced += ret[0] == PTHREAD_CANCELED && r.got[1];
		CHECK_EQ(pthread_cond_destroy(&r.c), 0);
		CHECK_EQ(pthread_mutex_destroy(&r.m), 0);
	}
	printf("# %d of %d rounds: the cancelled waiter left, the other took the token\n",
	       raced, rounds);
	fflush(stdout);
}

/* ---- errno ------------------------------------------------------------------------ */
static pthread_mutex_t em = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ec = PTHREAD_COND_INITIALIZER;
static pthread_spinlock_t es;
static int ewaiting, eflag;	/* under em */

static void *signaller(void *arg)
{
	(void)arg;
	WAIT_UNTIL(({ pthread_mutex_lock(&em); int w = ewaiting; pthread_mutex_unlock(&em); w; }), 10);
	KEEPS_ERRNO(pthread_mutex_lock(&em), 0);
	eflag = 1;
	KEEPS_ERRNO(pthread_cond_signal(&ec), 0);
	KEEPS_ERRNO(pthread_cond_broadcast(&ec), 0);
	KEEPS_ERRNO(pthread_mutex_unlock(&em), 0);
	return NULL;
}

static void *contender(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		KEEPS_ERRNO(pthread_mutex_lock(&em), 0);
		errno = SENTINEL;
		int r = pthread_mutex_trylock(&em);
		if (r != EBUSY || errno != SENTINEL)
			FAIL("pthread_mutex_trylock of a held mutex: %d, errno %d", r, errno);
		KEEPS_ERRNO(pthread_mutex_unlock(&em), 0);
		KEEPS_ERRNO(pthread_spin_lock(&es), 0);
		KEEPS_ERRNO(pthread_spin_unlock(&es), 0);
		errno = SENTINEL;
		if (pthread_spin_trylock(&es) == 0)
			KEEPS_ERRNO(pthread_spin_unlock(&es), 0);
		if (errno != SENTINEL)
			FAIL("pthread_spin_trylock changed errno to %d", errno);
	}
	return NULL;
}

static void case_errno(void)
{
	struct timespec t;

	KEEPS_ERRNO(pthread_spin_init(&es, PTHREAD_PROCESS_PRIVATE), 0);
	/* Timing out: the futex wait fails with ETIMEDOUT. */
	for (int i = 0; i < 20; i++) {
		KEEPS_ERRNO(pthread_mutex_lock(&em), 0);
		test_in_ms(&t, CLOCK_REALTIME, 1);
		KEEPS_ERRNO(pthread_cond_timedwait(&ec, &em, &t), ETIMEDOUT);
		clock_gettime(CLOCK_MONOTONIC, &t);
		KEEPS_ERRNO(pthread_cond_clockwait(&ec, &em, CLOCK_MONOTONIC, &t), ETIMEDOUT);
		KEEPS_ERRNO(pthread_mutex_unlock(&em), 0);
	}
	/* Woken by a signal. */
	pthread_t s;
	CHECK_EQ(pthread_create(&s, NULL, signaller, NULL), 0);
	KEEPS_ERRNO(pthread_mutex_lock(&em), 0);
	ewaiting = 1;
	test_in_ms(&t, CLOCK_REALTIME, 20000 * (long)test_time_scale());	/* a hang bound */
	while (!eflag)
		KEEPS_ERRNO(pthread_cond_timedwait(&ec, &em, &t), 0);
	KEEPS_ERRNO(pthread_mutex_unlock(&em), 0);
	CHECK_EQ(pthread_join(s, NULL), 0);
	/* Contended mutex and spinlock: pv waits and kicks. */
	pthread_t c[4];
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&c[i], NULL, contender, NULL), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_join(c[i], NULL), 0);
	KEEPS_ERRNO(pthread_cond_destroy(&ec), 0);
	KEEPS_ERRNO(pthread_spin_destroy(&es), 0);
}

/* ---- main: once per kind, under the preload ---------------------------------------- */
int main(int argc, char **argv)
{
	(void)argc;
	if (!getenv("PVLOCK_PRELOAD_TEST_RUN")) {
		if (UNDER_TSAN) {
			printf("SKIP: preload cond: ThreadSanitizer intercepts pthread_* in the "
			       "program itself; a preload cannot take its place\n");
			return 0;
		}
		return test_preload_runs(argv, "PVLOCK_PRELOAD_TEST_RUN", TEST_PRELOAD_PV);
	}
	const char *kind = getenv("PVLOCK_PRELOAD_LOCK");
	char name[200];

	snprintf(name, sizeof name, "preload cond [%s]: a waiter cancelled right after a "
		 "signal: the other waiter still wakes (50 rounds)", kind);
	test_run(name, -1, case_cancel_after_signal);
	snprintf(name, sizeof name, "preload cond [%s]: errno unchanged by cond, mutex and "
		 "spin functions (timed out, woken, contended)", kind);
	test_run(name, -1, case_errno);
	return test_finish();
}
