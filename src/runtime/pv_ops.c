/*
 * pv_ops.c - pv_wait and pv_kick as the algorithms see them: the current
 * backend, plus kick and wake latency accounting and, in test builds, the
 * injected faults (spurious wake-ups, delayed and dropped kicks).  Also the
 * choice of backend (PVLOCK_BACKEND) and what the slow paths do with a
 * backend that knows who runs (PVLOCK_PREEMPT_USES).  And membarrier(2),
 * for the store kind of pv unlock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "runtime/fault_internal.h"
#include "runtime/internal.h"
#include "runtime/pv_latency.h"

static const struct pvlock_backend *backend = &pvlock__futex_backend;

/* Whether the current backend knows who runs (has slot_state); the slow
 * paths test it before asking, so the futex backend pays one load. */
bool pvlock__backend_knows;

void pvlock__backend_install(const struct pvlock_backend *b)
{
	b = b ? b : &pvlock__futex_backend;
	__atomic_store_n(&backend, b, __ATOMIC_RELEASE);
	__atomic_store_n(&pvlock__backend_knows, b->slot_state != NULL, __ATOMIC_RELAXED);
}

const char *pvlock_backend(void)
{
	return pvlock__backend_current()->name;
}

const struct pvlock_backend *pvlock__backend_current(void)
{
	return __atomic_load_n(&backend, __ATOMIC_ACQUIRE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: async-signal-safe */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pvlock__pv_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	pv_latency_wait_begin(self);
	pvlock__cpus_wait_tick();
	if (fault_spurious_wakeup())
		return;
	pvlock__backend_current()->wait(self, ptr, val);
	pv_latency_wait_end(self, now_ns);
}

void pvlock__pv_kick(struct pvlock_slot *target)
{
	if (fault_drop_kick())
		return;
	fault_delay_kick();

	uint64_t start = pv_latency_kick_begin(target, now_ns);
	pvlock__backend_current()->kick(target);
	pv_latency_kick_end(start, now_ns);
}

/* ---- membarrier(2) (store kind of pv unlock) ------------------------------ */

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

bool pvlock__pv_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	return pvlock__backend_current()->vcpu_is_preempted(slot);
}

int pvlock__pv_slot_state(const struct pvlock_slot *slot)
{
	const struct pvlock_backend *b = pvlock__backend_current();

	return b->slot_state ? b->slot_state(slot) : 0;
}

uint64_t pvlock__pv_steal_ns(const struct pvlock_slot *slot)
{
	const struct pvlock_backend *b = pvlock__backend_current();

	return slot && b->steal_ns ? b->steal_ns(slot) : 0;
}

void pvlock__slot_attached(struct pvlock_slot *slot)
{
	const struct pvlock_backend *b = pvlock__backend_current();

	/* slot->tid is already ours: slots.c wrote it when it took the slot. */
	if (b->attach)
		b->attach(slot);
}

/* ---- which uses of "who runs" are on (PVLOCK_PREEMPT_USES) --------------- */

#define USE_NAMES(X) \
	X(WAIT_EARLY, "wait-early") X(HOLDER, "holder") X(SKIP, "skip")

unsigned pvlock__preempt_uses = PVLOCK_USES_DEFAULT;

static const struct { unsigned bit; const char *name; } use_names[] = {
#define USE_ENTRY(bit, name) { PVLOCK_USE_##bit, name },
	USE_NAMES(USE_ENTRY)
#undef USE_ENTRY
};

/* "none", "default", or a comma-separated list of use names: 0 and *out, or
 * -1 (also for an empty value, which would otherwise silently mean none). */
static int parse_uses(const char *text, unsigned *out)
{
	if (!*text)
		return -1;
	if (!strcmp(text, "none")) {
		*out = 0;
		return 0;
	}
	if (!strcmp(text, "default")) {
		*out = PVLOCK_USES_DEFAULT;
		return 0;
	}
	unsigned uses = 0;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ",");
		unsigned i;

		for (i = 0; i < sizeof(use_names) / sizeof(use_names[0]); i++)
			if (strlen(use_names[i].name) == len && !strncmp(p, use_names[i].name, len))
				break;
		if (i == sizeof(use_names) / sizeof(use_names[0]))
			return -1;
		uses |= use_names[i].bit;
		p += len;
		if (*p == ',')
			p++;
	}
	*out = uses;
	return 0;
}

/* ---- choosing the backend (PVLOCK_BACKEND) -------------------------------- */

static void use_bpf(bool quiet)
{
	char why[300];

	if (pvlock__bpf_backend_load(why, sizeof(why)) != 0 && !quiet)
		fprintf(stderr, "pvlock: PVLOCK_BACKEND=bpf: the bpf backend cannot load: %s; "
			"using futex\n", why);
}

/* auto: futex.  The measurements in docs/design.md did not show bpf making
 * pvlock better by enough to load a program into the kernel for every
 * process that may; bpf is opt-in, for its statistics and its pictures. */
static void use_auto(void)
{
}

__attribute__((constructor)) static void backend_from_environment(void)
{
	const char *name = getenv("PVLOCK_BACKEND");
	const char *uses = getenv("PVLOCK_PREEMPT_USES");

	if (!name || !strcmp(name, "auto")) {
		use_auto();
	} else if (!strcmp(name, "bpf")) {
		use_bpf(false);
	} else if (strcmp(name, "futex") != 0) {
		fprintf(stderr, "pvlock: PVLOCK_BACKEND=\"%s\" is not a backend; accepted "
			"values: auto, futex, bpf (using the default, auto)\n", name);
		use_auto();
	}

	if (uses && parse_uses(uses, &pvlock__preempt_uses) != 0)
		fprintf(stderr, "pvlock: PVLOCK_PREEMPT_USES=\"%s\" is not valid; accepted: none, "
			"default, or a comma-separated list of wait-early, holder, "
			"skip (using the default)\n", uses);
}

__attribute__((destructor)) static void backend_unload(void)
{
	pvlock__bpf_backend_unload();
}
