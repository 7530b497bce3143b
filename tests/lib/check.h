/*
 * check.h - the test runner shared by the test programs.
 *
 * test_run() runs one case in a forked child: the child sets the lock mode
 * (a process-wide, freeze-on-first-use setting, hence one process per case),
 * resets statistics and fault knobs, arms a watchdog, and calls the case.
 * The parent prints "PASS: case [mode]" or "FAIL: case [mode]: why".
 * A hang becomes a FAIL from the watchdog, never a stuck `make check`.
 */
#ifndef PVLOCK_TESTS_CHECK_H
#define PVLOCK_TESTS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvlock.h>

#include "seams/fault.h"

/*
 * Time in the tests is only ever a hang detector or a cap on extra work,
 * never a verdict: a case runs until it has shown what it must (counted by
 * the lock statistics), and fails with a message naming what is missing if
 * that takes longer than its patience.  Both bounds are times
 * test_time_scale() (PVLOCK_TEST_TIME_SCALE: qemu-user sets 3).
 *
 *   TEST_WATCHDOG_S  per case, in the forked child: no result by then is a
 *                    hang.  The native fair locks at 16x overcommit drain
 *                    their queue at stop in 7-25 s on the 2-core machines at
 *                    load 45-60, against well under 1 s idle.
 *   TEST_PATIENCE_S  inside a case: the longest wait for a path to be
 *                    reached or a state to come (it usually comes in
 *                    milliseconds); below the watchdog, so that a case that
 *                    waits in vain fails with its own message.
 * tests/run.sh's watchdog per program (600 s) is above both.
 */
#define TEST_WATCHDOG_S 120
#define TEST_PATIENCE_S 60

/* ThreadSanitizer (make check-tsan builds every test program with it) runs
 * code 5-15x slower, so some cases are scaled down or skipped there. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

typedef void (*test_fn)(void);

/* mode < 0: the case runs as is (it tests mode handling itself). */
void test_run(const char *name, int mode, test_fn fn);
/* native, then pv; PVLOCK_TEST_MODES=pv or =native runs only that one (a
 * backend that only the pv slow paths consult: tests/system/bpf_stress.sh). */
void test_run_both(const char *name, test_fn fn);
int test_finish(void);					/* exit status for main */

/* Inside a case: fail with a message (printf-style); does not return. */
__attribute__((noreturn, format(printf, 3, 4)))
void test_fail_at(const char *file, int line, const char *fmt, ...);
#define FAIL(...) test_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond) do { if (!(cond)) FAIL("check failed: %s", #cond); } while (0)
#define CHECK_EQ(a, b) do { \
	unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
	if (a_ != b_) FAIL("%s == %llu, expected %s == %llu", #a, a_, #b, b_); } while (0)
#define CHECK_GE(a, b) do { \
	unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
	if (a_ < b_) FAIL("%s == %llu, expected >= %s (%llu)", #a, a_, #b, b_); } while (0)

/* Poll until cond holds; fail after seconds (times test_time_scale()): a
 * deterministic wait for a state another thread is driving to, which comes
 * in milliseconds unless something hangs. */
#define WAIT_UNTIL(cond, seconds) do { \
	uint64_t deadline_ = test_now_ns() + \
		(uint64_t)(seconds) * test_time_scale() * 1000000000ull; \
	while (!(cond)) { \
		if (test_now_ns() > deadline_) FAIL("timed out waiting for %s", #cond); \
		test_pause(); } } while (0)

unsigned test_time_scale(void);		/* PVLOCK_TEST_TIME_SCALE, default 1 */
uint64_t test_patience_ns(void);	/* TEST_PATIENCE_S, scaled */
unsigned test_patience_ms(void);
/* Sleep min_ms (the case's own length, extra work), then poll until done()
 * holds, for at most the patience.  Returns done(): false means the case
 * should fail, naming what it did not see. */
bool test_run_until(unsigned min_ms, bool (*done)(void));
/* Poll until *word equals want, for at most the patience; returns whether
 * it did.  The load is an acquire: what the thread that stored want did
 * before its release store is visible to the caller after a true. */
bool test_await_equal(const unsigned *word, unsigned want);

uint64_t test_now_ns(void);
void test_pause(void);			/* a short sleep between polls */
void test_sleep_ms(unsigned ms);
struct pvlock_stats test_stats(void);

/* Install (or, with NULL, remove) the preemption-point hook while other
 * threads may pass points: a release store, pairing with the acquire load
 * in pvlock__preempt_point, so a thread that sees the hook sees what the
 * case prepared for it. */
void test_point_hook(void (*hook)(enum pvlock_preempt_point where));

/* Thread tid of this process is asleep ('S' in /proc/self/task/TID/stat). */
bool test_tid_asleep(int tid);

/* Confine the calling thread to the lowest CPU of its affinity mask;
 * false if the mask cannot be read or set. */
bool test_pin_to_one_cpu(void);

/* Threads: start a function, join it. */
typedef struct test_thread { unsigned long id; } test_thread;
test_thread test_start(void *(*fn)(void *), void *arg);
void *test_join(test_thread t);

/* ---- the recording backend ----
 * Waits and kicks go through the real futex backend, but are recorded, and
 * kicks can be held back until the case releases them. */
void rec_install(void);
void rec_hold_kicks(bool hold);		/* held kicks are delivered on release */
unsigned rec_waits(void);		/* backend waits that actually began */
unsigned rec_waits_on(const void *ptr);	/* ... that waited on this address */
unsigned rec_kicks(void);		/* kicks sent */
unsigned rec_kicks_held(void);		/* kicks sent but not yet delivered */
/* The same backend, but it knows who runs: with rec_set_preempted(true)
 * every other thread reads "preempted"; steal time grows at every read.
 * uses: the PVLOCK_USE_* bits the slow paths apply. */
void rec_install_knowing(unsigned uses);
void rec_set_preempted(bool on);

#endif /* PVLOCK_TESTS_CHECK_H */
