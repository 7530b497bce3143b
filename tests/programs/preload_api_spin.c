/*
 * preload_api_spin.c - conformance of libpvlock-preload.so's spinlocks
 * (docs/preload.md): private spinlocks are pvlock's, exclusive, with
 * trylock's EBUSY; process-shared ones stay glibc's across fork.  And fork
 * with a held, contended mutex: the child's own mutexes, spinlocks and
 * condvars work.
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

/* ---- spinlocks ------------------------------------------------------------------ */
static pthread_spinlock_t spin;

static void *spin_loop(void *arg)
{
	long *n = arg;

	for (int i = 0; i < TEST_API_ROUNDS; i++) {
		pthread_spin_lock(&spin);
		long c = *n;
		__asm__ __volatile__("" ::: "memory");
		*n = c + 1;
		pthread_spin_unlock(&spin);
	}
	return NULL;
}

static void *spin_try_other(void *arg)
{
	return (void *)(long)pthread_spin_trylock(arg);
}

static void case_spinlock(void)
{
	test_thread t[TEST_API_THREADS];
	long n = 0;

	CHECK_EQ(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_EQ(pthread_spin_trylock(&spin), 0);
	CHECK_EQ(pthread_spin_trylock(&spin), EBUSY);
	CHECK_EQ((long)test_join(test_start(spin_try_other, (void *)&spin)), EBUSY);
	/* pvlock's word: the ticket lock's tail moves by 2, the others hold 1. */
	CHECK_EQ(*(volatile uint32_t *)&spin, strcmp(test_api_kind, "ticket") == 0 ? 0x20000u : 1u);
	CHECK_EQ(pthread_spin_unlock(&spin), 0);
	for (int i = 0; i < TEST_API_THREADS; i++)
		t[i] = test_start(spin_loop, &n);
	for (int i = 0; i < TEST_API_THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(n, TEST_API_THREADS * TEST_API_ROUNDS);
	CHECK_EQ(pthread_spin_destroy(&spin), 0);
}

/* A process-shared spinlock stays glibc's: two processes contend on it in
 * shared memory (pvlock's queue, local to one process, would break). */
static void case_spinlock_shared(void)
{
	struct shared { pthread_spinlock_t lock; long n; } *s =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(s != MAP_FAILED);
	CHECK_EQ(pthread_spin_init(&s->lock, PTHREAD_PROCESS_SHARED), 0);
#if defined(__x86_64__)
	/* glibc's x86-64 spinlock is 1 when free and 0 when held: pvlock's
	 * words are the other way round. */
	CHECK_EQ(*(volatile uint32_t *)&s->lock, 1);
	CHECK_EQ(pthread_spin_lock(&s->lock), 0);
	CHECK_EQ(*(volatile uint32_t *)&s->lock, 0);
	CHECK_EQ(pthread_spin_unlock(&s->lock), 0);
#endif
	pid_t child = fork();
	CHECK(child >= 0);
	for (int i = 0; i < 10 * TEST_API_ROUNDS; i++) {
		pthread_spin_lock(&s->lock);
		s->n++;
		pthread_spin_unlock(&s->lock);
	}
	if (child == 0)
		_exit(0);
	int status;
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(s->n, 20 * TEST_API_ROUNDS);
	CHECK_EQ(pthread_spin_destroy(&s->lock), 0);
	/* Initialised PRIVATE, in the same shared memory: still glibc's, and
	 * still a working lock (tests/programs/preload_pshared.c checks whose it is). */
	CHECK_EQ(pthread_spin_init(&s->lock, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_EQ(pthread_spin_lock(&s->lock), 0);
	CHECK_EQ(pthread_spin_trylock(&s->lock), EBUSY);
	CHECK_EQ(pthread_spin_unlock(&s->lock), 0);
}

/* ---- fork ------------------------------------------------------------------------- */
static pthread_mutex_t fork_held = PTHREAD_MUTEX_INITIALIZER;
static int holding;	/* hold_held has fork_held */

static void *contend_held(void *arg)	/* waits on fork_held (sleeps in pv) */
{
	(void)arg;
	pthread_mutex_lock(&fork_held);
	pthread_mutex_unlock(&fork_held);
	return NULL;
}

static void *hold_held(void *arg)
{
	int *release = arg;

	pthread_mutex_lock(&fork_held);
	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(release, __ATOMIC_ACQUIRE))
		test_pause();
	pthread_mutex_unlock(&fork_held);
	return NULL;
}

static void case_fork(void)
{
	int release = 0;
	test_thread holder = test_start(hold_held, &release);
	WAIT_UNTIL(__atomic_load_n(&holding, __ATOMIC_ACQUIRE), 5);
	test_thread waiter1 = test_start(contend_held, NULL);
	test_sleep_ms(30);		/* the waiter is queued, maybe asleep */

	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		/* The child: the copy of fork_held is held by a thread that
		 * does not exist here; its own new locks work. */
		if (pthread_mutex_trylock(&fork_held) != EBUSY)
			_exit(3);
		pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
		test_exclusion(&m);
		case_spinlock();
		struct test_pingpong p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
		test_ping(&p);		/* no lost wake-up */
		_exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	__atomic_store_n(&release, 1, __ATOMIC_RELEASE);
	test_join(holder);
	test_join(waiter1);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	static const struct test_api_case cases[] = {
		{ "spinlock: private on pvlock, trylock EBUSY, exclusive", case_spinlock },
		{ "spinlock: process-shared stays glibc across fork", case_spinlock_shared },
		{ "fork with a held, contended mutex; the child's own locks work", case_fork },
	};

	(void)argc;
	return test_api_main(argv, NULL, 0,
			     cases, TEST_API_COUNT(cases));
}
