/*
 * preload.c - the preload library's set-up: the lock kind from the
 * environment, glibc's own functions, and the exit report.
 */
#include "preload/preload.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum preload_kind preload_kind_ = KIND_UNSET;
uint64_t preload_counts[COUNT_N];

static const char *const kind_names[] = {
	[KIND_QUEUED] = "queued", [KIND_TICKET] = "ticket", [KIND_TAS] = "tas",
};

/*
 * The kind may be read first by any interposer, even before our constructor
 * (another library's constructor may lock a mutex), so it is read lazily.
 * Threads racing here all compute the same value from the same environment;
 * the CAS makes only one of them report a bad value.
 */
enum preload_kind preload_kind_init(void)
{
	const char *text = getenv("PVLOCK_PRELOAD_LOCK");
	enum preload_kind kind = KIND_QUEUED, unset = KIND_UNSET;
	int bad = 0;

	if (text) {
		if (strcmp(text, "queued") == 0)
			kind = KIND_QUEUED;
		else if (strcmp(text, "ticket") == 0)
			kind = KIND_TICKET;
		else if (strcmp(text, "tas") == 0)
			kind = KIND_TAS;
		else
			bad = 1;
	}
	/* Relaxed; pairs with the load in preload_kind(): the kind is a
	 * value, not a publication of other data (see there). */
	if (__atomic_compare_exchange_n(&preload_kind_, &unset, kind, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED) && bad)
		fprintf(stderr, "pvlock-preload: PVLOCK_PRELOAD_LOCK=\"%s\" is not a lock; "
			"accepted values: queued, ticket, tas (using the default, queued)\n",
			text);
	return __atomic_load_n(&preload_kind_, __ATOMIC_RELAXED);
}

/* ---- glibc's functions ---------------------------------------------------- */
static struct preload_real real;
static int real_state;	/* 0 unresolved, 1 resolving, 2 resolved */

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		char buf[160];
		int n = snprintf(buf, sizeof buf, "pvlock-preload: fatal: %s not found "
				 "in the C library (dlsym: %s)\n", name, dlerror());
		(void)!write(STDERR_FILENO, buf, (size_t)n);
		abort();
	}
	return f;
}

/*
 * dlsym without a version returns the default (newest) version of a
 * symbol, which is the one a program built today calls: on x86-64 glibc
 * 2.36 that is pthread_cond_*@@GLIBC_2.3.2, not the 2.2.5 compatibility
 * condvar, and pthread_mutex_trylock@@GLIBC_2.34.  tests/programs/preload_api_*.c
 * checks this against dlvsym.
 */
const struct preload_real *preload_real(void)
{
	/* Acquire: pairs with the release store of 2 below, so the pointers
	 * written before it are seen (ldar/stlr on aarch64). */
	if (pvlock__likely(__atomic_load_n(&real_state, __ATOMIC_ACQUIRE) == 2))
		return &real;
	struct preload_real r = {
#define REAL(field, name) .field = next(name)
		REAL(spin_init, "pthread_spin_init"), REAL(spin_lock, "pthread_spin_lock"),
		REAL(spin_trylock, "pthread_spin_trylock"), REAL(spin_unlock, "pthread_spin_unlock"),
		REAL(spin_destroy, "pthread_spin_destroy"),
		REAL(mutex_init, "pthread_mutex_init"), REAL(mutex_destroy, "pthread_mutex_destroy"),
		REAL(mutex_lock, "pthread_mutex_lock"), REAL(mutex_trylock, "pthread_mutex_trylock"),
		REAL(mutex_timedlock, "pthread_mutex_timedlock"),
		REAL(mutex_clocklock, "pthread_mutex_clocklock"),
		REAL(mutex_unlock, "pthread_mutex_unlock"),
		REAL(cond_init, "pthread_cond_init"), REAL(cond_destroy, "pthread_cond_destroy"),
		REAL(cond_wait, "pthread_cond_wait"), REAL(cond_timedwait, "pthread_cond_timedwait"),
		REAL(cond_clockwait, "pthread_cond_clockwait"),
		REAL(cond_signal, "pthread_cond_signal"), REAL(cond_broadcast, "pthread_cond_broadcast"),
#undef REAL
	};
	/* Racing resolvers write the same values: the first publishes them. */
	int state = 0;
	if (__atomic_compare_exchange_n(&real_state, &state, 1, false,
					__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		real = r;
		/* Release: pairs with the acquire load above. */
		__atomic_store_n(&real_state, 2, __ATOMIC_RELEASE);
		return &real;
	}
	static __thread struct preload_real mine;	/* only while another publishes */
	mine = r;
	return &mine;
}

/* ---- the report ------------------------------------------------------------ */
static pid_t report_pid;	/* the process the library started in */
static pid_t self_pid;		/* this process, as of our last fork */
static int report_fd = -1;	/* a copy of stderr: xz, for one, closes fd 2 */

static void counts_reset_in_child(void)
{
	self_pid = getpid();
	/* The child reports its own locks: relaxed, no other thread exists. */
	for (int i = 0; i < COUNT_N; i++)
		__atomic_store_n(&preload_counts[i], 0, __ATOMIC_RELAXED);
	pvlock_stats_reset();
}

__attribute__((constructor)) static void preload_init(void)
{
	preload_kind();
	preload_real();
	report_pid = self_pid = getpid();
	const char *want = getenv("PVLOCK_PRELOAD_REPORT");
	if (want && strcmp(want, "1") == 0)	/* high, out of the program's way */
		report_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 900);
	pthread_atfork(NULL, NULL, counts_reset_in_child);
}

