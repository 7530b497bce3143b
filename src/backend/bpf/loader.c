/*
 * loader.c - libpvlock-bpf.so: loads, attaches and maps the sched_switch
 * program for libpvlock, which dlopens this library only when the bpf
 * backend is asked for.  Keeping libbpf here means libpvlock.so itself never
 * needs libbpf (or this library) to link or to run.
 *
 * The program, the maps and the links belong to this process: the kernel
 * drops them when the last descriptor closes, at close() or at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "backend/bpf/bpf_abi.h"
#include "pvlock.skel.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL	/* Linux 6.9: a pidfd for one thread */
#endif

static struct pvlock_bpf *skel;
static struct ring_buffer *ring;
static void (*drain_fn)(const struct pvlock_bpf_event *e, void *arg);
static void *drain_arg;

/* libbpf's own messages would be many lines; we report one reason. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int thread_pidfd(uint32_t tid)
{
	return (int)syscall(SYS_pidfd_open, (pid_t)tid, PIDFD_THREAD);
}

static int attach(uint32_t tid, uint32_t slot, uint32_t gen)
{
	struct pvlock_bpf_task t = { .slot = slot, .gen = gen };
	int fd = thread_pidfd(tid);

	if (fd < 0)
		return -errno;
	int err = bpf_map_update_elem(bpf_map__fd(skel->maps.tasks), &fd, &t, BPF_ANY);
	err = err ? -errno : 0;
	close(fd);
	return err;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(struct pvlock_bpf_event) && drain_fn)
		drain_fn(data, drain_arg);
	return 0;
}

static int trace(int on)
{
	if (on && !ring) {
		ring = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
		if (!ring)
			return -errno;
	}
	__atomic_store_n(&skel->bss->trace_on, on, __ATOMIC_RELEASE);
	return 0;
}

static int drain(void (*fn)(const struct pvlock_bpf_event *e, void *arg), void *arg)
{
	if (!ring)
		return 0;
	drain_fn = fn;
	drain_arg = arg;
	return ring_buffer__consume(ring);
}

static void unload(void)
{
	if (ring)
		ring_buffer__free(ring);
	ring = NULL;
	/* The mapping of vcpus stays: other threads may still read it. */
	pvlock_bpf__detach(skel);
	pvlock_bpf__destroy(skel);
	skel = NULL;
}

static int fail(char *why, unsigned long len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	if (skel)
		pvlock_bpf__destroy(skel);
	skel = NULL;
	return err < 0 ? err : -err;
}

static const char *load_reason(int err)
{
	if (err == -EPERM || err == -EACCES)
		return "no permission (needs root, or CAP_BPF with CAP_PERFMON)";
	if (err == -ESRCH || err == -ENOENT || err == -EINVAL || err == -EOPNOTSUPP)
		return "kernel too old (needs tp_btf/sched_switch and BPF task storage)";
	return "the kernel refused the program";
}

/* A forked child shares our descriptors but is another process: it may load
 * a program of its own.  Forget ours there without closing anything. */
static void forget_in_child(void)
{
	skel = NULL;
	ring = NULL;
}

__attribute__((visibility("default")))
int pvlock_bpf_open(struct pvlock_bpf_ops *ops, char *why, unsigned long why_len)
{
	static bool atfork_set;

	if (skel)
		return fail(why, why_len, EBUSY, "already loaded in this process");
	if (!atfork_set && pthread_atfork(NULL, NULL, forget_in_child) == 0)
		atfork_set = true;
	libbpf_set_print(quiet);

	int fd = thread_pidfd((uint32_t)gettid());
	if (fd < 0)
		return fail(why, why_len, errno, "kernel too old (no pidfd_open PIDFD_THREAD, "
			    "Linux 6.9): %s", strerror(errno));
	close(fd);

	skel = pvlock_bpf__open();
	if (!skel)
		return fail(why, why_len, errno, "cannot open the BPF object: %s", strerror(errno));
	int err = pvlock_bpf__load(skel);
	if (err)
		return fail(why, why_len, err, "%s (loading: %s)", load_reason(err), strerror(-err));
	err = pvlock_bpf__attach(skel);
	if (err)
		return fail(why, why_len, err, "%s (attaching: %s)", load_reason(err), strerror(-err));

	size_t bytes = PVLOCK_BPF_SLOTS * sizeof(struct pvlock_bpf_vcpu);
	void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			 bpf_map__fd(skel->maps.vcpus), 0);
	if (map == MAP_FAILED)
		return fail(why, why_len, errno, "cannot map the slot records: %s", strerror(errno));

	*ops = (struct pvlock_bpf_ops){
		.abi_version = PVLOCK_BPF_ABI_VERSION,
		.vcpus = map,
		.attach = attach,
		.trace = trace,
		.drain = drain,
		.close = unload,
	};
	return 0;
}
