/*
 * loops.h - the measured loops, as always-inline templates.
 *
 * locks.c instantiates them once per lock with that lock's acquire and
 * release functions as constant arguments, so the compiler inlines the lock
 * into the loop exactly as an application would see it.  peers.cc does the
 * same for the C++ peers (absl, oneTBB), so this header is written in the
 * common subset of C11 and C++17 and includes nothing of pvlock's.
 */
#ifndef PVLOCK_BENCH_LOOPS_H
#define PVLOCK_BENCH_LOOPS_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
#define BENCH_ALIGNED(n) alignas(n)
extern "C" {
#else
#define BENCH_ALIGNED(n) _Alignas(n)
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The optional peers this build has (rules.mk passes each as 0 or 1). */
#ifndef HAVE_CK
#define HAVE_CK 0
#endif
#ifndef HAVE_ABSL
#define HAVE_ABSL 0
#endif
#ifndef HAVE_TBB
#define HAVE_TBB 0
#endif

enum { CACHE_LINE = 64 };

/* Per-thread storage a lock may need for one acquisition (an MCS node). */
struct lock_ctx {
	BENCH_ALIGNED(CACHE_LINE) unsigned char bytes[CACHE_LINE];
};

/*
 * Latency histogram: values below 16 exactly, then 16 log-linear buckets per
 * power of two (about 6% resolution), up to 2^64.  Fixed size, so a worker
 * records a sample with one increment and no allocation.
 */
enum { HIST_SUB_BITS = 4, HIST_SUB = 1 << HIST_SUB_BITS,
       HIST_BUCKETS = HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB };

static ALWAYS_INLINE unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);	/* >= HIST_SUB_BITS */
	unsigned m = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB + m;
}

/* One cache line of the data the critical section modifies. */
struct cs_line {
	BENCH_ALIGNED(CACHE_LINE) volatile uint64_t value;
};

/*
 * Read by every worker; written only before the start and at the stop.
 * With nlocks > 1 the locks are nlocks objects lock_stride bytes apart, and
 * lock k protects data[k * cs_lines .. (k + 1) * cs_lines - 1].
 */
struct shared {
	BENCH_ALIGNED(CACHE_LINE) int stop;
	unsigned cs_lines;
	unsigned nlocks;
	uint64_t lock_stride;
	uint64_t non_cs_loops;
	struct cs_line *data;	/* nlocks * cs_lines lines, each its own cache line */
};

/*
 * Written by its own thread only; aligned so no two workers share a line.
 * The main thread reads count, samples, max_ticks and hist at the warm-up's
 * end and at the stop while the worker may still be running (a waiter stuck
 * in a collapsed fair lock can take seconds to notice the flag), so they are
 * accessed with relaxed atomics: plain moves on x86, and no data race.
 */
struct worker {
	BENCH_ALIGNED(CACHE_LINE) uint64_t count;
	uint64_t samples;
	uint64_t max_ticks;
	uint64_t wait_start;		/* TSC of the timed acquisition in progress, or 0 */
	uint64_t rng;
	struct shared *sh;
	uint32_t hist[HIST_BUCKETS];	/* acquisition latency, TSC ticks */
};

#define LOAD(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n(p, v, __ATOMIC_RELAXED)

typedef void lock_fn(void *lock, struct lock_ctx *ctx);

/* Non-critical work: machine.c, out of line so every lock pays the same call. */
void busy_loop(uint64_t loops);

/*
 * The latency clock: the TSC on x86 (a few ns to read; constant and
 * non-stop on the machines we run on), converted to ns per run by the
 * child.  Elsewhere CLOCK_MONOTONIC in ns, which the same conversion leaves
 * as it is.
 */
static ALWAYS_INLINE uint64_t ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* xorshift64: cheap, and reproducible from --seed. */
static ALWAYS_INLINE uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * Acquisitions until the next timed one: 1..31, 16 on average.  Random
 * rather than every 16th so the sample cannot alias with a periodic pattern
 * (a ticket lock's round-robin order, the scheduler's time slice).
 */
