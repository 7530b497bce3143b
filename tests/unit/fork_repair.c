/*
 * fork_repair.c - a fork child and the lock words the parent's other
 * threads were waiting in (pvlock(3), "fork").
 *
 * Repair: the main thread holds a lock, two threads wait on it (in the slow
 * path, as the lock word and the statistics show), the main thread forks.
 * The child unlocks, locks and unlocks again, and must leave the lock free:
 * without the repair, the child's queued lock still names the dead waiters
 * (native: pending and tail set, so its next lock spins for ever; pv: the
 * locked byte says a head sleeps, and the unlock stops the program), and its
 * ticket lock hands the turn to a dead ticket.  Each kind, each mode; and a
 * ticket turn already handed to a waiter that has not taken it.
 *
 * _Fork: a child made without fork handlers keeps its first thread's slot
 * under the parent's thread id; the threads it starts must not be given
 * that slot by a reclaim pass.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/check.h"
#include "lib/any_lock.h"
#include "algo/hooks.h"		/* pvlock__slot_self, pvlock__slot_high_water */

static enum kind kind;		/* set before test_run_both() forks */
static union any_lock lock;

static bool is_pv(void)
{
	return pvlock_get_mode() == PVLOCK_MODE_PV;
}

static void *waiter(void *arg)
{
	(void)arg;
	any_lock_take(kind, &lock);
	any_lock_release(kind, &lock);
	return NULL;
}

/* Both waiters are in their slow paths, with their marks in the word. */
static bool waiters_in(void)
{
	struct pvlock_stats st = test_stats();
	/* A test's look at the word (relaxed): the waiters are driving it. */
	uint32_t val = __atomic_load_n(&lock.q.val, __ATOMIC_RELAXED);

	switch (kind) {
	case QUEUED:
		if (is_pv())	/* the head sleeps, the other is queued (the CAS
				 * kind of unlock also shows SLOW in the word) */
			return st.lock_slowpath >= 2 && st.pv_wait_head >= 1 && (val >> 16);
		/* one pending, one queued */
		return st.lock_slowpath >= 1 && (val & 0xff00) && (val >> 16);
	case TICKET:	/* both took tickets and recorded them; pv: one sleeps */
		return st.ticket_slowpath >= 2 &&
		       (uint16_t)((val >> 16) - (val & ~PVLOCK__TICKET_FLAG)) >= 6 &&
		       (!is_pv() || (val & PVLOCK__TICKET_FLAG));
	case TAS:
		return st.tas_slowpath >= 2;
	}
	return false;
}

