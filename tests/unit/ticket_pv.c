/*
 * ticket_pv.c - the pv ticket lock's hand-offs on the futex backend (the
 * recording backend wraps it and knows nothing of who runs), step by step:
 * an unlock passes the turn over a sleeping next waiter, which still gets
 * the lock; a waiter is passed over at most PVLOCK_TICKET_SKIPS times per
 * acquisition, then waits FIRM; the spinner behind a sleeping next takes
 * its turn; kick-ahead wakes the sleeper k turns behind the new owner; a
 * waiter farther behind head than the process has CPUs sleeps without
 * spinning; native mode does none of this.  The counters show each path.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/hooks.h"
#include "lib/check.h"

static pvlock_ticket_t tlock;

struct waiter_arg {
	int release;		/* set: unlock and return */
	int got;		/* set once it holds the lock */
};

static void *wait_then_hold(void *p)
{
	struct waiter_arg *a = p;

	pvlock_ticket_lock(&tlock);
	__atomic_store_n(&a->got, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&a->release, __ATOMIC_ACQUIRE))
		test_pause();
	pvlock_ticket_unlock(&tlock);
	return NULL;
}

/* Tickets handed out and not yet served (holder included), one atomic look. */
static unsigned tickets_out(void)
{
	uint32_t v = __atomic_load_n(&tlock.val, __ATOMIC_RELAXED);

	return (uint16_t)((v >> 16) - (v & 0xfffeu)) / 2u;
}

/*
 * One waiter, asleep behind us, K skips allowed.  Each of our first K
 * unlocks passes the turn over it (the lock is then free: we take it again
 * before its held kick is delivered); it retakes a ticket and sleeps again.
 * Our (K+1)-th unlock finds it FIRM: an ordinary kick, and it gets the lock.
 */
static void skipped_at_most(unsigned k)
{
	struct waiter_arg a = { .release = 1 };

	rec_install();
	pvlock__ticket_skips = k;
	pvlock__ticket_kick_ahead = 0;
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	pvlock_ticket_lock(&tlock);
	test_thread t = test_start(wait_then_hold, &a);
	for (unsigned round = 0; round <= k; round++) {
		WAIT_UNTIL(rec_waits() == round + 1, 10);	/* asleep */
		rec_hold_kicks(true);
		pvlock_ticket_unlock(&tlock);
		CHECK_EQ(test_stats().ticket_skip, round < k ? round + 1 : k);
		if (round < k) {
			CHECK(!pvlock_ticket_is_locked(&tlock));	/* passed over */
			pvlock_ticket_lock(&tlock);
		}
		rec_hold_kicks(false);
	}
	test_join(t);
	CHECK(__atomic_load_n(&a.got, __ATOMIC_ACQUIRE));
	CHECK(!pvlock_ticket_is_locked(&tlock));
	CHECK_EQ(test_stats().ticket_skip, k);
}

static void skip_sleeping_next(void) { skipped_at_most(1); }
static void skip_twice_then_firm(void) { skipped_at_most(2); }
static void never_skipped_with_zero(void) { skipped_at_most(0); }

/*
 * The successor: we hand the turn to a sleeper and stay parked right after
 * our release (before our unlock looks for it); the spinner behind it finds
 * it asleep, takes its turn and owns the lock.  The sleeper gets it later.
 */
static int parked_once;
static struct waiter_arg spin_arg;

static void park_until_spinner_got(enum pvlock_preempt_point where)
{
	if (where != PVLOCK_PP_TICKET_BEFORE_KICK ||
	    __atomic_exchange_n(&parked_once, 1, __ATOMIC_ACQ_REL))
		return;
	WAIT_UNTIL(__atomic_load_n(&spin_arg.got, __ATOMIC_ACQUIRE), 10);
}

static void successor_skips_sleeping_next(void)
{
	struct waiter_arg sleep_arg = { .release = 1 };

	rec_install();
	pvlock__ticket_kick_ahead = 0;
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	pvlock_ticket_lock(&tlock);
	test_thread sleeper = test_start(wait_then_hold, &sleep_arg);
	WAIT_UNTIL(rec_waits() == 1, 10);
	CHECK_EQ(pvlock_set_spin_threshold(PVLOCK_SPIN_THRESHOLD_MAX), 0);
	test_thread spinner = test_start(wait_then_hold, &spin_arg);
	WAIT_UNTIL(tickets_out() >= 3, 10);
	/* Release: pairs with the acquire load in pvlock__preempt_point. */
	__atomic_store_n(&pvlock__fault.point_hook, park_until_spinner_got, __ATOMIC_RELEASE);
	pvlock_ticket_unlock(&tlock);
	CHECK_EQ(test_stats().ticket_skip, 1);
	CHECK(!__atomic_load_n(&sleep_arg.got, __ATOMIC_ACQUIRE));
	__atomic_store_n(&spin_arg.release, 1, __ATOMIC_RELEASE);
	test_join(spinner);
	test_join(sleeper);
	__atomic_store_n(&pvlock__fault.point_hook, NULL, __ATOMIC_RELEASE);
	CHECK(!pvlock_ticket_is_locked(&tlock));
}

