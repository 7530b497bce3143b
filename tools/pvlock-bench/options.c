/*
 * options.c - command line.  Every bad value gets one line naming the option,
 * the value and what is accepted, and exit status 2.
 *
 * The parent and its children parse the same options: a child is started as
 * "pvlock-bench --run-one LOCK --threads N ..." so a run can also be
 * reproduced by hand with exactly the arguments the study used.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const unsigned default_threads[] = { 1, 2, 4, 8, 16, 32 };
static const char *const default_sweep_locks[] = { "pv-queued", "pv-ticket" };

static _Noreturn void bad_value(const char *opt, const char *val, const char *accepted)
{
	fprintf(stderr, BENCH_NAME ": %s: bad value '%s': expected %s\n", opt, val, accepted);
	exit(2);
}

static uint64_t parse_uint(const char *opt, const char *s, uint64_t lo, uint64_t hi,
			   const char *accepted)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		bad_value(opt, s, accepted);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		bad_value(opt, s, accepted);
	return v;
}

static double parse_seconds(const char *opt, const char *s, double lo, double hi,
			    const char *accepted)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		bad_value(opt, s, accepted);
	return v;
}

/* The next item of the comma-separated list s at *p into item[64]; false at
 * the end.  An empty or long item, or more than MAX_LIST, is a bad value. */
static bool next_item(const char *opt, const char *s, const char **p, char *item, unsigned n,
		      const char *accepted)
{
	if (!*p)
		return false;
	size_t len = strcspn(*p, ",");
	if (len == 0 || len >= 64 || n == MAX_LIST)
		bad_value(opt, s, accepted);
	memcpy(item, *p, len);
	item[len] = '\0';
	*p = (*p)[len] ? *p + len + 1 : NULL;
	return true;
}

/* "1,2,4": distinct integers in [lo, hi]. */
static unsigned parse_uint_list(const char *opt, const char *s, unsigned lo, unsigned hi,
				unsigned *out, const char *accepted)
{
	unsigned n = 0;
	const char *p = s;
	char item[64], *end;

	while (next_item(opt, s, &p, item, n, accepted)) {
		errno = 0;
		unsigned long v = strtoul(item, &end, 10);
		if (item[0] < '0' || item[0] > '9' || errno || *end || v < lo || v > hi)
			bad_value(opt, s, accepted);
		for (unsigned i = 0; i < n; i++)
			if (out[i] == v)
				bad_value(opt, s, accepted);
		out[n++] = (unsigned)v;
	}
	return n;
}

/* "one of a, b, c" or "'all' or a comma-separated list of a, b, c". */
static const char *lock_names_accepted(bool list)
{
	static char buf[512];
	size_t used = (size_t)snprintf(buf, sizeof(buf), "%s",
				       list ? "'all' or a comma-separated list of " : "one of ");

	for (unsigned i = 0; i < lock_adapter_count && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
					 i ? ", " : "", lock_adapters[i].name);
	if (used < sizeof(buf))
		snprintf(buf + used, sizeof(buf) - used,
			 "; a pvlock lock may name its backend: NAME@futex, NAME@bpf, NAME@bpf:USE+USE");
	return buf;
}

/* A known peer this build left out gets its own line: what to install. */
static _Noreturn void bad_lock(const char *opt, const char *name, bool list)
{
	const char *pkg = lock_left_out_package(name);

	if (pkg) {
		fprintf(stderr, BENCH_NAME ": %s: '%s' was left out of this build (it needs %s): "
			"install that and rebuild, or name other locks\n", opt, name, pkg);
		exit(2);
	}
	bad_value(opt, name, lock_names_accepted(list));
}

