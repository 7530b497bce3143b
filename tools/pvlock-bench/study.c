/*
 * study.c - plan the runs and run each in a fresh child (summary.c then
 * reduces them to one cell per configuration).
 *
 * Order is the defence against a drifting machine: the repeat loop is the
 * outermost, and inside it every lock runs once per configuration before any
 * runs again (A B C A B C ...), so slow minutes hit every lock alike.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "study.h"

enum { FASTPATH_MIN_REPEAT = 5 };

static const char *const kind_names[] = {
	[STUDY_FASTPATH] = "fastpath", [STUDY_CONTENTION] = "contention", [STUDY_SWEEP] = "sweep",
};

const char *study_kind_name(enum study_kind k)
{
	return kind_names[k];
}

static unsigned fastpath_repeat(const struct options *o)
{
	return o->repeat > FASTPATH_MIN_REPEAT ? o->repeat : FASTPATH_MIN_REPEAT;
}

const char *workload_label(const struct workload *w, char *buf, size_t n)
{
	char out[32];

	if (w->non_cs_ns >= 1000 && w->non_cs_ns % 100 == 0)
		snprintf(out, sizeof(out), "%gus", w->non_cs_ns / 1000.0);
	else
		snprintf(out, sizeof(out), "%uns", w->non_cs_ns);
	snprintf(buf, n, "%u line%s, %s out, %u lock%s", w->cs_lines, w->cs_lines == 1 ? "" : "s",
		 out, w->lock_count, w->lock_count == 1 ? "" : "s");
	return buf;
}

static void add_job(struct study *s, enum study_kind kind, const struct lock_adapter *l,
		    unsigned wl, unsigned threads, unsigned threshold, unsigned rep, bool callgrind)
{
	struct job *j = &s->jobs[s->njobs++];

	memset(j, 0, sizeof(*j));
	j->kind = kind;
	j->lock = l;
	j->wl = wl;
	j->threads = threads;
	j->threshold = threshold;
	j->rep = rep;
	j->callgrind = callgrind;
	result_init(&j->r);
}

/* Adds l to the fast path's locks unless it is there (or NULL, or no room). */
static void fp_add(struct study *s, const struct lock_adapter *l)
{
	for (unsigned i = 0; i < s->nfp_locks; i++)
		if (s->fp_locks[i] == l)
			return;
	if (l && s->nfp_locks < MAX_LIST)
		s->fp_locks[s->nfp_locks++] = l;
}

