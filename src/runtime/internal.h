/*
 * internal.h - what the runtime's units share, and the runtime functions
 * the library's own tests reach directly.
 */
#ifndef PVLOCK_RUNTIME_INTERNAL_H
#define PVLOCK_RUNTIME_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Environment numbers: decimal digits only, within [min, max]; 0 or -1. */
int pvlock__parse_decimal(const char *text, unsigned min, unsigned max, unsigned *out);
/* Slots handed out now (bits set, retired ones included). */
unsigned pvlock__slots_in_use(void);
/* membarrier(2) registration for the store kind of pv unlock (membarrier.c):
 * 0, or -1 with the reason in why.  Also re-done in a fork child. */
int pvlock__pv_membarrier_register(char *why, size_t len);

/* Look at the affinity mask again and set pvlock__one_cpu (cpus.c). */
void pvlock__cpus_look(void);
/* CPUs usable when the process started (before main): cpus.c. */
unsigned pvlock__cpus_at_start(void);
/* A pv wait begins: every so many, look again. */
void pvlock__cpus_wait_tick(void);

/* CLOCK_MONOTONIC in ns (the vDSO's: async-signal-safe). */
static inline uint64_t pvlock__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* PVLOCK_RUNTIME_INTERNAL_H */
