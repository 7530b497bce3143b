/*
 * membarrier.c - membarrier(2) for the store kind of pv unlock: the queue
 * head's barrier (pvlock__pv_membarrier, qspinlock_slowpath.h) and the
 * registration that makes it possible (mode.c, when it chooses the kind).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "runtime/internal.h"

static long membarrier_call(int cmd)
{
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, cmd, 0, 0);
#else
	(void)cmd;
	errno = ENOSYS;
	return -1;
#endif
}

/* Leaves errno alone, as the locks must (see backend/futex.c). */
int pvlock__pv_membarrier(void)
{
	int saved_errno = errno;
	long r = membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);

	errno = saved_errno;
	return r == 0 ? 0 : -1;
}

/* fork child: whether the registration carries over is the kernel's
 * business; registering again is harmless, and if it fails the child's
 * membarrier calls fail and its heads look again instead of sleeping. */
static void membarrier_after_fork(void)
{
	int saved_errno = errno;

	membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
	errno = saved_errno;
}

int pvlock__pv_membarrier_register(char *why, size_t len)
{
	int saved_errno = errno;

	/* A test of the call itself, not only of the registration: a
	 * filter may let one through and refuse the other. */
	if (membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0 ||
	    membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
		snprintf(why, len, "membarrier(2) is refused (%s)", strerror(errno));
		errno = saved_errno;
		return -1;
	}
	errno = saved_errno;
	pthread_atfork(NULL, NULL, membarrier_after_fork);
	return 0;
}
