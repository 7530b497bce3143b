/*
 * slot.h - per-thread-slot data: what Linux keeps per CPU.
 *
 * A slot is a small integer the runtime gives a thread the first time it
 * needs one (any slow path) and takes back when the thread exits.  It holds
 * the thread's queue nodes, its ticket-wait records, the futex token its kicks
 * bump, and its event counters.  Slots live in one static array and are
 * never freed, so a kick or a node read that races with a thread's exit
 * touches valid memory (at worst it wakes the slot's next owner spuriously).
 */
#ifndef PVLOCK_ALGO_SLOT_H
#define PVLOCK_ALGO_SLOT_H

/* Only what the slot holds: ticket-wait records and the event list. */
#include <pvlock/stats.h>
#include <pvlock/ticket.h>

/* The tail field encodes slot + 1 in 14 bits: 0 means "queue empty". */
#define PVLOCK_MAX_SLOTS	16383u
/* Nesting levels: normal code and up to 3 nested signal handlers. */
#define PVLOCK_MAX_NODES	4

enum pv_node_state {
	PV_RUNNING = 0,		/* spinning, or about to */
	PV_HALTED = 1,		/* asleep (or about to be) in pv_wait_node */
	PV_HASHED = 2,		/* a sleeping head with a hash entry: unlock kicks it */
};

/*
 * A queue node: the MCS node plus the pv fields, 32 bytes so two share a
 * cache line (Linux pads the same way in pv builds).
 */
struct qnode {
	struct qnode *next;	/* successor in the queue */
	uint8_t locked;		/* 1: we are the queue head now */
	uint8_t state;		/* pv: enum pv_node_state */
	uint8_t unhashed;	/* pv: an unlocker removed our hash entry */
	int count;		/* node 0 only: nesting depth of this slot */
} __attribute__((aligned(32)));

_Static_assert(sizeof(struct qnode) == 32, "two queue nodes per cache line");

/* A pv ticket waiter's record: "slot waits on lock for ticket want". */
struct ticket_wait {
	pvlock_ticket_t *lock;	/* NULL: no wait; compared, never dereferenced */
	uint16_t want;
	uint8_t kicked;		/* set by the unlocker before it kicks */
	uint8_t asleep;		/* a hint: the waiter is in pv_wait (ticket_skip.h) */
	uint32_t claim;		/* skip use: generation, state, want (ticket.c) */
};

/*
 * What a thread in a lock's slow path waits on, one record per nesting
 * level, for a fork child: the child's fork handler repairs the words of the
 * locks that the parent's other threads waited on (src/algo/fork_repair.c).
 * `lock` is the lock's address with its kind in the low two bits (every lock
 * word is 4-byte aligned); 0: no wait at this level.
 */
enum { FORK_WAIT_QUEUED = 1, FORK_WAIT_TICKET = 2, FORK_WAIT_KIND_MASK = 3 };
struct fork_wait {
	uintptr_t lock;		/* lock address | FORK_WAIT_*; 0: none */
	uint16_t ticket;	/* ticket lock: the waiter's ticket */
};

enum pvlock_event {
#define PVLOCK__EV_ENUM(name, desc) PVLOCK_EV_##name,
	PVLOCK_STATS_EVENTS(PVLOCK__EV_ENUM)
#undef PVLOCK__EV_ENUM
	PVLOCK_EV_COUNT
};

struct pvlock_slot {
	struct qnode qnodes[PVLOCK_MAX_NODES];		/* read by neighbours */
	struct ticket_wait twait[PVLOCK_MAX_NODES];	/* scanned by unlockers */
	int ticket_depth;				/* nesting depth of twait */
	struct fork_wait fwait[PVLOCK_MAX_NODES];	/* read by a fork child */
	int fwait_depth;				/* nesting depth of fwait */
	uint32_t index;
	uint32_t tid;		/* its thread's kernel thread id; 0: free (src/runtime/slots.c) */
	uint32_t pid;		/* the process in which tid took it (src/runtime/slots.c) */
	/* The backend's line: written by kickers. */
	uint32_t token __attribute__((aligned(64)));	/* bumped by every kick */
	uint32_t sleepers;				/* futex sleeps in progress */
	uint64_t kick_ns;				/* when the last kick was sent */
	uint64_t events[PVLOCK_EV_COUNT] __attribute__((aligned(64)));
} __attribute__((aligned(64)));

#endif /* PVLOCK_ALGO_SLOT_H */
