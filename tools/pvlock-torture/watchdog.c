#define _GNU_SOURCE
/*
 * watchdog.c - the run must end, with a verdict, whatever the library does.
 *
 * Every 50 ms it looks at each live writer: one that has not completed an
 * acquisition for --stall seconds (time parked by stutter excluded), or has
 * been inside a signal handler that long, is stuck.  Those seconds are the
 * process's CPU time divided by the CPUs it may use (at most one per
 * writer): on an idle machine, where a run's threads keep the CPUs busy,
 * that is the clock, but on a loaded one the run gets less CPU and the stall
 * clock slows with it, as the work does.  A writer whose lost wake-up the
 * others run on past is found as soon.  So is one when the whole run sleeps
 * (it used less than 2% of a CPU since the writer's last progress: a
 * runnable thread gets more than that on any machine that still runs it);
 * and STALL_WALL_FACTOR times --stall by the clock finds anything else.
 * The watchdog then says
 * which writers are stuck and where, prints the lock words and statistics,
 * declares FAILURE and exits the process with status 1: a stuck thread
 * cannot be joined, so waiting for it would hang.  Per-writer rather than
 * global progress matters: when a queue head of the pv queued lock is never
 * woken, newcomers keep stealing the lock and the total still grows.
 *
 * A second line of defence, SIGALRM, covers a watchdog that cannot run.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "torture.h"

static pthread_t watchdog;
static atomic_bool watchdog_quit;

/* The stall clock: samples of (clock, CPU time) every 50 ms, read and
 * written by the watchdog thread only.  A time older than the oldest sample
 * gets the oldest sample's CPU time: less CPU than was used, never a stall
 * too early. */
#define SAMPLES 8192	/* 400 s */
static struct { uint64_t wall, cpu; } samples[SAMPLES];
static unsigned nsamples;	/* taken so far; the newest is (nsamples - 1) % SAMPLES */
static unsigned stall_cpus;	/* CPUs the run can keep busy */

static void sample(uint64_t wall)
{
	samples[nsamples % SAMPLES].wall = wall;
	samples[nsamples % SAMPLES].cpu = cpu_ns();
	nsamples++;
}

/* CPU time the run used since the clock read `then`, and over how long by
 * the clock (ns): both from the samples, the newest and the last at or
 * before `then`. */
static uint64_t cpu_since(uint64_t then, uint64_t *wall)
{
	unsigned oldest = nsamples > SAMPLES ? nsamples - SAMPLES : 0, i = nsamples - 1;
	unsigned newest = i;

	while (i > oldest && samples[i % SAMPLES].wall > then)
		i--;
	*wall = samples[newest % SAMPLES].wall - samples[i % SAMPLES].wall;
	return samples[newest % SAMPLES].cpu - samples[i % SAMPLES].cpu;
}

static bool overdue(uint64_t now, uint64_t since, uint64_t stall_ns)
{
	uint64_t wall, cpu;

	if ((int64_t)(now - since) <= (int64_t)stall_ns)
		return false;
	cpu = cpu_since(since, &wall);
	return cpu / stall_cpus > stall_ns || (wall > stall_ns && cpu < wall / 50) ||
	       (int64_t)(now - since) > (int64_t)(STALL_WALL_FACTOR * stall_ns);
}

/* "acquiring writer lock 1 (word 0x00040003, owner writer 5 level 0)" */
static int describe_doing(char *buf, size_t len, uint32_t doing)
{
	unsigned act = doing >> 24, set = (doing >> 16) & 0xff, idx = doing & 0xffff;
	struct torture_lock *l;
	uint32_t owner;
	int n;

	if (act == ACT_IDLE || set >= LEVELS || !R.locks[set] || idx >= R.nlocks[set])
		return snprintf(buf, len, "between locks");
	l = &R.locks[set][idx];
	owner = l->owner;
	n = snprintf(buf, len, "%s %s lock %u (word 0x%08x, ",
		     act == ACT_ACQUIRING ? "acquiring" : "holding", lock_set_name((int)set), idx,
		     R.ops->word(l));
	if (n < 0 || (size_t)n >= len)
		return n;
	if (owner)
		return n + snprintf(buf + n, len - (size_t)n, "owner writer %u level %u)",
				    owner / LEVELS - 1, owner % LEVELS);
	return n + snprintf(buf + n, len - (size_t)n, "no owner)");
}

/* Seconds from `then` to `now`; a writer may have moved after `now` was read. */
static double ago(uint64_t now, uint64_t then)
{
	return then >= now ? 0.0 : (double)(now - then) / 1e9;
}

static bool is_stuck(struct writer *w, uint64_t now, uint64_t stall_ns)
{
	uint64_t last = atomic_load(&w->last_progress_ns);
	uint64_t hsince = atomic_load(&w->handler_since_ns);
	bool parked = atomic_load(&w->paused);
	int depth = atomic_load(&w->depth);

	if (!atomic_load(&w->running) || atomic_load(&w->finished))
		return false;
	return (!parked && overdue(now, last, stall_ns)) ||
	       (depth > 0 && overdue(now, hsince, stall_ns));
}

