/*
 * preload_api_mutex.c - conformance of libpvlock-preload.so's mutexes
 * (docs/preload.md): every pthread_* function is the preload's, and the
 * mutex calls have POSIX's semantics: init, destroy, lock, trylock,
 * timedlock and clocklock on pvlock's mutexes; the kinds glibc keeps give
 * glibc's answers; a mutex destroyed while a thread waits to lock it.
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

/* ---- interposition -------------------------------------------------------------- */
static void case_interposed(void)
{
	static const char *const names[] = {
		"pthread_spin_init", "pthread_spin_lock", "pthread_spin_trylock",
		"pthread_spin_unlock", "pthread_spin_destroy", "pthread_mutex_init",
		"pthread_mutex_destroy", "pthread_mutex_lock", "pthread_mutex_trylock",
		"pthread_mutex_timedlock", "pthread_mutex_clocklock", "pthread_mutex_unlock",
		"pthread_cond_init", "pthread_cond_destroy", "pthread_cond_wait",
		"pthread_cond_timedwait", "pthread_cond_clockwait", "pthread_cond_signal",
		"pthread_cond_broadcast",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		Dl_info info;
		void *f = dlsym(RTLD_DEFAULT, names[i]);
		if (f && dladdr(f, &info) && strstr(info.dli_fname, "libasan"))
			continue;	/* check-asan: its interceptor calls ours
					 * (the other cases show pvlock at work) */
		if (!f || !dladdr(f, &info) || !strstr(info.dli_fname, "libpvlock-preload"))
			FAIL("%s is not the preload's (it is in %s)", names[i],
			     f && dladdr(f, &info) ? info.dli_fname : "nothing");
	}
	/* Only the interposers are exported: pvlock inside stays private. */
	void *lib = dlopen("libpvlock-preload.so", RTLD_NOLOAD | RTLD_LAZY);
	void *f = NULL;
	for (const char *const *n = (const char *const[]){ "pvlock_lock", "pvlock_stats_read",
			"pvlock__qspin_lock_slow", "preload_real", NULL }; *n; n++)
		if (lib && (f = dlsym(lib, *n)))
			FAIL("libpvlock-preload.so exports %s", *n);
	(void)f;
}

/* ---- mutexes ------------------------------------------------------------------- */
static pthread_mutex_t static_mutex = PTHREAD_MUTEX_INITIALIZER;

static void case_static_mutex(void)
{
	CHECK_EQ(pthread_mutex_lock(&static_mutex), 0);
	if (!test_by_pvlock(&static_mutex))
		FAIL("an all-zero mutex was not taken by pvlock (owner %d, count %u)",
		     static_mutex.__data.__owner, static_mutex.__data.__count);
	CHECK_EQ(pthread_mutex_unlock(&static_mutex), 0);
	test_exclusion(&static_mutex);
}

static void case_init_destroy(void)
{
	pthread_mutex_t m;
	pthread_mutexattr_t a;

	CHECK_EQ(pthread_mutex_init(&m, NULL), 0);
	test_exclusion(&m);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(test_by_pvlock(&m));
	CHECK_EQ(pthread_mutex_destroy(&m), EBUSY);	/* locked */
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);
	/* NORMAL and DEFAULT types set explicitly are pvlock's too. */
	int types[] = { PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_DEFAULT };
	for (int i = 0; i < 2; i++) {
		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, types[i]);
		CHECK_EQ(pthread_mutex_init(&m, &a), 0);
		CHECK_EQ(pthread_mutex_lock(&m), 0);
		CHECK(test_by_pvlock(&m));
		CHECK_EQ(pthread_mutex_unlock(&m), 0);
		CHECK_EQ(pthread_mutex_destroy(&m), 0);
		pthread_mutexattr_destroy(&a);
	}
}

static int holding;

static void *hold_for(void *arg)	/* lock, sleep 150 ms, unlock */
{
	pthread_mutex_t *m = arg;

	pthread_mutex_lock(m);
	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	test_sleep_ms(150);
	pthread_mutex_unlock(m);
	return NULL;
}

static void *try_other(void *arg)
{
	return (void *)(long)pthread_mutex_trylock(arg);
}

static void case_trylock(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	CHECK_EQ(pthread_mutex_trylock(&m), 0);
	CHECK(test_by_pvlock(&m));
	CHECK_EQ(pthread_mutex_trylock(&m), EBUSY);		/* self */
	CHECK_EQ((long)test_join(test_start(try_other, &m)), EBUSY);	/* another */
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	long r = (long)test_join(test_start(try_other, &m));
	CHECK_EQ(r, 0);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
}

