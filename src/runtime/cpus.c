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

/* The quota allows at most one CPU at a time; set before main. */
static bool quota_one_cpu;

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
 * "QUOTA PERIOD"); true if one of them grants at most one CPU. */
static bool cgroup_one_cpu(void)
{
	char cg[512], path[640], max[64];
	char *rel;

	if (read_small("/proc/self/cgroup", cg, sizeof(cg)) <= 0)
		return false;
	rel = strstr(cg, "0::/");	/* the v2 line; v1-only hosts have none */
	if (!rel)
		return false;
	rel += 3;
	rel[strcspn(rel, "\n")] = '\0';
	for (;;) {
		unsigned long long quota, period;

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max",
			 strcmp(rel, "/") ? rel : "");
		if (read_small(path, max, sizeof(max)) > 0 &&
		    sscanf(max, "%llu %llu", &quota, &period) == 2 && period && quota <= period)
			return true;
		char *slash = strrchr(rel, '/');
		if (!slash || slash == rel)
			return false;
		*slash = '\0';
	}
}

/* Affinity of the calling thread: one CPU? (An error says nothing: no.) */
static bool affinity_one_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	return CPU_COUNT(&set) == 1;
}

void pvlock__cpus_look(void)
{
	bool one = quota_one_cpu || affinity_one_cpu();

	if (__atomic_load_n(&pvlock__one_cpu, __ATOMIC_RELAXED) != one)
		__atomic_store_n(&pvlock__one_cpu, one, __ATOMIC_RELAXED);
}

void pvlock__cpus_wait_tick(void)
{
	static __thread unsigned waits;

	if (++waits % ONE_CPU_RECHECK == 0)
		pvlock__cpus_look();
}

__attribute__((constructor)) static void cpus_init(void)
{
	quota_one_cpu = cgroup_one_cpu();
	pvlock__cpus_look();
	pthread_atfork(NULL, NULL, pvlock__cpus_look);
}
