/*
 * api.c - the public interface: sizes and initialisers, modes and their
 * freezing, the environment (PVLOCK_MODE, PVLOCK_SPIN_THRESHOLD,
 * PVLOCK_STEAL_SPIN, PVLOCK_STEAL_YIELDS), the pv tunables, statistics, the test-and-set lock, and misuse reports
 * (unlocking a lock that is not locked: "bad unlock", docs/design.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/check.h"

static void *tas_locker(void *lock)
{
	pvlock_tas_lock(lock);
	return NULL;
}

/* Make one test-and-set acquisition take the slow path: a thread waits on
 * a held lock until we release it, then leaves holding it; we release it. */
static void tas_slowpath_once(void)
{
	pvlock_tas_t s = PVLOCK_TAS_INIT;

	s.val = 1;
	test_thread t = test_start(tas_locker, &s);
	WAIT_UNTIL(test_stats().tas_slowpath == 1, 10);
	pvlock_tas_unlock(&s);
	test_join(t);
	pvlock_tas_unlock(&s);
}

static void sizes_and_initialisers(void)
{
	CHECK_EQ(sizeof(pvlock_t), 4);
	CHECK_EQ(sizeof(pvlock_ticket_t), 4);
	CHECK_EQ(sizeof(pvlock_tas_t), 4);
	pvlock_t q = PVLOCK_INIT;
	pvlock_ticket_t t = PVLOCK_TICKET_INIT;
	pvlock_tas_t s = PVLOCK_TAS_INIT;
	CHECK_EQ(q.val, 0);
	CHECK_EQ(t.val, 0);
	CHECK_EQ(s.val, 0);
	/* An all-zero lock from calloc is as good as an initialised one. */
	pvlock_t *z = calloc(1, sizeof(*z));
	pvlock_lock(z);
	CHECK(pvlock_is_locked(z));
	pvlock_unlock(z);
	free(z);
}

