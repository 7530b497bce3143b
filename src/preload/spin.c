/*
 * spin.c - pthread spinlocks on pvlock, when they lie in private memory.
 *
 * glibc's pthread_spinlock_t is a bare int: nothing in it says whether it is
 * process-shared, and another process may have initialised it.  So the
 * drop-in decides by the memory the lock is in: a spinlock in a shared
 * mapping ('s' in /proc/self/maps: MAP_SHARED files, shm, MAP_SHARED
 * anonymous memory, SysV shm) stays glibc's, whatever pshared it was
 * initialised with; one in private memory (the heap, the stack, data,
 * MAP_PRIVATE mappings) becomes the chosen pvlock lock in place, whatever
 * pshared says, since no other process can reach it.
 *
 * The answer for an address comes from a small cache of address ranges.  A
 * miss ("first contact") reads /proc/self/maps and caches the range around
 * the address: the shared mapping that holds it, or, for private memory,
 * everything between the nearest shared mappings below and above it (private
 * mappings and unmapped gaps alike), so a process without shared mappings
 * needs one entry.  The cache stays right because every way a program makes
 * a shared mapping appear - mmap, mremap, shmat - goes through this
 * library's interposers (maps.c), which drop the entries the change touches
 * (docs/preload.md, "Which spinlocks pvlock takes").
 *
 * Nothing here takes a lock or allocates: first contact may run in many
 * threads at once and inside a signal handler that interrupted another
 * first contact, or an mmap.  Each entry is a small seqlock; a reader that
 * finds one being written treats it as a miss, a writer that finds one
 * being written leaves it alone.
 */
#include "preload/preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the range cache -------------------------------------------------------- */
#define SPIN_RANGES 32	/* tests/programs/preload_pshared.c uses more mappings than this */

struct spin_range {
	unsigned long seq;	/* even: stable; odd: being written */
	uintptr_t start;	/* bit 0: the range is shared memory */
	uintptr_t end;		/* exclusive; start == end: empty */
};
static struct spin_range ranges[SPIN_RANGES];
static unsigned ranges_used;	/* entries [0, used) may be in use */
static unsigned ranges_next;	/* the next victim when none is empty */
static unsigned long maps_gen;	/* bumped after every interposed mapping change */

/* Nonzero while the process is known to have no shared mapping at all (no
 * 's' in /proc/self/maps): every spinlock is private, one load says so. */
static int shared_none;

enum { MAPS_UNKNOWN, MAPS_READABLE, MAPS_UNREADABLE };
static int maps_state;

/* Nonzero when the cache knows p: *shared then says where it is. */
static inline int range_find(uintptr_t a, int *shared)
{
	/* Relaxed: an entry published at a slot past the count read here is
	 * only a miss, and a miss asks /proc. */
	unsigned n = __atomic_load_n(&ranges_used, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < n; i++) {
		struct spin_range *r = &ranges[i];
		/* A seqlock read.  Acquire: pairs with the release store of
		 * the even count in range_write, so the bounds it wrote are
		 * seen. */
		unsigned long seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
		uintptr_t start = __atomic_load_n(&r->start, __ATOMIC_RELAXED);
		uintptr_t end = __atomic_load_n(&r->end, __ATOMIC_RELAXED);
		uintptr_t base = start & ~(uintptr_t)1;

		if (a - base >= end - base)
			continue;
		/* Acquire fence: pairs with the release fence in range_claim;
		 * if the bounds read above came from a writer that has since
		 * started again, the count reread here has moved (on aarch64
		 * too: the fence orders the loads before it with this one). */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(seq & 1) && __atomic_load_n(&r->seq, __ATOMIC_RELAXED) == seq) {
			*shared = (int)(start & 1);
			return 1;
		}
		return 0;	/* being rewritten: ask /proc */
	}
	return 0;
}

/* Take entry r for writing, if nobody else is writing it and its count is
 * still *seq.  Returns nonzero on success. */
