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

/* FAIL unless the child was stopped by abort() and its stderr holds each of
 * the NULL-terminated words. */
void test_expect_abort(const struct test_outcome *o, const char *const *words);

#endif /* PVLOCK_TESTS_CHILD_H */
