/*
 * slots.c - thread slots: the "CPU numbers" of the algorithms.
 *
 * A thread takes a slot on its first slow path and keeps it while it lives.
 * Only slots count against PVLOCK_MAX_SLOTS; beyond it a waiter has no queue
 * node or wait record, and spins and yields (the algorithms' "no node" path).
 *
 * Nothing on a lock path allocates or calls into libc beyond raw system
 * calls, so every path is async-signal-safe.  In particular there is no
 * thread-exit hook: a pthread key's value would make glibc allocate once the
 * key number is 32 or more (a library dlopen'd late), and its destructor
 * would point into unmapped code after dlclose.  Instead each slot records
 * its thread's id, and a slot of a thread that no longer exists is taken
 * back lazily, by a later slow path that finds no free slot (tgkill(0)
 * answers "does this thread exist" without allocating).  A slot whose dead
 * thread left a queue node or a wait record in use (asynchronous
 * cancellation, pthread_exit or longjmp out of a waiting signal handler) is
 * retired instead: never handed out again, and counted as slot_retired.
 *
 * A slot also records the process its thread took it in.  A child made
 * without fork handlers (_Fork, a raw clone) keeps its forking thread's slot
 * under the parent's thread id, which names no thread of the child; so a
 * reclaim pass leaves alone every slot taken in another process (it may be
 * the child's first thread's), and never the caller's own.  Such a child
 * keeps the slots of the parent's other threads too: they are never handed
 * out again.  After fork the fork handler retags and frees them instead.
 *
 * Allocation is a lock-free scan of a bitmap and may run inside a signal
 * handler: a handler that interrupts our own allocation allocates for itself,
 * and the outer allocation then notices and gives its slot back.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pvlock.h>

#include "algo/hooks.h"
#include "runtime/internal.h"
#include "runtime/seams.h"

struct pvlock_slot pvlock__slots[PVLOCK_MAX_SLOTS];
uint64_t pvlock__orphan_events[PVLOCK_EV_COUNT];

#define BITMAP_WORDS ((PVLOCK_MAX_SLOTS + 63) / 64)
static uint64_t slot_used[BITMAP_WORDS];
static unsigned high_water;	/* slots [0, high_water) have been used */

/* Owner of each slot: pvlock__slots[s].tid, its thread id (the one copy: the
 * bpf backend registers the thread by it too); 0 while being taken or free;
 * TID_RETIRED retired.  A slot's bit is set before its tid and cleared after
 * it (reclaim). */
#define TID_RETIRED UINT32_MAX
#define slot_tid(s) (pvlock__slots[s].tid)

/* Reclaim passes: one at a time; when the last one ran; slots taken since. */
static int reclaiming;
static uint64_t last_reclaim_ns;
static unsigned taken_since_reclaim;
#define RECLAIM_MIN_INTERVAL_NS 10000000ull	/* at the limit: every 10 ms at most */

/* This thread's slot + 1 (0: none).  initial-exec: no allocation on access,
 * so it is safe in a signal handler. */
static __thread uint32_t self_plus1 __attribute__((tls_model("initial-exec")));

/* Raw system calls that leave errno as it was (a lock must not change it). */
static long quiet_syscall3(long nr, long a, long b, long c, int *err)
{
	int saved = errno;
	long r = syscall(nr, a, b, c);

	*err = r < 0 ? errno : 0;
	errno = saved;
	return r;
}

static uint32_t my_tid(void)
{
	int err;

	return (uint32_t)quiet_syscall3(SYS_gettid, 0, 0, 0, &err);
}

static uint32_t my_pid(void)
{
	int err;

	return (uint32_t)quiet_syscall3(SYS_getpid, 0, 0, 0, &err);
}

/* Does that thread of this process (pid) still exist?  Any doubt says yes. */
static bool thread_exists(uint32_t pid, int32_t tid)
{
	int err;

	return quiet_syscall3(SYS_tgkill, (long)pid, tid, 0, &err) == 0 || err != ESRCH;
}

static void slot_free(uint32_t index)
{
	/* Release: the slot's last use comes before its next owner's first. */
	__atomic_fetch_and(&slot_used[index / 64], ~(1ull << (index % 64)), __ATOMIC_RELEASE);
}

static bool slot_busy(const struct pvlock_slot *slot)
{
	return __atomic_load_n(&slot->qnodes[0].count, __ATOMIC_RELAXED) != 0 ||
	       __atomic_load_n(&slot->ticket_depth, __ATOMIC_RELAXED) != 0;
}

static unsigned slot_limit(void)
{
	unsigned max = pvlock__fault_max_slots();	/* 0 but in test builds */

	if (max && max < PVLOCK_MAX_SLOTS)
		return max;
	return PVLOCK_MAX_SLOTS;
}

/*
 * Take back the slots of threads that no longer exist.  Returns how many
 * became free.  One pass at a time (a signal handler that interrupts a pass
 * skips it).  A tid is cleared before its bit, and a new owner sets its bit
 * before its tid, so a pass never frees a slot that is being taken.
 */
