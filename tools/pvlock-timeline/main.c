/*
 * pvlock-timeline - draw a short window of one contended run as a timeline:
 * one lane per thread, the scheduler's view on top (running, preempted,
 * blocked: from the bpf backend's sched_switch program) and the lock's
 * below (holding; waiting while running = spinning, while blocked =
 * sleeping, while preempted = preempted waiting; a tick where a sleeping
 * waiter was woken = kicked).  Writes PREFIX.dat and, with gnuplot,
 * PREFIX.svg and PREFIX.png.  Needs the bpf backend (root).
 *
 *   pvlock-timeline [--lock native-ticket|pv-ticket|pv-queued|native-queued]
 *                   [--threads N] [--cpus K] [--window-ms MS] [--output PREFIX]
 *                   [--help] [--version]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvlock.h>

#include "algo/hooks.h"
#include "backend/backend.h"
#include "backend/bpf/bpf_abi.h"

enum { MAX_THREADS = 64, MAX_EVENTS = 1 << 21 };
enum lock_state { L_OTHER, L_WAIT, L_HOLD };

struct event { uint64_t ns; int kind; int state; };	/* kind 0 lock, 1 sched */

static struct lane {
	struct pvlock_slot *slot;
	int cur;			/* lock state now (enum lock_state) */
	int start_lock, start_sched;	/* states when the window opened */
	struct event ev[MAX_EVENTS];
	unsigned n;
} *lanes;

static int nthreads = 8, ncpus = 2, window_ms = 20;
static const char *lock_name = "pv-queued", *output = "timeline";
static pvlock_t qlock;
static pvlock_ticket_t tlock;
static bool ticket;
static volatile int recording, stop;
static volatile uint64_t shared_line[8];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* the program's clock too */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note(struct lane *l, int kind, int state)
{
	__atomic_store_n(&l->cur, state, __ATOMIC_RELAXED);
	if (__atomic_load_n(&recording, __ATOMIC_RELAXED) && l->n < MAX_EVENTS)
		l->ev[l->n++] = (struct event){ now_ns(), kind, state };
}

static void *worker(void *arg)
{
	struct lane *l = arg;

	l->slot = pvlock__slot_self();		/* registers with the program */
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		note(l, 0, L_WAIT);
		if (ticket)
			pvlock_ticket_lock(&tlock);
		else
			pvlock_lock(&qlock);
		note(l, 0, L_HOLD);
		shared_line[0]++;
		if (ticket)
			pvlock_ticket_unlock(&tlock);
		else
			pvlock_unlock(&qlock);
		note(l, 0, L_OTHER);
		for (volatile int i = 0; i < 50; i++)	/* ~100 ns of work */
			;
	}
	return NULL;
}

static struct lane *lane_of_slot(uint32_t slot)
{
	for (int i = 0; i < nthreads; i++)
		if (lanes[i].slot && lanes[i].slot->index == slot)
			return &lanes[i];
	return NULL;
}

static void on_sched(const struct pvlock_bpf_event *e, void *arg)
{
	struct lane *l = lane_of_slot(e->slot);

	(void)arg;
	if (l && l->n < MAX_EVENTS)
		l->ev[l->n++] = (struct event){ e->ns, 1, (int)e->state };
}

