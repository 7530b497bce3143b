/*
 * bench.h - pvlock-bench: types shared by the parent (the study) and the
 * child (one measured run in a fresh process).
 *
 * The parent plans runs, re-executes itself once per run with --run-one or
 * --run-fastpath, reads one result line back over a pipe, and reports medians.
 * A fresh process per run is required, not a convenience: pvlock's mode is
 * process-wide and frozen by the first slow path, and its statistics are
 * process-wide too.
 */
#ifndef PVLOCK_BENCH_H
#define PVLOCK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pvlock.h>

#include "loops.h"	/* the measured loops; also compiled as C++ by peers.cc */

#define BENCH_NAME	"pvlock-bench"
#define BENCH_VERSION	"0.1.0"

enum {
	MAX_THREADS = 1024,
	MAX_LIST = 64,		/* entries of --threads / --locks */
	MAX_CS_LINES = 4096,
	MAX_LOCK_COUNT = 1024,
};

/* ---- options (options.c) ------------------------------------------------ */

/*
 * How long a child's workers get to notice the stop flag before the run is
 * reported without its mutual-exclusion check.  Short: the figures are
 * already taken, and every collapsed run would otherwise pay it in full.
 */
#define DRAIN_LIMIT_S 0.15

enum output_format { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON };
enum child_role { ROLE_STUDY, ROLE_RUN_ONE, ROLE_RUN_FASTPATH };

struct lock_adapter;

struct options {
	enum child_role role;
	const struct lock_adapter *locks[MAX_LIST];
	unsigned nlocks;
	unsigned threads[MAX_LIST];
	unsigned nthreads;
	/* The workload grid: every combination of these three lists. */
	unsigned cs_lines[MAX_LIST];
	unsigned ncs_lines;
	unsigned non_cs_ns[MAX_LIST];
	unsigned nnon_cs_ns;
	unsigned lock_counts[MAX_LIST];	/* locks shared; one at random per acquisition */
	unsigned nlock_counts;
	double duration_s;		/* measured, after the warm-up */
	double warmup_s;		/* run, not measured */
	unsigned cpus;			/* 0: every CPU the process may use */
	unsigned repeat;
	uint64_t seed;
	enum output_format format;
	const char *output_dir;		/* NULL: write no files */
	bool resume;			/* continue the study in output_dir's journal */
	double budget_s;		/* 0: none; else start no run that would end later */
	unsigned spin_threshold;	/* 0: the library's default */
	bool contention;		/* run the lock x threads study */
	bool fastpath;			/* run the uncontended fast-path table */
	unsigned sweep_lo, sweep_hi;	/* exponents; sweep_hi == 0: no sweep */
	unsigned sweep_threads;
	const struct lock_adapter *sweep_locks[MAX_LIST];
	unsigned nsweep_locks;
	uint64_t fastpath_iters;
	double grace_s;			/* extra time before a child is killed */
	int autogroup_nice;		/* 0: leave the children's autogroups alone */
	bool quiet;
	/* internal, set by the parent for its children */
	uint64_t non_cs_loops;		/* busy-loop iterations for non_cs_ns */
	bool callgrind;			/* --run-fastpath under callgrind */
};

/* Parses argv into *o; prints one error line and exits 2 on a bad value. */
void options_parse(struct options *o, int argc, char **argv);
void options_usage(FILE *f);

/* ---- lock adapters (locks.c) -------------------------------------------- */

/*
 * One lock under test.  run_worker and run_fastpath are generated per lock
 * so that the lock and unlock calls are inlined into the measured loops: an
 * indirect call per acquisition would hide the fast-path differences we
 * exist to measure.
 */
/* What a peer is compared as: the goals take the best of each class. */
enum peer_class { PEER_NONE, PEER_MUTEX, PEER_SPIN };

struct lock_adapter {
	const char *name;		/* as given to --locks */
	const char *what;		/* one line for --help */
	bool is_pvlock;			/* has pvlock statistics */
	int pv_mode;			/* PVLOCK_MODE_* for pvlock locks, else -1 */
	enum peer_class peer_class;	/* PEER_NONE for pvlock's own locks */
	const char *backend;		/* NAME@futex / NAME@bpf: PVLOCK_BACKEND of its runs */
	size_t size;			/* bytes of the lock object */
	void (*init)(void *lock);
	void (*destroy)(void *lock);
	void (*run_worker)(struct worker *w, void *lock);
	void (*run_fastpath)(void *lock, uint64_t iters);
};