static unsigned parse_lock_list(const char *opt, const char *s,
				const struct lock_adapter **out)
{
	unsigned n = 0;
	const char *p = s;
	char item[64];

	if (!strcmp(s, "all")) {
		for (unsigned i = 0; i < lock_adapter_count; i++)
			out[n++] = &lock_adapters[i];
		return n;
	}
	while (next_item(opt, s, &p, item, n, lock_names_accepted(true))) {
		const struct lock_adapter *l = lock_find(item);
		if (!l)
			bad_lock(opt, item, true);
		for (unsigned i = 0; i < n; i++)
			if (out[i] == l)
				bad_value(opt, s, "each lock at most once");
		out[n++] = l;
	}
	return n;
}

static void set_defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->role = ROLE_STUDY;
	for (unsigned i = 0; i < lock_adapter_count; i++)
		o->locks[o->nlocks++] = &lock_adapters[i];
	for (unsigned i = 0; i < sizeof(default_threads) / sizeof(default_threads[0]); i++)
		o->threads[o->nthreads++] = default_threads[i];
	o->cs_lines[o->ncs_lines++] = 1;
	o->non_cs_ns[o->nnon_cs_ns++] = 100;
	o->lock_counts[o->nlock_counts++] = 1;
	o->duration_s = 1.0;
	o->repeat = 3;
	o->seed = 1;
	o->format = FORMAT_TABLE;
	o->contention = true;
	o->sweep_threads = 8;
	for (unsigned i = 0; i < sizeof(default_sweep_locks) / sizeof(default_sweep_locks[0]); i++)
		o->sweep_locks[o->nsweep_locks++] = lock_find(default_sweep_locks[i]);
	o->fastpath_iters = 2000000;
	o->grace_s = 5.0;
}

/* Options that take a value, and what each accepts; everything else is a flag. */
_Static_assert(MAX_THREADS == 1024 && MAX_CS_LINES == 4096 && MAX_LOCK_COUNT == 1024 &&
	       PVLOCK_SPIN_THRESHOLD_MAX == 16777216, "update the texts below");
static const struct valued_option {
	const char *name;
	const char *accepted;	/* NULL: computed by accepted() */
} valued[] = {
	{ "--locks", NULL },
	{ "--threads", "a comma-separated list of distinct integers 1..1024" },
	{ "--cs-lines", "a comma-separated list of distinct integers 1..4096" },
	{ "--non-cs-ns", "a comma-separated list of distinct integers 0..10000000 (ns)" },
	{ "--lock-count", "a comma-separated list of distinct integers 1..1024" },
	{ "--duration", "seconds, 0.05..3600" },
	{ "--warmup", "seconds, 0..3600" },
	{ "--budget", "seconds, 1..1000000" },
	{ "--cpus", NULL },
	{ "--repeat", "an integer 1..1000" },
	{ "--seed", "an unsigned 64-bit integer" },
	{ "--spin-threshold", "an integer 1..16777216" },
	{ "--fastpath-iters", "an integer 1000..10000000000" },
	{ "--sweep-threshold", "LO:HI, exponents of 2 with 1 <= LO <= HI <= 24 (e.g. 6:16)" },
	{ "--sweep-threads", "an integer 1..1024" },
	{ "--sweep-locks", NULL },
	{ "--format", "table, csv or json" },
	{ "--output", "a directory name" },
	{ "--grace", "seconds, 0.1..3600" },
	{ "--autogroup-nice", "an integer -20..19" },
	{ "--run-one", NULL },
	{ "--run-fastpath", NULL },
	{ "--non-cs-loops", "an unsigned integer" },
};

