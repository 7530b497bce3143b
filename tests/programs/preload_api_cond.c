/*
 * preload_api_cond.c - conformance of libpvlock-preload.so's condition
 * variables (docs/preload.md): signal and broadcast with pvlock's mutexes
 * and with those glibc keeps, timed waits and their clocks, no lost
 * wake-up, cancellation inside a wait, destroying a mutex that a condvar
 * wait still refers to, and process-shared condvars.
 *
 * The program re-executes itself under LD_PRELOAD of build/lib/
 * libpvlock-preload.so, once per lock kind (queued, ticket, tas); each case
 * runs in a forked child (tests/lib/check.c, tests/lib/preload_api.c).
 * That pvlock really took a mutex shows in the mutex itself: glibc records
 * the owner's thread id in __owner, pvlock does not, and pvlock marks a
 * mutex it has counted in __count.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/check.h"
#include "lib/preload_api.h"

/* ---- condition variables ---------------------------------------------------------- */
struct waiters {
	pthread_mutex_t *m;
	pthread_cond_t *c;
	int go;			/* under m */
	int waiting;		/* under m: inside wait */
	int woken;		/* under m */
};

static void *waiter(void *arg)
{
	struct waiters *w = arg;

	pthread_mutex_lock(w->m);
	w->waiting++;
	while (!w->go)
		CHECK_EQ(pthread_cond_wait(w->c, w->m), 0);
	w->go--;		/* one token per wake-up: signal tests count */
	w->woken++;
	w->waiting--;
	pthread_mutex_unlock(w->m);
	return NULL;
}

static void signal_and_broadcast(pthread_mutex_t *m)
{
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct waiters w = { m, &c, 0, 0, 0 };
	test_thread t[TEST_API_THREADS];

	for (int i = 0; i < TEST_API_THREADS; i++)
		t[i] = test_start(waiter, &w);
	WAIT_UNTIL(({ pthread_mutex_lock(m); int n = w.waiting; pthread_mutex_unlock(m);
		      n == TEST_API_THREADS; }), 10);
	/* signal wakes at least one */
	pthread_mutex_lock(m);
	w.go = 1;
	CHECK_EQ(pthread_cond_signal(&c), 0);
	pthread_mutex_unlock(m);
	WAIT_UNTIL(({ pthread_mutex_lock(m); int n = w.woken; pthread_mutex_unlock(m);
		      n == 1; }), 10);
	/* broadcast wakes the other N-1 */
	pthread_mutex_lock(m);
	w.go = TEST_API_THREADS - 1;
	CHECK_EQ(pthread_cond_broadcast(&c), 0);
	pthread_mutex_unlock(m);
	for (int i = 0; i < TEST_API_THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(w.woken, TEST_API_THREADS);
	CHECK_EQ(pthread_cond_destroy(&c), 0);
}

static void case_cond_pvlock_mutex(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	signal_and_broadcast(&m);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(test_by_pvlock(&m));
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
}

/* Condvars with mutexes glibc keeps, and the two kinds mixed in one program. */
static void case_cond_glibc_mutex(void)
{
	pthread_mutex_t r, e, p = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&r, &a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&e, &a);
	signal_and_broadcast(&r);
	signal_and_broadcast(&e);
	/* glibc's error for a wait without owning an error-checking mutex */
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	CHECK_EQ(pthread_cond_wait(&c, &e), EPERM);
	/* mixed: pvlock mutex p nested inside glibc's r, under contention */
	test_exclusion(&p);
	pthread_mutex_lock(&r);
	pthread_mutex_lock(&p);
	CHECK(test_by_pvlock(&p) && r.__data.__owner != 0);
	pthread_mutex_unlock(&p);
	pthread_mutex_unlock(&r);
	pthread_mutex_destroy(&r);
	pthread_mutex_destroy(&e);
	pthread_mutexattr_destroy(&a);
}

