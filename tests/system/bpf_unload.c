/*
 * bpf_unload.c - the bpf backend after its program is unloaded, and a failed
 * attach (root only: the real loader, libpvlock-bpf.so).
 *
 *   unload: the exit-time destructor (pvlock__bpf_backend_unload) puts the
 *     futex backend back and closes the program.  A thread that read the
 *     bpf backend just before (pvlock__backend_current() in its first slow
 *     path) then calls its entry points: the case calls them exactly so,
 *     through the table it read, after the unload.  They must answer "don't
 *     know" (as the futex backend does) and never reach the closed program.
 *     Then a new thread's real slow path (a contended ticket lock).
 *   errno: an attach the kernel refuses (pidfd_open of tid 0) must leave
 *     errno as it was: a lock never changes errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "backend/bpf/bpf_abi.h"
#include "lib/bpf_load.h"
#include "lib/check.h"

static pvlock_ticket_t ticket = PVLOCK_TICKET_INIT;

static void *contender(void *arg)
{
	(void)arg;
	errno = 0;
	pvlock_ticket_lock(&ticket);	/* held by the main thread: slow path */
	int e = errno;
	pvlock_ticket_unlock(&ticket);
	return (void *)(long)e;
}

/* A thread's first slow path on a contended ticket lock; returns the errno
 * it saw afterwards (it set 0 before). */
static int contend_once(void)
{
	struct pvlock_stats base = test_stats();

	pvlock_ticket_lock(&ticket);
	test_thread t = test_start(contender, NULL);
	WAIT_UNTIL(test_stats().ticket_slowpath > base.ticket_slowpath, TEST_PATIENCE_S);
	pvlock_ticket_unlock(&ticket);
	return (int)(long)test_join(t);
}

static void case_after_unload(void)
{
	test_bpf_load();
	struct pvlock_slot *me = pvlock__slot_self();
	CHECK(me != NULL);
	/* A slow path that read the backend before the unload. */
	const struct pvlock_backend *b = pvlock__backend_current();
	CHECK(b == &pvlock__bpf_backend);
	CHECK_EQ(b->slot_state(me), PVLOCK_BPF_RUNNING);

	pvlock__bpf_backend_unload();
	CHECK(strcmp(pvlock_backend(), "futex") == 0);
	CHECK(pvlock__bpf_ops() == NULL);

	/* Through the table read before: no program, "don't know". */
	errno = 0;
	b->attach(me);			/* a first slow path's attach */
	CHECK_EQ(errno, 0);
	CHECK_EQ(b->slot_state(me), PVLOCK_BPF_UNKNOWN);
	CHECK(!b->vcpu_is_preempted(me));
	CHECK_EQ(b->steal_ns(me), 0);

	/* And a new thread's real first slow path. */
	CHECK_EQ(contend_once(), 0);
}

static void case_errno_after_failed_attach(void)
{
	test_bpf_load();
	/* A slot whose thread the kernel cannot find: pidfd_open(0) fails
	 * (EINVAL), and the loader's attach with it.  The last slot: no
	 * thread of this process has it. */
	struct pvlock_slot fake;
	memset(&fake, 0, sizeof(fake));
	fake.index = PVLOCK_BPF_SLOTS - 1;
	fake.tid = 0;
	const struct pvlock_bpf_vcpu *v = &pvlock__bpf_ops()->vcpus[fake.index];

	errno = 12345;
	pvlock__bpf_backend.attach(&fake);
	int e = errno;
	/* It reached the failed attach: the record was reset to running,
	 * then marked unknown when the loader refused. */
	CHECK_EQ(__atomic_load_n(&v->state, __ATOMIC_RELAXED), PVLOCK_BPF_UNKNOWN);
	CHECK_GE(__atomic_load_n(&v->gen, __ATOMIC_RELAXED), 1);
	if (e != 12345)
		FAIL("errno is %d (%s) after a failed attach, was 12345", e, strerror(e));
	/* A real thread's attach that succeeds leaves it alone too. */
	CHECK_EQ(contend_once(), 0);
}

int main(void)
{
	char why[300];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP: bpf unload: not root (loading a BPF program needs root, "
		       "or CAP_BPF with CAP_PERFMON)\n");
		return 0;
	}
	/* Can it load here at all? */
	if (!test_bpf_loads_here(why, sizeof(why))) {
		printf("SKIP: bpf unload: cannot load here: %s\n", why);
		return 0;
	}
	test_run("bpf unload: a slow path that read the bpf backend before the unload "
		 "gets \"don't know\"", PVLOCK_MODE_PV, case_after_unload);
	test_run("bpf: errno unchanged after an attach the kernel refuses", PVLOCK_MODE_PV,
		 case_errno_after_failed_attach);
	return test_finish();
}
