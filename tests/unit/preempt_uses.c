/*
 * preempt_uses.c - every use the slow paths make of "who runs", reached on
 * purpose: the recording backend's knowing variant answers "preempted" for
 * every other thread on demand (rec_set_preempted), and the statistics show
 * each path taken (preempt_waiter, preempt_holder, preempt_steal_ns, and the
 * waits and kicks each use causes).  Each case runs with its use on and
 * off, and once on a backend that does not know, where the counters stay 0.
 */
#define _GNU_SOURCE
#include "algo/hooks.h"
#include "lib/check.h"

#define TAIL_MASK 0xffff0000u

static pvlock_t lock;
static pvlock_ticket_t tlock;

struct holder_arg {
	bool ticket;
	int release;		/* set: unlock and return */
	int got;		/* set once it holds the lock */
};

static void *hold_until_released(void *p)
{
	struct holder_arg *a = p;

	if (a->ticket)
		pvlock_ticket_lock(&tlock);
	else
		pvlock_lock(&lock);
	__atomic_store_n(&a->got, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&a->release, __ATOMIC_ACQUIRE))
		test_pause();
	if (a->ticket)
		pvlock_ticket_unlock(&tlock);
	else
		pvlock_unlock(&lock);
	return NULL;
}

static uint32_t tail_of(void)
{
	return __atomic_load_n(&lock.val, __ATOMIC_ACQUIRE) & TAIL_MASK;
}

/*
 * We hold the lock; B queues as the spinning head; C queues behind B.  With
 * every other thread "preempted", C finds its predecessor B preempted
 * (preempt_waiter), B's hand-off goes to a preempted C (preempt_waiter), and
 * C as head finds its holder B preempted (preempt_holder).  The spin
 * threshold is huge, so any sleep here is a use acting, not a timeout.
 * Steal yields are 0: a newcomer that cannot steal keeps looking while the
 * head spins and yields up to steal_yields() times before it queues, long
 * enough on a loaded machine for B's bounded spin to end in a sleep the
 * cases below count as none; with 0, C queues after its steal_spin() looks.
 */
static struct holder_arg b_arg, c_arg;
static test_thread b_thread, c_thread;

static void queue_b_then_c(bool knowing, unsigned uses)
{
	if (knowing)
		rec_install_knowing(uses);
	else
		rec_install();
	CHECK_EQ(pvlock_set_spin_threshold(PVLOCK_SPIN_THRESHOLD_MAX), 0);
	CHECK_EQ(pvlock_set_steal_yields(0), 0);
	rec_set_preempted(true);
	pvlock_lock(&lock);
	b_thread = test_start(hold_until_released, &b_arg);
	WAIT_UNTIL(tail_of() != 0, 10);
	uint32_t b_tail = tail_of();
	c_thread = test_start(hold_until_released, &c_arg);
	WAIT_UNTIL(tail_of() != b_tail, 10);
}

static void finish_b_then_c(void)
{
	__atomic_store_n(&b_arg.release, 1, __ATOMIC_RELEASE);
	test_join(b_thread);
	WAIT_UNTIL(__atomic_load_n(&c_arg.got, __ATOMIC_ACQUIRE), 10);
	__atomic_store_n(&c_arg.release, 1, __ATOMIC_RELEASE);
	test_join(c_thread);
	rec_set_preempted(false);
	CHECK_EQ(__atomic_load_n(&lock.val, __ATOMIC_ACQUIRE), 0);
}

/* No use on: everything is counted, nothing changes. */
static void queued_counts_only(void)
{
	queue_b_then_c(true, 0);
	WAIT_UNTIL(test_stats().preempt_waiter >= 1, 10);	/* C behind B */
	pvlock_unlock(&lock);				/* B takes it, hands to C */
	WAIT_UNTIL(__atomic_load_n(&b_arg.got, __ATOMIC_ACQUIRE), 10);
	WAIT_UNTIL(test_stats().preempt_holder >= 1, 10);	/* C, head, sees B */
	struct pvlock_stats s = test_stats();
	CHECK_GE(s.preempt_waiter, 2);			/* + B's hand-off to C */
	CHECK_EQ(s.pv_wait_early, 0);
	CHECK_EQ(s.pv_wait_node, 0);
	CHECK_EQ(s.pv_wait_head, 0);
	CHECK_EQ(rec_waits(), 0);
	finish_b_then_c();
	CHECK_GE(test_stats().preempt_steal_ns, 1000);
}

