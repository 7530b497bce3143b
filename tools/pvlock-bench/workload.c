/*
 * workload.c - the child side of one contention run: N threads on one lock
 * (or on --lock-count locks, one at random per acquisition) for a warm-up
 * and then a measured time, then one result line on stdout.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* The one pvlock mode the locks of this child need, or NULL if none does. */
static const struct lock_adapter *mode_lock(const struct options *o)
{
	const struct lock_adapter *m = NULL;

	for (unsigned i = 0; i < o->nlocks; i++) {
		const struct lock_adapter *l = o->locks[i];
		if (l->pv_mode < 0)
			continue;
		if (m && m->pv_mode != l->pv_mode) {
			fprintf(stderr, BENCH_NAME ": %s and %s need different pvlock modes: "
				"one process cannot run both\n", m->name, l->name);
			exit(2);
		}
		m = l;
	}
	return m;
}

int child_prepare(const struct options *o)
{
	const struct lock_adapter *l = mode_lock(o);

	if (o->cpus && pin_to_cpus(o->cpus)) {
		fprintf(stderr, BENCH_NAME ": cannot pin to %u CPUs: %s\n", o->cpus, strerror(errno));
		return -1;
	}
	/*
	 * The parent also passes PVLOCK_MODE in the environment; setting the
	 * mode here as well makes the child right whether or not the library
	 * reads the variable, and fails loudly if the mode is already frozen.
	 */
	if (l) {
		if (pvlock_set_mode((enum pvlock_mode)l->pv_mode)) {
			fprintf(stderr, BENCH_NAME ": pvlock_set_mode(%s): %s\n",
				lock_mode_name(l), strerror(errno));
			return -1;
		}
		if ((int)pvlock_get_mode() != l->pv_mode) {
			fprintf(stderr, BENCH_NAME ": pvlock_get_mode() is not %s after setting it\n",
				lock_mode_name(l));
			return -1;
		}
	}
	for (unsigned i = 0; i < o->nlocks; i++) {
		const char *want = o->locks[i]->backend;
		if (want && strcmp(pvlock_backend(), want)) {
			fprintf(stderr, BENCH_NAME ": %s: the library runs on %s, not %s\n",
				o->locks[i]->name, pvlock_backend(), want);
			return -1;
		}
	}
	if (o->spin_threshold && pvlock_set_spin_threshold(o->spin_threshold)) {
		fprintf(stderr, BENCH_NAME ": pvlock_set_spin_threshold(%u): %s\n",
			o->spin_threshold, strerror(errno));
		return -1;
	}
	pvlock_stats_reset();
	return 0;
}

struct thread_arg {
	struct worker *w;
	const struct lock_adapter *lock;
	void *lock_obj;
	pthread_barrier_t *start;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	pthread_barrier_wait(a->start);
	a->lock->run_worker(a->w, a->lock_obj);
	return NULL;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* splitmix64: spreads --seed and the thread index into a nonzero xorshift state. */
static uint64_t seed_for(uint64_t seed, unsigned index)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (index + 1);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z ? z : 1;
}

/* Joins threads until the CLOCK_MONOTONIC deadline; returns how many. */
static unsigned join_until(pthread_t *tids, unsigned n, double deadline)
{
	unsigned joined = 0;

	for (unsigned i = 0; i < n; i++) {
		double left = deadline - now_s();
		struct timespec ts;

		/* pthread_timedjoin_np wants CLOCK_REALTIME. */
		clock_gettime(CLOCK_REALTIME, &ts);
		double abs = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + (left > 0 ? left : 0);
		ts.tv_sec = (time_t)abs;
		ts.tv_nsec = (long)((abs - (double)ts.tv_sec) * 1e9);
		if (pthread_timedjoin_np(tids[i], NULL, &ts))
			break;
		joined++;
	}
	return joined;
}

static void sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Everything the measured phase is the difference of: taken at its start and end. */
struct snapshot {
	double t;
	uint64_t tsc;
	struct rusage ru;
	struct pvlock_stats st;
	uint64_t *counts;	/* per worker */
	uint64_t *samples;	/* per worker */
	uint64_t *hist;		/* all workers merged */
};

/* Reads the workers' published figures; they may still be running. */
static void take_snapshot(struct snapshot *s, const struct worker *w, unsigned n, bool stats)
{
	s->t = now_s();
	s->tsc = ticks();
	getrusage(RUSAGE_SELF, &s->ru);
	if (stats)
		pvlock_stats_read(&s->st);
	for (unsigned i = 0; i < n; i++) {
		s->counts[i] = LOAD(&w[i].count);
		s->samples[i] = LOAD(&w[i].samples);
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			s->hist[b] += LOAD(&w[i].hist[b]);
	}
}