static void repair_case(void)
{
	CHECK(pvlock_set_spin_threshold(256) == 0);
	any_lock_take(kind, &lock);
	test_thread w1 = test_start(waiter, NULL);
	test_thread w2 = test_start(waiter, NULL);
	WAIT_UNTIL(waiters_in(), TEST_PATIENCE_S);

	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* A hang detector: without the repair the next lock never
		 * returns. */
		alarm(TEST_PATIENCE_S / 2 * test_time_scale());
		any_lock_release(kind, &lock);
		any_lock_take(kind, &lock);
		any_lock_release(kind, &lock);
		/* Free, with no waiter left in the word. */
		_exit(__atomic_load_n(&lock.q.val, __ATOMIC_RELAXED) == 0 ||
		      (kind == TICKET && pvlock__ticket_word_free(lock.t.val)) ? 0 : 10);
	}
	any_lock_release(kind, &lock);
	test_join(w1);
	test_join(w2);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		FAIL("the child hung on the lock the dead waiters were queued on");
	if (WIFSIGNALED(status))
		FAIL("the child died of signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) == 10)
		FAIL("the child's lock is not free after its unlock");
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static void repair_queued(void) { kind = QUEUED; repair_case(); }
static void repair_ticket(void) { kind = TICKET; repair_case(); }
static void repair_tas(void) { kind = TAS; repair_case(); }

/*
 * A ticket lock's turn handed to a waiter that has not taken it: the main
 * thread unlocks while the waiter sleeps and its kick is held back, so head
 * is the waiter's ticket at the fork.  Nobody holds the lock in the child,
 * so the repair frees it (a repair that kept the turn held would make the
 * child's lock wait for the dead waiter's unlock).  pv only: a native
 * waiter spins, and takes its turn at once.
 */
static void *ticket_sleeper(void *arg)
{
	(void)arg;
	pvlock_ticket_lock(&lock.t);
	pvlock_ticket_unlock(&lock.t);
	return NULL;
}

static void ticket_turn_case(void)
{
	rec_install();
	CHECK(pvlock_set_spin_threshold(64) == 0);
	pvlock_ticket_lock(&lock.t);
	test_thread w = test_start(ticket_sleeper, NULL);
	WAIT_UNTIL(rec_waits() >= 1, TEST_PATIENCE_S);	/* asleep on its record */
	rec_hold_kicks(true);
	pvlock_ticket_unlock(&lock.t);			/* head: its ticket */
	CHECK_EQ(rec_kicks_held(), 1);

	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(TEST_PATIENCE_S / 2 * test_time_scale());
		pvlock_ticket_lock(&lock.t);
		pvlock_ticket_unlock(&lock.t);
		_exit(pvlock__ticket_word_free(lock.t.val) ? 0 : 10);
	}
	rec_hold_kicks(false);
	test_join(w);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		FAIL("the child hung: the turn of the dead waiter stayed held");
	if (WIFSIGNALED(status))
		FAIL("the child died of signal %d", WTERMSIG(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* ---- _Fork ---------------------------------------------------------------- */

#define CHILD_THREADS_MAX 64
static unsigned child_index[CHILD_THREADS_MAX];	/* slot + 1 each thread got; ~0: none */
static int child_release;

static void *take_slot(void *arg)
{
	struct pvlock_slot *slot = pvlock__slot_self();

	/* Release: pairs with the main thread's acquire load of it. */
	__atomic_store_n((unsigned *)arg, slot ? slot->index + 1 : ~0u, __ATOMIC_RELEASE);
	/* Keep the slot until every thread has one: each new one must look
	 * past the slots in use, and so (none free) run a reclaim pass. */
	while (!__atomic_load_n(&child_release, __ATOMIC_ACQUIRE))
		test_pause();
	return NULL;
}

static void underscore_fork_case(void)
{
	struct pvlock_slot *mine = pvlock__slot_self();	/* as a slow path takes it */

	CHECK(mine != NULL);
	/* More threads than the slots handed out so far: they use up every
	 * free one, and then a reclaim pass must run. */
	unsigned threads = pvlock__slot_high_water() + 2;
	CHECK(threads <= CHILD_THREADS_MAX);

	pid_t pid = _Fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(TEST_PATIENCE_S / 2 * test_time_scale());
		test_thread t[CHILD_THREADS_MAX];
		for (unsigned i = 0; i < threads; i++)
			t[i] = test_start(take_slot, &child_index[i]);
		for (unsigned i = 0; i < threads; i++)
			while (!__atomic_load_n(&child_index[i], __ATOMIC_ACQUIRE))
				test_pause();
		__atomic_store_n(&child_release, 1, __ATOMIC_RELEASE);
		for (unsigned i = 0; i < threads; i++)
			test_join(t[i]);
		int shared = 0;
		for (unsigned i = 0; i < threads; i++)
			shared |= child_index[i] == mine->index + 1;
		_exit(pvlock__slot_peek() != mine ? 11 : shared ? 10 : 0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		FAIL("the child died of signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) == 10)
		FAIL("a thread of the child was given the slot of the child's first thread");
	if (WEXITSTATUS(status) == 11)
		FAIL("the child's first thread lost its slot");
	CHECK_EQ(WEXITSTATUS(status), 0);
}

int main(void)
{
	test_run_both("fork while two threads wait: queued lock repaired in the child",
		      repair_queued);
	test_run_both("fork while two threads wait: ticket lock repaired in the child",
		      repair_ticket);
	test_run_both("fork while two threads wait: tas lock usable in the child", repair_tas);
	test_run("fork with a ticket turn handed to a sleeping waiter: free in the child",
		 PVLOCK_MODE_PV, ticket_turn_case);
	test_run_both("_Fork: the child's threads never share its first thread's slot",
		      underscore_fork_case);
	return test_finish();
}
