/*
 * pv_unlock_cas.c - how the kind of pv unlock is chosen, and the store
 * kind without membarrier: PVLOCK_PV_UNLOCK=cas gives the CAS kind
 * (_Q_SLOW_VAL while a head sleeps), =store the store kind, a bad value one
 * line and the default; membarrier(2) refused by a seccomp filter before
 * the library's constructor gives the CAS kind (and a line, if store was
 * asked for); refused after it, the store kind's head does not sleep but
 * looks again.  The cases that choose the kind run this program again
 * (--probe), since the choice is made before main.  tests/unit/pv_unlock.c has
 * the store kind step by step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "algo/pv_hash.h"
#include "lib/check.h"

static pvlock_t lock;
static char self_path[4096];

static void *locker(void *arg)
{
	pvlock_lock(arg);
	pvlock_unlock(arg);
	return NULL;
}

static uint8_t locked_byte(void)
{
	return __atomic_load_n(&lock.locked, __ATOMIC_ACQUIRE);
}

static bool store_kind(void)
{
	return !(__atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED) & PVLOCK__MODE_CAS_UNLOCK);
}

/* --probe: print the kind, then one head sleep and its counters. */
static int probe(void)
{
	rec_install();
	pvlock_set_spin_threshold(64);
	pvlock_lock(&lock);
	pthread_t b;
	pthread_create(&b, NULL, locker, &lock);
	for (unsigned ms = 0; rec_waits() < 1 && ms < test_patience_ms(); ms++)
		test_sleep_ms(1);
	unsigned byte = locked_byte();
	pvlock_unlock(&lock);
	pthread_join(b, NULL);
	struct pvlock_stats s;
	pvlock_stats_read(&s);
	printf("kind=%s byte=%u wait_head=%llu kick=%llu membarrier=%llu\n",
	       store_kind() ? "store" : "cas", byte, (unsigned long long)s.pv_wait_head,
	       (unsigned long long)s.pv_kick_unlock, (unsigned long long)s.pv_membarrier);
	return 0;
}

/* A filter that refuses membarrier(2) with EPERM, as container runtimes'
 * default profiles may.  false if the kernel will not take it. */
