#define _GNU_SOURCE
/*
 * orchestrate.c - several runs, one child process each.
 *
 * The mode is process-wide and frozen by the first slow path, so each
 * (lock, mode) pair runs in a fresh process: this binary again (execv of
 * /proc/self/exe) with the same options plus --lock, --mode and --seed, and
 * PVLOCK_MODE set in its environment.  The child's output is passed through
 * indented; its last FAILURE line becomes the reason in the combined verdict.
 * A child that outlives its own watchdog is killed: this never hangs either.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "torture.h"

struct result {
	bool ok;
	char why[512];
};

/* Copy the child's lines to stdout, indented; remember its FAILURE line. */
static void pass_through(char *line, struct result *res)
{
	printf("  %s\n", line);
	if (!strncmp(line, "FAILURE", 7)) {
		size_t n = strnlen(line, sizeof(res->why) - 1);	/* truncate quietly */

		memcpy(res->why, line, n);
		res->why[n] = 0;
	}
}

static void run_child(char **args, int mode, double limit_s, struct result *res)
{
	char buf[4096];
	size_t used = 0;
	int fds[2], status = 0;
	bool killed = false;
	uint64_t deadline = now_ns() + (uint64_t)(limit_s * 1e9);
	pid_t pid;

	res->why[0] = 0;
	fflush(stdout);
	if (pipe(fds) || (pid = fork()) < 0) {
		snprintf(res->why, sizeof(res->why), "cannot start a child: %s", strerror(errno));
		res->ok = false;
		return;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);	/* until the child installs its own */
		signal(SIGTERM, SIG_DFL);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("PVLOCK_MODE", mode_name(mode), 1);
		execv("/proc/self/exe", args);
		fprintf(stderr, PROG ": exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	interrupt_set_child(pid);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0 && !killed) {
			kill(pid, SIGKILL);
			killed = true;
		}
		if (poll(&p, 1, left > 0 ? (int)(left < 1000 ? left : 1000) : 1000) <= 0)
			continue;
		n = read(fds[0], buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = 0;
		for (char *nl; (nl = strchr(buf, '\n'));) {
			*nl = 0;
			pass_through(buf, res);
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == sizeof(buf) - 1) {	/* an over-long line: flush it */
			pass_through(buf, res);
			used = 0;
		}
	}
	if (used) {
		buf[used] = 0;
		pass_through(buf, res);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	interrupt_set_child(0);
	res->ok = !killed && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_OK;
	if (killed)
		snprintf(res->why, sizeof(res->why), "still running %.0f s after its start: killed", limit_s);
	else if (WIFSIGNALED(status))
		snprintf(res->why, sizeof(res->why), "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (!res->ok && !res->why[0])
		snprintf(res->why, sizeof(res->why), "exit status %d without a FAILURE line",
			 WEXITSTATUS(status));
	else if (!res->ok)	/* "FAILURE: x" -> "x" */
		memmove(res->why, res->why + 9, strlen(res->why + 9) + 1);
}

int orchestrate(int argc, char **argv, const struct config *cfg)
{
	int locks[LOCK_KINDS], modes[2], nlocks = 0, nmodes = 0, failed = 0;
	char seed[32], verdict[2048] = "";
	char **args = calloc((size_t)argc + 8, sizeof(*args));
	/* Above the child's own limits (watchdog.c): a hang detector. */
	double limit = cfg->duration_s + cfg->until_max_s + (STALL_WALL_FACTOR + 4) * cfg->stall_s + 60;

	if (!args)
		return EXIT_FAILED;
	if (cfg->lock == LOCK_ALL)
		for (int k = LOCK_QUEUED; k <= LOCK_TAS; k++)
			locks[nlocks++] = k;
	else
		locks[nlocks++] = cfg->lock;
	if (cfg->mode == MODE_ALL) {
		modes[nmodes++] = PVLOCK_MODE_NATIVE;
		modes[nmodes++] = PVLOCK_MODE_PV;
	} else {
		modes[nmodes++] = cfg->mode;
	}
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)cfg->seed);
	/* Later options win, so appending overrides "--lock all" and the like. */
	for (int i = 0; i < argc; i++)
		args[i] = argv[i];

	printf(PROG ": %d runs of %.1f s (lock x mode), one child each, seed %s\n",
	       nlocks * nmodes, cfg->duration_s, seed);
	int done = 0;
	for (int l = 0; l < nlocks && !interrupted(); l++) {
		for (int m = 0; m < nmodes && !interrupted(); m++) {
			struct result res;
			char **a = args + argc;

			a[0] = "--lock";
			a[1] = (char *)lock_name(locks[l]);
			a[2] = "--mode";
			a[3] = (char *)mode_name(modes[m]);
			a[4] = "--seed";
			a[5] = seed;
			a[6] = NULL;
			printf("=== %s/%s\n", lock_name(locks[l]), mode_name(modes[m]));
			run_child(args, modes[m], limit, &res);
			if (interrupted())	/* this run was cut short: no result */
				break;
			done++;
			printf("RESULT %s/%s: %s%s%s\n", lock_name(locks[l]), mode_name(modes[m]),
			       res.ok ? "SUCCESS" : "FAILURE", res.ok ? "" : ": ", res.ok ? "" : res.why);
			if (!res.ok) {
				size_t n = strlen(verdict);

				snprintf(verdict + n, sizeof(verdict) - n, "%s%s/%s: %s", failed ? "; " : "",
					 lock_name(locks[l]), mode_name(modes[m]), res.why);
				failed++;
			}
		}
	}
	free(args);
	if (interrupted()) {
		int sig = interrupted();

		printf("INTERRUPTED: by %s after %d of %d runs (%d failed%s%s); "
		       "the rest did not run\n", sig == SIGINT ? "SIGINT" : "SIGTERM", done,
		       nlocks * nmodes, failed, failed ? ": " : "", verdict);
		return 128 + sig;
	}
	if (failed) {
		printf("FAILURE: %d of %d runs failed: %s\n", failed, nlocks * nmodes, verdict);
		return EXIT_FAILED;
	}
	printf("SUCCESS\n");
	return EXIT_OK;
}
