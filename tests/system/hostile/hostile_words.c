/*
 * hostile_words.c - lock words and limits users run into: the ticket
 * lock's capacity, garbage and foreign lock words, one lock shared by two
 * processes, and the small API rules (setting the mode once frozen, the
 * environment's numbers).
 *
 * Cases that expect the library to stop the program run the doomed part in
 * a forked child and check its signal and its one line on stderr
 * (tests/lib/child.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/check.h"
#include "lib/child.h"
#include "algo/hooks.h"		/* pvlock__mode_freeze */
#include "runtime/internal.h"	/* pvlock__parse_decimal */

static bool is_pv(void)
{
	return pvlock_get_mode() == PVLOCK_MODE_PV;
}

/* ---- ticket capacity ------------------------------------------------------- */

/* One holder and 32766 waiters, as the lock word shows them: head 0x10,
 * tail 0x10 - 2 (mod 2^16).  One more waiter would wrap tail onto head. */
static pvlock_ticket_t full;

static void ticket_one_too_many(void)
{
	full.val = (uint32_t)(uint16_t)(0x10 - 2) << 16 | 0x10;
	pvlock_ticket_lock(&full);
	fprintf(stderr, "lock returned: %d", pvlock_ticket_is_locked(&full));
}

static void *ticket_waiter(void *arg)
{
	pvlock_ticket_lock(arg);
	return NULL;
}

/* The last waiter that fits waits quietly (nobody unlocks: it never gets in). */
static void ticket_last_that_fits(void)
{
	full.val = (uint32_t)(uint16_t)(0x10 - 4) << 16 | 0x10;
	pthread_t t;
	pthread_create(&t, NULL, ticket_waiter, &full);
	test_sleep_ms(200);
	if (!pvlock_ticket_is_locked(&full) || pvlock_ticket_trylock(&full))
		_exit(3);
	_exit(0);
}

static void ticket_capacity_case(void)
{
	static const char *const words[] = { "pvlock_ticket_lock", "32766", "limit", NULL };
	struct test_outcome o = test_run_child(ticket_one_too_many, 10);

	test_expect_abort(&o, words);
	o = test_run_child(ticket_last_that_fits, 10);
	if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
		FAIL("the 32766th waiter did not wait quietly (status 0x%x): \"%s\"",
		     o.status, o.err);
}

/* ---- garbage and foreign lock words --------------------------------------- */

static pvlock_t garbage;

/* The tail names slot 200, which this copy never handed out.  pv: the lock
 * reads held with a queue, so the newcomer looks to steal and then, with
 * steal yields, yields and looks again PVLOCK_STEAL_YIELDS_DEFAULT times
 * before it queues and meets the tail: seconds on a loaded machine, against
 * the child's alarm.  0: it queues after its looks. */
static void lock_foreign_tail(void)
{
	CHECK(pvlock_set_steal_yields(0) == 0);
	garbage.val = (201u << 18) | 1;
	pvlock_lock(&garbage);
}

/* _Q_SLOW_VAL with no sleeping waiter of ours: another copy's, or garbage. */
static void unlock_foreign_slow(void)
{
	garbage.val = 3;
	pvlock_unlock(&garbage);
}

static void unlock_garbage_byte(void)
{
	garbage.val = 0x00000005;
	pvlock_unlock(&garbage);
}

static void foreign_tail_case(void)
{
	static const char *const words[] = { "pvlock_lock", "the queue tail names a waiter",
		"corrupted or uninitialised", "another process or another copy", NULL };
	struct test_outcome o = test_run_child(lock_foreign_tail, 10);

	test_expect_abort(&o, words);
}

static void foreign_slow_case(void)
{
	static const char *const words[] = { "pvlock_unlock", "0x00000003",
		"corrupted or uninitialised", NULL };
	struct test_outcome o = test_run_child(unlock_foreign_slow, 10);

	test_expect_abort(&o, words);
	if (strstr(o.err, "internal error"))
		FAIL("blames the library: \"%s\"", o.err);
}

/* A locked byte of 5 is no state at all: reported, whole word, and ignored. */
static void garbage_byte_case(void)
{
	struct test_outcome o = test_run_child(unlock_garbage_byte, 10);

	if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
		FAIL("status 0x%x: \"%s\"", o.status, o.err);
	if (!is_pv())	/* native: a contended unlock stores 0, no check */
		return;
	if (!strstr(o.err, "0x00000005") || !strstr(o.err, "corrupted or uninitialised"))
		FAIL("the report should print the whole word and say the memory looks "
		     "corrupted: \"%s\"", o.err);
}

/* Two processes on one lock in MAP_SHARED memory (unsupported, pvlock(3)):
 * the pv lock, with the CAS kind of unlock, must not hang silently.  Either a clear fatal message, or,
 * when the two never met in the slow path, both finish. */