static void case_timedlock(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	struct timespec t;

	CHECK_EQ(pthread_mutex_lock(&m), 0);
	/* Held: times out, after the deadline, on each clock. */
	clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC };
	for (int i = 0; i < 2; i++) {
		uint64_t start = test_now_ns();
		test_in_ms(&t, clocks[i], 60);
		int r = i == 0 ? pthread_mutex_timedlock(&m, &t)
			       : pthread_mutex_clocklock(&m, clocks[i], &t);
		CHECK_EQ(r, ETIMEDOUT);
		CHECK_GE(test_now_ns() - start, 55000000u);
	}
	/* A deadline in the past, or before 1970: ETIMEDOUT at once. */
	t = (struct timespec){ 1, 0 };
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), ETIMEDOUT);
	t = (struct timespec){ -1, 0 };
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), ETIMEDOUT);
	/* Bad time or clock: EINVAL (glibc checks the time only when it must wait). */
	t = (struct timespec){ 0, 1000000000 };
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), EINVAL);
	test_in_ms(&t, CLOCK_REALTIME, 10);
	CHECK_EQ(pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &t), EINVAL);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	t = (struct timespec){ 0, -1 };
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), 0);		/* free: taken */
	CHECK(test_by_pvlock(&m));
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	/* Released by another thread before the deadline: taken.  (The
	 * deadline is far: the holder's 150 ms must not be cut short by a
	 * loaded machine's scheduling.) */
	test_thread h = test_start(hold_for, &m);
	WAIT_UNTIL(__atomic_load_n(&holding, __ATOMIC_ACQUIRE), 5);
	test_in_ms(&t, CLOCK_MONOTONIC, (long)test_patience_ms());
	CHECK_EQ(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &t), 0);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	test_join(h);
	/* A deadline past what 64-bit nanoseconds hold (after 2554) is as far
	 * off as any other, as for glibc: taken when released.  It once
	 * wrapped round to a deadline in the past (ETIMEDOUT at once). */
	__atomic_store_n(&holding, 0, __ATOMIC_RELAXED);
	h = test_start(hold_for, &m);
	WAIT_UNTIL(__atomic_load_n(&holding, __ATOMIC_ACQUIRE), 5);
	t = (struct timespec){ (time_t)1 << 62, 0 };
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), 0);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	test_join(h);
}

/* Other kinds stay with glibc, and keep glibc's answers. */
static void case_glibc_kinds(void)
{
	pthread_mutex_t m;
	pthread_mutexattr_t a;
	struct timespec t;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	CHECK_EQ(pthread_mutex_init(&m, &a), 0);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(m.__data.__owner != 0);		/* glibc's bookkeeping */
	CHECK_EQ(pthread_mutex_trylock(&m), 0);
	CHECK_EQ((long)test_join(test_start(try_other, &m)), EBUSY);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_mutex_unlock(&m), 0);
	CHECK_EQ(pthread_mutex_unlock(&m), EPERM);
	test_exclusion(&m);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);

	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_EQ(pthread_mutex_init(&m, &a), 0);
	CHECK_EQ(pthread_mutex_unlock(&m), EPERM);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK_EQ(pthread_mutex_lock(&m), EDEADLK);
	test_in_ms(&t, CLOCK_REALTIME, 10);
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), EDEADLK);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);

	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	CHECK_EQ(pthread_mutex_init(&m, &a), 0);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(m.__data.__owner != 0);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	test_exclusion(&m);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);
	pthread_mutexattr_destroy(&a);

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	CHECK_EQ(pthread_mutex_init(&m, &a), 0);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(m.__data.__owner != 0);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);
	pthread_mutexattr_destroy(&a);

	pthread_mutex_t adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
	CHECK_EQ(pthread_mutex_lock(&adaptive), 0);
	CHECK(adaptive.__data.__owner != 0);
	CHECK_EQ(pthread_mutex_unlock(&adaptive), 0);
}

/*
 * stress-ng --pthread's ending (docs/preload-results.md): a mutex destroyed
 * while a thread is still inside pthread_mutex_lock on it.  The late thread
 * read the kind before the destroy and takes the lock after it; its unlock
 * must release it (0).  Under plain glibc, and under the preload before it
 * kept its own mark for destroyed pvlock mutexes, that unlock fails with
 * EINVAL.  Forced: the late thread is parked in a signal handler while the
 * holder unlocks and destroys.  The destroy itself answers 0, or EBUSY for
 * the ticket lock, whose word shows the lock handed to the waiting ticket.
 * A destroyed mutex then answers EINVAL, as glibc's does.
 */
