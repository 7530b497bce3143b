/*
 * preload.h - running a test program again under libpvlock-preload.so.
 */
#ifndef PVLOCK_TESTS_PRELOAD_H
#define PVLOCK_TESTS_PRELOAD_H

/* The library beside the test (build/lib/ for build/tests/, build/check-SAN/
 * lib/ for build/check-SAN/tests/), or $PVLOCK_PRELOAD_LIB; NULL if absent. */
const char *test_preload_lib(void);

/* The sanitizer runtime this program is linked with ("" if none): it must
 * come first in LD_PRELOAD. */
const char *test_sanitizer_lib(void);

/* Which PVLOCK_MODE values test_preload_runs runs each kind with. */
#define TEST_PRELOAD_NATIVE	1u	/* PVLOCK_MODE=native */
#define TEST_PRELOAD_PV		2u	/* PVLOCK_MODE=pv */
#define TEST_PRELOAD_MODE_ENV	0u	/* PVLOCK_MODE left as this process has it */

/*
 * Run this program (argv) again under the preload, once per lock kind
 * (queued, ticket, tas) and, within a kind, once per mode in modes (native
 * before pv; TEST_PRELOAD_MODE_ENV: one run, PVLOCK_MODE untouched), one
 * after the other.  Each run has PVLOCK_PRELOAD_LOCK set to its kind,
 * PVLOCK_MODE as above, PVLOCK_PRELOAD_REPORT unset, and run_env set to the
 * run's name: "preload [KIND, MODE]", or "preload [KIND]" when the mode is
 * left alone.  Returns nonzero if any run failed, or if the library is
 * missing (after a FAIL line saying so).
 */
int test_preload_runs(char **argv, const char *run_env, unsigned modes);

/* test_preload_runs with both modes, native and pv. */
int test_preload_each(char **argv, const char *run_env);

#endif /* PVLOCK_TESTS_PRELOAD_H */
