/*
 * preload_api.h - what the conformance programs of libpvlock-preload.so
 * share (tests/programs/preload_api_*.c): their run once per lock kind
 * under the preload, and the helpers their cases build on.
 */
#ifndef PVLOCK_TESTS_PRELOAD_API_H
#define PVLOCK_TESTS_PRELOAD_API_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "lib/check.h"

#define TEST_API_THREADS 4
#define TEST_API_ROUNDS 5000	/* per thread: enough to contend, quick on a loaded machine */

/* PVLOCK_PRELOAD_LOCK of this run: "queued", "ticket" or "tas". */
extern const char *test_api_kind;

/* *t = now on clock, plus ms milliseconds. */
void test_in_ms(struct timespec *t, clockid_t clock, long ms);

/* Whether pvlock took m: call while holding m.  glibc records the owner's
 * thread id in __owner, pvlock does not, and pvlock marks a mutex it has
 * counted in __count. */
int test_by_pvlock(pthread_mutex_t *m);

/* TEST_API_THREADS threads add TEST_API_ROUNDS each to a plain counter
 * under m: no increment may be lost. */
void test_exclusion(pthread_mutex_t *m);

/* A ping-pong of TEST_API_ROUNDS turns between this thread and another,
 * each waiting on c for its turn; a lost wake-up hangs (the watchdog fails
 * the case). */
struct test_pingpong { pthread_mutex_t m; pthread_cond_t c; int turn; };
void test_ping(struct test_pingpong *p);

struct test_api_case { const char *name; test_fn fn; };

/*
 * main() of a preload_api program.  Run plainly, it runs the `reference`
 * cases on glibc ("glibc [reference]: NAME", to check glibc's answer rather
 * than assume it), then this program again under the preload once per
 * kind; there (PVLOCK_PRELOAD_TEST_RUN set) it runs `cases`, named
 * "preload [KIND]: NAME", each in a forked child.  Under ThreadSanitizer,
 * which a preload cannot stand in front of, one SKIP line.
 */
int test_api_main(char **argv, const struct test_api_case *reference, size_t nreference,
		  const struct test_api_case *cases, size_t ncases);

#define TEST_API_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif /* PVLOCK_TESTS_PRELOAD_API_H */