struct late {
	pthread_mutex_t *m;
	int started, parked, release;	/* atomics */
	int lock_ret, unlock_ret;
};
static struct late *late_now;		/* for the signal handler */

static void late_park(int sig)
{
	(void)sig;
	__atomic_store_n(&late_now->parked, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&late_now->release, __ATOMIC_ACQUIRE))
		test_pause();
}

static void *late_locker(void *arg)
{
	struct late *l = arg;

	__atomic_store_n(&l->started, 1, __ATOMIC_RELEASE);
	l->lock_ret = pthread_mutex_lock(l->m);
	l->unlock_ret = l->lock_ret ? -1 : pthread_mutex_unlock(l->m);
	return NULL;
}

/* 1 if the late thread took the lock after the destroy (the case forced);
 * 0 if it reached the kind only after the destroy (not forced: try again). */
static int destroy_under_late_locker(pthread_mutex_t *m)
{
	struct late l = { m, 0, 0, 0, -1, -1 };
	struct timespec t;
	pthread_t id;

	late_now = &l;
	CHECK_EQ(pthread_mutex_lock(m), 0);
	CHECK_EQ(pthread_create(&id, NULL, late_locker, &l), 0);
	WAIT_UNTIL(__atomic_load_n(&l.started, __ATOMIC_ACQUIRE), 10);
	test_sleep_ms(30);		/* waiting inside pthread_mutex_lock */
	CHECK_EQ(pthread_kill(id, SIGUSR1), 0);
	WAIT_UNTIL(__atomic_load_n(&l.parked, __ATOMIC_ACQUIRE), 10);
	CHECK_EQ(pthread_mutex_unlock(m), 0);
	int d = pthread_mutex_destroy(m);
	CHECK(d == 0 || d == EBUSY);
	__atomic_store_n(&l.release, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(id, NULL), 0);
	if (d == 0 && l.lock_ret == EINVAL)
		return 0;
	CHECK_EQ(l.lock_ret, 0);
	CHECK_EQ(l.unlock_ret, 0);
	if (d == 0) {		/* destroyed: glibc's answers */
		CHECK_EQ(pthread_mutex_lock(m), EINVAL);
		CHECK_EQ(pthread_mutex_trylock(m), EINVAL);
		test_in_ms(&t, CLOCK_REALTIME, 10);
		CHECK_EQ(pthread_mutex_timedlock(m, &t), EINVAL);
		CHECK_EQ(pthread_mutex_clocklock(m, CLOCK_REALTIME, &t), EINVAL);
		CHECK_EQ(pthread_mutex_unlock(m), EINVAL);
	}
	CHECK_EQ(pthread_mutex_destroy(m), 0);
	/* and a destroyed mutex can be initialised again */
	CHECK_EQ(pthread_mutex_init(m, NULL), 0);
	CHECK_EQ(pthread_mutex_lock(m), 0);
	CHECK(test_by_pvlock(m));
	CHECK_EQ(pthread_mutex_unlock(m), 0);
	return 1;
}

static void case_destroy_late_locker(void)
{
	struct sigaction sa = { .sa_handler = late_park };

	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	for (int i = 0; i < 10; i++) {
		pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
		if (destroy_under_late_locker(&m))
			return;
	}
	FAIL("the late thread was never inside pthread_mutex_lock at the destroy (10 tries)");
}

int main(int argc, char **argv)
{
	static const struct test_api_case cases[] = {
		{ "every pthread_* function is the preload's", case_interposed },
		{ "all-zero static mutex: pvlock, exclusive", case_static_mutex },
		{ "mutex init/destroy: NORMAL, DEFAULT, NULL attr; destroy locked EBUSY", case_init_destroy },
		{ "mutex trylock: EBUSY when held (self, other), 0 when free", case_trylock },
		{ "mutex timedlock/clocklock: ETIMEDOUT, clocks, EINVAL, taken on release", case_timedlock },
		{ "recursive, errorcheck, robust, shared, adaptive mutexes: glibc's answers", case_glibc_kinds },
		{ "mutex destroyed while a thread waits to lock it: its unlock still works", case_destroy_late_locker },
	};

	(void)argc;
	return test_api_main(argv, NULL, 0,
			     cases, TEST_API_COUNT(cases));
}
