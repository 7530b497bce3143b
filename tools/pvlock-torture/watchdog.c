#define _GNU_SOURCE
/*
 * watchdog.c - the run must end, with a verdict, whatever the library does.
 *
 * Every 50 ms it looks at each live writer: one that has not completed an
 * acquisition for --stall seconds (time parked by stutter excluded), or has
 * been inside a signal handler that long, is stuck.  The watchdog then says
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
	return (!parked && (int64_t)(now - last) > (int64_t)stall_ns) ||
	       (depth > 0 && (int64_t)(now - hsince) > (int64_t)stall_ns);
}

static _Noreturn void stall(uint64_t now, uint64_t stall_ns, int nstuck, const char *first)
{
	printf("watchdog: FAILURE after %.2f s: %d writer(s) made no progress for %.1f s\n",
	       (double)(now - R.start_ns) / 1e9, nstuck, R.cfg->stall_s);
	for (unsigned i = 0; i < R.cfg->threads; i++) {
		struct writer *w = &R.writers[i];
		int depth = atomic_load(&w->depth);
		char what[160];

		if (!atomic_load(&w->running) || atomic_load(&w->finished))
			continue;
		printf("  writer %u%s (tid %d, incarnation %u): last progress %.2f s ago%s, "
		       "%llu acquisitions, %d handler(s) active\n",
		       i, is_stuck(w, now, stall_ns) ? " STUCK" : "", atomic_load(&w->tid),
		       atomic_load(&w->incarnations), ago(now, atomic_load(&w->last_progress_ns)),
		       atomic_load(&w->paused) ? " (parked)" : "",
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
	/* Everything, including the final joins, must be over by then. */
	uint64_t hard = R.deadline_ns + 2 * stall_ns + 10000000000ull;

	(void)arg;
	while (!atomic_load(&watchdog_quit)) {
		uint64_t now;

		sleep_ns(50000000);
		now = now_ns();
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
	alarm((unsigned)(R.cfg->duration_s + 4 * R.cfg->stall_s + 30));
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
