/*
 * pvlock/mode.h - native or paravirtual slow paths, chosen at run time.
 *
 * The mode is one word read with a relaxed load by the inline unlock paths:
 * a well-predicted branch, no call.  It may change only until the first slow
 * path runs (after that a lock may be in a pv-only state such as _Q_SLOW_VAL,
 * which a native unlock would not understand), so the first slow path freezes
 * it and pvlock_set_mode() then fails with EBUSY.
 *
 * The relaxed read is correct only if every thread that locks reads the
 * final mode: a caller of pvlock_set_mode() must make the call happen before
 * other threads' lock operations (call it before starting them, or hand it
 * over through a mutex or a release/acquire pair).  A thread that read an
 * older mode could unlock a pv lock the native way and lose a wake-up.
 * set_mode and the freeze are RMWs of the one word (mode.c): they cannot
 * both win.
 */
#ifndef PVLOCK_MODE_H
#define PVLOCK_MODE_H

#include <pvlock/arch.h>

PVLOCK__BEGIN_DECLS

enum pvlock_mode {
	PVLOCK_MODE_NATIVE = 0,	/* spin; fair queue/ticket hand-over */
	PVLOCK_MODE_PV = 1,	/* spin a bounded time, then sleep; unlock kicks */
};

/* bit 0: the mode; bit 1: frozen (a slow path has run); bit 2: the pv
 * queued lock unlocks by CAS (the kind of unlock, chosen by the library's
 * constructor and never changed: docs/design.md, "The pv unlock without a
 * locked instruction").  Internal. */
extern unsigned pvlock__mode_state;
#define PVLOCK__MODE_PV_BIT	1u
#define PVLOCK__MODE_FROZEN	2u
#define PVLOCK__MODE_CAS_UNLOCK	4u

/* Relaxed: see above for what this demands of pvlock_set_mode callers. */
static inline bool pvlock__mode_is_pv(void)
{
	return __atomic_load_n(&pvlock__mode_state, __ATOMIC_RELAXED) & PVLOCK__MODE_PV_BIT;
}

/* 0, or -1 with errno EBUSY once a slow path has run, EINVAL for a bad mode. */
int pvlock_set_mode(enum pvlock_mode mode);
enum pvlock_mode pvlock_get_mode(void);

/*
 * Loop iterations a pv waiter spins before it sleeps.  Linux uses 1 << 15;
 * pvlock's default, 1 << 14, is what the threshold sweep of pvlock-bench
 * supports on 2 CPUs with 4x overcommit (docs/benchmark.md): the ticket lock
 * did best at 2^13-2^14 and reached only 27-69% of that at 2^15; the queued
 * lock is flat across 2^6..2^16.  Settable at any time; also read from
 * PVLOCK_SPIN_THRESHOLD at start-up.  Returns 0, or -1 with errno EINVAL
 * outside [1, PVLOCK_SPIN_THRESHOLD_MAX].
 */
#define PVLOCK_SPIN_THRESHOLD_DEFAULT	(1u << 14)
#define PVLOCK_SPIN_THRESHOLD_MAX	(1u << 24)
int pvlock_set_spin_threshold(unsigned loops);
unsigned pvlock_get_spin_threshold(void);

/*
 * pv queued lock: how many more times a newcomer looks for a chance to
 * steal the lock from a sleeping queue head before it queues (0: one look).
 * Linux looks for as long as the head sleeps; see docs/design.md.  Settable
 * at any time; also read from PVLOCK_STEAL_SPIN at start-up.  Returns 0, or
 * -1 with errno EINVAL above PVLOCK_STEAL_SPIN_MAX.
 */
#define PVLOCK_STEAL_SPIN_DEFAULT	256u
#define PVLOCK_STEAL_SPIN_MAX		(1u << 24)
int pvlock_set_steal_spin(unsigned loops);
unsigned pvlock_get_steal_spin(void);

/*
 * pv queued lock: how many times a newcomer that found no chance to steal in
 * those looks gives up the CPU (sched_yield) and looks again, before it
 * queues.  A waiter that yields stays runnable, so the scheduler keeps
 * sharing the CPUs fairly; one that queues behind sleeping waiters waits a
 * scheduler wake-up per waiter ahead of it (docs/design.md, "Departures
 * from Linux": yielding before queueing).  0: no yield; a newcomer queues
 * as soon as its steal looks fail.  Settable at any time; also read from
 * PVLOCK_STEAL_YIELDS at start-up.  Returns 0, or -1 with errno EINVAL
 * above PVLOCK_STEAL_YIELDS_MAX.
 */
#define PVLOCK_STEAL_YIELDS_DEFAULT	1024u
#define PVLOCK_STEAL_YIELDS_MAX		(1u << 24)
int pvlock_set_steal_yields(unsigned yields);
unsigned pvlock_get_steal_yields(void);

/*
 * The wait/kick backend in use: "futex", or "bpf" (a sched_switch program
 * tells the slow paths which threads run; PVLOCK_BACKEND=auto|futex|bpf).
 */
const char *pvlock_backend(void);

PVLOCK__END_DECLS

#endif /* PVLOCK_MODE_H */
