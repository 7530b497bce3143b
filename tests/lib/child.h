/*
 * child.h - running a doomed part of a test in a forked child, with its
 * stderr captured: for cases that expect the library to stop the program
 * (abort() and one line on stderr) or to finish quietly.
 */
#ifndef PVLOCK_TESTS_CHILD_H
#define PVLOCK_TESTS_CHILD_H

#include <sys/types.h>

struct test_outcome {
	int status;		/* waitpid status */
	char err[2048];		/* what it wrote on stderr */
};

struct test_child {
	pid_t pid;
	int fd;		/* its stderr */
};

/* Start fn in a child with stderr captured; it dies of SIGALRM after
 * `seconds` (a hang detector: times test_time_scale()). */
struct test_child test_start_child(void (*fn)(void), unsigned seconds);

/* Read its stderr to the end; then reap it, unless status is given (the
 * caller already reaped it). */
struct test_outcome test_finish_child(struct test_child c, const int *status);

/* test_start_child, then test_finish_child. */
struct test_outcome test_run_child(void (*fn)(void), unsigned seconds);

/* Read fd to its end, or until buf (size > 0) is full; buf is then a
 * string.  Returns its length. */
size_t test_read_all(int fd, char *buf, size_t size);

/* fork() for a helper process that must die with its case (a failed case
 * exits at once): it gets SIGKILL when its parent ends. */
pid_t test_fork_helper(void);

/* Reap a helper: FAIL unless it exited with 0 (it says why itself). */
void test_reap(pid_t pid);

/* FAIL unless the child was stopped by abort() and its stderr holds each of
 * the NULL-terminated words. */
void test_expect_abort(const struct test_outcome *o, const char *const *words);

#endif /* PVLOCK_TESTS_CHILD_H */
