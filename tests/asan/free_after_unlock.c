/*
 * free_after_unlock.c - the next owner frees the lock's memory right after
 * unlocking it; built with AddressSanitizer (tests/rules.mk).
 *
 * Linux's rule, and pvlock's: after the store that releases a lock, unlock
 * must not touch the lock again, because the next owner may take it and
 * free it at once ("touch after release", docs/design.md).  pv unlock is where this is hard: the
 * queued lock's unlock finds _Q_SLOW_VAL, releases, then kicks the sleeping
 * head; the ticket lock's unlock releases, then looks for the waiter to
 * kick.  Both must kick by slot, never through the lock.
 *
 * Each round: a heap object holds the lock and a count of its users.  The
 * main thread takes the lock, waits until the 1 or 2 helper threads are
 * waiting for it (pv: asleep), and then every user in turn does
 *
 *     lock; last = (--users == 0); unlock; if (last) free(object);
 *
 * so the last owner frees the object right after its unlock, while the
 * unlocker before it may still be in its unlock slow path.  Under
 * AddressSanitizer a touch of the freed lock there is a heap-use-after-free
 * report and the case dies (abort_on_error: the runner prints "killed by
 * signal 6"; the report is in the log).
 *
 * Two variants:
 *   natural: waiters sleep and are kicked; the race window is whatever the
 *            scheduler makes of it.
 *   forced:  (pv, fault injection) waiters never really sleep (every wait
 *            returns at once: they poll), and the unlocker stops at the
 *            preemption point right after its release until the object has
 *            been freed: UNLOCK_RELEASED for the queued lock's store kind of
 *            unlock (before its sleepers load and wake path),
 *            UNLOCK_BEFORE_KICK for its CAS kind, TICKET_BEFORE_KICK.
 *            Whatever the unlock does after that point then runs on freed
 *            memory.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/any_lock.h"
#include "lib/asan_options.h"
#include "lib/check.h"

struct object {
	union any_lock lock;
	long users;		/* plain, under the lock */
	long payload[7];	/* written under the lock */
};

/* The case, set before test_run() forks. */
static struct {
	enum kind kind;
	int users;		/* 2 or 3: the main thread and 1 or 2 helpers */
	bool forced;
} cfg;

/*
 * Rounds per case: at least MIN_ROUNDS, and more, up to MAX_ROUNDS, while
 * the case has run less than EXTRA_MS.  Every round is judged on its own
 * (ASan on the freed object, the kick or the stopped unlocker counted per
 * round), so the clock only caps the extra rounds.  Idle, 500 rounds take
 * about 0.4 s; the 16 cases needed 100 s at load 30, near the 120 s
 * watchdog, and at load 40 a round of the native 3-user cases (each step
 * waits for a thread to get a CPU) took 300 ms.  The forced variants stop
 * the unlocker in every round, so each of their rounds is a proof.
 */
#define MIN_ROUNDS	50
#define MAX_ROUNDS	500
#define EXTRA_MS	1000

static struct object *current;		/* atomic: this round's object; NULL: done */
static unsigned round_no;		/* atomic: 1, 2, ... */
static unsigned freed_round;		/* atomic: last round whose object was freed */
static pthread_barrier_t round_start, round_end;
static __thread bool last_user;		/* this thread's unlock frees nothing after */
static unsigned long windows, misses;	/* atomic: forced-variant hook outcomes */

static void take(struct object *o)
{
	any_lock_take(cfg.kind, &o->lock);
}

static void release(struct object *o)
{
	any_lock_release(cfg.kind, &o->lock);
}

/* Holding the lock: use the object, unlock it, free it if last. */
static void finish(struct object *o)
{
	bool last = --o->users == 0;

	for (int i = 0; i < 7; i++)
		o->payload[i]++;
	last_user = last;
	release(o);
	last_user = false;
	if (last) {
		free(o);
		__atomic_store_n(&freed_round, __atomic_load_n(&round_no, __ATOMIC_RELAXED),
				 __ATOMIC_RELEASE);
	}
}

/*
 * Forced variant: called by the unlocker right after its release store.
 * Hold it there until the next owner(s) have taken the lock, released it
 * and freed the object.  They can: waiters poll (every wait returns at
 * once), so none needs this unlocker's kick.
 */
