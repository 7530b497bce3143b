/*
 * journal.c - the format of DIR/journal.txt: every finished run, appended
 * the moment it finishes, so that a study survives Ctrl-C and can be run in
 * chunks.
 *
 *   pvlock-bench-journal 1
 *   study <every option that decides what is run and how>
 *   calibration loops_per_ns=<the busy loop's calibration>
 *   started <date>, commit <commit>, machine <machine>   (one per chunk)
 *   run <kind> <lock> <workload> <threads> <threshold> <rep> wall_s=<s> | <result line>
 *   ir <lock> <instructions per lock+unlock>
 *
 * This file knows the lines, not the study: resume.c says what the study
 * line and a run's key are, and what a line read back means to the study.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define JOURNAL_MAGIC "pvlock-bench-journal 1"

static FILE *open_or_say(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);

	if (!f)
		fprintf(stderr, BENCH_NAME ": %s: %s\n", path, strerror(errno));
	return f;
}

static void put_started(FILE *f, const struct provenance *p)
{
	fprintf(f, "started %s, commit %s, machine %s\n", p->date, p->commit, p->machine);
	fflush(f);
}

FILE *journal_create(const char *path, const char *study_line, double loops_per_ns,
		     const struct provenance *p)
{
	FILE *f = open_or_say(path, "w");

	if (f) {
		fprintf(f, JOURNAL_MAGIC "\n%s\ncalibration loops_per_ns=%.17g\n", study_line,
			loops_per_ns);
		put_started(f, p);
	}
	return f;
}

/* One line read back: what it is, handed to take(). */
static void read_line(char *line, struct journal_entry *e, journal_take *take, void *ctx)
{
	char *wall;

	e->key = NULL;
	e->unreadable = false;
	if (!strncmp(line, "calibration loops_per_ns=", 25)) {
		e->kind = JOURNAL_CALIBRATION;
		e->value = strtod(line + 25, NULL);
	} else if (!strncmp(line, "ir ", 3)) {
		e->kind = JOURNAL_IR;
		if (sscanf(line + 3, "%63s %lf", e->name, &e->value) != 2)
			return;
	} else if (!strncmp(line, "run ", 4) && (wall = strstr(line, " wall_s="))) {
		e->kind = JOURNAL_RUN;
		result_init(&e->r);
		e->unreadable = result_parse_line(line, &e->r) != 0;
		if (e->unreadable)
			result_init(&e->r);
		e->value = e->r.wall_s = strtod(wall + 8, NULL);
		*wall = '\0';
		e->key = line;
	} else {
		return;	/* "started": for the reader, not for the study */
	}
	take(ctx, e);
}

int journal_read(const char *path, const char *study_line, journal_take *take, void *ctx)
{
	char line[16384];
	struct journal_entry e = { .lineno = 2 };
	FILE *f = fopen(path, "r");

	if (!f && errno == ENOENT)
		return 1;
	if (!f) {
		fprintf(stderr, BENCH_NAME ": --resume: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f) || strcmp(line, JOURNAL_MAGIC "\n")) {
		fprintf(stderr, BENCH_NAME ": --resume: %s is not a pvlock-bench journal\n", path);
		fclose(f);
		return -1;
	}
	if (!fgets(line, sizeof(line), f) || strncmp(line, study_line, strlen(study_line)) ||
	    line[strlen(study_line)] != '\n') {
		fprintf(stderr, BENCH_NAME ": --resume: %s holds a different study; its options "
			"were:\n  %s", path, line);
		fprintf(stderr, BENCH_NAME ": this invocation's are:\n  %s\n", study_line);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		e.lineno++;
		if (!strchr(line, '\n'))
			break;	/* the last line, cut short by a kill: ignore it */
		read_line(line, &e, take, ctx);
	}
	fclose(f);
	return 0;
}

FILE *journal_reopen(const char *path, const struct provenance *p)
{
	FILE *f = open_or_say(path, "a");

	if (f)
		put_started(f, p);
	return f;
}

void journal_add_run(FILE *f, const char *key, const struct run_result *r)
{
	fprintf(f, "%s wall_s=%.17g | ", key, r->wall_s);
	result_write_line(f, r);	/* ends the line and flushes */
}

void journal_add_ir(FILE *f, const char *lock, double ir)
{
	fprintf(f, "ir %s %.17g\n", lock, ir);
	fflush(f);
}
