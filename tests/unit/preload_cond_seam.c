/*
 * preload_cond_seam.c - the preload's condvar (src/preload/cond.c),
 * compiled into this program with test points, so that a waiter can be
 * stopped at an exact place:
 *
 *   COND_LEFT   right after the waiter's decrement of the waiter count:
 *               from there on, destroy may return and the program free the
 *               condvar, so the waiter must not touch it any more.  The
 *               condvar lives alone in a page that the case makes
 *               inaccessible once destroy has returned: any later touch is
 *               a SIGSEGV, and the case dies.
 *   COND_WOKEN  right after the waiter's futex wait returned, while it may
 *               be cancelled asynchronously.  A waiter that a signal woke is
 *               cancelled there; the other waiter must still wake.
 *
 * The preload's functions are renamed (seam_*) so that this program's own
 * pthread_* calls stay glibc's; a mutex is glibc's here (cond.c takes and
 * releases it through preload_mutex_lock/unlock, defined below).
 */
#define _GNU_SOURCE
#define pthread_cond_init seam_cond_init
#define pthread_cond_destroy seam_cond_destroy
#define pthread_cond_wait seam_cond_wait
#define pthread_cond_timedwait seam_cond_timedwait
#define pthread_cond_clockwait seam_cond_clockwait
#define pthread_cond_signal seam_cond_signal
#define pthread_cond_broadcast seam_cond_broadcast
#define COND_TEST_POINT(where) seam_point(where)
static void seam_point(int where);

#include "preload/cond.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/check.h"

/* ---- what cond.c needs from the rest of the preload ---------------------- */
uint64_t preload_counts[COUNT_N];

int preload_mutex_lock(pthread_mutex_t *m)
{
	return pthread_mutex_lock(m);	/* glibc's: only cond_* are renamed */
}

int preload_mutex_unlock(pthread_mutex_t *m)
{
	return pthread_mutex_unlock(m);
}

const struct preload_real *preload_real(void)
{
	fprintf(stderr, "preload_cond_seam: glibc's condvar asked for: not in these cases\n");
	abort();
}

/* ---- the test points -------------------------------------------------------- */
enum seam_mode { SEAM_OFF, SEAM_HOLD_LEFT, SEAM_HOLD_WOKEN, SEAM_CANCEL_WOKEN };
static int mode;		/* what the points do */
static int reached;		/* a waiter stopped at the point (or was cancelled there) */
static int go_on;		/* the case lets the stopped waiter continue */
static int woken_after;		/* waiters past COND_WOKEN after the cancelled one */

static void seam_point(int where)
{
	/* Acquire/release on the handshake words: the case's writes (destroy,
	 * mprotect) happen before the waiter continues. */
	int m = __atomic_load_n(&mode, __ATOMIC_ACQUIRE);

	if ((m == SEAM_HOLD_LEFT && where == COND_LEFT) ||
	    (m == SEAM_HOLD_WOKEN && where == COND_WOKEN)) {
		__atomic_store_n(&reached, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&go_on, __ATOMIC_ACQUIRE))
			test_pause();
	} else if (m == SEAM_CANCEL_WOKEN && where == COND_WOKEN) {
		if (__atomic_exchange_n(&reached, 1, __ATOMIC_ACQ_REL))
			__atomic_fetch_add(&woken_after, 1, __ATOMIC_RELAXED);
		else
			pthread_cancel(pthread_self());	/* asynchronous here: acts now */
	}
}

static void seam_reset(int m)
{
	__atomic_store_n(&reached, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&go_on, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&woken_after, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&mode, m, __ATOMIC_RELEASE);
}

/* ---- helpers ------------------------------------------------------------------ */
static void in_s(struct timespec *t, long s)
{
	clock_gettime(CLOCK_REALTIME, t);
	t->tv_sec += s * (long)test_time_scale();
}

/* A condvar alone at the start of a page, so that the page can be made
 * inaccessible once the program may free it. */
static pthread_cond_t *page_cond(void)
{
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK_EQ(seam_cond_init(p, NULL), 0);
	return p;
}

static void page_free(pthread_cond_t *c)
{
	CHECK_EQ(mprotect(c, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE), 0);
}

static uint32_t waiters_of(pthread_cond_t *c)
{
	return __atomic_load_n(&pvcond(c)->waiters, __ATOMIC_ACQUIRE);
}

struct waiter {
	pthread_cond_t *c;
	pthread_mutex_t *m;
	int *tokens;		/* under m */
	int tid;
	int got, timed_out;	/* under m */
};

static void unlock_m(void *arg)
{
	pthread_mutex_unlock(arg);
}

/* Wait until a token is there (taking it) or the hang bound passes. */
static void *waiter(void *arg)
{
	struct waiter *w = arg;
	struct timespec t;

	__atomic_store_n(&w->tid, gettid(), __ATOMIC_RELEASE);
	in_s(&t, 20);
	pthread_mutex_lock(w->m);
	pthread_cleanup_push(unlock_m, w->m);
	while (!*w->tokens) {
		if (seam_cond_timedwait(w->c, w->m, &t) == ETIMEDOUT) {
			w->timed_out = 1;
			break;
		}
	}
	if (*w->tokens) {
		--*w->tokens;
		w->got = 1;
	}
	pthread_cleanup_pop(1);
	return NULL;
}

