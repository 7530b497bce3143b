/*
 * fastpath.c - the child side of the fast-path table: one lock, lock+unlock
 * back to back, never contended, in a process with a second thread alive.
 *
 * The second thread only sleeps, but its existence matters: glibc's mutex
 * skips its atomic instructions while a process has a single thread (3.9 ns
 * instead of 12.8 ns on the 2-CPU machines), and no program that needs a
 * lock runs that way.  So every lock is measured with that thread started.
 *
 * Timed: the fastest of many short chunks (each well under a scheduler
 * slice); on a shared machine interference only ever adds time, so the
 * minimum is the estimate of the lock's own cost.  Counted: under
 * callgrind, instructions of N pairs and of 2N pairs are dumped separately;
 * the parent takes (I(2N) - I(N)) / N, which cancels everything the two
 * dumps have in common (the dump requests themselves, loop set-up).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#else
#define HAVE_CALLGRIND 0
#endif

enum { TIMED_CHUNKS = 20 };

bool fastpath_can_count(void)
{
	return HAVE_CALLGRIND;
}

static void *new_lock(const struct lock_adapter *l)
{
	void *lock_obj = alloc_lines(l->size);

	l->init(lock_obj);
	return lock_obj;
}

/*
 * Every lock of the list in turn, two dumps each: "NAME:n" and "NAME:2n".
 * One valgrind start-up for all the locks of a mode instead of one per lock.
 */
static int count_instructions(const struct options *o)
{
#if HAVE_CALLGRIND
	for (unsigned i = 0; i < o->nlocks; i++) {
		const struct lock_adapter *l = o->locks[i];
		void *lock_obj = new_lock(l);
		char name[64];

		l->run_fastpath(lock_obj, 1000);	/* lazy binding, first touch */
		CALLGRIND_ZERO_STATS;
		l->run_fastpath(lock_obj, o->fastpath_iters);
		snprintf(name, sizeof(name), "%s:n", l->name);
		CALLGRIND_DUMP_STATS_AT(name);
		l->run_fastpath(lock_obj, 2 * o->fastpath_iters);
		snprintf(name, sizeof(name), "%s:2n", l->name);
		CALLGRIND_DUMP_STATS_AT(name);
		l->destroy(lock_obj);
		free(lock_obj);
	}
	return 0;
#else
	(void)o;
	fprintf(stderr, BENCH_NAME ": built without <valgrind/callgrind.h>\n");
	return -1;
#endif
}

/* The second thread: blocks on a pipe nobody writes until exit. */
static void *bystander(void *arg)
{
	char c;

	while (read(*(int *)arg, &c, 1) < 0)
		;
	return NULL;
}

/* Start the bystander; the process has two threads from here on. */
static void start_bystander(void)
{
	static int fds[2];
	pthread_t t;

	if (pipe(fds) || pthread_create(&t, NULL, bystander, &fds[0])) {
		fprintf(stderr, BENCH_NAME ": cannot start the fast path's second thread\n");
		exit(1);
	}
	pthread_detach(t);
}

int fastpath_main(const struct options *o)
{
	const struct lock_adapter *l = o->locks[0];
	struct run_result r;

	result_init(&r);
	if (child_prepare(o))
		return 1;
	start_bystander();
	if (o->callgrind) {
		if (count_instructions(o))
			return 1;
	} else {
		void *lock_obj = new_lock(l);
		uint64_t chunk = o->fastpath_iters / TIMED_CHUNKS + 1;
		double ns[TIMED_CHUNKS];

		l->run_fastpath(lock_obj, chunk);	/* warm up caches and the clock */
		for (unsigned i = 0; i < TIMED_CHUNKS; i++) {
			double t0 = now_s();
			l->run_fastpath(lock_obj, chunk);
			ns[i] = (now_s() - t0) * 1e9 / (double)chunk;
		}
		r.fastpath_ns = min_of(ns, TIMED_CHUNKS);
		r.acquisitions = chunk * (TIMED_CHUNKS + 1);
		l->destroy(lock_obj);
		free(lock_obj);
	}

	r.status = RUN_OK;
	r.spin_threshold = pvlock_get_spin_threshold();
	if (l->is_pvlock) {
		/* Uncontended means no slow path at all: the stats prove it. */
		pvlock_stats_read(&r.st);
		r.has_stats = true;
	}
	result_write_line(stdout, &r);
	return 0;
}
