/*
 * M1: paravirtual queued spinlock, sequential consistency.
 *
 * Mirrors (src/algo/qspinlock_slowpath.h and qspinlock_pv.h, pv mode):
 *   qspin_slowpath          -> proctype thread, labels slowpath..claim
 *   pv_trylock_steal        -> inline trylock_steal
 *   pv_wait_node            -> inline pv_wait_node
 *   pv_kick_node            -> inline pv_kick_node
 *   pv_wait_head_or_lock    -> inline pv_wait_head_or_lock
 * (src/algo/qspinlock.c)    pvlock__qspin_unlock_slow -> inline unlock_slow
 * (src/algo/pv_hash.c)      pvlock__pv_hash_insert / pvlock__pv_hash_remove -> inlines
 * backend pvlock__pv_wait / kick -> inline pv_wait / kick (sticky per-thread token)
 *
 * State encoding
 *   Lock word of lock L (L in 0..NLOCKS-1), one field per byte/half-word:
 *     lk[L]    locked byte: 0 free, 1 LOCKED, 3 SLOW
 *     pend[L]  pending byte: 0/1 (only the queue head sets it in pv mode)
 *     tail[L]  0 = queue empty, else (thread id + 1); one node per thread,
 *              so the node index of the real encoding is always 0 here.
 *   An atomic { } block is one indivisible memory operation (load, store,
 *   CAS, xchg); every separate statement is a separate step, so the model
 *   explores every interleaving of the individual memory accesses (SC).
 *   Node of thread t: nnext[t] (0 or id+1), nlocked[t], nstate[t]
 *   (RUNNING/HALTED/HASHED), unhashed[t] (the "your entry is gone" notice).
 *   Hash table: HSZ entries hlock[] (0 or L+1), hnode[] (0 or id+1). All
 *   locks hash to entry 0 (the same line), linear probing with wrap-around,
 *   so two locks always collide (the "hash line collision" race,
 *   docs/design.md).
 *   kicked[t]: the backend's sticky per-thread wake token.
 *   spur: budget of spurious wake-ups (finite, so that a lost wake-up is a
 *   real deadlock that pan reports as an invalid end state).
 *
 * Spin loops ("spin up to SPIN_THRESHOLD") are modelled as a one-step
 * nondeterministic choice: either observe the awaited condition (if true at
 * that instant) or give up.  Because the loop body only reads, this covers
 * every threshold value and every "give up early" heuristic (prev not
 * RUNNING, vcpu_is_preempted) at once.
 *
 * Properties (see docs/models.md):
 *   - mutual exclusion per lock (assert in cs)
 *   - no lost wake-up (invalid end state = all threads blocked)
 *   - at most one hash entry per lock (assert in pvlock__pv_hash_insert)
 *   - unlock that sees SLOW finds the entry (assert in pvlock__pv_hash_remove)
 *   - global invariant (monitor): lk[L]==SLOW => entry for L exists, or an
 *     owner is inside one of the two short windows where that is legal
 *     (pv_kick_node between "lk=SLOW" and the insert; unlock_slow between
 *     the removal and "lk=0"), tracked by the ghost counter gwin[L].
 *   - node reuse: when a thread re-initialises its node nobody references it.
 *   - table never fills (assert in insert).
 *
 * Build-time knobs: NTHR (threads), ACQ (acquisitions per thread, 0 = forever,
 * used for the non-progress check), NLOCKS, MAXSPUR, NONDET_LOCK (every
 * acquisition picks either lock), PROGRESS_T0 (progress label only in
 * thread 0's critical section: per-thread starvation check, expected to
 * FAIL in pv mode because of lock stealing), NO_MONITOR.
 *
 * Variants:
 *   REHASH_ON_NOTICE: the head re-hashes as soon as it sees the unhash
 *     notice, without waiting until the lock no longer reads SLOW.  This
 *     model shows it is wrong (stale hash entry, then a lost wake-up); see
 *     the "wait for the release" comment in pv_wait_head_or_lock and
 *     docs/models.md.
 *   The races of docs/design.md: MUTANT_DOUBLE_HASH ("double hash"),
 *   MUTANT_NO_UNHASH_NOTICE_REHASH (a "double hash" variant),
 *   MUTANT_SLOW_BEFORE_HASH ("slow flag before hash entry"),
 *   MUTANT_RELEASE_BEFORE_UNHASH ("release before unhash"): each must be
 *   rejected by SPIN (models/check.sh).
 *   MUTANT_STEAL_TEST_THEN_SET: a steal past a queue reads the byte free,
 *   then stores LOCKED instead of CASing it: two owners (a stealer and the
 *   head that took the lock in between).
 *
 * STORE_UNLOCK: the store kind of pv unlock, in m1_store_unlock.pml (its
 * comment describes the model and its mutants).
 *
 * Files: this one (state, the thread, the monitor, init); m1_pv_hooks.pml
 * (the pv hooks, the hash table and the CAS kind of unlock, included
 * below); m1_store_unlock.pml (the store kind, included with
 * STORE_UNLOCK).  models/check.sh copies every m1_*.pml next to pan.
 */

