// SPDX-License-Identifier: GPL-2.0
/*
 * pvlock.bpf.c - the scheduler's view of pvlock's threads.
 *
 * On every context switch (and wake-up) of a thread that registered itself
 * (task storage, see bpf_abi.h) the program writes whether the thread runs,
 * is runnable but not running (preempted), or is blocked, into that slot's
 * record in an mmapable array, and adds up the slot's steal time.  Threads
 * that never registered cost one task-storage lookup each (NULL at once for
 * a task that has no storage at all).
 *
 * GPL: the tracing helpers used here are GPL-only in the kernel.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "backend/bpf/bpf_abi.h"

/* Only the fields we read; CO-RE relocates them against the kernel's BTF. */
struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pvlock_bpf_task);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PVLOCK_BPF_SLOTS);
	__type(key, __u32);
	__type(value, struct pvlock_bpf_vcpu);
} vcpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Set from user space (skeleton .bss) while a timeline is recorded. */
int trace_on;

static __always_inline struct pvlock_bpf_vcpu *record_of(struct task_struct *task)
{
	struct pvlock_bpf_task *t = bpf_task_storage_get(&tasks, task, 0, 0);
	struct pvlock_bpf_vcpu *v;
	__u32 slot;

	if (!t)
		return 0;
	slot = t->slot;
	v = bpf_map_lookup_elem(&vcpus, &slot);
	if (!v || v->gen != t->gen)
		return 0;	/* the slot belongs to a newer thread now */
	return v;
}

static __always_inline void emit(struct task_struct *task, __u32 state, __u64 now)
{
	struct pvlock_bpf_task *t;
	struct pvlock_bpf_event *e;

	if (!trace_on)
		return;
	t = bpf_task_storage_get(&tasks, task, 0, 0);
	if (!t)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	e->ns = now;
	e->slot = t->slot;
	e->state = state;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void leave(struct pvlock_bpf_vcpu *v, __u32 state, __u64 now)
{
	v->since_ns = now;
	/* One aligned 32-bit store (clang-14's BPF target has no atomic
	 * store): the library reads it with a relaxed load. */
	*(volatile __u32 *)&v->state = state;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(pvlock_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	struct pvlock_bpf_vcpu *v;
	/* Preempted (even half way into a sleep) or yielding: still runnable. */
	__u32 state = (preempt || prev_state == 0) ? PVLOCK_BPF_RUNNABLE : PVLOCK_BPF_BLOCKED;

	v = record_of(prev);
	if (v) {
		v->switches++;
		leave(v, state, now);
		emit(prev, state, now);
	}
	v = record_of(next);
	if (v) {
		if (v->state == PVLOCK_BPF_RUNNABLE && v->since_ns && now > v->since_ns)
			v->steal_ns += now - v->since_ns;
		v->kernel_tid = (__u32)next->pid;
		leave(v, PVLOCK_BPF_RUNNING, now);
		emit(next, PVLOCK_BPF_RUNNING, now);
	}
	return 0;
}

/* Woken: runnable, not yet running.  Counts as steal until it runs. */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(pvlock_wakeup, struct task_struct *p)
{
	struct pvlock_bpf_vcpu *v = record_of(p);
	__u64 now;

	if (!v || v->state != PVLOCK_BPF_BLOCKED)
		return 0;
	now = bpf_ktime_get_ns();
	leave(v, PVLOCK_BPF_RUNNABLE, now);
	emit(p, PVLOCK_BPF_RUNNABLE, now);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