static void case_cond_timed(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER, cm;
	pthread_condattr_t a;
	struct timespec t;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	CHECK_EQ(pthread_cond_init(&cm, &a), 0);
	pthread_mutex_lock(&m);
	uint64_t start = test_now_ns();
	test_in_ms(&t, CLOCK_REALTIME, 50);
	CHECK_EQ(pthread_cond_timedwait(&c, &m, &t), ETIMEDOUT);
	CHECK_GE(test_now_ns() - start, 45000000u);
	CHECK_EQ(pthread_mutex_trylock(&m), EBUSY);		/* held again */
	/* the condvar's own clock: monotonic */
	start = test_now_ns();
	test_in_ms(&t, CLOCK_MONOTONIC, 50);
	CHECK_EQ(pthread_cond_timedwait(&cm, &m, &t), ETIMEDOUT);
	CHECK_GE(test_now_ns() - start, 45000000u);
	/* a monotonic deadline given to a realtime condvar would be decades
	 * ago: ETIMEDOUT at once, proving the clock is honoured.  "At once"
	 * against a wait of the patience (60 s) if the clock were not: half
	 * of it, which no scheduling delay of a loaded machine reaches. */
	start = test_now_ns();
	test_in_ms(&t, CLOCK_MONOTONIC, (long)test_patience_ms());
	CHECK_EQ(pthread_cond_timedwait(&c, &m, &t), ETIMEDOUT);
	CHECK(test_now_ns() - start < test_patience_ns() / 2);
	start = test_now_ns();
	test_in_ms(&t, CLOCK_MONOTONIC, 50);
	CHECK_EQ(pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &t), ETIMEDOUT);
	CHECK_GE(test_now_ns() - start, 45000000u);
	CHECK_EQ(pthread_cond_clockwait(&c, &m, CLOCK_THREAD_CPUTIME_ID, &t), EINVAL);
	t.tv_nsec = -5;
	CHECK_EQ(pthread_cond_timedwait(&c, &m, &t), EINVAL);
	CHECK_EQ(pthread_cond_clockwait(&c, &m, CLOCK_REALTIME, &t), EINVAL);
	pthread_mutex_unlock(&m);
	CHECK_EQ(pthread_cond_destroy(&cm), 0);
	pthread_condattr_destroy(&a);
}

static void case_cond_no_lost_wakeup(void)
{
	struct test_pingpong p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

	test_ping(&p);
}

/* Cancelled inside wait: the cancellation handler runs with the mutex held. */
struct cancelled { pthread_mutex_t *m; pthread_cond_t c; int waiting; int held; };

static void cancel_handler(void *arg)
{
	struct cancelled *x = arg;

	/* Held by us: an error-checking mutex unlocks only for its owner; a
	 * pvlock mutex is busy (nobody else takes it during the test). */
	x->held = pthread_mutex_trylock(x->m) == EBUSY || x->m->__data.__kind != 0;
	x->held = x->held && pthread_mutex_unlock(x->m) == 0;
}

static void *cancel_waiter(void *arg)
{
	struct cancelled *x = arg;

	pthread_mutex_lock(x->m);
	pthread_cleanup_push(cancel_handler, x);
	x->waiting = 1;
	for (;;)
		pthread_cond_wait(&x->c, x->m);
	pthread_cleanup_pop(0);
	return NULL;
}

static void cancel_in_wait(pthread_mutex_t *m, const pthread_condattr_t *ca)
{
	struct cancelled x = { m, PTHREAD_COND_INITIALIZER, 0, 0 };
	pthread_t t;

	CHECK_EQ(pthread_cond_init(&x.c, ca), 0);

	CHECK_EQ(pthread_create(&t, NULL, cancel_waiter, &x), 0);
	WAIT_UNTIL(({ pthread_mutex_lock(m); int w = x.waiting; pthread_mutex_unlock(m); w; }), 10);
	test_sleep_ms(20);		/* well inside the futex wait */
	CHECK_EQ(pthread_cancel(t), 0);
	void *ret;
	CHECK_EQ(pthread_join(t, &ret), 0);
	CHECK(ret == PTHREAD_CANCELED);
	CHECK(x.held);
	CHECK_EQ(pthread_mutex_trylock(m), 0);		/* and released by it */
	CHECK_EQ(pthread_mutex_unlock(m), 0);
	CHECK_EQ(pthread_cond_destroy(&x.c), 0);	/* no waiter left behind */
	CHECK_EQ(m->__data.__nusers, 0u);		/* nor its reference to m */
}

