/*
 * report.c - misuse reports and fatal errors, written with write(2) so that
 * they are safe where locks are: in signal handlers, in any thread.
 */
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