static void after_release_hook(enum pvlock_preempt_point where)
{
	bool store = !(pvlock__mode_state & PVLOCK__MODE_CAS_UNLOCK);
	enum pvlock_preempt_point queued = store ? PVLOCK_PP_UNLOCK_RELEASED
						 : PVLOCK_PP_UNLOCK_BEFORE_KICK;

	if (where != queued && where != PVLOCK_PP_TICKET_BEFORE_KICK)
		return;
	if (last_user)
		return;	/* a stale flag: nobody will free the object for us */
	unsigned r = __atomic_load_n(&round_no, __ATOMIC_RELAXED);

	/* freed_round: acquire, paired with finish()'s release after free(). */
	if (test_await_equal(&freed_round, r))
		__atomic_fetch_add(&windows, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&misses, 1, __ATOMIC_RELAXED);
}

static void *helper(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_barrier_wait(&round_start);
		struct object *o = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
		if (!o)
			return NULL;	/* no more rounds */
		take(o);	/* held by the main thread: wait (pv: sleep) */
		finish(o);
		pthread_barrier_wait(&round_end);
	}
}

/* Are the helpers waiting for the lock (pv: did they sleep)?  `base` is the
 * statistics before they started.  The object is alive: its users count
 * includes the main thread, which holds the lock. */
static bool helpers_waiting(struct object *o, const struct pvlock_stats *base)
{
	struct pvlock_stats s = test_stats();
	uint64_t helpers = (uint64_t)cfg.users - 1;
	bool pv = pvlock_get_mode() == PVLOCK_MODE_PV;
	uint32_t val = __atomic_load_n(&o->lock.q.val, __ATOMIC_RELAXED);

	switch (cfg.kind) {
	case QUEUED:
		/* pv: the queue head slept (with the CAS kind of unlock the
		 * lock is then _Q_SLOW_VAL; with the store kind it is hashed
		 * and counted in pvlock__pv_sleepers) and the
		 * other is in the slow path too: looking for a chance to steal
		 * the lock while the head sleeps (spinning, or yielding between
		 * looks: steal yields), or queued behind it (asleep or not yet). */
		if (pv)
			return s.pv_wait_head > base->pv_wait_head &&
			       s.lock_slowpath >= base->lock_slowpath + helpers;
		/* native: one holds the pending bit, the other is queued */
		return (val & 0x100u) && (helpers < 2 || (val >> 16));
	case TICKET: {
		uint16_t head = (uint16_t)(val & ~PVLOCK__TICKET_FLAG), tail = (uint16_t)(val >> 16);
		bool all_in = (uint16_t)(tail - head) == cfg.users * PVLOCK__TICKET_INC;

		return all_in && (!pv || s.ticket_wait >= base->ticket_wait + helpers);
	}
	case TAS:
		return s.tas_slowpath >= base->tas_slowpath + helpers;
	}
	return false;
}