/*
 * Two sleepers behind us, never skipped.  Our unlock kicks the next one and,
 * with kick-ahead k = 1, the one after it; with k = 0 only the next one.
 */
static void kick_ahead_case(unsigned k)
{
	struct waiter_arg a[2] = { { .release = 1 }, { .release = 1 } };
	test_thread t[2];

	rec_install();
	pvlock__ticket_skips = 0;
	pvlock__ticket_kick_ahead = k;
	CHECK_EQ(pvlock_set_spin_threshold(64), 0);
	pvlock_ticket_lock(&tlock);
	for (int i = 0; i < 2; i++) {
		t[i] = test_start(wait_then_hold, &a[i]);
		WAIT_UNTIL(rec_waits() == (unsigned)i + 1, 10);
	}
	rec_hold_kicks(true);
	pvlock_ticket_unlock(&tlock);
	CHECK_EQ(rec_kicks_held(), 1 + k);
	CHECK_EQ(test_stats().ticket_kick_ahead, k);
	rec_hold_kicks(false);
	for (int i = 0; i < 2; i++)
		test_join(t[i]);
	CHECK(!pvlock_ticket_is_locked(&tlock));
}

static void kick_ahead_one(void) { kick_ahead_case(1); }
static void kick_ahead_off(void) { kick_ahead_case(0); }

/*
 * One CPU's worth of line: the waiter right behind us spins (huge
 * threshold), the one behind it is 2 turns from head and sleeps at once.
 * Our unlock wakes it ahead of its turn; both get the lock.  Off: it spins.
 */
static void far_back_case(bool on)
{
	struct waiter_arg a[2] = { { .release = 1 }, { .release = 1 } };
	test_thread t[2];

	rec_install();
	pvlock__ticket_skips = 0;
	pvlock__ticket_kick_ahead = 1;		/* the waiter right behind */
	pvlock__ticket_far_sleep = on;
	CHECK_EQ(pvlock_set_spin_threshold(PVLOCK_SPIN_THRESHOLD_MAX), 0);
	pvlock_ticket_lock(&tlock);
	__atomic_store_n(&pvlock__cpus_usable, 1, __ATOMIC_RELAXED);
	t[0] = test_start(wait_then_hold, &a[0]);
	WAIT_UNTIL(tickets_out() >= 2, 10);
	t[1] = test_start(wait_then_hold, &a[1]);
	WAIT_UNTIL(tickets_out() >= 3, 10);
	if (on) {
		WAIT_UNTIL(rec_waits() == 1, 10);	/* asleep at once */
		CHECK_EQ(test_stats().ticket_far_sleep, 1);
	}
	pvlock_ticket_unlock(&tlock);
	for (int i = 0; i < 2; i++)
		test_join(t[i]);
	CHECK(!pvlock_ticket_is_locked(&tlock));
	struct pvlock_stats s = test_stats();
	if (on) {
		CHECK_GE(s.ticket_far_sleep, 1);
		CHECK_EQ(s.ticket_kick_ahead, 1);
	} else {
		CHECK_EQ(s.ticket_far_sleep, 0);
		CHECK_EQ(s.ticket_wait, 0);
		CHECK_EQ(rec_waits(), 0);
	}
}

static void far_back_sleeps(void) { far_back_case(true); }
static void far_back_off_spins(void) { far_back_case(false); }

/* Native mode: the waiters spin in order; nothing of the above happens. */
static void native_unchanged(void)
{
	struct waiter_arg a[2] = { { .release = 1 }, { .release = 1 } };
	test_thread t[2];

	rec_install();
	__atomic_store_n(&pvlock__cpus_usable, 1, __ATOMIC_RELAXED);
	pvlock_ticket_lock(&tlock);
	for (int i = 0; i < 2; i++) {
		t[i] = test_start(wait_then_hold, &a[i]);
		WAIT_UNTIL(tickets_out() >= (unsigned)i + 2, 10);
	}
	pvlock_ticket_unlock(&tlock);
	for (int i = 0; i < 2; i++)
		test_join(t[i]);
	struct pvlock_stats s = test_stats();
	CHECK_EQ(s.ticket_slowpath, 2);
	CHECK_EQ(s.ticket_wait + s.ticket_kick + s.ticket_skip, 0);
	CHECK_EQ(s.ticket_kick_ahead + s.ticket_far_sleep, 0);
	CHECK_EQ(rec_waits(), 0);
}