/* wait-early (Linux v5.2): C sleeps at once behind the preempted B. */
static void queued_wait_early(void)
{
	queue_b_then_c(true, PVLOCK_USE_WAIT_EARLY);
	WAIT_UNTIL(rec_waits() == 1, 10);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.pv_wait_early, 1);
	CHECK_EQ(s.pv_wait_node, 1);
	CHECK_EQ(s.preempt_waiter, 1);
	pvlock_unlock(&lock);
	finish_b_then_c();
}

/* holder: C, now head, stops spinning behind the preempted holder B and
 * sleeps; B's unlock kicks it. */
static void queued_holder(void)
{
	queue_b_then_c(true, PVLOCK_USE_HOLDER);
	pvlock_unlock(&lock);
	/* Either kind of pv unlock: C sleeps on the lock word (CAS) or on
	 * its node's notice (store). */
	WAIT_UNTIL(test_stats().pv_wait_head == 1, 10);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.preempt_holder, 1);
	CHECK_EQ(s.pv_wait_head, 1);
	CHECK_EQ(s.pv_wait_early, 0);
	finish_b_then_c();
	CHECK_EQ(test_stats().pv_kick_unlock, 1);	/* B's unlock woke C */
}

/* A backend that does not know: every counter stays 0, nobody sleeps. */
static void queued_not_known(void)
{
	queue_b_then_c(false, 0);
	test_sleep_ms(20);
	pvlock_unlock(&lock);
	WAIT_UNTIL(__atomic_load_n(&b_arg.got, __ATOMIC_ACQUIRE), 10);
	test_sleep_ms(20);
	finish_b_then_c();
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.preempt_waiter + s.preempt_holder + s.preempt_steal_ns, 0);
	CHECK_EQ(rec_waits(), 0);
}

/*
 * Ticket: two sleepers behind us, never skipped (PVLOCK_TICKET_SKIPS=0).
 * Our unlock kicks the next one, which reads preempted; kick-ahead, on every
 * backend now (tests/unit/ticket_pv.c), is off here.  Kicks are held so that the
 * count after our unlock is ours alone.
 */
static struct holder_arg t_arg[2];
static void ticket_counts_only(void)
{
	const unsigned want_kicks = 1;

	rec_install_knowing(0);
	pvlock__ticket_skips = 0;
	pvlock__ticket_kick_ahead = 0;
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	rec_set_preempted(true);
	pvlock_ticket_lock(&tlock);
	test_thread t[2];
	for (int i = 0; i < 2; i++) {
		t_arg[i].ticket = true;
		t_arg[i].release = 1;
		t[i] = test_start(hold_until_released, &t_arg[i]);
		WAIT_UNTIL(rec_waits() == (unsigned)i + 1, 10);
	}
	rec_hold_kicks(true);
	pvlock_ticket_unlock(&tlock);
	CHECK_EQ(rec_kicks_held(), want_kicks);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.ticket_kick, want_kicks);
	CHECK_EQ(s.preempt_waiter, 1);		/* the next one reads preempted */
	rec_set_preempted(false);
	rec_hold_kicks(false);
	for (int i = 0; i < 2; i++)
		test_join(t[i]);
	CHECK(!pvlock_ticket_is_locked(&tlock));
}


/*
 * Skip use, by the unlocker: two sleepers behind us, both "preempted".  Our
 * unlock passes the turn over both (each is claimed, head moves past it,
 * it is kicked); each then takes a new ticket, firm, and gets the lock.
 */
static void ticket_skip_by_unlocker(void)
{
	rec_install_knowing(PVLOCK_USE_SKIP);
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	rec_set_preempted(true);
	pvlock_ticket_lock(&tlock);
	test_thread t[2];
	for (int i = 0; i < 2; i++) {
		t_arg[i] = (struct holder_arg){ .ticket = true, .release = 1 };
		t[i] = test_start(hold_until_released, &t_arg[i]);
		WAIT_UNTIL(rec_waits() == (unsigned)i + 1, 10);
	}
	uint32_t before = __atomic_load_n(&tlock.val, __ATOMIC_ACQUIRE);
	pvlock_ticket_unlock(&tlock);
	CHECK_EQ(test_stats().ticket_skip, 2);
	/* head passed both tickets: ours + 2 and + 4 were skipped */
	CHECK_GE((uint16_t)(__atomic_load_n(&tlock.head, __ATOMIC_ACQUIRE) - (uint16_t)before), 6);
	rec_set_preempted(false);
	for (int i = 0; i < 2; i++)
		test_join(t[i]);
	CHECK(!pvlock_ticket_is_locked(&tlock));
	CHECK_EQ(test_stats().ticket_skip, 2);		/* firm after one skip */
}

