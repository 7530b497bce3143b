/*
 * export.c - the study as CSV (medians per configuration, and every run)
 * and as one JSON document.  Missing values: empty CSV fields, JSON null.
 */
#include <math.h>
#include <stdlib.h>

#include "study.h"

/* ---- CSV ---------------------------------------------------------------- */

/* ",value" with six significant digits, or "," for a missing value. */
void csv_number(FILE *f, double v)
{
	if (isnan(v))
		fputs(",", f);
	else
		fprintf(f, ",%.6g", v);
}

void report_csv_summary(FILE *f, const struct study *s)
{
	fprintf(f, "study,lock,mode,threads,cpus,spin_threshold,runs,ok,timeouts,"
		"acq_per_s_median,acq_per_s_min,acq_per_s_max,cpu_s_per_macq,vcsw_per_s,"
		"ivcsw_per_s,jain,min_max,lat_p50_ns,lat_p99_ns,lat_p999_ns,lat_max_ns,"
		"pv_waits_per_s,pv_kicks_per_s,pv_steals_per_s,pv_wake_ns,"
		"fastpath_ns_median,fastpath_ns_min,fastpath_ns_max,fastpath_instructions,"
		"cs_lines,non_cs_ns,lock_count,acq_vs_own_2_threads,acq_vs_best_mutex,"
		"date,commit,machine\n");
	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *x = &s->cells[i];

		fprintf(f, "%s,%s,%s,%u,%u,", study_kind_name(x->kind), x->lock->name,
			lock_mode_name(x->lock), x->threads, s->cpus_used);
		if (x->lock->is_pvlock && x->spin_threshold)
			fprintf(f, "%u", x->spin_threshold);
		fprintf(f, ",%u,%u,%u", x->runs, x->ok, x->timeouts);
		double v[] = { x->acq_med, x->acq_min, x->acq_max, x->cpu_per_macq, x->vcsw_per_s,
			       x->ivcsw_per_s, x->jain, x->min_max, x->p50, x->p99, x->p999, x->max,
			       x->waits_per_s, x->kicks_per_s, x->steals_per_s, x->wake_ns,
			       x->fp_ns_med, x->fp_ns_min, x->fp_ns_max, x->fp_ir };
		for (unsigned k = 0; k < sizeof(v) / sizeof(v[0]); k++)
			csv_number(f, v[k]);
		const struct workload *w = &s->workloads[x->wl];
		fprintf(f, ",%u,%u,%u", w->cs_lines, w->non_cs_ns, w->lock_count);
		csv_number(f, cell_vs_own_2_threads(s, x));
		csv_number(f, cell_vs_best(s, x, PEER_MUTEX));
		fprintf(f, ",%s,%s,%s\n", s->prov.date, s->prov.commit, s->prov.machine);
	}
}

void report_csv_runs(FILE *f, const struct study *s)
{
	fprintf(f, "study,lock,mode,threads,cpus,requested_threshold,rep,callgrind,status,wall_s");
	fputs(",cs_lines,non_cs_ns,lock_count,from_journal", f);
#define HDR_U(name) fputs("," #name, f);
#define HDR_D(name) fputs("," #name, f);
	RUN_FIELDS(HDR_U, HDR_D)
#define HDR_STAT(name, desc) fputs(",pv_" #name, f);
	PVLOCK_STATS_EVENTS(HDR_STAT)
	fputc('\n', f);
	for (unsigned i = 0; i < s->njobs; i++) {
		const struct job *j = &s->jobs[i];
		const struct run_result *r = &j->r;
		char label[MAX_LIST * 24];

		if (!j->done)
			continue;
		fprintf(f, "%s,%s,%s,%u,%u,%u,%u,%d,%s", study_kind_name(j->kind),
			job_label(s, j, label, sizeof(label)),
			lock_mode_name(j->lock), j->threads, s->cpus_used, j->threshold, j->rep + 1,
			j->callgrind, run_status_name(r->status));
		csv_number(f, r->wall_s);
		const struct workload *w = &s->workloads[j->wl];
		fprintf(f, ",%u,%u,%u,%d", w->cs_lines, w->non_cs_ns, w->lock_count, j->from_journal);
#define ROW_U(name) fprintf(f, ",%llu", (unsigned long long)r->name);
#define ROW_D(name) csv_number(f, r->name);
		RUN_FIELDS(ROW_U, ROW_D)
#define ROW_STAT(name, desc) \
		if (r->has_stats) fprintf(f, ",%llu", (unsigned long long)r->st.name); else fputs(",", f);
		PVLOCK_STATS_EVENTS(ROW_STAT)
		fputc('\n', f);
	}
}

