/*
 * goals.c - the project's performance goals, each computed from the medians
 * of this same study.  Nothing here is a measured number: a goal whose
 * configuration was not run reports n/a.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study.h"

struct goals {
	const struct study *s;
	struct goal *out;
	unsigned n, max;
};

static struct goal *next_goal(struct goals *g)
{
	if (g->n == g->max) {
		g->max = g->max ? 2 * g->max : 64;
		g->out = realloc(g->out, g->max * sizeof(*g->out));
		if (!g->out) {
			fprintf(stderr, BENCH_NAME ": out of memory\n");
			exit(1);
		}
	}
	struct goal *x = &g->out[g->n++];
	*x = (struct goal){ .kind = GOAL_FIXED, .value = NAN };
	return x;
}

static void add(struct goals *g, double value, bool at_most, double target,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct goals *g, double value, bool at_most, double target,
		const char *fmt, ...)
{
	struct goal *x = next_goal(g);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->name, sizeof(x->name), fmt, ap);
	va_end(ap);
	snprintf(x->target, sizeof(x->target), "%s %.2f", at_most ? "<=" : ">=", target);
	x->value = value;
	x->met = !isnan(value) && (at_most ? value <= target : value >= target);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;	/* NaN in, NaN out */
}

static const struct cell *fast(const struct goals *g, const char *lock)
{
	return study_cell(g->s, STUDY_FASTPATH, lock, 1, 0);
}

static const struct cell *cont(const struct goals *g, const char *lock, unsigned threads)
{
	return study_cell(g->s, STUDY_CONTENTION, lock, threads, g->s->o->spin_threshold);
}

#define FIELD(cellp, field) ((cellp) ? (cellp)->field : NAN)

/* Uncontended, with a second thread alive (fastpath.c): pv costs at most
 * this much more than native mode, and this fraction of glibc's mutex. */
#define FAST_VS_NATIVE	1.15
#define FAST_VS_MUTEX	0.60

static void fastpath_goals(struct goals *g)
{
	static const char *const pairs[][2] = {
		{ "pv-queued", "native-queued" }, { "pv-ticket", "native-ticket" },
	};

	for (unsigned i = 0; i < 2; i++) {
		const struct cell *pv = fast(g, pairs[i][0]), *nat = fast(g, pairs[i][1]);
		add(g, ratio(FIELD(pv, fp_ns_med), FIELD(nat, fp_ns_med)), true, FAST_VS_NATIVE,
		    "uncontended ns: %s / %s", pairs[i][0], pairs[i][1]);
		add(g, ratio(FIELD(pv, fp_ir), FIELD(nat, fp_ir)), true, 1.10,
		    "uncontended instructions: %s / %s", pairs[i][0], pairs[i][1]);
	}
	for (unsigned i = 0; i < 2; i++) {
		const struct cell *pv = fast(g, pairs[i][0]), *mutex = fast(g, "mutex");
		add(g, ratio(FIELD(pv, fp_ns_med), FIELD(mutex, fp_ns_med)), true, FAST_VS_MUTEX,
		    "uncontended ns: %s / mutex", pairs[i][0]);
		add(g, ratio(FIELD(pv, fp_ir), FIELD(mutex, fp_ir)), true, 1.00,
		    "uncontended instructions: %s / mutex", pairs[i][0]);
	}
}

static void contention_goals(struct goals *g)
{
	unsigned cpus = g->s->cpus_used;
	const struct cell *q = cont(g, "pv-queued", 2);

	add(g, ratio(FIELD(q, acq_med), FIELD(cont(g, "ck-ticket", 2), acq_med)), false, 1.0,
	    "2 threads on %u CPUs: pv-queued / ck-ticket acq/s", cpus);
	add(g, ratio(FIELD(q, acq_med), FIELD(cont(g, "ck-mcs", 2), acq_med)), false, 2.0,
	    "2 threads on %u CPUs: pv-queued / ck-mcs acq/s", cpus);
	add(g, FIELD(q, min_max), false, 0.80,
	    "2 threads on %u CPUs: pv-queued fairness min/max", cpus);

	static const unsigned over[] = { 8, 32 };
	for (unsigned i = 0; i < 2; i++) {
		unsigned t = over[i];
		q = cont(g, "pv-queued", t);
		const struct cell *mutex = cont(g, "mutex", t);
		add(g, ratio(FIELD(q, acq_med), FIELD(mutex, acq_med)), false, 1.0,
		    "%u threads on %u CPUs: pv-queued / mutex acq/s", t, cpus);
		add(g, ratio(FIELD(q, acq_med), FIELD(cont(g, "ck-ticket", t), acq_med)), false, 50,
		    "%u threads on %u CPUs: pv-queued / ck-ticket acq/s", t, cpus);
		add(g, ratio(FIELD(q, acq_med), FIELD(cont(g, "ck-mcs", t), acq_med)), false, 50,
		    "%u threads on %u CPUs: pv-queued / ck-mcs acq/s", t, cpus);
		add(g, ratio(FIELD(q, p999), FIELD(mutex, p999)), true, 1.0,
		    "%u threads on %u CPUs: pv-queued / mutex p99.9 latency", t, cpus);
	}
	add(g, ratio(FIELD(cont(g, "pv-ticket", 8), acq_med),
		     FIELD(cont(g, "native-ticket", 8), acq_med)), false, 10,
	    "8 threads on %u CPUs: pv-ticket / native-ticket acq/s", cpus);
}

