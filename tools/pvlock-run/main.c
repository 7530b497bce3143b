/*
 * pvlock-run - run a program with its pthread spinlocks, mutexes and
 * condition variables on pvlock (libpvlock-preload.so; docs/preload.md).
 *
 *   pvlock-run [--lock queued|ticket|tas] [--mode pv|native] [--report]
 *              [--] PROGRAM [ARGS...]
 *
 * It sets LD_PRELOAD and the library's environment variables, then execs the
 * program, so the exit status is the program's own.  Its own errors: 2 for a
 * bad command line, 126/127 when the program cannot be run (as env(1)).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvlock.h>

#define PRELOAD_NAME "libpvlock-preload.so"

static const char usage[] =
	"Usage: pvlock-run [OPTION]... [--] PROGRAM [ARGUMENT]...\n"
	"Run PROGRAM with its pthread spinlocks, mutexes and condition variables on\n"
	"pvlock, through LD_PRELOAD of " PRELOAD_NAME ".\n"
	"\n"
	"  --lock KIND   queued (default), ticket or tas: the lock behind\n"
	"                process-private spinlocks and NORMAL/DEFAULT mutexes\n"
	"                (sets PVLOCK_PRELOAD_LOCK)\n"
	"  --mode MODE   pv (default) or native: sleep-and-kick slow paths or\n"
	"                spinning ones (sets PVLOCK_MODE)\n"
	"  --report      at exit, print one line per process on stderr, starting\n"
	"                \"pvlock-preload:\", counting the locks pvlock handled and\n"
	"                those left to glibc (sets PVLOCK_PRELOAD_REPORT=1)\n"
	"  --help        show this help and exit\n"
	"  --version     show the version and exit\n"
	"\n"
	"The exit status is PROGRAM's; 2 for a bad command line, 126 if PROGRAM\n"
	"cannot be run, 127 if it is not found.  The library is looked for in\n"
	"../lib/ beside this program, or where PVLOCK_PRELOAD_LIB names it.\n"
	"Example: pvlock-run --lock queued --report -- xz -T0 -k big.file\n";

static void die(const char *fmt, const char *a, const char *b)
{
	fputs("pvlock-run: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputs("\n", stderr);
	exit(2);
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		die("option %s needs a value; see pvlock-run --help", name, NULL);
	return argv[++*i];
}

static void check_value(const char *option, const char *value, const char *const *accepted,
			const char *list)
{
	for (; *accepted; accepted++)
		if (strcmp(value, *accepted) == 0)
			return;
	fprintf(stderr, "pvlock-run: %s \"%s\" is not valid; accepted values: %s\n",
		option, value, list);
	exit(2);
}

/* The preload library: $PVLOCK_PRELOAD_LIB, or ../lib/ beside this program. */
static char *find_library(void)
{
	const char *env = getenv("PVLOCK_PRELOAD_LIB");
	static char path[PATH_MAX + sizeof "/../lib/" PRELOAD_NAME];

	if (env && *env) {
		if (!realpath(env, path))
			die("PVLOCK_PRELOAD_LIB=%s: %s", env, strerror(errno));
		return path;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		die("cannot find this program's own path (/proc/self/exe: %s)%s",
		    strerror(errno), "; set PVLOCK_PRELOAD_LIB");
	self[n] = '\0';
	snprintf(path, sizeof path, "%s/../lib/" PRELOAD_NAME, dirname(self));
	char *resolved = realpath(path, NULL);
	if (!resolved)
		die("%s not found (%s); build it with make, or set PVLOCK_PRELOAD_LIB",
		    path, strerror(errno));
	return resolved;
}

int main(int argc, char **argv)
{
	static const char *const locks[] = { "queued", "ticket", "tas", NULL };
	static const char *const modes[] = { "pv", "native", NULL };
	const char *lock = NULL, *mode = NULL, *v;
	int report = 0, i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			break;		/* the program */
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("pvlock-run (pvlock) %d.%d.%d\n", PVLOCK_VERSION_MAJOR,
			       PVLOCK_VERSION_MINOR, PVLOCK_VERSION_PATCH);
			return 0;
		}
		if (strcmp(arg, "--report") == 0) {
			report = 1;
		} else if ((v = option_value(argc, argv, &i, "--lock"))) {
			check_value("--lock", v, locks, "queued, ticket, tas");
			lock = v;
		} else if ((v = option_value(argc, argv, &i, "--mode"))) {
			check_value("--mode", v, modes, "pv, native");
			mode = v;
		} else {
			die("unknown option \"%s\"; see pvlock-run --help", arg, NULL);
		}
	}
	if (i >= argc)
		die("no program to run; usage: pvlock-run [--lock queued|ticket|tas] "
		    "[--mode pv|native] [--report] -- PROGRAM [ARGS...]%s", "", NULL);

	const char *lib = find_library();
	const char *old = getenv("LD_PRELOAD");
	char *preload;
	/* After any preload already asked for: AddressSanitizer, for one,
	 * must come first. */
	if (asprintf(&preload, "%s%s%s", old && *old ? old : "", old && *old ? ":" : "",
		     lib) < 0)
		die("out of memory%s%s", "", "");
	setenv("LD_PRELOAD", preload, 1);
	if (lock)
		setenv("PVLOCK_PRELOAD_LOCK", lock, 1);
	if (mode)
		setenv("PVLOCK_MODE", mode, 1);
	if (report)
		setenv("PVLOCK_PRELOAD_REPORT", "1", 1);

	execvp(argv[i], argv + i);
	int err = errno;
	fprintf(stderr, "pvlock-run: cannot run \"%s\": %s\n", argv[i], strerror(err));
	return err == ENOENT ? 127 : 126;
}
