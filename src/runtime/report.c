/*
 * report.c - misuse reports and fatal errors, written with write(2) so that
 * they are safe where locks are: in signal handlers, in any thread.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/hooks.h"

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *put_hex(char *p, uint64_t v)
{
	char digits[16];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	p = put_str(p, "0x");
	while (n)
		*p++ = digits[--n];
	return p;
}

/* The whole 32-bit lock word, all 8 digits. */
static char *put_word(char *p, uint32_t word)
{
	p = put_str(p, "0x");
	for (int shift = 28; shift >= 0; shift -= 4)
		*p++ = "0123456789abcdef"[(word >> shift) & 15];
	return p;
}

/* "pvlock: [fatal: ]FUNCTION(LOCK): " */
static char *put_head(char *p, bool fatal, const char *function, const void *lock)
{
	p = put_str(p, fatal ? "pvlock: fatal: " : "pvlock: ");
	p = put_str(p, function);
	p = put_str(p, "(");
	p = put_hex(p, (uintptr_t)lock);
	return put_str(p, "): ");
}

static const char corrupt_text[] =
	": the lock's memory looks corrupted or uninitialised, or the lock is used by "
	"another process or another copy of pvlock (pvlock(3), LIMITS)";

void pvlock__report_bad_unlock(const char *function, const void *lock, uint32_t word,
			       bool corrupt)
{
	char buf[512], *p = put_head(buf, false, function, lock);

	if (corrupt) {
		p = put_str(p, "lock word ");
		p = put_word(p, word);
		p = put_str(p, " is not a state this lock can be in");
		p = put_str(p, corrupt_text);
	} else {
		p = put_str(p, "the lock is not locked (lock word ");
		p = put_word(p, word);
		p = put_str(p, ")");
	}
	p = put_str(p, "; unlock ignored\n");
	(void)!write(STDERR_FILENO, buf, (size_t)(p - buf));
}

void pvlock__fatal_word(const char *function, const void *lock, uint32_t word,
			const char *what, bool corrupt)
{
	char buf[512], *p = put_head(buf, true, function, lock);

	p = put_str(p, what);
	p = put_str(p, " (lock word ");
	p = put_word(p, word);
	p = put_str(p, ")");
	if (corrupt)
		p = put_str(p, corrupt_text);
	p = put_str(p, "\n");
	(void)!write(STDERR_FILENO, buf, (size_t)(p - buf));
	abort();
}

void pvlock__fatal(const char *what, const void *lock)
{
	char buf[256], *p = buf;

	p = put_str(p, "pvlock: fatal: ");
	p = put_str(p, what);
	p = put_str(p, " (lock ");
	p = put_hex(p, (uintptr_t)lock);
	p = put_str(p, ")\n");
	(void)!write(STDERR_FILENO, buf, (size_t)(p - buf));
	abort();
}

unsigned pvlock__proc_thread_count(void);
unsigned pvlock__thread_count(void);

/*
 * The threads of this process (num_threads, the 20th field of
 * /proc/self/stat, proc(5)), or 0 if it cannot be read.  For a fatal
 * message's wording only (the ticket lock's, src/algo/ticket.c): open and
 * read, both async-signal-safe.
 */
unsigned pvlock__proc_thread_count(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* After the command name in parentheses, which may hold anything:
	 * state is the 1st field, num_threads the 18th. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (int field = 0; field < 18; field++) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	unsigned threads = 0;
	while (*p >= '0' && *p <= '9')
		threads = threads * 10 + (unsigned)(*p++ - '0');
	return threads;
}

/* What the ticket lock asks.  Weak, so that a test program can claim
 * another count (tests/unit/ticket_corrupt.c). */
__attribute__((weak)) unsigned pvlock__thread_count(void)
{
	return pvlock__proc_thread_count();
}