extern const struct lock_adapter lock_adapters[];
extern const unsigned lock_adapter_count;
/* A table name, or NAME@futex / NAME@bpf[:USE+USE] for a pvlock lock on
 * that backend (with those PVLOCK_PREEMPT_USES). */
const struct lock_adapter *lock_find(const char *name);
/* In a child about to run the first lock of list: set PVLOCK_BACKEND and
 * PVLOCK_PREEMPT_USES as its name asks. */
void lock_list_setenv(const char *list);
const char *lock_mode_name(const struct lock_adapter *l);	/* "pv", "native", "-" */
/* native-X for a pv-mode lock pv-X (on any backend), else NULL. */
const struct lock_adapter *lock_native_twin(const struct lock_adapter *l);
/* The package a known peer needs if this build left it out, else NULL. */
const char *lock_left_out_package(const char *name);
/* "absl-mutex (libabsl-dev), ...": the peers this build left out, or "". */
const char *lock_left_out(void);

/* ---- latency histogram (stats.c) ---------------------------------------- */

/* The middle of bucket i, in the histogram's unit. */
double hist_bucket_mid(unsigned i);
/* Smallest bucket middle at or below which a fraction q of the samples lie. */
double hist_quantile(const uint64_t *hist, uint64_t total, double q);

/* ---- small statistics (stats.c) ----------------------------------------- */

double median_of(double *v, unsigned n);	/* sorts v; NaN when n == 0 */
double min_of(const double *v, unsigned n);
double max_of(const double *v, unsigned n);
double jain_index(const uint64_t *x, unsigned n);
double min_max_ratio(const uint64_t *x, unsigned n);

/* ---- one run's result (result.c) ---------------------------------------- */

enum run_status { RUN_OK, RUN_TIMEOUT, RUN_CRASHED, RUN_FAILED, RUN_CHECK_FAILED };
const char *run_status_name(enum run_status s);

/*
 * The measured fields, each (name, kind): one list for the child's result
 * line, the parent's parser and the raw CSV, so the three cannot drift.
 */
#define RUN_FIELDS(U, D) \
	U(acquisitions) D(elapsed_s) D(warmup_s) D(acq_per_s) D(cpu_s) D(cpu_s_per_macq) \
	D(vcsw_per_s) D(ivcsw_per_s) D(jain) D(min_max) \
	D(lat_p50_ns) D(lat_p99_ns) D(lat_p999_ns) D(lat_max_ns) U(lat_samples) \
	U(spin_threshold) U(checked) D(drain_s) U(timer_rt) D(fastpath_ns) D(fastpath_ir)

struct run_result {
	enum run_status status;
	double wall_s;			/* child's wall time as the parent saw it */
#define RUN_FIELD_U(name) uint64_t name;
#define RUN_FIELD_D(name) double name;
	RUN_FIELDS(RUN_FIELD_U, RUN_FIELD_D)
#undef RUN_FIELD_U
#undef RUN_FIELD_D
	bool has_stats;
	struct pvlock_stats st;
};

void result_init(struct run_result *r);
/* One line "pvlock-bench-result name=value ...", newline-terminated. */
void result_write_line(FILE *f, const struct run_result *r);
/* 0 if buf held a complete result line. */
int result_parse_line(const char *buf, struct run_result *r);

/* Derived pvlock figures (0 when the lock has no statistics). */
uint64_t result_waits(const struct run_result *r);
uint64_t result_kicks(const struct run_result *r);
uint64_t result_steals(const struct run_result *r);
double result_wake_ns(const struct run_result *r);

/* ---- the child side (workload.c, fastpath.c) ---------------------------- */

/*
 * Pins to --cpus, sets the pvlock mode and spin threshold this child was
 * started for, and zeroes the statistics.  0, or -1 after printing why.
 */
int child_prepare(const struct options *o);
/* Runs one contention run in this process and writes the result line. */
int workload_main(const struct options *o);
/* Times (or, under callgrind, counts) uncontended lock+unlock. */
int fastpath_main(const struct options *o);
/* Whether this binary has the callgrind client requests compiled in. */
bool fastpath_can_count(void);

