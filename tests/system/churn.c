/*
 * churn.c - thread slots under thread churn and under exhaustion.
 *
 * A thread takes a slot (its queue nodes, wait records, futex token and
 * counters) on its first slow path and gives it back when it exits, so a
 * program may create any number of threads over its life.
 *
 *   churn:      thousands of short-lived threads, at most 64 alive at once,
 *               each taking all three (contended) locks, through a slot
 *               table capped at 128: exclusion holds, and at least twice
 *               as many threads as there are slots get one (slots are
 *               recycled; an exited thread's slot may still receive a late
 *               kick, which must only wake its next owner spuriously).
 *   exhaustion: only 2 slots exist (fault injection); 8 threads contend.
 *               Threads without a slot spin without a queue node or wait
 *               record (lock_no_node, ticket_no_record), and everything
 *               stays correct.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "algo/hooks.h"	/* pvlock__slot_self, pvlock__slot_high_water */
#include "lib/check.h"


#define BARRIER() __asm__ __volatile__("" ::: "memory")

/* A lock of the given type with plain data an overlap would corrupt. */
#define GUARDED(lock_type) struct { \
	lock_type lock; \
	long count, a, b, overlaps; \
} __attribute__((aligned(64)))

/* The three locks. */
static GUARDED(pvlock_t) q;
static GUARDED(pvlock_ticket_t) t;
static GUARDED(pvlock_tas_t) s;
/* Churn: the locks of the leader/partner pairs (see churn_thread). */
static GUARDED(pvlock_t) pq;
static GUARDED(pvlock_ticket_t) pt;

#define CS(g) do {					\
	if ((g).a != (g).b)				\
		(g).overlaps++;				\
	long c_ = (g).count;				\
	BARRIER();					\
	(g).a = (g).b + 1;				\
	BARRIER();					\
	(g).count = c_ + 1;				\
	BARRIER();					\
	(g).b = (g).a;					\
} while (0)

static void one_round(void)
{
	pvlock_lock(&q.lock);
	CS(q);
	pvlock_unlock(&q.lock);
	pvlock_ticket_lock(&t.lock);
	CS(t);
	pvlock_ticket_unlock(&t.lock);
	pvlock_tas_lock(&s.lock);
	CS(s);
	pvlock_tas_unlock(&s.lock);
}

