/*
 * torture.h - pvlock-torture: shared types of the stress tool.
 *
 * One process tortures one lock type in one mode (the mode is process-wide
 * and frozen by the first slow path); without --lock/--mode the tool runs
 * itself once per combination in child processes (orchestrate.c).
 *
 * Contexts: every writer thread runs at level 0 and, with --signals, in
 * nested signal handlers at levels 1..depth.  Each level has its own locks;
 * see signals.c for why that cannot self-deadlock.
 */
#ifndef PVLOCK_TORTURE_H
#define PVLOCK_TORTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvlock.h>

#define PROG "pvlock-torture"

/* Exit statuses. */
#define EXIT_OK		0
#define EXIT_FAILED	1
#define EXIT_USAGE	2
/* interrupted by signal S: 128 + S (130 for SIGINT, 143 for SIGTERM) */

enum lock_kind { LOCK_QUEUED, LOCK_TICKET, LOCK_TAS, LOCK_BUSTED, LOCK_KINDS };
#define LOCK_ALL	(-1)	/* orchestrate: every real lock */
#define MODE_ALL	(-1)	/* orchestrate: both modes */

#define MAX_SIGNAL_DEPTH	4	/* nesting levels 1..4 on top of level 0 */
#define LEVELS			(MAX_SIGNAL_DEPTH + 1)
#define HANDLER_LOCKS		1	/* per signal level: contended, so handlers wait */

struct config {
	int lock;			/* enum lock_kind or LOCK_ALL */
	int mode;			/* enum pvlock_mode or MODE_ALL */
	unsigned threads;
	unsigned locks;
	double duration_s;
	double stall_s;			/* watchdog: no progress for this long */
	const char *until;		/* go on past duration_s until these hold */
	double until_max_s;		/* ... for at most this long */
	unsigned stat_interval_s;	/* 0: no periodic line */
	bool stutter, signals, churn;
	unsigned signal_depth;
	uint64_t seed;
	unsigned spin_threshold;	/* 0: the library's */
	/* Fault injection (tests/seams/fault.h). */
	unsigned spurious_pct, kick_delay_us, hash_lines, preempt_pct;
	unsigned preempt_us, slots;
	bool drop_kicks;
	const char *first_fault_opt;	/* for the "needs the fi library" error */
};

/* One lock under test and the plain fields that check it. */
struct torture_lock {
	union {
		pvlock_t q;
		pvlock_ticket_t t;
		pvlock_tas_t tas;
		uint32_t busted;
	} u;
	/* Plain (non-atomic) on purpose: only the lock protects them. */
	volatile uint32_t owner;	/* context id of the holder, 0 if none */
	volatile uint64_t count;	/* incremented inside every critical section */
};

struct lock_ops {
	void (*lock)(struct torture_lock *);
	bool (*trylock)(struct torture_lock *);
	void (*unlock)(struct torture_lock *);
	bool (*is_locked)(struct torture_lock *);
	uint32_t (*word)(struct torture_lock *);	/* raw word, for reports */
	bool (*word_clean)(uint32_t word);		/* free and no waiters */
};

/* What a context is doing, for the watchdog: act << 24 | set << 16 | index. */
enum activity { ACT_IDLE, ACT_ACQUIRING, ACT_HOLDING };
#define DOING(act, set, idx)	((uint32_t)(act) << 24 | (uint32_t)(set) << 16 | (idx))

struct writer {
	int id;
	pthread_t thread;
	atomic_bool running;		/* created and not yet finished */
	atomic_bool finished;		/* returned; main must join it */
	atomic_int tid;
	atomic_uint_fast64_t last_progress_ns;
	atomic_uint_fast64_t handler_since_ns;	/* entry of the outermost handler */
	atomic_uint_fast64_t acquisitions;	/* level-0 locks, all incarnations */
	atomic_uint_fast64_t handler_acquisitions;	/* signal-level locks */
	atomic_uint incarnations;
	atomic_bool paused;		/* stutter: parked, holding nothing */
	atomic_int depth;		/* current signal nesting depth */
	atomic_uint sig_sent, sig_handled;	/* this incarnation: signaller backs off */
	atomic_uint_least32_t doing[LEVELS];
	uint64_t rng[LEVELS];		/* one generator per level: handlers don't disturb */
	uint64_t life_end_ns;		/* churn: exit after this */
} __attribute__((aligned(64)));