void study_plan(struct study *s, const struct options *o)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	ssize_t len = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	if (len <= 0) {
		fprintf(stderr, BENCH_NAME ": readlink /proc/self/exe: %s\n", strerror(errno));
		exit(1);
	}
	s->exe[len] = '\0';
	s->cpus_used = o->cpus ? o->cpus : cpus_allowed();
	for (unsigned i = 0; i < MAX_LIST; i++)
		s->fastpath_ir[i] = NAN;
	provenance_now(&s->prov);
	for (unsigned i = 0; i < o->nlocks; i++)
		fp_add(s, o->locks[i]);
	for (unsigned i = 0; i < o->nlocks; i++)
		fp_add(s, lock_native_twin(o->locks[i]));

	/* The grid, in the order of the options' lists, lock count fastest. */
	s->nworkloads = o->ncs_lines * o->nnon_cs_ns * o->nlock_counts;
	s->workloads = xcalloc(s->nworkloads, sizeof(*s->workloads));
	for (unsigned c = 0, k = 0; c < o->ncs_lines; c++)
		for (unsigned w = 0; w < o->nnon_cs_ns; w++)
			for (unsigned n = 0; n < o->nlock_counts; n++, k++)
				s->workloads[k] = (struct workload){ .cs_lines = o->cs_lines[c],
					.non_cs_ns = o->non_cs_ns[w], .lock_count = o->lock_counts[n] };
	/*
	 * Calibrated once, here, so every run does the same work per
	 * iteration (a resumed study takes the journal's calibration instead,
	 * in study_set_calibration).
	 */
	if (o->contention || o->sweep_hi)
		study_set_calibration(s, busy_calibrate());
	if (o->fastpath)
		s->callgrind_note = callgrind_unavailable();

	unsigned nsweep = o->sweep_hi ? o->sweep_hi - o->sweep_lo + 1 : 0;
	size_t max = (size_t)fastpath_repeat(o) * s->nfp_locks + 2 +
		     (size_t)o->repeat * s->nworkloads * o->nthreads * o->nlocks +
		     (size_t)o->repeat * nsweep * o->nsweep_locks;
	s->jobs = xcalloc(max, sizeof(*s->jobs));

	/* Fast path first: it is short, and a broken lock shows up at once. */
	if (o->fastpath) {
		for (unsigned rep = 0; rep < fastpath_repeat(o); rep++)
			for (unsigned i = 0; i < s->nfp_locks; i++)
				add_job(s, STUDY_FASTPATH, s->fp_locks[i], 0, 1, 0, rep, false);
		/*
		 * Instructions: one valgrind per pvlock mode, counting every lock
		 * that runs in it (valgrind's start-up is most of the cost).
		 */
		for (int native = 0; native < 2 && !s->callgrind_note; native++) {
			uint64_t members = 0;
			unsigned first = 0;
			for (unsigned i = s->nfp_locks; i-- > 0;)
				if ((s->fp_locks[i]->pv_mode == PVLOCK_MODE_NATIVE) == native) {
					members |= 1ull << i;
					first = i;
				}
			if (members) {
				add_job(s, STUDY_FASTPATH, s->fp_locks[first], 0, 1, 0, 0, true);
				s->jobs[s->njobs - 1].members = members;
			}
		}
	}
	if (o->contention)
		for (unsigned rep = 0; rep < o->repeat; rep++)
			for (unsigned w = 0; w < s->nworkloads; w++)
				for (unsigned t = 0; t < o->nthreads; t++)
					for (unsigned i = 0; i < o->nlocks; i++)
						add_job(s, STUDY_CONTENTION, o->locks[i], w,
							o->threads[t], o->spin_threshold, rep, false);
	for (unsigned rep = 0; rep < o->repeat && nsweep; rep++)
		for (unsigned e = o->sweep_lo; e <= o->sweep_hi; e++)
			for (unsigned i = 0; i < o->nsweep_locks; i++)
				add_job(s, STUDY_SWEEP, o->sweep_locks[i], 0, o->sweep_threads,
					1u << e, rep, false);
}

void study_set_calibration(struct study *s, double loops_per_ns)
{
	s->loops_per_ns = loops_per_ns;
	for (unsigned w = 0; w < s->nworkloads; w++)
		s->workloads[w].non_cs_loops =
			(uint64_t)llround(s->workloads[w].non_cs_ns * loops_per_ns);
}

/* ---- running ------------------------------------------------------------ */

const char *job_label(const struct study *s, const struct job *j, char *buf, size_t n)
{
	size_t used = 0;

	if (!j->callgrind)
		return j->lock->name;
	buf[0] = '\0';
	for (unsigned i = 0; i < s->nfp_locks && used < n; i++)
		if (j->members & (1ull << i))
			used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? "+" : "",
						 s->fp_locks[i]->name);
	return buf;
}

void job_key(const struct job *j, char *buf, size_t n)
{
	snprintf(buf, n, "run %s %s %u %u %u %u%s", study_kind_name(j->kind), j->lock->name, j->wl,
		 j->threads, j->threshold, j->rep, j->callgrind ? " callgrind" : "");
}

void study_count_done(struct study *s, const struct job *j)
{
	s->ndone++;
	if (j->r.status == RUN_CHECK_FAILED)
		s->any_check_failed = true;
	/* Instructions are a side figure: their failure is a note, not an error. */
	if (j->callgrind && j->r.status != RUN_OK && !j->from_journal)
		s->callgrind_note = "not counted: valgrind failed (its message is above)";
	else if (!j->callgrind && (j->r.status == RUN_FAILED || j->r.status == RUN_CRASHED))
		s->any_start_failed = true;
	if (j->kind != STUDY_FASTPATH && j->r.status == RUN_OK && !j->r.checked)
		s->unchecked++;
}

