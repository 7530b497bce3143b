/*
 * races.c - Linux's pv-spinlock races (docs/design.md) that need timing
 * rather than a fixed script, provoked with every fault at once: preemption at every
 * preemption point (a thread loses its CPU exactly inside the windows the
 * races live in), forced spurious wake-ups, delayed kicks, and a hash table
 * shrunk to one cache line so that every lock collides.  Each case checks
 * mutual exclusion with plain counters, that no hash entry is left behind,
 * and, through the statistics and point counters, that it reached the
 * places it targets:
 *
 *   kick-node ordering        kick_node's barrier-then-CAS
 *                             PP_KICK_NODE, pv_wait_node
 *   unpublished node          node init before publish / link
 *                             PP_BEFORE_TAIL_PUBLISH, PP_BEFORE_PREV_LINK
 *   unlock store-load         unlock learns "sleeper" atomically
 *                             PP_UNLOCK_BEFORE_KICK, delayed kicks
 *   hash line collision       colliding hash entries
 *                             one hash line, several locks
 *   ticket flag after         ticket flag vs re-check
 *   re-check                  PP_TICKET_BEFORE_FLAG, ticket_wait
 *
 * Deterministic versions of the others are in tests/unit/: double hash,
 * slow flag before hash entry, release before unhash, touch after release
 * and hash line collision in qspinlock_pv_races.c; foreign pending bit,
 * endless hand-over re-reads and nesting overflow in qspinlock_native.c;
 * ticket flag after re-check and touch after release in ticket.c; bad
 * unlock in api.c.  Nesting re-entry (a signal handler taking the same
 * node) is in tests/system/signals.c; ticket record overwrite cannot arise
 * here (per-level ticket records, see tests/unit/ticket.c).
 */
#include "algo/pv_hash.h"
#include "lib/check.h"

#define THREADS	8
#define LOCKS	3
#define MIN_MS	500	/* run at least this long, and then until every targeted
			 * path was reached (the patience of lib/check.h only
			 * detects a hang) */

static pvlock_t qlocks[LOCKS];
static pvlock_ticket_t tlocks[LOCKS];
static struct { long count, shadow; } data[LOCKS];	/* plain, non-atomic */
static long per_thread[THREADS];
static int stop;
static bool use_ticket;

static void *worker(void *arg)
{
	long id = (long)arg;
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull + 1;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		int i = (int)(x % LOCKS);
		if (use_ticket)
			pvlock_ticket_lock(&tlocks[i]);
		else
			pvlock_lock(&qlocks[i]);
		/* A second thread inside would break count == shadow. */
		long c = data[i].count;
		if (data[i].shadow != c)
			FAIL("mutual exclusion broken on lock %d", i);
		data[i].count = c + 1;
		data[i].shadow = c + 1;
		if (use_ticket)
			pvlock_ticket_unlock(&tlocks[i]);
		else
			pvlock_unlock(&qlocks[i]);
		per_thread[id]++;
	}
	return NULL;
}

/*
 * Each case names the paths it targets once, in a targets(report) function:
 * without report it only says whether all were reached (polled while the
 * run goes on); with report it fails the case naming the first one missed.
 */
#define TARGET(cond) do { \
	if (!(cond)) { \
		if (report) \
			FAIL("path not reached: %s", #cond); \
		return false; \
	} } while (0)

/* Some paths are reached only by chance (a waiter queues behind a spinning
 * head and then sleeps): run until all targets were.  On the 2-core test
 * machines at load 45 the native case needed 5.5 s, against 0.5 s idle. */
static bool (*case_targets)(bool report);

static bool all_targets_reached(void)
{
	return case_targets(false);
}

static void run_workers(bool (*targets)(bool report))
{
	test_thread t[THREADS];

	case_targets = targets;
	for (long i = 0; i < THREADS; i++)
		t[i] = test_start(worker, (void *)i);
	test_run_until(MIN_MS, all_targets_reached);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < THREADS; i++)
		test_join(t[i]);

	long total = 0, sum = 0;
	for (int i = 0; i < THREADS; i++)
		total += per_thread[i];
	for (int i = 0; i < LOCKS; i++)
		sum += data[i].count;
	CHECK_EQ(sum, total);
	CHECK(total > 0);
	targets(true);
}

static void inject_everything(void)
{
	pvlock_set_spin_threshold(128);		/* sleep often */
	pvlock__fault.preempt_pct = 10;
	pvlock__fault.spurious_wakeup_pct = 10;
	pvlock__fault.kick_delay_us = 20;
	pvlock__fault.hash_lines = 1;
}

static bool queued_pv_targets(bool report)
{
	struct pvlock_stats s = test_stats();
	struct pvlock_fault_counts f;

	pvlock__fault_counts_read(&f);
	TARGET(s.pv_wait_node);
	TARGET(s.pv_wait_head);
	TARGET(s.pv_kick_unlock);
	TARGET(s.pv_spurious_wakeup + s.pv_wait_again);
	TARGET(f.points_passed[PVLOCK_PP_BEFORE_TAIL_PUBLISH]);
	TARGET(f.points_passed[PVLOCK_PP_BEFORE_PREV_LINK]);
	TARGET(f.points_passed[PVLOCK_PP_KICK_NODE]);
	TARGET(f.points_passed[PVLOCK_PP_UNLOCK_BEFORE_KICK]);
	TARGET(f.preemptions);
	TARGET(f.spurious_wakeups);
	TARGET(f.kicks_delayed);
	return true;
}

static void queued_all_faults(void)
{
	inject_everything();
	run_workers(queued_pv_targets);
	for (int i = 0; i < LOCKS; i++)
		CHECK_EQ(pvlock__pv_hash_entries_for(&qlocks[i]), 0);
}

static bool queued_native_targets(bool report)
{
	struct pvlock_stats s = test_stats();
	struct pvlock_fault_counts f;

	pvlock__fault_counts_read(&f);
	TARGET(s.lock_slowpath);
	TARGET(s.lock_pending);
	TARGET(f.points_passed[PVLOCK_PP_BEFORE_TAIL_PUBLISH]);
	TARGET(f.points_passed[PVLOCK_PP_BEFORE_PREV_LINK]);
	return true;
}

static void queued_native_preempted(void)
{
	pvlock__fault.preempt_pct = 10;
	run_workers(queued_native_targets);
}

static bool ticket_targets(bool report)
{
	struct pvlock_stats s = test_stats();
	struct pvlock_fault_counts f;

	pvlock__fault_counts_read(&f);
	TARGET(s.ticket_wait);
	TARGET(s.ticket_kick);
	TARGET(f.points_passed[PVLOCK_PP_TICKET_BEFORE_FLAG]);
	TARGET(f.points_passed[PVLOCK_PP_TICKET_BEFORE_KICK]);
	return true;
}

static void ticket_all_faults(void)
{
	use_ticket = true;
	inject_everything();
	run_workers(ticket_targets);
}

int main(void)
{
	test_run("queued pv under every fault (kick-node ordering, unpublished node, "
		 "unlock store-load, hash line collision)", PVLOCK_MODE_PV, queued_all_faults);
	test_run("queued native with preemption points (unpublished node)", PVLOCK_MODE_NATIVE,
		 queued_native_preempted);
	test_run("ticket pv under every fault (ticket flag after re-check, unlock store-load)",
		 PVLOCK_MODE_PV, ticket_all_faults);
	return test_finish();
}
