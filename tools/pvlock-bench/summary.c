/*
 * summary.c - one cell per configuration (study, lock, threads, threshold):
 * the median of each metric over its ok runs, and the spread of the
 * throughput (min and max) so a reader can see how noisy the cell was.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "study.h"

const struct cell *study_cell_wl(const struct study *s, enum study_kind kind, unsigned wl,
				 const char *lock, unsigned threads, unsigned threshold)
{
	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *c = &s->cells[i];
		if (c->kind == kind && c->wl == wl && !strcmp(c->lock->name, lock) &&
		    c->threads == threads && c->threshold == threshold)
			return c;
	}
	return NULL;
}

const struct cell *study_cell(const struct study *s, enum study_kind kind,
			      const char *lock, unsigned threads, unsigned threshold)
{
	return study_cell_wl(s, kind, 0, lock, threads, threshold);
}

/* Median of the non-NaN values (a run without kicks has no wake latency). */
static double median_valid(double *v, unsigned n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[k++] = v[i];
	return median_of(v, k);
}

enum { M_ACQ, M_CPU, M_VCSW, M_IVCSW, M_JAIN, M_MINMAX, M_P50, M_P99, M_P999, M_MAX,
       M_WAITS, M_KICKS, M_STEALS, M_WAKE, M_FPNS, M_COUNT };

static void summarize_cell(struct study *s, struct cell *c)
{
	unsigned cap = s->njobs, n = 0;
	double *v[M_COUNT];

	for (int m = 0; m < M_COUNT; m++)
		v[m] = xcalloc(cap, sizeof(double));
	c->fp_ir = NAN;
	for (unsigned i = 0; i < s->nfp_locks; i++)
		if (c->kind == STUDY_FASTPATH && s->fp_locks[i] == c->lock)
			c->fp_ir = s->fastpath_ir[i];
	for (unsigned i = 0; i < s->njobs; i++) {
		const struct job *j = &s->jobs[i];
		const struct run_result *r = &j->r;

		if (j->kind != c->kind || j->lock != c->lock || j->wl != c->wl ||
		    j->threads != c->threads || j->threshold != c->threshold)
			continue;
		if (j->callgrind || !j->done)
			continue;
		c->runs++;
		if (r->status == RUN_TIMEOUT)
			c->timeouts++;
		if (r->status != RUN_OK) {
			c->failed += r->status != RUN_TIMEOUT;
			continue;
		}
		c->ok++;
		c->spin_threshold = (unsigned)r->spin_threshold;
		double el = r->elapsed_s;
		v[M_ACQ][n] = r->acq_per_s;
		v[M_CPU][n] = r->cpu_s_per_macq;
		v[M_VCSW][n] = r->vcsw_per_s;
		v[M_IVCSW][n] = r->ivcsw_per_s;
		v[M_JAIN][n] = r->jain;
		v[M_MINMAX][n] = r->min_max;
		v[M_P50][n] = r->lat_p50_ns;
		v[M_P99][n] = r->lat_p99_ns;
		v[M_P999][n] = r->lat_p999_ns;
		v[M_MAX][n] = r->lat_max_ns;
		v[M_WAITS][n] = r->has_stats ? result_waits(r) / el : NAN;
		v[M_KICKS][n] = r->has_stats ? result_kicks(r) / el : NAN;
		v[M_STEALS][n] = r->has_stats ? result_steals(r) / el : NAN;
		v[M_WAKE][n] = r->has_stats ? result_wake_ns(r) : NAN;
		v[M_FPNS][n] = r->fastpath_ns;
		n++;
	}
	c->acq_min = min_of(v[M_ACQ], n);
	c->acq_max = max_of(v[M_ACQ], n);
	c->fp_ns_min = min_of(v[M_FPNS], n);
	c->fp_ns_max = max_of(v[M_FPNS], n);
	c->acq_med = median_valid(v[M_ACQ], n);
	c->cpu_per_macq = median_valid(v[M_CPU], n);
	c->vcsw_per_s = median_valid(v[M_VCSW], n);
	c->ivcsw_per_s = median_valid(v[M_IVCSW], n);
	c->jain = median_valid(v[M_JAIN], n);
	c->min_max = median_valid(v[M_MINMAX], n);
	c->p50 = median_valid(v[M_P50], n);
	c->p99 = median_valid(v[M_P99], n);
	c->p999 = median_valid(v[M_P999], n);
	c->max = median_valid(v[M_MAX], n);
	c->waits_per_s = median_valid(v[M_WAITS], n);
	c->kicks_per_s = median_valid(v[M_KICKS], n);
	c->steals_per_s = median_valid(v[M_STEALS], n);
	c->wake_ns = median_valid(v[M_WAKE], n);
	c->fp_ns_med = median_valid(v[M_FPNS], n);
	for (int m = 0; m < M_COUNT; m++)
		free(v[m]);
}

void study_summarize(struct study *s)
{
	s->cells = xcalloc(s->njobs, sizeof(*s->cells));
	/* Cells in first-appearance order: the plan's order, without repeats. */
	for (unsigned i = 0; i < s->njobs; i++) {
		const struct job *j = &s->jobs[i];

		if (!j->done || study_cell_wl(s, j->kind, j->wl, j->lock->name, j->threads,
					      j->threshold))
			continue;
		struct cell *c = &s->cells[s->ncells++];
		c->kind = j->kind;
		c->lock = j->lock;
		c->wl = j->wl;
		c->threads = j->threads;
		c->threshold = j->threshold;
	}
	for (unsigned i = 0; i < s->ncells; i++)
		summarize_cell(s, &s->cells[i]);
}

/* ---- comparisons between cells of one workload and thread count ---------- */

/* The peer cell of class cls (PEER_NONE: any peer) with the best value of
 * metric (highest, or lowest with lower_better), or NULL. */
const struct cell *best_peer(const struct study *s, const struct cell *x, enum peer_class cls,
			     double (*metric)(const struct cell *), bool lower_better)
{
	const struct cell *best = NULL;

	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *c = &s->cells[i];
		if (c->kind != x->kind || c->wl != x->wl || c->threads != x->threads ||
		    c->threshold != x->threshold || c->lock->peer_class == PEER_NONE ||
		    (cls != PEER_NONE && c->lock->peer_class != cls) || isnan(metric(c)))
			continue;
		if (!best || (lower_better ? metric(c) < metric(best) : metric(c) > metric(best)))
			best = c;
	}
	return best;
}

double cell_acq(const struct cell *x) { return x->acq_med; }
double cell_jain(const struct cell *x) { return x->jain; }
double cell_p999(const struct cell *x) { return x->p999; }

double cell_vs_own_2_threads(const struct study *s, const struct cell *x)
{
	const struct cell *two = x->kind == STUDY_CONTENTION
		? study_cell_wl(s, x->kind, x->wl, x->lock->name, 2, x->threshold) : NULL;

	return two && two->acq_med > 0 ? x->acq_med / two->acq_med : NAN;
}

double cell_vs_best(const struct study *s, const struct cell *x, enum peer_class cls)
{
	const struct cell *b = x->kind == STUDY_CONTENTION ? best_peer(s, x, cls, cell_acq, false)
							    : NULL;

	return b && b->acq_med > 0 ? x->acq_med / b->acq_med : NAN;
}
