/*
 * preload.h - libpvlock-preload.so: pthread spinlocks, mutexes and condition
 * variables on pvlock, for unmodified programs (LD_PRELOAD; docs/preload.md).
 *
 * Internal to the preload library.  Every function here is hidden (the
 * library is built with -fvisibility=hidden); only the pthread_* interposers
 * are exported (src/preload/libpvlock-preload.map).
 */
#ifndef PVLOCK_PRELOAD_H
#define PVLOCK_PRELOAD_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <pvlock.h>

#define PRELOAD_EXPORT __attribute__((visibility("default")))

/*
 * glibc's pthread_* functions leave errno alone.  pvlock's slow paths and
 * the condvars make futex and other system calls that set it, so every
 * path into them starts with PRESERVE_ERRNO: errno is put back as the
 * caller left it when the enclosing block ends, by return or by the unwind
 * of a cancellation.
 */
static inline void preload_errno_restore(const int *saved)
{
	errno = *saved;
}
#define PRESERVE_ERRNO \
	int preload_errno_ __attribute__((cleanup(preload_errno_restore), unused)) = errno

/* ---- the lock kind (PVLOCK_PRELOAD_LOCK) -------------------------------- */
enum preload_kind {
	KIND_UNSET = 0,		/* environment not read yet */
	KIND_QUEUED,
	KIND_TICKET,
	KIND_TAS,
};
extern enum preload_kind preload_kind_;
enum preload_kind preload_kind_init(void);	/* reads the environment once */

/* All three locks are one 32-bit word, zero when free: any of them lives in
 * a pthread_spinlock_t in private memory or in the lock word of a mutex. */
static inline enum preload_kind preload_kind(void)
{
	/* Relaxed; pairs with the CAS in preload_kind_init.  The kind is a
	 * value every thread computes the same from the environment, and it
	 * publishes no other data: a reader that sees KIND_UNSET computes it
	 * itself, so no ordering is needed on aarch64 or anywhere. */
	enum preload_kind k = __atomic_load_n(&preload_kind_, __ATOMIC_RELAXED);

	return pvlock__likely(k != KIND_UNSET) ? k : preload_kind_init();
}

static inline void word_lock(uint32_t *w)
{
	PRESERVE_ERRNO;

	switch (preload_kind()) {
	case KIND_TICKET: pvlock_ticket_lock((pvlock_ticket_t *)w); break;
	case KIND_TAS:    pvlock_tas_lock((pvlock_tas_t *)w); break;
	default:          pvlock_lock((pvlock_t *)w); break;
	}
}

static inline int word_trylock(uint32_t *w)
{
	PRESERVE_ERRNO;

	switch (preload_kind()) {
	case KIND_TICKET: return pvlock_ticket_trylock((pvlock_ticket_t *)w);
	case KIND_TAS:    return pvlock_tas_trylock((pvlock_tas_t *)w);
	default:          return pvlock_trylock((pvlock_t *)w);
	}
}

static inline void word_unlock(uint32_t *w)
{
	PRESERVE_ERRNO;

	switch (preload_kind()) {
	case KIND_TICKET: pvlock_ticket_unlock((pvlock_ticket_t *)w); break;
	case KIND_TAS:    pvlock_tas_unlock((pvlock_tas_t *)w); break;
	default:          pvlock_unlock((pvlock_t *)w); break;
	}
}

static inline int word_is_locked(uint32_t *w)
{
	switch (preload_kind()) {
	case KIND_TICKET: return pvlock_ticket_is_locked((pvlock_ticket_t *)w);
	case KIND_TAS:    return pvlock_tas_is_locked((pvlock_tas_t *)w);
	default:          return pvlock_is_locked((pvlock_t *)w);
	}
}

/* Take the word, giving up at `abstime` on `clock` (a valid clock and time).
 * Its clock_gettime and clock_nanosleep, given a valid clock, set no errno. */
int word_timedlock(uint32_t *w, clockid_t clock, const struct timespec *abstime);

/* ---- glibc's own functions (dlsym RTLD_NEXT, resolved once) ------------- */
struct preload_real {
	int (*spin_init)(pthread_spinlock_t *, int);
	int (*spin_lock)(pthread_spinlock_t *);
	int (*spin_trylock)(pthread_spinlock_t *);
	int (*spin_unlock)(pthread_spinlock_t *);
	int (*spin_destroy)(pthread_spinlock_t *);
	int (*mutex_init)(pthread_mutex_t *, const pthread_mutexattr_t *);
	int (*mutex_destroy)(pthread_mutex_t *);
	int (*mutex_lock)(pthread_mutex_t *);
	int (*mutex_trylock)(pthread_mutex_t *);
	int (*mutex_timedlock)(pthread_mutex_t *, const struct timespec *);
	int (*mutex_clocklock)(pthread_mutex_t *, clockid_t, const struct timespec *);
	int (*mutex_unlock)(pthread_mutex_t *);
	int (*cond_init)(pthread_cond_t *, const pthread_condattr_t *);
	int (*cond_destroy)(pthread_cond_t *);
	int (*cond_wait)(pthread_cond_t *, pthread_mutex_t *);
	int (*cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
			      const struct timespec *);
	int (*cond_signal)(pthread_cond_t *);
	int (*cond_broadcast)(pthread_cond_t *);
};
const struct preload_real *preload_real(void);

