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
#include <sys/stat.h>
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
	"                (sets PVLOCK_PRELOAD_LOCK); ticket can run far slower than\n"
	"                queued when threads outnumber CPUs: see pvlock(3)\n"
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
	"../lib/ beside this program, or where PVLOCK_PRELOAD_LIB names it.  ld.so\n"
	"splits LD_PRELOAD at spaces and colons: if the library's path has one,\n"
	"LD_PRELOAD names a symbolic link to it in a directory of this user's own,\n"
	"$XDG_RUNTIME_DIR/pvlock-run or /tmp/pvlock-run-UID.\n"
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

/* Can ld.so take this path as one entry of LD_PRELOAD?  It splits the
 * list at spaces and colons, with no way to escape either. */
static int preload_safe(const char *path)
{
	return path[strcspn(path, " :")] == '\0';
}

/* A directory only this user can write, for the link below: made if missing,
 * refused if it is a link or belongs to someone else or others may write it. */
static int private_dir(const char *dir, char *why, size_t why_len)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_len, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) != 0) {
		snprintf(why, why_len, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022)) {
		snprintf(why, why_len, "%s is not a directory of this user's own, writable "
			 "by nobody else", dir);
		return -1;
	}
	return 0;
}

/*
 * The library's path has a space or colon: a symbolic link to it under a
 * path without either.  The link lives as long as the directory, so the
 * program and every program it runs later find the library through it.  One
 * link per library (its name holds a hash of the library's path), replaced
 * atomically when it points elsewhere.  NULL (and why) when none can be made.
 */
static char *safe_link(const char *lib, char *why, size_t why_len)
{
	static char dir[PATH_MAX], link_path[PATH_MAX + 64];
	char tmp[PATH_MAX + 96], target[PATH_MAX];
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	unsigned long long hash = 14695981039346656037ull;	/* FNV-1a, 64 bits */

	for (const char *p = lib; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
	if (runtime && *runtime == '/' && preload_safe(runtime) &&
	    strlen(runtime) < sizeof(dir) - 32)
		snprintf(dir, sizeof(dir), "%s/pvlock-run", runtime);
	else
		snprintf(dir, sizeof(dir), "/tmp/pvlock-run-%u", (unsigned)getuid());
	if (private_dir(dir, why, why_len) != 0)
		return NULL;
	snprintf(link_path, sizeof(link_path), "%s/%016llx-" PRELOAD_NAME, dir, hash);
	ssize_t n = readlink(link_path, target, sizeof(target) - 1);
	if (n >= 0 && (size_t)n < sizeof(target) - 1) {
		target[n] = '\0';
		if (!strcmp(target, lib))
			return link_path;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", link_path, (long)getpid());
	unlink(tmp);
	if (symlink(lib, tmp) != 0 || rename(tmp, link_path) != 0) {
		snprintf(why, why_len, "cannot make the link %s: %s", link_path, strerror(errno));
		unlink(tmp);
		return NULL;
	}
	return link_path;
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
	if (!preload_safe(lib)) {
		char why[PATH_MAX + 128];
		const char *link = safe_link(lib, why, sizeof(why));
		if (!link) {
			fprintf(stderr, "pvlock-run: the preload library's path \"%s\" has a space "
				"or colon, at which ld.so splits LD_PRELOAD, and no link without one "
				"could be made (%s); move it, or set PVLOCK_PRELOAD_LIB to a copy "
				"whose path has neither\n", lib, why);
			return 2;
		}
		lib = link;
	}
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