static void case_cond_cancel(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, e;
	pthread_mutexattr_t a;

	cancel_in_wait(&m, NULL);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&e, &a);
	cancel_in_wait(&e, NULL);
	pthread_mutex_destroy(&e);
	pthread_mutexattr_destroy(&a);
}

/*
 * Destroying a mutex that another thread waits on a condvar with: EBUSY, as
 * glibc answers (it counts the waiter in the mutex's __nusers until it has
 * relocked).  The waiter then wakes, relocks and unlocks with 0.  Before the
 * preload's waits counted themselves the destroy succeeded, and the waiter's
 * relock and its unlock failed with EINVAL (docs/preload-results.md).
 * main() runs this on plain glibc too, so glibc's answer is checked, not
 * assumed.
 */
struct referenced {
	pthread_mutex_t *m;
	pthread_cond_t c;
	int waiting, go;	/* under m */
	int wait_ret, unlock_ret;
};

static void *referencing_waiter(void *arg)
{
	struct referenced *r = arg;
	int ret = 0;

	pthread_mutex_lock(r->m);
	r->waiting = 1;
	while (!r->go && ret == 0)
		ret = pthread_cond_wait(&r->c, r->m);
	r->wait_ret = ret;
	r->unlock_ret = pthread_mutex_unlock(r->m);
	return NULL;
}

static void destroy_while_waited_with(pthread_mutex_t *m)
{
	struct referenced r = { m, PTHREAD_COND_INITIALIZER, 0, 0, -1, -1 };
	test_thread t = test_start(referencing_waiter, &r);

	/* Once we can take m and see `waiting`, the waiter is inside the wait
	 * for good (go is 0): asleep, or relocking after a spurious wake-up. */
	WAIT_UNTIL(({ pthread_mutex_lock(m); int w = r.waiting; pthread_mutex_unlock(m); w; }), 10);
	CHECK_EQ(pthread_mutex_destroy(m), EBUSY);
	pthread_mutex_lock(m);
	r.go = 1;
	CHECK_EQ(pthread_cond_signal(&r.c), 0);
	pthread_mutex_unlock(m);
	test_join(t);
	CHECK_EQ(r.wait_ret, 0);
	CHECK_EQ(r.unlock_ret, 0);
	CHECK_EQ(pthread_mutex_destroy(m), 0);		/* no reference left */
	CHECK_EQ(pthread_cond_destroy(&r.c), 0);
}

static void case_destroy_waited_with(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutexattr_t a;

	destroy_while_waited_with(&m);
	int types[] = { PTHREAD_MUTEX_ERRORCHECK, PTHREAD_MUTEX_RECURSIVE };
	for (int i = 0; i < 2; i++) {
		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, types[i]);
		CHECK_EQ(pthread_mutex_init(&m, &a), 0);
		destroy_while_waited_with(&m);
		pthread_mutexattr_destroy(&a);
	}
}

