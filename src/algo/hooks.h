/*
 * hooks.h - the seam between the lock algorithms and everything else.
 *
 * The algorithms (src/algo/) are freestanding: no libc, no pthreads.  This
 * file is the whole of what they need from the world.  A host provides it:
 * in the library, src/runtime/ and src/backend/; in another host (a guest
 * kernel, say), its own definitions of the same functions and objects.
 *
 *   slots      pvlock__slots[], pvlock__slot_self(), pvlock__slot_peek(),
 *              pvlock__slot_high_water()            who am I, who exists
 *   mode       pvlock__mode_freeze()                native or pv, fixed now
 *   tunables   pvlock__spin_threshold, pvlock__steal_spin,
 *              pvlock__steal_yields, pvlock__ticket_skips,
 *              pvlock__ticket_kick_ahead, pvlock__ticket_far_sleep
 *              (read relaxed), pvlock__one_cpu, pvlock__cpus_usable
 *   wait/kick  pvlock__pv_wait(), pvlock__pv_kick(),
 *              pvlock__pv_vcpu_is_preempted()       Linux's pv_wait / pv_kick
 *   membarrier pvlock__pv_membarrier()              store-kind pv unlock only
 *   reports    pvlock__report_bad_unlock(), pvlock__fatal()
 *   events     pvlock__orphan_events[]              counters of slot-less
 *                                                   threads (ev_inc, ev_add)
 *   test only  pvlock__preempt_point(), pvlock__fault_hash_lines()
 *              (with -DPVLOCK_FAULT_INJECTION; otherwise nothing)
 *
 * tests/packaging/freestanding.sh checks that the algorithm objects
 * reference nothing else.
 */
#ifndef PVLOCK_ALGO_HOOKS_H
#define PVLOCK_ALGO_HOOKS_H

#include <stddef.h>

#include <pvlock/mode.h>

#include "algo/slot.h"

/* This thread's slot, allocated on first use; NULL when none is free. */
struct pvlock_slot *pvlock__slot_self(void);
/* This thread's slot if it has one; never allocates. */
struct pvlock_slot *pvlock__slot_peek(void);
extern struct pvlock_slot pvlock__slots[PVLOCK_MAX_SLOTS];

/* The slot that holds `member` (a queue node, a ticket-wait record), from
 * its address: both live inside the never-freed slot array, so kicks need
 * no lock address and no stored field. */
static inline struct pvlock_slot *pvlock__slot_of(const void *member)
{
	size_t offset = (size_t)((const char *)member - (const char *)pvlock__slots);

	return &pvlock__slots[offset / sizeof(struct pvlock_slot)];
}

static inline struct pvlock_slot *pvlock__slot_of_node(const struct qnode *node)
{
	return pvlock__slot_of(node);
}
/* Slots ever handed out: [0, high water) is all an unlocker must scan. */
unsigned pvlock__slot_high_water(void);

/* Freeze the mode (the first slow path does) and return it. */
enum pvlock_mode pvlock__mode_freeze(void);
extern unsigned pvlock__spin_threshold;
extern unsigned pvlock__steal_spin;
extern unsigned pvlock__steal_yields;

/*
 * Sleep while *ptr == val.  May return early or spuriously: callers loop.
 * A kick sent after the call began is never lost, and one sent before it is
 * seen through *ptr (kickers change what the waiter checks, then kick).
 */
void pvlock__pv_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val);
/* Wake the thread of that slot; harmless if it is running. */
void pvlock__pv_kick(struct pvlock_slot *target);
/*
 * A full barrier on every other running thread of the process at some
 * instant during the call (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED),
 * with full barriers of our own before and after.  0, or -1 if refused (the
 * caller must then not sleep on what it read after it).  Called only when
 * the mode word says the store kind of pv unlock; a host without it keeps
 * PVLOCK__MODE_CAS_UNLOCK set.
 */
int pvlock__pv_membarrier(void);
/* Known to be runnable but not running (preempted)?  false: running,
 * blocked, or don't know. */
bool pvlock__pv_vcpu_is_preempted(const struct pvlock_slot *slot);
/* A thread just took this slot (slot->tid is set): tell the backend. */
void pvlock__slot_attached(struct pvlock_slot *slot);

/* corrupt: the word is no state of this lock (else: it is just not locked). */
void pvlock__report_bad_unlock(const char *function, const void *lock, uint32_t word,
			       bool corrupt);
__attribute__((noreturn)) void pvlock__fatal(const char *what, const void *lock);
/* "pvlock: fatal: FUNCTION(LOCK): WHAT (lock word 0x...)", plus, if corrupt,
 * that the lock's memory looks corrupted, uninitialised or shared. */
__attribute__((noreturn)) void pvlock__fatal_word(const char *function, const void *lock,
						  uint32_t word, const char *what, bool corrupt);

