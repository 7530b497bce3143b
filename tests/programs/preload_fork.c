/*
 * preload_fork.c - the pthread_atfork idiom under libpvlock-preload.so
 * while other threads wait on the mutex (docs/preload.md, "fork").
 *
 * The prepare handler locks the mutex, the parent and child handlers each
 * unlock it.  Two threads wait on the mutex at the fork (the prepare handler
 * waits until the mutex word shows them, before it returns).  The child's
 * unlock, and its lock and unlock after it, must work as under glibc: they
 * find the word repaired by pvlock's fork handler, which runs first.
 *
 * The program re-executes itself under LD_PRELOAD once per lock kind and
 * mode (PVLOCK_PRELOAD_LOCK, PVLOCK_MODE), through tests/lib/preload.c.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/check.h"
#include "lib/preload.h"

static const char *kind;	/* PVLOCK_PRELOAD_LOCK of this run */
static bool pv;			/* PVLOCK_MODE=pv */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int arrived;		/* waiters about to lock */
static int tids[2];		/* their thread ids */
static test_thread waiters[2];

static void *waiter(void *arg)
{
	/* Release: the tid before the count, which the prepare handler reads
	 * with acquire. */
	__atomic_store_n(&tids[(long)arg], (int)gettid(), __ATOMIC_RELAXED);
	__atomic_fetch_add(&arrived, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	return NULL;
}

/* The preload keeps the pvlock word in the mutex's own lock word. */
static uint32_t word(void)
{
	/* A test's look (relaxed): the waiters are driving it. */
	return __atomic_load_n((uint32_t *)&m.__data.__lock, __ATOMIC_RELAXED);
}

/* Both waiters have left their marks in the word (the test-and-set lock's
 * waiters leave none: for it, both have arrived at the lock). */
static bool waiters_in(void)
{
	uint32_t val = word();

	if (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < 2)
		return false;
	/* pv: both asleep (the head in its wait, the other queued behind it;
	 * the CAS kind of unlock also shows SLOW in the word) */
	if (strcmp(kind, "queued") == 0)
		return pv ? (val >> 16) && test_tid_asleep(tids[0]) && test_tid_asleep(tids[1]) :
			    (val & 0xff00) && (val >> 16);	/* pending, queued */
	if (strcmp(kind, "ticket") == 0)	/* two tickets; pv: one sleeps */
		return (uint16_t)((val >> 16) - (val & ~PVLOCK__TICKET_FLAG)) >= 6 &&
		       (!pv || (val & PVLOCK__TICKET_FLAG));
	return true;
}

static void prepare(void)
{
	pthread_mutex_lock(&m);
	for (int i = 0; i < 2; i++)
		waiters[i] = test_start(waiter, (void *)(long)i);
	WAIT_UNTIL(waiters_in(), TEST_PATIENCE_S);
}

static void unlock_m(void)
{
	pthread_mutex_unlock(&m);
}

static void case_atfork(void)
{
	CHECK(pthread_atfork(prepare, unlock_m, unlock_m) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* A hang detector: a dead waiter's mark makes this lock hang. */
		alarm(TEST_PATIENCE_S / 2 * test_time_scale());
		pthread_mutex_lock(&m);
		pthread_mutex_unlock(&m);
		_exit(pthread_mutex_trylock(&m) == 0 && pthread_mutex_unlock(&m) == 0 ? 0 : 10);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	/* The waiters get the mutex after the parent handler's unlock. */
	for (int i = 0; i < 2; i++)
		test_join(waiters[i]);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		FAIL("the child hung on the mutex the dead waiters were waiting on");
	if (WIFSIGNALED(status))
		FAIL("the child died of signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) == 10)
		FAIL("the child's mutex was not free after its unlock");
	CHECK_EQ(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getenv("PVLOCK_PRELOAD_TEST_RUN")) {
		const char *mode = getenv("PVLOCK_MODE");
		char name[200];

		kind = getenv("PVLOCK_PRELOAD_LOCK");
		pv = mode && strcmp(mode, "pv") == 0;
		snprintf(name, sizeof name, "preload [%s, %s]: pthread_atfork lock/unlock/unlock "
			 "while two threads wait: the child's mutex works", kind, mode);
		test_run(name, -1, case_atfork);
		return test_finish();
	}
	if (UNDER_TSAN) {	/* as tests/programs/preload_api_*.c */
		printf("SKIP: preload fork: ThreadSanitizer intercepts pthread_* in the program "
		       "itself; a preload cannot take its place\n");
		return 0;
	}
	return test_preload_each(argv, "PVLOCK_PRELOAD_TEST_RUN");
}
