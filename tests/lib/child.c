/*
 * child.c - running a doomed part of a test in a forked child (lib/child.h).
 */
#define _GNU_SOURCE
#include "lib/child.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/check.h"

/* Start fn in a child with stderr captured; it dies after `seconds` (a hang
 * detector: times test_time_scale()). */
struct test_child test_start_child(void (*fn)(void), unsigned seconds)
{
	struct test_child c;
	int fds[2];

	CHECK(pipe(fds) == 0);
	fflush(stdout);
	fflush(stderr);
	c.pid = fork();
	CHECK(c.pid >= 0);
	if (c.pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		alarm(seconds * test_time_scale());
		fn();
		_exit(0);
	}
	close(fds[1]);
	c.fd = fds[0];
	return c;
}

/* Read its stderr to the end; then reap it, unless status is given. */
struct test_outcome test_finish_child(struct test_child c, const int *status)
{
	struct test_outcome o = { 0, "" };

	test_read_all(c.fd, o.err, sizeof o.err);
	close(c.fd);
	if (status)
		o.status = *status;
	else
		CHECK(waitpid(c.pid, &o.status, 0) == c.pid);
	return o;
}

size_t test_read_all(int fd, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;

	while (used < size - 1 && (n = read(fd, buf + used, size - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = 0;
	return used;
}

pid_t test_fork_helper(void)
{
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

void test_reap(pid_t pid)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the other process failed (status 0x%x): see its message above", status);
}

struct test_outcome test_run_child(void (*fn)(void), unsigned seconds)
{
	return test_finish_child(test_start_child(fn, seconds), NULL);
}

void test_expect_abort(const struct test_outcome *o, const char *const *words)
{
	if (WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGALRM)
		FAIL("the child hung instead of stopping with a message; stderr: \"%s\"", o->err);
	if (!WIFSIGNALED(o->status) || WTERMSIG(o->status) != SIGABRT)
		FAIL("the child was not stopped by abort() (status 0x%x); stderr: \"%s\"",
		     o->status, o->err);
	for (; *words; words++)
		if (!strstr(o->err, *words))
			FAIL("the message lacks \"%s\": \"%s\"", *words, o->err);
}
