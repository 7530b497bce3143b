/*
 * hostile_threads.c - what users' threads do to a lock library: signals
 * that interrupt a wait (errno must survive), a thread that leaves while
 * queued, more waiting threads than the library has slots, and fork with
 * the usual pthread_atfork pattern while others wait.
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
#include "algo/hooks.h"		/* pvlock__slots, pvlock__slot_self */
#include "runtime/internal.h"	/* pvlock__slots_in_use */

static bool is_pv(void)
{
	return pvlock_get_mode() == PVLOCK_MODE_PV;
}

/* ---- errno --------------------------------------------------------------- */

static pvlock_t eq;
static pvlock_ticket_t et;
static int errno_kind;		/* 0 queued, 1 ticket */
static int errno_seen;		/* written by the waiter */
static int waiter_started;

static void on_usr1(int sig)
{
	(void)sig;
}

static void *errno_waiter(void *arg)
{
	(void)arg;
	__atomic_store_n(&waiter_started, 1, __ATOMIC_RELEASE);
	errno = ENOENT;
	if (errno_kind == 0) {
		pvlock_lock(&eq);
		errno_seen = errno;
		pvlock_unlock(&eq);
	} else {
		pvlock_ticket_lock(&et);
		errno_seen = errno;
		pvlock_ticket_unlock(&et);
	}
	return NULL;
}

/* A signal without SA_RESTART interrupts a contended lock's futex sleep
 * (EINTR), and others find the token moved (EAGAIN): errno stays ENOENT. */
static void errno_case(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(pvlock_set_spin_threshold(64) == 0);	/* sleep soon */
	if (errno_kind == 0)
		pvlock_lock(&eq);
	else
		pvlock_ticket_lock(&et);
	test_thread w = test_start(errno_waiter, NULL);
	WAIT_UNTIL(__atomic_load_n(&waiter_started, __ATOMIC_ACQUIRE), 5);
	struct pvlock_stats st;
	do {	/* until it sleeps */
		test_sleep_ms(5);
		st = test_stats();
	} while (st.pv_wait_head + st.pv_wait_node + st.ticket_wait == 0);
	for (int i = 0; i < 20; i++) {
		pthread_kill((pthread_t)w.id, SIGUSR1);
		test_sleep_ms(2);
	}
	if (errno_kind == 0)
		pvlock_unlock(&eq);
	else
		pvlock_ticket_unlock(&et);
	test_join(w);
	if (errno_seen != ENOENT)
		FAIL("errno is %d (%s) after a contended lock, expected ENOENT as set before",
		     errno_seen, strerror(errno_seen));
}

static void errno_queued(void) { errno_kind = 0; errno_case(); }
static void errno_ticket(void) { errno_kind = 1; errno_case(); }

/* ---- a thread that leaves while queued ---------------------------------- */

static pvlock_t left_lock;
static int left_queued;

static void exit_from_handler(int sig)
{
	(void)sig;
	pthread_exit(NULL);
}

static void *leaver(void *arg)
{
	(void)arg;
	pvlock_lock(&left_lock);	/* never returns: the handler leaves */
	return NULL;
}

static void *take_slot(void *arg)
{
	*(struct pvlock_slot **)arg = pvlock__slot_self();
	return NULL;
}

static void left_while_queued_case(void)
{
	struct sigaction sa = { .sa_handler = exit_from_handler };
	struct pvlock_slot *next = NULL;

	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	pvlock__fault.max_slots = 2;
	/* Held, with a pending waiter (a stand-in), so that the leaver queues
	 * in both modes; main takes no slot. */
	left_lock.val = PVLOCK__Q_LOCKED_VAL | 0x100;
	test_thread t = test_start(leaver, NULL);
	/* Queued: its slot (the first) has a node in use and the tail is set. */
	WAIT_UNTIL(pvlock__slot_high_water() == 1 &&
		   __atomic_load_n(&pvlock__slots[0].qnodes[0].count, __ATOMIC_RELAXED) == 1 &&
		   pvlock_is_contended(&left_lock), 5);
	test_sleep_ms(20);
	pthread_kill((pthread_t)t.id, SIGUSR2);
	test_join(t);
	left_queued = 1;
	/* pthread_join returns once the kernel clears the thread's tid word,
	 * a little before the thread is gone from the kernel; the library
	 * looks at a dead thread's slot (here: retires it) only once tgkill
	 * says ESRCH.  An exiting thread preempted in between would leave the
	 * slot owned for the new thread, which would then take another and
	 * retire nothing: wait for the kernel, not for luck. */
	int32_t left_tid = (int32_t)pvlock__slots[0].tid;
	WAIT_UNTIL(syscall(SYS_tgkill, getpid(), left_tid, 0) != 0 && errno == ESRCH,
		   TEST_PATIENCE_S);

	test_join(test_start(take_slot, &next));
	if (next == &pvlock__slots[0])
		FAIL("a new thread was given the slot of a thread that left while queued "
		     "(its node is still linked into the lock's queue)");
	CHECK_EQ(test_stats().slot_retired, 1);
}

