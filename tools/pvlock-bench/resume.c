/*
 * resume.c - the study's side of DIR/journal.txt (the lines: journal.c).
 * --resume reads it back: the study line must equal this invocation's (the
 * same plan), the calibration is reused (the same busy work in every
 * chunk), and each planned job finds its run by its key (job_key).
 */
#include <math.h>
#include <string.h>

#include "study.h"

static void put_list(char *buf, size_t n, size_t *used, const char *name,
		     const unsigned *v, unsigned count)
{
	*used += (size_t)snprintf(buf + *used, n - *used, " %s=", name);
	for (unsigned i = 0; i < count && *used < n; i++)
		*used += (size_t)snprintf(buf + *used, n - *used, "%s%u", i ? "," : "", v[i]);
}

static void put_locks(char *buf, size_t n, size_t *used, const char *name,
		      const struct lock_adapter *const *l, unsigned count)
{
	*used += (size_t)snprintf(buf + *used, n - *used, " %s=", name);
	for (unsigned i = 0; i < count && *used < n; i++)
		*used += (size_t)snprintf(buf + *used, n - *used, "%s%s", i ? "," : "", l[i]->name);
}

/* The options that decide the plan and the runs, in one line. */
static void study_line(const struct study *s, char *buf, size_t n)
{
	const struct options *o = s->o;
	size_t used = (size_t)snprintf(buf, n, "study");

	put_locks(buf, n, &used, "locks", o->locks, o->nlocks);
	put_list(buf, n, &used, "threads", o->threads, o->nthreads);
	put_list(buf, n, &used, "cs-lines", o->cs_lines, o->ncs_lines);
	put_list(buf, n, &used, "non-cs-ns", o->non_cs_ns, o->nnon_cs_ns);
	put_list(buf, n, &used, "lock-count", o->lock_counts, o->nlock_counts);
	if (used < n)
		used += (size_t)snprintf(buf + used, n - used,
			" duration=%.17g warmup=%.17g cpus=%u repeat=%u seed=%llu spin-threshold=%u"
			" contention=%d fastpath=%d fastpath-iters=%llu sweep=%u:%u sweep-threads=%u"
			" autogroup-nice=%d",
			o->duration_s, o->warmup_s, o->cpus, o->repeat, (unsigned long long)o->seed,
			o->spin_threshold, o->contention, o->fastpath,
			(unsigned long long)o->fastpath_iters, o->sweep_lo, o->sweep_hi,
			o->sweep_threads, o->autogroup_nice);
	if (o->sweep_hi && used < n)
		put_locks(buf, n, &used, "sweep-locks", o->sweep_locks, o->nsweep_locks);
}

/* The planned job not yet done whose key is key, or NULL. */
static struct job *find_job(struct study *s, const char *key)
{
	char want[256];

	for (unsigned i = 0; i < s->njobs; i++) {
		struct job *j = &s->jobs[i];
		job_key(j, want, sizeof(want));
		if (!j->done && !strcmp(key, want))
			return j;
	}
	return NULL;
}

/* One line of the journal, taken into the study. */
static void take(void *ctx, const struct journal_entry *e)
{
	struct study *s = ctx;
	struct job *j;

	switch (e->kind) {
	case JOURNAL_CALIBRATION:
		study_set_calibration(s, e->value);
		break;
	case JOURNAL_IR:
		for (unsigned i = 0; i < s->nfp_locks; i++)
			if (!strcmp(s->fp_locks[i]->name, e->name))
				s->fastpath_ir[i] = e->value;
		break;
	case JOURNAL_RUN:
		j = find_job(s, e->key);
		if (!j)
			break;	/* not part of this plan */
		if (e->unreadable) {
			fprintf(stderr, BENCH_NAME ": --resume: %s:%u: unreadable run, "
				"running it again\n", e->path, e->lineno);
			break;
		}
		j->r = e->r;
		j->done = j->from_journal = true;
		s->nresumed++;
		if (!isnan(j->r.wall_s))
			s->resumed_wall_s += j->r.wall_s;
		study_count_done(s, j);
		break;
	}
}

int study_journal_open(struct study *s, const char *dir)
{
	char path[PATH_MAX], line[4096];
	int rc = 1;

	snprintf(path, sizeof(path), "%s/journal.txt", dir);
	study_line(s, line, sizeof(line));
	if (s->o->resume)
		rc = journal_read(path, line, take, s);
	if (rc < 0)
		return -1;
	s->journal = rc ? journal_create(path, line, s->loops_per_ns, &s->prov)
			: journal_reopen(path, &s->prov);
	return s->journal ? 0 : -1;
}

void study_journal_close(struct study *s)
{
	if (s->journal)
		fclose(s->journal);
	s->journal = NULL;
}
