/*
 * preload_pshared.c - spinlocks in shared memory under libpvlock-preload.so
 * stay glibc's (docs/preload.md, "Spinlocks"), whoever initialised them and
 * wherever they are mapped; spinlocks in private memory are pvlock's.
 *
 * Every case runs first on plain glibc ("glibc [reference]"), then under the
 * preload once per lock kind (queued, ticket, tas) and mode (native, pv):
 * the program re-executes itself with LD_PRELOAD, PVLOCK_PRELOAD_LOCK and
 * PVLOCK_MODE set.  Each case must give glibc's answers.  That a lock is
 * glibc's shows in its word too: it holds what glibc's own functions (from
 * libc.so.6 itself) write, which on x86-64 (1 free, 0 held) is not what any
 * pvlock lock writes.  That a private spinlock is pvlock's shows in pvlock's
 * statistics, through the preload's report (PVLOCK_PRELOAD_REPORT=1).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/check.h"
#include "lib/child.h"
#include "lib/preload.h"

/* More shared mappings than the preload's cache holds (SPIN_RANGES, 32, in
 * src/preload/spin.c), so that lookups miss and evict. */
#define MANY 128

struct area {
	pthread_spinlock_t a, b;
	long n;
};

static const char *run_name;		/* "glibc [reference]" or "preload [kind, mode]" */
static int glibc_free, glibc_held;	/* glibc's words for a spinlock */

/* ---- helpers -------------------------------------------------------------------- */
static void glibc_words(void)
{
	void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
	int (*init)(pthread_spinlock_t *, int) = libc ? dlsym(libc, "pthread_spin_init") : NULL;
	int (*lock)(pthread_spinlock_t *) = libc ? dlsym(libc, "pthread_spin_lock") : NULL;
	pthread_spinlock_t l;

	if (!init || !lock) {
		printf("FAIL: %s: glibc's pthread_spin_init/lock not found\n", run_name);
		exit(1);
	}
	init(&l, PTHREAD_PROCESS_SHARED);
	glibc_free = *(volatile int *)&l;
	lock(&l);
	glibc_held = *(volatile int *)&l;
}

#define CHECK_GLIBC_WORD(l, held) \
	CHECK_EQ(*(volatile int *)(l), (held) ? glibc_held : glibc_free)

static char shm_name[64];

static int seg_create(void)
{
	static int n;

	snprintf(shm_name, sizeof shm_name, "/pvlock-pshared-%ld-%d", (long)getpid(), n++);
	int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Left by a killed run of this test whose pid we now have: the
		 * name is this test's and this pid's, so nobody else uses it. */
		shm_unlink(shm_name);
		fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	}
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 4096), 0);
	return fd;
}