/* The finished job j into the journal, with the instructions it counted. */
static void journal_job(struct study *s, const struct job *j)
{
	char key[256];

	if (!s->journal)
		return;
	job_key(j, key, sizeof(key));
	journal_add_run(s->journal, key, &j->r);
	for (unsigned i = 0; j->callgrind && i < s->nfp_locks; i++)
		if ((j->members & (1ull << i)) && !isnan(s->fastpath_ir[i]))
			journal_add_ir(s->journal, s->fp_locks[i]->name, s->fastpath_ir[i]);
}

static void run_job(struct study *s, struct job *j)
{
	const struct options *o = s->o;
	struct argv_buf a = { .n = 0 };
	const char *mode = j->lock->pv_mode >= 0 ? lock_mode_name(j->lock) : NULL;

	if (j->callgrind) {
		callgrind_count(s->exe, s->fp_locks, s->nfp_locks, j->members, mode,
				s->fastpath_ir, &j->r);
		return;
	}
	arg(&a, "%s", s->exe);
	if (j->kind == STUDY_FASTPATH) {
		arg(&a, "--run-fastpath");
		arg(&a, "%s", j->lock->name);
		arg(&a, "--fastpath-iters");
		arg(&a, "%llu", (unsigned long long)o->fastpath_iters);
		if (o->cpus) {
			arg(&a, "--cpus");
			arg(&a, "%u", o->cpus);
		}
		/* A pair costs well under a microsecond, even on a busy machine. */
		run_child(a.argv, mode, 10 + o->fastpath_iters * 1e-6, true, &j->r);
		return;
	}
	const struct workload *w = &s->workloads[j->wl];
	arg(&a, "--run-one");
	arg(&a, "%s", j->lock->name);
	arg(&a, "--threads");
	arg(&a, "%u", j->threads);
	arg(&a, "--cs-lines");
	arg(&a, "%u", w->cs_lines);
	arg(&a, "--non-cs-ns");
	arg(&a, "%u", w->non_cs_ns);
	arg(&a, "--lock-count");
	arg(&a, "%u", w->lock_count);
	arg(&a, "--non-cs-loops");
	arg(&a, "%llu", (unsigned long long)w->non_cs_loops);
	arg(&a, "--duration");
	arg(&a, "%.17g", o->duration_s);
	if (o->warmup_s > 0) {
		arg(&a, "--warmup");
		arg(&a, "%.17g", o->warmup_s);
	}
	arg(&a, "--seed");
	arg(&a, "%llu", (unsigned long long)(o->seed + j->rep));
	if (o->cpus) {
		arg(&a, "--cpus");
		arg(&a, "%u", o->cpus);
	}
	if (j->threshold) {
		arg(&a, "--spin-threshold");
		arg(&a, "%u", j->threshold);
	}
	run_child(a.argv, mode, o->warmup_s + o->duration_s + o->grace_s, true, &j->r);
}

/* Rough seconds a job takes, for the time-left estimate. */
static double job_estimate(const struct study *s, const struct job *j)
{
	if (j->callgrind)
		return 0.5 + 0.1 * (unsigned)__builtin_popcountll(j->members);
	if (j->kind == STUDY_FASTPATH)
		return 0.02 + s->o->fastpath_iters * 1.5e-8;
	return s->o->warmup_s + s->o->duration_s + 0.05 + j->threads * 0.002;
}

/*
 * How much longer than estimated the finished contention and sweep runs
 * took (a busy machine, drains of collapsed locks): they are most of the
 * study, so their ratio corrects the estimate of what is left.
 */
static double estimate_scale(const struct study *s, unsigned done)
{
	double est = 0, took = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < done; i++) {
		const struct job *j = &s->jobs[i];
		if (j->kind == STUDY_FASTPATH || j->from_journal || !j->done || isnan(j->r.wall_s))
			continue;
		est += job_estimate(s, j);
		took += j->r.wall_s;
		n++;
	}
	return n >= 5 && est > 0 ? took / est : 1;
}

static void fmt_clock(char *buf, size_t n, double s)
{
	unsigned t = s <= 0 ? 0 : s > 359999 ? 359999 : (unsigned)(s + 0.5);

	snprintf(buf, n, "%u:%02u", t / 60, t % 60);
}

