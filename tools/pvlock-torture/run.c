#define _GNU_SOURCE
/*
 * run.c - one torture run: one lock type, one mode, in this process.
 * The main thread sets everything up, then drives the run's clock: stutter
 * pauses, churn (joining finished writers and starting replacements) and
 * the end; the watchdog (watchdog.c) makes sure none of that can hang.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

struct run R;

static void die(const char *what, int err)
{
	printf("FAILURE: %s: %s\n", what, strerror(err));
	fflush(stdout);
	exit(EXIT_FAILED);
}

static void set_mode(const struct config *cfg)
{
	if (pvlock_set_mode((enum pvlock_mode)cfg->mode))
		die("pvlock_set_mode", errno);
	if ((int)pvlock_get_mode() != cfg->mode) {
		printf("FAILURE: pvlock_get_mode() says %s after setting %s\n",
		       mode_name((int)pvlock_get_mode()), mode_name(cfg->mode));
		exit(EXIT_FAILED);
	}
	if (cfg->spin_threshold && pvlock_set_spin_threshold(cfg->spin_threshold))
		die("pvlock_set_spin_threshold", errno);
}

/* Start (or restart, under churn) the writer in this position.  Callers
 * hold R.roster once other threads can see the roster. */
void respawn_writer(struct writer *w)
{
	unsigned inc = atomic_fetch_add(&w->incarnations, 1);
	uint64_t now = now_ns();
	int err;

	for (int k = 0; k < LEVELS; k++) {
		w->rng[k] = rnd_seed(R.cfg->seed, (uint64_t)w->id + 1, (uint64_t)inc * LEVELS + (uint64_t)k);
		atomic_store(&w->doing[k], DOING(ACT_IDLE, 0, 0));
	}
	w->life_end_ns = R.cfg->churn ? now + 5000000 + rnd_below(&w->rng[0], 45000000) : UINT64_MAX;
	atomic_store(&w->depth, 0);
	atomic_store(&w->sig_sent, 0);
	atomic_store(&w->sig_handled, 0);
	atomic_store(&w->paused, false);
	atomic_store(&w->tid, 0);
	atomic_store(&w->finished, false);
	atomic_store(&w->last_progress_ns, now);	/* before "running": watchdog */
	atomic_store(&w->running, true);
	atomic_fetch_add(&R.threads_started, 1);
	err = pthread_create(&w->thread, NULL, writer_main, w);
	if (err) {
		atomic_store(&w->running, false);
		die("pthread_create (writer)", err);
	}
}

/* Churn: join writers that reached the end of their life, start new ones. */
static void churn(void)
{
	for (unsigned i = 0; i < R.cfg->threads; i++) {
		struct writer *w = &R.writers[i];

		if (!atomic_load(&w->finished) || !atomic_load(&w->running))
			continue;
		pthread_mutex_lock(&R.roster);
		pthread_join(w->thread, NULL);
		atomic_store(&w->running, false);
		if (!atomic_load(&R.stop))
			respawn_writer(w);
		pthread_mutex_unlock(&R.roster);
	}
}

static void setup(const struct config *cfg)
{
	R.cfg = cfg;
	R.ops = lock_ops_for(cfg->lock);
	R.nlocks[0] = cfg->locks;
	R.locks[0] = locks_alloc(cfg->locks);
	for (unsigned k = 1; cfg->signals && k <= cfg->signal_depth; k++) {
		R.nlocks[k] = HANDLER_LOCKS;
		R.locks[k] = locks_alloc(HANDLER_LOCKS);
	}
	R.writers = aligned_alloc(64, cfg->threads * sizeof(*R.writers));
	if (!R.writers)
		die("allocating writers", ENOMEM);
	memset(R.writers, 0, cfg->threads * sizeof(*R.writers));
	for (unsigned i = 0; i < cfg->threads; i++)
		R.writers[i].id = (int)i;
	pthread_mutex_init(&R.roster, NULL);

	set_mode(cfg);
	faults_apply(cfg);
	pvlock_stats_reset();
	/* Threads inherit the mask: only writers unblock the torture signals. */
	signals_block_all();
	if (cfg->signals)
		signals_install();
}

/* Every writer acquired a lock at least once (report_final() calls a
 * writer that never did starved), and --until holds. */
static bool shown(void)
{
	for (unsigned i = 0; i < R.cfg->threads; i++)
		if (!atomic_load(&R.writers[i].acquisitions))
			return false;
	return !R.cfg->until || until_holds();
}

int run_torture(const struct config *cfg)
{
	uint64_t rng = rnd_seed(cfg->seed, 0x57a7, 0);
	uint64_t next_toggle, next_stat, now;

	setup(cfg);
	report_header();

	R.start_ns = now_ns();
	R.deadline_ns = R.start_ns + (uint64_t)(cfg->duration_s * 1e9);
	R.end_limit_ns = R.deadline_ns + (uint64_t)(cfg->until_max_s * 1e9);
	watchdog_start();
	pthread_mutex_lock(&R.roster);
	for (unsigned i = 0; i < cfg->threads; i++)
		respawn_writer(&R.writers[i]);
	pthread_mutex_unlock(&R.roster);
	signals_start();

	next_toggle = R.start_ns + 200000000 + rnd_below(&rng, 400000000);
	next_stat = R.start_ns + (uint64_t)cfg->stat_interval_s * 1000000000u;
	/* The duration, then on until the run has shown what it must (a
	 * loaded machine gets less done per second), at most until_max_s. */
	while ((now = now_ns()) < R.deadline_ns || (now < R.end_limit_ns && !shown())) {
		if (cfg->stutter && now >= next_toggle) {
			/* Run 200-600 ms, pause 50-150 ms: all writers resume at once. */
			bool pause = !atomic_load(&R.paused);

			atomic_store(&R.paused, pause);
			if (pause)
				atomic_fetch_add(&R.pauses, 1);
			next_toggle = now + (pause ? 50000000 + rnd_below(&rng, 100000000)
						   : 200000000 + rnd_below(&rng, 400000000));
		}
		if (cfg->churn)
			churn();
		if (cfg->stat_interval_s && now >= next_stat) {
			report_progress_line();
			next_stat += (uint64_t)cfg->stat_interval_s * 1000000000u;
		}
		sleep_ns(1000000);
	}

	R.until_met = shown();
	R.ended_ns = now;
	atomic_store(&R.stop, true);
	atomic_store(&R.paused, false);
	signals_stop();
	/* A writer stuck in the library blocks this join: the watchdog reports it. */
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct writer *w = &R.writers[i];

		pthread_mutex_lock(&R.roster);
		if (atomic_load(&w->running)) {
			pthread_join(w->thread, NULL);
			atomic_store(&w->running, false);
		}
		pthread_mutex_unlock(&R.roster);
	}
	watchdog_stop();
	return report_final();
}
