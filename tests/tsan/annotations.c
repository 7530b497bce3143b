/*
 * annotations.c - pvlock's ThreadSanitizer annotations give accurate
 * reports to programs that use it (built by `make check-tsan` with clang's
 * -fsanitize=thread and the annotations on).
 *
 * For each lock, two threads increment a plain counter 10000 times:
 *   inside   both under the lock            -> TSan must report nothing
 *   outside  one of them skips the lock     -> TSan must report a data race
 * Each case runs as a child process (this program again, with arguments),
 * and the parent reads the child's stderr for TSan's verdict.
 *
 * TSan finds a race when an access meets, in the variable's shadow, an
 * earlier access of another thread that does not happen before it; and it
 * forgets: a thread's accesses once it has exited, and (clang 14's runtime)
 * the shadows at a reset, which a thread's clock running out of epochs can
 * bring (a lock/unlock pair advances it; 10000 of them here).  Left to
 * the scheduler, on one loaded CPU the unlocked thread could run all its
 * increments before, after or between such events, and TSan then missed
 * the unprotected access: 3 of 17 runs under taskset -c 0 with three busy
 * loops, still 1 in 15 with both threads kept alive (the lead's CI run
 * once too).  So both threads stay alive from before the first increment
 * to after the last (a barrier at each end: they order nothing in
 * between), and in the outside case the unlocked thread starts its
 * increments once the locked one has made its last, waiting on a relaxed
 * flag (which orders nothing for TSan either): its first increment then
 * meets that last one, whatever the scheduling.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvlock.h>

static pvlock_t q;
static pvlock_ticket_t t;
static pvlock_tas_t s;
static const char *lock_name;
static long counter;
static pthread_barrier_t both_alive, both_done;
static int locked_done;		/* relaxed: the locked thread's loop is over */

static void lock(void)
{
	if (!strcmp(lock_name, "queued"))
		pvlock_lock(&q);
	else if (!strcmp(lock_name, "ticket"))
		pvlock_ticket_lock(&t);
	else
		pvlock_tas_lock(&s);
}

static void unlock(void)
{
	if (!strcmp(lock_name, "queued"))
		pvlock_unlock(&q);
	else if (!strcmp(lock_name, "ticket"))
		pvlock_ticket_unlock(&t);
	else
		pvlock_tas_unlock(&s);
}

static void *worker(void *use_lock)
{
	pthread_barrier_wait(&both_alive);
	if (!use_lock)
		while (!__atomic_load_n(&locked_done, __ATOMIC_RELAXED))
			sched_yield();
	for (int i = 0; i < 10000; i++) {
		if (use_lock)
			lock();
		counter++;
		if (use_lock)
			unlock();
	}
	if (use_lock)
		__atomic_store_n(&locked_done, 1, __ATOMIC_RELAXED);
	pthread_barrier_wait(&both_done);
	return NULL;
}

static int child(const char *name, const char *where)
{
	pthread_t a, b;

	lock_name = name;
	pthread_barrier_init(&both_alive, NULL, 2);
	pthread_barrier_init(&both_done, NULL, 2);
	pthread_create(&a, NULL, worker, (void *)1);
	pthread_create(&b, NULL, worker, strcmp(where, "inside") ? NULL : (void *)1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}

/* Run one case; true if TSan reported a data race. */
static int reported_race(const char *self, const char *name, const char *where)
{
	char cmd[4096], buf[4096];
	int found = 0;

	snprintf(cmd, sizeof(cmd), "TSAN_OPTIONS=exitcode=0 '%s' %s %s 2>&1", self, name, where);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(buf, sizeof(buf), p))
		found |= strstr(buf, "WARNING: ThreadSanitizer: data race") != NULL;
	pclose(p);
	return found;
}

int main(int argc, char **argv)
{
	if (argc == 3)
		return child(argv[1], argv[2]);

	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = 0;

	const char *locks[] = { "queued", "ticket", "tas" };
	int failed = 0;
	for (int i = 0; i < 3; i++) {
		int in = reported_race(self, locks[i], "inside");
		int out = reported_race(self, locks[i], "outside");
		if (in == 0)
			printf("PASS: tsan: %s lock: accesses inside it are not reported\n", locks[i]);
		else
			printf("FAIL: tsan: %s lock: TSan reported a race on data it protects\n", locks[i]),
				failed++;
		if (out == 1)
			printf("PASS: tsan: %s lock: an access outside it is reported\n", locks[i]);
		else
			printf("FAIL: tsan: %s lock: TSan missed an unprotected access\n", locks[i]),
				failed++;
	}
	return failed ? 1 : 0;
}
