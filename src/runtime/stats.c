/*
 * stats.c - lock events: per-slot counters summed on read.
 *
 * Only a slot's own thread writes its counters (src/algo/hooks.h, ev_count),
 * with a non-locked add.  So nothing here writes them either: a reset
 * records the current sums as a baseline, and a read returns the sums minus
 * that baseline.  Counters of freed slots are kept (a slot's next thread
 * goes on counting from there), so the sums never go down.
 */
#include <string.h>

#include "algo/hooks.h"

_Static_assert(PVLOCK_EV_COUNT == PVLOCK__STATS_COUNT,
	       "one counter per field of struct pvlock_stats");

/* The sums at the last pvlock_stats_reset (relaxed: a reset racing with a
 * read or another reset gives one of the two baselines, per counter). */
static uint64_t baseline[PVLOCK_EV_COUNT];

static void sum_into(uint64_t *sum, const uint64_t *events)
{
	for (unsigned e = 0; e < PVLOCK_EV_COUNT; e++)
		sum[e] += __atomic_load_n(&events[e], __ATOMIC_RELAXED);
}

static void sum_all(uint64_t *sum)
{
	unsigned slots = pvlock__slot_high_water();

	memset(sum, 0, PVLOCK_EV_COUNT * sizeof(*sum));
	for (unsigned s = 0; s < slots; s++)
		sum_into(sum, pvlock__slots[s].events);
	sum_into(sum, pvlock__orphan_events);
}

void pvlock_stats_read(struct pvlock_stats *out)
{
	uint64_t sum[PVLOCK_EV_COUNT];

	sum_all(sum);
	for (unsigned e = 0; e < PVLOCK_EV_COUNT; e++) {
		uint64_t base = __atomic_load_n(&baseline[e], __ATOMIC_RELAXED);

		sum[e] = sum[e] > base ? sum[e] - base : 0;
	}
	memcpy(out, sum, sizeof(*out));
}

/* Events counted while the reset runs may or may not survive it. */
void pvlock_stats_reset(void)
{
	uint64_t sum[PVLOCK_EV_COUNT];

	sum_all(sum);
	for (unsigned e = 0; e < PVLOCK_EV_COUNT; e++)
		__atomic_store_n(&baseline[e], sum[e], __ATOMIC_RELAXED);
}
