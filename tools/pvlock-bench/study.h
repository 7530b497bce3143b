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

/* One point of the workload grid: what the threads do, apart from the lock. */
struct workload {
	unsigned cs_lines;	/* cache lines written in the critical section */
	unsigned non_cs_ns;	/* busy work between acquisitions */
	unsigned lock_count;	/* locks shared, one at random per acquisition */
	uint64_t non_cs_loops;	/* non_cs_ns in calibrated busy-loop iterations */
};

/* "16 lines, 2us out, 64 locks" (buf of at least 48 bytes). */
const char *workload_label(const struct workload *w, char *buf, size_t n);

/* One child process to run. */
struct job {
	enum study_kind kind;
	const struct lock_adapter *lock;
	unsigned wl;		/* index in study.workloads; 0 for fast path and sweep */
	unsigned threads;
	unsigned threshold;	/* 0: the library's default */
	unsigned rep;		/* 0-based */
	bool callgrind;		/* fast path: the instruction count, not the timing */
	uint64_t members;	/* callgrind: bit i = fp_locks[i] is counted */
	bool done;		/* finished here or taken from the journal */
	bool from_journal;
	struct run_result r;
};

/* The median (and spread) of the ok runs of one configuration. */
struct cell {
	enum study_kind kind;
	const struct lock_adapter *lock;
	unsigned wl;
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
	struct workload *workloads;	/* every cs_lines x non_cs_ns x lock_count */
	unsigned nworkloads;
	unsigned cpus_used;
	struct provenance prov;	/* when, which commit, on what */
	/* The fast path's locks: --locks, and the native-mode twin of each
	 * pv-mode lock there, so pv's cost is always against native mode's. */
	const struct lock_adapter *fp_locks[MAX_LIST];
	unsigned nfp_locks;
	const char *callgrind_note;	/* why instructions were not counted, or NULL */
	double fastpath_ir[MAX_LIST];	/* per fp_locks[i]; NaN if not counted */
	struct job *jobs;
	unsigned njobs;
	struct cell *cells;
	unsigned ncells;
	double started, finished;
	double load_start, load_end;	/* 1-minute load average: how noisy it was */
	bool any_check_failed, any_start_failed;
	unsigned unchecked;	/* ok runs whose stragglers outlived the drain limit */
	unsigned ndone;		/* jobs finished (here or in the journal) */
	unsigned nresumed;	/* of which taken from the journal */
	double resumed_wall_s;	/* the journal's runs' wall time */
	int stop_signal;	/* SIGINT/SIGTERM that stopped the study, or 0 */
	bool budget_stopped;	/* --budget left runs undone */
	FILE *journal;		/* DIR/journal.txt, appended after every run */
};


/* study.c */
void study_plan(struct study *s, const struct options *o);
/* Sets the busy loop's iterations per ns and every workload's loop count. */
void study_set_calibration(struct study *s, double loops_per_ns);
void study_run(struct study *s);
/* The lock of a job, or "a+b+c" for a callgrind job that counts several. */
const char *job_label(const struct study *s, const struct job *j, char *buf, size_t n);
/* "run contention pv-queued 3 8 0 1": what identifies a job in the journal. */
void job_key(const struct job *j, char *buf, size_t n);
/* Counts finished job j (run here or read from the journal) in the study's totals. */
void study_count_done(struct study *s, const struct job *j);
/* summary.c: the cells, from the runs. */
void study_summarize(struct study *s);
/* The cell of a configuration, or NULL if it was not part of the study. */
const struct cell *study_cell(const struct study *s, enum study_kind kind,
			      const char *lock, unsigned threads, unsigned threshold);
/* The same in workload wl (study_cell is workload 0). */
const struct cell *study_cell_wl(const struct study *s, enum study_kind kind, unsigned wl,
				 const char *lock, unsigned threads, unsigned threshold);

/* summary.c: comparisons within one workload and thread count. */
double cell_acq(const struct cell *x);
double cell_jain(const struct cell *x);
double cell_p999(const struct cell *x);
/* The peer of class cls (PEER_NONE: any peer) best at metric, or NULL. */
const struct cell *best_peer(const struct study *s, const struct cell *x, enum peer_class cls,
			     double (*metric)(const struct cell *), bool lower_better);
/* Throughput over the same lock's at 2 threads, and over the best peer's. */
double cell_vs_own_2_threads(const struct study *s, const struct cell *x);
double cell_vs_best(const struct study *s, const struct cell *x, enum peer_class cls);

/*
 * resume.c: the study's journal, DIR/journal.txt (format: journal.c), so a
 * study survives Ctrl-C and runs in chunks.  Opens it fresh, or for
 * --resume after taking its runs; -1 after a message.
 */
int study_journal_open(struct study *s, const char *dir);
void study_journal_close(struct study *s);

/* ---- table.c, export.c, plotdata.c: the outputs -------------------------- */

void report_table(FILE *f, const struct study *s);
void report_grid(FILE *f, const struct study *s);	/* pv-queued vs the best peers */
void report_csv_summary(FILE *f, const struct study *s);
void report_csv_runs(FILE *f, const struct study *s);
void report_json(FILE *f, const struct study *s);
void csv_number(FILE *f, double v);
/* Writes DIR/plot-*.csv and DIR/plot-vars.gp for plot.gp. */
int report_plot_data(const char *dir, const struct study *s);

/* ---- goals.c ------------------------------------------------------------ */

/*
 * The grid goals, per (workload, thread count) cell: at 4x
 * overcommit or more, pv-queued's throughput against the best mutex peer
 * (glibc, absl, TBB), its Jain index, and its p99.9 against the best
 * peer's; at 1-2 threads, its throughput against the best spinlock peer.
 * GOAL_FIXED are the single-workload goals (fast path, CK, tickets).
 */
enum goal_kind { GOAL_FIXED, GOAL_THROUGHPUT, GOAL_JAIN, GOAL_P999, GOAL_SMALL, GOAL_KINDS };

struct goal {
	enum goal_kind kind;
	unsigned wl, threads;	/* the cell, for the grid goals */
	char name[96];		/* what is compared */
	char target[32];	/* ">= 1.00" */
	double value;		/* the measured ratio or index; NaN: not measured */
	const char *peer;	/* the best peer it was compared with, or NULL */
	bool met;
};
/* Every goal from the study's medians, in a malloc'd array; *n how many. */
struct goal *goals_evaluate(const struct study *s, unsigned *n);
/* One line per grid goal kind: "met in 3 of 12 cells". */
const char *goal_kind_text(enum goal_kind k);

#endif /* PVLOCK_BENCH_STUDY_H */
