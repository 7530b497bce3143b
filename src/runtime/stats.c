/*
 * stats.c - lock events: per-slot counters summed on read.
 */
#include <string.h>

#include "algo/hooks.h"

_Static_assert(PVLOCK_EV_COUNT == PVLOCK__STATS_COUNT,
	       "one counter per field of struct pvlock_stats");

static void sum_into(uint64_t *sum, const uint64_t *events)
{
	for (unsigned e = 0; e < PVLOCK_EV_COUNT; e++)
		sum[e] += __atomic_load_n(&events[e], __ATOMIC_RELAXED);
}

void pvlock_stats_read(struct pvlock_stats *out)
{
	uint64_t sum[PVLOCK_EV_COUNT] = { 0 };
	unsigned slots = pvlock__slot_high_water();

	for (unsigned s = 0; s < slots; s++)
		sum_into(sum, pvlock__slots[s].events);
	sum_into(sum, pvlock__orphan_events);
	memcpy(out, sum, sizeof(*out));
}

/* Not atomic with respect to concurrent slow paths: an event counted while
 * the reset runs may survive it. */
void pvlock_stats_reset(void)
{
	unsigned slots = pvlock__slot_high_water();

	for (unsigned s = 0; s < slots; s++)
		for (unsigned e = 0; e < PVLOCK_EV_COUNT; e++)
			__atomic_store_n(&pvlock__slots[s].events[e], 0, __ATOMIC_RELAXED);
	for (unsigned e = 0; e < PVLOCK_EV_COUNT; e++)
		__atomic_store_n(&pvlock__orphan_events[e], 0, __ATOMIC_RELAXED);
}