static int range_claim(struct spin_range *r, unsigned long *seq)
{
	if (*seq & 1)
		return 0;
	/* Relaxed CAS, then a release fence: pairs with the acquire fence in
	 * range_find; a reader that sees any bound written after this fence
	 * rereads an odd or newer count. */
	if (!__atomic_compare_exchange_n(&r->seq, seq, *seq + 1, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return 1;
}

static void range_write(struct spin_range *r, unsigned long seq, uintptr_t start, uintptr_t end)
{
	/* Relaxed: ordered by range_claim's fence and the release below. */
	__atomic_store_n(&r->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&r->end, end, __ATOMIC_RELAXED);
	/* Release: pairs with the acquire load of the count in range_find. */
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
}

/*
 * Drop the entries overlapping [lo, hi): all of them, or only the shared
 * ones.  Called after the mapping change, having bumped maps_gen: an entry
 * being written now belongs to a first contact that checks maps_gen after
 * publishing it (range_put), so it is skipped here.
 */
void spin_ranges_drop(uintptr_t lo, uintptr_t hi, int only_shared)
{
	/* Seq_cst: the generation bump and the fence pair with the fence and
	 * the generation load in range_put (store-then-load on both sides:
	 * either this scan sees that entry, or range_put sees the bump). */
	__atomic_fetch_add(&maps_gen, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!only_shared)	/* relaxed: ordered as the entries, see range_put */
		__atomic_store_n(&shared_none, 0, __ATOMIC_RELAXED);
	/* Relaxed: an entry published past this count is one whose writer's
	 * generation check, after its count bump, comes after this scan's
	 * fence, so it sees the bump above and drops the entry itself. */
	unsigned n = __atomic_load_n(&ranges_used, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n; i++) {
		struct spin_range *r = &ranges[i];
		for (;;) {
			/* A seqlock read, as range_find's (acquire load, then
			 * the acquire fence before the recheck). */
			unsigned long seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
			uintptr_t start = __atomic_load_n(&r->start, __ATOMIC_RELAXED);
			uintptr_t end = __atomic_load_n(&r->end, __ATOMIC_RELAXED);
			uintptr_t base = start & ~(uintptr_t)1;

			if (seq & 1)
				break;	/* its writer checks the generation */
			if (base == end || base >= hi || end <= lo || (only_shared && !(start & 1))) {
				__atomic_thread_fence(__ATOMIC_ACQUIRE);
				if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) == seq)
					break;	/* a consistent look: nothing to drop */
				continue;
			}
			if (range_claim(r, &seq)) {
				range_write(r, seq, 0, 0);
				break;
			}
			/* Lost to another writer: look at what it left. */
		}
	}
}

/* Say "no shared mapping" unless a mapping changed since gen0 was read. */
static void shared_none_put(unsigned long gen0)
{
	/* Relaxed store, seq_cst fence, then the generation: as range_put,
	 * against spin_ranges_drop, which bumps the generation before it clears
	 * shared_none: either it clears after this store, or this sees its
	 * bump and clears. */
	__atomic_store_n(&shared_none, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&maps_gen, __ATOMIC_RELAXED) != gen0)
		__atomic_store_n(&shared_none, 0, __ATOMIC_RELAXED);
}