static void snapshot_init(struct snapshot *s, unsigned n)
{
	memset(s, 0, sizeof(*s));
	s->counts = xcalloc(n, sizeof(uint64_t));
	s->samples = xcalloc(n, sizeof(uint64_t));
	s->hist = xcalloc(HIST_BUCKETS, sizeof(uint64_t));
}

int workload_main(const struct options *o)
{
	const struct lock_adapter *l = o->locks[0];
	unsigned n = o->threads[0];
	unsigned nlocks = o->lock_counts[0], lines = o->cs_lines[0];
	struct run_result r;

	result_init(&r);
	if (child_prepare(o))
		return 1;

	struct shared *sh = alloc_lines(sizeof(*sh));
	struct worker *w = alloc_lines(n * sizeof(*w));
	struct thread_arg *args = xcalloc(n, sizeof(*args));
	pthread_t *tids = xcalloc(n, sizeof(*tids));
	/* Each lock on lines of its own, as separate objects would be. */
	size_t stride = (l->size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
	char *lock_obj = alloc_lines(stride * nlocks);
	pthread_barrier_t start;

	sh->cs_lines = lines;
	sh->nlocks = nlocks;
	sh->lock_stride = stride;
	sh->non_cs_loops = o->non_cs_loops;
	sh->data = alloc_lines((size_t)nlocks * lines * sizeof(*sh->data));
	for (unsigned k = 0; k < nlocks; k++)
		l->init(lock_obj + k * stride);
	pthread_barrier_init(&start, NULL, n + 1);

	for (unsigned i = 0; i < n; i++) {
		w[i].sh = sh;
		w[i].rng = seed_for(o->seed, i);
		args[i] = (struct thread_arg){ &w[i], l, lock_obj, &start };
		int err = pthread_create(&tids[i], NULL, thread_main, &args[i]);
		if (err) {
			fprintf(stderr, BENCH_NAME ": pthread_create (thread %u of %u): %s\n",
				i + 1, n, strerror(err));
			exit(1);
		}
	}

	/*
	 * The main thread keeps time and nothing else: it sleeps through the
	 * warm-up, takes a snapshot, sleeps for the duration, raises the stop
	 * flag and takes a second snapshot right then, while the workers may
	 * still run.  The figures are the differences.  A waiter stuck in a
	 * collapsed fair lock can need seconds to notice the flag; that drain
	 * is not part of the run, and must not make the run's wall time
	 * unbounded.
	 */
	struct sched_param rt = { .sched_priority = 1 };
	struct snapshot s0, s1;

	snapshot_init(&s0, n);
	snapshot_init(&s1, n);
	/*
	 * Under 16x overcommit an ordinary timekeeper can wake a second late.
	 * SCHED_FIFO (root only) makes it preempt a worker the moment its
	 * timer fires; it sleeps all the rest of the run, so it takes no CPU
	 * from the workers.  Set after pthread_create: workers must not
	 * inherit it.  Without the privilege the run is still right, only
	 * possibly longer than --duration.
	 */
	r.timer_rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt) == 0;
	pthread_barrier_wait(&start);
	double started = now_s();
	if (o->warmup_s > 0)
		sleep_until(started + o->warmup_s);
	take_snapshot(&s0, w, n, l->is_pvlock);
	sleep_until(s0.t + o->duration_s);
	STORE(&sh->stop, 1);
	take_snapshot(&s1, w, n, l->is_pvlock);

	uint64_t *counts = xcalloc(n, sizeof(*counts));
	uint64_t *hist = xcalloc(HIST_BUCKETS, sizeof(*hist));
	uint64_t total = 0, max_ticks = 0;

	for (unsigned i = 0; i < n; i++) {
		/*
		 * A timed acquisition still waiting at the stop counts with the
		 * time it has waited so far (since the measured phase began, at
		 * most); leaving it out would hide exactly the longest waits of
		 * a collapsed lock.
		 */
		uint64_t since = LOAD(&w[i].wait_start);
		if (since && since < s0.tsc)
			since = s0.tsc;
		if (since && s1.tsc > since) {
			hist[hist_index(s1.tsc - since)]++;
			r.lat_samples++;
			if (s1.tsc - since > max_ticks)
				max_ticks = s1.tsc - since;
		}
		counts[i] = s1.counts[i] - s0.counts[i];
		total += counts[i];
		r.lat_samples += s1.samples[i] - s0.samples[i];
		/* The exact maximum when nothing came before; else the histogram's. */
		if (o->warmup_s <= 0 && LOAD(&w[i].max_ticks) > max_ticks)
			max_ticks = LOAD(&w[i].max_ticks);
	}
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		hist[b] += s1.hist[b] - s0.hist[b];
		if (hist[b] && o->warmup_s > 0 && hist_bucket_mid(b) > (double)max_ticks)
			max_ticks = (uint64_t)hist_bucket_mid(b);
	}
	if (l->is_pvlock) {
#define STAT_DIFF(name, desc) r.st.name = s1.st.name - s0.st.name;
		PVLOCK_STATS_EVENTS(STAT_DIFF)
#undef STAT_DIFF
		r.has_stats = true;
	}

	double elapsed = s1.t - s0.t;
	double ns_per_tick = elapsed * 1e9 / (double)(s1.tsc - s0.tsc);
	double cpu = tv_s(s1.ru.ru_utime) + tv_s(s1.ru.ru_stime) -
		     tv_s(s0.ru.ru_utime) - tv_s(s0.ru.ru_stime);

	r.status = RUN_OK;
	r.acquisitions = total;
	r.elapsed_s = elapsed;
	r.warmup_s = s0.t - started;
	r.acq_per_s = (double)total / elapsed;
	r.cpu_s = cpu;
	r.cpu_s_per_macq = total ? cpu / ((double)total / 1e6) : NAN;
	r.vcsw_per_s = (double)(s1.ru.ru_nvcsw - s0.ru.ru_nvcsw) / elapsed;
	r.ivcsw_per_s = (double)(s1.ru.ru_nivcsw - s0.ru.ru_nivcsw) / elapsed;
	r.jain = jain_index(counts, n);
	r.min_max = min_max_ratio(counts, n);
	r.lat_p50_ns = hist_quantile(hist, r.lat_samples, 0.50) * ns_per_tick;
	r.lat_p99_ns = hist_quantile(hist, r.lat_samples, 0.99) * ns_per_tick;
	r.lat_p999_ns = hist_quantile(hist, r.lat_samples, 0.999) * ns_per_tick;
	r.lat_max_ns = r.lat_samples ? (double)max_ticks * ns_per_tick : NAN;
	r.spin_threshold = pvlock_get_spin_threshold();

	/*
	 * Join for a bounded time.  If every worker finished, check mutual
	 * exclusion exactly: each line was incremented once per acquisition of
	 * its lock, under that lock, so the lines of one lock are all equal and
	 * the first lines of all locks add up to the final total.
	 */
	unsigned joined = join_until(tids, n, s1.t + DRAIN_LIMIT_S);
	r.drain_s = now_s() - s1.t;
	if (joined == n) {
		uint64_t final_total = 0, sum = 0;
		for (unsigned i = 0; i < n; i++)
			final_total += w[i].count;
		r.checked = 1;
		for (unsigned k = 0; k < nlocks && r.status == RUN_OK; k++) {
			const struct cs_line *d = sh->data + (size_t)k * lines;
			sum += d[0].value;
			for (unsigned i = 1; i < lines; i++)
				if (d[i].value != d[0].value) {
					fprintf(stderr, BENCH_NAME ": %s, %u threads: mutual exclusion "
						"broken: lock %u's line %u counted %llu, its line 0 %llu\n",
						l->name, n, k, i, (unsigned long long)d[i].value,
						(unsigned long long)d[0].value);
					r.status = RUN_CHECK_FAILED;
					break;
				}
		}
		if (r.status == RUN_OK && sum != final_total) {
			fprintf(stderr, BENCH_NAME ": %s, %u threads: mutual exclusion broken: "
				"the locks' lines counted %llu of %llu acquisitions\n", l->name, n,
				(unsigned long long)sum, (unsigned long long)final_total);
			r.status = RUN_CHECK_FAILED;
		}
	}
	result_write_line(stdout, &r);
	if (joined < n)
		_exit(0);	/* the stragglers die with the process */

	for (unsigned k = 0; k < nlocks; k++)
		l->destroy(lock_obj + k * stride);
	pthread_barrier_destroy(&start);
	return r.status == RUN_OK ? 0 : 1;
}
