/*
 * check.c - test runner: one forked child per case, watchdog, PASS/FAIL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "lib/check.h"

static int passed, failed;
static int report_fd = -1;	/* child: where the failure reason goes */

uint64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void test_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void test_point_hook(void (*hook)(enum pvlock_preempt_point where))
{
	__atomic_store_n(&pvlock__fault.point_hook, hook, __ATOMIC_RELEASE);
}

bool test_pin_to_one_cpu(void)
{
	cpu_set_t set;
	int first = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	while (first < CPU_SETSIZE && !CPU_ISSET(first, &set))
		first++;
	CPU_ZERO(&set);
	CPU_SET(first, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

bool test_tid_asleep(int tid)
{
	char path[64], buf[256];

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');	/* the name may hold anything */
	return p && p[1] == ' ' && p[2] == 'S';
}

void test_pause(void)
{
	struct timespec ts = { .tv_nsec = 100000 };	/* 100 us */

	nanosleep(&ts, NULL);
}

unsigned test_time_scale(void)
{
	static unsigned scale;	/* atomic; 0: not read yet (any thread may ask) */
	unsigned k = __atomic_load_n(&scale, __ATOMIC_RELAXED);

	if (!k) {
		const char *env = getenv("PVLOCK_TEST_TIME_SCALE");
		int v = env ? atoi(env) : 1;

		k = v > 0 && v <= 100 ? (unsigned)v : 1;
		__atomic_store_n(&scale, k, __ATOMIC_RELAXED);
	}
	return k;
}

uint64_t test_patience_ns(void)
{
	return (uint64_t)TEST_PATIENCE_S * test_time_scale() * 1000000000ull;
}

unsigned test_patience_ms(void)
{
	return TEST_PATIENCE_S * test_time_scale() * 1000u;
}

bool test_run_until(unsigned min_ms, bool (*done)(void))
{
	test_sleep_ms(min_ms);
	uint64_t give_up = test_now_ns() + test_patience_ns();

	while (!done()) {
		if (test_now_ns() > give_up)
			return done();
		test_sleep_ms(10);
	}
	return true;
}

bool test_await_equal(const unsigned *word, unsigned want)
{
	uint64_t give_up = test_now_ns() + test_patience_ns();	/* a hang */

	/* Acquire: pairs with the release store of want by the thread the
	 * caller waits for; the acquire/release pair orders its earlier
	 * writes before our later reads on aarch64 as on x86. */
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != want) {
		if (test_now_ns() > give_up)
			return false;
		test_pause();
	}
	return true;
}

struct pvlock_stats test_stats(void)
{
	struct pvlock_stats s;

	pvlock_stats_read(&s);
	return s;
}

test_thread test_start(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, arg) != 0)
		FAIL("pthread_create failed");
	return (test_thread){ (unsigned long)t };
}

void *test_join(test_thread t)
{
	void *ret;

	pthread_join((pthread_t)t.id, &ret);
	return ret;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s:%d: ", file, line);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (report_fd >= 0)
		(void)!write(report_fd, msg, strlen(msg));
	else
		fprintf(stderr, "%s\n", msg);
	_exit(1);
}

/* A forked child runs on futex (one program per process: the parent's is
 * not ours); PVLOCK_BACKEND=bpf loads a program of the case's own, so that
 * the stress and torture cases also run on the bpf backend. */
static void test_backend_from_environment(void)
{
	const char *want = getenv("PVLOCK_BACKEND");
	char why[300];

	if (want && !strcmp(want, "bpf") && pvlock__bpf_backend_load(why, sizeof(why)) != 0)
		FAIL("PVLOCK_BACKEND=bpf, but the backend does not load: %s", why);
}

void test_run(const char *name, int mode, test_fn fn)
{
	const char *mode_name = mode == PVLOCK_MODE_PV ? " [pv]" :
				mode == PVLOCK_MODE_NATIVE ? " [native]" : "";
	int fds[2];

	fflush(stdout);
	uint64_t started = test_now_ns();
	if (pipe(fds) != 0) {
		perror("pipe");
		exit(2);
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		report_fd = fds[1];
		alarm(TEST_WATCHDOG_S * test_time_scale());	/* default action: the child dies */
		if (mode >= 0 && pvlock_set_mode((enum pvlock_mode)mode) != 0)
			FAIL("pvlock_set_mode: %s", strerror(errno));
		pvlock__fault_reset();
		test_backend_from_environment();
		pvlock_stats_reset();
		fn();
		_exit(0);
	}
	close(fds[1]);
	char reason[512] = "";
	ssize_t n = read(fds[0], reason, sizeof(reason) - 1);
	reason[n > 0 ? n : 0] = 0;
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	/* For the log (run.sh counts only PASS/FAIL/SKIP lines): how long each
	 * case took, so that a slow machine's margins can be read off. */
	printf("# %s%s: %llu ms\n", name, mode_name,
	       (unsigned long long)((test_now_ns() - started) / 1000000));

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !reason[0]) {
		printf("PASS: %s%s\n", name, mode_name);
		passed++;
		return;
	}
	failed++;
	if (reason[0])
		printf("FAIL: %s%s: %s\n", name, mode_name, reason);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		printf("FAIL: %s%s: watchdog: no result after %u s (hang)\n", name, mode_name,
		       TEST_WATCHDOG_S * test_time_scale());
	else if (WIFSIGNALED(status))
		printf("FAIL: %s%s: killed by signal %d (%s)\n", name, mode_name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		printf("FAIL: %s%s: exit status %d\n", name, mode_name, WEXITSTATUS(status));
}

void test_run_both(const char *name, test_fn fn)
{
	const char *only = getenv("PVLOCK_TEST_MODES");

	if (!only || strcmp(only, "pv"))
		test_run(name, PVLOCK_MODE_NATIVE, fn);
	if (!only || strcmp(only, "native"))
		test_run(name, PVLOCK_MODE_PV, fn);
}

int test_finish(void)
{
	fflush(stdout);
	return failed ? 1 : 0;
}
