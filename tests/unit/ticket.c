/*
 * ticket.c - the ticket lock (docs/design.md), native and pv, step by
 * step: tickets and FIFO order; the pv waiter that publishes its record,
 * sets the slow-path flag and sleeps, and the unlock that sees the flag in
 * its own atomic add and kicks exactly that waiter; the flag cleared by the
 * last waiter; "ticket flag after re-check" (the owner releasing between
 * the waiter's record and its flag) forced at its exact point; unlock never
 * touching the lock after release ("touch after release").  The races'
 * names are those of docs/design.md, "Linux's pv-spinlock races".
 *
 * "Ticket record overwrite" (a nested wait overwriting the per-slot record)
 * cannot arise in this design: records are per nesting level (struct
 * ticket_wait twait[4]), like the queued lock's nodes.
 * tests/system/signals.c exercises nested waits and the M4 model checks the
 * shared-record mutant loses a kick.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "algo/hooks.h"
#include "lib/check.h"

#define FLAG PVLOCK__TICKET_FLAG

static pvlock_ticket_t lock;
static int order[8], order_n;

static void *locker(void *arg)
{
	pvlock_ticket_lock(&lock);
	order[__atomic_fetch_add(&order_n, 1, __ATOMIC_SEQ_CST)] = (int)(intptr_t)arg;
	pvlock_ticket_unlock(&lock);
	return NULL;
}

static uint16_t head(void) { return __atomic_load_n(&lock.head, __ATOMIC_ACQUIRE); }
static uint16_t tail(void) { return __atomic_load_n(&lock.tail, __ATOMIC_ACQUIRE); }

static void fast_path(void)
{
	CHECK(!pvlock_ticket_is_locked(&lock));
	pvlock_ticket_lock(&lock);
	CHECK(pvlock_ticket_is_locked(&lock));
	CHECK_EQ(tail(), 2);			/* tickets advance by 2 */
	CHECK(!pvlock_ticket_trylock(&lock));
	pvlock_ticket_unlock(&lock);
	CHECK_EQ(head(), 2);
	CHECK(!pvlock_ticket_is_locked(&lock));
	CHECK(pvlock_ticket_trylock(&lock));
	pvlock_ticket_unlock(&lock);
	CHECK_EQ(__atomic_load_n(&lock.val, __ATOMIC_ACQUIRE), (4u << 16) | 4u);
	/* Wrap-around of 16-bit tickets does not carry into the other half. */
	lock.val = (0xfffeu << 16) | 0xfffeu;
	pvlock_ticket_lock(&lock);
	CHECK_EQ(tail(), 0);
	CHECK_EQ(head(), 0xfffe);
	pvlock_ticket_unlock(&lock);
	CHECK_EQ(__atomic_load_n(&lock.val, __ATOMIC_ACQUIRE), 0);
	CHECK_EQ(test_stats().ticket_slowpath, 0);
}

/*
 * The cases below that check the order of hand-offs, or that unlock leaves
 * the lock alone, wait FIRM: with skips allowed (PVLOCK_TICKET_SKIPS), an
 * unlock passes the turn over a sleeping waiter and so changes the order and
 * touches the lock while it owns the skipped turn (tests/unit/ticket_pv.c).
 */
static void firm_waits(void)
{
	pvlock__ticket_skips = 0;
	pvlock__ticket_kick_ahead = 0;
}

/* Waiters take tickets in arrival order and get the lock in that order. */
static void fifo(void)
{
	firm_waits();
	pvlock_ticket_lock(&lock);
	test_thread t[3];
	for (int i = 0; i < 3; i++) {
		t[i] = test_start(locker, (void *)(intptr_t)(i + 1));
		WAIT_UNTIL(tail() == 2 * (i + 2), 10);
	}
	pvlock_ticket_unlock(&lock);
	for (int i = 0; i < 3; i++)
		test_join(t[i]);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(order[i], i + 1);
	CHECK_EQ(test_stats().ticket_slowpath, 3);
}

/* pv: the waiter sleeps with the flag set; unlock kicks it; the waiter,
 * last in line, clears the flag. */
