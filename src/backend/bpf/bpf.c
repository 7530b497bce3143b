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
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "backend/bpf/bpf_abi.h"

/* PVLOCK_BPF_LIBDIR ($(PREFIX)/lib of the build) and PVLOCK_BPF_BUILT (the
 * build made libpvlock-bpf.so): written by src/backend/bpf/rules.mk. */
#if defined(__has_include)
#if __has_include("pvlock_bpf_build.h")
#include "pvlock_bpf_build.h"
#endif
#endif
#ifndef PVLOCK_BPF_LIBDIR
#define PVLOCK_BPF_LIBDIR "/usr/local/lib"
#endif
#ifndef PVLOCK_BPF_BUILT
#define PVLOCK_BPF_BUILT 1	/* unknown: assume so, and look for it */
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

/*
 * After unload (at exit, or in a forked child) the entry points below answer
 * what the futex backend answers, "don't know", even for a thread that read
 * the bpf backend from pvlock__backend_current() just before it was put
 * back.  `live` is true while the program is loaded: stored with release
 * after ops is filled (pvlock__bpf_backend_open), cleared before ops.close.
 * The records' mapping outlives close, so a reader that saw live just before
 * the unload still reads mapped memory (a stale hint).  ops.attach needs the
 * loader's program itself: `attaching` counts the threads inside it, and
 * pvlock__bpf_backend_close waits for them to leave (see bpf_attach).
 */
static bool live;
static unsigned attaching;

static bool is_live(void)
{
	/* Acquire: pairs with pvlock__bpf_backend_open's release store of
	 * true, so that ops.vcpus is the loader's mapping. */
	return __atomic_load_n(&live, __ATOMIC_ACQUIRE);
}

static const struct pvlock_bpf_vcpu *record(const struct pvlock_slot *slot)
{
	return &ops.vcpus[slot->index];
}

static int bpf_slot_state(const struct pvlock_slot *slot)
{
	if (!is_live())
		return PVLOCK_BPF_UNKNOWN;
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
	if (!is_live())
		return 0;
	/* Relaxed: a counter only the program writes, read as a hint. */
	return __atomic_load_n(&record(slot)->steal_ns, __ATOMIC_RELAXED);
}

static void attach_record(struct pvlock_slot *slot);

/* A thread took this slot: attach it while the program is loaded. */
static void bpf_attach(struct pvlock_slot *slot)
{
	/* A lock leaves errno alone (the futex backend's note): the loader's
	 * pidfd_open and bpf() calls set it when they fail. */
	int saved_errno = errno;

	/* seq_cst increment, then seq_cst load of live; close stores live =
	 * false (seq_cst), then loads attaching (seq_cst).  In the single
	 * order of the four, either we see live false and stay out, or close
	 * sees us inside and waits: the store-load pattern that needs seq_cst
	 * on both sides (on aarch64, LDADDAL / STLR against LDAR). */
	__atomic_fetch_add(&attaching, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&live, __ATOMIC_SEQ_CST))
		attach_record(slot);
	/* Release: our loader calls are done before close's acquire load
	 * that reads the count without us. */
	__atomic_fetch_sub(&attaching, 1, __ATOMIC_RELEASE);
	errno = saved_errno;
}

/* A thread took this slot: reset its record and tie the thread to it.  The
 * new generation is stored first, so that from here on the program ignores
 * the slot's previous thread (which may still be switching out as it dies). */
static void attach_record(struct pvlock_slot *slot)
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

/* Where the loader was looked for, for the message when it is not found. */
struct search {
	char tried[700];
	size_t used;
	char error[300];	/* a loader found but not loadable: dlerror() */
};

static void note(struct search *s, const char *what)
{
	int n = snprintf(s->tried + s->used, sizeof(s->tried) - s->used, "%s%s",
			 s->used ? ", " : "", what);
	if (n > 0)
		s->used = s->used + (size_t)n < sizeof(s->tried) ? s->used + (size_t)n
								 : sizeof(s->tried) - 1;
}

static void *try_path(struct search *s, const char *path, const char *label)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	note(s, label);
	if (!h && !s->error[0] && strchr(path, '/') && access(path, F_OK) == 0)
		snprintf(s->error, sizeof(s->error), "%s", dlerror());
	return h;
}

static void *try_dir(struct search *s, const char *dir, size_t dir_len)
{
	char path[PATH_MAX];

	if (dir_len + sizeof("/" BPF_LIBRARY) > sizeof(path))
		return NULL;
	memcpy(path, dir, dir_len);
	memcpy(path + dir_len, "/" BPF_LIBRARY, sizeof("/" BPF_LIBRARY));
	void *h = try_path(s, path, path);
	/* The list names the directory: drop "/libpvlock-bpf.so" again. */
	if (s->used >= sizeof("/" BPF_LIBRARY) - 1 && s->used < sizeof(s->tried) - 1)
		s->tried[s->used -= sizeof("/" BPF_LIBRARY) - 1] = '\0';
	return h;
}

