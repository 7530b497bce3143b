#define _GNU_SOURCE
/*
 * options.c - the command line.  Every bad value gets one line naming the
 * option, the value and what is accepted, and exit status 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "torture.h"

static const char usage[] =
"usage: " PROG " [options]\n"
"\n"
"Stress pvlock's locks with many threads, signal-handler nesting, thread\n"
"churn and injected faults; check mutual exclusion and progress.  Without\n"
"--lock/--mode it runs every real lock in both modes, one child process per\n"
"combination.  The last line is SUCCESS or FAILURE: <reasons>; the exit\n"
"status is 0 only on SUCCESS (1 on FAILURE, 2 on a bad command line).\n"
"\n"
"What to torture:\n"
"  --lock KIND           queued, ticket, tas, busted (a broken lock: must\n"
"                        FAIL) or all (queued, ticket, tas; default)\n"
"  --mode MODE           native, pv or all (default); each mode runs in its\n"
"                        own child with PVLOCK_MODE set\n"
"  --threads N           writer threads (default 4 per online CPU)\n"
"  --locks M             locks the writers share (default 2)\n"
"  --duration SECONDS    length of each run (default 3; fractions allowed)\n"
"  --seed N              random seed (default: from the clock; printed)\n"
"  --spin-threshold N    pv spins before sleeping (default: the library's)\n"
"\n"
"Torture:\n"
"  --stutter             pause and resume all writers periodically\n"
"  --signals             signal writers; handlers take their own locks,\n"
"                        nesting up to --signal-depth handlers\n"
"  --signal-depth N      1 to 4 nested handler levels (default 2; implies\n"
"                        --signals)\n"
"  --churn               writers exit after 5-50 ms and are replaced, so the\n"
"                        library's thread slots are recycled\n"
"\n"
"Fault injection (needs the library built with -DPVLOCK_FAULT_INJECTION):\n"
"  --spurious-wakeup PCT  PCT% of pv waits return at once, unslept\n"
"  --kick-delay-us N     delay every kick by N microseconds\n"
"  --drop-kicks          kicks wake nobody (negative control: pv must FAIL)\n"
"  --hash-lines N        use only N 64-byte lines of the pv hash table\n"
"  --preempt PCT         PCT% of the preemption points give up the CPU\n"
"  --preempt-us N        ... by sleeping N us instead of sched_yield()\n"
"  --slots N             only N thread slots exist (others go without)\n"
"\n"
"Checking:\n"
"  --stall SECONDS       watchdog: FAILURE when a writer makes no progress\n"
"                        for this long (default 3; more beyond 4 threads per\n"
"                        CPU, much more for native queued/ticket), counted\n"
"                        in the process's CPU time per CPU, so that a loaded\n"
"                        machine is not a stall; or for 10 times as long by\n"
"                        the clock\n"
"  --until CONDITIONS    after --duration, go on until every writer has\n"
"                        acquired a lock and each condition holds: a comma-\n"
"                        separated list of NAME (the \"stat\" or \"fault\"\n"
"                        counter is non-zero), NAME|NAME... (their sum is),\n"
"                        or NAME>NAME\n"
"  --until-max SECONDS   ... for at most this much longer (default 60)\n"
"  --stat-interval S     print a progress line every S seconds (default 0: off)\n"
"  --version             print the version of pvlock-torture and the library\n"
"  --help                this text\n"
"\n"
"SIGINT or SIGTERM stops the running child and ends with a line\n"
"\"INTERRUPTED: ...\" (after the RESULT lines of the runs that finished) and\n"
"exit status 128 + the signal (130 for Ctrl-C).\n";

enum {
	O_LOCK = 256, O_MODE, O_THREADS, O_LOCKS, O_DURATION, O_SEED, O_SPIN,
	O_STUTTER, O_SIGNALS, O_DEPTH, O_CHURN,
	O_SPURIOUS, O_KICK_DELAY, O_DROP_KICKS, O_HASH_LINES, O_PREEMPT,
	O_PREEMPT_US, O_SLOTS, O_STALL, O_STAT_INTERVAL, O_HELP, O_VERSION,
	O_UNTIL, O_UNTIL_MAX,
};

static const struct option longopts[] = {
	{ "lock", required_argument, NULL, O_LOCK },
	{ "mode", required_argument, NULL, O_MODE },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "locks", required_argument, NULL, O_LOCKS },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "seed", required_argument, NULL, O_SEED },
	{ "spin-threshold", required_argument, NULL, O_SPIN },
	{ "stutter", no_argument, NULL, O_STUTTER },
	{ "signals", no_argument, NULL, O_SIGNALS },
	{ "signal-depth", required_argument, NULL, O_DEPTH },
	{ "churn", no_argument, NULL, O_CHURN },
	{ "spurious-wakeup", required_argument, NULL, O_SPURIOUS },
	{ "kick-delay-us", required_argument, NULL, O_KICK_DELAY },
	{ "drop-kicks", no_argument, NULL, O_DROP_KICKS },
	{ "hash-lines", required_argument, NULL, O_HASH_LINES },
	{ "preempt", required_argument, NULL, O_PREEMPT },
	{ "preempt-us", required_argument, NULL, O_PREEMPT_US },
	{ "slots", required_argument, NULL, O_SLOTS },
	{ "stall", required_argument, NULL, O_STALL },
	{ "stat-interval", required_argument, NULL, O_STAT_INTERVAL },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "until-max", required_argument, NULL, O_UNTIL_MAX },
	{ "help", no_argument, NULL, O_HELP },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

static _Noreturn void bad(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (!*s || *s == '-' || *end || errno || v < min || v > max)
		bad("--%s: invalid value '%s' (expected an integer from %llu to %llu)",
		    opt, s, (unsigned long long)min, (unsigned long long)max);
	return v;
}

static unsigned parse_uint(const char *opt, const char *s, unsigned min, unsigned max)
{
	return (unsigned)parse_u64(opt, s, min, max);
}

static double parse_seconds(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min && v <= max))
		bad("--%s: invalid value '%s' (expected seconds from %g to %g)", opt, s, min, max);
	return v;
}

static int parse_choice(const char *opt, const char *s, const char *const *names,
			const int *values, const char *accepted)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return values[i];
	bad("--%s: invalid value '%s' (expected one of: %s)", opt, s, accepted);
}

static void defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lock = LOCK_ALL;
	cfg->mode = MODE_ALL;
	cfg->threads = usable_cpus() * 4;
	cfg->locks = 2;
	cfg->duration_s = 3;
	cfg->stall_s = 3;
	cfg->until_max_s = 60;
	cfg->signal_depth = 2;
	cfg->seed = now_ns() ^ ((uint64_t)getpid() << 32);
}

/*
 * 3 s at up to 4 threads per CPU.  Beyond that a writer's turn comes round
 * more slowly: linearly more writers share the CPUs, and a fair lock in
 * native mode hands over only when its next waiter gets a CPU, so it slows
 * down by that factor again (the collapse pv mode exists to avoid).  When
 * the lock or mode is "all", assume the slowest: the orchestrator bases its
 * own time limit on this.
 */
