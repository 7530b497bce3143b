/*
 * pvlock/stats.h - lock events, named after Linux's lock event counters.
 *
 * Counted per thread slot, only in slow paths (the fast paths count nothing),
 * and summed on read.  A read while other threads run is a consistent sum of
 * each counter, not a snapshot across counters.
 */
#ifndef PVLOCK_STATS_H
#define PVLOCK_STATS_H

#include <stdint.h>

#include <pvlock/arch.h>

PVLOCK__BEGIN_DECLS

/* X(name, description): the one list every field, name and printer uses. */
#define PVLOCK_STATS_EVENTS(X) \
	X(lock_slowpath,      "queued lock: waits that entered the MCS queue") \
	X(lock_pending,       "queued lock: acquisitions through the pending bit (native)") \
	X(lock_use_node2,     "queued lock: slow paths at nesting level 2") \
	X(lock_use_node3,     "queued lock: slow paths at nesting level 3") \
	X(lock_use_node4,     "queued lock: slow paths at nesting level 4") \
	X(lock_no_node,       "queued lock: slow paths without a queue node (deep nesting or no slot)") \
	X(pv_lock_stealing,   "pv: locks stolen while the queue head was not spinning") \
	X(pv_wait_node,       "pv: sleeps of a queued (non-head) waiter") \
	X(pv_wait_head,       "pv: sleeps of the queue head") \
	X(pv_wait_again,      "pv: queue-head sleeps after its first") \
	X(pv_wait_early,      "pv: queued waiters that slept early (previous node not running)") \
	X(pv_spurious_wakeup, "pv: queued waiters woken without their turn") \
	X(pv_kick_unlock,     "pv: kicks sent by unlock to a sleeping queue head") \
	X(pv_kick_wake,       "pv: wake-ups that followed a kick (pv_latency_wake counts these)") \
	X(pv_hash_ops,        "pv: hash table inserts and removals") \
	X(pv_hash_hops,       "pv: hash entries probed by those operations") \
	X(pv_latency_kick_ns, "pv: total ns spent issuing kicks") \
	X(pv_latency_wake_ns, "pv: total ns from kick to the woken thread running") \
	X(ticket_slowpath,    "ticket lock: acquisitions that had to wait") \
	X(ticket_wait,        "ticket lock, pv: sleeps") \
	X(ticket_kick,        "ticket lock, pv: kicks sent by unlock") \
	X(ticket_no_record,   "ticket lock, pv: waits without a record (deep nesting or no slot): spin and yield") \
	X(tas_slowpath,       "test-and-set lock: acquisitions that had to spin") \
	X(bad_unlock,         "unlocks of a lock that was not locked (reported on stderr)") \
	X(slot_retired,       "slots of threads that left while queued or waiting (never reused)") \
	X(pv_no_node_yield,   "pv: waiters without a queue node or wait record that yielded the CPU") \
	X(preempt_holder,     "bpf: a waiter found the lock holder (where known) preempted") \
	X(preempt_waiter,     "bpf: a hand-off or kick went to, or a waiter spun behind, a preempted thread") \
	X(preempt_steal_ns,   "bpf: total ns waiting threads were runnable but not running (steal)") \
	X(ticket_skip,        "ticket lock, pv: turns passed over a waiter that was not running (asleep, or preempted as bpf tells)") \
	X(pv_steal_yield,     "pv: yields of a newcomer that could not steal, instead of queueing") \
	X(pv_one_cpu,         "pv: slow paths that did not spin, the process having one CPU") \
	X(pv_membarrier,      "pv, store unlock: membarrier calls of a queue head about to sleep") \
	X(pv_membarrier_fail, "pv, store unlock: those membarrier calls refused (the head looked again, awake)") \
	X(pv_unlock_wake,     "pv, store unlock: unlocks that saw sleepers and looked for their lock's head") \
	X(pv_unlock_wake_none, "pv, store unlock: those that found no entry for their lock") \
	X(pv_claim_lost,      "pv, store unlock: heads that took the lock while an unlocker claimed their entry") \
	X(ticket_kick_ahead,  "ticket lock, pv: sleeping waiters woken ahead of their turn (PVLOCK_TICKET_KICK_AHEAD)") \
	X(ticket_far_sleep,   "ticket lock, pv: waits that slept at once, more turns behind head than the process has CPUs")

struct pvlock_stats {
#define PVLOCK__STATS_FIELD(name, desc) uint64_t name;
	PVLOCK_STATS_EVENTS(PVLOCK__STATS_FIELD)
#undef PVLOCK__STATS_FIELD
};

#define PVLOCK__STATS_COUNT (sizeof(struct pvlock_stats) / sizeof(uint64_t))

void pvlock_stats_read(struct pvlock_stats *out);
void pvlock_stats_reset(void);

PVLOCK__END_DECLS

#endif /* PVLOCK_STATS_H */
