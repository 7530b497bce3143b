#define _GNU_SOURCE
/*
 * until.c - --until: a run goes on past --duration until the counters show
 * what it is for (tests/system/torture_short.sh: each fault injection must reach
 * its path), so that a loaded machine, which gets through less work per
 * second, makes a run longer instead of failing it.
 *
 * CONDITIONS is a comma-separated list of terms, all of which must hold:
 *   NAME            the counter is non-zero
 *   NAME|NAME...    the sum of the counters is non-zero
 *   NAME>NAME       the first counter exceeds the second
 * A NAME is one of the "stat" lines (pvlock_stats_read) or of the "fault"
 * lines (fault injection counts) of the report.
 */
#include <stdio.h>
#include <string.h>

#include "seams/fault.h"
#include "torture.h"

#define MAX_TERMS	8
#define MAX_NAMES	4	/* per term */

static const char *const stat_names[] = {
#define STAT_NAME(name, desc) #name,
	PVLOCK_STATS_EVENTS(STAT_NAME)
#undef STAT_NAME
};
#define NSTATS	(sizeof(stat_names) / sizeof(stat_names[0]))

static const char *const fault_names[] = {
	"spurious_wakeups", "kicks_delayed", "kicks_dropped", "preemptions",
};
#define NFAULTS	(sizeof(fault_names) / sizeof(fault_names[0]))

struct term {
	int names[MAX_NAMES];	/* index: stats first, then faults */
	int n;
	bool greater;		/* names[0] > names[1]; else sum > 0 */
	char text[64];
};
static struct term terms[MAX_TERMS];
static int nterms;

static int lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < NSTATS; i++)
		if (strlen(stat_names[i]) == len && !strncmp(stat_names[i], name, len))
			return (int)i;
	for (size_t i = 0; i < NFAULTS; i++)
		if (strlen(fault_names[i]) == len && !strncmp(fault_names[i], name, len))
			return (int)(NSTATS + i);
	return -1;
}

bool until_parse(const char *spec, char *why, size_t len)
{
	nterms = 0;
	for (const char *p = spec; *p;) {
		const char *end = strchr(p, ',');
		size_t tlen = end ? (size_t)(end - p) : strlen(p);
		struct term *t = &terms[nterms];

		if (nterms == MAX_TERMS || tlen == 0 || tlen >= sizeof(t->text)) {
			snprintf(why, len, "at most %d terms of up to %zu characters, none empty",
				 MAX_TERMS, sizeof(t->text) - 1);
			return false;
		}
		memcpy(t->text, p, tlen);
		t->text[tlen] = 0;
		t->n = 0;
		t->greater = strchr(t->text, '>') != NULL;
		for (const char *q = t->text; *q;) {
			size_t nlen = strcspn(q, t->greater ? ">" : "|");
			int idx = lookup(q, nlen);

			if (idx < 0 || t->n == MAX_NAMES) {
				snprintf(why, len, "'%.*s' is not a stat or fault counter of the "
					 "report, or too many names in '%s'", (int)nlen, q, t->text);
				return false;
			}
			t->names[t->n++] = idx;
			q += nlen;
			if (*q)
				q++;
		}
		if (t->greater && t->n != 2) {
			snprintf(why, len, "'%s': NAME>NAME compares two counters", t->text);
			return false;
		}
		nterms++;
		p += tlen;
		if (*p)
			p++;
	}
	return true;
}

static uint64_t value(int idx, const struct pvlock_stats *s, const struct pvlock_fault_counts *f)
{
	if (idx < (int)NSTATS)
		return ((const uint64_t *)s)[idx];
	switch (idx - (int)NSTATS) {
	case 0: return f->spurious_wakeups;
	case 1: return f->kicks_delayed;
	case 2: return f->kicks_dropped;
	default: return f->preemptions;
	}
}

/* The index of the first term that does not hold, or -1. */
static int first_missing(void)
{
	struct pvlock_stats s;
	struct pvlock_fault_counts f;

	pvlock_stats_read(&s);
	memset(&f, 0, sizeof(f));
	if (pvlock__fault_enabled())
		pvlock__fault_counts_read(&f);
	for (int i = 0; i < nterms; i++) {
		const struct term *t = &terms[i];
		uint64_t sum = 0;

		if (t->greater) {
			if (value(t->names[0], &s, &f) <= value(t->names[1], &s, &f))
				return i;
			continue;
		}
		for (int k = 0; k < t->n; k++)
			sum += value(t->names[k], &s, &f);
		if (!sum)
			return i;
	}
	return -1;
}

bool until_holds(void)
{
	return first_missing() < 0;
}

void until_describe_missing(char *buf, size_t len)
{
	int i = first_missing();

	snprintf(buf, len, "%s", i < 0 ? "" : terms[i].text);
}