static bool refuse_membarrier(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* Run --probe with PVLOCK_PV_UNLOCK=kind (NULL: unset), membarrier refused
 * or not, started on one CPU or not; its stdout and stderr in out.  false:
 * no filter (or no pinning) possible here. */
static bool run_probe_on(const char *kind, bool refuse, bool one_cpu, char *out, size_t len)
{
	int fds[2];

	CHECK_EQ(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		if (refuse && !refuse_membarrier())
			_exit(77);
		if (one_cpu && !test_pin_to_one_cpu())
			_exit(77);
		if (kind)
			setenv("PVLOCK_PV_UNLOCK", kind, 1);
		else
			unsetenv("PVLOCK_PV_UNLOCK");
		execl(self_path, self_path, "--probe", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(fds[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(fds[0]);
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		return false;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return true;
}

static bool run_probe(const char *kind, bool refuse, char *out, size_t len)
{
	return run_probe_on(kind, refuse, false, out, len);
}

static void env_cas_as_today(void)
{
	char out[1024];

	run_probe("cas", false, out, sizeof(out));
	if (!strstr(out, "kind=cas byte=3 wait_head=1 kick=1 membarrier=0"))
		FAIL("PVLOCK_PV_UNLOCK=cas: expected the CAS kind (_Q_SLOW_VAL while the head "
		     "sleeps, no membarrier), got: %s", out);
	run_probe("store", false, out, sizeof(out));
	if (!strstr(out, "kind=store byte=1 wait_head=1 kick=1 membarrier=1"))
		FAIL("PVLOCK_PV_UNLOCK=store: expected the store kind, got: %s", out);
	run_probe("fast", false, out, sizeof(out));
	if (!strstr(out, "PVLOCK_PV_UNLOCK=\"fast\" is not a kind of unlock; accepted values: "
			 "store, cas") || !strstr(out, "kind=store"))
		FAIL("PVLOCK_PV_UNLOCK=fast: expected one line naming the accepted values and "
		     "the default, got: %s", out);
}

static void refused_membarrier_gives_cas(void)
{
	char out[1024];

	if (!run_probe(NULL, true, out, sizeof(out)))
		return;		/* main() reported the SKIP */
	if (!strstr(out, "kind=cas byte=3 wait_head=1 kick=1 membarrier=0"))
		FAIL("membarrier refused: expected the CAS kind, got: %s", out);
	if (strstr(out, "pvlock:"))
		FAIL("membarrier refused, no PVLOCK_PV_UNLOCK: expected no message, got: %s", out);
	run_probe("store", true, out, sizeof(out));
	if (!strstr(out, "pvlock: PVLOCK_PV_UNLOCK=store: membarrier(2) is refused") ||
	    !strstr(out, "using cas") || !strstr(out, "kind=cas"))
		FAIL("PVLOCK_PV_UNLOCK=store with membarrier refused: expected one line saying "
		     "so and the CAS kind, got: %s", out);
}

/* A process that starts on one CPU gets the CAS kind (its heads sleep at
 * once, and would pay a membarrier call each), unless it asks for store. */
static void one_cpu_gives_cas(void)
{
	char out[1024];

	if (!run_probe_on(NULL, false, true, out, sizeof(out)))
		FAIL("could not start the probe on one CPU");
	if (!strstr(out, "kind=cas byte=3") || !strstr(out, "membarrier=0"))
		FAIL("started on one CPU: expected the CAS kind (_Q_SLOW_VAL while the head "
		     "sleeps, no membarrier), got: %s", out);
	run_probe_on("store", false, true, out, sizeof(out));
	if (!strstr(out, "kind=store byte=1") || strstr(out, "membarrier=0"))
		FAIL("started on one CPU with PVLOCK_PV_UNLOCK=store: expected the store kind, "
		     "got: %s", out);
}

/* The kind is store (chosen before the filter), but every membarrier now
 * fails: the head must not sleep; it yields and looks again until it gets
 * the lock. */
static void refused_at_run_time_head_stays_awake(void)
{
	rec_install();
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	CHECK(store_kind());
	if (!refuse_membarrier())
		FAIL("seccomp filter refused after the probe accepted one");
	pvlock_lock(&lock);
	test_thread b = test_start(locker, &lock);
	WAIT_UNTIL(test_stats().pv_membarrier_fail >= 3, 10);
	CHECK_EQ(rec_waits(), 0);
	pvlock_unlock(&lock);
	test_join(b);
	CHECK_EQ(lock.val, 0);
	CHECK_EQ(pvlock__pv_hash_entries_for(&lock), 0);
	CHECK_EQ(pvlock__pv_sleepers[0], 0);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_head, 0);
	CHECK_EQ(s.pv_membarrier, s.pv_membarrier_fail);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--probe"))
		return probe();
	if (argc == 2 && !strcmp(argv[1], "--exec-test"))
		return 0;
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 2;
	self_path[n] = 0;

	/* qemu-user cannot exec a program of another architecture by itself. */
	pid_t pid = fork();
	int status = 0;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(self_path, self_path, "--exec-test", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("SKIP: PVLOCK_PV_UNLOCK and membarrier refused: this program cannot "
		       "run itself here (qemu-user?)\n");
		return 0;
	}
	test_run("PVLOCK_PV_UNLOCK=cas: the CAS kind (_Q_SLOW_VAL); store; a bad value",
		 -1, env_cas_as_today);
	test_run("started on one CPU: the CAS kind, unless store is asked for", -1,
		 one_cpu_gives_cas);
	pid = fork();
	if (pid == 0)
		_exit(refuse_membarrier() ? 0 : 77);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("SKIP: membarrier refused (seccomp): no seccomp filter can be installed "
		       "here\n");
		return test_finish();
	}
	test_run("membarrier refused (seccomp): the CAS kind, and a message if store was "
		 "asked for", -1, refused_membarrier_gives_cas);
	if (store_kind())
		test_run("membarrier refused at run time: the head looks again, awake",
			 PVLOCK_MODE_PV, refused_at_run_time_head_stays_awake);
	else
		printf("SKIP: membarrier refused at run time: the CAS kind is in force here\n");
	return test_finish();
}