#ifndef NTHR
#define NTHR 3
#endif
#ifndef ACQ
#define ACQ 2
#endif
#ifndef NLOCKS
#define NLOCKS 2
#endif
#ifndef MAXSPUR
#define MAXSPUR 1
#endif
#ifdef STORE_UNLOCK
#define HSZ NTHR	/* one entry per head and per claimer: never full */
#else
#define HSZ 2
#endif

#define LOCKED 1
#define SLOW   3
#define RUNNING 0
#define HALTED  1
#define HASHED  2

byte lk[NLOCKS];
bit  pend[NLOCKS];
byte tail[NLOCKS];

byte nnext[NTHR];
bit  nlocked[NTHR];
byte nstate[NTHR];
bit  unhashed[NTHR];
bit  kicked[NTHR];

byte hlock[HSZ];
byte hnode[HSZ];

#ifdef STORE_UNLOCK
#define RSV 254			/* entry reserved by an inserter, node not yet written */
#define CLM 255			/* entry claimed, the claimer frees it */
byte slp;			/* pvlock__pv_sleepers */
byte sb[NTHR];			/* store buffer: L+1 = "lk[L] = 0" not yet visible */
byte tok[NTHR];			/* futex token, bumped mod 4 by every kick */
byte owes[NTHR];		/* ghost: claimed entries of t whose notice is unwritten */
byte relleft[NLOCKS];		/* ghost: releases of L still to come (0: L is freed) */
#endif
byte incs[NLOCKS];          /* ghost: owners of lock L (acquired, not released) */
byte gwin[NLOCKS];          /* ghost: owner in a legal SLOW-without-entry window */
byte spur = MAXSPUR;

/* mutual exclusion, checked at the very step that acquires */
#ifdef REACH_STRANGER
byte gen[NLOCKS];	/* ghost: acquisitions of L so far */
byte hgen[NTHR];	/* ghost: gen of the lock when entry i was inserted */
#define GOT_LOCK(L) incs[L]++; assert(incs[L] == 1); gen[L]++
#else
#define GOT_LOCK(L) incs[L]++; assert(incs[L] == 1)
#endif

#if HSZ > 2
/* store kind: a claimed entry (CLM) still names its node until its claimer
 * frees it, but the claimer has read the node and written the notice by
 * then (owes[t] covers that): only unclaimed entries count */
#define HAS_ENTRY(L) (hlock[0] == (L)+1 || hlock[1] == (L)+1 || hlock[2] == (L)+1)
#define NODE_IN(i, t) (hnode[i] == (t)+1 && hlock[i] != CLM)
#define NODE_IN_TABLE(t) (NODE_IN(0, t) || NODE_IN(1, t) || NODE_IN(2, t))
#else
#define HAS_ENTRY(L) (hlock[0] == (L)+1 || hlock[1] == (L)+1)
#define NODE_IN_TABLE(t) (hnode[0] == (t)+1 || hnode[1] == (t)+1)
#endif

#include "m1_pv_hooks.pml"
#ifdef STORE_UNLOCK
#include "m1_store_unlock.pml"
#endif

