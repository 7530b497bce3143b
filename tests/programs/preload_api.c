/*
 * preload_api.c - conformance of libpvlock-preload.so (docs/preload.md):
 * every interposed pthread_* function, with POSIX's semantics, once per
 * lock kind (queued, ticket, tas).
 *
 * The program re-executes itself under LD_PRELOAD of build/lib/
 * libpvlock-preload.so, once per kind; each case runs in a forked child
 * (tests/lib/check.c).  That pvlock really took a mutex shows in the mutex
 * itself: glibc records the owner's thread id in __owner, pvlock does not,
 * and pvlock marks a mutex it has counted in __count.
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
#include "lib/preload.h"

#define THREADS 4
#define ROUNDS 5000	/* per thread: enough to contend, quick on a loaded machine */

static const char *kind;	/* PVLOCK_PRELOAD_LOCK of this run */

/* ---- helpers ---------------------------------------------------------------- */
static void in_ms(struct timespec *t, clockid_t clock, long ms)
{
	clock_gettime(clock, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

static int by_pvlock(pthread_mutex_t *m)	/* call while holding m */
{
	return m->__data.__owner == 0 && m->__data.__count == 1;
}

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
static long counter;

static void *add_loop(void *arg)
{
	pthread_mutex_t *m = arg;

	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(m);
		long c = counter;
		__asm__ __volatile__("" ::: "memory");
		counter = c + 1;
		pthread_mutex_unlock(m);
	}
	return NULL;
}

static void exclusion(pthread_mutex_t *m)
{
	test_thread t[THREADS];

	counter = 0;
	for (int i = 0; i < THREADS; i++)
		t[i] = test_start(add_loop, m);
	for (int i = 0; i < THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(counter, THREADS * ROUNDS);
}

static void case_static_mutex(void)
{
	CHECK_EQ(pthread_mutex_lock(&static_mutex), 0);
	if (!by_pvlock(&static_mutex))
		FAIL("an all-zero mutex was not taken by pvlock (owner %d, count %u)",
		     static_mutex.__data.__owner, static_mutex.__data.__count);
	CHECK_EQ(pthread_mutex_unlock(&static_mutex), 0);
	exclusion(&static_mutex);
}

static void case_init_destroy(void)
{
	pthread_mutex_t m;
	pthread_mutexattr_t a;

	CHECK_EQ(pthread_mutex_init(&m, NULL), 0);
	exclusion(&m);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(by_pvlock(&m));
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
		CHECK(by_pvlock(&m));
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
	CHECK(by_pvlock(&m));
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
		in_ms(&t, clocks[i], 60);
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
	in_ms(&t, CLOCK_REALTIME, 10);
	CHECK_EQ(pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &t), EINVAL);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	t = (struct timespec){ 0, -1 };
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), 0);		/* free: taken */
	CHECK(by_pvlock(&m));
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	/* Released by another thread before the deadline: taken.  (The
	 * deadline is far: the holder's 150 ms must not be cut short by a
	 * loaded machine's scheduling.) */
	test_thread h = test_start(hold_for, &m);
	WAIT_UNTIL(__atomic_load_n(&holding, __ATOMIC_ACQUIRE), 5);
	in_ms(&t, CLOCK_MONOTONIC, (long)test_patience_ms());
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
	exclusion(&m);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);

	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_EQ(pthread_mutex_init(&m, &a), 0);
	CHECK_EQ(pthread_mutex_unlock(&m), EPERM);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK_EQ(pthread_mutex_lock(&m), EDEADLK);
	in_ms(&t, CLOCK_REALTIME, 10);
	CHECK_EQ(pthread_mutex_timedlock(&m, &t), EDEADLK);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	CHECK_EQ(pthread_mutex_destroy(&m), 0);

	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	CHECK_EQ(pthread_mutex_init(&m, &a), 0);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(m.__data.__owner != 0);
	CHECK_EQ(pthread_mutex_unlock(&m), 0);
	exclusion(&m);
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

/* ---- spinlocks ------------------------------------------------------------------ */
static pthread_spinlock_t spin;

