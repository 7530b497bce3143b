/*
 * cond.c - condition variables that work with pvlock mutexes.
 *
 * glibc's pthread_cond_wait unlocks and relocks the mutex through internal
 * functions that no preload can reach, so it cannot wait with a pvlock
 * mutex.  Every process-private condvar is therefore ours, whatever mutex
 * it is used with; a glibc-kept mutex is released and retaken through glibc.
 * Process-shared condvars stay with glibc; a wait on one with a pvlock
 * mutex goes through a bridge (bridged_wait).
 *
 * Our condvar, inside the 48 bytes of pthread_cond_t (all-zero = ready):
 *   seq      a futex word, bumped by every signal and broadcast
 *   waiters  threads inside wait (from before they release the mutex until
 *            they are done with the condvar), and in its top bit
 *            DESTROYING (destroy waits for the count to reach zero)
 *   flags    COUNTED (the report saw it)
 * glibc's __wrefs word keeps glibc's meaning of two bits: 1 = process-
 * shared, 2 = the clock is CLOCK_MONOTONIC (pthread_condattr_setclock).
 * glibc itself sets bit 1 in pthread_cond_init of a shared condvar (2.25 to
 * 2.36 at least; tests/programs/preload_api_*.c checks it), so a shared condvar made by
 * a process without the preload is recognised too.
 *
 * A waiter keeps the mutex referenced while it waits, as glibc's own condvar
 * does: glibc counts in a mutex's __nusers its holder and every thread inside
 * a condvar wait with it, and pthread_mutex_destroy answers EBUSY while that
 * count is not zero.  Ours count themselves there too (mutex_ref), for pvlock
 * mutexes and glibc-kept ones alike; without it a destroy that raced a
 * waiter succeeded, and the waiter's relock and unlock then failed with
 * EINVAL where glibc gives 0 (docs/preload-results.md, stress-ng).
 *
 * No lost wake-up: a waiter reads seq while it holds the mutex and sleeps
 * only while seq still has that value (FUTEX_WAIT compares atomically).  A
 * signaller that changes the predicate under the mutex after the waiter
 * released it therefore bumps seq after the waiter read it, and either the
 * waiter has not slept yet (its FUTEX_WAIT returns at once) or it sleeps and
 * the FUTEX_WAKE finds it.
 */
#include "preload/preload.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

struct pvcond {
	uint32_t seq;
	uint32_t waiters;
	uint32_t flags;
};
#define COND_COUNTED	1u			/* in flags */
#define COND_DESTROYING	0x80000000u		/* in waiters */
#define COND_WAITERS	(~COND_DESTROYING)	/* the count, in waiters */

#define WREFS_SHARED	1u
#define WREFS_MONOTONIC	2u

_Static_assert(offsetof(pthread_cond_t, __data.__wrefs) >= sizeof(struct pvcond),
	       "our condvar must not overlap glibc's __wrefs");

static inline struct pvcond *pvcond(pthread_cond_t *c)
{
	return (struct pvcond *)c;
}

static inline unsigned wrefs(pthread_cond_t *c)
{
	return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED);
}

static inline int cond_is_glibc(pthread_cond_t *c)
{
	return wrefs(c) & WREFS_SHARED;
}

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *t)
{
	return syscall(SYS_futex, w, op, val, t, NULL, FUTEX_BITSET_MATCH_ANY);
}

/*
 * syscall() for the one call that cancellation unwinds out of (sleep_on).
 * glibc declares syscall() as never unwinding, and for such a call GCC
 * records no stack adjustment: the seventh argument is pushed on x86-64,
 * so the cleanup handler ran on a stack pointer 16 bytes off and read
 * garbage for its state (a crash once the frame's layout changed; it had
 * worked by luck of layout).  Called through a pointer the compiler cannot
 * see through, the call may unwind as far as it knows, and it records the
 * push for the unwinder.
 */
static long (*volatile cancellable_syscall)(long, ...) = syscall;