/* A process-shared condvar and mutex stay glibc's, across processes. */
static void case_cond_shared(void)
{
	struct shared { pthread_mutex_t m; pthread_cond_t c; int turn; } *s =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;

	CHECK(s != MAP_FAILED);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	CHECK_EQ(pthread_mutex_init(&s->m, &ma), 0);
	CHECK_EQ(pthread_cond_init(&s->c, &ca), 0);
	CHECK(s->c.__data.__wrefs & 1);		/* glibc's own shared condvar */
	pid_t child = fork();
	CHECK(child >= 0);
	int me = child == 0;
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&s->m);
		while (s->turn != me)
			pthread_cond_wait(&s->c, &s->m);
		s->turn = !me;
		pthread_cond_signal(&s->c);
		pthread_mutex_unlock(&s->m);
	}
	if (child == 0)
		_exit(0);
	int status;
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct timespec t;
	pthread_mutex_lock(&s->m);
	test_in_ms(&t, CLOCK_REALTIME, 20);
	CHECK_EQ(pthread_cond_timedwait(&s->c, &s->m, &t), ETIMEDOUT);
	pthread_mutex_unlock(&s->m);
	CHECK_EQ(pthread_cond_broadcast(&s->c), 0);
	CHECK_EQ(pthread_cond_destroy(&s->c), 0);
	CHECK_EQ(pthread_mutex_destroy(&s->m), 0);
}

/*
 * A process-shared condvar (glibc's) waited on with a pvlock mutex.  glibc's
 * wait releases and retakes the mutex with its internal functions, which
 * wrote glibc's values into the pvlock word: the unlock after a timed wait
 * printed pvlock's misuse report and left the mutex held for good (the
 * trylock below failed), and a ping-pong hung.  The preload bridges such
 * waits through a glibc mutex of its own.
 */
static void case_cond_shared_pvlock_mutex(void)
{
	struct test_pingpong p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	pthread_condattr_t ca;
	struct timespec t;

	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	CHECK_EQ(pthread_cond_init(&p.c, &ca), 0);
	CHECK(p.c.__data.__wrefs & 1);		/* glibc's own shared condvar */
	CHECK_EQ(pthread_mutex_lock(&p.m), 0);
	CHECK(test_by_pvlock(&p.m));
	test_in_ms(&t, CLOCK_REALTIME, 20);
	CHECK_EQ(pthread_cond_timedwait(&p.c, &p.m, &t), ETIMEDOUT);
	CHECK_EQ(pthread_mutex_trylock(&p.m), EBUSY);	/* held again */
	test_in_ms(&t, CLOCK_MONOTONIC, 20);
	CHECK_EQ(pthread_cond_clockwait(&p.c, &p.m, CLOCK_MONOTONIC, &t), ETIMEDOUT);
	CHECK_EQ(pthread_mutex_unlock(&p.m), 0);
	CHECK_EQ(pthread_mutex_trylock(&p.m), 0);	/* and really released */
	CHECK_EQ(pthread_mutex_unlock(&p.m), 0);
	test_ping(&p);					/* no lost wake-up */
	cancel_in_wait(&p.m, &ca);
	CHECK_EQ(pthread_cond_destroy(&p.c), 0);
	CHECK_EQ(pthread_mutex_destroy(&p.m), 0);
	pthread_condattr_destroy(&ca);
}

int main(int argc, char **argv)
{
	static const struct test_api_case reference[] = {
		{ "mutex destroy while waited with on a condvar: EBUSY", case_destroy_waited_with },
	};
	static const struct test_api_case cases[] = {
		{ "cond: signal wakes one, broadcast wakes N (pvlock mutex)", case_cond_pvlock_mutex },
		{ "cond: glibc-kept mutexes (recursive, errorcheck EPERM); mixed", case_cond_glibc_mutex },
		{ "cond: timedwait/clockwait ETIMEDOUT on the right clock, EINVAL", case_cond_timed },
		{ "cond: no lost wake-up in 5000 ping-pongs", case_cond_no_lost_wakeup },
		{ "cond: cancelled wait holds the mutex (pvlock, errorcheck)", case_cond_cancel },
		{ "mutex destroy while waited with on a condvar: EBUSY, as glibc", case_destroy_waited_with },
		{ "cond: process-shared condvar and mutex stay glibc", case_cond_shared },
		{ "cond: process-shared condvar with a pvlock mutex (bridged)", case_cond_shared_pvlock_mutex },
	};

	(void)argc;
	return test_api_main(argv, reference, TEST_API_COUNT(reference),
			     cases, TEST_API_COUNT(cases));
}
