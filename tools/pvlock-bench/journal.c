/*
 * journal.c - DIR/journal.txt: every finished run, appended the moment it
 * finishes, so that a study survives Ctrl-C and can be run in chunks.
 *
 *   pvlock-bench-journal 1
 *   study <every option that decides what is run and how>
 *   calibration loops_per_ns=<the busy loop's calibration>
 *   run <kind> <lock> <workload> <threads> <threshold> <rep> wall_s=<s> | <result line>
 *   ir <lock> <instructions per lock+unlock>
 *
 * --resume reads it back: the study line must equal this invocation's (the
 * same plan), the calibration is reused (the same busy work in every
 * chunk), and each planned job finds its run by its key.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "study.h"

#define JOURNAL_MAGIC "pvlock-bench-journal 1"

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

/* "run contention pv-queued 3 8 0 1": what identifies a job. */
static void job_key(const struct job *j, char *buf, size_t n)
{
	snprintf(buf, n, "run %s %s %u %u %u %u%s", study_kind_name(j->kind), j->lock->name, j->wl,
		 j->threads, j->threshold, j->rep, j->callgrind ? " callgrind" : "");
}

static struct job *find_job(struct study *s, const char *line)
{
	char key[256];

	for (unsigned i = 0; i < s->njobs; i++) {
		struct job *j = &s->jobs[i];
		job_key(j, key, sizeof(key));
		size_t len = strlen(key);
		if (!j->done && !strncmp(line, key, len) && !strncmp(line + len, " wall_s=", 8))
			return j;
	}
	return NULL;
}

static int load(struct study *s, FILE *f, const char *path)
{
	char line[16384], want[4096];
	unsigned lineno = 0;

	study_line(s, want, sizeof(want));
	if (!fgets(line, sizeof(line), f) || strcmp(line, JOURNAL_MAGIC "\n")) {
		fprintf(stderr, BENCH_NAME ": --resume: %s is not a pvlock-bench journal\n", path);
		return -1;
	}
	if (!fgets(line, sizeof(line), f) || strncmp(line, want, strlen(want)) ||
	    line[strlen(want)] != '\n') {
		fprintf(stderr, BENCH_NAME ": --resume: %s holds a different study; its options "
			"were:\n  %s", path, line);
		fprintf(stderr, BENCH_NAME ": this invocation's are:\n  %s\n", want);
		return -1;
	}
	lineno = 2;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n'))
			break;	/* the last line, cut short by a kill: ignore it */
		if (!strncmp(line, "calibration loops_per_ns=", 25)) {
			study_set_calibration(s, strtod(line + 25, NULL));
		} else if (!strncmp(line, "ir ", 3)) {
			char name[64];
			double ir;
			if (sscanf(line + 3, "%63s %lf", name, &ir) == 2)
				for (unsigned i = 0; i < s->o->nlocks; i++)
					if (!strcmp(s->o->locks[i]->name, name))
						s->fastpath_ir[i] = ir;
		} else if (!strncmp(line, "run ", 4)) {
			struct job *j = find_job(s, line);
			const char *wall = strstr(line, " wall_s=");
			if (!j || !wall)
				continue;	/* not part of this plan */
			result_init(&j->r);
			if (result_parse_line(line, &j->r)) {
				fprintf(stderr, BENCH_NAME ": --resume: %s:%u: unreadable run, "
					"running it again\n", path, lineno);
				result_init(&j->r);
				continue;
			}
			j->r.wall_s = strtod(wall + 8, NULL);
			j->done = j->from_journal = true;
			s->ndone++;
			s->nresumed++;
			if (!isnan(j->r.wall_s))
				s->resumed_wall_s += j->r.wall_s;
			if (j->r.status == RUN_CHECK_FAILED)
				s->any_check_failed = true;
			if (!j->callgrind && (j->r.status == RUN_FAILED || j->r.status == RUN_CRASHED))
				s->any_start_failed = true;
			if (j->kind != STUDY_FASTPATH && j->r.status == RUN_OK && !j->r.checked)
				s->unchecked++;
		}
	}
	return 0;
}

int journal_open(struct study *s, const char *dir)
{
	char path[PATH_MAX], head[4096];

	snprintf(path, sizeof(path), "%s/journal.txt", dir);
	if (s->o->resume) {
		FILE *f = fopen(path, "r");
		if (!f && errno != ENOENT) {
			fprintf(stderr, BENCH_NAME ": --resume: %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (f) {
			int rc = load(s, f, path);
			fclose(f);
			if (rc)
				return -1;
			s->journal = fopen(path, "a");
			if (!s->journal) {
				fprintf(stderr, BENCH_NAME ": %s: %s\n", path, strerror(errno));
				return -1;
			}
			return 0;
		}
	}
	s->journal = fopen(path, "w");
	if (!s->journal) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	study_line(s, head, sizeof(head));
	fprintf(s->journal, JOURNAL_MAGIC "\n%s\ncalibration loops_per_ns=%.17g\n", head,
		s->loops_per_ns);
	fflush(s->journal);
	return 0;
}

void journal_append(struct study *s, const struct job *j)
{
	char key[256];

	if (!s->journal)
		return;
	job_key(j, key, sizeof(key));
	fprintf(s->journal, "%s wall_s=%.17g | ", key, j->r.wall_s);
	result_write_line(s->journal, &j->r);	/* ends the line and flushes */
	if (j->callgrind)
		for (unsigned i = 0; i < s->o->nlocks; i++)
			if ((j->members & (1ull << i)) && !isnan(s->fastpath_ir[i]))
				fprintf(s->journal, "ir %s %.17g\n", s->o->locks[i]->name,
					s->fastpath_ir[i]);
	fflush(s->journal);
}

void journal_close(struct study *s)
{
	if (s->journal)
		fclose(s->journal);
	s->journal = NULL;
}