static unsigned long long count(enum preload_count c)
{
	return __atomic_load_n(&preload_counts[c], __ATOMIC_RELAXED);
}

static int reported;

/*
 * PVLOCK_PRELOAD_REPORT=1: one line on stderr at exit, whether the process
 * leaves through exit (our destructor) or _exit/_Exit (our interposer),
 * from every process the library was loaded into (a program, and each
 * program it execs), and from every forked child that counted anything
 * after the fork (it reports what it did since).  A forked child that
 * counted nothing stays silent, by either way out: a shell forks one for
 * each subshell and pipeline stage, and so do programs that fork only to
 * exec.
 */
static void report(void)
{
	const char *want = getenv("PVLOCK_PRELOAD_REPORT");

	if (!want || strcmp(want, "1") != 0)
		return;
	/* A vfork child shares our memory and ran no fork handler: its
	 * _exit must neither report the parent's counts nor mark them
	 * reported. */
	if (getpid() != self_pid || reported++)
		return;
	if (getpid() != report_pid) {
		uint64_t any = 0;
		for (int i = 0; i < COUNT_N; i++)
			any |= count((enum preload_count)i);
		if (!any)
			return;
	}
	struct pvlock_stats s;
	pvlock_stats_read(&s);
	char buf[512];
	int n = snprintf(buf, sizeof buf,
		"pvlock-preload: spinlocks %llu pvlock %llu glibc; mutexes %llu pvlock "
		"%llu glibc; condvars %llu pvlock %llu glibc (%llu waits with a glibc "
		"mutex); %s lock, %s mode; slow paths %llu, sleeps %llu, kicks %llu "
		"(pid %ld%s)\n",
		count(COUNT_SPIN_PVLOCK), count(COUNT_SPIN_GLIBC),
		count(COUNT_MUTEX_PVLOCK), count(COUNT_MUTEX_GLIBC),
		count(COUNT_COND_PVLOCK), count(COUNT_COND_GLIBC), count(COUNT_COND_GLIBC_MUTEX),
		kind_names[preload_kind()],
		pvlock_get_mode() == PVLOCK_MODE_PV ? "pv" : "native",
		(unsigned long long)(s.lock_slowpath + s.lock_pending + s.pv_lock_stealing +
				     s.ticket_slowpath + s.tas_slowpath),
		(unsigned long long)(s.pv_wait_node + s.pv_wait_head + s.ticket_wait),
		(unsigned long long)(s.pv_kick_unlock + s.ticket_kick),
		(long)getpid(), getpid() == report_pid ? "" : ", forked");
	if (n > 0)
		(void)!write(report_fd >= 0 ? report_fd : STDERR_FILENO, buf,
			     (size_t)n < sizeof buf ? (size_t)n : sizeof buf);
}

__attribute__((destructor)) static void report_at_exit(void)
{
	report();
}

/* Forked workers often leave with _exit (stress-ng's do), which runs no
 * destructor: report there too, then leave as asked. */
PRELOAD_EXPORT __attribute__((noreturn)) void _exit(int status)
{
	report();
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

PRELOAD_EXPORT __attribute__((noreturn)) void _Exit(int status)
{
	_exit(status);
}

/* The sole mode check of the interface, done where the user can see it:
 * "PVLOCK_PRELOAD_REPORT=yes" is a typo worth one line. */
__attribute__((constructor)) static void report_setting(void)
{
	const char *want = getenv("PVLOCK_PRELOAD_REPORT");

	if (want && strcmp(want, "0") != 0 && strcmp(want, "1") != 0)
		fprintf(stderr, "pvlock-preload: PVLOCK_PRELOAD_REPORT=\"%s\" is not valid; "
			"accepted values: 0, 1 (using the default, 0)\n", want);
}