/*
 * Skip use: a waiter that does not sleep (its record does not say asleep:
 * it is parked right before its flag) but that the backend says is
 * preempted has its turn passed over it by our unlock.  A sleeper behind it
 * sets the flag that sends our unlock to the slow path (and is skipped too,
 * being asleep).  Without the skip use the parked waiter is "running":
 * kicked, not skipped.
 */
static int parked, unpark;

static void park_first_at_flag(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_TICKET_BEFORE_FLAG ||
	    __atomic_exchange_n(&parked, 1, __ATOMIC_ACQ_REL))
		return;
	WAIT_UNTIL(__atomic_load_n(&unpark, __ATOMIC_ACQUIRE), 10);
}

static void ticket_skip_preempted_spinner_case(unsigned uses, bool want_skip)
{
	rec_install_knowing(uses);
	pvlock__ticket_kick_ahead = 0;
	CHECK_EQ(pvlock_set_spin_threshold(1), 0);
	/* Release: pairs with the acquire load in pvlock__preempt_point. */
	__atomic_store_n(&pvlock__fault.point_hook, park_first_at_flag, __ATOMIC_RELEASE);
	pvlock_ticket_lock(&tlock);
	t_arg[0] = (struct holder_arg){ .ticket = true };
	test_thread spinner = test_start(hold_until_released, &t_arg[0]);
	WAIT_UNTIL(__atomic_load_n(&parked, __ATOMIC_ACQUIRE), 10);
	t_arg[1] = (struct holder_arg){ .ticket = true, .release = 1 };
	test_thread sleeper = test_start(hold_until_released, &t_arg[1]);
	WAIT_UNTIL(rec_waits() == 1, 10);
	rec_set_preempted(true);
	rec_hold_kicks(true);
	pvlock_ticket_unlock(&tlock);
	rec_set_preempted(false);
	CHECK_EQ(test_stats().ticket_skip, want_skip ? 2u : 0u);
	__atomic_store_n(&unpark, 1, __ATOMIC_RELEASE);
	WAIT_UNTIL(__atomic_load_n(&t_arg[0].got, __ATOMIC_ACQUIRE), 10);
	rec_hold_kicks(false);
	__atomic_store_n(&t_arg[0].release, 1, __ATOMIC_RELEASE);
	test_join(spinner);
	test_join(sleeper);
	__atomic_store_n(&pvlock__fault.point_hook, NULL, __ATOMIC_RELEASE);
	CHECK(!pvlock_ticket_is_locked(&tlock));
}

static void ticket_skip_preempted_spinner(void)
{
	ticket_skip_preempted_spinner_case(PVLOCK_USE_SKIP, true);
}

static void ticket_no_skip_running_spinner(void)
{
	ticket_skip_preempted_spinner_case(0, false);
}

int main(void)
{
	test_run("queued: preempted prev, hand-off and holder counted; no use on",
		 PVLOCK_MODE_PV, queued_counts_only);
	test_run("queued: wait-early sleeps behind a preempted prev", PVLOCK_MODE_PV,
		 queued_wait_early);
	test_run("queued: holder use: the head sleeps behind a preempted holder", PVLOCK_MODE_PV,
		 queued_holder);
	test_run("queued: a backend that does not know counts nothing", PVLOCK_MODE_PV,
		 queued_not_known);
	test_run("ticket: a preempted next counted; one kick", PVLOCK_MODE_PV, ticket_counts_only);
	test_run("ticket: skip: the unlocker passes the turn over preempted sleepers",
		 PVLOCK_MODE_PV, ticket_skip_by_unlocker);
	test_run("ticket: skip: the unlocker passes the turn over a preempted waiter awake",
		 PVLOCK_MODE_PV, ticket_skip_preempted_spinner);
	test_run("ticket: skip: an awake waiter not known preempted is kicked, not skipped",
		 PVLOCK_MODE_PV, ticket_no_skip_running_spinner);
	return test_finish();
}