/* Queued lock: the tail we replaced must name a live node of this copy
 * (else fatal: garbage or a foreign lock word).  Slow path only. */
union pvlock_qspin;
void pvlock__check_prev(union pvlock_qspin *lock, uint32_t tail, const struct qnode *node);
/* pv: give up the CPU to whoever can progress (callers count why:
 * pv_no_node_yield, pv_steal_yield). */
void pvlock__pv_yield(void);
/* fork child: forget the waits and hash entries of every slot but `keep`. */
void pvlock__ticket_forget_others(const struct pvlock_slot *keep);
void pvlock__pv_hash_forget_others(const struct pvlock_slot *keep);
/* fork child: take every slot but `keep` out of the lock words its records
 * name, and drop the records (src/algo/fork_repair.c). */
void pvlock__fork_repair_waits(const struct pvlock_slot *keep);

/* Counters of slot-less threads (no slot free) land here. */
extern uint64_t pvlock__orphan_events[PVLOCK_EV_COUNT];

/*
 * Count n of event ev.  ev_inc(self, name) counts one occurrence of an
 * event; ev_add(self, name, n) adds a quantity (ns, entries probed).
 *
 * A slot's counters are written only by the thread that owns the slot (and
 * by its signal handlers) and read by pvlock_stats_read on any thread.  So
 * the add need not be a locked RMW; it must only be atomic with respect to
 * a signal handler on this thread, which may count the same event.  On
 * x86-64 one non-locked add instruction is: a signal arrives between
 * instructions.  Elsewhere a relaxed atomic add (an LL/SC loop or an LSE
 * STADD on aarch64: no barrier, no lock).  Readers load each counter
 * relaxed; aligned 8-byte stores are single-copy atomic, so they see whole
 * values.  Slot-less threads share the orphan counters: a locked RMW there.
 * Ordering: none; a counter pairs with no other access.
 */
static inline void ev_count(struct pvlock_slot *self, enum pvlock_event ev, uint64_t n)
{
	if (pvlock__unlikely(!self)) {
		__atomic_fetch_add(&pvlock__orphan_events[ev], n, __ATOMIC_RELAXED);
		return;
	}
#if defined(__x86_64__) && !defined(PVLOCK__TSAN)
	__asm__ __volatile__("addq %1, %0" : "+m"(self->events[ev]) : "er"(n));
#else
	__atomic_fetch_add(&self->events[ev], n, __ATOMIC_RELAXED);
#endif
}
#define ev_inc(self, name)	ev_count((self), PVLOCK_EV_##name, 1)
#define ev_add(self, name, n)	ev_count((self), PVLOCK_EV_##name, (n))

/* Tunables: settable at any time, read relaxed; a stale value for a few
 * loops is harmless (pairs with the relaxed stores in src/runtime/mode.c). */
static inline unsigned spin_threshold(void)
{
	return __atomic_load_n(&pvlock__spin_threshold, __ATOMIC_RELAXED);
}

static inline unsigned steal_spin(void)
{
	return __atomic_load_n(&pvlock__steal_spin, __ATOMIC_RELAXED);
}

/*
 * The process can run one thread at a time (one CPU in its affinity mask, or
 * a CPU quota of at most one CPU: src/runtime/cpus.c).  A pv waiter that
 * spins there only keeps the holder it waits for off the CPU, so the pv
 * spin budgets below shrink to one look and the slow paths sleep or yield
 * at once.  Native mode spins as told.  The host sets it (the guest: never);
 * read relaxed, pairing with the relaxed store of whoever looked last: a
 * stale value costs one spin round or one early sleep, never correctness.
 */
extern bool pvlock__one_cpu;

static inline bool one_cpu(void)
{
	return pvlock__unlikely(__atomic_load_n(&pvlock__one_cpu, __ATOMIC_RELAXED));
}

/* Looks of a pv waiter before it sleeps: at least one. */
static inline unsigned pv_spin_budget(void)
{
	return one_cpu() ? 1 : spin_threshold();
}

/* Failed steal looks of a pv newcomer before it yields. */
static inline unsigned pv_steal_budget(void)
{
	return one_cpu() ? 0 : steal_spin();
}

static inline unsigned steal_yields(void)
{
	return __atomic_load_n(&pvlock__steal_yields, __ATOMIC_RELAXED);
}

/*
 * The pv ticket lock's hand-offs (src/algo/ticket_skip.h), on every backend:
 *   ticket_skips      K: times one acquisition's waiter may be passed over
 *                     while it does not run (0: never, the skip protocol off)
 *   ticket_kick_ahead k: a hand-off to ticket N also wakes the sleeping
 *                     waiter of ticket N + 2k (0: off)
 *   ticket_far_sleep  1: a waiter more than pvlock__cpus_usable turns behind
 *                     head sleeps at once instead of spinning (0: off)
 * Set by the host (src/runtime/mode.c: PVLOCK_TICKET_SKIPS,
 * PVLOCK_TICKET_KICK_AHEAD, PVLOCK_TICKET_FAR_SLEEP); read relaxed, pairing
 * with the host's relaxed stores: a stale value changes who waits how long,
 * never who owns the lock.
 */
