#define _GNU_SOURCE
/*
 * report.c - what a run prints: the configuration, progress lines, the
 * counts, the library's lock statistics and the verdict.  The last line is
 * always "SUCCESS" or "FAILURE: <reasons>"; scripts read "stat NAME VALUE"
 * and "fault NAME VALUE" lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "torture.h"

void report_header(void)
{
	const struct config *c = R.cfg;
	char faults[256];

	faults_describe(c, faults, sizeof(faults));
	printf(PROG ": lock %s, mode %s, %u threads, %u locks, %.1f s, seed %llu, stall %.1f s",
	       lock_name(c->lock), mode_name(c->mode), c->threads, c->locks, c->duration_s,
	       (unsigned long long)c->seed, c->stall_s);
	if (c->spin_threshold)
		printf(", spin threshold %u", c->spin_threshold);
	printf("\ntorture:%s", c->signals || c->churn || c->stutter ? "" : " none");
	if (c->signals)
		printf(" signals (depth %u)", c->signal_depth);
	if (c->churn)
		printf(" churn");
	if (c->stutter)
		printf(" stutter");
	printf("\nfaults: %s\n", faults[0] == ' ' ? faults + 1 : faults);
}

static void totals(uint64_t *writes, uint64_t *handler, uint64_t *max, uint64_t *min)
{
	*writes = *handler = *max = 0;
	*min = UINT64_MAX;
	for (unsigned i = 0; i < R.cfg->threads; i++) {
		uint64_t a = atomic_load(&R.writers[i].acquisitions);

		*writes += a;
		*handler += atomic_load(&R.writers[i].handler_acquisitions);
		*max = a > *max ? a : *max;
		*min = a < *min ? a : *min;
	}
}

void report_progress_line(void)
{
	uint64_t writes, handler, max, min;

	totals(&writes, &handler, &max, &min);
	printf("[%6.1f s] writes %llu (max/min %llu/%llu), handler-level %llu, threads started %llu\n",
	       (double)(now_ns() - R.start_ns) / 1e9, (unsigned long long)writes,
	       (unsigned long long)max, (unsigned long long)min, (unsigned long long)handler,
	       (unsigned long long)atomic_load(&R.threads_started));
}

/* Locks that are not clean: held, queued on, or with an owner recorded. */
void report_locks_held(void)
{
	for (int set = 0; set < LEVELS; set++) {
		for (unsigned i = 0; R.locks[set] && i < R.nlocks[set]; i++) {
			struct torture_lock *l = &R.locks[set][i];
			uint32_t word = R.ops->word(l), owner = l->owner;

			if (R.ops->word_clean(word) && !owner)
				continue;
			printf("  %s lock %u: word 0x%08x", lock_set_name(set), i, word);
			if (owner)
				printf(", owner writer %u level %u", owner / LEVELS - 1, owner % LEVELS);
			printf("\n");
		}
	}
}