/*
 * The environment: PVLOCK_TICKET_SKIPS, PVLOCK_TICKET_KICK_AHEAD and
 * PVLOCK_TICKET_FAR_SLEEP are read at start-up; a bad value prints one line
 * naming the variable and the accepted range, and the default stays.  This
 * program runs itself (read from /proc/self/exe) with --print-tunables under the
 * given environment.
 */
static void run_self(const char *env, char *out, size_t outlen, char *err, size_t errlen)
{
	char errfile[] = "/tmp/pvlock-ticket-pv-XXXXXX";
	int fd = mkstemp(errfile);
	char cmd[4096], self[1024];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	CHECK(fd >= 0 && len > 0);
	self[len] = 0;
	close(fd);
	snprintf(cmd, sizeof(cmd), "env %s '%s' --print-tunables 2>'%s'", env, self, errfile);
	FILE *p = popen(cmd, "r");
	CHECK(p != NULL);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = 0;
	pclose(p);
	FILE *e = fopen(errfile, "r");
	CHECK(e != NULL);
	n = fread(err, 1, errlen - 1, e);
	err[n] = 0;
	fclose(e);
	unlink(errfile);
}

static void tunables_from_environment(void)
{
	char out[256], err[1024];

	run_self("-u PVLOCK_TICKET_SKIPS", out, sizeof(out), err, sizeof(err));
	CHECK(strcmp(out, "1 16 1\n") == 0);			/* the defaults */
	CHECK_EQ(err[0], 0);
	run_self("PVLOCK_TICKET_SKIPS=3 PVLOCK_TICKET_KICK_AHEAD=0 PVLOCK_TICKET_FAR_SLEEP=0",
		 out, sizeof(out), err, sizeof(err));
	CHECK(strcmp(out, "3 0 0\n") == 0);
	CHECK_EQ(err[0], 0);
	run_self("PVLOCK_TICKET_SKIPS=17", out, sizeof(out), err, sizeof(err));
	CHECK(strcmp(out, "1 16 1\n") == 0);
	CHECK(strstr(err, "PVLOCK_TICKET_SKIPS") && strstr(err, "17") && strstr(err, "0 to 16"));
	CHECK(strchr(err, '\n') == err + strlen(err) - 1);	/* one line */
	run_self("PVLOCK_TICKET_FAR_SLEEP=yes", out, sizeof(out), err, sizeof(err));
	CHECK(strcmp(out, "1 16 1\n") == 0);
	CHECK(strstr(err, "PVLOCK_TICKET_FAR_SLEEP") && strstr(err, "0 to 1"));
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--print-tunables")) {
		printf("%u %u %u\n", pvlock__ticket_skips, pvlock__ticket_kick_ahead,
		       pvlock__ticket_far_sleep);
		return 0;
	}
	test_run("ticket pv: the hand-off tunables from the environment", -1,
		 tunables_from_environment);
	test_run("ticket pv futex: the unlock passes the turn over a sleeping next",
		 PVLOCK_MODE_PV, skip_sleeping_next);
	test_run("ticket pv futex: skipped twice with K = 2, then firm", PVLOCK_MODE_PV,
		 skip_twice_then_firm);
	test_run("ticket pv futex: K = 0: never skipped", PVLOCK_MODE_PV, never_skipped_with_zero);
	test_run("ticket pv futex: the spinner behind a sleeping next takes its turn",
		 PVLOCK_MODE_PV, successor_skips_sleeping_next);
	test_run("ticket pv futex: kick-ahead wakes the sleeper after next", PVLOCK_MODE_PV,
		 kick_ahead_one);
	test_run("ticket pv futex: kick-ahead 0 kicks next only", PVLOCK_MODE_PV, kick_ahead_off);
	test_run("ticket pv futex: a waiter far behind head sleeps without spinning",
		 PVLOCK_MODE_PV, far_back_sleeps);
	test_run("ticket pv futex: far-back sleep off: it spins", PVLOCK_MODE_PV,
		 far_back_off_spins);
	test_run("ticket native: no skip, kick, kick-ahead or far-back sleep",
		 PVLOCK_MODE_NATIVE, native_unchanged);
	return test_finish();
}
