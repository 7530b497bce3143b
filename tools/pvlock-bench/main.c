/*
 * main.c - pvlock-bench: measure pvlock against glibc and Concurrency Kit
 * locks, uncontended and with more threads than CPUs.
 *
 * One binary, three roles: the study (the default) plans and reports, and
 * starts itself again as --run-one or --run-fastpath for every measurement.
 */
#include <errno.h>
#include <signal.h>
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

/* Into DIR, which check_output_dir made before the study. */
static int write_outputs(const char *dir, const struct study *s)
{
	int rc = 0;

	rc |= write_file(dir, "table.txt", report_table, s);
	rc |= write_file(dir, "summary.csv", report_csv_summary, s);
	rc |= write_file(dir, "runs.csv", report_csv_runs, s);
	rc |= write_file(dir, "results.json", report_json, s);
	rc |= report_plot_data(dir, s);
	return rc;
}

static void on_stop_signal(int sig)
{
	bench_stop_signal = sig;
}

/* SIGINT, SIGTERM: finish nothing more, write what finished (see main). */
static void catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;	/* no SA_RESTART: poll and sleeps return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* --output must name a directory, existing or not: check before any run. */
static int check_output_dir(const char *dir)
{
	struct stat st;

	if (!stat(dir, &st) && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, BENCH_NAME ": --output: '%s' is a file, not a directory: name a "
			"directory (it is created if missing)\n", dir);
		return -1;
	}
	if (make_dirs(dir)) {
		fprintf(stderr, BENCH_NAME ": --output: cannot create '%s': %s\n", dir,
			strerror(errno));
		return -1;
	}
	return 0;
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
	if (o.output_dir && check_output_dir(o.output_dir))
		return 2;
	catch_stop_signals();
	if (o.autogroup_nice) {
		const char *why = autogroup_check(o.autogroup_nice);
		if (why) {
			fprintf(stderr, BENCH_NAME ": --autogroup-nice: %s\n", why);
			return 2;
		}
		run_autogroup_nice = o.autogroup_nice;
	}
	if (lock_left_out()[0] && !o.quiet)
		fprintf(stderr, BENCH_NAME ": peers left out of this build: %s\n", lock_left_out());
	study_plan(&s, &o);
	if (o.output_dir && study_journal_open(&s, o.output_dir))
		return 2;
	study_run(&s);
	study_journal_close(&s);
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
	if (s.stop_signal) {
		fprintf(stderr, BENCH_NAME ": interrupted by %s after %u of %u runs; %s what "
			"finished%s%s%s\n", s.stop_signal == SIGINT ? "SIGINT" : "SIGTERM", s.ndone,
			s.njobs, o.output_dir ? "wrote" : "printed",
			o.output_dir ? " to " : "", o.output_dir ? o.output_dir : "",
			o.output_dir ? " (the same command with --resume continues)"
				     : " (nothing saved to resume: with --output DIR, --resume "
				       "could continue it)");
		return 128 + s.stop_signal;
	}
	if (s.budget_stopped) {
		fprintf(stderr, BENCH_NAME ": --budget reached after %u of %u runs; %s what "
			"finished%s%s%s\n", s.ndone, s.njobs, o.output_dir ? "wrote" : "printed",
			o.output_dir ? " to " : "", o.output_dir ? o.output_dir : "",
			o.output_dir ? " (the same command with --resume continues)" : "");
		return rc ? rc : 3;
	}
	return rc;
}