static pvlock_t *shared;

static void *shared_worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < 300000; i++) {
		pvlock_lock(shared);
		pvlock_unlock(shared);
	}
	return NULL;
}

static void shared_process(void)
{
	test_thread t[3];

	/* The queued lock's CAS kind of pv unlock: its sleeping-waiter mark
	 * (_Q_SLOW_VAL) is what tells the other process; the store kind sets
	 * none (pvlock(3), LIMITS).  Set before this process's first lock. */
	__atomic_fetch_or(&pvlock__mode_state, PVLOCK__MODE_CAS_UNLOCK, __ATOMIC_RELAXED);
	CHECK(pvlock_set_spin_threshold(64) == 0);
	for (int i = 0; i < 3; i++)
		t[i] = test_start(shared_worker, NULL);
	for (int i = 0; i < 3; i++)
		test_join(t[i]);
}

static bool stopped_with_message(const struct test_outcome *o)
{
	return WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGABRT &&
	       strstr(o->err, "another process or another copy");
}

static void shared_memory_case(void)
{
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shared != MAP_FAILED);
	struct test_child a = test_start_child(shared_process, TEST_PATIENCE_S),
		     b = test_start_child(shared_process, TEST_PATIENCE_S);
	int status;
	pid_t first = wait(&status);
	CHECK(first == a.pid || first == b.pid);
	/* Once one has stopped, the other may wait for it for ever: stop it. */
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		kill(first == a.pid ? b.pid : a.pid, SIGKILL);
	struct test_outcome oa = test_finish_child(a, first == a.pid ? &status : NULL);
	struct test_outcome ob = test_finish_child(b, first == b.pid ? &status : NULL);
	bool ok_a = WIFEXITED(oa.status) && !WEXITSTATUS(oa.status);
	bool ok_b = WIFEXITED(ob.status) && !WEXITSTATUS(ob.status);
	bool told = stopped_with_message(&oa) || stopped_with_message(&ob);
	printf("# shared memory %s: %s\n", is_pv() ? "pv" : "native",
	       ok_a && ok_b ? "both finished" : told ? "stopped with a message" : "hung");
	if (!(ok_a && ok_b) && !told && is_pv())
		FAIL("two processes on one lock stopped without a word (status 0x%x, 0x%x): "
		     "\"%s\" \"%s\"", oa.status, ob.status, oa.err, ob.err);
}

/* ---- small rules ------------------------------------------------------------ */

static void set_mode_frozen_case(void)
{
	enum pvlock_mode mode = pvlock_get_mode();

	pvlock__mode_freeze();		/* what the first slow path does */
	CHECK_EQ(pvlock_set_mode(mode), 0);
	errno = 0;
	CHECK_EQ(pvlock_set_mode(mode == PVLOCK_MODE_PV ? PVLOCK_MODE_NATIVE : PVLOCK_MODE_PV), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(pvlock_get_mode(), mode);
}

static void parse_decimal_case(void)
{
	static const struct { const char *text; int ok; unsigned value; } cases[] = {
		{ "100", 1, 100 }, { "010", 1, 10 }, { "1", 1, 1 }, { "16777216", 1, 16777216 },
		{ " 100", 0, 0 }, { "100 ", 0, 0 }, { "0x100", 0, 0 }, { "+100", 0, 0 },
		{ "-1", 0, 0 }, { "", 0, 0 }, { "0", 0, 0 }, { "16777217", 0, 0 },
		{ "99999999999999999999999", 0, 0 }, { "1e3", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned v = 12345;
		int r = pvlock__parse_decimal(cases[i].text, 1, 1u << 24, &v);

		if ((r == 0) != cases[i].ok || (r == 0 && v != cases[i].value))
			FAIL("\"%s\": %s %u, expected %s %u", cases[i].text, r ? "rejected" : "accepted",
			     v, cases[i].ok ? "accepted" : "rejected", cases[i].value);
	}
}
int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_run_both("ticket lock: waiter 32767 stops the program with the limit",
		      ticket_capacity_case);
	test_run_both("a foreign queue tail stops the program with a clear message",
		      foreign_tail_case);
	test_run("a foreign _Q_SLOW_VAL stops the program with a clear message",
		 PVLOCK_MODE_PV, foreign_slow_case);
	test_run_both("garbage locked byte: whole word, memory looks corrupted",
		      garbage_byte_case);
	test_run_both("two processes on a MAP_SHARED lock: no silent hang", shared_memory_case);
	test_run_both("pvlock_set_mode(current mode) succeeds once frozen",
		      set_mode_frozen_case);
	test_run("environment numbers: one strict decimal rule", -1, parse_decimal_case);
	return test_finish();
}