/* ---- past the slot limit: node-less waiters yield ------------------------ */

static pvlock_t nl_q;
static pvlock_ticket_t nl_t;
static pvlock_tas_t nl_s;

static int nl_done;

static void *nl_slot_holder(void *arg)
{
	(void)arg;
	pvlock_tas_lock(&nl_s);		/* contended: takes the only slot */
	pvlock_tas_unlock(&nl_s);
	while (!__atomic_load_n(&nl_done, __ATOMIC_ACQUIRE))	/* and keeps it */
		test_pause();
	return NULL;
}

static void *nl_waiter(void *arg)
{
	if (arg) {
		pvlock_ticket_lock(&nl_t);
		pvlock_ticket_unlock(&nl_t);
	} else {
		pvlock_lock(&nl_q);
		pvlock_unlock(&nl_q);
	}
	return NULL;
}

/* Slot limit 1, taken: a waiter has no node (queued) or record (ticket).
 * It spins, yields in pv mode, and counts one no-node/no-record wait. */
static void no_node_case(void)
{
	pvlock__fault.max_slots = 1;
	CHECK(pvlock_set_spin_threshold(64) == 0);
	pvlock_tas_lock(&nl_s);
	test_thread h = test_start(nl_slot_holder, NULL);
	WAIT_UNTIL(pvlock__slots_in_use() == 1, 5);
	pvlock_tas_unlock(&nl_s);

	/* Held with a pending waiter (a stand-in): the native waiter queues too. */
	nl_q.val = PVLOCK__Q_LOCKED_VAL | 0x100;
	pvlock_ticket_lock(&nl_t);
	test_thread q = test_start(nl_waiter, NULL);
	test_thread t = test_start(nl_waiter, &nl_t);
	/* Both wait without a node or record, and (pv) yielded: counted once
	 * they did, however long a loaded machine takes to run them. */
	WAIT_UNTIL(({ struct pvlock_stats s_ = test_stats();
		      s_.lock_no_node >= 1 && s_.ticket_slowpath >= 1 &&
		      (!is_pv() || (s_.ticket_no_record >= 1 && s_.pv_no_node_yield >= 2)); }),
		   TEST_PATIENCE_S);
	pvlock_init(&nl_q);
	pvlock_ticket_unlock(&nl_t);
	test_join(q);
	test_join(t);
	__atomic_store_n(&nl_done, 1, __ATOMIC_RELEASE);
	test_join(h);

	struct pvlock_stats st = test_stats();
	CHECK_EQ(st.lock_no_node, 1);
	if (is_pv()) {
		CHECK_EQ(st.ticket_no_record, 1);	/* waits, not spin rounds */
		CHECK_GE(st.pv_no_node_yield, 2);
	} else {
		CHECK_EQ(st.pv_no_node_yield, 0);
	}
}

/* ---- fork while others wait ---------------------------------------------- */

static pvlock_t fq;
static pvlock_ticket_t ft;
static pvlock_tas_t fs;
static int fork_kind;	/* 0 queued, 1 ticket, 2 tas */
static int fork_stop;

static void any_lock(void)
{
	switch (fork_kind) {
	case 0: pvlock_lock(&fq); break;
	case 1: pvlock_ticket_lock(&ft); break;
	default: pvlock_tas_lock(&fs); break;
	}
}

static void any_unlock(void)
{
	switch (fork_kind) {
	case 0: pvlock_unlock(&fq); break;
	case 1: pvlock_ticket_unlock(&ft); break;
	default: pvlock_tas_unlock(&fs); break;
	}
}

static void prepare(void) { any_lock(); }
static void parent(void) { any_unlock(); }
/* As pvlock(3) says: the child reinitialises a lock others may have waited on. */
static void child(void)
{
	switch (fork_kind) {
	case 0: pvlock_init(&fq); break;
	case 1: pvlock_ticket_init(&ft); break;
	default: pvlock_tas_init(&fs); break;
	}
}