static void pv_sleep_and_kick(void)
{
	rec_install();
	pvlock_set_spin_threshold(64);
	pvlock_ticket_lock(&lock);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL(rec_waits() == 1, 10);
	CHECK(head() & FLAG);
	pvlock_ticket_unlock(&lock);
	test_join(b);
	CHECK(!(head() & FLAG));			/* cleared: nobody waits */
	CHECK(!pvlock_ticket_is_locked(&lock));
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.ticket_wait, 1);
	CHECK_EQ(s.ticket_kick, 1);
	CHECK_EQ(s.pv_kick_wake, 1);
}

/* pv: two sleepers; each unlock kicks the one whose ticket is next, and the
 * flag stays set while someone still waits. */
static void pv_two_sleepers_in_order(void)
{
	firm_waits();
	rec_install();
	pvlock_set_spin_threshold(64);
	pvlock_ticket_lock(&lock);
	test_thread t1 = test_start(locker, (void *)1);
	WAIT_UNTIL(rec_waits() == 1, 10);
	test_thread t2 = test_start(locker, (void *)2);
	WAIT_UNTIL(rec_waits() == 2, 10);
	pvlock_ticket_unlock(&lock);
	test_join(t1);
	test_join(t2);
	CHECK_EQ(order[0], 1);
	CHECK_EQ(order[1], 2);
	CHECK(!(head() & FLAG));
	CHECK_EQ(test_stats().ticket_kick, 2);
}

/* "ticket flag after re-check" (docs/design.md): the owner unlocks after
 * the waiter published its record but before it set the flag.  The unlock sees no flag and kicks nobody; the
 * waiter must then see the new head in its re-check and not sleep. */
static int at_flag;
static void hook_release_before_flag(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_TICKET_BEFORE_FLAG)
		return;
	__atomic_store_n(&at_flag, 1, __ATOMIC_RELEASE);
	WAIT_UNTIL((head() & ~FLAG) == (uint16_t)(tail() - 2), 10);	/* our turn */
}

static void pv_release_between_record_and_flag(void)
{
	rec_install();
	pvlock_set_spin_threshold(64);
	test_point_hook(hook_release_before_flag);
	pvlock_ticket_lock(&lock);
	test_thread b = test_start(locker, (void *)1);
	WAIT_UNTIL(__atomic_load_n(&at_flag, __ATOMIC_ACQUIRE), 10);
	pvlock_ticket_unlock(&lock);		/* no flag yet: no kick */
	test_join(b);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.ticket_kick, 0);
	CHECK_EQ(s.ticket_wait, 0);		/* re-check saw its turn */
	CHECK_EQ(rec_waits(), 0);
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_EQ(f.points_passed[PVLOCK_PP_TICKET_BEFORE_FLAG], 1);
}

/* "touch after release" (docs/design.md) for the ticket lock: after its
 * releasing add, unlock only compares the lock's address while it looks for
 * the sleeper. */
static pvlock_ticket_t *page_lock;
static void hook_protect(enum pvlock_preempt_point where)
{
	if (where == PVLOCK_PP_TICKET_BEFORE_KICK)
		mprotect(page_lock, 4096, PROT_NONE);
}

static void *page_locker(void *arg)
{
	(void)arg;
	pvlock_ticket_lock(page_lock);
	pvlock_ticket_unlock(page_lock);
	return NULL;
}

static void pv_unlock_never_touches_released_lock(void)
{
	firm_waits();
	rec_install();
	pvlock_set_spin_threshold(64);
	page_lock = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(page_lock != MAP_FAILED);
	pvlock_ticket_lock(page_lock);
	test_thread b = test_start(page_locker, NULL);
	WAIT_UNTIL(rec_waits() == 1, 10);
	rec_hold_kicks(true);
	test_point_hook(hook_protect);
	pvlock_ticket_unlock(page_lock);
	test_point_hook(NULL);
	CHECK_EQ(rec_kicks_held(), 1);
	CHECK_EQ(mprotect(page_lock, 4096, PROT_READ | PROT_WRITE), 0);
	rec_hold_kicks(false);
	test_join(b);
	CHECK_EQ(test_stats().ticket_kick, 1);
}