/*
 * A test program that compiles this file into itself (tests/unit/preload_cond_seam.c)
 * defines COND_TEST_POINT to stop a waiter at these places; the library
 * has none.
 */
enum cond_test_point { COND_LEFT, COND_WOKEN };
#ifndef COND_TEST_POINT
#define COND_TEST_POINT(where) do { } while (0)
#endif

PRELOAD_EXPORT int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	PRESERVE_ERRNO;

	int shared = PTHREAD_PROCESS_PRIVATE;
	clockid_t clock = CLOCK_REALTIME;

	if (attr) {
		pthread_condattr_getpshared(attr, &shared);
		pthread_condattr_getclock(attr, &clock);
	}
	if (shared == PTHREAD_PROCESS_SHARED) {
		preload_count(COUNT_COND_GLIBC);
		return preload_real()->cond_init(c, attr);
	}
	*c = (pthread_cond_t){ 0 };
	c->__data.__wrefs = clock == CLOCK_MONOTONIC ? WREFS_MONOTONIC : 0;
	return 0;
}

PRELOAD_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
	PRESERVE_ERRNO;

	if (cond_is_glibc(c))
		return preload_real()->cond_destroy(c);
	/*
	 * Waiters that were woken may still be on their way out; wait for them
	 * as glibc does (a waiter still blocked here is the caller's bug).
	 * The flag and the count share one word, so the waiter's decrement in
	 * leave() returns the flag with the count: a last waiter either sees
	 * DESTROYING in what its RMW returns and wakes us, or its decrement
	 * comes before our fetch_or and we read the count zero.  Acquire on
	 * both our accesses pairs with the release of the waiter's decrement,
	 * so once we return, all its accesses to the condvar are done.
	 */
	struct pvcond *cv = pvcond(c);
	uint32_t n = __atomic_fetch_or(&cv->waiters, COND_DESTROYING, __ATOMIC_ACQUIRE) |
		     COND_DESTROYING;
	while (n & COND_WAITERS) {
		futex(&cv->waiters, FUTEX_WAIT_PRIVATE, n, NULL);
		n = __atomic_load_n(&cv->waiters, __ATOMIC_ACQUIRE);
	}
	return 0;
}

static int wake(pthread_cond_t *c, int n)
{
	struct pvcond *cv = pvcond(c);

	/*
	 * Relaxed: a waiter counts itself before it releases the mutex; a
	 * signaller that changed the predicate under that mutex afterwards
	 * sees the count (happens-before through the mutex).  Nobody inside
	 * wait: nothing to do, and no system call.
	 */
	if (!(__atomic_load_n(&cv->waiters, __ATOMIC_RELAXED) & COND_WAITERS))
		return 0;
	/* Release; pairs with the kernel's read of seq in the waiter's
	 * FUTEX_WAIT and the waiter's read of seq in pvcond_wait.  What the
	 * waiter must see (the predicate) it reads under the mutex, whose
	 * release/acquire orders it on aarch64; the release here only keeps
	 * the bump after the caller's own writes for waiters that look. */
	__atomic_fetch_add(&cv->seq, 1, __ATOMIC_RELEASE);
	futex(&cv->seq, FUTEX_WAKE_PRIVATE, (uint32_t)n, NULL);
	return 0;
}

/*
 * glibc's condvars with pvlock mutexes.  glibc's wait on a process-shared
 * condvar would release and retake a pvlock mutex by writing its lock word
 * as if it were glibc's (pvlock's misuse report, then a hang: tried).  So
 * such a wait goes through a bridge, a glibc mutex of the preload's own
 * that glibc's wait releases and retakes instead: the waiter takes the
 * bridge, releases its pvlock mutex, and waits on the condvar with the
 * bridge.  Once any such wait has begun, signal and broadcast of a glibc
 * condvar hold the bridge around glibc's own.  A signaller that changed the
 * predicate under the pvlock mutex did so after the waiter released it, so
 * after the waiter took the bridge; its signal gets the bridge only once
 * glibc has registered the waiter and released the bridge: no lost wake-up.
 * One bridge for the process: a process-shared condvar with a private
 * mutex is rare, and a signal cannot tell which mutex its waiters use.
 * Lock order: a pvlock mutex, then the bridge, never the other way round.
 */
