/*
 * machine.c - clocks, CPU affinity, the calibrated busy loop, and what
 * machine and commit the results come from.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Non-critical work: an empty loop the compiler must keep.  Not a sleep and
 * not a pause loop: the thread stays runnable and busy, as real work would.
 * Out of line so every lock's worker pays the same call.
 */
void busy_loop(uint64_t loops)
{
	for (uint64_t i = 0; i < loops; i++)
		__asm__ __volatile__("" ::: "memory");
}

/*
 * Iterations per ns.  The best of several short tries: on a noisy machine a
 * slow try means we were preempted, not that the loop got slower.
 */
double busy_calibrate(void)
{
	const uint64_t loops = 2000000;
	double best = 0;

	busy_loop(loops);	/* warm up the frequency governor and the caches */
	for (int i = 0; i < 7; i++) {
		double t0 = now_s();
		busy_loop(loops);
		double rate = loops / ((now_s() - t0) * 1e9);
		if (rate > best)
			best = rate;
	}
	return best;
}

unsigned cpus_allowed(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return (unsigned)CPU_COUNT(&set);
}

/* The first k CPUs we may use.  Threads created afterwards inherit the mask. */
int pin_to_cpus(unsigned k)
{
	cpu_set_t allowed, use;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -1;
	CPU_ZERO(&use);
	for (int c = 0; c < CPU_SETSIZE && n < k; c++)
		if (CPU_ISSET(c, &allowed)) {
			CPU_SET(c, &use);
			n++;
		}
	if (n < k)
		return -1;
	return sched_setaffinity(0, sizeof(use), &use);
}

/*
 * Tries it in a throw-away child (a new session, so its own autogroup):
 * the study's own session is left as it is.
 */
const char *autogroup_check(int n)
{
	static char why[160];
	int fds[2];

	if (pipe(fds))
		return "pipe failed";
	pid_t pid = fork();
	if (pid == 0) {
		char ok = 1;
		FILE *f;
		setsid();
		f = fopen("/proc/self/autogroup", "w");
		if (!f || fprintf(f, "%d", n) < 0 || fclose(f))
			ok = 0;
		if (write(fds[1], &ok, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	char ok = 0;
	if (pid < 0 || read(fds[0], &ok, 1) != 1)
		ok = 0;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (ok)
		return NULL;
	snprintf(why, sizeof(why), "cannot set an autogroup's nice to %d (no autogroups, or not "
		 "allowed: negative values need root)", n);
	return why;
}

#ifndef BENCH_COMMIT
#define BENCH_COMMIT "unknown"	/* rules.mk passes git rev-parse --short HEAD */
#endif

/* The "model name" of /proc/cpuinfo, or "unknown CPU". */
static void cpu_model(char *buf, size_t n)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, n, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (colon && !strncmp(line, "model name", 10)) {
			snprintf(buf, n, "%.*s", (int)strcspn(colon + 2, "\n"), colon + 2);
			break;
		}
	}
	if (f)
		fclose(f);
}

void provenance_now(struct provenance *p)
{
	time_t t = time(NULL);
	struct tm tm;
	struct utsname u;
	char host[64] = "unknown", model[96];

	strftime(p->date, sizeof(p->date), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	snprintf(p->commit, sizeof(p->commit), "%s", BENCH_COMMIT);
	gethostname(host, sizeof(host) - 1);
	cpu_model(model, sizeof(model));
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	/* Nothing to quote: summary.csv carries it in a column, results.json in a string. */
	for (char *c = model; *c; c++)
		if (*c == ',' || *c == '"' || *c == '\\')
			*c = ' ';
	snprintf(p->machine, sizeof(p->machine), "%s: %s; %ld CPUs; Linux %s", host, model,
		 sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

/* Out of memory, a study or a child has no way to go on: these exit. */
static void *or_exit(void *p)
{
	if (!p) {
		fprintf(stderr, BENCH_NAME ": out of memory\n");
		exit(1);
	}
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	return or_exit(calloc(n ? n : 1, size));
}

void *alloc_lines(size_t bytes)
{
	size_t rounded = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
	void *p = or_exit(aligned_alloc(CACHE_LINE, rounded ? rounded : CACHE_LINE));

	memset(p, 0, rounded);
	return p;
}