/* ---- JSON --------------------------------------------------------------- */

static void json_num(FILE *f, const char *key, double v, bool comma)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
	else
		fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
}

/* Names here are ours (lock names, goal text): no character needs escaping. */
static void json_cell(FILE *f, const struct study *s, const struct cell *x, bool last)
{
	const struct workload *w = &s->workloads[x->wl];

	fprintf(f, "    {\"lock\": \"%s\", \"mode\": \"%s\", \"threads\": %u, ", x->lock->name,
		lock_mode_name(x->lock), x->threads);
	if (x->kind == STUDY_CONTENTION)
		fprintf(f, "\"cs_lines\": %u, \"non_cs_ns\": %u, \"lock_count\": %u, ",
			w->cs_lines, w->non_cs_ns, w->lock_count);
	if (x->lock->is_pvlock && x->spin_threshold)
		fprintf(f, "\"spin_threshold\": %u, ", x->spin_threshold);
	fprintf(f, "\"runs\": %u, \"ok\": %u, \"timeouts\": %u, ", x->runs, x->ok, x->timeouts);
	if (x->kind == STUDY_FASTPATH) {
		json_num(f, "ns_median", x->fp_ns_med, true);
		json_num(f, "ns_min", x->fp_ns_min, true);
		json_num(f, "ns_max", x->fp_ns_max, true);
		json_num(f, "instructions", x->fp_ir, false);
	} else {
		json_num(f, "acq_per_s_median", x->acq_med, true);
		json_num(f, "acq_per_s_min", x->acq_min, true);
		json_num(f, "acq_per_s_max", x->acq_max, true);
		json_num(f, "cpu_s_per_macq", x->cpu_per_macq, true);
		json_num(f, "vcsw_per_s", x->vcsw_per_s, true);
		json_num(f, "ivcsw_per_s", x->ivcsw_per_s, true);
		json_num(f, "jain", x->jain, true);
		json_num(f, "min_max", x->min_max, true);
		json_num(f, "lat_p50_ns", x->p50, true);
		json_num(f, "lat_p99_ns", x->p99, true);
		json_num(f, "lat_p999_ns", x->p999, true);
		json_num(f, "lat_max_ns", x->max, true);
		json_num(f, "pv_waits_per_s", x->waits_per_s, true);
		json_num(f, "pv_kicks_per_s", x->kicks_per_s, true);
		json_num(f, "pv_steals_per_s", x->steals_per_s, true);
		json_num(f, "pv_wake_ns", x->wake_ns, true);
		json_num(f, "acq_vs_own_2_threads", cell_vs_own_2_threads(s, x), true);
		json_num(f, "acq_vs_best_mutex", cell_vs_best(s, x, PEER_MUTEX), false);
	}
	fprintf(f, "}%s\n", last ? "" : ",");
}

static void json_cells(FILE *f, const struct study *s, enum study_kind kind, bool last)
{
	unsigned n = 0, k = 0;

	for (unsigned i = 0; i < s->ncells; i++)
		n += s->cells[i].kind == kind;
	fprintf(f, "  \"%s\": [\n", study_kind_name(kind));
	for (unsigned i = 0; i < s->ncells; i++)
		if (s->cells[i].kind == kind)
			json_cell(f, s, &s->cells[i], ++k == n);
	fprintf(f, "  ]%s\n", last ? "" : ",");
}

