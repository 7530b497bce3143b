/*
 * pvlock-access-sizes - what an uncontended lock+unlock pair costs with each
 * way of encoding the unlock, on this machine.
 *
 * The pvlock fast paths lock with a 32-bit atomic (CAS or XADD) and must
 * choose how to unlock.  Linux's choices mix access sizes on the lock word
 * (a byte store, a byte CAS, a 16-bit add); on some CPUs a narrow store
 * followed by the next wide locked instruction on the same word stalls store
 * forwarding.  This tool times each pair in a tight single-thread loop on a
 * private word, interleaving the variants and repeating, and prints medians.
 * It measures instruction pairs, not the library (docs/design.md, "Departures
 * from Linux": the unlock's access size in each mode).
 *
 *   build/bin/pvlock-access-sizes [ITERATIONS [REPEATS]]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef union {
	uint32_t word;
	struct { uint8_t byte0, byte1; };	/* little-endian: byte0 is bits 0-7 */
	struct { uint16_t low, high; };
} lockword;

static lockword w;

static inline void lock_cas32(void)
{
	uint32_t expected = 0;

	while (!__atomic_compare_exchange_n(&w.word, &expected, 1, false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		expected = 0;
}

static inline void lock_xadd32(void)
{
	__atomic_fetch_add(&w.word, 2u << 16, __ATOMIC_ACQUIRE);	/* tail += 2 */
}

#define VARIANT(name, lock, unlock) \
	static __attribute__((noinline)) void name(long n) \
	{ for (long i = 0; i < n; i++) { lock; unlock; } }

/* queued lock: CAS32 0 -> 1, then ... */
VARIANT(q_store8, lock_cas32(), __atomic_store_n(&w.byte0, 0, __ATOMIC_RELEASE))
VARIANT(q_cas8, lock_cas32(),
	({ uint8_t e = 1; __atomic_compare_exchange_n(&w.byte0, &e, 0, false,
		__ATOMIC_RELEASE, __ATOMIC_RELAXED); }))
VARIANT(q_cas32, lock_cas32(),
	({ uint32_t e = 1; __atomic_compare_exchange_n(&w.word, &e, 0, false,
		__ATOMIC_RELEASE, __ATOMIC_RELAXED); }))
/* ticket lock: XADD32 on tail, then head += 2 by ... */
VARIANT(t_store16, lock_xadd32(),
	__atomic_store_n(&w.low, (uint16_t)(__atomic_load_n(&w.low, __ATOMIC_RELAXED) + 2),
			 __ATOMIC_RELEASE))
VARIANT(t_xadd16, lock_xadd32(), __atomic_fetch_add(&w.low, 2, __ATOMIC_RELEASE))
VARIANT(t_cas32, lock_xadd32(),
	({ uint32_t v = __atomic_load_n(&w.word, __ATOMIC_RELAXED);
	   while (!__atomic_compare_exchange_n(&w.word, &v,
			(v & 0xffff0000u) | ((v + 2) & 0xffffu), false,
			__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)); }))

static const struct {
	const char *name;
	void (*run)(long);
} variants[] = {
	{ "queued: CAS32 + byte store   (Linux native unlock)", q_store8 },
	{ "queued: CAS32 + byte CAS     (Linux pv unlock)", q_cas8 },
	{ "queued: CAS32 + CAS32        (pvlock unlock)", q_cas32 },
	{ "ticket: XADD32 + 16-bit store (Linux native unlock)", t_store16 },
	{ "ticket: XADD32 + 16-bit XADD  (Linux 4.0 pv unlock)", t_xadd16 },
	{ "ticket: XADD32 + CAS32        (pvlock unlock)", t_cas32 },
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static long parse(const char *text, const char *what, long min, long max)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (*text == 0 || *end || v < min || v > max) {
		fprintf(stderr, "pvlock-access-sizes: %s \"%s\" is not valid; accepted: "
			"an integer from %ld to %ld\n", what, text, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? parse(argv[1], "ITERATIONS", 1000, 1000000000) : 20000000;
	int repeats = argc > 2 ? (int)parse(argv[2], "REPEATS", 1, 101) : 7;
	if (argc > 3) {
		fprintf(stderr, "usage: pvlock-access-sizes [ITERATIONS [REPEATS]]\n");
		return 2;
	}
	double ns[NVARIANTS][101];

	for (int r = 0; r < repeats; r++) {		/* interleaved: A B C A B C */
		for (unsigned v = 0; v < NVARIANTS; v++) {
			w.word = 0;
			double t = now();
			variants[v].run(iters);
			ns[v][r] = (now() - t) / (double)iters * 1e9;
		}
	}
	printf("uncontended lock+unlock pairs, 1 thread, %ld iterations, median of %d "
	       "interleaved repeats [min .. max]\n", iters, repeats);
	for (unsigned v = 0; v < NVARIANTS; v++) {
		qsort(ns[v], (size_t)repeats, sizeof(double), cmp_double);
		printf("  %-52s %6.2f ns  [%.2f .. %.2f]\n", variants[v].name,
		       ns[v][repeats / 2], ns[v][0], ns[v][repeats - 1]);
	}
	return 0;
}
