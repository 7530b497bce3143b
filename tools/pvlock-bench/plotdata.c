/*
 * plotdata.c - the files plot.gp draws from: one row per x value (thread
 * count, or threshold for the sweep), one column or min/median/max triple
 * per lock, and plot-vars.gp naming the locks.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "study.h"

typedef double cell_value(const struct cell *x);
static double v_acq(const struct cell *x) { return x->acq_med; }
static double v_acq_min(const struct cell *x) { return x->acq_min; }
static double v_acq_max(const struct cell *x) { return x->acq_max; }
static double v_p50(const struct cell *x) { return x->p50; }
static double v_p99(const struct cell *x) { return x->p99; }
static double v_p999(const struct cell *x) { return x->p999; }
static double v_minmax(const struct cell *x) { return x->min_max; }
static double v_jain(const struct cell *x) { return x->jain; }

static FILE *open_in(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, BENCH_NAME ": %s: %s\n", path, strerror(errno));
	return f;
}

/*
 * One row per x (thread count, or threshold for the sweep), one column per
 * lock and value: "x,lockA,lockB,..." with empty fields for missing data.
 */
static int wide_file(const char *dir, const char *name, const struct study *s,
		     enum study_kind kind, const struct lock_adapter *const *locks,
		     unsigned nlocks, cell_value *const *vals, unsigned nvals)
{
	FILE *f = open_in(dir, name);
	unsigned xs[MAX_LIST * 24], nx = 0;

	if (!f)
		return -1;
	fputs(kind == STUDY_SWEEP ? "threshold" : "threads", f);
	for (unsigned l = 0; l < nlocks; l++)
		for (unsigned v = 0; v < nvals; v++)
			fprintf(f, ",%s%s", locks[l]->name, v == 0 ? "" : v == 1 ? "_min" : "_max");
	fputc('\n', f);
	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *x = &s->cells[i];
		unsigned key = kind == STUDY_SWEEP ? x->threshold : x->threads;
		bool seen = false;

		if (x->kind != kind)
			continue;
		for (unsigned k = 0; k < nx; k++)
			seen |= xs[k] == key;
		if (seen || nx == sizeof(xs) / sizeof(xs[0]))
			continue;
		xs[nx++] = key;
		fprintf(f, "%u", key);
		for (unsigned l = 0; l < nlocks; l++) {
			const struct cell *c = kind == STUDY_SWEEP
				? study_cell(s, kind, locks[l]->name, x->threads, key)
				: study_cell(s, kind, locks[l]->name, key, x->threshold);
			for (unsigned v = 0; v < nvals; v++)
				csv_number(f, c ? vals[v](c) : NAN);
		}
		fputc('\n', f);
	}
	return fclose(f);
}

int report_plot_data(const char *dir, const struct study *s)
{
	const struct options *o = s->o;
	cell_value *const acq3[] = { v_acq, v_acq_min, v_acq_max };
	cell_value *const p50[] = { v_p50 }, *const p99[] = { v_p99 }, *const p999[] = { v_p999 };
	cell_value *const minmax[] = { v_minmax }, *const jain[] = { v_jain };
	int rc = 0;

	if (o->contention) {
		rc |= wide_file(dir, "plot-throughput.csv", s, STUDY_CONTENTION, o->locks, o->nlocks, acq3, 3);
		rc |= wide_file(dir, "plot-p50.csv", s, STUDY_CONTENTION, o->locks, o->nlocks, p50, 1);
		rc |= wide_file(dir, "plot-p99.csv", s, STUDY_CONTENTION, o->locks, o->nlocks, p99, 1);
		rc |= wide_file(dir, "plot-p999.csv", s, STUDY_CONTENTION, o->locks, o->nlocks, p999, 1);
		rc |= wide_file(dir, "plot-minmax.csv", s, STUDY_CONTENTION, o->locks, o->nlocks, minmax, 1);
		rc |= wide_file(dir, "plot-jain.csv", s, STUDY_CONTENTION, o->locks, o->nlocks, jain, 1);
	}
	if (o->sweep_hi)
		rc |= wide_file(dir, "plot-sweep.csv", s, STUDY_SWEEP, o->sweep_locks,
				o->nsweep_locks, acq3, 3);

	/* The heat map: x = thread count's index, y = workload's, pv-queued / best peer. */
	bool heat = false;
	if (o->contention) {
		FILE *h = open_in(dir, "plot-heat.csv");
		if (!h)
			return -1;
		fputs("threads_index,workload_index,ratio\n", h);
		for (unsigned w = 0; w < s->nworkloads; w++)
			for (unsigned t = 0; t < o->nthreads; t++) {
				const struct cell *q = study_cell_wl(s, STUDY_CONTENTION, w, "pv-queued",
								     o->threads[t], o->spin_threshold);
				double r = q ? cell_vs_best(s, q, PEER_NONE) : NAN;
				if (isnan(r))
					continue;
				heat = true;
				fprintf(h, "%u,%u,%.4g\n", t, w, r);
			}
		rc |= fclose(h);
	}

	/* What plot.gp needs to know about the files above. */
	FILE *f = open_in(dir, "plot-vars.gp");
	if (!f)
		return -1;
	fprintf(f, "have_heat = %d\nheat_nx = %u\nheat_ny = %u\nheat_xtics = \"(", heat,
		o->nthreads, s->nworkloads);
	for (unsigned t = 0; t < o->nthreads; t++)
		fprintf(f, "%s\\\"%u\\\" %u", t ? ", " : "", o->threads[t], t);
	fprintf(f, ")\"\nheat_ytics = \"(");
	for (unsigned w = 0; w < s->nworkloads; w++) {
		char wlab[64];
		fprintf(f, "%s\\\"%s\\\" %u", w ? ", " : "",
			workload_label(&s->workloads[w], wlab, sizeof(wlab)), w);
	}
	fprintf(f, ")\"\n");
	fprintf(f, "# written by " BENCH_NAME " for plot.gp\n");
	fprintf(f, "have_contention = %d\nhave_sweep = %d\n", o->contention, o->sweep_hi != 0);
	fprintf(f, "nlocks = %u\nlocks = \"", o->nlocks);
	for (unsigned i = 0; i < o->nlocks; i++)
		fprintf(f, "%s%s", i ? " " : "", o->locks[i]->name);
	fprintf(f, "\"\nnsweep = %u\nsweep_locks = \"", o->nsweep_locks);
	for (unsigned i = 0; i < o->nsweep_locks; i++)
		fprintf(f, "%s%s", i ? " " : "", o->sweep_locks[i]->name);
	fprintf(f, "\"\ncpus = %u\nsweep_threads = %u\nrepeat = %u\n", s->cpus_used,
		o->sweep_threads, o->repeat);
	fprintf(f, "setup = \"%u CS line%s, %u ns outside, %u lock%s, %.2g s per run, median of %u; "
		"load average %.1f\"\n", s->workloads[0].cs_lines,
		s->workloads[0].cs_lines == 1 ? "" : "s", s->workloads[0].non_cs_ns,
		s->workloads[0].lock_count, s->workloads[0].lock_count == 1 ? "" : "s",
		o->duration_s, o->repeat, (s->load_start + s->load_end) / 2);
	fprintf(f, "setup_heat = \"%.2g s per run after %.2g s warm-up, median of %u\"\n",
		o->duration_s, o->warmup_s, o->repeat);
	rc |= fclose(f);
	return rc ? -1 : 0;
}
