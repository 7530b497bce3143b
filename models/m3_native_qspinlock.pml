/*
 * M3: native queued spinlock (qspin_slowpath with pv == false),
 * sequential consistency.  Linux's native queued lock; the "foreign pending
 * bit" and "endless hand-over re-reads" races (docs/design.md).
 *
 * Mirrors (src/algo/qspinlock_slowpath.h, pv hooks compiled out):
 *   fast path: CAS word 0 -> LOCKED (pvlock__qspin_lock inline part)
 *   qspin_slowpath:
 *     1. word == (0,1,0): bounded re-read (Linux generic: 1)      -> label s1
 *     2. tail or pending set: queue                                -> s2
 *     3. old = fetch_or(PENDING); if old had tail|pending: clear
 *        pending only if we set it; queue                          -> s3
 *     4. pending owner: wait locked == 0; store locked_pending = (1,0)
 *     5. queue: node init; trylock once; xchg tail; link prev->next;
 *        wait node->locked
 *     6. head: wait locked == 0 && pending == 0
 *     7. claim: tail == me ? CAS (me,0,0) -> (0,0,LOCKED)
 *               : set locked; wait node->next; next->locked = 1
 *   unlock: store-release locked = 0
 *
 * State encoding (one field per part of the 32-bit word):
 *   lk (locked byte 0/1), pend (pending byte 0/1), tail (0 = empty, else
 *   thread id + 1; the node index is always 0 -- one node per thread, no
 *   nesting: see docs/models.md).  Node of thread t: nnext[t] (0 or id+1),
 *   nlocked[t].  One lock (the native path has no cross-lock state).
 *   Each statement (or atomic block) is one indivisible memory access.
 *
 * Properties: mutual exclusion (assert in the critical section), no invalid
 * end state (no deadlock / lost hand-over), progress (non-progress cycle
 * check with -DNP, 2 threads looping forever, weak fairness), node reuse
 * (nobody references a node when its owner re-initialises it).
 *
 * Knobs: NTHR (threads), ACQ (acquisitions per thread, 0 = forever).
 *
 * Mutants (each must be rejected by SPIN, see models/check.sh):
 *   MUTANT_CLEAR_OTHERS_PENDING  "foreign pending bit": clear pending even
 *                                if someone else set it -> two owners
 *   MUTANT_KEEP_PENDING          "foreign pending bit": keep our pending
 *                                bit after deciding to queue -> the head
 *                                waits forever
 *   MUTANT_CLAIM_NONATOMIC       claim by "tail == me ? store LOCKED" without
 *                                CAS -> a waiter that enqueued in between is
 *                                orphaned
 *   MUTANT_NATIVE_TRYLOCK_STEAL  trylock takes the locked byte past a queue,
 *                                as pv mode's does -> two owners: why native
 *                                mode's trylock takes only a free word
 * Not modelled: nesting (node index 1), see docs/models.md.
 */

#ifndef NTHR
#define NTHR 3
#endif
#ifndef ACQ
#define ACQ 2
#endif

byte lk;
bit  pend;
byte tail;
byte nnext[NTHR];
bit  nlocked[NTHR];
byte incs;          /* ghost: number of owners (acquired, not yet released) */

/* one owner at a time: checked at the very step that acquires */
#define GOT_LOCK incs++; assert(incs == 1)