static void json_run(FILE *f, const struct study *s, const struct job *j, bool last)
{
	const struct run_result *r = &j->r;
	char label[MAX_LIST * 24];

	const struct workload *w = &s->workloads[j->wl];

	fprintf(f, "    {\"study\": \"%s\", \"lock\": \"%s\", \"threads\": %u, "
		"\"cs_lines\": %u, \"non_cs_ns\": %u, \"lock_count\": %u, \"from_journal\": %s, "
		"\"requested_threshold\": %u, \"rep\": %u, \"callgrind\": %s, \"status\": \"%s\", ",
		study_kind_name(j->kind), job_label(s, j, label, sizeof(label)), j->threads,
		w->cs_lines, w->non_cs_ns, w->lock_count, j->from_journal ? "true" : "false",
		j->threshold, j->rep + 1,
		j->callgrind ? "true" : "false", run_status_name(r->status));
	json_num(f, "wall_s", r->wall_s, true);
#define JSON_U(name) fprintf(f, "\"" #name "\": %llu, ", (unsigned long long)r->name);
#define JSON_D(name) json_num(f, #name, r->name, true);
	RUN_FIELDS(JSON_U, JSON_D)
	if (r->has_stats) {
		fputs("\"pvlock_stats\": {", f);
		const char *sep = "";
#define JSON_STAT(name, desc) \
		fprintf(f, "%s\"" #name "\": %llu", sep, (unsigned long long)r->st.name); sep = ", ";
		PVLOCK_STATS_EVENTS(JSON_STAT)
		fputs("}", f);
	} else {
		fputs("\"pvlock_stats\": null", f);
	}
	fprintf(f, "}%s\n", last ? "" : ",");
}

void report_json(FILE *f, const struct study *s)
{
	const struct options *o = s->o;
	unsigned ng;
	struct goal *g = goals_evaluate(s, &ng);

	fprintf(f, "{\n  \"tool\": \"" BENCH_NAME "\", \"version\": \"" BENCH_VERSION "\",\n");
	fprintf(f, "  \"date\": \"%s\", \"commit\": \"%s\",\n", s->prov.date, s->prov.commit);
	fprintf(f, "  \"config\": {\"cs_lines\": %u, \"non_cs_ns\": %u, \"duration_s\": %.6g, "
		"\"warmup_s\": %.6g, \"cpus\": %u, \"repeat\": %u, \"seed\": %llu, "
		"\"spin_threshold\": %u, \"sweep_threads\": %u, \"fastpath_iters\": %llu, "
		"\"autogroup_nice\": %d, \"workloads\": [", s->workloads[0].cs_lines,
		s->workloads[0].non_cs_ns, o->duration_s, o->warmup_s, s->cpus_used, o->repeat,
		(unsigned long long)o->seed, o->spin_threshold, o->sweep_threads,
		(unsigned long long)o->fastpath_iters, o->autogroup_nice);
	for (unsigned i = 0; i < s->nworkloads; i++)
		fprintf(f, "%s{\"cs_lines\": %u, \"non_cs_ns\": %u, \"lock_count\": %u, "
			"\"non_cs_loops\": %llu}", i ? ", " : "", s->workloads[i].cs_lines,
			s->workloads[i].non_cs_ns, s->workloads[i].lock_count,
			(unsigned long long)s->workloads[i].non_cs_loops);
	fprintf(f, "]},\n");
	fprintf(f, "  \"machine\": {\"name\": \"%s\", \"cpus_allowed\": %u, "
		"\"busy_loops_per_ns\": %.6g, \"non_cs_loops\": %llu},\n", s->prov.machine,
		cpus_allowed(), s->loops_per_ns,
		(unsigned long long)s->workloads[0].non_cs_loops);
	fprintf(f, "  \"runs_finished\": %u, \"runs_planned\": %u, \"runs_from_journal\": %u, "
		"\"interrupted_by\": %s, \"budget_stopped\": %s, \"peers_left_out\": \"%s\",\n",
		s->ndone, s->njobs, s->nresumed,
		s->stop_signal == 0 ? "null" : s->stop_signal == 2 ? "\"SIGINT\"" : "\"SIGTERM\"",
		s->budget_stopped ? "true" : "false", lock_left_out());
	fprintf(f, "  \"elapsed_s\": %.1f,\n", s->finished - s->started);
	fputs("  ", f);
	json_num(f, "load_average_start", s->load_start, true);
	json_num(f, "load_average_end", s->load_end, false);
	fputs(",\n", f);
	if (s->callgrind_note)
		fprintf(f, "  \"instructions_note\": \"%s\",\n", s->callgrind_note);
	json_cells(f, s, STUDY_FASTPATH, false);
	json_cells(f, s, STUDY_CONTENTION, false);
	json_cells(f, s, STUDY_SWEEP, false);
	fprintf(f, "  \"goals\": [\n");
	for (unsigned i = 0; i < ng; i++) {
		fprintf(f, "    {\"goal\": \"%s\", \"kind\": %d, \"target\": \"%s\", \"peer\": \"%s\", ",
			g[i].name, (int)g[i].kind, g[i].target, g[i].peer ? g[i].peer : "");
		json_num(f, "measured", g[i].value, true);
		fprintf(f, "\"result\": \"%s\"}%s\n",
			isnan(g[i].value) ? "n/a" : g[i].met ? "met" : "missed",
			i + 1 == ng ? "" : ",");
	}
	fprintf(f, "  ],\n  \"runs\": [\n");
	unsigned last = 0;
	for (unsigned i = 0; i < s->njobs; i++)
		if (s->jobs[i].done)
			last = i;
	for (unsigned i = 0; i < s->njobs; i++)
		if (s->jobs[i].done)
			json_run(f, s, &s->jobs[i], i == last);
	fprintf(f, "  ]\n}\n");
	free(g);
}
