/*
 * pvlock-vm-check - the mutual-exclusion check that tests/programs/vm.sh runs inside
 * the guest (statically linked, like everything in the guest image).
 *
 *   pvlock-vm-check LOCK THREADS SECONDS
 *
 * LOCK is pv-queued (pvlock_t in pv mode), ck-ticket (Concurrency Kit's
 * ticket lock) or none (no lock at all: the negative control).  THREADS
 * threads loop { lock; read the shared counter, spin a little, write it + 1;
 * unlock; count one in a thread-private counter } for SECONDS, and then on
 * until the run has shown what the caller checks (below), for at most 20
 * times SECONDS; then all are joined (no bound here: the caller's VM has a
 * watchdog) and the shared counter must equal the sum of the private ones.
 * (A guest starved by a loaded host may need far longer than SECONDS to
 * show it: the caller judges what was shown, never how fast.)  The spin between
 * read and write widens the window in which a second holder would lose an
 * update, so that `none` does lose updates: if it does not, the check
 * could not have seen a broken lock, and the caller fails the test.
 *
 * What the caller checks: acquisitions; for pv-queued, a slow path; for
 * none, a lost update.
 *
 * One line on stdout (ran: the seconds it actually ran):
 *   vm-check lock=L threads=N seconds=S acquisitions=A counter=C lost=A-C slowpath=K ran=R
 * (slowpath: pvlock's lock_slowpath count, proof that the lock was contended;
 * -1 for locks that are not pvlock's).  Exit status 0 when counter ==
 * acquisitions, 1 when not, 2 on bad usage.
 */
#define _GNU_SOURCE
/* HAVE_CK: set by tools/vm/rules.mk where Concurrency Kit's header is found
 * (libck-dev); without it ck-ticket is refused with one line. */
#ifndef HAVE_CK
#define HAVE_CK 0
#endif
#if HAVE_CK
#include <ck_spinlock.h>
#endif
#include <pthread.h>
#include <pvlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum kind { PV_QUEUED, CK_TICKET, NONE };

static enum kind kind;
static pvlock_t pv_lock = PVLOCK_INIT;
#if HAVE_CK
static ck_spinlock_ticket_t ck_lock = CK_SPINLOCK_TICKET_INITIALIZER;
#define ck_lock_take() ck_spinlock_ticket_lock(&ck_lock)
#define ck_lock_drop() ck_spinlock_ticket_unlock(&ck_lock)
#else
#define ck_lock_take() ((void)0)	/* never used: main refuses ck-ticket */
#define ck_lock_drop() ((void)0)
#endif
static volatile unsigned long counter;
static int stop;	/* written by main, read by workers: __atomic, relaxed is enough (a flag) */

static void *worker(void *arg)
{
	unsigned long *mine = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (kind == PV_QUEUED)
			pvlock_lock(&pv_lock);
		else if (kind == CK_TICKET)
			ck_lock_take();
		unsigned long v = counter;
		for (volatile int i = 0; i < 20; i++)
			;
		counter = v + 1;
		if (kind == PV_QUEUED)
			pvlock_unlock(&pv_lock);
		else if (kind == CK_TICKET)
			ck_lock_drop();
		__atomic_store_n(mine, *mine + 1, __ATOMIC_RELAXED);	/* shown() reads it */
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Has the run shown what the caller checks?  The private counters are read
 * before the shared one: a sum that exceeds the counter read after it
 * proves a lost update (in-flight increments only make the counter larger). */
static bool shown(unsigned long (*count)[8], long n)
{
	unsigned long total = 0;

	for (long i = 0; i < n; i++)
		total += __atomic_load_n(&count[i][0], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (total == 0)
		return false;
	switch (kind) {
	case PV_QUEUED: {
		struct pvlock_stats st;
		pvlock_stats_read(&st);
		return st.lock_slowpath > 0;
	}
	case CK_TICKET:
		return true;
	case NONE:
		return total > counter;
	}
	return true;
}

int main(int argc, char **argv)
{
	const char *usage = "usage: pvlock-vm-check pv-queued|ck-ticket|none THREADS(1..256) SECONDS(0.1..60)";
	if (argc != 4) {
		fprintf(stderr, "%s\n", usage);
		return 2;
	}
	if (!strcmp(argv[1], "pv-queued"))
		kind = PV_QUEUED;
	else if (!strcmp(argv[1], "ck-ticket") && !HAVE_CK) {
		fprintf(stderr, "pvlock-vm-check: 'ck-ticket' was left out of this build "
			"(it needs libck-dev); %s\n", usage);
		return 2;
	} else if (!strcmp(argv[1], "ck-ticket"))
		kind = CK_TICKET;
	else if (!strcmp(argv[1], "none"))
		kind = NONE;
	else {
		fprintf(stderr, "pvlock-vm-check: unknown lock '%s'; %s\n", argv[1], usage);
		return 2;
	}
	char *end_n, *end_s;
	long n = strtol(argv[2], &end_n, 10);
	double secs = strtod(argv[3], &end_s);
	if (*end_n || *end_s || n < 1 || n > 256 || !(secs >= 0.1 && secs <= 60)) {
		fprintf(stderr, "pvlock-vm-check: bad THREADS or SECONDS; %s\n", usage);
		return 2;
	}
	if (kind == PV_QUEUED && (pvlock_set_mode(PVLOCK_MODE_PV) || pvlock_get_mode() != PVLOCK_MODE_PV)) {
		fprintf(stderr, "pvlock-vm-check: cannot set pv mode\n");
		return 1;
	}

	pthread_t tid[256];
	unsigned long count[256][8];	/* one private counter per thread, 64 bytes apart */
	memset(count, 0, sizeof(count));
	for (long i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, worker, count[i])) {
			fprintf(stderr, "pvlock-vm-check: pthread_create failed\n");
			return 1;
		}
	double started = now_s();
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);
	while (!shown(count, n) && now_s() - started < 20 * secs) {
		struct timespec tick = { 0, 10000000 };
		nanosleep(&tick, NULL);
	}
	double ran = now_s() - started;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	unsigned long total = 0;
	for (long i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		total += count[i][0];
	}
	/* pthread_join orders every worker's last write before these reads. */
	long long slowpath = -1;
	if (kind == PV_QUEUED) {
		struct pvlock_stats st;
		pvlock_stats_read(&st);
		slowpath = (long long)st.lock_slowpath;
	}
	printf("vm-check lock=%s threads=%ld seconds=%g acquisitions=%lu counter=%lu lost=%ld "
	       "slowpath=%lld ran=%.2f\n", argv[1], n, secs, total, counter,
	       (long)(total - counter), slowpath, ran);
	return counter == total ? 0 : 1;
}