/* The grid's targets for pv-queued. */
#define GRID_THROUGHPUT	0.97	/* x the best glibc/absl/TBB mutex, at >= 4x overcommit */
#define GRID_JAIN	0.95	/* and not below the best mutex peer's */
#define GRID_P999	10.0	/* at most this many times the best mutex peer's p99.9 */
#define GRID_SMALL	0.97	/* x the best small peer (best_small_peer), at 1-2 threads */

static const char *const kind_text[GOAL_KINDS] = {
	[GOAL_FIXED] = "fixed goals",
	[GOAL_THROUGHPUT] = "pv-queued acq/s >= 0.97x best mutex peer, >= 4x overcommit",
	[GOAL_JAIN] = "pv-queued Jain >= 0.95 and >= best mutex peer's, >= 4x overcommit",
	[GOAL_P999] = "pv-queued p99.9 <= 10x best mutex peer's, >= 4x overcommit",
	[GOAL_SMALL] = "pv-queued acq/s >= 0.97x best of pthread-spin, tbb-spin, mutex, mutex-adaptive, 1-2 threads",
};

const char *goal_kind_text(enum goal_kind k)
{
	return kind_text[k];
}

static struct goal *grid_goal(struct goals *g, enum goal_kind kind, const struct cell *q,
			      const struct cell *peer)
{
	struct goal *x = next_goal(g);
	char wl[64];

	x->kind = kind;
	x->wl = q->wl;
	x->threads = q->threads;
	x->peer = peer ? peer->lock->name : NULL;
	snprintf(x->name, sizeof(x->name), "%s, %u threads: %s",
		 workload_label(&g->s->workloads[q->wl], wl, sizeof(wl)), q->threads,
		 kind == GOAL_JAIN ? "Jain" : kind == GOAL_P999 ? "p99.9 / best peer's"
					  : "acq/s / best peer's");
	return x;
}

/*
 * At 1-2 threads nobody is preempted, and a user compares pvlock with what
 * they would otherwise use there: the best of glibc's spinlock and mutexes
 * and tbb::spin_mutex (the fastest of the spinlocks measured) in that cell.
 */
static const struct cell *best_small_peer(const struct study *s, const struct cell *q)
{
	static const char *const names[] = { "pthread-spin", "tbb-spin", "mutex", "mutex-adaptive" };
	const struct cell *best = NULL;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct cell *c = study_cell_wl(s, q->kind, q->wl, names[i], q->threads,
						     q->threshold);
		if (c && !isnan(c->acq_med) && (!best || c->acq_med > best->acq_med))
			best = c;
	}
	return best;
}

static void grid_goals(struct goals *g)
{
	const struct study *s = g->s;

	for (unsigned i = 0; i < s->ncells; i++) {
		const struct cell *q = &s->cells[i];
		if (q->kind != STUDY_CONTENTION || strcmp(q->lock->name, "pv-queued"))
			continue;
		if (q->threads <= 2) {
			const struct cell *b = best_small_peer(s, q);
			struct goal *x = grid_goal(g, GOAL_SMALL, q, b);
			x->value = b ? q->acq_med / b->acq_med : NAN;
			snprintf(x->target, sizeof(x->target), ">= %.2f", GRID_SMALL);
			x->met = x->value >= GRID_SMALL;
			continue;
		}
		if (q->threads < 4 * s->cpus_used)
			continue;
		const struct cell *b = best_peer(s, q, PEER_MUTEX, cell_acq, false);
		struct goal *x = grid_goal(g, GOAL_THROUGHPUT, q, b);
		x->value = b ? q->acq_med / b->acq_med : NAN;
		snprintf(x->target, sizeof(x->target), ">= %.2f", GRID_THROUGHPUT);
		x->met = x->value >= GRID_THROUGHPUT;

		b = best_peer(s, q, PEER_MUTEX, cell_jain, false);
		x = grid_goal(g, GOAL_JAIN, q, b);
		x->value = b ? q->jain : NAN;
		snprintf(x->target, sizeof(x->target), ">= %.2f, >= %.2f", GRID_JAIN,
			 b ? b->jain : NAN);
		x->met = b && q->jain >= GRID_JAIN && q->jain >= b->jain;

		b = best_peer(s, q, PEER_MUTEX, cell_p999, true);
		x = grid_goal(g, GOAL_P999, q, b);
		x->value = b && b->p999 > 0 ? q->p999 / b->p999 : NAN;
		snprintf(x->target, sizeof(x->target), "<= %.2f", GRID_P999);
		x->met = x->value <= GRID_P999;
	}
}

struct goal *goals_evaluate(const struct study *s, unsigned *n)
{
	struct goals g = { .s = s };

	if (s->o->fastpath)
		fastpath_goals(&g);
	if (s->nworkloads == 1)
		contention_goals(&g);	/* written for the one default workload */
	grid_goals(&g);
	*n = g.n;
	return g.out;
}
