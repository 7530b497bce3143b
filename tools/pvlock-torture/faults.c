#define _GNU_SOURCE
/*
 * faults.c - the fault-injection switches, applied through pvlock__fault.
 * Only a library built with -DPVLOCK_FAULT_INJECTION acts on the knobs, so
 * a switch given to any other build is refused rather than silently ignored.
 */
#include <stdio.h>
#include <stdlib.h>

#include "seams/fault.h"
#include "torture.h"

bool faults_requested(const struct config *cfg)
{
	return cfg->first_fault_opt != NULL;
}

void faults_check_available(const struct config *cfg)
{
	if (faults_requested(cfg) && !pvlock__fault_enabled()) {
		fprintf(stderr, PROG ": %s: this binary's pvlock was built without fault "
			"injection (link build/fi/libpvlock.a, built with -DPVLOCK_FAULT_INJECTION)\n",
			cfg->first_fault_opt);
		exit(EXIT_USAGE);
	}
}

/* Before any thread starts: the knobs are plain fields read racily. */
void faults_apply(const struct config *cfg)
{
	if (!pvlock__fault_enabled())
		return;
	pvlock__fault_reset();
	pvlock__fault.spurious_wakeup_pct = cfg->spurious_pct;
	pvlock__fault.kick_delay_us = cfg->kick_delay_us;
	pvlock__fault.drop_kicks = cfg->drop_kicks;
	pvlock__fault.hash_lines = cfg->hash_lines;
	pvlock__fault.preempt_pct = cfg->preempt_pct;
	pvlock__fault.preempt_us = cfg->preempt_us;
	pvlock__fault.max_slots = cfg->slots;
}

void faults_describe(const struct config *cfg, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", faults_requested(cfg) ? "" : "none");

#define ADD(cond, ...) \
	do { if ((cond) && n >= 0 && (size_t)n < len) n += snprintf(buf + n, len - (size_t)n, __VA_ARGS__); } while (0)
	ADD(cfg->spurious_pct, " spurious-wakeup=%u%%", cfg->spurious_pct);
	ADD(cfg->kick_delay_us, " kick-delay=%uus", cfg->kick_delay_us);
	ADD(cfg->drop_kicks, " drop-kicks");
	ADD(cfg->hash_lines, " hash-lines=%u", cfg->hash_lines);
	ADD(cfg->preempt_pct, " preempt=%u%%", cfg->preempt_pct);
	ADD(cfg->preempt_us, " preempt-us=%u", cfg->preempt_us);
	ADD(cfg->slots, " slots=%u", cfg->slots);
#undef ADD
}

void faults_report(void)
{
	struct pvlock_fault_counts c;

	if (!pvlock__fault_enabled())
		return;
	pvlock__fault_counts_read(&c);
	printf("fault injections:\n");
	printf("fault %-20s %12llu\n", "spurious_wakeups", (unsigned long long)c.spurious_wakeups);
	printf("fault %-20s %12llu\n", "kicks_delayed", (unsigned long long)c.kicks_delayed);
	printf("fault %-20s %12llu\n", "kicks_dropped", (unsigned long long)c.kicks_dropped);
	printf("fault %-20s %12llu\n", "preemptions", (unsigned long long)c.preemptions);
}