static unsigned reclaim(void)
{
	unsigned freed = 0, hw = __atomic_load_n(&high_water, __ATOMIC_ACQUIRE);
	/* Relaxed: this thread's own variable (a signal handler of ours may
	 * set it, once, before we resume).  Never free our own slot. */
	uint32_t mine = __atomic_load_n(&self_plus1, __ATOMIC_RELAXED);

	if (__atomic_exchange_n(&reclaiming, 1, __ATOMIC_ACQUIRE))
		return 0;
	uint32_t pid = my_pid();
	for (unsigned s = 0; s < hw; s++) {
		if (s + 1 == mine ||
		    !(__atomic_load_n(&slot_used[s / 64], __ATOMIC_RELAXED) & (1ull << (s % 64))))
			continue;
		uint32_t tid = __atomic_load_n(&slot_tid(s), __ATOMIC_ACQUIRE);
		/* Relaxed: written before the tid's release store (slot_self),
		 * which the acquire load above read. */
		uint32_t owner_pid = __atomic_load_n(&pvlock__slots[s].pid, __ATOMIC_RELAXED);
		if (tid == 0 || tid == TID_RETIRED || owner_pid != pid ||
		    thread_exists(pid, (int32_t)tid))
			continue;
		/* Its thread is gone: nothing it did can still be in flight. */
		if (slot_busy(&pvlock__slots[s])) {
			/* Left while queued or waiting: a neighbour may still
			 * point at its nodes or records.  Never reuse it. */
			if (__atomic_compare_exchange_n(&slot_tid(s), &tid, TID_RETIRED, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				ev_inc(&pvlock__slots[s], slot_retired);
			continue;
		}
		if (__atomic_compare_exchange_n(&slot_tid(s), &tid, 0, false,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
			slot_free(s);
			freed++;
		}
	}
	__atomic_store_n(&taken_since_reclaim, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&last_reclaim_ns, pvlock__now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&reclaiming, 0, __ATOMIC_RELEASE);
	return freed;
}

/* Set the first free bit below `limit`; -1 if none. */
static int bitmap_take(unsigned limit)
{
	unsigned words = (limit + 63) / 64;

	for (unsigned w = 0; w < words; w++) {
		uint64_t used = __atomic_load_n(&slot_used[w], __ATOMIC_RELAXED);

		while (~used) {
			unsigned bit = (unsigned)__builtin_ctzll(~used);
			unsigned index = w * 64 + bit;

			if (index >= limit)
				break;
			used = __atomic_fetch_or(&slot_used[w], 1ull << bit, __ATOMIC_ACQUIRE);
			if (!(used & (1ull << bit)))
				return (int)index;
		}
	}
	return -1;
}

/*
 * Prefer a free slot below the high water.  When there is none, take back
 * the slots of exited threads first if enough slots were handed out since
 * the last pass (a quarter of the high water: a pass costs one system call
 * per slot in use, so this bounds the cost at about 4 calls per new thread
 * and the high water at about 4/3 of the threads alive at once), or, at the
 * limit, if the last pass is 10 ms old.  Only then raise the high water.
 */
static int slot_take(void)
{
	unsigned limit = slot_limit();
	unsigned hw = __atomic_load_n(&high_water, __ATOMIC_ACQUIRE);
	int index;

	if (hw > limit)
		hw = limit;
	if ((index = bitmap_take(hw)) >= 0)
		return index;
	unsigned since = __atomic_load_n(&taken_since_reclaim, __ATOMIC_RELAXED);
	if (hw && (since >= hw / 4 ||
		   (hw == limit && pvlock__now_ns() - __atomic_load_n(&last_reclaim_ns, __ATOMIC_RELAXED) >
				   RECLAIM_MIN_INTERVAL_NS)) &&
	    reclaim() && (index = bitmap_take(hw)) >= 0)
		return index;
	return bitmap_take(limit);
}

static void raise_high_water(unsigned count)
{
	unsigned hw = __atomic_load_n(&high_water, __ATOMIC_RELAXED);

	while (hw < count &&
	       !__atomic_compare_exchange_n(&high_water, &hw, count, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

struct pvlock_slot *pvlock__slot_peek(void)
{
	uint32_t s = __atomic_load_n(&self_plus1, __ATOMIC_RELAXED);

	return s ? &pvlock__slots[s - 1] : NULL;
}

struct pvlock_slot *pvlock__slot_self(void)
{
	uint32_t s = __atomic_load_n(&self_plus1, __ATOMIC_RELAXED);

	if (pvlock__likely(s))
		return &pvlock__slots[s - 1];

	int index = slot_take();
	if (index < 0)
		return NULL;
	struct pvlock_slot *slot = &pvlock__slots[index];
	/* A slot's index never changes: write it only on the slot's first
	 * use, so that a later owner never writes what an earlier one (whose
	 * exit a reclaim pass learnt from the kernel, an order no memory
	 * access carries) still read plainly. */
	if (__atomic_load_n(&slot->index, __ATOMIC_RELAXED) != (uint32_t)index)
		__atomic_store_n(&slot->index, (uint32_t)index, __ATOMIC_RELAXED);
	/* Relaxed: released by the tid store below, which a reclaim pass
	 * reads with acquire before it reads the pid. */
	__atomic_store_n(&slot->pid, my_pid(), __ATOMIC_RELAXED);
	__atomic_store_n(&slot_tid(index), my_tid(), __ATOMIC_RELEASE);
	__atomic_fetch_add(&taken_since_reclaim, 1, __ATOMIC_RELAXED);
	raise_high_water((unsigned)index + 1);

	uint32_t none = 0;
	if (!__atomic_compare_exchange_n(&self_plus1, &none, (uint32_t)index + 1, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		/* A signal handler gave this thread a slot meanwhile: use it. */
		__atomic_store_n(&slot_tid(index), 0, __ATOMIC_RELAXED);
		slot_free((uint32_t)index);
		return &pvlock__slots[none - 1];
	}
	pvlock__slot_attached(slot);
	return slot;
}

unsigned pvlock__slot_high_water(void)
{
	return __atomic_load_n(&high_water, __ATOMIC_ACQUIRE);
}

unsigned pvlock__slots_in_use(void)
{
	unsigned n = 0;

	for (unsigned w = 0; w < BITMAP_WORDS; w++)
		n += (unsigned)__builtin_popcountll(__atomic_load_n(&slot_used[w], __ATOMIC_RELAXED));
	return n;
}

/*
 * A queued waiter swapped out `tail` (slot + 1 and nesting level of the
 * waiter it will link behind).  In a lock used as documented, that slot was
 * handed out by this copy of pvlock, its nesting level is in use (the
 * predecessor cannot leave before we link behind it, and the tail exchange
 * acquired its publication), and it is not our own node.  Anything else is
 * a lock word this copy never wrote: garbage, or a lock shared with another
 * process or another copy of the library.  Linking into that node would
 * hang without a word, so stop.  About 15 instructions, no shared write.
 */
void pvlock__check_prev(union pvlock_qspin *lock, uint32_t tail, const struct qnode *node)
{
	uint32_t s = (tail >> 18) - 1;
	int idx = (int)((tail >> 16) & 3);

	if (pvlock__likely(s < PVLOCK_MAX_SLOTS && &pvlock__slots[s].qnodes[idx] != node &&
			   /* relaxed: pairs with the slot owner's fetch_or, which
			    * precedes its tail exchange we acquired */
			   (__atomic_load_n(&slot_used[s / 64], __ATOMIC_RELAXED) & (1ull << (s % 64))) &&
			   /* relaxed: the owner's increment precedes its tail
			    * exchange too; it cannot drop before we link */
			   __atomic_load_n(&pvlock__slots[s].qnodes[0].count, __ATOMIC_RELAXED) > idx))
		return;
	pvlock__fatal_word("pvlock_lock", lock, __atomic_load_n(&lock->val, __ATOMIC_RELAXED),
			   "the queue tail names a waiter this copy of pvlock does not have",
			   true);
}

/* A waiter gives the CPU to whoever can progress (the lock holder, perhaps). */
void pvlock__pv_yield(void)
{
	sched_yield();		/* a system call; it cannot fail or touch errno */
}

/*
 * fork: the child has one thread, the one that forked.  Every other slot's
 * thread does not exist there, so take those threads out of the lock words
 * they waited on (pvlock__fork_repair_waits), and free their slots, with
 * their queue nodes, wait records and hash entries.  The forking thread
 * keeps its slot under its new thread id and process.  This runs as a
 * pthread_atfork child handler registered at load, so before the program's
 * own child handlers (which run in registration order) and with no other
 * thread: plain relaxed accesses.
 */
static void slots_after_fork(void)
{
	struct pvlock_slot *self = pvlock__slot_peek();
	unsigned hw = __atomic_load_n(&high_water, __ATOMIC_RELAXED);

	for (unsigned s = 0; s < hw; s++) {
		struct pvlock_slot *slot = &pvlock__slots[s];

		if (slot == self)
			continue;
		slot->qnodes[0].count = 0;
		slot->ticket_depth = 0;
		for (int level = 0; level < PVLOCK_MAX_NODES; level++)
			__atomic_store_n(&slot->twait[level].lock, NULL, __ATOMIC_RELAXED);
		slot_tid(s) = 0;
		slot_free(s);
	}
	if (self) {
		self->pid = my_pid();
		slot_tid(self->index) = my_tid();
	}
	pvlock__fork_repair_waits(self);
	pvlock__ticket_forget_others(self);
	pvlock__pv_hash_forget_others(self);
	reclaiming = 0;
	taken_since_reclaim = 0;
}

__attribute__((constructor)) static void slots_init(void)
{
	pthread_atfork(NULL, NULL, slots_after_fork);
}
