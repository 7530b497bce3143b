/*
 * runner.c - start one child, collect its result line, and make sure it
 * cannot hang the study: past its deadline it is killed and reported as a
 * timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

enum { LINE_MAX_BYTES = 8192 };

int run_autogroup_nice;

static void child_exec(char *const argv[], const char *pv_mode, int out_fd, pid_t parent,
		       int autogroup_nice)
{
	/*
	 * A session (and so a process group) of its own, so a terminal's
	 * Ctrl-C reaches only the study, which then stops this child itself
	 * and still writes what finished; and death with the study, so a study
	 * killed outright (SIGKILL) leaves no run spinning on the CPUs.
	 */
	setsid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127);
	/*
	 * The new session is also a new scheduler autogroup.  With autogroups
	 * on, CPU time is shared between sessions first and nice applies only
	 * inside one, so other users' "nice 19" work takes as much CPU as a
	 * run; --autogroup-nice gives the run's autogroup a weight of its own
	 * (a failure is reported by the parent, once).
	 */
	if (autogroup_nice) {
		FILE *f = fopen("/proc/self/autogroup", "w");
		if (f) {
			fprintf(f, "%d", autogroup_nice);
			fclose(f);
		}
	}
	if (dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	if (pv_mode)
		setenv("PVLOCK_MODE", pv_mode, 1);	/* the parent is single-threaded */
	/* A lock named NAME@BACKEND runs with that backend, which the library
	 * chooses before main from the environment. */
	for (int i = 1; argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], "--run-one") || !strcmp(argv[i], "--run-fastpath"))
			lock_list_setenv(argv[i + 1]);
	execvp(argv[0], argv);
	fprintf(stderr, BENCH_NAME ": cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Waits for pid until deadline; -1 if it is still running then. */
static int wait_until(pid_t pid, double deadline, int *status)
{
	for (;;) {
		pid_t got = waitpid(pid, status, WNOHANG);
		if (got == pid)
			return 0;
		if (got < 0 && errno != EINTR)
			return 0;
		if (now_s() >= deadline || bench_stop_signal)
			return -1;
		usleep(2000);
	}
}

void run_child(char *const argv[], const char *pv_mode, double timeout_s,
	       bool want_line, struct run_result *r)
{
	int fds[2];
	char buf[LINE_MAX_BYTES];
	size_t used = 0;
	double start = now_s(), deadline = start + timeout_s;
	int status = 0;
	bool timed_out = false;

	result_init(r);
	fflush(NULL);	/* nothing buffered may be written twice by the fork */
	if (pipe2(fds, O_CLOEXEC)) {
		fprintf(stderr, BENCH_NAME ": pipe: %s\n", strerror(errno));
		return;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, BENCH_NAME ": fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0)
		child_exec(argv, pv_mode, fds[1], parent, run_autogroup_nice);
	close(fds[1]);

	/* Read to end of file, deadline or a stop signal, whichever comes first. */
	for (;;) {
		double left = deadline - now_s();
		if (bench_stop_signal)
			break;
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int ready = poll(&p, 1, (int)(left * 1000) + 1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			continue;	/* re-check the deadline */
		ssize_t got = read(fds[0], buf + used, sizeof(buf) - 1 - used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		used += (size_t)got;
		if (used == sizeof(buf) - 1)
			break;	/* more than a result line: keep what we have */
	}
	close(fds[0]);
	buf[used] = '\0';

	if (bench_stop_signal) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		r->wall_s = now_s() - start;
		return;		/* the caller discards the run */
	}
	if (timed_out || wait_until(pid, deadline, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		r->status = RUN_TIMEOUT;
		r->wall_s = now_s() - start;
		return;
	}
	r->wall_s = now_s() - start;

	if (WIFSIGNALED(status)) {
		fprintf(stderr, BENCH_NAME ": %s %s %s: killed by signal %d (%s)\n", argv[0],
			argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "",
			WTERMSIG(status), strsignal(WTERMSIG(status)));
		r->status = RUN_CRASHED;
		return;
	}
	if (!want_line) {
		r->status = WEXITSTATUS(status) ? RUN_FAILED : RUN_OK;
		return;
	}
	double wall = r->wall_s;
	if (result_parse_line(buf, r)) {
		result_init(r);
		r->status = RUN_FAILED;
	}
	r->wall_s = wall;
	if (r->status == RUN_OK && WEXITSTATUS(status))
		r->status = RUN_FAILED;
}

void arg(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->text[a->n], sizeof(a->text[a->n]), fmt, ap);
	va_end(ap);
	a->argv[a->n] = a->text[a->n];
	a->argv[++a->n] = NULL;
}

bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		return false;
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len && len + strlen(prog) + 2 <= sizeof(buf)) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, prog);
			if (!access(buf, X_OK))
				return true;
		}
		path += len + (path[len] == ':');
	}
	return false;
}
