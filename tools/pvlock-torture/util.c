#define _GNU_SOURCE
/*
 * util.c - time, delays and the random numbers every part of the tool uses.
 */
#include <errno.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "torture.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CPUs of our affinity mask (taskset), not all the machine's. */
unsigned usable_cpus(void)
{
	cpu_set_t set;
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return online > 0 && online < 256 ? (unsigned)online : 1;
}

/* Sleep, resuming after signal handlers (they are part of the torture). */
void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* xorshift64*: cheap, good enough for choosing locks and delays. */
uint64_t rnd(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t rnd_below(uint64_t *state, uint64_t n)
{
	return n ? rnd(state) % n : 0;
}

/* A well-mixed, never-zero state derived from the run's seed (splitmix64). */
uint64_t rnd_seed(uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (a * 0x10001ull + b + 1);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z ? z : 1;
}

void spin_loops(unsigned n)
{
	while (n--)
		pvlock__cpu_relax();
}

const char *lock_name(int kind)
{
	static const char *const names[LOCK_KINDS] = { "queued", "ticket", "tas", "busted" };

	return kind >= 0 && kind < LOCK_KINDS ? names[kind] : "all";
}

const char *mode_name(int mode)
{
	return mode == PVLOCK_MODE_NATIVE ? "native" : mode == PVLOCK_MODE_PV ? "pv" : "all";
}

/* Lock sets: 0 the writers' locks, k the level-k signal handlers' locks. */
const char *lock_set_name(int set)
{
	static const char *const names[LEVELS] = {
		"writer", "level-1 handler", "level-2 handler", "level-3 handler", "level-4 handler",
	};
	return set >= 0 && set < LEVELS ? names[set] : "?";
}