/* ---- running children (runner.c) ---------------------------------------- */

/* An argv built one printf-formatted argument at a time. */
struct argv_buf {
	char *argv[40];
	unsigned n;
	char text[40][64];
};
void arg(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether an executable prog is in PATH. */
bool in_path(const char *prog);

/*
 * Runs argv (argv[0] looked up in PATH) with stdout on a pipe and, if
 * pv_mode is not NULL, PVLOCK_MODE=pv_mode in its environment.  Kills it if
 * it is still running after timeout_s.  Fills *r from its result line; with
 * want_line false only the exit status counts.
 */
void run_child(char *const argv[], const char *pv_mode, double timeout_s,
	       bool want_line, struct run_result *r);

/*
 * Set by the study's SIGINT/SIGTERM handler (main.c).  run_child then kills
 * its child at once and returns; study_run starts nothing more.
 */
extern volatile int bench_stop_signal;
/* --autogroup-nice: each child's session gets this autogroup nice (0: left alone). */
extern int run_autogroup_nice;
/* Whether this process may set its autogroup's nice to n; NULL, or why not. */
const char *autogroup_check(int n);

/* ---- instructions per lock+unlock (callgrind.c) -------------------------- */

/* Why instructions cannot be counted here (no valgrind...), or NULL. */
const char *callgrind_unavailable(void);
/*
 * One valgrind run of exe --run-fastpath counting every locks[i] with bit i
 * of members, in pvlock mode pv_mode (NULL: none); ir[i] gets each one's
 * instructions per lock+unlock (NaN if not counted), *r the run's status.
 */
void callgrind_count(const char *exe, const struct lock_adapter *const *locks, unsigned n,
		     uint64_t members, const char *pv_mode, double *ir, struct run_result *r);

/* ---- the journal's lines (journal.c) ------------------------------------ */

/* When, which commit, on what (machine.c): every result file says it. */
struct provenance {
	char date[32];		/* "2026-12-06 22:41:07 UTC" */
	char commit[48];	/* git rev-parse --short HEAD at build time, or "unknown" */
	char machine[192];	/* "host: CPU model; 2 CPUs; Linux 6.1.0" */
};
void provenance_now(struct provenance *p);

enum journal_kind { JOURNAL_CALIBRATION, JOURNAL_IR, JOURNAL_RUN };
/* One line read back. */
struct journal_entry {
	enum journal_kind kind;
	const char *path;
	unsigned lineno;
	double value;		/* loops per ns; instructions; a run's wall_s */
	char name[64];		/* JOURNAL_IR: the lock */
	const char *key;	/* JOURNAL_RUN: the run's key, as written */
	bool unreadable;	/* JOURNAL_RUN: its result did not parse */
	struct run_result r;	/* JOURNAL_RUN */
};
typedef void journal_take(void *ctx, const struct journal_entry *e);

/* A new journal with its header; NULL after a message. */
FILE *journal_create(const char *path, const char *study_line, double loops_per_ns,
		     const struct provenance *p);
/*
 * Reads path back: its study line must be study_line; take() gets every
 * complete line that means something.  1 if path does not exist, 0, or -1
 * after a message.
 */
int journal_read(const char *path, const char *study_line, journal_take *take, void *ctx);
/* Opens path to append a chunk's runs; NULL after a message. */
FILE *journal_reopen(const char *path, const struct provenance *p);
void journal_add_run(FILE *f, const char *key, const struct run_result *r);
void journal_add_ir(FILE *f, const char *lock, double ir);

/* Busy-loop iterations per ns, measured in this process (busy_loop: loops.h). */
double busy_calibrate(void);

/* CPUs this process may run on now. */
unsigned cpus_allowed(void);
/* Restrict this process (and the threads it creates later) to k CPUs. */
int pin_to_cpus(unsigned k);

double now_s(void);	/* CLOCK_MONOTONIC seconds */
/* Zeroed memory, or exit with a message (machine.c). */
void *xcalloc(size_t n, size_t size);
void *alloc_lines(size_t bytes);	/* cache-line aligned, whole lines */

#endif /* PVLOCK_BENCH_H */