static void *spin_loop(void *arg)
{
	long *n = arg;

	for (int i = 0; i < ROUNDS; i++) {
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
	test_thread t[THREADS];
	long n = 0;

	CHECK_EQ(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_EQ(pthread_spin_trylock(&spin), 0);
	CHECK_EQ(pthread_spin_trylock(&spin), EBUSY);
	CHECK_EQ((long)test_join(test_start(spin_try_other, (void *)&spin)), EBUSY);
	/* pvlock's word: the ticket lock's tail moves by 2, the others hold 1. */
	CHECK_EQ(*(volatile uint32_t *)&spin, strcmp(kind, "ticket") == 0 ? 0x20000u : 1u);
	CHECK_EQ(pthread_spin_unlock(&spin), 0);
	for (int i = 0; i < THREADS; i++)
		t[i] = test_start(spin_loop, &n);
	for (int i = 0; i < THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(n, THREADS * ROUNDS);
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
	for (int i = 0; i < 10 * ROUNDS; i++) {
		pthread_spin_lock(&s->lock);
		s->n++;
		pthread_spin_unlock(&s->lock);
	}
	if (child == 0)
		_exit(0);
	int status;
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(s->n, 20 * ROUNDS);
	CHECK_EQ(pthread_spin_destroy(&s->lock), 0);
	/* Initialised PRIVATE, in the same shared memory: still glibc's, and
	 * still a working lock (tests/preload_pshared.c checks whose it is). */
	CHECK_EQ(pthread_spin_init(&s->lock, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_EQ(pthread_spin_lock(&s->lock), 0);
	CHECK_EQ(pthread_spin_trylock(&s->lock), EBUSY);
	CHECK_EQ(pthread_spin_unlock(&s->lock), 0);
}

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
	test_thread t[THREADS];

	for (int i = 0; i < THREADS; i++)
		t[i] = test_start(waiter, &w);
	WAIT_UNTIL(({ pthread_mutex_lock(m); int n = w.waiting; pthread_mutex_unlock(m);
		      n == THREADS; }), 10);
	/* signal wakes at least one */
	pthread_mutex_lock(m);
	w.go = 1;
	CHECK_EQ(pthread_cond_signal(&c), 0);
	pthread_mutex_unlock(m);
	WAIT_UNTIL(({ pthread_mutex_lock(m); int n = w.woken; pthread_mutex_unlock(m);
		      n == 1; }), 10);
	/* broadcast wakes the other N-1 */
	pthread_mutex_lock(m);
	w.go = THREADS - 1;
	CHECK_EQ(pthread_cond_broadcast(&c), 0);
	pthread_mutex_unlock(m);
	for (int i = 0; i < THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(w.woken, THREADS);
	CHECK_EQ(pthread_cond_destroy(&c), 0);
}

static void case_cond_pvlock_mutex(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	signal_and_broadcast(&m);
	CHECK_EQ(pthread_mutex_lock(&m), 0);
	CHECK(by_pvlock(&m));
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
	test_thread t[THREADS];
	counter = 0;
	for (int i = 0; i < THREADS; i++)
		t[i] = test_start(add_loop, i % 2 ? &p : &p);
	for (int i = 0; i < THREADS; i++)
		test_join(t[i]);
	CHECK_EQ(counter, THREADS * ROUNDS);
	pthread_mutex_lock(&r);
	pthread_mutex_lock(&p);
	CHECK(by_pvlock(&p) && r.__data.__owner != 0);
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
	in_ms(&t, CLOCK_REALTIME, 50);
	CHECK_EQ(pthread_cond_timedwait(&c, &m, &t), ETIMEDOUT);
	CHECK_GE(test_now_ns() - start, 45000000u);
	CHECK_EQ(pthread_mutex_trylock(&m), EBUSY);		/* held again */
	/* the condvar's own clock: monotonic */
	start = test_now_ns();
	in_ms(&t, CLOCK_MONOTONIC, 50);
	CHECK_EQ(pthread_cond_timedwait(&cm, &m, &t), ETIMEDOUT);
	CHECK_GE(test_now_ns() - start, 45000000u);
	/* a monotonic deadline given to a realtime condvar would be decades
	 * ago: ETIMEDOUT at once, proving the clock is honoured.  "At once"
	 * against a wait of the patience (60 s) if the clock were not: half
	 * of it, which no scheduling delay of a loaded machine reaches. */
	start = test_now_ns();
	in_ms(&t, CLOCK_MONOTONIC, (long)test_patience_ms());
	CHECK_EQ(pthread_cond_timedwait(&c, &m, &t), ETIMEDOUT);
	CHECK(test_now_ns() - start < test_patience_ns() / 2);
	start = test_now_ns();
	in_ms(&t, CLOCK_MONOTONIC, 50);
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

/* No lost wake-up: ping-pong (ROUNDS) between two threads, each waiting for its
 * turn; a lost wake-up hangs (the watchdog fails the case). */
struct pingpong { pthread_mutex_t m; pthread_cond_t c; int turn; };

static void *pong(void *arg)
{
	struct pingpong *p = arg;

	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&p->m);
		while (p->turn != 1)
			pthread_cond_wait(&p->c, &p->m);
		p->turn = 0;
		pthread_mutex_unlock(&p->m);
		pthread_cond_signal(&p->c);	/* outside the mutex, allowed */
	}
	return NULL;
}

static void ping(struct pingpong *p)
{
	test_thread t = test_start(pong, p);

	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&p->m);
		while (p->turn != 0)
			pthread_cond_wait(&p->c, &p->m);
		p->turn = 1;
		pthread_cond_signal(&p->c);
		pthread_mutex_unlock(&p->m);
	}
	test_join(t);
}

static void case_cond_no_lost_wakeup(void)
{
	struct pingpong p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

	ping(&p);
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
		in_ms(&t, CLOCK_REALTIME, 10);
		CHECK_EQ(pthread_mutex_timedlock(m, &t), EINVAL);
		CHECK_EQ(pthread_mutex_clocklock(m, CLOCK_REALTIME, &t), EINVAL);
		CHECK_EQ(pthread_mutex_unlock(m), EINVAL);
	}
	CHECK_EQ(pthread_mutex_destroy(m), 0);
	/* and a destroyed mutex can be initialised again */
	CHECK_EQ(pthread_mutex_init(m, NULL), 0);
	CHECK_EQ(pthread_mutex_lock(m), 0);
	CHECK(by_pvlock(m));
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
	in_ms(&t, CLOCK_REALTIME, 20);
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
	struct pingpong p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	pthread_condattr_t ca;
	struct timespec t;

	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	CHECK_EQ(pthread_cond_init(&p.c, &ca), 0);
	CHECK(p.c.__data.__wrefs & 1);		/* glibc's own shared condvar */
	CHECK_EQ(pthread_mutex_lock(&p.m), 0);
	CHECK(by_pvlock(&p.m));
	in_ms(&t, CLOCK_REALTIME, 20);
	CHECK_EQ(pthread_cond_timedwait(&p.c, &p.m, &t), ETIMEDOUT);
	CHECK_EQ(pthread_mutex_trylock(&p.m), EBUSY);	/* held again */
	in_ms(&t, CLOCK_MONOTONIC, 20);
	CHECK_EQ(pthread_cond_clockwait(&p.c, &p.m, CLOCK_MONOTONIC, &t), ETIMEDOUT);
	CHECK_EQ(pthread_mutex_unlock(&p.m), 0);
	CHECK_EQ(pthread_mutex_trylock(&p.m), 0);	/* and really released */
	CHECK_EQ(pthread_mutex_unlock(&p.m), 0);
	ping(&p);					/* no lost wake-up */
	cancel_in_wait(&p.m, &ca);
	CHECK_EQ(pthread_cond_destroy(&p.c), 0);
	CHECK_EQ(pthread_mutex_destroy(&p.m), 0);
	pthread_condattr_destroy(&ca);
}

/* ---- fork ------------------------------------------------------------------------- */
static pthread_mutex_t fork_held = PTHREAD_MUTEX_INITIALIZER;

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
		exclusion(&m);
		case_spinlock();
		case_cond_no_lost_wakeup();
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

/* ---- main: once per kind, under the preload ------------------------------------------ */
int main(int argc, char **argv)
{
	(void)argc;
	if (!getenv("PVLOCK_PRELOAD_TEST_RUN")) {
		if (UNDER_TSAN) {
			/* TSan's runtime intercepts pthread_* itself, and binds
			 * its condvar calls to glibc's versioned symbols, past any
			 * preload: pvlock mutexes would meet glibc condvars. */
			printf("SKIP: preload: ThreadSanitizer intercepts pthread_* in the "
			       "program itself; a preload cannot take its place\n");
			return 0;
		}
		/* glibc's own answers, which the preload's must equal. */
		test_run("glibc [reference]: mutex destroy while waited with on a condvar: EBUSY",
			 -1, case_destroy_waited_with);
		int failed = test_finish();
		failed |= test_preload_runs(argv, "PVLOCK_PRELOAD_TEST_RUN", TEST_PRELOAD_MODE_ENV);
		return failed;
	}
	kind = getenv("PVLOCK_PRELOAD_LOCK");

	struct { const char *name; test_fn fn; } cases[] = {
		{ "every pthread_* function is the preload's", case_interposed },
		{ "all-zero static mutex: pvlock, exclusive", case_static_mutex },
		{ "mutex init/destroy: NORMAL, DEFAULT, NULL attr; destroy locked EBUSY", case_init_destroy },
		{ "mutex trylock: EBUSY when held (self, other), 0 when free", case_trylock },
		{ "mutex timedlock/clocklock: ETIMEDOUT, clocks, EINVAL, taken on release", case_timedlock },
		{ "recursive, errorcheck, robust, shared, adaptive mutexes: glibc's answers", case_glibc_kinds },
		{ "spinlock: private on pvlock, trylock EBUSY, exclusive", case_spinlock },
		{ "spinlock: process-shared stays glibc across fork", case_spinlock_shared },
		{ "cond: signal wakes one, broadcast wakes N (pvlock mutex)", case_cond_pvlock_mutex },
		{ "cond: glibc-kept mutexes (recursive, errorcheck EPERM); mixed", case_cond_glibc_mutex },
		{ "cond: timedwait/clockwait ETIMEDOUT on the right clock, EINVAL", case_cond_timed },
		{ "cond: no lost wake-up in 5000 ping-pongs", case_cond_no_lost_wakeup },
		{ "cond: cancelled wait holds the mutex (pvlock, errorcheck)", case_cond_cancel },
		{ "mutex destroy while waited with on a condvar: EBUSY, as glibc", case_destroy_waited_with },
		{ "mutex destroyed while a thread waits to lock it: its unlock still works", case_destroy_late_locker },
		{ "cond: process-shared condvar and mutex stay glibc", case_cond_shared },
		{ "cond: process-shared condvar with a pvlock mutex (bridged)", case_cond_shared_pvlock_mutex },
		{ "fork with a held, contended mutex; the child's own locks work", case_fork },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char name[200];
		snprintf(name, sizeof name, "preload [%s]: %s", kind, cases[i].name);
		test_run(name, -1, cases[i].fn);
	}
	return test_finish();
}
