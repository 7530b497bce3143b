#define _GNU_SOURCE
/*
 * writers.c - the writer threads and the checked critical section.
 *
 * Mutual exclusion is checked with fields only the lock protects: "owner"
 * must be 0 on entry and still ours on exit, and "count" is incremented as
 * a read, a hold, then a write, so an overlapping holder loses updates that
 * the final report counts.  None of these are atomic on purpose.
 */
#include <sched.h>
#include <unistd.h>

#include "torture.h"

_Thread_local struct writer *self;

uint32_t context_id(const struct writer *w, int level)
{
	return (uint32_t)(w->id + 1) * LEVELS + (uint32_t)level;
}

static void violation(enum violation_kind kind, int set, unsigned index,
		      uint32_t me, uint32_t found)
{
	atomic_fetch_add_explicit(&R.violations, 1, memory_order_relaxed);
	if (!atomic_exchange(&R.first_violation_taken, true))
		R.first_violation = (struct violation){ kind, set, (int)index, me, found };
}

/* Mostly the plain lock; now and then a bounded trylock loop first. */
static void acquire(struct torture_lock *l, uint64_t *rng)
{
	if (rnd_below(rng, 16) == 0) {
		for (int i = 0; i < 64; i++) {
			if (R.ops->trylock(l))
				return;
			spin_loops(8);
		}
	}
	R.ops->lock(l);
}

void critical_section(struct writer *w, int level, int set, unsigned index,
		      uint64_t *rng, hold_fn *hold)
{
	struct torture_lock *l = &R.locks[set][index];
	uint32_t me = context_id(w, level), found;
	uint32_t was = atomic_load_explicit(&w->doing[level], memory_order_relaxed);
	uint64_t count;

	atomic_store_explicit(&w->doing[level], DOING(ACT_ACQUIRING, set, index),
			      memory_order_relaxed);
	acquire(l, rng);
	atomic_store_explicit(&w->doing[level], DOING(ACT_HOLDING, set, index),
			      memory_order_relaxed);

	if (!R.ops->is_locked(l))
		violation(V_NOT_LOCKED, set, index, me, 0);
	found = l->owner;
	if (found)
		violation(V_ENTER_OWNED, set, index, me, found);
	l->owner = me;
	count = l->count;
	hold(w, level, rng);
	l->count = count + 1;
	found = l->owner;
	if (found != me)
		violation(V_EXIT_CHANGED, set, index, me, found);
	l->owner = 0;
	R.ops->unlock(l);

	/* Restore: a nested section must not hide the lock held around it. */
	atomic_store_explicit(&w->doing[level], was, memory_order_relaxed);
}

/*
 * Hold times as locktorture chooses them: mostly tiny, rarely long (the
 * holder sleeps, like a preempted lock holder), sometimes a yield.
 */
static void writer_hold(struct writer *w, int level, uint64_t *rng)
{
	uint64_t r = rnd(rng);
	uint64_t n = R.cfg->threads;

	(void)level;
	if (r % (n * 2000) == 0)
		sleep_ns(1000000 + (r >> 32) % 4000000);
	else if (r % (n * 200) == 1)
		spin_loops(5000);
	else
		spin_loops((unsigned)(r >> 40) & 63);
	if ((r >> 20) % (n * 128) == 0)
		sched_yield();
	if (R.cfg->signals && (r >> 30) % 16 == 0)
		irqsave_section(w, rng);
}

/* Stutter: park holding nothing until the main thread resumes everyone. */
static void park(struct writer *w)
{
	atomic_store(&w->paused, true);
	while (atomic_load(&R.paused) && !atomic_load(&R.stop))
		sleep_ns(1000000);
	atomic_store(&w->last_progress_ns, now_ns());
	atomic_store(&w->paused, false);
}

void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t *rng = &w->rng[0];

	self = w;
	atomic_store(&w->tid, (int)gettid());
	if (R.cfg->signals)
		signals_unblock();

	while (!atomic_load_explicit(&R.stop, memory_order_relaxed)) {
		uint64_t r;

		if (atomic_load_explicit(&R.paused, memory_order_relaxed)) {
			park(w);
			continue;
		}
		if (atomic_load_explicit(&w->last_progress_ns, memory_order_relaxed) >= w->life_end_ns)
			break;	/* churn: make room for a new thread */
		critical_section(w, 0, 0, (unsigned)rnd_below(rng, R.nlocks[0]), rng, writer_hold);
		atomic_fetch_add_explicit(&w->acquisitions, 1, memory_order_relaxed);
		atomic_store_explicit(&w->last_progress_ns, now_ns(), memory_order_relaxed);

		r = rnd(rng);
		spin_loops((unsigned)r & 127);
		if ((r >> 12) % 1024 == 0)
			sched_yield();
	}
	/* No handler may start once the thread is being torn down. */
	signals_block_all();
	atomic_store(&w->finished, true);
	return NULL;
}
