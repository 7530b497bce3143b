#define _GNU_SOURCE
/*
 * signals.c - signal-handler nesting, the user-space analogue of interrupts.
 *
 * Level k (1..depth) is real-time signal SIGRTMIN+k-1; its handler takes one
 * of the level-k locks.  Why this cannot self-deadlock:
 *   - a thread holds a level-k lock only with the signals of levels 1..k
 *     blocked: in the level-k handler (sa_mask blocks 1..k) or in level-0
 *     code inside irqsave_section() (which blocks them first, like
 *     spin_lock_irqsave);
 *   - so whatever interrupts a holder of a level-k lock runs at a level
 *     above k and takes only locks of that higher level;
 *   - and every context takes locks in increasing level order (writer lock,
 *     then level 1, 2, ...), never the other way round, so no cycle forms
 *     between threads either.
 * Handlers interrupt waiters inside the library's slow paths (often asleep
 * on a futex in pv mode), which is what drives its per-slot node nesting
 * (lock_use_node2..4, and lock_no_node beyond four levels).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

static pthread_t signaller;
static bool signaller_running;

static int sig_of(int level)
{
	return SIGRTMIN + level - 1;
}

static void add_levels(sigset_t *set, int first, int last)
{
	for (int k = first; k <= last; k++)
		sigaddset(set, sig_of(k));
}

/* Short holds; sometimes nest the next level on purpose while holding. */
static void handler_hold(struct writer *w, int level, uint64_t *rng)
{
	uint64_t r = rnd(rng);

	spin_loops((unsigned)r & 255);
	if ((r >> 16) % 4 == 0 && level < (int)R.cfg->signal_depth) {
		atomic_fetch_add(&w->sig_sent, 1);
		atomic_fetch_add_explicit(&R.signals_sent[level + 1], 1, memory_order_relaxed);
		raise(sig_of(level + 1));
	}
}

/* Level-0 code holding a level-k lock with the signals blocked. */
static void irqsave_hold(struct writer *w, int level, uint64_t *rng)
{
	(void)w;
	(void)level;
	spin_loops((unsigned)rnd(rng) & 63);
}

static void handler(int sig, siginfo_t *info, void *uctx)
{
	struct writer *w = self;
	int level = sig - SIGRTMIN + 1;
	int saved_errno = errno;
	int d, deepest;

	(void)info;
	(void)uctx;
	if (!w || level < 1 || level > (int)R.cfg->signal_depth)
		return;
	d = atomic_load_explicit(&w->depth, memory_order_relaxed) + 1;
	if (d == 1)
		atomic_store_explicit(&w->handler_since_ns, now_ns(), memory_order_relaxed);
	atomic_store_explicit(&w->depth, d, memory_order_relaxed);
	deepest = atomic_load_explicit(&R.deepest, memory_order_relaxed);
	while (d > deepest && !atomic_compare_exchange_weak(&R.deepest, &deepest, d))
		;
	atomic_fetch_add_explicit(&R.signals_handled[level], 1, memory_order_relaxed);
	atomic_fetch_add(&w->sig_handled, 1);

	critical_section(w, level, level,
			 (unsigned)rnd_below(&w->rng[level], R.nlocks[level]),
			 &w->rng[level], handler_hold);
	atomic_fetch_add_explicit(&w->handler_acquisitions, 1, memory_order_relaxed);

	atomic_store_explicit(&w->depth, d - 1, memory_order_relaxed);
	errno = saved_errno;
}

void signals_install(void)
{
	for (int k = 1; k <= (int)R.cfg->signal_depth; k++) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = handler;
		sigemptyset(&sa.sa_mask);
		add_levels(&sa.sa_mask, 1, k);
		/* Half the levels restart interrupted futex waits in the kernel,
		 * the other half make the library see EINTR. */
		sa.sa_flags = SA_SIGINFO | (k % 2 ? SA_RESTART : 0);
		if (sigaction(sig_of(k), &sa, NULL)) {
			perror(PROG ": sigaction");
			exit(EXIT_FAILED);
		}
	}
}

