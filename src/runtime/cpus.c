/*
 * cpus.c - can this process run two of its threads at the same time?
 *
 * Not when its threads may use one CPU only (an affinity mask of one CPU) or
 * when its cgroup grants it at most one CPU's worth of time (cgroup v2
 * cpu.max, on its own cgroup or any ancestor).  A waiter that spins there
 * only keeps the lock holder, which needs that same CPU, from running: the
 * pv slow paths then skip their spin loops (pvlock__one_cpu, src/algo/hooks.h)
 * and sleep or yield at once, as glibc's mutex does.
 *
 * pvlock__cpus_usable publishes how many CPUs that is (the affinity mask's
 * count, capped by the quota rounded up; at least 1): the pv ticket lock's
 * far-back waiters sleep at once when more turns are ahead of them.
 *
 * The affinity is read again every ONE_CPU_RECHECK pv waits of a thread and
 * after fork; the quota once, before main (a quota that changes while the
 * program runs is not followed).  A thread whose mask differs from the
 * others' decides for everyone until the next look: a stale answer costs one
 * spin round or one early sleep, never correctness.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "runtime/internal.h"

/* Written by whichever thread looked last, read relaxed by the slow paths
 * (hooks.h): a hint, paired with no other access. */
bool pvlock__one_cpu;
/* Likewise (hooks.h); 0 until the first look. */
unsigned pvlock__cpus_usable;

/* CPUs' worth of time the quota allows, rounded up; 0: no quota.  Set
 * before main. */
static unsigned quota_cpus;

enum { ONE_CPU_RECHECK = 256 };

/* Read a small file whole into buf (NUL-terminated); -1 if it cannot be. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* cgroup v2: cpu.max of our cgroup and of each ancestor ("max PERIOD" or
 * "QUOTA PERIOD"); the smallest grant, in CPUs rounded up; 0: none. */
static unsigned cgroup_cpus(void)
{
	char cg[512], path[640], max[64];
	char *rel;
	unsigned cpus = 0;

	if (read_small("/proc/self/cgroup", cg, sizeof(cg)) <= 0)
		return 0;
	rel = strstr(cg, "0::/");	/* the v2 line; v1-only hosts have none */
	if (!rel)
		return 0;
	rel += 3;
	rel[strcspn(rel, "\n")] = '\0';
	for (;;) {
		unsigned long long quota, period;

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max",
			 strcmp(rel, "/") ? rel : "");
		if (read_small(path, max, sizeof(max)) > 0 &&
		    sscanf(max, "%llu %llu", &quota, &period) == 2 && period) {
			unsigned long long n = (quota + period - 1) / period;

			if (n < 1)
				n = 1;
			if (!cpus || n < cpus)
				cpus = n > CPU_SETSIZE ? CPU_SETSIZE : (unsigned)n;
		}
		char *slash = strrchr(rel, '/');
		if (!slash || slash == rel)
			return cpus;
		*slash = '\0';
	}
}

/* CPUs in the calling thread's affinity mask (an error says nothing: 0). */
static unsigned affinity_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	return (unsigned)CPU_COUNT(&set);
}

void pvlock__cpus_look(void)
{
	unsigned cpus = affinity_cpus();

	if (quota_cpus && (!cpus || quota_cpus < cpus))
		cpus = quota_cpus;
	bool one = cpus == 1;

	if (__atomic_load_n(&pvlock__one_cpu, __ATOMIC_RELAXED) != one)
		__atomic_store_n(&pvlock__one_cpu, one, __ATOMIC_RELAXED);
	if (__atomic_load_n(&pvlock__cpus_usable, __ATOMIC_RELAXED) != cpus)
		__atomic_store_n(&pvlock__cpus_usable, cpus, __ATOMIC_RELAXED);
}

void pvlock__cpus_wait_tick(void)
{
	static __thread unsigned waits;

	if (++waits % ONE_CPU_RECHECK == 0)
		pvlock__cpus_look();
}

/* Before main, from whichever constructor asks first (this file's, or
 * mode.c's choice of the pv unlock kind): constructors run one at a time,
 * so a plain flag suffices. */
static void cpus_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	quota_cpus = cgroup_cpus();
	pvlock__cpus_look();
	pthread_atfork(NULL, NULL, pvlock__cpus_look);
}

__attribute__((constructor)) static void cpus_constructor(void)
{
	cpus_init();
}

unsigned pvlock__cpus_at_start(void)
{
	cpus_init();
	/* Relaxed: written by cpus_init's look on this same thread, before
	 * main; program order gives us that store. */
	return __atomic_load_n(&pvlock__cpus_usable, __ATOMIC_RELAXED);
}
