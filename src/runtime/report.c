/*
 * report.c - misuse reports and fatal errors, written with write(2) so that
 * they are safe where locks are: in signal handlers, in any thread.
 */
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

void pvlock__report_bad_unlock(const char *function, const void *lock, unsigned found)
{
	char buf[256], *p = buf;

	p = put_str(p, "pvlock: ");
	p = put_str(p, function);
	p = put_str(p, "(");
	p = put_hex(p, (uintptr_t)lock);
	p = put_str(p, "): the lock is not locked (lock value ");
	p = put_hex(p, found);
	p = put_str(p, "); unlock ignored\n");
	(void)!write(STDERR_FILENO, buf, (size_t)(p - buf));
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