static _Noreturn void stall(uint64_t now, uint64_t stall_ns, int nstuck, const char *first)
{
	printf("watchdog: FAILURE after %.2f s: %d writer(s) made no progress for %.1f s of "
	       "the run's CPU time per CPU (%u CPUs), or that long while the run slept, or "
	       "%.0f s by the clock\n", (double)(now - R.start_ns) / 1e9, nstuck,
	       R.cfg->stall_s, stall_cpus, STALL_WALL_FACTOR * R.cfg->stall_s);
	for (unsigned i = 0; i < R.cfg->threads; i++) {
		struct writer *w = &R.writers[i];
		int depth = atomic_load(&w->depth);
		char what[160];

		if (!atomic_load(&w->running) || atomic_load(&w->finished))
			continue;
		uint64_t last = atomic_load(&w->last_progress_ns), wall, cpu = cpu_since(last, &wall);

		printf("  writer %u%s (tid %d, incarnation %u): last progress %.2f s ago%s (the run "
		       "used %.2f CPU-s since), %llu acquisitions, %d handler(s) active\n",
		       i, is_stuck(w, now, stall_ns) ? " STUCK" : "", atomic_load(&w->tid),
		       atomic_load(&w->incarnations), ago(now, last),
		       atomic_load(&w->paused) ? " (parked)" : "", (double)cpu / 1e9,
		       (unsigned long long)atomic_load(&w->acquisitions), depth);
		/* Level k is signal k's handler; any subset may be active. */
		for (int k = 0; k < LEVELS; k++) {
			uint32_t doing = atomic_load(&w->doing[k]);

			if (k && doing == DOING(ACT_IDLE, 0, 0))
				continue;
			describe_doing(what, sizeof(what), doing);
			printf("    %s: %s\n", k ? lock_set_name(k) : "thread", what);
		}
	}
	report_locks_held();
	report_stats();
	faults_report();
	printf("FAILURE: stall: %d writer(s) made no progress for %.1f s (first: %s)\n",
	       nstuck, R.cfg->stall_s, first);
	fflush(stdout);
	_exit(EXIT_FAILED);
}

static void check(uint64_t now, uint64_t stall_ns)
{
	int nstuck = 0;
	char first[200] = "";

	for (unsigned i = 0; i < R.cfg->threads; i++) {
		struct writer *w = &R.writers[i];

		if (is_stuck(w, now, stall_ns) && !nstuck++) {
			/* Name the innermost activity: the highest busy level. */
			int n = snprintf(first, sizeof(first), "writer %u ", i), top = 0;

			for (int k = 1; k < LEVELS; k++)
				if (atomic_load(&w->doing[k]) != DOING(ACT_IDLE, 0, 0))
					top = k;
			describe_doing(first + n, sizeof(first) - (size_t)n,
				       atomic_load(&w->doing[top]));
		}
	}
	if (nstuck)
		stall(now, stall_ns, nstuck, first);
}

static void *watchdog_main(void *arg)
{
	uint64_t stall_ns = (uint64_t)(R.cfg->stall_s * 1e9);
	/* Everything, including the final joins, must be over by then: a
	 * hang detector, as far beyond the last end as a stall by the clock. */
	uint64_t hard = R.end_limit_ns + (STALL_WALL_FACTOR + 2) * stall_ns + 10000000000ull;

	(void)arg;
	while (!atomic_load(&watchdog_quit)) {
		uint64_t now;

		sleep_ns(50000000);
		now = now_ns();
		sample(now);
		check(now, stall_ns);
		if (now > hard) {
			printf("FAILURE: the run did not end %.1f s after its deadline\n",
			       (double)(now - R.deadline_ns) / 1e9);
			fflush(stdout);
			_exit(EXIT_FAILED);
		}
	}
	return NULL;
}

static void on_alarm(int sig)
{
	static const char msg[] = "FAILURE: hard time limit (SIGALRM): the watchdog did not run\n";

	(void)sig;
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(EXIT_FAILED);
}

void watchdog_start(void)
{
	int err;

	signal(SIGALRM, on_alarm);
	alarm((unsigned)(R.cfg->duration_s + R.cfg->until_max_s +
			 (STALL_WALL_FACTOR + 4) * R.cfg->stall_s + 30));
	stall_cpus = usable_cpus() < R.cfg->threads ? usable_cpus() : R.cfg->threads;
	sample(now_ns());
	err = pthread_create(&watchdog, NULL, watchdog_main, NULL);
	if (err) {
		printf("FAILURE: pthread_create (watchdog): %s\n", strerror(err));
		fflush(stdout);
		_exit(EXIT_FAILED);
	}
}

void watchdog_stop(void)
{
	atomic_store(&watchdog_quit, true);
	pthread_join(watchdog, NULL);
	alarm(0);
}
