/*
 * main.c - pvlock-bench: measure pvlock against glibc and Concurrency Kit
 * locks, uncontended and with more threads than CPUs.
 *
 * One binary, three roles: the study (the default) plans and reports, and
 * starts itself again as --run-one or --run-fastpath for every measurement.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "study.h"

/* mkdir -p, for --output. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -1;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0777) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0777) && errno != EEXIST ? -1 : 0;
}

typedef void writer(FILE *f, const struct study *s);

static int write_file(const char *dir, const char *name, writer *w, const struct study *s)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	w(f, s);
	if (fclose(f)) {
		fprintf(stderr, BENCH_NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_outputs(const char *dir, const struct study *s)
{
	int rc = 0;

	if (make_dirs(dir)) {
		fprintf(stderr, BENCH_NAME ": --output: cannot create '%s': %s\n", dir,
			strerror(errno));
		return -1;
	}
	rc |= write_file(dir, "table.txt", report_table, s);
	rc |= write_file(dir, "summary.csv", report_csv_summary, s);
	rc |= write_file(dir, "runs.csv", report_csv_runs, s);
	rc |= write_file(dir, "results.json", report_json, s);
	rc |= report_plot_data(dir, s);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct study s;

	options_parse(&o, argc, argv);
	if (o.role == ROLE_RUN_ONE)
		return workload_main(&o);
	if (o.role == ROLE_RUN_FASTPATH)
		return fastpath_main(&o);

	/* Fail on an unwritable --output now, not after minutes of measuring. */
	if (o.output_dir && make_dirs(o.output_dir)) {
		fprintf(stderr, BENCH_NAME ": --output: cannot create '%s': %s\n", o.output_dir,
			strerror(errno));
		return 2;
	}
	study_plan(&s, &o);
	study_run(&s);
	study_summarize(&s);

	int rc = 0;
	if (o.output_dir && write_outputs(o.output_dir, &s))
		rc = 1;
	if (o.format == FORMAT_TABLE)
		report_table(stdout, &s);
	else if (o.format == FORMAT_CSV)
		report_csv_summary(stdout, &s);
	else
		report_json(stdout, &s);
	if (s.any_check_failed) {
		fprintf(stderr, BENCH_NAME ": a lock failed the mutual-exclusion check (see above)\n");
		rc = 1;
	}
	if (s.any_start_failed) {
		fprintf(stderr, BENCH_NAME ": some runs failed or crashed (see above)\n");
		rc = 1;
	}
	return rc;
}