/* ---- what the report counts --------------------------------------------- */
enum preload_count {
	COUNT_SPIN_PVLOCK,	/* spinlocks initialised in private memory */
	COUNT_SPIN_GLIBC,	/* spinlocks initialised in shared memory */
	COUNT_MUTEX_PVLOCK,	/* NORMAL/DEFAULT mutexes locked (once each) */
	COUNT_MUTEX_GLIBC,	/* mutexes initialised with another kind */
	COUNT_COND_PVLOCK,	/* private condvars waited on (once each) */
	COUNT_COND_GLIBC,	/* process-shared condvars initialised */
	COUNT_COND_GLIBC_MUTEX,	/* waits on a pvlock condvar with a glibc-kept mutex */
	COUNT_N
};
extern uint64_t preload_counts[COUNT_N];
static inline void preload_count(enum preload_count c)
{
	/* Relaxed: a statistic, read once at exit. */
	__atomic_fetch_add(&preload_counts[c], 1, __ATOMIC_RELAXED);
}

/* ---- mutexes: which ones pvlock takes ----------------------------------- */
/* glibc's kind bits beyond the type that still mean "plain mutex": lock
 * elision on or off (PTHREAD_MUTEX_ELISION_NP, PTHREAD_MUTEX_NO_ELISION_NP). */
#define PRELOAD_KIND_ELISION_BITS 0x300

/*
 * The kind pthread_mutex_destroy writes into a pvlock mutex.  glibc marks
 * its own destroyed mutexes with -1; ours get a mark of their own, so that a
 * thread which took the lock through pvlock (having read kind 0 before the
 * destroy: the program's race, stress-ng's) still releases it through
 * pvlock.  glibc answers EINVAL for both marks, as for any kind it does not
 * know: that is what locking a destroyed mutex gives, here as under glibc.
 */
#define PRELOAD_KIND_DESTROYED (-2)

/*
 * NORMAL or DEFAULT (glibc kind 0, which an all-zero mutex has), not robust,
 * not priority-inheriting or -protecting, not process-shared: all those are
 * other bits of glibc's kind word.  The kind is written by init (or is zero
 * from a static initialiser) and changes only when the program destroys or
 * re-initialises the mutex, which it may do only once nobody uses it.
 */
static inline int mutex_is_pvlock(const pthread_mutex_t *m)
{
	/* Relaxed: pairs with no atomic; init wrote the kind before the
	 * program published the mutex to other threads, and that publication
	 * (a mutex, pthread_create, a release store) orders it, on aarch64 too.
	 * A destroy racing a lock is the program's race: its outcome is
	 * settled by the lock word, not by this load (pthread_mutex_unlock). */
	return (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) &
		~PRELOAD_KIND_ELISION_BITS) == 0;
}

static inline int mutex_is_destroyed(const pthread_mutex_t *m)
{
	/* Relaxed: as mutex_is_pvlock. */
	return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == PRELOAD_KIND_DESTROYED;
}

/* The pvlock word: glibc's lock word, which glibc never sees for these. */
static inline uint32_t *mutex_word(pthread_mutex_t *m)
{
	return (uint32_t *)&m->__data.__lock;
}

/* Lock and unlock, for the condition variables (no PLT, no interposer). */
int preload_mutex_lock(pthread_mutex_t *m);
int preload_mutex_unlock(pthread_mutex_t *m);

/* ---- spinlocks: the cache of shared memory (spin.c) ---------------------- */
/* Forget what the cache says about [lo, hi) (only its shared ranges, if
 * only_shared): called by maps.c after a mapping change there. */
void spin_ranges_drop(uintptr_t lo, uintptr_t hi, int only_shared);

/* ---- time ---------------------------------------------------------------- */
/* The clocks glibc accepts for timed waits. */
static inline int clock_ok(clockid_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC;
}

static inline int timespec_ok(const struct timespec *t)
{
	return t->tv_nsec >= 0 && t->tv_nsec < 1000000000;
}

#endif /* PVLOCK_PRELOAD_H */