static int by_time(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/*
 * The picture has PIXELS columns; each row gets, per column, the state it
 * spent most of that column's time in, and runs of equal columns become one
 * rectangle (a run of millions of acquisitions stays a small file).
 */
enum { PIXELS = 1400, STATES = 9 };
enum { ST_NONE, ST_RUNNING, ST_PREEMPTED, ST_BLOCKED, ST_HOLD, ST_SPIN, ST_SLEEP,
       ST_WAIT_PREEMPTED, ST_KICKED };
static const char *st_rgb[STATES] = { "ffffff", "2ca02c", "d62728", "bbbbbb", "1f77b4",
				      "ff7f0e", "ffd8a8", "9467bd", "000000" };
static double bucket[2][PIXELS][STATES];	/* [row][column][state] = ns */
static bool kicked_at[PIXELS];

static void add(int row, double a, double b, int st, double px_ns)
{
	while (a < b) {
		int c = (int)(a / px_ns);
		if (c >= PIXELS)
			return;
		double end = (c + 1) * px_ns < b ? (c + 1) * px_ns : b;
		if (end <= a) {		/* rounding at a column edge */
			if (c + 1 >= PIXELS)
				return;
			end = a + 1e-3;
		}
		bucket[row][c][st] += end - a;
		a = end;
	}
}

static void emit_row(FILE *f, int row, double y, double px_us)
{
	int run = -1, run_start = 0;

	for (int c = 0; c <= PIXELS; c++) {
		int best = -1;
		if (c < PIXELS) {
			double most = 0;
			for (int st = 1; st < STATES; st++)
				if (bucket[row][c][st] > most) {
					most = bucket[row][c][st];
					best = st;
				}
		}
		if (best == run)
			continue;
		if (run > 0)
			fprintf(f, "%.3f %.3f %.3f 0.4 0x%s\n", (run_start + c) * px_us / 2, y,
				(c - run_start) * px_us / 2, st_rgb[run]);
		run = best;
		run_start = c;
	}
	if (row == 1)
		for (int c = 0; c < PIXELS; c++)
			if (kicked_at[c])
				fprintf(f, "%.3f %.3f %.3f 0.4 0x%s\n", (c + 0.5) * px_us, y,
					px_us / 2, st_rgb[ST_KICKED]);
}

static void draw_lane(FILE *f, struct lane *l, int index, uint64_t t0, uint64_t t1)
{
	int s = l->start_sched, k = l->start_lock;
	double y_s = nthreads - index, y_l = y_s - 0.45;
	double px_ns = (double)(t1 - t0) / PIXELS;
	uint64_t prev = t0;

	memset(bucket, 0, sizeof(bucket));
	memset(kicked_at, 0, sizeof(kicked_at));
	qsort(l->ev, l->n, sizeof(l->ev[0]), by_time);
	for (unsigned i = 0; i <= l->n; i++) {
		uint64_t t = i < l->n ? l->ev[i].ns : t1;
		if (t < t0)
			t = t0;
		if (t > t1)
			t = t1;
		double a = (double)(prev - t0), b = (double)(t - t0);
		int sched = s == PVLOCK_BPF_RUNNABLE ? ST_PREEMPTED :
			    s == PVLOCK_BPF_BLOCKED ? ST_BLOCKED : ST_RUNNING;
		add(0, a, b, sched, px_ns);
		if (k == L_HOLD)
			add(1, a, b, ST_HOLD, px_ns);
		else if (k == L_WAIT)
			add(1, a, b, sched == ST_RUNNING ? ST_SPIN :
			    sched == ST_BLOCKED ? ST_SLEEP : ST_WAIT_PREEMPTED, px_ns);
		prev = t;
		if (i == l->n)
			break;
		if (l->ev[i].kind == 1) {
			/* woken while asleep waiting for the lock: kicked */
			if (k == L_WAIT && s == PVLOCK_BPF_BLOCKED &&
			    l->ev[i].state == PVLOCK_BPF_RUNNABLE && t > t0 && t < t1)
				kicked_at[(int)(b / px_ns) < PIXELS ? (int)(b / px_ns) : PIXELS - 1] = true;
			s = l->ev[i].state;
		} else {
			k = l->ev[i].state;
		}
	}
	emit_row(f, 0, y_s, px_ns / 1000);
	emit_row(f, 1, y_l, px_ns / 1000);
}

static int write_plot(uint64_t t0, uint64_t t1)
{
	char path[512];

	snprintf(path, sizeof(path), "%s.dat", output);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "pvlock-timeline: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "# x_us y dx dy rgb: per lane, the scheduler's row, then the lock's\n");
	for (int i = 0; i < nthreads; i++)
		draw_lane(f, &lanes[i], i, t0, t1);
	fclose(f);

	snprintf(path, sizeof(path), "%s.gp", output);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f,
		"set title \"%s, %d threads on %d CPUs: %d ms of one run (pvlock-timeline)\" noenhanced\n"
		"set xlabel \"microseconds\"\nset yrange [0.2:%d.6]\nset xrange [0:%d]\n"
		"set ytics (", lock_name, nthreads, ncpus, window_ms, nthreads, window_ms * 1000);
	for (int i = 0; i < nthreads; i++)
		fprintf(f, "%s\"thread %d\" %d", i ? ", " : "", i, nthreads - i);
	fprintf(f, ")\nset key outside below horizontal noenhanced\nunset grid\n"
		"set style fill solid noborder\n");
	static const char *legend[][2] = {
		{ "2ca02c", "running (sched_switch)" }, { "d62728", "preempted" },
		{ "bbbbbb", "blocked" }, { "1f77b4", "holding the lock" },
		{ "ff7f0e", "spinning" }, { "ffd8a8", "sleeping" },
		{ "9467bd", "waiting, preempted" }, { "000000", "kicked" },
	};
	fprintf(f, "do for [t in \"png svg\"] {\n"
		"  if (t eq \"png\") { set terminal pngcairo size 1400,%d font \",10\" } "
		"else { set terminal svg size 1400,%d font \",10\" background \"white\" }\n"
		"  set output \"%s.\".t\n  plot \"%s.dat\" using 1:2:3:4:5 with boxxyerror "
		"lc rgb variable notitle",
		120 + 40 * nthreads, 120 + 40 * nthreads, output, output);
	for (unsigned i = 0; i < sizeof(legend) / sizeof(legend[0]); i++)
		fprintf(f, ", NaN with boxes lc rgb \"#%s\" title \"%s\"", legend[i][0], legend[i][1]);
	fprintf(f, "\n  unset output\n}\n");
	fclose(f);
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "gnuplot '%s.gp'", output);
	if (system(cmd) != 0) {
		fprintf(stderr, "pvlock-timeline: gnuplot failed or is missing: %s.dat and %s.gp "
			"are written, no pictures\n", output, output);
		return 1;
	}
	printf("timeline: %s.svg %s.png\n", output, output);
	return 0;
}