static void progress(const struct study *s, unsigned done, const struct job *j, bool tty)
{
	char what[160], took[24], left[24], res[48] = "", wl[64];
	double est_left = 0;

	for (unsigned i = done; i < s->njobs; i++)
		if (!s->jobs[i].done)
			est_left += job_estimate(s, &s->jobs[i]);
	double elapsed = now_s() - s->started;
	double scale = estimate_scale(s, done);

	fmt_clock(took, sizeof(took), elapsed);
	fmt_clock(left, sizeof(left), est_left * scale);
	if (j->callgrind)
		snprintf(what, sizeof(what), "fastpath   callgrind, %d locks in %s mode",
			 __builtin_popcountll(j->members),
			 j->lock->pv_mode == PVLOCK_MODE_NATIVE ? "native" : "pv");
	else if (j->kind == STUDY_FASTPATH)
		snprintf(what, sizeof(what), "fastpath   %-14s rep %u", j->lock->name, j->rep + 1);
	else if (j->kind == STUDY_CONTENTION && s->nworkloads > 1)
		snprintf(what, sizeof(what), "contention %-14s %3u threads rep %u [%s]",
			 j->lock->name, j->threads, j->rep + 1,
			 workload_label(&s->workloads[j->wl], wl, sizeof(wl)));
	else if (j->kind == STUDY_CONTENTION)
		snprintf(what, sizeof(what), "contention %-14s %3u threads rep %u",
			 j->lock->name, j->threads, j->rep + 1);
	else
		snprintf(what, sizeof(what), "sweep      %-14s 2^%-2d       rep %u",
			 j->lock->name, __builtin_ctz(j->threshold), j->rep + 1);

	if (done && j->r.status != RUN_OK)
		snprintf(res, sizeof(res), ": %s", run_status_name(j->r.status));
	else if (done && j->callgrind)
		snprintf(res, sizeof(res), ": counted");
	else if (done && j->kind == STUDY_FASTPATH)
		snprintf(res, sizeof(res), ": %.2f ns", j->r.fastpath_ns);
	else if (done)
		snprintf(res, sizeof(res), ": %.0f acq/s", j->r.acq_per_s);

	if (tty)
		fprintf(stderr, "\r[%4u/%u] %s  %s elapsed, ~%s left\033[K", done + 1, s->njobs, what,
			took, left);
	else if (done)
		fprintf(stderr, "[%4u/%u] %s%s  (%s elapsed, ~%s left)\n", done, s->njobs, what,
			res, took, left);
}

/* The 1-minute load average, or NaN. */
static double load_average(void)
{
	double load = NAN;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &load) != 1)
			load = NAN;
		fclose(f);
	}
	return load;
}

volatile int bench_stop_signal;

/* Whether the next job fits the --budget, judged by how long jobs took so far. */
static bool fits_budget(const struct study *s, unsigned i)
{
	if (!s->o->budget_s)
		return true;
	double left = s->o->budget_s - (now_s() - s->started);
	return job_estimate(s, &s->jobs[i]) * estimate_scale(s, i) <= left;
}

void study_run(struct study *s)
{
	bool tty = !s->o->quiet && isatty(STDERR_FILENO);
	bool lines = !s->o->quiet && !tty;

	s->load_start = load_average();
	s->started = now_s();
	for (unsigned i = 0; i < s->njobs; i++) {
		struct job *j = &s->jobs[i];

		if (j->done)
			continue;	/* from the journal */
		if (bench_stop_signal)
			break;
		if (!fits_budget(s, i)) {
			s->budget_stopped = true;
			break;
		}
		if (tty)
			progress(s, i, j, true);
		run_job(s, j);
		if (bench_stop_signal) {
			/* Killed by us mid-run: not a result. */
			result_init(&j->r);
			break;
		}
		j->done = true;
		journal_job(s, j);
		study_count_done(s, j);
		if (lines)
			progress(s, i + 1, j, false);
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	s->stop_signal = bench_stop_signal;
	s->finished = now_s();
	s->load_end = load_average();
}
