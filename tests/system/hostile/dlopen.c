/*
 * dlopen.c - pvlock in a plugin that is loaded and unloaded.
 * The program does not link pvlock; it dlopens
 * build/hostile/plugin.so, which links the shared libpvlock.
 *
 *   no allocation   after 40 pthread keys exist, a thread's first slow path
 *                   in the late-loaded library allocates nothing (a pthread
 *                   key >= 32 made glibc calloc there: a deadlock when the
 *                   slow path runs in a signal handler that interrupted
 *                   malloc).  malloc is interposed to count.
 *   dlclose         threads that took slow paths exit after the library was
 *                   unloaded (a key destructor would point into unmapped code)
 *   1100 cycles     load and unload 1100 times; pthread_key_create still works
 *                   (a key per load ran out at 1024)
 *
 * Each case runs in its own child; one PASS:/FAIL: line each.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- counting allocations of threads that are inside a lock call ---- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int in_lock;
static int allocs_in_lock;

static void count(void)
{
	if (in_lock)
		__atomic_fetch_add(&allocs_in_lock, 1, __ATOMIC_RELAXED);
}
void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { count(); return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n)
{
	count();
	*p = __libc_memalign(a, n);
	return *p ? 0 : 12;
}
void free(void *p) { __libc_free(p); }

/* ---- the plugin ---- */
static char plugin_path[PATH_MAX + 64];
static void *handle;
static void (*hold)(void), (*release)(void), (*pass)(void);
static unsigned long (*slowpaths)(void);

#define DIE(...) do { printf("FAIL: " __VA_ARGS__); printf("\n"); fflush(stdout); _exit(1); } while (0)

static void load(void)
{
	handle = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		DIE("dlopen: %s", dlerror());
	hold = (void (*)(void))dlsym(handle, "plugin_hold");
	release = (void (*)(void))dlsym(handle, "plugin_release");
	pass = (void (*)(void))dlsym(handle, "plugin_pass");
	slowpaths = (unsigned long (*)(void))dlsym(handle, "plugin_slowpaths");
	if (!hold || !release || !pass || !slowpaths)
		DIE("dlsym: %s", dlerror());
}

static void unload(void)
{
	if (dlclose(handle) != 0)
		DIE("dlclose: %s", dlerror());
	if (dlopen(plugin_path, RTLD_NOW | RTLD_NOLOAD))
		DIE("the plugin is still loaded after dlclose");
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int passed_count, go_exit;

static void *passer(void *arg)
{
	in_lock = 1;
	pass();			/* contended: the thread's first slow path */
	in_lock = 0;
	__atomic_fetch_add(&passed_count, 1, __ATOMIC_RELEASE);
	if (arg)		/* outlive the library */
		while (!__atomic_load_n(&go_exit, __ATOMIC_ACQUIRE))
			sleep_ms(1);
	return NULL;
}

/* Hold the plugin's locks, let n threads queue on them, release.  Queued
 * means counted in the slow path: waited for (a loaded machine may take
 * longer than the 50 ms this slept, and the threads then found the locks
 * free and took no slow path), for at most 30 s, a hang detector; the
 * caller's check of slowpaths() then says what is missing. */
static void contend(pthread_t *t, int n, void *arg)
{
	unsigned long before = slowpaths();

	__atomic_store_n(&passed_count, 0, __ATOMIC_RELAXED);
	hold();
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, passer, arg))
			DIE("pthread_create");
	for (int ms = 0; ms < 30000 && slowpaths() < before + (unsigned long)n; ms++)
		sleep_ms(1);
	release();
	while (__atomic_load_n(&passed_count, __ATOMIC_ACQUIRE) < n)
		sleep_ms(1);
}

static void no_allocation_case(void)
{
	pthread_key_t keys[40];
	pthread_t t[2];

	for (int i = 0; i < 40; i++)
		if (pthread_key_create(&keys[i], NULL))
			DIE("pthread_key_create");
	load();
	contend(t, 2, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (slowpaths() < 2)
		DIE("no allocation: the threads took %lu slow paths, expected 2 or more",
		    slowpaths());
	if (allocs_in_lock)
		DIE("no allocation: first slow paths in a library loaded after 40 pthread keys "
		    "allocated %d times (not async-signal-safe)", allocs_in_lock);
	unload();
}

static void dlclose_case(void)
{
	for (int round = 0; round < 20; round++) {
		pthread_t t[4];

		__atomic_store_n(&go_exit, 0, __ATOMIC_RELAXED);
		load();
		contend(t, 4, &go_exit);
		if (slowpaths() < 1)
			DIE("dlclose: no slow path was taken");
		unload();
		__atomic_store_n(&go_exit, 1, __ATOMIC_RELEASE);	/* now they exit */
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}
}

static void cycles_case(void)
{
	pthread_key_t key;

	for (int i = 0; i < 1100; i++) {
		load();
		pass();
		unload();
	}
	if (pthread_key_create(&key, NULL))
		DIE("1100 cycles: pthread_key_create fails after 1100 loads of the library "
		    "(a key leaked per load)");
}

static void run(const char *name, void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(60);
		fn();
		printf("PASS: %s\n", name);
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		printf("FAIL: %s: killed by signal %d (%s)\n", name, WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	fflush(stdout);
}

int main(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return 1;
	self[n] = 0;
	*strrchr(self, '/') = 0;
	snprintf(plugin_path, sizeof(plugin_path), "%s/../hostile/plugin.so", self);
	setvbuf(stdout, NULL, _IOLBF, 0);
	run("dlopen'd after 40 pthread keys: first slow paths allocate nothing", no_allocation_case);
	run("dlclose, then threads that took slow paths exit (x20)", dlclose_case);
	run("1100 load/unload cycles; pthread_key_create still works", cycles_case);
	return 0;
}
