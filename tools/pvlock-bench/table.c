/*
 * table.c - the study as the human-readable table: fast path, contention,
 * sweep, goals.  Fixed widths and number formats, so two runs of the same
 * study differ only in the measurements.
 */
#include <math.h>
#include <string.h>

#include "study.h"

/* ---- number formats ----------------------------------------------------- */

/* Three significant digits with K/M/G: 950, 12.3K, 1.23M.  "-" for NaN. */
static const char *si(char *buf, double v)
{
	static const char *const suffix[] = { "", "K", "M", "G", "T" };
	int k = 0;

	if (isnan(v))
		return strcpy(buf, "-");
	while (fabs(v) >= 999.5 && k < 4) {
		v /= 1000;
		k++;
	}
	if (k == 0)
		sprintf(buf, "%.0f", v);
	else
		sprintf(buf, fabs(v) < 9.995 ? "%.2f%s" : fabs(v) < 99.95 ? "%.1f%s" : "%.0f%s",
			v, suffix[k]);
	return buf;
}

/* Nanoseconds in the unit that keeps three digits: 85ns, 1.23us, 4.5ms. */
static const char *dur(char *buf, double ns)
{
	static const char *const unit[] = { "ns", "us", "ms", "s" };
	int k = 0;

	if (isnan(ns))
		return strcpy(buf, "-");
	while (ns >= 999.5 && k < 3) {
		ns /= 1000;
		k++;
	}
	sprintf(buf, k == 0 || ns >= 99.95 ? "%.0f%s" : ns < 9.995 ? "%.2f%s" : "%.1f%s",
		ns, unit[k]);
	return buf;
}

static const char *fixed(char *buf, const char *fmt, double v)
{
	if (isnan(v))
		return strcpy(buf, "-");
	sprintf(buf, fmt, v);
	return buf;
}

static const char *cpus_note(const struct study *s)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%u CPU%s%s", s->cpus_used, s->cpus_used == 1 ? "" : "s",
		 s->o->cpus ? " (--cpus)" : "");
	return buf;
}

/* "3 ok" or "2 ok, 1 timeout". */
static const char *runs_note(char *buf, const struct cell *c)
{
	int n = sprintf(buf, "%u ok", c->ok);

	if (c->timeouts)
		n += sprintf(buf + n, ", %u timeout", c->timeouts);
	if (c->failed)
		sprintf(buf + n, ", %u failed", c->failed);
	return buf;
}

/* ---- table -------------------------------------------------------------- */

static void table_fastpath(FILE *f, const struct study *s)
{
	char a[32], b[32], c[32], d[32];
	unsigned reps = 0;

	for (unsigned i = 0; i < s->ncells; i++)
		if (s->cells[i].kind == STUDY_FASTPATH && s->cells[i].runs > reps)
			reps = s->cells[i].runs;
	fprintf(f, "== fast path: uncontended lock+unlock, 1 thread; median of %u runs, "
		"each the fastest of 20 chunks ==\n", reps);
	fprintf(f, "%-15s %8s  %-19s %12s  %s\n", "lock", "ns/op", "[min .. max]",
		"instructions", "runs");
	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *x = &s->cells[i];
		char range[48], runs[48];

		if (x->kind != STUDY_FASTPATH)
			continue;
		snprintf(range, sizeof(range), "[%s .. %s]", fixed(b, "%.2f", x->fp_ns_min),
			 fixed(c, "%.2f", x->fp_ns_max));
		fprintf(f, "%-15s %8s  %-19s %12s  %s\n", x->lock->name,
			fixed(a, "%.2f", x->fp_ns_med), range,
			isnan(x->fp_ir) ? "n/a" : fixed(d, "%.1f", x->fp_ir), runs_note(runs, x));
	}
	if (s->callgrind_note)
		fprintf(f, "instructions: %s\n", s->callgrind_note);
	else
		fprintf(f, "instructions: valgrind --tool=callgrind, (I(2N) - I(N)) / N, N = 100000\n");
	fputc('\n', f);
}

static void contention_header(FILE *f, const char *first)
{
	fprintf(f, "%-9s %-14s %7s %-17s %8s %7s %7s %5s %7s %7s %7s %7s %7s %7s %7s %8s %7s\n",
		first, "lock", "acq/s", "[min .. max]", "cpu-s/M", "vcsw/s", "ivcsw/s", "jain",
		"min/max", "p50", "p99", "p99.9", "max", "waits/s", "kicks/s", "steals/s", "wake");
}

static void contention_row(FILE *f, const struct cell *x, const char *first)
{
	char b[17][32], range[48];

	if (!x->ok) {
		fprintf(f, "%-9s %-14s %7s  (%u runs: %u timed out, %u failed)\n", first,
			x->lock->name, "-", x->runs, x->timeouts, x->failed);
		return;
	}
	snprintf(range, sizeof(range), "[%s .. %s]", si(b[0], x->acq_min), si(b[1], x->acq_max));
	fprintf(f, "%-9s %-14s %7s %-17s %8s %7s %7s %5s %7s %7s %7s %7s %7s %7s %7s %8s %7s%s\n",
		first, x->lock->name, si(b[2], x->acq_med), range,
		fixed(b[3], "%.3f", x->cpu_per_macq), si(b[4], x->vcsw_per_s),
		si(b[5], x->ivcsw_per_s), fixed(b[6], "%.2f", x->jain),
		fixed(b[7], "%.2f", x->min_max), dur(b[8], x->p50), dur(b[9], x->p99),
		dur(b[10], x->p999), dur(b[11], x->max), si(b[12], x->waits_per_s),
		si(b[13], x->kicks_per_s), si(b[14], x->steals_per_s), dur(b[15], x->wake_ns),
		x->timeouts || x->failed ? " *" : "");
}

