/*
 * preload_api.c - what the preload_api_* programs share (lib/preload_api.h).
 */
#define _GNU_SOURCE
#include "lib/preload_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/preload.h"

const char *test_api_kind;

void test_in_ms(struct timespec *t, clockid_t clock, long ms)
{
	clock_gettime(clock, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

int test_by_pvlock(pthread_mutex_t *m)
{
	return m->__data.__owner == 0 && m->__data.__count == 1;
}

static long counter;

static void *add_loop(void *arg)
{
	pthread_mutex_t *m = arg;

	for (int i = 0; i < TEST_API_ROUNDS; i++) {
		pthread_mutex_lock(m);
		long c = counter;
		__asm__ __volatile__("" ::: "memory");
		counter = c + 1;
		pthread_mutex_unlock(m);
	}
	return NULL;
}

void test_exclusion(pthread_mutex_t *m)
{
	test_thread t[TEST_API_THREADS];

	counter = 0;
	for (int i = 0; i < TEST_API_THREADS; i++)
		t[i] = test_start(add_loop, m);
	for (int i = 0; i < TEST_API_THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(counter, TEST_API_THREADS * TEST_API_ROUNDS);
}

static void *pong(void *arg)
{
	struct test_pingpong *p = arg;

	for (int i = 0; i < TEST_API_ROUNDS; i++) {
		pthread_mutex_lock(&p->m);
		while (p->turn != 1)
			pthread_cond_wait(&p->c, &p->m);
		p->turn = 0;
		pthread_mutex_unlock(&p->m);
		pthread_cond_signal(&p->c);	/* outside the mutex, allowed */
	}
	return NULL;
}

void test_ping(struct test_pingpong *p)
{
	test_thread t = test_start(pong, p);

	for (int i = 0; i < TEST_API_ROUNDS; i++) {
		pthread_mutex_lock(&p->m);
		while (p->turn != 0)
			pthread_cond_wait(&p->c, &p->m);
		p->turn = 1;
		pthread_cond_signal(&p->c);
		pthread_mutex_unlock(&p->m);
	}
	test_join(t);
}

int test_api_main(char **argv, const struct test_api_case *reference, size_t nreference,
		  const struct test_api_case *cases, size_t ncases)
{
	char name[200];

	if (!getenv("PVLOCK_PRELOAD_TEST_RUN")) {
		if (UNDER_TSAN) {
			/* TSan's runtime intercepts pthread_* itself, and binds
			 * its condvar calls to glibc's versioned symbols, past any
			 * preload: pvlock mutexes would meet glibc condvars. */
			printf("SKIP: preload: ThreadSanitizer intercepts pthread_* in the "
			       "program itself; a preload cannot take its place\n");
			return 0;
		}
		for (size_t i = 0; i < nreference; i++) {
			snprintf(name, sizeof name, "glibc [reference]: %s", reference[i].name);
			test_run(name, -1, reference[i].fn);
		}
		int failed = test_finish();
		failed |= test_preload_runs(argv, "PVLOCK_PRELOAD_TEST_RUN", TEST_PRELOAD_MODE_ENV);
		return failed;
	}
	test_api_kind = getenv("PVLOCK_PRELOAD_LOCK");
	for (size_t i = 0; i < ncases; i++) {
		snprintf(name, sizeof name, "preload [%s]: %s", test_api_kind, cases[i].name);
		test_run(name, -1, cases[i].fn);
	}
	return test_finish();
}
