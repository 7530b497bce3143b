/*
 * mutex.c - pthread mutexes on pvlock (spinlocks: spin.c).
 *
 * Mutexes: a NORMAL/DEFAULT, non-robust, process-private mutex (glibc kind
 * 0: also every all-zero, statically initialised one) is a pvlock lock in
 * glibc's lock word.  Every other kind goes to glibc unchanged.
 */
#include "preload/preload.h"

#include <errno.h>

/* ---- mutexes ---------------------------------------------------------------- */

/*
 * First lock of a pvlock mutex: count it.  glibc's recursion count is never
 * used for these, so it marks "counted"; we hold the lock, so a plain write.
 */
static inline void mutex_taken(pthread_mutex_t *m)
{
	if (pvlock__unlikely(!m->__data.__count)) {
		m->__data.__count = 1;
		preload_count(COUNT_MUTEX_PVLOCK);
	}
}

PRELOAD_EXPORT int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
	/* glibc checks the attributes and encodes them in the kind. */
	int ret = preload_real()->mutex_init(m, attr);

	if (ret == 0 && !mutex_is_pvlock(m))
		preload_count(COUNT_MUTEX_GLIBC);
	return ret;
}

/*
 * Destroy answers as glibc's does: EBUSY for a mutex that is locked or that a
 * thread inside a condvar wait still references (glibc's __nusers, which
 * cond.c's waits keep for pvlock mutexes too); otherwise it marks the mutex
 * destroyed.  A pvlock mutex gets the preload's own mark instead of glibc's
 * (PRELOAD_KIND_DESTROYED), and glibc's destroy is not called for it.
 */
PRELOAD_EXPORT int pthread_mutex_destroy(pthread_mutex_t *m)
{
	if (!mutex_is_pvlock(m))	/* a second destroy of ours: 0, as glibc */
		return mutex_is_destroyed(m) ? 0 : preload_real()->mutex_destroy(m);
	if (word_is_locked(mutex_word(m)))
		return EBUSY;
	/* Acquire fence: if the word read free because a waiter released the
	 * mutex in cond_wait, its count, made before that release, is seen. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&m->__data.__nusers, __ATOMIC_RELAXED))
		return EBUSY;
	/* Relaxed: a program destroys a mutex only once nobody uses it; if
	 * one still does, pthread_mutex_unlock copes (see there). */
	__atomic_store_n(&m->__data.__kind, PRELOAD_KIND_DESTROYED, __ATOMIC_RELAXED);
	return 0;
}

int preload_mutex_lock(pthread_mutex_t *m)
{
	if (pvlock__likely(mutex_is_pvlock(m))) {
		word_lock(mutex_word(m));
		mutex_taken(m);
		return 0;
	}
	return preload_real()->mutex_lock(m);
}

/*
 * Unlock of a mutex destroyed since it was locked.  A program that destroys
 * a mutex while a thread is still inside pthread_mutex_lock on it (stress-ng
 * --pthread does, with a thread it forgot to join: docs/preload-results.md)
 * lets that thread take the lock after the destroy: it read kind 0 before.
 * Its unlock is pvlock's, the lock word says so, and it succeeds; glibc's
 * unlock would fail with EINVAL and leave the word held (and plain glibc
 * fails the same way, in the same interleaving).  A word that nobody holds:
 * EINVAL, glibc's answer for a destroyed mutex.
 */
static int destroyed_unlock(pthread_mutex_t *m)
{
	if (!word_is_locked(mutex_word(m)))
		return EINVAL;
	word_unlock(mutex_word(m));
	return 0;
}

int preload_mutex_unlock(pthread_mutex_t *m)
{
	if (pvlock__likely(mutex_is_pvlock(m))) {
		word_unlock(mutex_word(m));
		return 0;
	}
	if (mutex_is_destroyed(m))
		return destroyed_unlock(m);
	return preload_real()->mutex_unlock(m);
}

PRELOAD_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	return preload_mutex_lock(m);
}

PRELOAD_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	return preload_mutex_unlock(m);
}

PRELOAD_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (pvlock__likely(mutex_is_pvlock(m))) {
		if (!word_trylock(mutex_word(m)))
			return EBUSY;
		mutex_taken(m);
		return 0;
	}
	return preload_real()->mutex_trylock(m);
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * A deadline in nanoseconds, saturating: one past what 64 bits of
 * nanoseconds hold (after the year 2554) is as good as never, as it is for
 * glibc's futex waits, and must not wrap round to one in the past.
 */
static uint64_t deadline_ns(const struct timespec *t)
{
	if ((uint64_t)t->tv_sec >= UINT64_MAX / 1000000000u)
		return UINT64_MAX;
	return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

/*
 * pvlock locks have no timed wait (a queued waiter cannot leave the queue),
 * so a timed lock polls with trylock and sleeps in between, 1 us doubling to
 * 1 ms, never past the deadline.  It can lose to queued waiters; it never
 * holds up anyone.
 */
int word_timedlock(uint32_t *w, clockid_t clock, const struct timespec *abstime)
{
	if (abstime->tv_sec < 0)
		return ETIMEDOUT;
	uint64_t deadline = deadline_ns(abstime);
	uint64_t nap = 1000;

	for (int spin = 0; spin < 64; spin++) {
		if (word_trylock(w))
			return 0;
		pvlock__cpu_relax();
	}
	for (;;) {
		if (word_trylock(w))
			return 0;
		uint64_t now = now_ns(clock);
		if (now >= deadline)
			return ETIMEDOUT;
		uint64_t left = deadline - now;
		struct timespec t = { 0, (long)(left < nap ? left : nap) };
		clock_nanosleep(clock, 0, &t, NULL);
		if (nap < 1000000)
			nap *= 2;
	}
}

static int mutex_timed(pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime)
{
	uint32_t *w = mutex_word(m);

	/* glibc's order: a free mutex is taken whatever the timeout says. */
	if (word_trylock(w)) {
		mutex_taken(m);
		return 0;
	}
	if (!timespec_ok(abstime))
		return EINVAL;
	int ret = word_timedlock(w, clock, abstime);
	if (ret == 0)
		mutex_taken(m);
	return ret;
}

PRELOAD_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	if (pvlock__likely(mutex_is_pvlock(m)))
		return mutex_timed(m, CLOCK_REALTIME, abstime);
	return preload_real()->mutex_timedlock(m, abstime);
}

PRELOAD_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clock,
					   const struct timespec *abstime)
{
	if (pvlock__likely(mutex_is_pvlock(m))) {
		if (!clock_ok(clock))
			return EINVAL;
		return mutex_timed(m, clock, abstime);
	}
	return preload_real()->mutex_clocklock(m, clock, abstime);
}