static void table_contention(FILE *f, const struct study *s)
{
	const struct options *o = s->o;
	unsigned prev = 0;
	bool partial = false;

	fprintf(f, "== contention: %u cache line%s in the critical section, %u ns outside, "
		"%.2f s per run, %s, median of %u runs ==\n",
		o->cs_lines, o->cs_lines == 1 ? "" : "s", o->non_cs_ns, o->duration_s,
		cpus_note(s), o->repeat);
	if (o->spin_threshold)
		fprintf(f, "spin threshold: %u\n", o->spin_threshold);
	contention_header(f, "threads");
	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *x = &s->cells[i];
		char first[16];

		if (x->kind != STUDY_CONTENTION)
			continue;
		if (prev && x->threads != prev)
			fputc('\n', f);
		snprintf(first, sizeof(first), "%u", x->threads);
		contention_row(f, x, x->threads != prev ? first : "");
		prev = x->threads;
		partial |= x->ok && (x->timeouts || x->failed);
	}
	fprintf(f, "latency: time to acquire, sampled at 1 in 16 acquisitions on average; "
		"waits, kicks, steals, wake: pvlock statistics\n");
	if (partial)
		fprintf(f, "*: some runs of this row timed out or failed; medians are of the rest\n");
	fputc('\n', f);
}

/* Not a failure: the figures were taken at the stop; only the check was skipped. */
static void table_unchecked(FILE *f, const struct study *s)
{
	if (!s->unchecked)
		return;
	fprintf(f, "note: in %u run%s some waiters were still stuck %.2f s after the stop; "
		"the process was ended and\nthe run's mutual-exclusion check skipped "
		"(its figures were taken at the stop and stand)\n\n",
		s->unchecked, s->unchecked == 1 ? "" : "s", DRAIN_LIMIT_S);
}

static void table_sweep(FILE *f, const struct study *s)
{
	const struct options *o = s->o;
	unsigned prev = 0;

	fprintf(f, "== spin-threshold sweep: %u threads on %s, median of %u runs ==\n",
		o->sweep_threads, cpus_note(s), o->repeat);
	contention_header(f, "threshold");
	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *x = &s->cells[i];
		char first[16];

		if (x->kind != STUDY_SWEEP)
			continue;
		if (prev && x->threshold != prev)
			fputc('\n', f);
		snprintf(first, sizeof(first), "2^%d", __builtin_ctz(x->threshold));
		contention_row(f, x, x->threshold != prev ? first : "");
		prev = x->threshold;
	}
	/* The best threshold per lock, and where the library default stands. */
	for (unsigned k = 0; k < o->nsweep_locks; k++) {
		const struct lock_adapter *l = o->sweep_locks[k];
		const struct cell *best = NULL, *def = NULL;
		char a[32], b[32];

		for (unsigned i = 0; i < s->ncells; i++) {
			const struct cell *x = &s->cells[i];
			if (x->kind != STUDY_SWEEP || x->lock != l || isnan(x->acq_med))
				continue;
			if (!best || x->acq_med > best->acq_med)
				best = x;
			if (x->threshold == PVLOCK_SPIN_THRESHOLD_DEFAULT)
				def = x;
		}
		if (!best)
			continue;
		fprintf(f, "%s: best 2^%d (%s acq/s)", l->name, __builtin_ctz(best->threshold),
			si(a, best->acq_med));
		if (def)
			fprintf(f, "; default 2^%d: %s acq/s, %.0f%% of best",
				__builtin_ctz(PVLOCK_SPIN_THRESHOLD_DEFAULT), si(b, def->acq_med),
				100 * def->acq_med / best->acq_med);
		fputc('\n', f);
	}
	fputc('\n', f);
}

static void table_goals(FILE *f, const struct study *s)
{
	struct goal g[MAX_GOALS];
	unsigned n = goals_evaluate(s, g, MAX_GOALS), met = 0, missed = 0;
	char v[32];

	fprintf(f, "== goals: ratios of the medians above ==\n");
	fprintf(f, "%-56s %9s  %-8s  %s\n", "goal", "measured", "target", "result");
	for (unsigned i = 0; i < n; i++) {
		const char *res = isnan(g[i].value) ? "n/a (not measured)" : g[i].met ? "met" : "MISSED";
		fprintf(f, "%-56s %9s  %-8s  %s\n", g[i].name, fixed(v, "%.2f", g[i].value),
			g[i].target, res);
		met += !isnan(g[i].value) && g[i].met;
		missed += !isnan(g[i].value) && !g[i].met;
	}
	fprintf(f, "%u met, %u missed, %u not measured\n", met, missed, n - met - missed);
}

void report_table(FILE *f, const struct study *s)
{
	const struct options *o = s->o;

	fprintf(f, BENCH_NAME " " BENCH_VERSION ": %u runs in %.0f s on %s; "
		"load average %.2f at the start, %.2f at the end\n\n", s->njobs,
		s->finished - s->started, cpus_note(s), s->load_start, s->load_end);
	if (o->fastpath)
		table_fastpath(f, s);
	if (o->contention)
		table_contention(f, s);
	if (o->sweep_hi)
		table_sweep(f, s);
	table_unchecked(f, s);
	table_goals(f, s);
}