static pthread_mutex_t bridge = PTHREAD_MUTEX_INITIALIZER;	/* glibc's functions only */
static int bridged;	/* a glibc condvar has been waited on with a pvlock mutex */

static int glibc_wake(pthread_cond_t *c, int (*glibc_fn)(pthread_cond_t *))
{
	/* Relaxed; pairs with the store in bridged_wait, which the release of
	 * the waiter's mutex publishes to whoever changes the predicate next. */
	if (pvlock__likely(!__atomic_load_n(&bridged, __ATOMIC_RELAXED)))
		return glibc_fn(c);
	const struct preload_real *r = preload_real();
	r->mutex_lock(&bridge);
	int ret = glibc_fn(c);
	r->mutex_unlock(&bridge);
	return ret;
}

/* A forked child has one thread: a bridge that another thread of the
 * parent held at the fork would stay held. */
static void bridge_atfork_child(void)
{
	bridge = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

__attribute__((constructor)) static void cond_init_atfork(void)
{
	pthread_atfork(NULL, NULL, bridge_atfork_child);
}

PRELOAD_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	PRESERVE_ERRNO;

	if (cond_is_glibc(c))
		return glibc_wake(c, preload_real()->cond_signal);
	return wake(c, 1);
}

PRELOAD_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	PRESERVE_ERRNO;

	if (cond_is_glibc(c))
		return glibc_wake(c, preload_real()->cond_broadcast);
	return wake(c, INT_MAX);
}

/*
 * A waiter is done with the condvar.  Once the decrement is made, destroy
 * may return and the program free the condvar, so nothing after it reads
 * the condvar: whether destroy waits comes back from the decrement itself.
 * The wake-up only names the address (FUTEX_WAKE reads no memory); if the
 * memory was freed and reused meanwhile, a futex waiter there sees at most
 * a spurious wake-up, which every futex waiter tolerates.
 */