void report_stats(void)
{
	struct pvlock_stats s;

	pvlock_stats_read(&s);
	printf("lock events (pvlock_stats_read):\n");
#define PRINT_STAT(name, desc) \
	printf("stat %-20s %12llu  %s\n", #name, (unsigned long long)s.name, desc);
	PVLOCK_STATS_EVENTS(PRINT_STAT)
#undef PRINT_STAT
}

/* Append "; reason" to the verdict. */
__attribute__((format(printf, 3, 4)))
static void reason(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n && n + 2 < len) {
		strcpy(buf + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

static const char *violation_text(enum violation_kind k)
{
	switch (k) {
	case V_ENTER_OWNED: return "entered while another context was inside";
	case V_EXIT_CHANGED: return "owner changed during the critical section";
	case V_NOT_LOCKED: return "lock reads as unlocked while held";
	}
	return "?";
}

static void report_writes(uint64_t writes, uint64_t max, uint64_t min)
{
	/* locktorture's flag: the busiest writer got over twice the least busy's. */
	bool skewed = max / 2 > min;

	printf("writes: total %llu  max/min %llu/%llu%s  per writer:",
	       (unsigned long long)writes, (unsigned long long)max, (unsigned long long)min,
	       skewed ? " ??? (unfair)" : "");
	for (unsigned i = 0; i < R.cfg->threads; i++)
		printf(" %llu", (unsigned long long)atomic_load(&R.writers[i].acquisitions));
	printf("\n");
}

static void report_signals(uint64_t handler)
{
	if (!R.cfg->signals)
		return;
	printf("signals: handler-level acquisitions %llu, deepest nesting %d; sent/handled per level:",
	       (unsigned long long)handler, atomic_load(&R.deepest));
	for (unsigned k = 1; k <= R.cfg->signal_depth; k++)
		printf(" %u: %llu/%llu", k, (unsigned long long)atomic_load(&R.signals_sent[k]),
		       (unsigned long long)atomic_load(&R.signals_handled[k]));
	printf("\n");
}

int report_final(void)
{
	char why[1024] = "";
	uint64_t writes, handler, max, min, counted = 0, v;
	unsigned starved = 0, first_starved = 0;
	struct pvlock_stats s;

	totals(&writes, &handler, &max, &min);
	if (R.ended_ns > R.deadline_ns || R.cfg->until) {
		char missing[80];

		until_describe_missing(missing, sizeof(missing));
		printf("until: %s after %.2f s%s%s\n", R.until_met ? "shown" : "NOT shown",
		       (double)(R.ended_ns - R.start_ns) / 1e9, R.until_met ? "" : "; missing: ",
		       R.until_met ? "" : missing[0] ? missing : "a writer's first acquisition");
	}
	report_writes(writes, max, min);
	report_signals(handler);
	if (R.cfg->churn)
		printf("churn: %llu threads started\n", (unsigned long long)atomic_load(&R.threads_started));
	if (R.cfg->stutter)
		printf("stutter: %llu pauses\n", (unsigned long long)atomic_load(&R.pauses));
	report_stats();
	faults_report();

	v = atomic_load(&R.violations);
	if (v) {
		const struct violation *f = &R.first_violation;

		reason(why, sizeof(why), "mutual exclusion violated %llu times (first: %s lock %d: "
		       "%s; writer %u level %u found writer %d level %d)", (unsigned long long)v,
		       lock_set_name(f->set), f->index, violation_text(f->kind), f->me / LEVELS - 1, f->me % LEVELS,
		       f->found ? (int)(f->found / LEVELS) - 1 : -1, f->found ? (int)(f->found % LEVELS) : -1);
	}
	for (int set = 0; set < LEVELS; set++)
		for (unsigned i = 0; R.locks[set] && i < R.nlocks[set]; i++)
			counted += R.locks[set][i].count;
	if (counted != writes + handler)
		reason(why, sizeof(why), "lost updates: the locks' plain counters total %llu, "
		       "the writers made %llu acquisitions", (unsigned long long)counted,
		       (unsigned long long)(writes + handler));
	for (unsigned i = 0; i < R.cfg->threads; i++)
		if (!atomic_load(&R.writers[i].acquisitions) && !starved++)
			first_starved = i;
	if (starved)
		reason(why, sizeof(why), "starvation: %u writer(s) never acquired a lock (first: writer %u)",
		       starved, first_starved);
	for (int set = 0; set < LEVELS; set++) {
		for (unsigned i = 0; R.locks[set] && i < R.nlocks[set]; i++) {
			uint32_t word = R.ops->word(&R.locks[set][i]);

			if (!R.ops->word_clean(word)) {
				reason(why, sizeof(why), "%s lock %u left as word 0x%08x after all "
				       "threads finished", lock_set_name(set), i, word);
				set = LEVELS;
				break;
			}
		}
	}
	pvlock_stats_read(&s);
	if (s.bad_unlock)
		reason(why, sizeof(why), "the library counted %llu bad unlocks",
		       (unsigned long long)s.bad_unlock);

	if (why[0]) {
		printf("FAILURE: %s\n", why);
		return EXIT_FAILED;
	}
	printf("SUCCESS\n");
	return EXIT_OK;
}