/* A waiter counted in the condvar that is asleep is in its futex wait
 * (nothing else on its way there blocks): test_tid_asleep. */

/* ---- cases ---------------------------------------------------------------------- */

/*
 * The last waiter's leave() races destroy: stopped right after its
 * decrement, destroy returns and the page goes; the waiter then continues
 * and must not touch the condvar (the SIGSEGV that did, before the flag
 * moved into the count's word).
 */
static void case_destroy_after_last_leave(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t *c = page_cond();
	int tokens = 0;
	struct waiter w = { c, &m, &tokens, 0, 0, 0 };

	seam_reset(SEAM_HOLD_LEFT);
	test_thread t = test_start(waiter, &w);
	WAIT_UNTIL(waiters_of(c) == 1, 10);
	pthread_mutex_lock(&m);		/* it waits (it released m) */
	tokens = 1;
	CHECK_EQ(seam_cond_broadcast(c), 0);
	pthread_mutex_unlock(&m);
	WAIT_UNTIL(__atomic_load_n(&reached, __ATOMIC_ACQUIRE), 10);
	CHECK_EQ(seam_cond_destroy(c), 0);	/* the count is zero: at once */
	page_free(c);
	__atomic_store_n(&go_on, 1, __ATOMIC_RELEASE);
	test_join(t);
	CHECK(w.got && !w.timed_out);
}

struct destroyer { pthread_cond_t *c; int done; };

static void *destroyer(void *arg)
{
	struct destroyer *d = arg;

	seam_cond_destroy(d->c);
	__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * destroy while a woken waiter is still on its way out: destroy waits, and
 * the waiter's decrement (which returns the DESTROYING flag with the count)
 * wakes it.
 */
static void case_destroy_waits_for_leave(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t *c = page_cond();
	int tokens = 0;
	struct waiter w = { c, &m, &tokens, 0, 0, 0 };
	struct destroyer d = { c, 0 };

	seam_reset(SEAM_HOLD_WOKEN);
	test_thread t = test_start(waiter, &w);
	WAIT_UNTIL(waiters_of(c) == 1, 10);
	pthread_mutex_lock(&m);
	tokens = 1;
	CHECK_EQ(seam_cond_broadcast(c), 0);
	pthread_mutex_unlock(&m);
	WAIT_UNTIL(__atomic_load_n(&reached, __ATOMIC_ACQUIRE), 10);
	test_thread td = test_start(destroyer, &d);
	WAIT_UNTIL(waiters_of(c) == (COND_DESTROYING | 1), 10);	/* destroy is waiting */
	CHECK(!__atomic_load_n(&d.done, __ATOMIC_ACQUIRE));
	__atomic_store_n(&go_on, 1, __ATOMIC_RELEASE);
	test_join(td);
	CHECK(d.done);
	page_free(c);			/* the waiter may still be past its decrement */
	test_join(t);
	CHECK(w.got && !w.timed_out);
}

/*
 * Two waiters asleep; one signal; the waiter it woke is cancelled before it
 * returns.  The other must wake and take the token: a cancelled waiter
 * passes on a wake-up it may have consumed (POSIX, pthread_cond_wait).
 */
static void case_cancelled_after_signal(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c;
	int tokens = 0;
	struct waiter w[2] = { { &c, &m, &tokens, 0, 0, 0 }, { &c, &m, &tokens, 0, 0, 0 } };
	pthread_t t[2];

	CHECK_EQ(seam_cond_init(&c, NULL), 0);
	seam_reset(SEAM_CANCEL_WOKEN);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, waiter, &w[i]), 0);
	WAIT_UNTIL(waiters_of(&c) == 2, 10);
	WAIT_UNTIL(test_tid_asleep(__atomic_load_n(&w[0].tid, __ATOMIC_ACQUIRE)) &&
		   test_tid_asleep(__atomic_load_n(&w[1].tid, __ATOMIC_ACQUIRE)), 10);
	pthread_mutex_lock(&m);
	tokens = 1;
	CHECK_EQ(seam_cond_signal(&c), 0);
	pthread_mutex_unlock(&m);
	void *ret[2];
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], &ret[i]), 0);
	int cancelled = (ret[0] == PTHREAD_CANCELED) + (ret[1] == PTHREAD_CANCELED);
	CHECK_EQ(cancelled, 1);		/* the point was reached, once */
	struct waiter *other = ret[0] == PTHREAD_CANCELED ? &w[1] : &w[0];
	if (other->timed_out)
		FAIL("the other waiter slept until its hang bound: the cancelled waiter "
		     "kept the signal's wake-up");
	CHECK(other->got);
	CHECK_GE(__atomic_load_n(&woken_after, __ATOMIC_RELAXED), 1);
	CHECK_EQ(seam_cond_destroy(&c), 0);
	CHECK_EQ(m.__data.__nusers, 0u);
}

int main(void)
{
	test_run("cond seam: destroy returns between the last waiter's decrement and its "
		 "return; the waiter touches the condvar no more", -1,
		 case_destroy_after_last_leave);
	test_run("cond seam: destroy waits for a woken waiter, whose leave wakes it", -1,
		 case_destroy_waits_for_leave);
	test_run("cond seam: a waiter cancelled after a signal woke it passes the wake-up on",
		 -1, case_cancelled_after_signal);
	return test_finish();
}