static struct area *seg_map(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

static void put(int fd, char c)
{
	CHECK_EQ(write(fd, &c, 1), 1);
}

static char get(int fd)
{
	char c = 0;

	if (read(fd, &c, 1) != 1)
		return 0;
	return c;
}

/* In a helper process: give up with a message the log shows. */
#define HELPER_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "helper: %s:%d: %s\n", __FILE__, __LINE__, #cond); _exit(1); } } while (0)

/* ---- cases ---------------------------------------------------------------------- */
/* The POSIX conformance scenario: the child maps the object again. */
static void case_remap_in_child(void)
{
	int fd = seg_create(), up[2], down[2];
	struct area *p = seg_map(fd);

	CHECK_EQ(pthread_spin_init(&p->a, PTHREAD_PROCESS_SHARED), 0);
	CHECK_GLIBC_WORD(&p->a, 0);
	CHECK_EQ(pthread_spin_lock(&p->a), 0);
	CHECK_GLIBC_WORD(&p->a, 1);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = test_fork_helper();
	if (pid == 0) {
		int cfd = shm_open(shm_name, O_RDWR, 0);
		HELPER_CHECK(cfd >= 0);
		struct area *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
		HELPER_CHECK(q != MAP_FAILED && q != p);
		put(up[1], pthread_spin_trylock(&q->a) == EBUSY ? 'E' : 'x');
		HELPER_CHECK(get(down[0]) == 'u');
		HELPER_CHECK(pthread_spin_lock(&q->a) == 0);
		q->n = 42;
		HELPER_CHECK(pthread_spin_unlock(&q->a) == 0);
		_exit(0);
	}
	if (get(up[0]) != 'E')
		FAIL("the child's pthread_spin_trylock on its own mapping did not answer EBUSY");
	CHECK_EQ(pthread_spin_unlock(&p->a), 0);
	put(down[1], 'u');
	test_reap(pid);
	CHECK_EQ(p->n, 42);
	CHECK_GLIBC_WORD(&p->a, 0);
	CHECK_EQ(pthread_spin_destroy(&p->a), 0);
	shm_unlink(shm_name);
}

/* Another program, exec'd, with the preload or without it (plain glibc):
 * it initialises lock a itself, as PRIVATE, in the shared segment. */
static int helper_main(char **argv)
{
	int rfd = atoi(argv[3]), wfd = atoi(argv[4]);
	int fd = shm_open(argv[2], O_RDWR, 0);
	HELPER_CHECK(fd >= 0);
	struct area *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	HELPER_CHECK(q != MAP_FAILED);
	HELPER_CHECK(pthread_spin_init(&q->a, PTHREAD_PROCESS_PRIVATE) == 0);
	HELPER_CHECK(pthread_spin_lock(&q->a) == 0);
	put(wfd, pthread_spin_trylock(&q->b) == EBUSY ? 'E' : 'x');
	HELPER_CHECK(get(rfd) == 'b');			/* b released */
	HELPER_CHECK(pthread_spin_lock(&q->b) == 0);
	q->n++;
	HELPER_CHECK(pthread_spin_unlock(&q->b) == 0);
	HELPER_CHECK(pthread_spin_unlock(&q->a) == 0);
	put(wfd, 'c');
	return 0;
}

static void unrelated(int plain)
{
	int fd = seg_create(), up[2], down[2];
	struct area *p = seg_map(fd);

	CHECK_EQ(pthread_spin_init(&p->b, PTHREAD_PROCESS_SHARED), 0);
	CHECK_EQ(pthread_spin_lock(&p->b), 0);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = test_fork_helper();
	if (pid == 0) {
		char r[16], w[16];
		snprintf(r, sizeof r, "%d", down[0]);
		snprintf(w, sizeof w, "%d", up[1]);
		if (plain) {	/* only a sanitizer runtime stays */
			const char *san = getenv("PVLOCK_PSHARED_SAN");
			if (san && *san)
				setenv("LD_PRELOAD", san, 1);
			else
				unsetenv("LD_PRELOAD");
		}
		execl("/proc/self/exe", "preload_pshared", "--helper", shm_name, r, w, (char *)NULL);
		_exit(127);
	}
	if (get(up[0]) != 'E')
		FAIL("the other program's trylock of a lock held here did not answer EBUSY");
	CHECK_EQ(pthread_spin_trylock(&p->a), EBUSY);	/* initialised and held there */
	CHECK_GLIBC_WORD(&p->a, 1);
	CHECK_EQ(pthread_spin_unlock(&p->b), 0);
	put(down[1], 'b');
	if (get(up[0]) != 'c')
		FAIL("the other program did not finish");
	test_reap(pid);
	CHECK_EQ(p->n, 1);
	CHECK_EQ(pthread_spin_trylock(&p->a), 0);
	CHECK_EQ(pthread_spin_unlock(&p->a), 0);
	shm_unlink(shm_name);
}

static void case_unrelated_preloaded(void) { unrelated(0); }
static void case_unrelated_plain(void) { unrelated(1); }

/* One segment at two addresses in this process; init PRIVATE. */
static void case_mapped_twice(void)
{
	int fd = seg_create();
	struct area *p = seg_map(fd), *q = seg_map(fd);

	CHECK(p != q);
	CHECK_EQ(pthread_spin_init(&p->a, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_GLIBC_WORD(&q->a, 0);
	CHECK_EQ(pthread_spin_lock(&p->a), 0);
	CHECK_EQ(pthread_spin_trylock(&q->a), EBUSY);
	CHECK_GLIBC_WORD(&q->a, 1);
	CHECK_EQ(pthread_spin_unlock(&q->a), 0);
	CHECK_EQ(pthread_spin_trylock(&q->a), 0);
	CHECK_EQ(pthread_spin_trylock(&p->a), EBUSY);
	CHECK_EQ(pthread_spin_unlock(&p->a), 0);
	shm_unlink(shm_name);
}

/* MAP_SHARED|MAP_ANONYMOUS memory from before a fork; the child initialises
 * the lock, then both count under it. */
static void case_anon_fork(void)
{
	struct area *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int up[2], down[2];

	CHECK(p != MAP_FAILED);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = test_fork_helper();
	if (pid == 0) {
		HELPER_CHECK(pthread_spin_init(&p->a, PTHREAD_PROCESS_SHARED) == 0);
		HELPER_CHECK(pthread_spin_lock(&p->a) == 0);
		put(up[1], 'l');
		HELPER_CHECK(get(down[0]) == 'u');
		HELPER_CHECK(pthread_spin_unlock(&p->a) == 0);
		for (int i = 0; i < 2000; i++) {
			pthread_spin_lock(&p->a);
			p->n++;
			pthread_spin_unlock(&p->a);
		}
		_exit(0);
	}
	CHECK_EQ(get(up[0]), 'l');
	if (pthread_spin_trylock(&p->a) != EBUSY)
		FAIL("trylock of a lock the child initialised and holds did not answer EBUSY");
	CHECK_GLIBC_WORD(&p->a, 1);
	put(down[1], 'u');
	for (int i = 0; i < 2000; i++) {
		pthread_spin_lock(&p->a);
		p->n++;
		pthread_spin_unlock(&p->a);
	}
	test_reap(pid);
	CHECK_EQ(p->n, 4000);
	CHECK_GLIBC_WORD(&p->a, 0);
}

/* Private memory with a spinlock in use, then a shared mapping over it at
 * the same address (MAP_FIXED): the lock there is the segment's, glibc's. */
static void case_private_then_shared(void)
{
	pthread_spinlock_t *l = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = seg_create(), up[2], down[2];

	CHECK(l != MAP_FAILED);
	CHECK_EQ(pthread_spin_init(l, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_EQ(pthread_spin_lock(l), 0);
	CHECK_EQ(pthread_spin_trylock(l), EBUSY);
	CHECK_EQ(pthread_spin_unlock(l), 0);
	CHECK(mmap((void *)l, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == l);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = test_fork_helper();
	if (pid == 0) {
		struct area *q = seg_map(fd);
		HELPER_CHECK(pthread_spin_init(&q->a, PTHREAD_PROCESS_SHARED) == 0);
		HELPER_CHECK(pthread_spin_lock(&q->a) == 0);
		put(up[1], 'l');
		HELPER_CHECK(get(down[0]) == 'u');
		HELPER_CHECK(pthread_spin_unlock(&q->a) == 0);
		_exit(0);
	}
	CHECK_EQ(get(up[0]), 'l');
	if (pthread_spin_trylock(l) != EBUSY)
		FAIL("trylock in the shared mapping now at the lock's address did not answer EBUSY");
	put(down[1], 'u');
	test_reap(pid);
	CHECK_GLIBC_WORD(l, 0);
	CHECK_EQ(pthread_spin_trylock(l), 0);
	CHECK_EQ(pthread_spin_unlock(l), 0);
	shm_unlink(shm_name);
}

/* More shared mappings than the cache holds, each with a lock the child
 * holds; private spinlock use in between.  Twice round. */
static void case_many_mappings(void)
{
	static pthread_spinlock_t *locks[MANY];
	static pthread_spinlock_t mine;
	int up[2], down[2];

	for (int i = 0; i < MANY; i++) {
		locks[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		CHECK(locks[i] != MAP_FAILED);
	}
	CHECK_EQ(pthread_spin_init(&mine, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = test_fork_helper();
	if (pid == 0) {
		for (int i = 0; i < MANY; i++) {
			HELPER_CHECK(pthread_spin_init(locks[i], PTHREAD_PROCESS_SHARED) == 0);
			HELPER_CHECK(pthread_spin_lock(locks[i]) == 0);
		}
		put(up[1], 'l');
		HELPER_CHECK(get(down[0]) == 'u');
		for (int i = 0; i < MANY; i++)
			HELPER_CHECK(pthread_spin_unlock(locks[i]) == 0);
		_exit(0);
	}
	CHECK_EQ(get(up[0]), 'l');
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MANY; i++) {
			if (pthread_spin_trylock(locks[i]) != EBUSY)
				FAIL("round %d, mapping %d of %d: trylock of a lock the child holds "
				     "did not answer EBUSY", round, i, MANY);
			CHECK_GLIBC_WORD(locks[i], 1);
			CHECK_EQ(pthread_spin_lock(&mine), 0);
			CHECK_EQ(pthread_spin_trylock(&mine), EBUSY);
			CHECK_EQ(pthread_spin_unlock(&mine), 0);
		}
	}
	put(down[1], 'u');
	test_reap(pid);
	for (int i = 0; i < MANY; i++) {
		CHECK_EQ(pthread_spin_trylock(locks[i]), 0);
		CHECK_EQ(pthread_spin_unlock(locks[i]), 0);
	}
}

/* ---- pvlock's statistics, through the report ---------------------------------------- */
#define ROUNDS 200
static pthread_spinlock_t *contended;
static int want, going, done;	/* rounds, 1-based */

static void *contender(void *arg)
{
	(void)arg;
	for (int r = 1; r <= ROUNDS; r++) {
		/* Acquire/release pairs between the two threads: each waits for
		 * the other's store of this round. */
		while (__atomic_load_n(&want, __ATOMIC_ACQUIRE) != r)
			sched_yield();
		__atomic_store_n(&going, r, __ATOMIC_RELEASE);
		pthread_spin_lock(contended);	/* held by main: the slow path */
		pthread_spin_unlock(contended);
		__atomic_store_n(&done, r, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Exec'd with PVLOCK_PRELOAD_REPORT=1: a lock that one thread holds while
 * the other asks for it, ROUNDS times; the report line counts slow paths. */
static int contend_main(const char *where)
{
	static pthread_spinlock_t private_lock;

	contended = strcmp(where, "shared") ? &private_lock :
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	HELPER_CHECK(contended != MAP_FAILED);
	HELPER_CHECK(pthread_spin_init(contended, PTHREAD_PROCESS_PRIVATE) == 0);
	pthread_t t;
	HELPER_CHECK(pthread_create(&t, NULL, contender, NULL) == 0);
	for (int r = 1; r <= ROUNDS; r++) {
		pthread_spin_lock(contended);
		__atomic_store_n(&want, r, __ATOMIC_RELEASE);
		while (__atomic_load_n(&going, __ATOMIC_ACQUIRE) != r)
			sched_yield();
		for (int i = 0; i < 3; i++)
			sched_yield();		/* let it reach the lock */
		pthread_spin_unlock(contended);
		while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) != r)
			sched_yield();
	}
	pthread_join(t, NULL);
	return 0;
}

static void report_of(const char *where, unsigned long long *pv, unsigned long long *gl,
		      unsigned long long *slow)
{
	int err[2];
	char buf[4096];

	CHECK(pipe(err) == 0);
	pid_t pid = test_fork_helper();
	if (pid == 0) {
		dup2(err[1], STDERR_FILENO);
		setenv("PVLOCK_PRELOAD_REPORT", "1", 1);
		execl("/proc/self/exe", "preload_pshared", "--contend", where, (char *)NULL);
		_exit(127);
	}
	close(err[1]);
	test_read_all(err[0], buf, sizeof buf);
	test_reap(pid);
	const char *line = strstr(buf, "pvlock-preload: spinlocks ");
	const char *sp = line ? strstr(line, "slow paths ") : NULL;
	if (!sp || sscanf(line, "pvlock-preload: spinlocks %llu pvlock %llu glibc", pv, gl) != 2 ||
	    sscanf(sp, "slow paths %llu", slow) != 1)
		FAIL("no report line from the contending program; its stderr: %s", buf);
}

static void case_private_is_pvlock(void)
{
	unsigned long long pv, gl, slow;

	report_of("private", &pv, &gl, &slow);
	CHECK_EQ(pv, 1);
	CHECK_EQ(gl, 0);
	if (slow == 0)
		FAIL("a private spinlock contended %d times moved none of pvlock's slow-path "
		     "counters", ROUNDS);
	report_of("shared", &pv, &gl, &slow);
	CHECK_EQ(pv, 0);
	CHECK_EQ(gl, 1);
	CHECK_EQ(slow, 0);	/* glibc's lock: pvlock never saw it */
}

/* ---- main ------------------------------------------------------------------------ */
static void run_cases(int preloaded)
{
	static const struct { const char *name; test_fn fn; int preload_only; } cases[] = {
		{ "parent and child map one shm object: the child's trylock EBUSY, its lock after the unlock",
		  case_remap_in_child, 0 },
		{ "an exec'd program in this environment shares a segment: EBUSY both ways, a lock it "
		  "initialised PRIVATE", case_unrelated_preloaded, 0 },
		{ "an exec'd program on plain glibc shares a segment: EBUSY both ways",
		  case_unrelated_plain, 0 },
		{ "one segment mapped twice here: lock through one address, EBUSY through the other",
		  case_mapped_twice, 0 },
		{ "MAP_SHARED|MAP_ANONYMOUS across fork, initialised by the child: EBUSY, exclusive",
		  case_anon_fork, 0 },
		{ "private memory with a used spinlock, then a shared mapping at that address: glibc's",
		  case_private_then_shared, 0 },
		{ "more shared mappings than the cache holds, private use between: each stays glibc's",
		  case_many_mappings, 0 },
		{ "a private spinlock moves pvlock's slow-path counters; one in shared memory does not",
		  case_private_is_pvlock, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (cases[i].preload_only && !preloaded)
			continue;
		char name[300];
		snprintf(name, sizeof name, "%s: %s", run_name, cases[i].name);
		test_run(name, -1, cases[i].fn);
	}
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--helper"))
		return helper_main(argv);
	if (argc == 3 && !strcmp(argv[1], "--contend"))
		return contend_main(argv[2]);
	run_name = getenv("PVLOCK_PSHARED_RUN");
	if (run_name) {
		glibc_words();
		run_cases(1);
		return test_finish();
	}
	if (UNDER_TSAN) {
		printf("SKIP: preload pshared: ThreadSanitizer intercepts pthread_* in the "
		       "program itself; a preload cannot take its place\n");
		return 0;
	}
	setenv("PVLOCK_PSHARED_SAN", test_sanitizer_lib(), 1);
	run_name = "glibc [reference]";
	glibc_words();
	run_cases(0);
	int failed = test_finish();
	failed |= test_preload_each(argv, "PVLOCK_PSHARED_RUN");
	return failed;
}