proctype thread(byte me)
{
	byte prev, nx, n;
	bit vt, vp, vl;      /* snapshot of (tail != 0, pending, locked) */

	do
	::
#ifdef MUTANT_NATIVE_TRYLOCK_STEAL
		/* pv mode's trylock in native mode: take the locked byte when
		 * locked and pending are clear, past a queue.  The head that saw
		 * the byte free claims with a plain store: two owners. */
		if
		:: atomic { lk == 0 && pend == 0 && tail != 0 -> lk = 1; GOT_LOCK } -> goto cs
		:: true -> skip
		fi;
#endif
		/* fast path: CAS (0,0,0) -> (0,0,1) */
		if
		:: atomic { lk == 0 && pend == 0 && tail == 0 -> lk = 1; GOT_LOCK } -> goto cs
		:: else -> skip
		fi;

		/* 1. read; if exactly (0,1,0) re-read (bounded: once) */
		atomic { vt = (tail != 0); vp = pend; vl = lk };
		if
		:: !vt && vp && !vl ->
			atomic { vt = (tail != 0); vp = pend; vl = lk }
		:: else -> skip
		fi;
		/* 2. contention: queue */
		if
		:: vt || vp -> goto queue
		:: else -> skip
		fi;
		/* 3. fetch_or PENDING */
		atomic { vt = (tail != 0); vp = pend; vl = lk; pend = 1 };
		if
		:: vt || vp ->
#if defined(MUTANT_CLEAR_OTHERS_PENDING)
			pend = 0;               /* clears a pending bit we did not set */
#elif defined(MUTANT_KEEP_PENDING)
			skip;                   /* keeps ours after deciding to queue */
#else
			if
			:: !vp -> pend = 0      /* we set it: clear it again */
			:: else -> skip         /* someone else's: never touch */
			fi;
#endif
			goto queue
		:: else -> skip
		fi;
		/* 4. pending owner: wait locked == 0, then (0,1,0) -> (0,0,1) in
		 * one 16-bit store of locked_pending */
		if
		:: vl -> lk == 0
		:: else -> skip
		fi;
		atomic { pend = 0; lk = 1; GOT_LOCK };
		goto cs;

queue:
		vt = 0; vp = 0; vl = 0;
		/* 5. node init (nobody may reference our node any more) */
		atomic {
			assert(tail != me + 1);
			nlocked[me] = 0; nnext[me] = 0
		};
		/* trylock once more: read word == 0, CAS 0 -> LOCKED */
		if
		:: atomic { lk == 0 && pend == 0 && tail == 0 -> lk = 1; GOT_LOCK } -> goto cs
		:: else -> skip
		fi;
		atomic { prev = tail; tail = me + 1 };       /* xchg_tail */
		if
		:: prev != 0 ->
			nnext[prev - 1] = me + 1;
			prev = 0;
			nlocked[me] == 1                   /* wait node->locked */
		:: else -> skip
		fi;
		/* 6. head: wait until locked and pending are both 0 */
		(lk == 0 && pend == 0);
		/* 7. claim */
#ifdef MUTANT_CLAIM_NONATOMIC
		/* check the tail, then store the whole word without a CAS: a
		 * waiter that enqueues in between is orphaned */
		if
		:: tail == me + 1 -> atomic { tail = 0; pend = 0; lk = 1; GOT_LOCK }; goto cs
		:: else -> skip
		fi;
#else
		if
		:: atomic { tail == me + 1 && pend == 0 && lk == 0 -> tail = 0; lk = 1; GOT_LOCK } -> goto cs
		:: else -> skip
		fi;
#endif
		atomic { lk = 1; GOT_LOCK };             /* set_locked */
		nnext[me] != 0;                          /* wait for the successor */
		nx = nnext[me] - 1;
		nlocked[nx] = 1;                         /* hand the head role over */
		nx = 0;
cs:
		/* critical section: we are the one owner and the lock is held */
		assert(incs == 1 && lk == 1);
progress:
		/* unlock: store-release locked = 0 (the ghost counter covers the
		 * whole ownership, so two owners are caught even if they never
		 * overlap inside the critical section proper) */
		atomic { incs--; lk = 0 };
#if ACQ > 0
		n++;
		if
		:: n == ACQ -> break
		:: else -> skip
		fi
#endif
	od
}

init {
	atomic {
		byte i = 0;
		do
		:: i < NTHR -> run thread(i); i++
		:: else -> break
		od
	}
}
