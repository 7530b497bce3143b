/*
 * backend_env.c - choosing the backend from the environment, as a user's
 * program sees it: this program runs itself with PVLOCK_BACKEND (and
 * PVLOCK_PREEMPT_USES) set to each value of interest, and checks what it
 * prints on stderr (nothing, or exactly one line naming the problem) and
 * that pvlock_backend() names the backend it runs on.  The probe also
 * counts a contended workload, so a fallback to futex is shown to work.
 * As root it also runs the probe as an unprivileged user, who asks for bpf
 * and must get one line and futex.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvlock.h>

enum { THREADS = 4, ROUNDS = 200000 };
static pvlock_t lock;
static long counter;

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pvlock_lock(&lock);
		counter++;
		pvlock_unlock(&lock);
	}
	return NULL;
}

static int probe(void)
{
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("%s %ld\n", pvlock_backend(), counter);
	return counter == (long)THREADS * ROUNDS ? 0 : 1;
}

static int failed, passed, skipped;

/* Runs the probe with env (NAME=VALUE pairs, NULL-terminated), as uid if
 * uid >= 0; fills out/err with what it printed. */
static int run_probe(const char *const env[], int uid, char *out, size_t out_len,
		     char *err, size_t err_len)
{
	int o[2], e[2];
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = 0;
	if (pipe(o) || pipe(e))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		unsetenv("PVLOCK_BACKEND");
		unsetenv("PVLOCK_PREEMPT_USES");
		for (int i = 0; env[i]; i += 2)
			setenv(env[i], env[i + 1], 1);
		if (uid >= 0 && (setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(126);
		execl(self, self, "--probe", (char *)NULL);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	ssize_t got = read(o[0], out, out_len - 1);
	out[got > 0 ? got : 0] = 0;
	size_t used = 0;
	while (used < err_len - 1 && (got = read(e[0], err + used, err_len - 1 - used)) > 0)
		used += (size_t)got;
	err[used] = 0;
	close(o[0]);
	close(e[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static unsigned lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* want_err: NULL for silence, else a substring of the one stderr line. */
static void expect(const char *name, const char *const env[], int uid, const char *want_backend,
		   const char *want_err)
{
	char out[256], err[2048], expect_out[64];
	int rc = run_probe(env, uid, out, sizeof(out), err, sizeof(err));

	snprintf(expect_out, sizeof(expect_out), "%s %ld\n", want_backend, (long)THREADS * ROUNDS);
	const char *why = NULL;
	if (rc == 126)
		why = "could not drop privileges";
	else if (rc != 0)
		why = "the probe failed (wrong count or crash)";
	else if (strcmp(out, expect_out))
		why = "wrong backend or count";
	else if (!want_err && err[0])
		why = "unexpected stderr";
	else if (want_err && (lines(err) != 1 || !strstr(err, want_err)))
		why = "stderr is not the one expected line";
	if (!why) {
		printf("PASS: backend env: %s\n", name);
		passed++;
		return;
	}
	printf("FAIL: backend env: %s: %s; stdout \"%.*s\", stderr \"%.*s\"\n", name, why,
	       (int)strcspn(out, "\n"), out, (int)strcspn(err, "\n"), err);
	failed++;
}

/* Whether this machine lets root load the program (else bpf is a fallback). */
static int bpf_loads(void)
{
	const char *const env[] = { "PVLOCK_BACKEND", "bpf", NULL };
	char out[256], err[2048];

	return run_probe(env, -1, out, sizeof(out), err, sizeof(err)) == 0 &&
	       !strncmp(out, "bpf ", 4);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--probe"))
		return probe();

	const char *const none[] = { NULL };
	const char *const futex[] = { "PVLOCK_BACKEND", "futex", NULL };
	const char *const autob[] = { "PVLOCK_BACKEND", "auto", NULL };
	const char *const bad[] = { "PVLOCK_BACKEND", "kvm", NULL };
	const char *const bad_uses[] = { "PVLOCK_PREEMPT_USES", "holder,psychic", NULL };
	const char *const no_lib[] = { "PVLOCK_BACKEND", "bpf",
				       "PVLOCK_BPF_LIBRARY", "/nonexistent/libpvlock-bpf.so", NULL };
	const char *const bpf[] = { "PVLOCK_BACKEND", "bpf", NULL };

	expect("unset: the default (auto) is futex", none, -1, "futex", NULL);
	expect("auto is futex", autob, -1, "futex", NULL);
	expect("futex", futex, -1, "futex", NULL);
	expect("a bad value: one line, the default", bad, -1, "futex",
	       "PVLOCK_BACKEND=\"kvm\" is not a backend; accepted values: auto, futex, bpf");
	expect("a bad PVLOCK_PREEMPT_USES: one line", bad_uses, -1, "futex",
	       "PVLOCK_PREEMPT_USES=\"holder,psychic\" is not valid");
	expect("bpf without its library: one line naming the path tried, futex", no_lib, -1,
	       "futex", "libpvlock-bpf.so not found in: /nonexistent/libpvlock-bpf.so");
	if (geteuid() != 0) {
		printf("SKIP: backend env: bpf as root, and as an unprivileged user: not root\n");
		skipped++;
	} else {
		expect("bpf as an unprivileged user: one line, futex", bpf, 65534, "futex",
		       "no permission");
		if (bpf_loads())
			expect("bpf as root: pvlock_backend() says bpf", bpf, -1, "bpf", NULL);
		else {
			printf("SKIP: backend env: bpf as root: the program does not load here\n");
			skipped++;
		}
	}
	return failed ? 1 : 0;
}
