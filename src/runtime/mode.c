/*
 * mode.c - the run-time switch between native and pv slow paths, the pv
 * tunables (spin threshold, steal spin, steal yields, and the ticket lock's
 * skips, kick-ahead and far-back sleep), all also read from the environment
 * at start-up, and the kind of pv unlock of the queued lock (store where
 * membarrier(2) works, else CAS; PVLOCK_PV_UNLOCK), chosen before main.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

#include "algo/hooks.h"

/* Default: pv, and the CAS kind of unlock until the constructor has seen
 * membarrier work (pv_unlock_kind_from_environment). */
unsigned pvlock__mode_state = PVLOCK__MODE_PV_BIT | PVLOCK__MODE_CAS_UNLOCK;
unsigned pvlock__spin_threshold = PVLOCK_SPIN_THRESHOLD_DEFAULT;
unsigned pvlock__steal_spin = PVLOCK_STEAL_SPIN_DEFAULT;
unsigned pvlock__steal_yields = PVLOCK_STEAL_YIELDS_DEFAULT;
unsigned pvlock__ticket_skips = PVLOCK_TICKET_SKIPS_DEFAULT;
unsigned pvlock__ticket_kick_ahead = PVLOCK_TICKET_KICK_AHEAD_DEFAULT;
unsigned pvlock__ticket_far_sleep = PVLOCK_TICKET_FAR_SLEEP_DEFAULT;

enum pvlock_mode pvlock__mode_freeze(void)
{
	unsigned state = __atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED);

	if (!(state & PVLOCK__MODE_FROZEN))
		state = __atomic_fetch_or(&pvlock__mode_state, PVLOCK__MODE_FROZEN,
					  __ATOMIC_RELAXED);
	return (state & PVLOCK__MODE_PV_BIT) ? PVLOCK_MODE_PV : PVLOCK_MODE_NATIVE;
}

int pvlock_set_mode(enum pvlock_mode mode)
{
	if (mode != PVLOCK_MODE_NATIVE && mode != PVLOCK_MODE_PV) {
		errno = EINVAL;
		return -1;
	}
	unsigned state = __atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED);
	do {
		if (state & PVLOCK__MODE_FROZEN) {
			/* Asking for the mode in force changes nothing: fine. */
			if ((state & PVLOCK__MODE_PV_BIT) == (mode == PVLOCK_MODE_PV))
				return 0;
			errno = EBUSY;
			return -1;
		}
	} while (!__atomic_compare_exchange_n(&pvlock__mode_state, &state,
			(state & ~PVLOCK__MODE_PV_BIT) | (mode == PVLOCK_MODE_PV),
			false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return 0;
}

enum pvlock_mode pvlock_get_mode(void)
{
	return pvlock__mode_is_pv() ? PVLOCK_MODE_PV : PVLOCK_MODE_NATIVE;
}

/* Every pv tunable is set alike: in range, or EINVAL and unchanged.  A
 * relaxed store: the slow paths read it relaxed, and a stale value only
 * spins or yields a little more or less (it orders nothing). */
static int set_tunable(unsigned *tunable, unsigned value, unsigned min, unsigned max)
{
	if (value < min || value > max) {
		errno = EINVAL;
		return -1;
	}
	__atomic_store_n(tunable, value, __ATOMIC_RELAXED);
	return 0;
}

int pvlock_set_spin_threshold(unsigned loops)
{
	return set_tunable(&pvlock__spin_threshold, loops, 1, PVLOCK_SPIN_THRESHOLD_MAX);
}

unsigned pvlock_get_spin_threshold(void)
{
	return __atomic_load_n(&pvlock__spin_threshold, __ATOMIC_RELAXED);
}

int pvlock_set_steal_spin(unsigned loops)
{
	return set_tunable(&pvlock__steal_spin, loops, 0, PVLOCK_STEAL_SPIN_MAX);
}

unsigned pvlock_get_steal_spin(void)
{
	return __atomic_load_n(&pvlock__steal_spin, __ATOMIC_RELAXED);
}

int pvlock_set_steal_yields(unsigned yields)
{
	return set_tunable(&pvlock__steal_yields, yields, 0, PVLOCK_STEAL_YIELDS_MAX);
}

unsigned pvlock_get_steal_yields(void)
{
	return __atomic_load_n(&pvlock__steal_yields, __ATOMIC_RELAXED);
}

/* The ticket lock's hand-off tunables (src/algo/hooks.h): environment only. */
static int set_ticket_skips(unsigned skips)
{
	return set_tunable(&pvlock__ticket_skips, skips, 0, PVLOCK_TICKET_SKIPS_MAX);
}

static int set_ticket_kick_ahead(unsigned k)
{
	return set_tunable(&pvlock__ticket_kick_ahead, k, 0, PVLOCK_TICKET_KICK_AHEAD_MAX);
}

static int set_ticket_far_sleep(unsigned on)
{
	return set_tunable(&pvlock__ticket_far_sleep, on, 0, 1);
}

/*
 * The one rule for numbers in the environment: plain decimal digits and
 * nothing else (no sign, no spaces, no 0x; leading zeros are decimal, so
 * "010" is ten), within [min, max].  Returns 0 and the value, or -1.
 */
int pvlock__parse_decimal(const char *text, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long value = 0;

	if (!*text)
		return -1;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		value = value * 10 + (unsigned)(*p - '0');
		if (value > max)
			return -1;
	}
	if (value < min)
		return -1;
	*out = (unsigned)value;
	return 0;
}

