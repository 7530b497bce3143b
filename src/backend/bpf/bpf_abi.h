/*
 * bpf_abi.h - what the sched_switch program, its loader (libpvlock-bpf.so)
 * and libpvlock agree on.  Included by BPF C, by the loader and by the
 * library, so it uses only fixed-size types and no libc.
 *
 * The program keeps one record per pvlock thread slot in a BPF array map
 * created with BPF_F_MMAPABLE; the library maps it and reads it with plain
 * loads: the user-space twin of KVM's steal-time `preempted` byte.
 * A thread is tied to its slot through BPF task storage, keyed from user
 * space by a thread pidfd (pidfd_open(tid, PIDFD_THREAD)): the kernel
 * resolves the tid in the caller's pid namespace, so a process inside
 * `unshare --pid` registers its own gettid() values and the program only
 * ever sees task pointers.  Task storage dies with the task.
 */
#ifndef PVLOCK_BACKEND_BPF_ABI_H
#define PVLOCK_BACKEND_BPF_ABI_H

#ifdef __bpf__
typedef unsigned int pvlock_u32;
typedef unsigned long long pvlock_u64;
#else
#include <stdint.h>
typedef uint32_t pvlock_u32;
typedef uint64_t pvlock_u64;
#endif

/* Records in the map: one per slot, PVLOCK_MAX_SLOTS of them. */
#define PVLOCK_BPF_SLOTS	16383u

enum pvlock_bpf_state {
	PVLOCK_BPF_UNKNOWN = 0,		/* not registered (yet) */
	PVLOCK_BPF_RUNNING = 1,		/* on a CPU */
	PVLOCK_BPF_RUNNABLE = 2,	/* preempted, or woken and not yet on a CPU */
	PVLOCK_BPF_BLOCKED = 3,		/* asleep (futex, nanosleep, I/O) */
};

/*
 * One slot's record, 32 bytes (array elements are 8-byte aligned in the mmap
 * view, so keep the size a multiple of 8).  The program writes state, since,
 * steal_ns, kernel_tid and switches; the library writes gen (and resets the
 * rest) when a thread takes the slot.  The program updates a record only
 * while its gen equals the gen in the task's storage, so a dying thread's
 * last switches never touch the record of the slot's next owner.
 */
struct pvlock_bpf_vcpu {
	pvlock_u32 state;		/* enum pvlock_bpf_state */
	pvlock_u32 gen;			/* registration generation */
	pvlock_u64 since_ns;		/* CLOCK_MONOTONIC of the last change */
	pvlock_u64 steal_ns;		/* total ns runnable but not running */
	pvlock_u32 kernel_tid;		/* task->pid: the tid in the root namespace */
	pvlock_u32 switches;		/* times switched out */
};

/* Task storage: which slot (and generation) this task was registered as. */
struct pvlock_bpf_task {
	pvlock_u32 slot;
	pvlock_u32 gen;
};

/*
 * Timeline events (ring buffer, only while tracing is on): the program
 * writes the scheduler's, the library writes the lock's into its own buffer.
 */
struct pvlock_bpf_event {
	pvlock_u64 ns;
	pvlock_u32 slot;
	pvlock_u32 state;		/* enum pvlock_bpf_state */
};

/*
 * The loader's entry point, found with dlsym: fills *ops or returns a
 * negative errno-style code with a reason in why[].
 */
#define PVLOCK_BPF_ABI_VERSION	1
struct pvlock_bpf_ops {
	unsigned abi_version;
	struct pvlock_bpf_vcpu *vcpus;	/* PVLOCK_BPF_SLOTS records, mapped */
	/* Tie thread tid (as gettid() returns it here) to slot/gen: 0 or -errno. */
	int (*attach)(pvlock_u32 tid, pvlock_u32 slot, pvlock_u32 gen);
	/* Scheduler events for the timeline: start (1) or stop (0) recording;
	 * drain calls fn for each recorded event; returns how many. */
	int (*trace)(int on);
	int (*drain)(void (*fn)(const struct pvlock_bpf_event *e, void *arg), void *arg);
	/* Detach and unload the program (the mapping stays valid). */
	void (*close)(void);
};
#define PVLOCK_BPF_OPEN_SYMBOL	"pvlock_bpf_open"
typedef int (*pvlock_bpf_open_fn)(struct pvlock_bpf_ops *ops, char *why, unsigned long why_len);

#endif /* PVLOCK_BACKEND_BPF_ABI_H */