#define PVLOCK_TICKET_SKIPS_DEFAULT	1u
#define PVLOCK_TICKET_SKIPS_MAX		16u
#define PVLOCK_TICKET_KICK_AHEAD_DEFAULT 16u
#define PVLOCK_TICKET_KICK_AHEAD_MAX	16u
#define PVLOCK_TICKET_FAR_SLEEP_DEFAULT	1u
extern unsigned pvlock__ticket_skips;
extern unsigned pvlock__ticket_kick_ahead;
extern unsigned pvlock__ticket_far_sleep;
/* CPUs the process may use (its affinity mask, capped by its CPU quota);
 * 0: unknown.  Written by whoever looked last (src/runtime/cpus.c), read
 * relaxed: a hint, paired with no other access. */
extern unsigned pvlock__cpus_usable;

static inline unsigned ticket_skips(void)
{
	return __atomic_load_n(&pvlock__ticket_skips, __ATOMIC_RELAXED);
}

static inline unsigned ticket_kick_ahead(void)
{
	return __atomic_load_n(&pvlock__ticket_kick_ahead, __ATOMIC_RELAXED);
}

static inline bool ticket_far_sleep(void)
{
	return __atomic_load_n(&pvlock__ticket_far_sleep, __ATOMIC_RELAXED) != 0;
}

static inline unsigned cpus_usable(void)
{
	return __atomic_load_n(&pvlock__cpus_usable, __ATOMIC_RELAXED);
}

/* What a backend that knows who runs (bpf) tells; 0 / false / 0 from one
 * that does not (futex).  pvlock__backend_knows says which kind is active. */
extern bool pvlock__backend_knows;
enum pvlock_slot_state {
	PVLOCK_SLOT_UNKNOWN = 0,
	PVLOCK_SLOT_RUNNING = 1,
	PVLOCK_SLOT_RUNNABLE = 2,	/* preempted, or woken and not yet on a CPU */
	PVLOCK_SLOT_BLOCKED = 3,
};
int pvlock__pv_slot_state(const struct pvlock_slot *slot);	/* enum pvlock_slot_state */
uint64_t pvlock__pv_steal_ns(const struct pvlock_slot *slot);

/*
 * The slow paths' uses of "who runs" (PVLOCK_PREEMPT_USES; docs/design.md
 * has the measurements behind the default).  Each applies only while the
 * backend knows.
 */
enum {
	PVLOCK_USE_WAIT_EARLY = 1,	/* queued waiter sleeps early behind a preempted prev (Linux v5.2, reverted in v5.4) */
	PVLOCK_USE_HOLDER = 2,		/* queue head sleeps at once while the holder it knows is not running */
	PVLOCK_USE_SKIP = 32,		/* the ticket skip protocol also takes the backend's "not running" */
};
#define PVLOCK_USES_DEFAULT PVLOCK_USE_SKIP	/* the one use measured to help (docs/design.md) */
extern unsigned pvlock__preempt_uses;

/* Relaxed loads: both are set before the first slow path (the constructor,
 * or a test installing a backend while no slow path runs) and pair with the
 * stores in src/runtime/pv_ops.c and backend_select.c; a stale value only
 * skips or takes a hint, never changes what the lock protocol guarantees. */
static inline bool preempt_known(void)
{
	return pvlock__unlikely(__atomic_load_n(&pvlock__backend_knows, __ATOMIC_RELAXED));
}

static inline bool preempt_use(unsigned use)
{
	return preempt_known() && (__atomic_load_n(&pvlock__preempt_uses, __ATOMIC_RELAXED) & use);
}

/* Steal time of one slow path: read at its start, counted at its end. */
static inline uint64_t steal_begin(struct pvlock_slot *self)
{
	return preempt_known() ? pvlock__pv_steal_ns(self) : 0;
}

static inline void steal_end(struct pvlock_slot *self, uint64_t begin)
{
	if (!preempt_known())
		return;
	uint64_t now = pvlock__pv_steal_ns(self);
	if (now > begin)
		ev_add(self, preempt_steal_ns, now - begin);
}

#ifdef PVLOCK_FAULT_INJECTION
#include "algo/preempt_points.h"
void pvlock__preempt_point(enum pvlock_preempt_point where);
#define PREEMPT_POINT(where) pvlock__preempt_point(PVLOCK_PP_##where)
/* 0: the whole pv hash table; N: a test shrank it to N 64-byte lines. */
unsigned pvlock__fault_hash_lines(void);
#else
#define PREEMPT_POINT(where) ((void)0)
#endif

#endif /* PVLOCK_ALGO_HOOKS_H */