/* An integer tunable from the environment: one line and the default when bad. */
static void tunable_from_environment(const char *name, unsigned min, unsigned max,
				     unsigned dflt, int (*set)(unsigned))
{
	const char *text = getenv(name);
	unsigned value;

	if (!text)
		return;
	if (pvlock__parse_decimal(text, min, max, &value) != 0 || set(value) != 0)
		fprintf(stderr, "pvlock: %s=\"%s\" is not valid; accepted: a decimal integer "
			"from %u to %u, digits only (using the default, %u)\n",
			name, text, min, max, dflt);
}

/*
 * The kind of pv unlock (docs/design.md, "The pv unlock without a locked
 * instruction"): store, if membarrier registration succeeds, else CAS;
 * PVLOCK_PV_UNLOCK=cas forces CAS, =store asks for store (and says so if it
 * cannot have it).  A process that starts able to run one thread at a time
 * (one CPU in its mask, or a quota of one CPU) gets CAS unless it asks for
 * store: there every queue head sleeps (no spinning), and the membarrier
 * call each sleep would cost outweighs the unlock's locked instruction
 * (docs/experiments.md, "Kept: the CAS unlock in a process that starts
 * on one CPU").  Chosen once, here, before main, and only while no slow
 * path has run (a lock may then be in either kind's sleeping state): a CAS
 * of the mode word, against the freeze's fetch_or (relaxed: one word).
 */
static void pv_unlock_kind_from_environment(void)
{
	const char *kind = getenv("PVLOCK_PV_UNLOCK");
	char why[120];

	if (kind && strcmp(kind, "store") != 0 && strcmp(kind, "cas") != 0) {
		fprintf(stderr, "pvlock: PVLOCK_PV_UNLOCK=\"%s\" is not a kind of unlock; "
			"accepted values: store, cas (using the default, store where "
			"membarrier(2) works)\n", kind);
		kind = NULL;
	}
	if (kind && !strcmp(kind, "cas"))
		return;
	if (!kind && pvlock__cpus_at_start() == 1)
		return;
	if (pvlock__pv_membarrier_register(why, sizeof(why)) != 0) {
		if (kind)
			fprintf(stderr, "pvlock: PVLOCK_PV_UNLOCK=store: %s; using cas\n", why);
		return;
	}
	unsigned state = __atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED);
	while (!(state & PVLOCK__MODE_FROZEN) &&
	       !__atomic_compare_exchange_n(&pvlock__mode_state, &state,
			state & ~PVLOCK__MODE_CAS_UNLOCK, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Before main (and before any lock can be contended): read the environment.
 * A bad value is reported in one line and the default is kept. */
__attribute__((constructor)) static void mode_from_environment(void)
{
	const char *mode = getenv("PVLOCK_MODE");

	if (mode) {
		if (strcmp(mode, "pv") == 0)
			pvlock_set_mode(PVLOCK_MODE_PV);
		else if (strcmp(mode, "native") == 0)
			pvlock_set_mode(PVLOCK_MODE_NATIVE);
		else
			fprintf(stderr, "pvlock: PVLOCK_MODE=\"%s\" is not a mode; accepted "
				"values: native, pv (using the default, pv)\n", mode);
	}

	pv_unlock_kind_from_environment();
	tunable_from_environment("PVLOCK_SPIN_THRESHOLD", 1, PVLOCK_SPIN_THRESHOLD_MAX,
				 PVLOCK_SPIN_THRESHOLD_DEFAULT, pvlock_set_spin_threshold);
	tunable_from_environment("PVLOCK_STEAL_SPIN", 0, PVLOCK_STEAL_SPIN_MAX,
				 PVLOCK_STEAL_SPIN_DEFAULT, pvlock_set_steal_spin);
	tunable_from_environment("PVLOCK_STEAL_YIELDS", 0, PVLOCK_STEAL_YIELDS_MAX,
				 PVLOCK_STEAL_YIELDS_DEFAULT, pvlock_set_steal_yields);
	tunable_from_environment("PVLOCK_TICKET_SKIPS", 0, PVLOCK_TICKET_SKIPS_MAX,
				 PVLOCK_TICKET_SKIPS_DEFAULT, set_ticket_skips);
	tunable_from_environment("PVLOCK_TICKET_KICK_AHEAD", 0, PVLOCK_TICKET_KICK_AHEAD_MAX,
				 PVLOCK_TICKET_KICK_AHEAD_DEFAULT, set_ticket_kick_ahead);
	tunable_from_environment("PVLOCK_TICKET_FAR_SLEEP", 0, 1,
				 PVLOCK_TICKET_FAR_SLEEP_DEFAULT, set_ticket_far_sleep);
}