enum violation_kind { V_ENTER_OWNED, V_EXIT_CHANGED, V_NOT_LOCKED };

struct violation {
	enum violation_kind kind;
	int set, index;			/* lock set (0 writers, k handler level k) */
	uint32_t me, found;		/* context ids */
};

struct run {
	const struct config *cfg;
	const struct lock_ops *ops;
	struct torture_lock *locks[LEVELS];	/* [0]: writer locks; [k]: level k */
	unsigned nlocks[LEVELS];
	struct writer *writers;
	pthread_mutex_t roster;		/* pthread_t of writers vs. churn joins */
	atomic_bool stop;
	atomic_bool paused;
	uint64_t start_ns, deadline_ns;
	uint64_t end_limit_ns;		/* deadline_ns + until_max_s: the run's last end */
	uint64_t ended_ns;		/* when the writers were told to stop */
	bool until_met;			/* every writer acquired, and --until held */
	/* Results. */
	atomic_uint_fast64_t violations;
	atomic_bool first_violation_taken;
	struct violation first_violation;
	atomic_uint_fast64_t signals_sent[LEVELS];
	atomic_uint_fast64_t signals_handled[LEVELS];
	atomic_int deepest;		/* deepest signal nesting seen */
	atomic_uint_fast64_t threads_started;
	atomic_uint_fast64_t pauses;
};

extern struct run R;

/* util.c */
uint64_t now_ns(void);
void sleep_ns(uint64_t ns);
uint64_t rnd(uint64_t *state);
uint64_t rnd_below(uint64_t *state, uint64_t n);
uint64_t rnd_seed(uint64_t seed, uint64_t a, uint64_t b);
uint64_t cpu_ns(void);			/* the process's CPU time */
unsigned usable_cpus(void);		/* CPUs this process may run on */
void spin_loops(unsigned n);
const char *lock_name(int kind);
const char *mode_name(int mode);
const char *lock_set_name(int set);

/* options.c */
void options_parse(int argc, char **argv, struct config *cfg);

/* until.c: --until NAME[|NAME...][,...] or NAME>NAME */
bool until_parse(const char *spec, char *why, size_t len);	/* false: why */
bool until_holds(void);		/* every term holds now */
void until_describe_missing(char *buf, size_t len);	/* the first term that does not */

/* The watchdog's stall clock: a writer is stuck after this much of the
 * process's CPU time per usable CPU without progress, or after
 * STALL_WALL_FACTOR times that by the clock (watchdog.c). */
#define STALL_WALL_FACTOR	10

/* orchestrate.c */
int orchestrate(int argc, char **argv, const struct config *cfg);

/* run.c */
int run_torture(const struct config *cfg);
void respawn_writer(struct writer *w);

/* locks.c */
const struct lock_ops *lock_ops_for(int kind);
struct torture_lock *locks_alloc(unsigned n);

/* writers.c */
void *writer_main(void *arg);
uint32_t context_id(const struct writer *w, int level);
typedef void hold_fn(struct writer *w, int level, uint64_t *rng);
void critical_section(struct writer *w, int level, int set, unsigned index,
		      uint64_t *rng, hold_fn *hold);
extern _Thread_local struct writer *self;

/* signals.c */
void signals_install(void);
void signals_block_all(void);
void signals_unblock(void);
void signals_start(void);
void signals_stop(void);
void irqsave_section(struct writer *w, uint64_t *rng);

/* faults.c */
bool faults_requested(const struct config *cfg);
void faults_check_available(const struct config *cfg);
void faults_apply(const struct config *cfg);
void faults_describe(const struct config *cfg, char *buf, size_t len);
void faults_report(void);

/* watchdog.c */
void watchdog_start(void);
void watchdog_stop(void);

/* report.c */
void report_header(void);
void report_locks_held(void);
void report_stats(void);
void report_progress_line(void);
int report_final(void);

/* interrupt.c: SIGINT and SIGTERM */
void interrupt_install_run(void);		/* a single run: INTERRUPTED line, exit */
void interrupt_install_orchestrator(void);	/* stop the child, then stop */
void interrupt_set_child(pid_t pid);		/* the child to pass a signal on to */
int interrupted(void);				/* the signal received, or 0 */

#endif /* PVLOCK_TORTURE_H */
