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

/*
 * Run this program (argv) again under the preload, once per lock kind
 * (queued, ticket, tas) and mode (native, pv), one after the other, with
 * PVLOCK_PRELOAD_LOCK and PVLOCK_MODE set and run_env set to the run's
 * name, "preload [KIND, MODE]".  Returns nonzero if any run failed, or if
 * the library is missing (after a FAIL line saying so).
 */
int test_preload_each(char **argv, const char *run_env);

#endif /* PVLOCK_TESTS_PRELOAD_H */