static void leave(struct pvcond *cv)
{
	/* Release: pairs with destroy's acquire fetch_or and loads of waiters,
	 * ordering every earlier access of ours to the condvar (on aarch64
	 * too) before destroy returns. */
	uint32_t old = __atomic_fetch_sub(&cv->waiters, 1, __ATOMIC_RELEASE);
	COND_TEST_POINT(COND_LEFT);
	if (old == (COND_DESTROYING | 1))
		futex(&cv->waiters, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

struct waiting {
	struct pvcond *cv;
	pthread_mutex_t *m;
	int ref;		/* counted in m's __nusers (mutex_ref) */
	uint32_t seen;		/* seq as read under the mutex */
	int timedout;		/* sleep_on's wait timed out */
};

/*
 * The waiter leaves without taking a wake-up it may have been given:
 * cancelled (POSIX: a thread cancelled in pthread_cond_wait must not
 * consume a signal sent to it), or timing out.  If seq moved since we read
 * it, a signal's FUTEX_WAKE may have chosen us; pass one wake-up on to
 * another sleeper, so that the signal still wakes a thread that returns.
 * At worst that is a spurious wake-up, which every waiter tolerates.
 * Before leave(): the condvar cannot be destroyed while we are counted.
 */
static void pass_on(struct waiting *w)
{
	/* Relaxed; pairs with wake()'s bump of seq.  A FUTEX_WAKE that chose
	 * us came after the bump, and the kernel orders its wake-up before
	 * our return from FUTEX_WAIT (the futex bucket's lock; on aarch64
	 * too), so we see the bump; so does a FUTEX_WAIT that returned at
	 * once because seq had moved. */
	if (__atomic_load_n(&w->cv->seq, __ATOMIC_RELAXED) != w->seen)
		futex(&w->cv->seq, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/*
 * Count the caller, who holds m, in m's __nusers for the length of its wait.
 * Only a holder changes the count (glibc's lock and unlock change it while
 * they own the mutex, with plain writes), so this never races them; the
 * atomic add is for pvlock mutexes, whose unlock checks no owner, so that a
 * program waiting without the mutex still cannot lose a count.  A glibc-kept
 * mutex is counted only if glibc says we own it (its __owner, which glibc
 * keeps for every kind): otherwise its unlock below fails (EPERM) or the
 * program waits on a mutex it does not hold, and the count is not ours to
 * touch.  0 if not counted.
 */
static int mutex_ref(pthread_mutex_t *m)
{
	if (!mutex_is_pvlock(m) &&
	    __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) != gettid())
		return 0;
	/* Relaxed: pthread_mutex_destroy orders its read after the unlock
	 * that follows (see there). */
	__atomic_fetch_add(&m->__data.__nusers, 1, __ATOMIC_RELAXED);
	return 1;
}

/* The wait is over: uncount, once the relock has made the caller the holder
 * again (0, or EOWNERDEAD from a robust mutex, which is held too). */
static void mutex_unref(struct waiting *w, int relock)
{
	if (w->ref && (relock == 0 || relock == EOWNERDEAD))
		__atomic_fetch_sub(&w->m->__data.__nusers, 1, __ATOMIC_RELAXED);
}

/* Cancelled while asleep: leave and retake the mutex, as POSIX says the
 * cancellation handlers of the caller must find it. */
static void wait_cancelled(void *arg)
{
	struct waiting *w = arg;

	pass_on(w);
	leave(w->cv);
	mutex_unref(w, preload_mutex_lock(w->m));
}

/* Sleep on seq while it is `seen`; a cancellation point.  0, or ETIMEDOUT. */
static int sleep_on(struct waiting *w, clockid_t clock, const struct timespec *abstime)
{
	int op = FUTEX_WAIT_BITSET_PRIVATE | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
	int old;

	if (abstime && abstime->tv_sec < 0)
		return ETIMEDOUT;
	/*
	 * The futex system call is not a cancellation point of its own, so
	 * cancellation is made asynchronous around it (as glibc's older
	 * condvars did).  Only the system call runs in that window, and
	 * wait_cancelled's state (counted, mutex released) holds throughout.
	 */
	pthread_cleanup_push(wait_cancelled, w);
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
	/* In *w, not a local: a pthread_cleanup_push built on setjmp (C
	 * without -fexceptions) may lose a local changed after it. */
	w->timedout = cancellable_syscall(SYS_futex, &w->cv->seq, op, w->seen, abstime, NULL,
					  FUTEX_BITSET_MATCH_ANY) < 0 && errno == ETIMEDOUT;
	COND_TEST_POINT(COND_WOKEN);
	pthread_setcanceltype(old, NULL);
	pthread_cleanup_pop(0);
	return w->timedout ? ETIMEDOUT : 0;
}

static int pvcond_wait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
		     const struct timespec *abstime)
{
	struct pvcond *cv = pvcond(c);
	struct waiting w = { cv, m, 0, 0, 0 };

	/* Relaxed: COUNTED only makes the report count each condvar once. */
	if (pvlock__unlikely(!(__atomic_load_n(&cv->flags, __ATOMIC_RELAXED) & COND_COUNTED)) &&
	    !(__atomic_fetch_or(&cv->flags, COND_COUNTED, __ATOMIC_RELAXED) & COND_COUNTED))
		preload_count(COUNT_COND_PVLOCK);
	if (!mutex_is_pvlock(m))
		preload_count(COUNT_COND_GLIBC_MUTEX);

	/* Relaxed, both; they pair with wake()'s load of waiters and its
	 * bump of seq.  We hold the mutex, and its release below (stlr or a
	 * release CAS on aarch64) publishes the count and orders our read of
	 * seq before any signal that a later holder of the mutex sends. */
	__atomic_fetch_add(&cv->waiters, 1, __ATOMIC_RELAXED);
	w.seen = __atomic_load_n(&cv->seq, __ATOMIC_RELAXED);

	w.ref = mutex_ref(m);
	int ret = preload_mutex_unlock(m);
	if (ret) {		/* a glibc error-checking mutex we do not own */
		mutex_unref(&w, 0);
		leave(cv);
		return ret;
	}
	ret = sleep_on(&w, clock, abstime);
	if (ret == ETIMEDOUT)
		pass_on(&w);
	leave(cv);
	int relock = preload_mutex_lock(m);
	mutex_unref(&w, relock);
	return relock ? relock : ret;	/* EOWNERDEAD from a robust mutex wins */
}

/* Cancelled inside glibc's wait, which retook the bridge before unwinding:
 * hand it back and retake the pvlock mutex for the caller's handlers. */
static void bridged_cancelled(void *arg)
{
	struct waiting *w = arg;

	preload_real()->mutex_unlock(&bridge);
	mutex_unref(w, preload_mutex_lock(w->m));
}

enum glibc_wait { GLIBC_WAIT, GLIBC_TIMEDWAIT, GLIBC_CLOCKWAIT };

/* A wait on glibc's condvar c with pvlock mutex m, through the bridge (see
 * glibc_wake).  glibc checks the time and clock as it always does. */
static int bridged_wait(pthread_cond_t *c, pthread_mutex_t *m, enum glibc_wait how,
			clockid_t clock, const struct timespec *abstime)
{
	const struct preload_real *r = preload_real();
	struct waiting w = { NULL, m, 0, 0, 0 };
	int ret;

	/* Relaxed: published by the release of m below (see glibc_wake). */
	__atomic_store_n(&bridged, 1, __ATOMIC_RELAXED);
	r->mutex_lock(&bridge);
	w.ref = mutex_ref(m);
	preload_mutex_unlock(m);	/* a pvlock mutex: never fails */
	pthread_cleanup_push(bridged_cancelled, &w);
	switch (how) {
	case GLIBC_WAIT:      ret = r->cond_wait(c, &bridge); break;
	case GLIBC_TIMEDWAIT: ret = r->cond_timedwait(c, &bridge, abstime); break;
	default:              ret = r->cond_clockwait(c, &bridge, clock, abstime); break;
	}
	pthread_cleanup_pop(0);
	r->mutex_unlock(&bridge);
	int relock = preload_mutex_lock(m);
	mutex_unref(&w, relock);
	return relock ? relock : ret;
}

PRELOAD_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	PRESERVE_ERRNO;

	if (cond_is_glibc(c))
		return mutex_is_pvlock(m) ? bridged_wait(c, m, GLIBC_WAIT, 0, NULL)
					  : preload_real()->cond_wait(c, m);
	return pvcond_wait(c, m, CLOCK_REALTIME, NULL);
}

PRELOAD_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
					  const struct timespec *abstime)
{
	PRESERVE_ERRNO;

	if (cond_is_glibc(c))
		return mutex_is_pvlock(m) ? bridged_wait(c, m, GLIBC_TIMEDWAIT, 0, abstime)
					  : preload_real()->cond_timedwait(c, m, abstime);
	if (!timespec_ok(abstime))
		return EINVAL;
	return pvcond_wait(c, m, (wrefs(c) & WREFS_MONOTONIC) ? CLOCK_MONOTONIC : CLOCK_REALTIME,
			 abstime);
}

PRELOAD_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
					  clockid_t clock, const struct timespec *abstime)
{
	PRESERVE_ERRNO;

	if (cond_is_glibc(c))
		return mutex_is_pvlock(m) ? bridged_wait(c, m, GLIBC_CLOCKWAIT, clock, abstime)
					  : preload_real()->cond_clockwait(c, m, clock, abstime);
	if (!clock_ok(clock) || !timespec_ok(abstime))
		return EINVAL;
	return pvcond_wait(c, m, clock, abstime);
}