static ALWAYS_INLINE uint64_t sample_gap(uint64_t *rng)
{
	uint64_t r = rng_next(rng);

	return 1 + (r & 15) + ((r >> 4) & 15);
}

/* Read-modify-write of each line: what the lock protects, and our check. */
static ALWAYS_INLINE void critical_section(struct cs_line *data, unsigned lines)
{
	for (unsigned i = 0; i < lines; i++)
		data[i].value = data[i].value + 1;
}

/* One timed acquisition: into the histogram and the maximum. */
static ALWAYS_INLINE void record_latency(struct worker *w, uint64_t dt)
{
	unsigned b = hist_index(dt);

	STORE(&w->hist[b], LOAD(&w->hist[b]) + 1);
	if (dt > LOAD(&w->max_ticks))
		STORE(&w->max_ticks, dt);
	STORE(&w->samples, LOAD(&w->samples) + 1);
}

/*
 * lock; critical section; unlock; non-critical work, until the stop flag.
 * With several locks, each acquisition takes one at random (uniformly, from
 * the worker's own generator).  The flag is checked before each acquisition,
 * so a thread stuck waiting for a lock sees it as soon as it gets the lock.
 * The count is published after every acquisition so the main thread can
 * read it at the warm-up's end and at the stop.
 */
static ALWAYS_INLINE void workload_loop(struct worker *w, void *lock,
					lock_fn *acquire, lock_fn *release)
{
	struct shared *sh = w->sh;
	struct cs_line *data = sh->data;
	unsigned lines = sh->cs_lines;
	unsigned nlocks = sh->nlocks;
	uint64_t stride = sh->lock_stride;
	uint64_t loops = sh->non_cs_loops;
	uint64_t count = 0;
	uint64_t gap = sample_gap(&w->rng);
	struct lock_ctx ctx;

	while (!LOAD(&sh->stop)) {
		void *lk = lock;
		struct cs_line *d = data;

		if (nlocks > 1) {
			/* Multiply-shift: uniform enough, and no division. */
			uint64_t k = ((rng_next(&w->rng) >> 32) * nlocks) >> 32;
			lk = (char *)lock + k * stride;
			d = data + k * lines;
		}
		if (--gap == 0) {
			uint64_t t0 = ticks();
			STORE(&w->wait_start, t0);
			acquire(lk, &ctx);
			uint64_t t1 = ticks();
			STORE(&w->wait_start, 0);
			record_latency(w, t1 - t0);
			gap = sample_gap(&w->rng);
		} else {
			acquire(lk, &ctx);
		}
		critical_section(d, lines);
		release(lk, &ctx);
		STORE(&w->count, ++count);
		if (loops)
			busy_loop(loops);
	}
}

/* Uncontended lock+unlock, nothing else: the fast path's cost. */
static ALWAYS_INLINE void fastpath_loop(void *lock, uint64_t iters,
					lock_fn *acquire, lock_fn *release)
{
	struct lock_ctx ctx;

	for (uint64_t i = 0; i < iters; i++) {
		acquire(lock, &ctx);
		release(lock, &ctx);
	}
}

/*
 * The peers built from C++ (peers.cc), each as init/destroy and its two
 * loops, declared here so locks.c can put them in its table.
 */
#define PEER_DECLARE(id)						\
	void id##_init(void *lock);					\
	void id##_destroy(void *lock);					\
	void id##_worker(struct worker *w, void *lock);			\
	void id##_fastpath(void *lock, uint64_t iters);

/* Bytes reserved for a C++ peer's lock object; peers.cc checks each fits. */
enum { PEER_LOCK_BYTES = CACHE_LINE };

#ifdef __cplusplus
}
#endif

#endif /* PVLOCK_BENCH_LOOPS_H */
