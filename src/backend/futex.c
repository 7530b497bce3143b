/*
 * futex.c - the futex backend: threads sleep on their slot's token.
 *
 * Each slot has a 32-bit token that every kick increments.  A waiter reads
 * the token, then checks *ptr, then sleeps on the token with FUTEX_WAIT,
 * which sleeps only if the token still has the value read.  So a kick after
 * the token read makes the sleep return at once, and a kick before it was
 * preceded by the kicker's change to *ptr, which the check sees.
 *
 * A counter, not a flag: a signal handler that waits and is kicked in the
 * middle of our wait bumps the token too, so our (restarted) FUTEX_WAIT
 * returns and we re-check: a nested wait can never swallow our kick.
 *
 * `sleepers` lets a kick skip the syscall when nobody sleeps on the token:
 *   waiter: sleepers++ (seq_cst); FUTEX_WAIT (kernel: full barrier, reads token)
 *   kicker: token++    (seq_cst); if (sleepers) FUTEX_WAKE
 * Either the kicker sees the sleeper or the sleeper's FUTEX_WAIT sees the
 * new token.  It counts, so a nested handler's sleep cannot clear ours.
 *
 * errno: FUTEX_WAIT fails with EAGAIN (the token moved) or EINTR (a signal)
 * as a matter of course, and syscall() stores that in errno.  A lock must
 * leave errno alone, like glibc's locks (code that locks in a signal
 * handler depends on it), so both calls restore it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/backend.h"

static void futex_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	uint32_t token = __atomic_load_n(&self->token, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(ptr, __ATOMIC_ACQUIRE) != val)
		return;
	int saved_errno = errno;
	__atomic_fetch_add(&self->sleepers, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &self->token, FUTEX_WAIT_PRIVATE, token, NULL, NULL, 0);
	errno = saved_errno;
	__atomic_fetch_sub(&self->sleepers, 1, __ATOMIC_RELAXED);
}

static void futex_kick(struct pvlock_slot *target)
{
	__atomic_fetch_add(&target->token, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&target->sleepers, __ATOMIC_SEQ_CST)) {
		int saved_errno = errno;
		syscall(SYS_futex, &target->token, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		errno = saved_errno;
	}
}

static bool futex_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	(void)slot;
	return false;	/* the kernel does not tell us cheaply: don't know */
}

const struct pvlock_backend pvlock__futex_backend = {
	.name = "futex",
	.wait = futex_wait,
	.kick = futex_kick,
	.vcpu_is_preempted = futex_vcpu_is_preempted,
};