/* Every thread but a running writer keeps the torture signals blocked. */
void signals_block_all(void)
{
	sigset_t set;

	sigemptyset(&set);
	add_levels(&set, 1, MAX_SIGNAL_DEPTH);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void signals_unblock(void)
{
	sigset_t set;

	sigemptyset(&set);
	add_levels(&set, 1, MAX_SIGNAL_DEPTH);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* Level-0 code taking a level-k lock: block levels 1..k first. */
void irqsave_section(struct writer *w, uint64_t *rng)
{
	int k = 1 + (int)rnd_below(rng, R.cfg->signal_depth);
	sigset_t set, old;

	sigemptyset(&set);
	add_levels(&set, 1, k);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	critical_section(w, 0, k, (unsigned)rnd_below(rng, R.nlocks[k]), rng, irqsave_hold);
	atomic_fetch_add_explicit(&w->handler_acquisitions, 1, memory_order_relaxed);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Which level to send: preferably one above the level the writer is waiting
 * at, so the handler's lock wait nests inside that slow path (the library's
 * node levels 2-4); otherwise any level, to hit holders and bystanders too.
 */
static int choose_level(struct writer *w, uint64_t *rng)
{
	int depth = (int)R.cfg->signal_depth, top = 0;
	uint32_t doing;

	for (int k = 1; k <= depth; k++)
		if (atomic_load(&w->doing[k]) != DOING(ACT_IDLE, 0, 0))
			top = k;
	doing = atomic_load(&w->doing[top]);
	if (top < depth && doing >> 24 == ACT_ACQUIRING && rnd_below(rng, 4))
		return top + 1 + (int)rnd_below(rng, (uint64_t)(depth - top));
	return 1 + (int)rnd_below(rng, (uint64_t)depth);
}

/*
 * The signaller: every 20-220 us, each writer gets a signal with even odds.
 * It leaves alone:
 *   - a writer whose earlier signal is not handled yet: real-time signals
 *     queue, and a fair lock under overcommit in native mode manages a few
 *     hundred hand-overs a second, so a fixed rate would bury the writers in
 *     handlers and look like a stall;
 *   - a writer that has made no progress for a quarter of --stall: a signal
 *     interrupts a futex sleep, so it would wake a waiter whose kick was
 *     lost and hide exactly the bug the watchdog is there to catch.
 * The roster mutex keeps each pthread_t valid: churn joins and replaces
 * threads only while holding it.
 */
static void *signaller_main(void *arg)
{
	uint64_t rng = rnd_seed(R.cfg->seed, 0x5157, 0);
	uint64_t quiet_ns = (uint64_t)(R.cfg->stall_s * 1e9 / 4);

	(void)arg;
	while (!atomic_load(&R.stop)) {
		sleep_ns(20000 + rnd_below(&rng, 200000));
		pthread_mutex_lock(&R.roster);
		for (unsigned i = 0; i < R.cfg->threads; i++) {
			struct writer *w = &R.writers[i];
			uint64_t last = atomic_load(&w->last_progress_ns);
			int level;

			if (rnd_below(&rng, 2) || !atomic_load(&w->running) ||
			    atomic_load(&w->finished) ||
			    atomic_load(&w->sig_sent) != atomic_load(&w->sig_handled) ||
			    (int64_t)(now_ns() - last) > (int64_t)quiet_ns)
				continue;
			level = choose_level(w, &rng);
			atomic_fetch_add(&w->sig_sent, 1);
			atomic_fetch_add_explicit(&R.signals_sent[level], 1, memory_order_relaxed);
			pthread_kill(w->thread, sig_of(level));
		}
		pthread_mutex_unlock(&R.roster);
	}
	return NULL;
}

void signals_start(void)
{
	int err;

	if (!R.cfg->signals)
		return;
	err = pthread_create(&signaller, NULL, signaller_main, NULL);
	if (err) {
		fprintf(stderr, PROG ": pthread_create (signaller): %s\n", strerror(err));
		exit(EXIT_FAILED);
	}
	signaller_running = true;
}

/* After R.stop is set. */
void signals_stop(void)
{
	if (signaller_running)
		pthread_join(signaller, NULL);
	signaller_running = false;
}