static double default_stall(const struct config *cfg)
{
	double over = cfg->threads / (4.0 * (double)usable_cpus());
	bool fair_native = cfg->mode != PVLOCK_MODE_PV &&
			   (cfg->lock == LOCK_QUEUED || cfg->lock == LOCK_TICKET || cfg->lock == LOCK_ALL);

	if (over < 1)
		over = 1;
	return 3 * over * (fair_native ? over : 1);
}

/* Remember the first fault switch: the error if the library can't inject. */
static void fault_opt(struct config *cfg, const char *name)
{
	if (!cfg->first_fault_opt)
		cfg->first_fault_opt = name;
}

void options_parse(int argc, char **argv, struct config *cfg)
{
	static const char *const lock_names[] = { "queued", "ticket", "tas", "busted", "all", NULL };
	static const int lock_values[] = { LOCK_QUEUED, LOCK_TICKET, LOCK_TAS, LOCK_BUSTED, LOCK_ALL };
	static const char *const mode_names[] = { "native", "pv", "all", NULL };
	static const int mode_values[] = { PVLOCK_MODE_NATIVE, PVLOCK_MODE_PV, MODE_ALL };
	bool stall_given = false;
	int c, idx;

	defaults(cfg);
	opterr = 0;	/* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
		const char *name = c >= 256 ? longopts[idx].name : "";

		switch (c) {
		case O_LOCK:
			cfg->lock = parse_choice(name, optarg, lock_names, lock_values,
						 "queued, ticket, tas, busted, all");
			break;
		case O_MODE:
			cfg->mode = parse_choice(name, optarg, mode_names, mode_values,
						 "native, pv, all");
			break;
		case O_THREADS: cfg->threads = parse_uint(name, optarg, 1, 1024); break;
		case O_LOCKS: cfg->locks = parse_uint(name, optarg, 1, 4096); break;
		case O_DURATION: cfg->duration_s = parse_seconds(name, optarg, 0.1, 86400); break;
		case O_SEED: cfg->seed = parse_u64(name, optarg, 0, UINT64_MAX); break;
		case O_SPIN:
			cfg->spin_threshold = parse_uint(name, optarg, 1, PVLOCK_SPIN_THRESHOLD_MAX);
			break;
		case O_STUTTER: cfg->stutter = true; break;
		case O_SIGNALS: cfg->signals = true; break;
		case O_DEPTH:
			cfg->signal_depth = parse_uint(name, optarg, 1, MAX_SIGNAL_DEPTH);
			cfg->signals = true;
			break;
		case O_CHURN: cfg->churn = true; break;
		case O_SPURIOUS:
			cfg->spurious_pct = parse_uint(name, optarg, 0, 100);
			fault_opt(cfg, "--spurious-wakeup");
			break;
		case O_KICK_DELAY:
			cfg->kick_delay_us = parse_uint(name, optarg, 0, 1000000);
			fault_opt(cfg, "--kick-delay-us");
			break;
		case O_DROP_KICKS:
			cfg->drop_kicks = true;
			fault_opt(cfg, "--drop-kicks");
			break;
		case O_HASH_LINES:
			cfg->hash_lines = parse_uint(name, optarg, 1, 1u << 20);
			fault_opt(cfg, "--hash-lines");
			break;
		case O_PREEMPT:
			cfg->preempt_pct = parse_uint(name, optarg, 0, 100);
			fault_opt(cfg, "--preempt");
			break;
		case O_PREEMPT_US:
			cfg->preempt_us = parse_uint(name, optarg, 0, 1000000);
			fault_opt(cfg, "--preempt-us");
			break;
		case O_SLOTS:
			cfg->slots = parse_uint(name, optarg, 1, 16383);
			fault_opt(cfg, "--slots");
			break;
		case O_STALL:
			cfg->stall_s = parse_seconds(name, optarg, 0.2, 3600);
			stall_given = true;
			break;
		case O_STAT_INTERVAL:
			cfg->stat_interval_s = parse_uint(name, optarg, 0, 3600);
			break;
		case O_UNTIL: {
			char why[200];

			if (!until_parse(optarg, why, sizeof(why)))
				bad("--until: invalid value '%s' (%s)", optarg, why);
			cfg->until = optarg;
			break;
		}
		case O_UNTIL_MAX:
			cfg->until_max_s = parse_seconds(name, optarg, 0, 86400);
			break;
		case O_VERSION:
			printf(PROG " %d.%d.%d (pvlock %d.%d.%d)\n", PVLOCK_VERSION_MAJOR,
			       PVLOCK_VERSION_MINOR, PVLOCK_VERSION_PATCH, PVLOCK_VERSION_MAJOR,
			       PVLOCK_VERSION_MINOR, PVLOCK_VERSION_PATCH);
			exit(EXIT_OK);
		case 'h':
		case O_HELP:
			fputs(usage, stdout);
			exit(EXIT_OK);
		case ':':
			bad("option '%s' needs a value (see --help)", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < 256)
				bad("unknown option '-%c' (see --help)", optopt);
			bad("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad("unexpected argument '%s' (see --help)", argv[optind]);
	if (!stall_given)
		cfg->stall_s = default_stall(cfg);
	/* One entry per lock with a sleeping queue head: a table smaller than
	 * the number of locks can legitimately fill (the library then aborts). */
	unsigned all_locks = cfg->locks + (cfg->signals ? cfg->signal_depth * HANDLER_LOCKS : 0);
	if (cfg->hash_lines && cfg->hash_lines * 4 < all_locks)
		bad("--hash-lines: invalid value '%u' (this run has %u locks and a line holds 4 "
		    "entries: expected at least %u)", cfg->hash_lines, all_locks, (all_locks + 3) / 4);
	faults_check_available(cfg);
}