static void free_after_unlock_case(void)
{
	bool pv = pvlock_get_mode() == PVLOCK_MODE_PV;
	test_thread h[2];
	int helpers = cfg.users - 1;

	/* pv: sleep after a short spin, so that the main thread's unlock finds
	 * a sleeper (_Q_SLOW_VAL, the ticket flag) and takes the kick path. */
	if (pv)
		CHECK(pvlock_set_spin_threshold(64) == 0);
	if (cfg.forced) {
		CHECK(pvlock__fault_enabled());
		pvlock__fault.spurious_wakeup_pct = 100;
		__atomic_store_n(&pvlock__fault.point_hook, after_release_hook, __ATOMIC_RELEASE);
	}
	pthread_barrier_init(&round_start, NULL, (unsigned)cfg.users);
	pthread_barrier_init(&round_end, NULL, (unsigned)cfg.users);
	for (int i = 0; i < helpers; i++)
		h[i] = test_start(helper, NULL);

	uint64_t started = test_now_ns();
	int rounds = 0;
	for (int r = 0; r < MAX_ROUNDS && (r < MIN_ROUNDS ||
	     test_now_ns() - started < EXTRA_MS * 1000000ull); r++) {
		struct object *o = malloc(sizeof(*o));

		CHECK(o != NULL);
		memset(o, 0, sizeof(*o));
		o->users = cfg.users;
		take(o);
		struct pvlock_stats base = test_stats();
		__atomic_store_n(&round_no, (unsigned)r + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&current, o, __ATOMIC_RELEASE);
		pthread_barrier_wait(&round_start);
		uint64_t give_up = test_now_ns() + test_patience_ns();	/* a hang */
		while (!helpers_waiting(o, &base)) {
			if (test_now_ns() > give_up) {
				struct pvlock_stats s = test_stats();
				FAIL("round %d: the helpers are not waiting after %u ms: lock word "
				     "%#x, since the round began: lock_slowpath +%llu "
				     "pv_wait_head +%llu pv_wait_node +%llu ticket_wait +%llu "
				     "tas_slowpath +%llu", r + 1, test_patience_ms(),
				     __atomic_load_n(&o->lock.q.val, __ATOMIC_RELAXED),
				     (unsigned long long)(s.lock_slowpath - base.lock_slowpath),
				     (unsigned long long)(s.pv_wait_head - base.pv_wait_head),
				     (unsigned long long)(s.pv_wait_node - base.pv_wait_node),
				     (unsigned long long)(s.ticket_wait - base.ticket_wait),
				     (unsigned long long)(s.tas_slowpath - base.tas_slowpath));
			}
			test_pause();
		}
		finish(o);	/* the helpers follow, the last one frees */
		pthread_barrier_wait(&round_end);
		CHECK_EQ(__atomic_load_n(&freed_round, __ATOMIC_ACQUIRE), r + 1);
		rounds++;
	}
	__atomic_store_n(&current, NULL, __ATOMIC_RELEASE);
	pthread_barrier_wait(&round_start);	/* the helpers see NULL and return */
	for (int i = 0; i < helpers; i++)
		test_join(h[i]);

	struct pvlock_stats s = test_stats();
	printf("# %s %d users %s%s: %d rounds; pv_kick_unlock %llu pv_wait_head %llu "
	       "pv_wait_node %llu ticket_wait %llu ticket_kick %llu; hook windows %lu misses %lu\n",
	       kind_name[cfg.kind], cfg.users, pv ? "pv" : "native", cfg.forced ? " forced" : "",
	       rounds, (unsigned long long)s.pv_kick_unlock,
	       (unsigned long long)s.pv_wait_head, (unsigned long long)s.pv_wait_node,
	       (unsigned long long)s.ticket_wait, (unsigned long long)s.ticket_kick,
	       windows, misses);
	CHECK_EQ(s.bad_unlock, 0);
	if (misses)
		FAIL("%lu times the next owner could not take and free the lock while the "
		     "unlocker was stopped right after its release", misses);
	if (!pv)
		return;
	/* Every round's first unlock found a sleeper, so it took the kick path
	 * (the forced variant's waiters poll, but set _Q_SLOW_VAL / the flag
	 * before their first "sleep" all the same; with the store kind the
	 * forced unlocker stops right after its release in every round). */
	switch (cfg.kind) {
	case QUEUED:
		if (cfg.forced)
			CHECK_GE(windows, (uint64_t)rounds);
		else
			CHECK_GE(s.pv_kick_unlock, (uint64_t)rounds);
		break;
	case TICKET:
		if (cfg.forced)
			CHECK_GE(windows, (uint64_t)rounds);
		else
			CHECK_GE(s.ticket_kick, (uint64_t)rounds);
		break;
	case TAS:
		break;
	}
}

int main(void)
{
	char name[128];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int k = QUEUED; k <= TAS; k++) {
		for (int users = 2; users <= 3; users++) {
			cfg.kind = (enum kind)k;
			cfg.users = users;
			cfg.forced = false;
			snprintf(name, sizeof(name), "asan: %s, %d users, the last frees after unlock",
				 kind_name[k], users);
			test_run_both(name, free_after_unlock_case);
			if (k == TAS)
				continue;	/* no pv unlock path to stop in */
			cfg.forced = true;
			snprintf(name, sizeof(name), "asan: %s, %d users, freed while the unlocker "
				 "is stopped after its release", kind_name[k], users);
			test_run(name, PVLOCK_MODE_PV, free_after_unlock_case);
		}
	}
	return test_finish();
}