static const char usage[] =
	"usage: pvlock-timeline [--lock KIND] [--threads N] [--cpus K] [--window-ms MS]\n"
	"                       [--output PREFIX]\n"
	"Draw a short window of one contended run as a timeline: one lane per\n"
	"thread, the scheduler's view (running, preempted, blocked) above the\n"
	"lock's (holding, spinning, sleeping, waiting while preempted, kicked).\n"
	"Needs the bpf backend (root).\n"
	"\n"
	"  --lock KIND       pv-queued (default), pv-ticket, native-queued or\n"
	"                    native-ticket\n"
	"  --threads N       threads contending for the lock, 1 to 64 (default 8)\n"
	"  --cpus K          run on the first K CPUs this process may use, 1 to\n"
	"                    that many (default 2, or all if fewer)\n"
	"  --window-ms MS    length of the window drawn, 1 to 1000 (default 20)\n"
	"  --output PREFIX   writes PREFIX.dat, PREFIX.gp and, with gnuplot,\n"
	"                    PREFIX.svg and PREFIX.png (default timeline)\n"
	"  --help            this text\n"
	"  --version         print the version\n"
	"\n"
	"Exit status: 0 done; 1 the measurement or the pictures failed; 2 bad usage\n"
	"(a bad option or value, or PREFIX.dat cannot be written).\n";

static _Noreturn void bad_value(const char *opt, const char *val, const char *accepted)
{
	fprintf(stderr, "pvlock-timeline: %s: bad value '%s': expected %s\n", opt, val, accepted);
	exit(2);
}

/* A decimal integer from lo to hi, or one line naming the option and exit 2. */
static int parse_int(const char *opt, const char *s, long lo, long hi, const char *accepted)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v < lo || v > hi)
		bad_value(opt, s, accepted);
	return (int)v;
}

