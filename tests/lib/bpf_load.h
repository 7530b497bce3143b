/*
 * bpf_load.h - loading the bpf backend in a test program (tests/bpf_*.c).
 *
 * Header-only, unlike the tests/lib/ sources that every test program links:
 * only the programs that include it need the backend's loader.
 */
#ifndef PVLOCK_TESTS_BPF_LOAD_H
#define PVLOCK_TESTS_BPF_LOAD_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "lib/check.h"

/* Load the bpf backend in this process: the case fails if it does not load,
 * or if pvlock_backend() does not say "bpf" after it. */
static inline void test_bpf_load(void)
{
	char why[300];

	if (pvlock__bpf_backend_load(why, sizeof(why)) != 0)
		FAIL("the bpf backend does not load: %s", why);
	if (strcmp(pvlock_backend(), "bpf") != 0)
		FAIL("pvlock_backend() says %s after loading bpf", pvlock_backend());
}

/* Can the bpf backend load here at all?  Tried in a forked child, so this
 * process keeps no program when it can.  When it cannot: false, and why
 * says what stopped it. */
static inline bool test_bpf_loads_here(char *why, size_t why_len)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0)
		_exit(pvlock__bpf_backend_load(why, why_len) == 0 ? 0 : 3);
	int status = 0;
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	/* The child's reason is not ours to read: ask again here. */
	pvlock__bpf_backend_load(why, why_len);
	return false;
}

#endif /* PVLOCK_TESTS_BPF_LOAD_H */
