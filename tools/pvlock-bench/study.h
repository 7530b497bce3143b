/*
 * study.h - the parent side: the planned runs, their results, and the
 * per-configuration summaries (cells) the report is made of.
 */
#ifndef PVLOCK_BENCH_STUDY_H
#define PVLOCK_BENCH_STUDY_H

#include <limits.h>

#include "bench.h"

enum study_kind { STUDY_FASTPATH, STUDY_CONTENTION, STUDY_SWEEP };
const char *study_kind_name(enum study_kind k);

/* One child process to run. */
struct job {
	enum study_kind kind;
	const struct lock_adapter *lock;
	unsigned threads;
	unsigned threshold;	/* 0: the library's default */
	unsigned rep;		/* 0-based */
	bool callgrind;		/* fast path: the instruction count, not the timing */
	uint64_t members;	/* callgrind: bit i = o->locks[i] is counted */
	struct run_result r;
};

/* The median (and spread) of the ok runs of one configuration. */
struct cell {
	enum study_kind kind;
	const struct lock_adapter *lock;
	unsigned threads;
	unsigned threshold;
	unsigned runs, ok, timeouts, failed;
	double acq_med, acq_min, acq_max;
	double cpu_per_macq, vcsw_per_s, ivcsw_per_s;
	double jain, min_max;
	double p50, p99, p999, max;
	double waits_per_s, kicks_per_s, steals_per_s, wake_ns;	/* pvlock only, else NaN */
	unsigned spin_threshold;	/* the threshold the runs actually used */
	double fp_ns_med, fp_ns_min, fp_ns_max;
	double fp_ir;		/* instructions per lock+unlock; NaN if not counted */
};

struct study {
	const struct options *o;
	char exe[PATH_MAX];
	double loops_per_ns;
	uint64_t non_cs_loops;
	unsigned cpus_used;
	const char *callgrind_note;	/* why instructions were not counted, or NULL */
	double fastpath_ir[MAX_LIST];	/* per o->locks[i]; NaN if not counted */
	struct job *jobs;
	unsigned njobs;
	struct cell *cells;
	unsigned ncells;
	double started, finished;
	double load_start, load_end;	/* 1-minute load average: how noisy it was */
	bool any_check_failed, any_start_failed;
	unsigned unchecked;	/* ok runs whose stragglers outlived the drain limit */
};

/* study.c */
void study_plan(struct study *s, const struct options *o);
void study_run(struct study *s);
/* The lock of a job, or "a+b+c" for a callgrind job that counts several. */
const char *job_label(const struct study *s, const struct job *j, char *buf, size_t n);
/* summary.c: the cells, from the runs. */
void study_summarize(struct study *s);
/* The cell of a configuration, or NULL if it was not part of the study. */
const struct cell *study_cell(const struct study *s, enum study_kind kind,
			      const char *lock, unsigned threads, unsigned threshold);

/* ---- table.c, export.c, plotdata.c: the outputs -------------------------- */

void report_table(FILE *f, const struct study *s);
void report_csv_summary(FILE *f, const struct study *s);
void report_csv_runs(FILE *f, const struct study *s);
void report_json(FILE *f, const struct study *s);
void csv_number(FILE *f, double v);
/* Writes DIR/plot-*.csv and DIR/plot-vars.gp for plot.gp. */
int report_plot_data(const char *dir, const struct study *s);

/* ---- goals.c ------------------------------------------------------------ */

enum { MAX_GOALS = 32 };

struct goal {
	char name[96];		/* what is compared */
	char target[16];	/* ">= 1.00" */
	double value;		/* the measured ratio; NaN: not measured */
	bool met;
};
/* Computes every goal from the study's medians; returns how many. */
unsigned goals_evaluate(const struct study *s, struct goal *out, unsigned max);

#endif /* PVLOCK_BENCH_STUDY_H */