static const struct valued_option *find_valued(const char *name)
{
	for (unsigned i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (!strcmp(name, valued[i].name))
			return &valued[i];
	return NULL;
}

static const char *accepted(const char *name)
{
	static char buf[96];
	const struct valued_option *v = find_valued(name);

	if (v && v->accepted)
		return v->accepted;
	if (!strcmp(name, "--cpus")) {
		snprintf(buf, sizeof(buf), "an integer 1..%u (the CPUs this process may use)",
			 cpus_allowed());
		return buf;
	}
	return lock_names_accepted(strcmp(name, "--run-one") != 0);
}

/* "LO:HI" exponents. */
static void parse_sweep(struct options *o, const char *name, const char *v)
{
	unsigned long lo, hi;
	char *end;

	errno = 0;
	if (*v < '0' || *v > '9')
		bad_value(name, v, accepted(name));
	lo = strtoul(v, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		bad_value(name, v, accepted(name));
	hi = strtoul(end + 1, &end, 10);
	if (errno || *end || lo < 1 || hi > 24 || lo > hi)
		bad_value(name, v, accepted(name));
	o->sweep_lo = (unsigned)lo;
	o->sweep_hi = (unsigned)hi;
}

static void apply(struct options *o, const char *name, const char *v)
{
	const char *acc = accepted(name);

	if (!strcmp(name, "--locks")) {
		o->nlocks = parse_lock_list(name, v, o->locks);
	} else if (!strcmp(name, "--threads")) {
		o->nthreads = parse_uint_list(name, v, 1, MAX_THREADS, o->threads, acc);
	} else if (!strcmp(name, "--cs-lines")) {
		o->ncs_lines = parse_uint_list(name, v, 1, MAX_CS_LINES, o->cs_lines, acc);
	} else if (!strcmp(name, "--non-cs-ns")) {
		o->nnon_cs_ns = parse_uint_list(name, v, 0, 10000000, o->non_cs_ns, acc);
	} else if (!strcmp(name, "--lock-count")) {
		o->nlock_counts = parse_uint_list(name, v, 1, MAX_LOCK_COUNT, o->lock_counts, acc);
	} else if (!strcmp(name, "--duration")) {
		o->duration_s = parse_seconds(name, v, 0.05, 3600, acc);
	} else if (!strcmp(name, "--warmup")) {
		o->warmup_s = parse_seconds(name, v, 0, 3600, acc);
	} else if (!strcmp(name, "--budget")) {
		o->budget_s = parse_seconds(name, v, 1, 1000000, acc);
	} else if (!strcmp(name, "--cpus")) {
		o->cpus = (unsigned)parse_uint(name, v, 1, cpus_allowed(), acc);
	} else if (!strcmp(name, "--repeat")) {
		o->repeat = (unsigned)parse_uint(name, v, 1, 1000, acc);
	} else if (!strcmp(name, "--seed")) {
		o->seed = parse_uint(name, v, 0, UINT64_MAX, acc);
	} else if (!strcmp(name, "--spin-threshold")) {
		o->spin_threshold = (unsigned)parse_uint(name, v, 1, PVLOCK_SPIN_THRESHOLD_MAX, acc);
	} else if (!strcmp(name, "--fastpath-iters")) {
		o->fastpath_iters = parse_uint(name, v, 1000, 10000000000ull, acc);
	} else if (!strcmp(name, "--sweep-threshold")) {
		parse_sweep(o, name, v);
	} else if (!strcmp(name, "--sweep-threads")) {
		o->sweep_threads = (unsigned)parse_uint(name, v, 1, MAX_THREADS, acc);
	} else if (!strcmp(name, "--sweep-locks")) {
		o->nsweep_locks = parse_lock_list(name, v, o->sweep_locks);
	} else if (!strcmp(name, "--format")) {
		if (!strcmp(v, "table"))
			o->format = FORMAT_TABLE;
		else if (!strcmp(v, "csv"))
			o->format = FORMAT_CSV;
		else if (!strcmp(v, "json"))
			o->format = FORMAT_JSON;
		else
			bad_value(name, v, acc);
	} else if (!strcmp(name, "--output")) {
		if (!*v)
			bad_value(name, v, acc);
		o->output_dir = v;
	} else if (!strcmp(name, "--autogroup-nice")) {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < -20 || n > 19)
			bad_value(name, v, acc);
		o->autogroup_nice = (int)n;
	} else if (!strcmp(name, "--grace")) {
		o->grace_s = parse_seconds(name, v, 0.1, 3600, acc);
	} else if (!strcmp(name, "--run-one")) {
		const struct lock_adapter *l = lock_find(v);
		if (!l)
			bad_lock(name, v, false);
		o->role = ROLE_RUN_ONE;
		o->locks[0] = l;
		o->nlocks = 1;
	} else if (!strcmp(name, "--run-fastpath")) {
		o->role = ROLE_RUN_FASTPATH;
		o->nlocks = parse_lock_list(name, v, o->locks);
	} else if (!strcmp(name, "--non-cs-loops")) {
		o->non_cs_loops = parse_uint(name, v, 0, UINT64_MAX / 2, acc);
	}
}

void options_parse(struct options *o, int argc, char **argv)
{
	set_defaults(o);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char name[64];
		const char *value = NULL;

		if (arg[0] == '-' && arg[1] != '-') {
			fprintf(stderr, BENCH_NAME ": unknown option '%s' (options are long: see --help)\n",
				arg);
			exit(2);
		}
		if (strncmp(arg, "--", 2) || !arg[2]) {
			fprintf(stderr, BENCH_NAME ": unexpected argument '%s' (see --help)\n", arg);
			exit(2);
		}
		/* --name=value or --name value */
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (len >= sizeof(name)) {
			fprintf(stderr, BENCH_NAME ": unknown option '%s' (see --help)\n", arg);
			exit(2);
		}
		memcpy(name, arg, len);
		name[len] = '\0';

		if (find_valued(name)) {
			if (eq)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else {
				fprintf(stderr, BENCH_NAME ": %s: missing value: expected %s\n", name,
					accepted(name));
				exit(2);
			}
			apply(o, name, value);
			continue;
		}
		if (eq && (!strcmp(name, "--help") || !strcmp(name, "--version") ||
			   !strcmp(name, "--quiet") || !strcmp(name, "--fastpath") ||
			   !strcmp(name, "--no-contention") || !strcmp(name, "--callgrind") ||
			   !strcmp(name, "--resume"))) {
			fprintf(stderr, BENCH_NAME ": %s: bad value '%s': expected no value\n",
				name, eq + 1);
			exit(2);
		}
		if (!strcmp(name, "--help")) {
			options_usage(stdout);
			exit(0);
		} else if (!strcmp(name, "--version")) {
			printf(BENCH_NAME " " BENCH_VERSION " (pvlock %d.%d.%d)\n", PVLOCK_VERSION_MAJOR,
			       PVLOCK_VERSION_MINOR, PVLOCK_VERSION_PATCH);
			exit(0);
		} else if (!strcmp(name, "--quiet")) {
			o->quiet = true;
		} else if (!strcmp(name, "--fastpath")) {
			o->fastpath = true;
		} else if (!strcmp(name, "--no-contention")) {
			o->contention = false;
		} else if (!strcmp(name, "--callgrind")) {
			o->callgrind = true;
		} else if (!strcmp(name, "--resume")) {
			o->resume = true;
		} else {
			fprintf(stderr, BENCH_NAME ": unknown option '%s' (see --help)\n", arg);
			exit(2);
		}
	}

	if (o->role == ROLE_STUDY && !o->contention && !o->fastpath && !o->sweep_hi) {
		fprintf(stderr, BENCH_NAME ": --no-contention: nothing left to run: "
			"add --fastpath or --sweep-threshold LO:HI\n");
		exit(2);
	}
	if (o->role == ROLE_RUN_FASTPATH && !o->callgrind && o->nlocks != 1) {
		fprintf(stderr, BENCH_NAME ": --run-fastpath: one lock per timed run "
			"(a list only with --callgrind)\n");
		exit(2);
	}
	if (o->role == ROLE_RUN_ONE && (o->nthreads != 1 || o->ncs_lines != 1 ||
					o->nnon_cs_ns != 1 || o->nlock_counts != 1)) {
		fprintf(stderr, BENCH_NAME ": --run-one: needs exactly one value of --threads, "
			"--cs-lines, --non-cs-ns and --lock-count\n");
		exit(2);
	}
	if (o->resume && !o->output_dir) {
		fprintf(stderr, BENCH_NAME ": --resume: needs --output DIR (the study to continue)\n");
		exit(2);
	}
}