proctype thread(byte me)
{
	byte L, prev, nx, ent, oldl, ul, n, tk, mygen;
	bit stolen, hashed, vfree, vtail, done, claimed;

	do
	::
		/* pick the lock for this acquisition.  Default: fixed pattern
		 * (thread t, acquisition n uses lock (t + n) % NLOCKS), so both
		 * locks are contended and threads move between them; with
		 * -DNONDET_LOCK every acquisition picks either lock (much
		 * larger state space, not part of check.sh). */
#ifdef NONDET_LOCK
		if
		:: L = 0
#if NLOCKS > 1
		:: L = 1
#endif
		fi;
#else
		L = (me + n) % NLOCKS;
#endif

		/* fast path: CAS word 0 -> LOCKED */
		if
		:: atomic { lk[L] == 0 && pend[L] == 0 && tail[L] == 0 -> lk[L] = LOCKED; GOT_LOCK(L) }
			goto cs
		:: else -> skip
		fi;

		/* slow path (pv: no pending protocol for newcomers).
		 * Node init; nobody may still reference this node. */
		atomic {
			assert(tail[0] != me + 1 && !NODE_IN_TABLE(me));
#if NLOCKS > 1
			assert(tail[1] != me + 1);
#endif
#ifdef STORE_UNLOCK
			/* no claimer writes a notice into the reused node */
			assert(unhashed[me] == 0 && owes[me] == 0);
#endif
			nlocked[me] = 0; nnext[me] = 0; nstate[me] = RUNNING; unhashed[me] = 0
		};
		trylock_steal(L, stolen, vfree, vtail);
		if
		:: stolen -> stolen = 0; goto cs
		:: else -> skip
		fi;

		/* publish: xchg tail */
		atomic { prev = tail[L]; tail[L] = me + 1 };
		if
		:: prev != 0 ->
			nnext[prev - 1] = me + 1;
			prev = 0;
			pv_wait_node(me, tk);
			assert(nlocked[me])
		:: else -> skip
		fi;

#ifdef STORE_UNLOCK
		pv_wait_head_store(L, me, hashed, ent, oldl, tk, claimed);
#else
		pv_wait_head_or_lock(L, me, hashed, ent, oldl);
#endif

		/* claim: if we are the tail, CAS whole word (me,0,LOCKED) -> LOCKED */
		atomic {
			if
			:: tail[L] == me + 1 && pend[L] == 0 && lk[L] == LOCKED -> tail[L] = 0; done = 1
			:: else -> skip
			fi
		};
		if
		:: done -> done = 0
		:: else ->
			(nnext[me] != 0);           /* wait for the successor's link */
			nx = nnext[me] - 1;
			nlocked[nx] = 1;
			pv_kick_node(L, nx, ent);
			nx = 0
		fi;
cs:
		/* critical section: we are the only owner and the lock is held */
#ifdef PROGRESS_T0
		/* per-thread check: only thread 0's critical section counts */
		if
		:: me == 0 ->
progress0:		assert(incs[L] == 1 && (lk[L] == LOCKED || lk[L] == SLOW))
		:: else ->
			assert(incs[L] == 1 && (lk[L] == LOCKED || lk[L] == SLOW))
		fi;
#else
progress:
		assert(incs[L] == 1 && (lk[L] == LOCKED || lk[L] == SLOW));
#endif

#ifdef STORE_UNLOCK
		/* unlock, store kind: store_release(locked, 0) into the buffer;
		 * the relaxed load of sleepers and the wake path may run before
		 * the drainer (or a membarrier) makes it visible */
		atomic {
			assert(lk[L] == LOCKED && sb[me] == 0); sb[me] = L + 1;
#ifdef REACH_STRANGER
			mygen = gen[L]
#endif
		};
		if
		:: slp > 0 -> unlock_wake(L, nx, ent, claimed, mygen)
		:: else -> skip
		fi;
		(sb[me] == 0);		/* drained before our next lock operation */
#else
		/* unlock: CAS locked LOCKED -> 0; SLOW -> slow unlock */
		atomic {
			ul = lk[L];
			if :: lk[L] == LOCKED -> lk[L] = 0; incs[L]-- :: else -> skip fi
		};
		if
		:: ul == LOCKED -> skip
		:: ul == SLOW -> unlock_slow(L, nx, ent)
		:: else -> assert(false)          /* unlock of a free lock */
		fi;
#endif
		ul = 0;
		L = 0;
#if ACQ > 0
		n++;
		if
		:: n == ACQ -> break
		:: else -> skip
		fi
#else
		n = (n + 1) % NLOCKS          /* run forever, alternating locks */
#endif
	od
}

/* Global invariant, checked in every reachable state: a SLOW lock either has
 * its hash entry or its owner is inside a legal window (gwin). */
#define INV(L) (lk[L] != SLOW || HAS_ENTRY(L) || gwin[L] > 0)
#if NLOCKS > 1
#define INVARIANT (INV(0) && INV(1))
#else
#define INVARIANT (INV(0))
#endif
#ifndef NO_MONITOR
active proctype monitor()
{
end:
	atomic { !INVARIANT -> assert(INVARIANT) }
}
#endif

#ifdef STORE_UNLOCK
/* The store buffers drain at any time, each store becoming visible as one
 * step (the release: the lock is free from then on). */
active proctype drainer()
{
end:
	do
	:: atomic { sb[0] != 0 -> DRAIN(0) }
#if NTHR > 1
	:: atomic { sb[1] != 0 -> DRAIN(1) }
#endif
#if NTHR > 2
	:: atomic { sb[2] != 0 -> DRAIN(2) }
#endif
	od
}
#endif

init {
	atomic {
#ifdef STORE_UNLOCK
		/* each thread's n-th acquisition takes lock (t + n) % NLOCKS */
		byte a = 0, b = 0;
		do
		:: a < NTHR ->
			b = 0;
			do
			:: b < ACQ -> relleft[(a + b) % NLOCKS]++; b++
			:: else -> break
			od;
			a++
		:: else -> break
		od;
#endif
		byte i = 0;
		do
		:: i < NTHR -> run thread(i); i++
		:: else -> break
		od
	}
}