#define CHECK_GUARDED(g, expected) do {						\
	if ((g).overlaps)							\
		FAIL("%s: %ld critical sections found another in progress",	\
		     #g, (g).overlaps);						\
	if ((g).a != (g).b)							\
		FAIL("%s: a = %ld, b = %ld after the run", #g, (g).a, (g).b);	\
	if ((g).count != (expected))						\
		FAIL("%s: counter %ld, expected %ld (critical sections "	\
		     "overlapped)", #g, (g).count, (long)(expected));		\
} while (0)

/* ------------------------------------------------------------------------ */

/*
 * How many threads: until CHURN_MIN of them got a slot, whatever the
 * machine's speed (the patience only detects a hang), and up to
 * CHURN_THREADS while CHURN_MAX_S lasts.  The pass/fail verdict never
 * depends on the clock: the slot table is capped at CHURN_SLOTS (fault
 * injection), and CHURN_MIN is several times that, so the run cannot reach
 * it unless exited threads' slots are recycled.  (A loaded CI machine under
 * ASan created only ~170 threads/s.)
 *
 * Not every thread needs to find a slot: the library takes exited threads'
 * slots back lazily, in a pass over the table run by a thread that finds
 * no free slot (src/runtime/slots.c), one pass at a time (a system call per
 * slot) and at the limit at most every 10 ms or 32 slots.  A thread that
 * finds the table full while another thread's pass is under way goes
 * without, and a pass preempted halfway on a loaded machine leaves every
 * thread that comes meanwhile without: at load 45 a native-mode run (64
 * threads spinning on fair locks) had one.  Such a thread takes the
 * slot-less path (no queue node, no wait record) and must stay exclusive
 * like the others; it is counted.
 */
#define CHURN_SLOTS	(2 * MAX_ALIVE)	/* enough: see the end of churn_case */
#if UNDER_TSAN	/* thread creation and spinning are far slower there */
#define CHURN_THREADS	512
#else
#define CHURN_THREADS	20000	/* threads created per case at most ... */
#endif
#define CHURN_MIN	(2 * CHURN_SLOTS)	/* ... and until this many got a slot:
				 * native mode (fair spinning locks, 64 threads,
				 * 2 cores) under ASan and 2 busy loops made only
				 * 40 threads/s */
#define CHURN_MAX_S	8	/* past CHURN_MIN, stop after this many seconds */
#define MAX_ALIVE	64
#define GROUP		32	/* one leader/partner pair per GROUP threads */
#define ROUNDS		4	/* lock rounds per thread */
#define STACK_SIZE	(64 * 1024)

_Static_assert(CHURN_THREADS % GROUP == 0 && CHURN_MIN % GROUP == 0 &&
	       MAX_ALIVE % GROUP == 0, "whole groups");

/*
 * Threads are created one after the other, and a thread that just locks a
 * few times is done long before the next one runs: little contention, and
 * none for certain.  So in every GROUP threads one pair contends for certain,
 * on locks of its own (pq, pt): the leader takes them and holds each until
 * someone waits for it, and its partner (created just before it) takes them
 * while the leader holds them: at least one slow path per group and lock,
 * whatever the scheduler does.  Only the pair uses these locks: when the
 * leader held the locks of the whole churn instead, every new thread queued
 * behind it and the native (fair, spinning) locks collapsed for good on
 * 2 cores: 80 threads in 12 s instead of 32000 in 2-4 s.
 *
 * The partner of group g waits until pair_ready[g % GROUPS_ALIVE] >= g + 1,
 * which the leader of group g stores.  It only grows: the leader of group g
 * is joined before the leader of group g + GROUPS_ALIVE is created (MAX_ALIVE
 * threads later).  The leader is created after its partner, so it never
 * waits for a thread that does not exist yet.
 */
#define GROUPS_ALIVE	(MAX_ALIVE / GROUP)
static unsigned pair_ready[GROUPS_ALIVE];	/* atomic */
static long slotted, slotless;			/* atomic: threads with and without a slot */

enum role { MEMBER, PARTNER, LEADER };

struct churn_arg {
	enum role role;
	unsigned group;
};

static bool ticket_contended(pvlock_ticket_t *lock)
{
	uint32_t val = __atomic_load_n(&lock->val, __ATOMIC_RELAXED);
	uint16_t head = (uint16_t)(val & ~PVLOCK__TICKET_FLAG), tail = (uint16_t)(val >> 16);

	return (uint16_t)(tail - head) > PVLOCK__TICKET_INC;	/* owner + a waiter */
}

#define WAIT_FOR_WAITER(cond) do {						\
	uint64_t give_up_ = test_now_ns() + test_patience_ns();			\
	while (!(cond)) {							\
		if (test_now_ns() > give_up_)					\
			FAIL("leader: nobody waited for its lock in %u ms (%s)",	\
			     test_patience_ms(), #cond);				\
		sched_yield();							\
	}									\
} while (0)

static void *churn_thread(void *p)
{
	struct churn_arg *arg = p;
	unsigned *ready = &pair_ready[arg->group % GROUPS_ALIVE];

	/* Take a slot now: a thread whose locks all happened to be free would
	 * otherwise never take one, and the case is about slots. */
	bool slot = pvlock__slot_self() != NULL;
	/* The pair needs queue nodes: a slot-less partner would spin on the
	 * queued lock without queueing, and its leader would wait for a
	 * waiter that never shows.  Retry until a reclaim pass frees a slot. */
	for (uint64_t give_up = test_now_ns() + test_patience_ns();
	     !slot && arg->role != MEMBER; slot = pvlock__slot_self() != NULL) {
		if (test_now_ns() > give_up)
			FAIL("%s: no thread slot freed in %u ms with at most %d threads "
			     "alive and %d slots (slots not recycled?)",
			     arg->role == LEADER ? "leader" : "partner", test_patience_ms(),
			     MAX_ALIVE, CHURN_SLOTS);
		test_sleep_ms(1);
	}
	__atomic_fetch_add(slot ? &slotted : &slotless, 1, __ATOMIC_RELAXED);
	switch (arg->role) {
	case LEADER:
		pvlock_lock(&pq.lock);
		pvlock_ticket_lock(&pt.lock);
		__atomic_store_n(ready, arg->group + 1, __ATOMIC_RELEASE);
		WAIT_FOR_WAITER(pvlock_is_contended(&pq.lock));
		CS(pq);
		pvlock_unlock(&pq.lock);
		WAIT_FOR_WAITER(ticket_contended(&pt.lock));
		CS(pt);
		pvlock_ticket_unlock(&pt.lock);
		break;
	case PARTNER:
		while (__atomic_load_n(ready, __ATOMIC_ACQUIRE) < arg->group + 1)
			sched_yield();	/* the leader is being created */
		pvlock_lock(&pq.lock);		/* held by the leader */
		CS(pq);
		pvlock_unlock(&pq.lock);
		pvlock_ticket_lock(&pt.lock);	/* held by the leader */
		CS(pt);
		pvlock_ticket_unlock(&pt.lock);
		break;
	case MEMBER:
		break;
	}
	for (int i = 0; i < ROUNDS; i++)
		one_round();
	return NULL;
}

static void churn_case(void)
{
	pthread_t alive[MAX_ALIVE];
	static struct churn_arg args[MAX_ALIVE];
	pthread_attr_t attr;
	long created = 0;
	uint64_t started = test_now_ns();
	uint64_t deadline = started + CHURN_MAX_S * 1000000000ull;
	uint64_t give_up = started + test_patience_ns();

	if (!pvlock__fault_enabled())
		FAIL("needs the fault-injection build of the library");
	pvlock__fault.max_slots = CHURN_SLOTS;	/* before any thread starts */
	pthread_attr_init(&attr);
	CHECK(pthread_attr_setstacksize(&attr, STACK_SIZE) == 0);
	/* A ring of live threads: before creating one more than MAX_ALIVE,
	 * join the oldest (its slot is taken back later, by a pass: see
	 * CHURN_MIN).  Go on until CHURN_MIN threads got a slot (a hang: the
	 * patience), then while CHURN_MAX_S lasts; stop only between groups,
	 * so that no partner waits for a leader forever. */
	while (created < CHURN_THREADS &&
	       (created % GROUP || test_now_ns() < deadline ||
		(__atomic_load_n(&slotted, __ATOMIC_RELAXED) < CHURN_MIN &&
		 test_now_ns() < give_up))) {
		pthread_t *slot = &alive[created % MAX_ALIVE];
		struct churn_arg *arg = &args[created % MAX_ALIVE];
		long group = created / GROUP;

		if (created >= MAX_ALIVE)
			pthread_join(*slot, NULL);	/* frees *arg too */
		arg->group = (unsigned)group;
		arg->role = created % GROUP == GROUP - 1 ? LEADER :
			    created % GROUP == GROUP - 2 ? PARTNER : MEMBER;
		int err = pthread_create(slot, &attr, churn_thread, arg);
		if (err)
			FAIL("pthread_create #%ld: %s", created, strerror(err));
		created++;
	}
	for (long i = created > MAX_ALIVE ? created - MAX_ALIVE : 0; i < created; i++)
		pthread_join(alive[i % MAX_ALIVE], NULL);
	pthread_attr_destroy(&attr);

	unsigned high = pvlock__slot_high_water();
	struct pvlock_stats st = test_stats();
	long with_slot = __atomic_load_n(&slotted, __ATOMIC_RELAXED);
	long without = __atomic_load_n(&slotless, __ATOMIC_RELAXED);
	printf("# churn %s: %ld threads in %llu ms, %ld with a slot, %ld without; slot high "
	       "water %u; lock_slowpath %llu lock_pending %llu lock_no_node %llu pv_wait_node %llu "
	       "pv_wait_head %llu ticket_slowpath %llu ticket_wait %llu tas_slowpath %llu\n",
	       pvlock_get_mode() == PVLOCK_MODE_PV ? "pv" : "native", created,
	       (unsigned long long)((test_now_ns() - started) / 1000000), with_slot, without, high,
	       (unsigned long long)st.lock_slowpath, (unsigned long long)st.lock_pending,
	       (unsigned long long)st.lock_no_node,
	       (unsigned long long)st.pv_wait_node, (unsigned long long)st.pv_wait_head,
	       (unsigned long long)st.ticket_slowpath, (unsigned long long)st.ticket_wait,
	       (unsigned long long)st.tas_slowpath);
	CHECK_EQ(with_slot + without, created);
	/* Recycling: CHURN_MIN threads went through CHURN_SLOTS slots.  (At
	 * most MAX_ALIVE slots are in use at once, and a new slot is the first
	 * free bit from the last allocation's 64-bit word: two words' worth
	 * suffice.) */
	if (with_slot < CHURN_MIN)
		FAIL("only %ld of %ld threads got a slot (%ld did not) in %llu ms, with at "
		     "most %d alive and %d slots: slots are not recycled", with_slot, created,
		     without, (unsigned long long)((test_now_ns() - started) / 1000000),
		     MAX_ALIVE, CHURN_SLOTS);
	long groups = created / GROUP;
	CHECK_GUARDED(q, created * ROUNDS);
	CHECK_GUARDED(t, created * ROUNDS);
	CHECK_GUARDED(s, created * ROUNDS);
	CHECK_GUARDED(pq, 2 * groups);
	CHECK_GUARDED(pt, 2 * groups);
	CHECK_EQ(st.bad_unlock, 0);
	/* Every group's partner (at least) waited for both locks. */
	CHECK_GE(st.lock_slowpath + st.lock_pending, groups);
	CHECK_GE(st.ticket_slowpath, groups);
}

/* ------------------------------------------------------------------------ */

#define EXHAUST_THREADS	8
#define EXHAUST_SLOTS	2
#define EXHAUST_MS	300	/* at least, then until exhaustion_shown() */

enum kind { QUEUED, TICKET, TAS };
static enum kind exhaust_kind;	/* set before test_run() forks */
static int stop;	/* atomic */

static void *exhaust_thread(void *arg)
{
	long *rounds = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		switch (exhaust_kind) {
		case QUEUED:
			pvlock_lock(&q.lock);
			CS(q);
			pvlock_unlock(&q.lock);
			break;
		case TICKET:
			pvlock_ticket_lock(&t.lock);
			CS(t);
			pvlock_ticket_unlock(&t.lock);
			break;
		case TAS:
			pvlock_tas_lock(&s.lock);
			CS(s);
			pvlock_tas_unlock(&s.lock);
			break;
		}
		__atomic_store_n(rounds, *rounds + 1, __ATOMIC_RELAXED);	/* polled */
	}
	return NULL;
}

/* What the case must show (the checks at its end say which is missing):
 * a slot-less waiter in the queued lock (no queue node) or the pv ticket
 * lock (no wait record), a slow path of the others, and rounds done. */
static long (*exhaust_rounds)[8];

static bool exhaustion_shown(void)
{
	struct pvlock_stats st = test_stats();
	bool pv = pvlock_get_mode() == PVLOCK_MODE_PV;
	long total = 0;

	for (int i = 0; i < EXHAUST_THREADS; i++)
		total += __atomic_load_n(&exhaust_rounds[i][0], __ATOMIC_RELAXED);
	if (total == 0)
		return false;
	switch (exhaust_kind) {
	case QUEUED: return st.lock_no_node > 0;
	case TICKET: return st.ticket_slowpath > 0 && (!pv || st.ticket_no_record > 0);
	case TAS:    return st.tas_slowpath > 0;
	}
	return false;
}

static void exhaustion_case(void)
{
	static long rounds[EXHAUST_THREADS][8];	/* one line each */
	test_thread th[EXHAUST_THREADS];
	bool pv = pvlock_get_mode() == PVLOCK_MODE_PV;

	if (!pvlock__fault_enabled())
		FAIL("needs the fault-injection build of the library");
	pvlock__fault.max_slots = EXHAUST_SLOTS;	/* before any thread starts */
	if (pv)	/* sleep soon: the slot owners sleep, the others cannot */
		CHECK(pvlock_set_spin_threshold(256) == 0);

	exhaust_rounds = rounds;
	for (int i = 0; i < EXHAUST_THREADS; i++)
		th[i] = test_start(exhaust_thread, rounds[i]);
	test_run_until(EXHAUST_MS, exhaustion_shown);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	long total = 0;
	for (int i = 0; i < EXHAUST_THREADS; i++) {
		test_join(th[i]);
		total += rounds[i][0];
	}

	struct pvlock_stats st = test_stats();
	printf("# exhaustion %d %s: %ld rounds, slot high water %u; lock_slowpath %llu "
	       "lock_no_node %llu ticket_slowpath %llu ticket_wait %llu ticket_no_record %llu "
	       "tas_slowpath %llu\n", exhaust_kind,
	       pv ? "pv" : "native", total, pvlock__slot_high_water(),
	       (unsigned long long)st.lock_slowpath, (unsigned long long)st.lock_no_node,
	       (unsigned long long)st.ticket_slowpath, (unsigned long long)st.ticket_wait,
	       (unsigned long long)st.ticket_no_record, (unsigned long long)st.tas_slowpath);
	CHECK_GUARDED(q, exhaust_kind == QUEUED ? total : 0);
	CHECK_GUARDED(t, exhaust_kind == TICKET ? total : 0);
	CHECK_GUARDED(s, exhaust_kind == TAS ? total : 0);
	CHECK(total > 0);
	CHECK_EQ(st.bad_unlock, 0);
	if (pvlock__slot_high_water() > EXHAUST_SLOTS)
		FAIL("slot high water %u with max_slots = %d", pvlock__slot_high_water(),
		     EXHAUST_SLOTS);
	switch (exhaust_kind) {
	case QUEUED:	/* both modes: a slot-less thread has no queue node */
		if (st.lock_no_node == 0)
			FAIL("lock_no_node == 0: no slot-less thread reached the queue "
			     "(lock_slowpath %llu)", (unsigned long long)st.lock_slowpath);
		break;
	case TICKET:	/* pv: nor a wait record (native never uses one) */
		CHECK_GE(st.ticket_slowpath, 1);
		if (pv && st.ticket_no_record == 0)
			FAIL("ticket_no_record == 0: no slot-less thread gave up spinning "
			     "(ticket_slowpath %llu)", (unsigned long long)st.ticket_slowpath);
		break;
	case TAS:	/* needs no slot; counted as orphan events */
		CHECK_GE(st.tas_slowpath, 1);
		break;
	}
}

int main(void)
{
	static const char *const names[] = { "queued", "ticket", "tas" };
	char name[96];

	setvbuf(stdout, NULL, _IOLBF, 0);
	char churn_name[96];
	snprintf(churn_name, sizeof(churn_name),
		 "churn: %d to %d short-lived threads, %d alive, %d slots",
		 CHURN_MIN, CHURN_THREADS, MAX_ALIVE, CHURN_SLOTS);
	test_run_both(churn_name, churn_case);
	for (int k = QUEUED; k <= TAS; k++) {
		exhaust_kind = (enum kind)k;
		snprintf(name, sizeof(name), "slot exhaustion %s: %d threads, %d slots",
			 names[k], EXHAUST_THREADS, EXHAUST_SLOTS);
		test_run_both(name, exhaustion_case);
	}
	return test_finish();
}
