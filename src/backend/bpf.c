/*
 * bpf.c - the bpf backend: futex wait and kick, plus an exact
 * vcpu_is_preempted, steal time and blocked state read from the records the
 * sched_switch program keeps (bpf_abi.h).
 *
 * libpvlock never links libbpf: the program and its maps are loaded by
 * libpvlock-bpf.so, which this file dlopens only when PVLOCK_BACKEND asks for
 * bpf.  The loader hands back a mapping of the per-slot records; from then
 * on every question is one plain load.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "backend/bpf_abi.h"

#ifndef PVLOCK_BPF_LIBDIR
#define PVLOCK_BPF_LIBDIR "/usr/local/lib"
#endif
#define BPF_LIBRARY "libpvlock-bpf.so"

_Static_assert(PVLOCK_BPF_SLOTS == PVLOCK_MAX_SLOTS, "one record per slot");
_Static_assert((int)PVLOCK_BPF_RUNNING == (int)PVLOCK_SLOT_RUNNING &&
	       (int)PVLOCK_BPF_RUNNABLE == (int)PVLOCK_SLOT_RUNNABLE &&
	       (int)PVLOCK_BPF_BLOCKED == (int)PVLOCK_SLOT_BLOCKED &&
	       (int)PVLOCK_BPF_UNKNOWN == (int)PVLOCK_SLOT_UNKNOWN,
	       "the program's states are the slow paths' states");
_Static_assert(sizeof(struct pvlock_bpf_vcpu) % 8 == 0,
	       "records are 8-byte aligned in the mmap view: keep the size a multiple of 8");

static struct pvlock_bpf_ops ops;

static const struct pvlock_bpf_vcpu *record(const struct pvlock_slot *slot)
{
	return &ops.vcpus[slot->index];
}

static int bpf_slot_state(const struct pvlock_slot *slot)
{
	/* Pairs with the program's single-word store; a stale answer is a
	 * hint like any vcpu_is_preempted (KVM's byte is as racy). */
	return (int)__atomic_load_n(&record(slot)->state, __ATOMIC_RELAXED);
}

static bool bpf_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	return bpf_slot_state(slot) == PVLOCK_BPF_RUNNABLE;
}

static uint64_t bpf_steal_ns(const struct pvlock_slot *slot)
{
	return __atomic_load_n(&record(slot)->steal_ns, __ATOMIC_RELAXED);
}

/* A thread took this slot: reset its record and tie the thread to it.  The
 * new generation is stored first, so that from here on the program ignores
 * the slot's previous thread (which may still be switching out as it dies). */
static void bpf_attach(struct pvlock_slot *slot)
{
	struct pvlock_bpf_vcpu *v = &ops.vcpus[slot->index];
	uint32_t gen = __atomic_load_n(&v->gen, __ATOMIC_RELAXED) + 1;

	__atomic_store_n(&v->gen, gen, __ATOMIC_RELAXED);
	__atomic_store_n(&v->steal_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&v->since_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&v->switches, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&v->state, PVLOCK_BPF_RUNNING, __ATOMIC_RELAXED);
	/* The bpf() syscall orders these stores before the program can see
	 * the task storage it creates. */
	if (ops.attach(__atomic_load_n(&slot->tid, __ATOMIC_RELAXED), slot->index, gen) != 0)
		__atomic_store_n(&v->state, PVLOCK_BPF_UNKNOWN, __ATOMIC_RELAXED);
}

static void bpf_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	pvlock__futex_backend.wait(self, ptr, val);
}

static void bpf_kick(struct pvlock_slot *target)
{
	pvlock__futex_backend.kick(target);
}

const struct pvlock_backend pvlock__bpf_backend = {
	.name = "bpf",
	.wait = bpf_wait,
	.kick = bpf_kick,
	.vcpu_is_preempted = bpf_vcpu_is_preempted,
	.slot_state = bpf_slot_state,
	.steal_ns = bpf_steal_ns,
	.attach = bpf_attach,
};

/* ---- finding and loading libpvlock-bpf.so ------------------------------- */

static void *try_dir(const char *dir, size_t dir_len)
{
	char path[PATH_MAX];

	if (dir_len + sizeof("/" BPF_LIBRARY) > sizeof(path))
		return NULL;
	memcpy(path, dir, dir_len);
	memcpy(path + dir_len, "/" BPF_LIBRARY, sizeof("/" BPF_LIBRARY));
	return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static size_t dir_len_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) : 0;
}

/*
 * Where it is looked for: $PVLOCK_BPF_LIBRARY; next to the object that holds
 * libpvlock (the installed libdir); ../lib from the program (build/bin and
 * build/tests in the source tree); the configured libdir; the loader path.
 */
static void *open_loader(void)
{
	const char *env = getenv("PVLOCK_BPF_LIBRARY");
	Dl_info info;
	char exe[PATH_MAX];
	void *h;

	if (env && *env)
		return dlopen(env, RTLD_NOW | RTLD_LOCAL);
	if (dladdr((void *)open_loader, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
	    (h = try_dir(info.dli_fname, dir_len_of(info.dli_fname))))
		return h;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - sizeof("/../lib"));
	if (n > 0) {
		exe[n] = '\0';
		size_t len = dir_len_of(exe);
		memcpy(exe + len, "/../lib", sizeof("/../lib"));
		if ((h = try_dir(exe, strlen(exe))))
			return h;
	}
	if ((h = try_dir(PVLOCK_BPF_LIBDIR, strlen(PVLOCK_BPF_LIBDIR))))
		return h;
	return dlopen(BPF_LIBRARY, RTLD_NOW | RTLD_LOCAL);
}

/* A forked child shares the parent's maps but not its threads: it goes on
 * with the futex backend rather than write into the parent's records. */
static void forked_child(void)
{
	pvlock__backend_install(NULL);
	ops.close = NULL;	/* the loader forgets the parent's program too */
}

int pvlock__bpf_backend_load(char *why, size_t why_len)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(why, why_len, "no BTF (/sys/kernel/btf/vmlinux: %s)", strerror(errno));
		return -1;
	}
	void *h = open_loader();
	if (!h) {
		snprintf(why, why_len, "built without it (%s not found: %s)", BPF_LIBRARY, dlerror());
		return -1;
	}
	pvlock_bpf_open_fn open_fn = (pvlock_bpf_open_fn)(uintptr_t)dlsym(h, PVLOCK_BPF_OPEN_SYMBOL);
	if (!open_fn) {
		snprintf(why, why_len, "built without it (%s has no %s)", BPF_LIBRARY,
			 PVLOCK_BPF_OPEN_SYMBOL);
		return -1;
	}
	char reason[200] = "";
	if (open_fn(&ops, reason, sizeof(reason)) != 0) {
		snprintf(why, why_len, "%s", reason);
		return -1;
	}
	if (ops.abi_version != PVLOCK_BPF_ABI_VERSION) {
		ops.close();
		snprintf(why, why_len, "%s speaks ABI %u, not %u", BPF_LIBRARY, ops.abi_version,
			 PVLOCK_BPF_ABI_VERSION);
		return -1;
	}
	static bool atfork_set;
	if (!atfork_set && pthread_atfork(NULL, NULL, forked_child) == 0)
		atfork_set = true;
	pvlock__backend_install(&pvlock__bpf_backend);
	return 0;
}

void pvlock__bpf_backend_unload(void)
{
	if (!ops.close)
		return;
	pvlock__backend_install(NULL);
	ops.close();
	ops.close = NULL;
}

const struct pvlock_bpf_ops *pvlock__bpf_ops(void)
{
	return ops.close ? &ops : NULL;
}
