/*
 * table.c - the study as the human-readable table: fast path, contention,
 * sweep, goals.  Fixed widths and number formats, so two runs of the same
 * study differ only in the measurements.
 */
#include <math.h>
#include <stdlib.h>
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
	fprintf(f, "== fast path: uncontended lock+unlock, one thread locking and a second "
		"thread alive; median of %u runs, each the fastest of 20 chunks ==\n", reps);
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
	fprintf(f, "%-9s %-14s %7s %-17s %5s %5s %8s %7s %7s %5s %7s %7s %7s %7s %7s %7s %7s %8s %7s\n",
		first, "lock", "acq/s", "[min .. max]", "x2thr", "xbest", "cpu-s/M", "vcsw/s",
		"ivcsw/s", "jain", "min/max", "p50", "p99", "p99.9", "max", "waits/s", "kicks/s",
		"steals/s", "wake");
}

static void contention_row(FILE *f, const struct study *s, const struct cell *x,
			   const char *first)
{
	char b[19][32], range[48];

	if (!x->ok) {
		fprintf(f, "%-9s %-14s %7s  (%u runs: %u timed out, %u failed)\n", first,
			x->lock->name, "-", x->runs, x->timeouts, x->failed);
		return;
	}
	snprintf(range, sizeof(range), "[%s .. %s]", si(b[0], x->acq_min), si(b[1], x->acq_max));
	fprintf(f, "%-9s %-14s %7s %-17s %5s %5s %8s %7s %7s %5s %7s %7s %7s %7s %7s %7s %7s %8s %7s%s\n",
		first, x->lock->name, si(b[2], x->acq_med), range,
		fixed(b[17], "%.2f", cell_vs_own_2_threads(s, x)),
		fixed(b[18], "%.2f", cell_vs_best(s, x, PEER_NONE)),
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
	bool partial = false;

	for (unsigned w = 0; w < s->nworkloads; w++) {
		const struct workload *wl = &s->workloads[w];
		unsigned prev = 0;
		char warm[48] = "";

		if (o->warmup_s > 0)
			snprintf(warm, sizeof(warm), " after %.2g s of warm-up", o->warmup_s);
		fprintf(f, "== contention: %u cache line%s in the critical section, %u ns outside, "
			"%u lock%s, %.2g s per run%s, %s, median of %u runs ==\n",
			wl->cs_lines, wl->cs_lines == 1 ? "" : "s", wl->non_cs_ns, wl->lock_count,
			wl->lock_count == 1 ? "" : "s (one at random per acquisition)",
			o->duration_s, warm, cpus_note(s), o->repeat);
		if (o->spin_threshold)
			fprintf(f, "spin threshold: %u\n", o->spin_threshold);
		contention_header(f, "threads");
		for (unsigned i = 0; i < s->ncells; i++) {
			const struct cell *x = &s->cells[i];
			char first[16];

			if (x->kind != STUDY_CONTENTION || x->wl != w)
				continue;
			if (prev && x->threads != prev)
				fputc('\n', f);
			snprintf(first, sizeof(first), "%u", x->threads);
			contention_row(f, s, x, x->threads != prev ? first : "");
			prev = x->threads;
			partial |= x->ok && (x->timeouts || x->failed);
		}
		fputc('\n', f);
	}
	fprintf(f, "x2thr: acq/s over the same lock's at 2 threads; xbest: over the best peer's "
		"(not pvlock) in the same row group\n");
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
		contention_row(f, s, x, x->threshold != prev ? first : "");
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

/*
 * The grid: one row per (workload, thread count), pv-queued against the
 * best peer of each kind, with the grid goals marked.
 */
static const char *mark(const struct goal *g, unsigned n, enum goal_kind kind, unsigned wl,
			unsigned threads)
{
	for (unsigned i = 0; i < n; i++)
		if (g[i].kind == kind && g[i].wl == wl && g[i].threads == threads)
			return isnan(g[i].value) ? "?" : g[i].met ? "ok" : "MISS";
	return "";
}

void report_grid(FILE *f, const struct study *s)
{
	unsigned n;
	struct goal *g = goals_evaluate(s, &n);
	char b[16][32], wlab[64];

	fprintf(f, "== grid: pv-queued against the best peer in each cell (%s) ==\n", cpus_note(s));
	fprintf(f, "%-32s %4s %7s %5s  %-14s %6s %-4s  %-12s %5s %-4s  %5s %5s %-4s  %7s %7s %-4s  %7s %7s\n",
		"workload", "thr", "acq/s", "x2thr", "best mutex", "xbest", "goal",
		"best spin", "xspin", "goal", "jain", "peer", "goal", "p99.9", "peer", "goal",
		"cpu-s/M", "peer");
	for (unsigned w = 0; w < s->nworkloads; w++) {
		for (unsigned i = 0; i < s->ncells; i++) {
			const struct cell *q = &s->cells[i];
			if (q->kind != STUDY_CONTENTION || q->wl != w ||
			    strcmp(q->lock->name, "pv-queued"))
				continue;
			const struct cell *bm = best_peer(s, q, PEER_MUTEX, cell_acq, false);
			const struct cell *bs = best_peer(s, q, PEER_SPIN, cell_acq, false);
			const struct cell *bj = best_peer(s, q, PEER_MUTEX, cell_jain, false);
			const struct cell *bp = best_peer(s, q, PEER_MUTEX, cell_p999, true);
			fprintf(f, "%-32s %4u %7s %5s  %-14s %6s %-4s  %-12s %5s %-4s  %5s %5s %-4s  "
				"%7s %7s %-4s  %7s %7s\n",
				workload_label(&s->workloads[w], wlab, sizeof(wlab)), q->threads,
				si(b[0], q->acq_med), fixed(b[1], "%.2f", cell_vs_own_2_threads(s, q)),
				bm ? bm->lock->name : "-",
				fixed(b[2], "%.2f", bm ? q->acq_med / bm->acq_med : NAN),
				mark(g, n, GOAL_THROUGHPUT, w, q->threads),
				bs ? bs->lock->name : "-",
				fixed(b[3], "%.2f", bs ? q->acq_med / bs->acq_med : NAN),
				mark(g, n, GOAL_SMALL, w, q->threads),
				fixed(b[4], "%.2f", q->jain), fixed(b[5], "%.2f", bj ? bj->jain : NAN),
				mark(g, n, GOAL_JAIN, w, q->threads),
				dur(b[6], q->p999), dur(b[7], bp ? bp->p999 : NAN),
				mark(g, n, GOAL_P999, w, q->threads),
				fixed(b[8], "%.3f", q->cpu_per_macq),
				fixed(b[9], "%.3f", bm ? bm->cpu_per_macq : NAN));
		}
	}
	fprintf(f, "x2thr: pv-queued over its own 2-thread rate; xbest, xspin: over the best "
		"mutex peer (glibc, absl, TBB)\nand the best spinlock peer; jain and p99.9 peer: "
		"the best mutex peer's (highest Jain, lowest p99.9); goal marks: xbest,\njain and p99.9 "
		"at >= 4x overcommit, xspin at 1-2 threads (docs/benchmark.md)\n\n");
	free(g);
}

/* The heat map as text: pv-queued / best peer, one row per workload. */
static void table_heat(FILE *f, const struct study *s)
{
	const struct options *o = s->o;
	char wlab[64], v[32];

	fprintf(f, "== heat map: pv-queued acq/s / the best peer's in each cell "
		"(> 1: pvlock ahead) ==\n%-32s", "workload \\ threads");
	for (unsigned t = 0; t < o->nthreads; t++)
		fprintf(f, " %7u", o->threads[t]);
	fputc('\n', f);
	for (unsigned w = 0; w < s->nworkloads; w++) {
		fprintf(f, "%-32s", workload_label(&s->workloads[w], wlab, sizeof(wlab)));
		for (unsigned t = 0; t < o->nthreads; t++) {
			const struct cell *q = study_cell_wl(s, STUDY_CONTENTION, w, "pv-queued",
							     o->threads[t], o->spin_threshold);
			double r = q ? cell_vs_best(s, q, PEER_NONE) : NAN;
			fprintf(f, " %6s%s", fixed(v, "%.2f", r), isnan(r) ? " " : r >= 1 ? "+" : "-");
		}
		fputc('\n', f);
	}
	fputc('\n', f);
}

static void table_goals(FILE *f, const struct study *s)
{
	unsigned n, met = 0, missed = 0;
	struct goal *g = goals_evaluate(s, &n);
	char v[32];
	bool any_fixed = false;

	fprintf(f, "== goals: ratios of the medians above ==\n");
	unsigned unmeasured = 0;
	for (unsigned i = 0; i < n; i++) {
		if (g[i].kind != GOAL_FIXED)
			continue;
		/* A study of a few locks leaves most fixed goals without data. */
		if (isnan(g[i].value) && s->nworkloads > 1) {
			unmeasured++;
			continue;
		}
		if (!any_fixed)
			fprintf(f, "%-56s %9s  %-8s  %s\n", "goal", "measured", "target", "result");
		any_fixed = true;
		const char *res = isnan(g[i].value) ? "n/a (not measured)" : g[i].met ? "met" : "MISSED";
		fprintf(f, "%-56s %9s  %-8s  %s\n", g[i].name, fixed(v, "%.2f", g[i].value),
			g[i].target, res);
	}
	for (int k = GOAL_THROUGHPUT; k < GOAL_KINDS; k++) {
		unsigned cells = 0, ok = 0;
		const struct goal *worst = NULL;
		for (unsigned i = 0; i < n; i++) {
			if (g[i].kind != (enum goal_kind)k || isnan(g[i].value))
				continue;
			cells++;
			ok += g[i].met;
			bool lower = k == GOAL_P999;
			if (!worst || (lower ? g[i].value > worst->value : g[i].value < worst->value))
				worst = &g[i];
		}
		if (!cells)
			continue;
		fprintf(f, "%-72s met in %3u of %3u cells", goal_kind_text((enum goal_kind)k), ok,
			cells);
		if (worst && !worst->met)
			fprintf(f, "; worst %.2f (%s, vs %s)", worst->value, worst->name,
				worst->peer ? worst->peer : "-");
		fputc('\n', f);
	}
	for (unsigned i = 0; i < n; i++) {
		met += !isnan(g[i].value) && g[i].met;
		missed += !isnan(g[i].value) && !g[i].met;
	}
	if (unmeasured)
		fprintf(f, "(%u fixed goals not shown: their locks were not in this study)\n",
			unmeasured);
	fprintf(f, "%u met, %u missed, %u not measured\n", met, missed, n - met - missed);
	free(g);
}

void report_table(FILE *f, const struct study *s)
{
	const struct options *o = s->o;

	fprintf(f, BENCH_NAME " " BENCH_VERSION ": %u runs in %.0f s on %s; "
		"load average %.2f at the start, %.2f at the end\n", s->ndone - s->nresumed,
		s->finished - s->started, cpus_note(s), s->load_start, s->load_end);
	fprintf(f, "started %s, commit %s, machine %s\n", s->prov.date, s->prov.commit,
		s->prov.machine);
	if (o->autogroup_nice)
		fprintf(f, "each run in a scheduler autogroup of its own at nice %d (--autogroup-nice)\n",
			o->autogroup_nice);
	if (s->nresumed)
		fprintf(f, "plus %u runs (%.0f s) from earlier invocations, read from the journal\n",
			s->nresumed, s->resumed_wall_s);
	if (s->ndone < s->njobs)
		fprintf(f, "INCOMPLETE: %u of %u planned runs finished (%s); %s\n", s->ndone,
			s->njobs, s->stop_signal ? "interrupted" : s->budget_stopped ? "--budget reached"
										: "stopped",
			o->output_dir ? "the same command with --resume continues"
				      : "nothing was saved to resume (a study run with --output DIR "
					"can be continued with --resume)");
	if (lock_left_out()[0])
		fprintf(f, "peers left out of this build: %s\n", lock_left_out());
	fputc('\n', f);
	if (o->fastpath)
		table_fastpath(f, s);
	if (o->contention)
		table_contention(f, s);
	if (o->contention && study_cell_wl(s, STUDY_CONTENTION, 0, "pv-queued", o->threads[0],
					   o->spin_threshold)) {
		report_grid(f, s);
		table_heat(f, s);
	}
	if (o->sweep_hi)
		table_sweep(f, s);
	table_unchecked(f, s);
	table_goals(f, s);
}