static void parse_options(int argc, char **argv, int online)
{
	static const char *const lock_names[] = { "pv-queued", "pv-ticket", "native-queued",
						  "native-ticket" };
	char cpus_accepted[96];

	if (ncpus > online)
		ncpus = online;
	snprintf(cpus_accepted, sizeof(cpus_accepted),
		 "an integer from 1 to %d (the CPUs this process may run on)", online);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "--help")) {
			fputs(usage, stdout);
			exit(0);
		}
		if (!strcmp(arg, "--version")) {
			printf("pvlock-timeline %d.%d.%d (pvlock %d.%d.%d)\n", PVLOCK_VERSION_MAJOR,
			       PVLOCK_VERSION_MINOR, PVLOCK_VERSION_PATCH, PVLOCK_VERSION_MAJOR,
			       PVLOCK_VERSION_MINOR, PVLOCK_VERSION_PATCH);
			exit(0);
		}
		const char *name = arg, *v = NULL, *eq = strchr(arg, '=');
		char buf[32];
		if (!strncmp(arg, "--", 2) && eq && (size_t)(eq - arg) < sizeof(buf)) {
			memcpy(buf, arg, (size_t)(eq - arg));
			buf[eq - arg] = '\0';
			name = buf;
			v = eq + 1;
		}
		bool known = !strcmp(name, "--lock") || !strcmp(name, "--threads") ||
			     !strcmp(name, "--cpus") || !strcmp(name, "--window-ms") ||
			     !strcmp(name, "--output");
		if (!known) {
			fprintf(stderr, "pvlock-timeline: unknown %s '%s' (see --help)\n",
				arg[0] == '-' ? "option" : "argument", arg);
			exit(2);
		}
		if (!v) {
			if (i + 1 >= argc) {
				fprintf(stderr, "pvlock-timeline: %s: missing value (see --help)\n", name);
				exit(2);
			}
			v = argv[++i];
		}
		if (!strcmp(name, "--lock")) {
			unsigned k;
			for (k = 0; k < sizeof(lock_names) / sizeof(lock_names[0]); k++)
				if (!strcmp(v, lock_names[k]))
					break;
			if (k == sizeof(lock_names) / sizeof(lock_names[0]))
				bad_value(name, v, "pv-queued, pv-ticket, native-queued or native-ticket");
			lock_name = v;
		} else if (!strcmp(name, "--threads")) {
			nthreads = parse_int(name, v, 1, MAX_THREADS, "an integer from 1 to 64");
		} else if (!strcmp(name, "--cpus")) {
			ncpus = parse_int(name, v, 1, online, cpus_accepted);
		} else if (!strcmp(name, "--window-ms")) {
			window_ms = parse_int(name, v, 1, 1000, "an integer from 1 to 1000");
		} else {
			if (!*v)
				bad_value(name, v, "a file name prefix");
			output = v;
		}
	}
}

/* Can PREFIX.dat be written?  Asked before anything is measured. */
static void check_output(void)
{
	char path[512];

	if ((size_t)snprintf(path, sizeof(path), "%s.dat", output) >= sizeof(path)) {
		fprintf(stderr, "pvlock-timeline: --output: '%s' is too long\n", output);
		exit(2);
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "pvlock-timeline: --output: cannot write %s: %s\n", path,
			strerror(errno));
		exit(2);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		fprintf(stderr, "pvlock-timeline: sched_getaffinity: %s\n", strerror(errno));
		return 1;
	}
	parse_options(argc, argv, CPU_COUNT(&set));
	check_output();
	bool native = !strncmp(lock_name, "native-", 7);
	ticket = strstr(lock_name, "ticket") != NULL;
	pvlock_set_mode(native ? PVLOCK_MODE_NATIVE : PVLOCK_MODE_PV);

	char why[300];
	if (strcmp(pvlock_backend(), "bpf") && pvlock__bpf_backend_load(why, sizeof(why))) {
		fprintf(stderr, "pvlock-timeline: needs the bpf backend: %s\n", why);
		return 1;
	}
	const struct pvlock_bpf_ops *ops = pvlock__bpf_ops();
	cpu_set_t use;
	CPU_ZERO(&use);
	for (int c = 0, k = 0; c < CPU_SETSIZE && k < ncpus; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_SET(c, &use);
			k++;
		}
	sched_setaffinity(0, sizeof(use), &use);

	lanes = calloc((size_t)nthreads, sizeof(*lanes));
	pthread_t t[MAX_THREADS];
	if (!lanes)
		return 1;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, &lanes[i]);
	usleep(500000);				/* steady state first */
	if (ops->trace(1) != 0) {
		fprintf(stderr, "pvlock-timeline: cannot start the scheduler trace\n");
		return 1;
	}
	uint64_t t0 = now_ns();
	for (int i = 0; i < nthreads; i++) {
		lanes[i].start_lock = __atomic_load_n(&lanes[i].cur, __ATOMIC_RELAXED);
		lanes[i].start_sched = pvlock__pv_slot_state(lanes[i].slot);
	}
	__atomic_store_n(&recording, 1, __ATOMIC_RELAXED);
	usleep((useconds_t)window_ms * 1000);
	__atomic_store_n(&recording, 0, __ATOMIC_RELAXED);
	uint64_t t1 = now_ns();
	ops->trace(0);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	ops->drain(on_sched, NULL);
	for (int i = 0; i < nthreads; i++) {
		unsigned sched = 0;
		for (unsigned e = 0; e < lanes[i].n; e++)
			sched += (unsigned)lanes[i].ev[e].kind;
		printf("thread %d: %u lock events, %u scheduler events\n", i, lanes[i].n - sched, sched);
	}
	return write_plot(t0, t1);
}