/*
 * A nested wait (a signal handler's; here the point hook plays the handler,
 * on the same thread and stack) that starts while the interrupted ticket
 * wait has taken its level but not published its record, or has cleared
 * its record but not given the level back.  The nested wait must still be
 * found and kicked by its unlocker (the slot must be marked as waiting).
 */
static pvlock_ticket_t other;
static enum pvlock_preempt_point nest_at;
static int nested_done;
static unsigned nested_wait_number;	/* which backend wait is the nested one */

static void *release_other_later(void *arg)
{
	(void)arg;
	WAIT_UNTIL(rec_waits() >= nested_wait_number, 10);	/* nested wait asleep */
	pvlock_ticket_unlock(&other);
	return NULL;
}

static void hook_nested_wait(enum pvlock_preempt_point where)
{
	static int busy;

	if (where != nest_at || busy)
		return;
	busy = 1;
	pvlock_ticket_lock(&other);	/* held by main: sleeps at level 1 */
	pvlock_ticket_unlock(&other);
	__atomic_store_n(&nested_done, 1, __ATOMIC_RELEASE);
}

static void *outer_waiter(void *arg)
{
	(void)arg;
	pvlock_ticket_lock(&lock);
	pvlock_ticket_unlock(&lock);
	return NULL;
}

/* before_outer_woken: the point comes before the outer wait sleeps (level
 * taken); otherwise after it was woken (record cleared), so we release
 * `lock` first and the nested wait is the second backend wait. */
static void nested_wait_in(enum pvlock_preempt_point where, bool before_outer_woken)
{
	rec_install();
	pvlock_set_spin_threshold(64);
	nest_at = where;
	nested_wait_number = before_outer_woken ? 1 : 2;
	test_point_hook(hook_nested_wait);
	pvlock_ticket_lock(&lock);
	pvlock_ticket_lock(&other);
	test_thread t = test_start(outer_waiter, NULL);
	if (!before_outer_woken) {
		WAIT_UNTIL(rec_waits() == 1, 10);	/* outer asleep on lock */
		pvlock_ticket_unlock(&lock);
	}
	test_thread r = test_start(release_other_later, NULL);
	WAIT_UNTIL(__atomic_load_n(&nested_done, __ATOMIC_ACQUIRE), 20);
	if (before_outer_woken)
		pvlock_ticket_unlock(&lock);
	test_join(t);
	test_join(r);
	struct pvlock_fault_counts f;
	pvlock__fault_counts_read(&f);
	CHECK_GE(f.points_passed[where], 1);
	CHECK_GE(rec_waits(), nested_wait_number);	/* the nested wait did sleep */
	CHECK_GE(test_stats().ticket_kick, 1);
}

static void nested_wait_after_level_taken(void)
{
	nested_wait_in(PVLOCK_PP_TICKET_LEVEL_TAKEN, true);
}

static void nested_wait_after_record_cleared(void)
{
	nested_wait_in(PVLOCK_PP_TICKET_RECORD_CLEARED, false);
}

int main(void)
{
	test_run_both("ticket fast path, trylock, wrap-around", fast_path);
	test_run_both("ticket FIFO hand-over", fifo);
	test_run("ticket pv waiter sleeps, unlock kicks, flag cleared", PVLOCK_MODE_PV,
		 pv_sleep_and_kick);
	test_run("ticket pv two sleepers kicked in ticket order", PVLOCK_MODE_PV,
		 pv_two_sleepers_in_order);
	test_run("ticket pv release between record and flag (ticket flag after re-check)", PVLOCK_MODE_PV,
		 pv_release_between_record_and_flag);
	test_run("ticket pv unlock never touches a released lock (touch after release)", PVLOCK_MODE_PV,
		 pv_unlock_never_touches_released_lock);
	test_run("ticket pv nested wait while the outer took its level", PVLOCK_MODE_PV,
		 nested_wait_after_level_taken);
	test_run("ticket pv nested wait while the outer gives its level back", PVLOCK_MODE_PV,
		 nested_wait_after_record_cleared);
	return test_finish();
}