static long fork_count;

/*
 * The workers keep the lock contended, and wait for it whenever the forking
 * thread holds it (atfork prepare).  They pause between acquisitions: the
 * test-and-set lock is unfair, and a worker that loops straight back into
 * it holds it nearly all of the time, so when it is preempted it mostly
 * holds the lock.  With everything on one CPU (taskset -c 0, or a loaded
 * machine) the forking thread then found the lock held at nearly every turn
 * it got and starved in prepare() for the whole 120 s watchdog.
 */
static void *fork_worker(void *arg)
{
	/* A slot now, as a first slow path would take one: the child must not
	 * inherit it, however rarely these pausing workers collide. */
	if (arg)
		CHECK(pvlock__slot_self() != NULL);
	while (!__atomic_load_n(&fork_stop, __ATOMIC_RELAXED)) {
		any_lock();
		fork_count++;
		any_unlock();
		for (int i = 0; i < 64; i++)
			pvlock__cpu_relax();
	}
	return NULL;
}

static void fork_case(void)
{
	enum { WORKERS = 4, FORKS = 10 };
	test_thread w[WORKERS];

	CHECK(pvlock_set_spin_threshold(256) == 0);
	CHECK(pthread_atfork(prepare, parent, child) == 0);
	for (int i = 0; i < WORKERS; i++)
		w[i] = test_start(fork_worker, &w[i]);
	WAIT_UNTIL(pvlock__slots_in_use() >= 2, 10);
	for (int f = 0; f < FORKS; f++) {
		test_sleep_ms(10);
		pid_t pid = fork();
		if (pid == 0) {
			/* A hang detector, not a speed limit (the 10 forks of
			 * the tas case took 8.4 s at load 45, against 0.6 s
			 * idle); one hang still ends well within the case's
			 * watchdog. */
			alarm(TEST_PATIENCE_S / 2 * test_time_scale());
			/* Only the forking thread exists: at most its slot remains. */
			if (pvlock__slots_in_use() > 1)
				_exit(10);
			test_thread c[2];
			for (int i = 0; i < 2; i++)
				c[i] = test_start(fork_worker, NULL);
			test_sleep_ms(30);
			__atomic_store_n(&fork_stop, 1, __ATOMIC_RELAXED);
			for (int i = 0; i < 2; i++)
				test_join(c[i]);
			any_lock();
			any_unlock();
			_exit(0);
		}
		CHECK(pid > 0);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			FAIL("fork %d: the child hung on the lock", f + 1);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 10)
			FAIL("fork %d: the child still has the slots of the parent's other threads",
			     f + 1);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			FAIL("fork %d: child status 0x%x", f + 1, status);
	}
	__atomic_store_n(&fork_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < WORKERS; i++)
		test_join(w[i]);
}

static void fork_queued(void) { fork_kind = 0; fork_case(); }
static void fork_ticket(void) { fork_kind = 1; fork_case(); }
static void fork_tas(void) { fork_kind = 2; fork_case(); }

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_run("errno unchanged by a contended queued lock interrupted by signals",
		 PVLOCK_MODE_PV, errno_queued);
	test_run("errno unchanged by a contended ticket lock interrupted by signals",
		 PVLOCK_MODE_PV, errno_ticket);
	if (UNDER_TSAN)		/* pthread_exit unwinds with malloc from the handler */
		printf("SKIP: a thread that left while queued: ThreadSanitizer rejects the "
		       "pthread_exit from a signal handler this case makes on purpose\n");
	else
		test_run_both("a thread that left while queued: its slot is retired, not reused",
			      left_while_queued_case);
	test_run_both("past the slot limit: one no-node wait each, pv yields",
		      no_node_case);
	if (UNDER_TSAN) {	/* TSan stops a child that starts threads after a fork */
		printf("SKIP: fork x10 with atfork lock/reinit while others wait: "
		       "ThreadSanitizer does not support threads after a multi-threaded fork\n");
	} else {
		test_run_both("fork x10 with atfork lock/reinit while others wait: queued",
			      fork_queued);
		test_run_both("fork x10 with atfork lock/reinit while others wait: ticket",
			      fork_ticket);
		test_run_both("fork x10 with atfork lock/reinit while others wait: tas",
			      fork_tas);
	}
	return test_finish();
}