static void mode_set_get(void)
{
	CHECK_EQ(pvlock_get_mode(), PVLOCK_MODE_PV);		/* the default */
	CHECK_EQ(pvlock_set_mode(PVLOCK_MODE_NATIVE), 0);
	CHECK_EQ(pvlock_get_mode(), PVLOCK_MODE_NATIVE);
	errno = 0;
	CHECK_EQ(pvlock_set_mode((enum pvlock_mode)7), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pvlock_set_mode(PVLOCK_MODE_PV), 0);
	/* Any slow path freezes the mode, even the test-and-set one. */
	tas_slowpath_once();
	errno = 0;
	CHECK_EQ(pvlock_set_mode(PVLOCK_MODE_NATIVE), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(pvlock_get_mode(), PVLOCK_MODE_PV);
}

static void spin_threshold(void)
{
	CHECK_EQ(pvlock_get_spin_threshold(), PVLOCK_SPIN_THRESHOLD_DEFAULT);
	CHECK_EQ(pvlock_set_spin_threshold(256), 0);
	CHECK_EQ(pvlock_get_spin_threshold(), 256);
	errno = 0;
	CHECK_EQ(pvlock_set_spin_threshold(0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pvlock_set_spin_threshold(PVLOCK_SPIN_THRESHOLD_MAX + 1), -1);
	CHECK_EQ(pvlock_get_spin_threshold(), 256);

	CHECK_EQ(pvlock_get_steal_spin(), PVLOCK_STEAL_SPIN_DEFAULT);
	CHECK_EQ(pvlock_set_steal_spin(0), 0);
	CHECK_EQ(pvlock_get_steal_spin(), 0);
	errno = 0;
	CHECK_EQ(pvlock_set_steal_spin(PVLOCK_STEAL_SPIN_MAX + 1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pvlock_get_steal_spin(), 0);

	CHECK_EQ(pvlock_get_steal_yields(), PVLOCK_STEAL_YIELDS_DEFAULT);
	CHECK_EQ(pvlock_set_steal_yields(3), 0);
	CHECK_EQ(pvlock_get_steal_yields(), 3);
	CHECK_EQ(pvlock_set_steal_yields(0), 0);		/* 0: queue at once */
	CHECK_EQ(pvlock_get_steal_yields(), 0);
	CHECK_EQ(pvlock_set_steal_yields(PVLOCK_STEAL_YIELDS_MAX), 0);
	CHECK_EQ(pvlock_get_steal_yields(), PVLOCK_STEAL_YIELDS_MAX);
	errno = 0;
	CHECK_EQ(pvlock_set_steal_yields(PVLOCK_STEAL_YIELDS_MAX + 1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pvlock_get_steal_yields(), PVLOCK_STEAL_YIELDS_MAX);
}

/* Run this program again with an environment and capture what it says. */
static char self_path[4096];
static int run_self(const char *env, const char *what, char *err, size_t errlen,
		    char *out, size_t outlen)
{
	char cmd[8192];
	char errfile[] = "/tmp/pvlock-api-XXXXXX";
	int fd = mkstemp(errfile);

	CHECK(fd >= 0);
	close(fd);
	/* PVLOCK_TEST_RUNNER: how to start this program again when it is not
	 * native (check-aarch64: "qemu-aarch64 -L <sysroot>"). */
	const char *runner = getenv("PVLOCK_TEST_RUNNER");

	snprintf(cmd, sizeof(cmd), "env %s %s '%s' --probe %s 2>%s", env, runner ? runner : "",
		 self_path, what, errfile);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = 0;
	int status = pclose(p);
	FILE *e = fopen(errfile, "r");
	n = e ? fread(err, 1, errlen - 1, e) : 0;
	err[n] = 0;
	if (e)
		fclose(e);
	unlink(errfile);
	return status;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void environment(void)
{
	char err[1024], out[256];

	CHECK_EQ(run_self("PVLOCK_MODE=native", "mode", err, sizeof(err), out, sizeof(out)), 0);
	CHECK(strcmp(out, "native\n") == 0);
	CHECK_EQ(err[0], 0);
	run_self("PVLOCK_MODE=pv", "mode", err, sizeof(err), out, sizeof(out));
	CHECK(strcmp(out, "pv\n") == 0);
	run_self("-u PVLOCK_MODE", "mode", err, sizeof(err), out, sizeof(out));
	CHECK(strcmp(out, "pv\n") == 0);

	/* A bad value: one line naming the variable and the accepted values;
	 * the default is used. */
	run_self("PVLOCK_MODE=turbo", "mode", err, sizeof(err), out, sizeof(out));
	CHECK(strcmp(out, "pv\n") == 0);
	CHECK_EQ(count_lines(err), 1);
	CHECK(strstr(err, "PVLOCK_MODE") && strstr(err, "turbo") &&
	      strstr(err, "native") && strstr(err, "pv"));

	run_self("PVLOCK_SPIN_THRESHOLD=4096", "threshold", err, sizeof(err), out, sizeof(out));
	CHECK(strcmp(out, "4096\n") == 0);
	run_self("PVLOCK_SPIN_THRESHOLD=12abc", "threshold", err, sizeof(err), out, sizeof(out));
	CHECK_EQ(strtoul(out, NULL, 10), PVLOCK_SPIN_THRESHOLD_DEFAULT);
	CHECK_EQ(count_lines(err), 1);
	CHECK(strstr(err, "PVLOCK_SPIN_THRESHOLD") && strstr(err, "12abc"));

	run_self("PVLOCK_STEAL_SPIN=0", "steal", err, sizeof(err), out, sizeof(out));
	CHECK(strcmp(out, "0\n") == 0);
	CHECK_EQ(err[0], 0);
	run_self("PVLOCK_STEAL_SPIN=-3", "steal", err, sizeof(err), out, sizeof(out));
	CHECK_EQ(strtoul(out, NULL, 10), PVLOCK_STEAL_SPIN_DEFAULT);
	CHECK_EQ(count_lines(err), 1);
	CHECK(strstr(err, "PVLOCK_STEAL_SPIN") && strstr(err, "-3"));

	run_self("PVLOCK_STEAL_YIELDS=0", "yields", err, sizeof(err), out, sizeof(out));
	CHECK(strcmp(out, "0\n") == 0);
	CHECK_EQ(err[0], 0);
	run_self("-u PVLOCK_STEAL_YIELDS", "yields", err, sizeof(err), out, sizeof(out));
	CHECK_EQ(strtoul(out, NULL, 10), PVLOCK_STEAL_YIELDS_DEFAULT);
	CHECK_EQ(err[0], 0);
	run_self("PVLOCK_STEAL_YIELDS=-3", "yields", err, sizeof(err), out, sizeof(out));
	CHECK_EQ(strtoul(out, NULL, 10), PVLOCK_STEAL_YIELDS_DEFAULT);
	CHECK_EQ(count_lines(err), 1);
	CHECK(strstr(err, "PVLOCK_STEAL_YIELDS") && strstr(err, "-3"));
}

static void stats_read_reset(void)
{
	tas_slowpath_once();
	CHECK_EQ(test_stats().tas_slowpath, 1);
	pvlock_stats_reset();
	struct pvlock_stats z = test_stats();
	const uint64_t *fields = (const uint64_t *)&z;
	for (size_t i = 0; i < sizeof(z) / sizeof(uint64_t); i++)
		CHECK_EQ(fields[i], 0);
	/* Fast paths count nothing. */
	pvlock_tas_t s = PVLOCK_TAS_INIT;
	for (int i = 0; i < 1000; i++) {
		pvlock_tas_lock(&s);
		pvlock_tas_unlock(&s);
	}
	CHECK_EQ(test_stats().tas_slowpath, 0);
}

static void tas_contended(void)
{
	pvlock_tas_t s = PVLOCK_TAS_INIT;
	CHECK(pvlock_tas_trylock(&s));
	CHECK(pvlock_tas_is_locked(&s));
	CHECK(!pvlock_tas_trylock(&s));
	test_thread t = test_start(tas_locker, &s);
	WAIT_UNTIL(test_stats().tas_slowpath == 1, 10);
	pvlock_tas_unlock(&s);
	test_join(t);			/* it got the lock ... */
	CHECK(pvlock_tas_is_locked(&s));	/* ... and holds it */
	pvlock_tas_unlock(&s);
	CHECK(!pvlock_tas_is_locked(&s));
}

/* Unlocking a lock that is not locked: one line naming the function and the
 * lock's address; the lock stays usable. */
static void capture_stderr(int *saved, int *pipe_r)
{
	int fds[2];

	CHECK_EQ(pipe(fds), 0);
	*saved = dup(2);
	dup2(fds[1], 2);
	close(fds[1]);
	*pipe_r = fds[0];
}

static void restore_stderr(int saved, int pipe_r, char *buf, size_t len)
{
	dup2(saved, 2);
	close(saved);
	ssize_t n = read(pipe_r, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(pipe_r);
}

static void bad_unlocks_reported(void)
{
	pvlock_t q = PVLOCK_INIT;
	pvlock_ticket_t t = PVLOCK_TICKET_INIT;
	pvlock_tas_t s = PVLOCK_TAS_INIT;
	char buf[2048], addr[64];
	int saved, r;

	capture_stderr(&saved, &r);
	pvlock_unlock(&q);
	pvlock_ticket_unlock(&t);
	pvlock_tas_unlock(&s);
	restore_stderr(saved, r, buf, sizeof(buf));
	CHECK_EQ(count_lines(buf), 3);
	CHECK(strstr(buf, "pvlock_unlock(") && strstr(buf, "pvlock_ticket_unlock(") &&
	      strstr(buf, "pvlock_tas_unlock("));
	CHECK(strstr(buf, "not locked"));
	snprintf(addr, sizeof(addr), "%p", (void *)&q);
	CHECK(strstr(buf, addr));
	CHECK_EQ(test_stats().bad_unlock, 3);
	/* Nothing was corrupted: the locks still work. */
	CHECK_EQ(q.val, 0);
	CHECK_EQ(t.val, 0);
	CHECK_EQ(s.val, 0);
	pvlock_lock(&q);
	pvlock_unlock(&q);
	pvlock_ticket_lock(&t);
	pvlock_ticket_unlock(&t);
	CHECK(!pvlock_is_locked(&q) && !pvlock_ticket_is_locked(&t));
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--probe") == 0) {
		if (strcmp(argv[2], "mode") == 0)
			puts(pvlock_get_mode() == PVLOCK_MODE_PV ? "pv" : "native");
		else if (strcmp(argv[2], "steal") == 0)
			printf("%u\n", pvlock_get_steal_spin());
		else if (strcmp(argv[2], "yields") == 0)
			printf("%u\n", pvlock_get_steal_yields());
		else
			printf("%u\n", pvlock_get_spin_threshold());
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 2;
	self_path[n] = 0;

	test_run("sizes and initialisers", -1, sizes_and_initialisers);
	test_run("mode set, get, EINVAL, EBUSY once frozen", -1, mode_set_get);
	test_run("spin threshold, steal spin, steal yields: set, get, EINVAL", -1, spin_threshold);
	test_run("PVLOCK_MODE, PVLOCK_SPIN_THRESHOLD, PVLOCK_STEAL_SPIN, PVLOCK_STEAL_YIELDS, "
		 "bad values", -1, environment);
	test_run("statistics read and reset", -1, stats_read_reset);
	test_run_both("test-and-set trylock and contended lock", tas_contended);
	test_run("unlock of an unlocked lock is reported (bad unlock)", PVLOCK_MODE_PV,
		 bad_unlocks_reported);
	return test_finish();
}