/* Publish [start, end) unless a mapping changed since gen0 was read. */
static void range_put(uintptr_t start, uintptr_t end, int shared, unsigned long gen0)
{
	struct spin_range *r = NULL;
	unsigned long seq = 0;
	unsigned i;

	for (i = 0; i < SPIN_RANGES && !r; i++) {	/* an empty entry first */
		/* Relaxed: range_claim's CAS decides. */
		seq = __atomic_load_n(&ranges[i].seq, __ATOMIC_RELAXED);
		if (__atomic_load_n(&ranges[i].start, __ATOMIC_RELAXED) ==
		    __atomic_load_n(&ranges[i].end, __ATOMIC_RELAXED) && range_claim(&ranges[i], &seq))
			r = &ranges[i];
	}
	if (!r) {	/* full: evict round-robin; a busy victim means no caching */
		/* Relaxed: only spreads the victims. */
		i = __atomic_fetch_add(&ranges_next, 1, __ATOMIC_RELAXED) % SPIN_RANGES;
		seq = __atomic_load_n(&ranges[i].seq, __ATOMIC_RELAXED);
		if (!range_claim(&ranges[i], &seq))
			return;
		r = &ranges[i];
		i++;
	}
	range_write(r, seq, start | (uintptr_t)!!shared, end);
	/* Relaxed max: see range_find. */
	unsigned used = __atomic_load_n(&ranges_used, __ATOMIC_RELAXED);
	while (used < i && !__atomic_compare_exchange_n(&ranges_used, &used, i, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	/* Seq_cst fence, then the generation: pairs with spin_ranges_drop. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&maps_gen, __ATOMIC_RELAXED) != gen0) {
		seq += 2;	/* what range_write left; if it moved, someone else owns it */
		if (range_claim(r, &seq))
			range_write(r, seq, 0, 0);
	}
}

/* ---- first contact: /proc/self/maps ---------------------------------------- */
struct maps_walk {
	uintptr_t a;		/* the address asked about */
	uintptr_t lo, hi;	/* private so far: from lo to hi */
	int shared, done;
	int field;		/* 0 start, 1 end, 2 permissions, 3 rest of line */
	int perm;		/* characters of the permissions seen */
	uintptr_t start, end;
	int line_shared;
};

static void maps_line(struct maps_walk *w)
{
	if (!w->line_shared)
		return;			/* private: part of the private range */
	if (w->end <= w->a) {
		w->lo = w->end;
	} else if (w->start <= w->a) {
		w->lo = w->start;
		w->hi = w->end;
		w->shared = w->done = 1;
	} else {
		w->hi = w->start;	/* lines are sorted: nothing below a left */
		w->done = 1;
	}
}

static void maps_feed(struct maps_walk *w, const char *buf, long n)
{
	for (long i = 0; i < n && !w->done; i++) {
		char c = buf[i];
		int digit = c >= '0' && c <= '9' ? c - '0' :
			    c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		switch (w->field) {
		case 0:
			if (digit >= 0)
				w->start = w->start * 16 + (uintptr_t)digit;
			else
				w->field = 1;
			break;
		case 1:
			if (digit >= 0)
				w->end = w->end * 16 + (uintptr_t)digit;
			else
				w->field = 2;
			break;
		case 2:
			if (++w->perm == 4) {	/* rwxs or rwxp */
				w->line_shared = c == 's';
				w->field = 3;
			}
			break;
		default:
			if (c == '\n') {
				maps_line(w);
				w->field = w->perm = w->line_shared = 0;
				w->start = w->end = 0;
			}
		}
	}
}

/* 0 on success; else an errno value.  System calls directly: no
 * cancellation point, no interposer, nothing a signal handler could
 * deadlock on. */
static int maps_read(struct maps_walk *w)
{
	char buf[512];	/* the stack of a signal handler may be small */
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno;
	while (!w->done) {
		long n = syscall(SYS_read, (int)fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			syscall(SYS_close, (int)fd);
			return e;
		}
		if (n == 0)
			break;
		maps_feed(w, buf, n);
	}
	syscall(SYS_close, (int)fd);
	return 0;
}

static void say(const char *text)
{
	size_t n = 0;

	while (text[n])
		n++;
	syscall(SYS_write, STDERR_FILENO, text, n);	/* not a cancellation point */
}

static __attribute__((noinline)) int spin_shared_slow(uintptr_t a)
{
	int saved = errno, err = 0;
	/* Seq_cst: read before /proc, so a change made after this is seen
	 * again in range_put (see there). */
	unsigned long gen0 = __atomic_load_n(&maps_gen, __ATOMIC_SEQ_CST);
	struct maps_walk w;

	/* Relaxed: maps_state is a value, not a publication. */
	if (__atomic_load_n(&maps_state, __ATOMIC_RELAXED) == MAPS_UNREADABLE)
		return 1;
	for (int tries = 0; tries < 3; tries++) {
		w = (struct maps_walk){ .a = a, .hi = UINTPTR_MAX };
		if (!(err = maps_read(&w)))
			break;
	}
	int state = MAPS_UNKNOWN;
	/* Relaxed CAS: the first lookup of the process settles the state. */
	__atomic_compare_exchange_n(&maps_state, &state, err ? MAPS_UNREADABLE : MAPS_READABLE,
				    false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	if (state == MAPS_UNKNOWN && err) {
		say("pvlock-preload: /proc/self/maps cannot be read: every spinlock "
		    "stays glibc's in this process\n");
		errno = saved;
		return 1;
	}
	if (state == MAPS_UNREADABLE) {
		errno = saved;
		return 1;
	}
	if (err) {
		/* It was readable before: some locks are pvlock's already, and
		 * guessing could give one lock two owners' protocols. */
		say("pvlock-preload: fatal: /proc/self/maps cannot be read any more "
		    "(out of file descriptors?): cannot tell whether a spinlock is "
		    "in shared memory\n");
		abort();
	}
	range_put(w.lo & ~(uintptr_t)1, w.hi, w.shared, gen0);
	if (w.lo == 0 && w.hi == UINTPTR_MAX)
		shared_none_put(gen0);
	errno = saved;
	return w.shared;
}

/* Nonzero when the spinlock at l is in shared memory, so glibc's. */
static inline int spin_is_shared(pthread_spinlock_t *l)
{
	int shared;

	/* Relaxed: a shared mapping made by another thread reaches this one
	 * with the lock in it, through whatever published the lock, which
	 * then orders the clearing store in spin_ranges_drop too (on aarch64 as
	 * anywhere: coherence after that synchronisation). */
	if (pvlock__likely(__atomic_load_n(&shared_none, __ATOMIC_RELAXED)))
		return 0;
	if (pvlock__likely(range_find((uintptr_t)l, &shared)))
		return shared;
	return spin_shared_slow((uintptr_t)l);
}

/* A fork while another thread wrote an entry leaves it odd in the child,
 * where nobody will finish it: empty it. */
static void ranges_atfork_child(void)
{
	for (unsigned i = 0; i < SPIN_RANGES; i++) {
		/* Relaxed: the child has one thread. */
		unsigned long seq = __atomic_load_n(&ranges[i].seq, __ATOMIC_RELAXED);
		if (seq & 1)
			range_write(&ranges[i], seq - 1, 0, 0);
	}
}

__attribute__((constructor)) static void spin_init_atfork(void)
{
	pthread_atfork(NULL, NULL, ranges_atfork_child);
}

/* ---- the spinlock interposers ------------------------------------------------ */
PRELOAD_EXPORT int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	if (spin_is_shared(l)) {	/* glibc's, with the pshared given */
		preload_count(COUNT_SPIN_GLIBC);
		return preload_real()->spin_init(l, pshared);
	}
	preload_count(COUNT_SPIN_PVLOCK);
	*(volatile uint32_t *)l = 0;	/* free, in every kind */
	return 0;
}

PRELOAD_EXPORT int pthread_spin_destroy(pthread_spinlock_t *l)
{
	if (spin_is_shared(l))
		return preload_real()->spin_destroy(l);
	return 0;
}

PRELOAD_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	if (pvlock__unlikely(spin_is_shared(l)))
		return preload_real()->spin_lock(l);
	word_lock((uint32_t *)l);
	return 0;
}

PRELOAD_EXPORT int pthread_spin_trylock(pthread_spinlock_t *l)
{
	if (pvlock__unlikely(spin_is_shared(l)))
		return preload_real()->spin_trylock(l);
	return word_trylock((uint32_t *)l) ? 0 : EBUSY;
}

PRELOAD_EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	if (pvlock__unlikely(spin_is_shared(l)))
		return preload_real()->spin_unlock(l);
	word_unlock((uint32_t *)l);
	return 0;
}
