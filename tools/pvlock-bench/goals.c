/*
 * goals.c - the project's performance goals, each computed from the medians
 * of this same study.  Nothing here is a measured number: a goal whose
 * configuration was not run reports n/a.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "study.h"

struct goals {
	const struct study *s;
	struct goal *out;
	unsigned n, max;
};

static void add(struct goals *g, double value, bool at_most, double target,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct goals *g, double value, bool at_most, double target,
		const char *fmt, ...)
{
	if (g->n == g->max)
		return;
	struct goal *x = &g->out[g->n++];
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

static void fastpath_goals(struct goals *g)
{
	static const char *const pairs[][2] = {
		{ "pv-queued", "native-queued" }, { "pv-ticket", "native-ticket" },
	};

	for (unsigned i = 0; i < 2; i++) {
		const struct cell *pv = fast(g, pairs[i][0]), *nat = fast(g, pairs[i][1]);
		add(g, ratio(FIELD(pv, fp_ns_med), FIELD(nat, fp_ns_med)), true, 1.10,
		    "uncontended ns: %s / %s", pairs[i][0], pairs[i][1]);
		add(g, ratio(FIELD(pv, fp_ir), FIELD(nat, fp_ir)), true, 1.10,
		    "uncontended instructions: %s / %s", pairs[i][0], pairs[i][1]);
	}
	for (unsigned i = 0; i < 2; i++) {
		const struct cell *pv = fast(g, pairs[i][0]), *mutex = fast(g, "mutex");
		add(g, ratio(FIELD(pv, fp_ns_med), FIELD(mutex, fp_ns_med)), true, 1.00,
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

unsigned goals_evaluate(const struct study *s, struct goal *out, unsigned max)
{
	struct goals g = { .s = s, .out = out, .max = max };

	fastpath_goals(&g);
	contention_goals(&g);
	return g.n;
}