static size_t dir_len_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) : 0;
}

/*
 * Where it is looked for: $PVLOCK_BPF_LIBRARY alone if set; else next to the
 * object that holds libpvlock (the installed libpvlock.so's directory, or
 * the program's own for a static link); ../lib from the program (build/bin
 * and build/tests in the source tree, PREFIX/bin); the libdir of the build
 * (PREFIX/lib); the dynamic loader's search path.
 */
static void *open_loader(struct search *s)
{
	const char *env = getenv("PVLOCK_BPF_LIBRARY");
	Dl_info info;
	char exe[PATH_MAX];
	void *h;

	if (env && *env)
		return try_path(s, env, env);
	if (dladdr((void *)open_loader, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
	    (h = try_dir(s, info.dli_fname, dir_len_of(info.dli_fname))))
		return h;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - sizeof("/../lib"));
	if (n > 0) {
		exe[n] = '\0';
		size_t len = dir_len_of(exe);
		memcpy(exe + len, "/../lib", sizeof("/../lib"));
		if ((h = try_dir(s, exe, strlen(exe))))
			return h;
	}
	if ((h = try_dir(s, PVLOCK_BPF_LIBDIR, strlen(PVLOCK_BPF_LIBDIR))))
		return h;
	return try_path(s, BPF_LIBRARY, "the dynamic loader's search path");
}

/* A forked child shares the parent's maps but not its threads: it goes on
 * with the futex backend (the caller put it back) rather than write into the
 * parent's records. */
void pvlock__bpf_backend_forget(void)
{
	/* Relaxed: the child runs one thread here, ours. */
	__atomic_store_n(&live, false, __ATOMIC_RELAXED);
	__atomic_store_n(&attaching, 0, __ATOMIC_RELAXED);
	ops.close = NULL;	/* the loader forgets the parent's program too */
}

const struct pvlock_backend *pvlock__bpf_backend_open(char *why, size_t why_len)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(why, why_len, "no BTF (/sys/kernel/btf/vmlinux: %s)", strerror(errno));
		return NULL;
	}
	struct search s = { .used = 0 };
	void *h = open_loader(&s);
	if (!h && !PVLOCK_BPF_BUILT) {
		snprintf(why, why_len, "this pvlock was built without it (%s was left out: clang, "
			 "bpftool and libbpf-dev are needed at build time); looked for one anyway "
			 "in: %s", BPF_LIBRARY, s.tried);
		return NULL;
	}
	if (!h && s.error[0]) {
		snprintf(why, why_len, "%s was found but does not load: %s", BPF_LIBRARY, s.error);
		return NULL;
	}
	if (!h) {
		snprintf(why, why_len, "%s not found in: %s (PVLOCK_BPF_LIBRARY may name it)",
			 BPF_LIBRARY, s.tried);
		return NULL;
	}
	pvlock_bpf_open_fn open_fn = (pvlock_bpf_open_fn)(uintptr_t)dlsym(h, PVLOCK_BPF_OPEN_SYMBOL);
	if (!open_fn) {
		snprintf(why, why_len, "%s has no %s: not pvlock's loader", BPF_LIBRARY,
			 PVLOCK_BPF_OPEN_SYMBOL);
		return NULL;
	}
	char reason[200] = "";
	if (open_fn(&ops, reason, sizeof(reason)) != 0) {
		snprintf(why, why_len, "%s", reason);
		return NULL;
	}
	if (ops.abi_version != PVLOCK_BPF_ABI_VERSION) {
		ops.close();
		snprintf(why, why_len, "%s speaks ABI %u, not %u", BPF_LIBRARY, ops.abi_version,
			 PVLOCK_BPF_ABI_VERSION);
		return NULL;
	}
	/* Release: pairs with is_live()'s acquire; ops is complete. */
	__atomic_store_n(&live, true, __ATOMIC_RELEASE);
	return &pvlock__bpf_backend;
}

/* How many times close yields to a thread inside ops.attach before it
 * leaves the program loaded (a thread stopped there, say in a signal
 * handler, must not hang exit; the kernel drops the program at exit). */
#define UNLOAD_PATIENCE 10000

void pvlock__bpf_backend_close(void)
{
	if (!ops.close)
		return;
	/* seq_cst: see bpf_attach. */
	__atomic_store_n(&live, false, __ATOMIC_SEQ_CST);
	unsigned n = 0;
	/* seq_cst (the first load; acquire would do for the rest): pairs with
	 * bpf_attach's increment, and its release decrement. */
	while (__atomic_load_n(&attaching, __ATOMIC_SEQ_CST) != 0 && n++ < UNLOAD_PATIENCE)
		sched_yield();
	if (n <= UNLOAD_PATIENCE)
		ops.close();
	ops.close = NULL;
}

const struct pvlock_bpf_ops *pvlock__bpf_ops(void)
{
	return ops.close ? &ops : NULL;
}
