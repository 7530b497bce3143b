/*
 * ticket_corrupt.c - a ticket lock word that no lock operation can make
 * (garbage, memory never initialised) is diagnosed as such, not as the
 * tickets wrapping around; the wrap-around keeps its own message where it
 * can happen, with more threads than the lock holds waiters.
 *
 * Each case locks in a forked child whose stderr is captured; the child
 * must stop with abort() and the message must carry the right words.  The
 * process's thread count is the kernel's, except where this program's
 * pvlock__thread_count (which takes the place of the library's weak one)
 * is told to claim another number.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvlock.h>

#include "lib/check.h"
#include "lib/child.h"

/* 0: the kernel's count, as the library reads it; else this many threads. */
static unsigned claimed_threads;

unsigned pvlock__proc_thread_count(void);
unsigned pvlock__thread_count(void);
unsigned pvlock__thread_count(void)
{
	return claimed_threads ? claimed_threads : pvlock__proc_thread_count();
}

static void *parked(void *arg)
{
	pause();
	return arg;
}

/* The library's reading of the count: at least two more with two more
 * threads (a sanitizer's runtime may start threads of its own). */
static void case_count(void)
{
	pthread_t t[2];
	unsigned before = pvlock__proc_thread_count();

	CHECK_GE(before, 1);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, parked, NULL), 0);
	CHECK_GE(pvlock__proc_thread_count(), before + 2);
}

static pvlock_ticket_t lock;

/* Lock `word` in a child; return what it wrote on stderr (its status in *status). */
static void lock_in_child(uint32_t word, unsigned threads, char *err, size_t size, int *status)
{
	int fds[2];

	CHECK_EQ(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		alarm(10 * test_time_scale());	/* a hang detector: SIGALRM */
		claimed_threads = threads;
		lock.val = word;
		pvlock_ticket_lock(&lock);
		fprintf(stderr, "lock returned");
		_exit(0);
	}
	close(fds[1]);
	test_read_all(fds[0], err, size);
	close(fds[0]);
	waitpid(pid, status, 0);
}

static void expect(uint32_t word, unsigned threads, const char *const *words,
		   const char *absent)
{
	char err[1024];
	int status;

	lock_in_child(word, threads, err, sizeof err, &status);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		FAIL("word 0x%08x: the child hung instead of stopping; stderr: \"%s\"", word, err);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		FAIL("word 0x%08x: the child was not stopped by abort() (status 0x%x); "
		     "stderr: \"%s\"", word, status, err);
	for (; *words; words++)
		if (!strstr(err, *words))
			FAIL("word 0x%08x: the message lacks \"%s\": \"%s\"", word, *words, err);
	if (absent && strstr(err, absent))
		FAIL("word 0x%08x: the message says \"%s\": \"%s\"", word, absent, err);
}

static const char *const corrupt_words[] = {
	"pvlock: fatal: pvlock_ticket_lock(", "looks corrupted or uninitialised", NULL
};

/* One thread, head 2 tickets past tail: tail catches up with head at our
 * add, which would take 32767 threads. */
static void case_head_past_tail(void)
{
	expect(0x00000002u, 0, corrupt_words, "wrapped around");
	expect(0x00000002u, 0, (const char *const[]){ "(lock word 0x00020002)", NULL }, NULL);
	expect(0x7ffe8000u, 0, corrupt_words, "wrapped around");	/* with the flag */
	expect(0x7ffe8001u, 0, corrupt_words, "wrapped around");
}

/* An odd tail: no lock or trylock makes one, and the ticket would never be
 * served (the caller would hang). */
static void case_odd_tail(void)
{
	expect(0x00030000u, 0, corrupt_words, NULL);
	expect(0x00030000u, 0, (const char *const[]){ "tail is odd", NULL }, NULL);
	expect(0xffff0004u, 0, corrupt_words, NULL);
}

/* With more threads than the lock holds waiters, the same word can be a
 * real wrap-around, and is reported as one. */
static void case_real_wrap(void)
{
	static const char *const words[] = {
		"pvlock: fatal: pvlock_ticket_lock(", "32766", "limit", "wrapped around", NULL
	};

	expect(0x00000002u, PVLOCK_TICKET_MAX_WAITERS + 2, words, "corrupted");
}

/* With as many threads as the lock holds waiters plus its holder, a wrap
 * is still impossible: the bound is exact. */
static void case_bound(void)
{
	expect(0x00000002u, PVLOCK_TICKET_MAX_WAITERS + 1, corrupt_words, "wrapped around");
}

int main(void)
{
	test_run("ticket corrupt: the thread count from /proc/self/stat", -1, case_count);
	test_run_both("ticket corrupt: head past tail with one thread: corrupt, not a wrap",
		      case_head_past_tail);
	test_run_both("ticket corrupt: odd tail: corrupt", case_odd_tail);
	test_run_both("ticket corrupt: head past tail with 32768 threads: the wrap-around "
		      "message", case_real_wrap);
	test_run_both("ticket corrupt: 32767 threads cannot wrap either", case_bound);
	return test_finish();
}
