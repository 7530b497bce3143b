/*
 * M4: paravirtual ticket lock with the slow-path flag in the head
 * (Linux's pv ticket lock; the "touch after release", "ticket flag after
 * re-check" and "ticket record overwrite" races, docs/design.md),
 * sequential consistency.
 *
 * Mirrors (src/algo/ticket.c):
 *   pvlock__ticket_lock_slow   -> ticket_lock_plain / ticket_lock_outer
 *   pv_ticket_wait             -> ticket_wait_plain / ticket_wait_outer
 *   ticket_clear_slowpath_flag -> inline clear_slowpath_flag
 *   pvlock__ticket_unlock_kick -> inline ticket_unlock (fetch_add + kick scan)
 *   backend pvlock__pv_wait / kick -> inline pv_wait / tok[] (sticky token)
 *
 * State encoding
 *   head[L], tail[L]: the two 16-bit halves of lock L's word.  Tickets are
 *   even and advance by 2 modulo 8 (TMASK; enough for the <= 3 tickets
 *   outstanding here); bit 0 of head is the slow-path FLAG.  Adding 2 to
 *   head keeps the flag bit, as the C fetch_add on the head half does.
 *   Wait records: one per (thread, nesting level), index t*2 + lvl:
 *     rlock (0 or L+1), rwant (ticket), rkicked (0/1).
 *   tok[t]: backend's sticky per-thread wake token.
 *   spur: finite budget of spurious wake-ups.
 *   Ghosts: incs[L] owners of L; nleft[L] acquisitions of L still to be
 *   released; freed[L] set by the last owner's unlock fetch_add: from then
 *   on the lock's memory is gone and any access asserts ("touch after
 *   release").
 *   Every statement / atomic block is one indivisible memory access (SC).
 *
 * Threads (default configuration):
 *   T0: takes A once.  While waiting for A (its level-0 record published)
 *       a "signal handler" may run once, at one of two points (right after
 *       the record is published, or right before sleeping): it takes and
 *       releases B using record level 1, then returns into the wait.
 *   T1: takes A ACQ times.     T2: takes B once.
 *   So A is contended by T0/T1, B by the handler/T2, and the handler's
 *   wait on B nests inside T0's wait on A ("ticket record overwrite").
 *   With -DNP_CONFIG: 2 threads looping forever on A (non-progress check).
 *
 * Spin phases are one nondeterministic look at head (or give up at once),
 * which covers every SPIN_THRESHOLD.
 *
 * Properties: mutual exclusion per lock (assert at the acquiring step); no
 * lost kick (a waiter asleep forever = invalid end state); unlock never
 * touches the lock after its own fetch_add (every access to the lock word
 * asserts !freed[L]; only A is checked, as the handler makes the number of
 * B acquisitions vary); with -DNP progress (FIFO lock).
 *
 * Mutants (each must be rejected by SPIN, see models/check.sh):
 *   MUTANT_FLAG_AFTER_RECHECK  "ticket flag after re-check": set FLAG after
 *                              re-checking head
 *   MUTANT_SHARED_RECORD       "ticket record overwrite": one record per
 *                              thread for all levels
 *   MUTANT_UNLOCK_REREAD       "touch after release": unlock reads the lock
 *                              after its fetch_add (the lock may be freed
 *                              by then)
 * Knobs: ACQ (T1's acquisitions of A), NP_CONFIG, PROGRESS_T0, MAXSPUR, TMASK.
 */

#ifndef TMASK
#define TMASK 7      /* tickets 0,2,4,6: up to 3 outstanding tickets */
#endif
#define FLAG 1
#ifndef MAXSPUR
#define MAXSPUR 1
#endif
#ifndef ACQ
#define ACQ 1
#endif

#ifdef NP_CONFIG
#define NTHR 2
#else
#define NTHR 3
#endif
#define NREC (NTHR * 2)

#define A 0
#define B 1

byte head[2];
byte tail[2];
byte rlock[NREC];
byte rwant[NREC];
bit  rkicked[NREC];
bit  tok[NTHR];
byte spur = MAXSPUR;

byte incs[2];
byte nleft[2];
bit  freed[2];

/* every access to a lock word checks that the lock still exists */
#define LIVE(L) assert(!freed[L])

/* pvlock__pv_wait(ptr, val): return at once if *ptr != val, else block
 * until this thread's sticky token is set (consume it) or a spurious
 * wake-up (finite budget).  Check and block decision are one step. */
inline pv_wait(eqcond, me)
{
	atomic {
		if
		:: !(eqcond) -> skip
		:: else ->
			if
			:: tok[me] -> tok[me] = 0
			:: spur > 0 -> spur--
			fi
		fi
	}
}

/* unlock: fetch_add head += 2; if the old head had FLAG, find the waiter
 * of ticket old+2 and kick it.  After the fetch_add the lock word is never
 * read again: "next" and the scan use only the old value and the records.
 * Kick = set the record's kicked flag, then the thread's token. */
inline ticket_unlock(L, old, i)
{
	atomic {
		LIVE(L);
		old = head[L];
		head[L] = (head[L] + 2) & TMASK;
		incs[L]--;
#ifndef NP_CONFIG
		nleft[L]--;
		if
		:: nleft[L] == 0 && L == A -> freed[L] = 1  /* last owner frees it */
		:: else -> skip
		fi
#endif
	};
#ifdef MUTANT_UNLOCK_REREAD
	/* "touch after release": look at the lock again after releasing it (e.g. to decide
	 * whether anyone is sleeping): the next owner may have freed it */
	atomic { LIVE(L); old = old | (head[L] & FLAG) };
#endif
	if
	:: old & FLAG ->
		old = ((old & ~FLAG) + 2) & TMASK;       /* ticket now served */
		i = 0;
		do
		:: i < NREC ->
			if
			:: atomic { rlock[i] == L + 1 && rwant[i] == old ->
				rkicked[i] = 1; tok[i / 2] = 1 } -> break
			:: else -> i++
			fi
		:: else -> break
		od
	:: else -> skip
	fi;
	old = 0; i = 0
}

/* acquire side: clear FLAG if nobody else is queued (tail == my + 2):
 * CAS {head = my|FLAG, tail = my+2} -> {my, my+2} */
inline clear_slowpath_flag(L, my)
{
	atomic {
		LIVE(L);
		if
		:: head[L] == (my | FLAG) && tail[L] == ((my + 2) & TMASK) -> head[L] = my
		:: else -> skip
		fi
	}
}

#define GOT_LOCK(L) incs[L]++; assert(incs[L] == 1)

/*
 * pv_ticket_wait(L, my): publish the record, set FLAG, re-check, sleep.
 * Generated twice by the C preprocessor: once with signal-handler points
 * (used by T0's wait on A) and once without (used everywhere else, including
 * inside the handler), because Promela inlines cannot recurse.
 * got = 1 if the re-check found it is our turn (we own L, h = head).
 * MUTANT_SHARED_RECORD: every level uses record level 0 ("ticket record
 * overwrite").
 */
#ifdef MUTANT_FLAG_AFTER_RECHECK
/* "ticket flag after re-check": re-check first, set the flag afterwards */
#define FLAG_AND_RECHECK(L, my, h, got, HP)                               \
	if                                                                \
	:: atomic { (head[L] & ~FLAG) == my ->                            \
			LIVE(L); h = head[L]; GOT_LOCK(L); got = 1 }        \
	:: else ->                                                        \
		atomic { LIVE(L); head[L] = head[L] | FLAG };             \
		HP;                                                       \
		pv_wait(rkicked[idx] == 0, me)                            \
	fi
#else
#define FLAG_AND_RECHECK(L, my, h, got, HP)                               \
	atomic { LIVE(L); head[L] = head[L] | FLAG };   /* fetch_or */    \
	if                                                                \
	:: atomic { (head[L] & ~FLAG) == my ->                            \
			LIVE(L); h = head[L]; GOT_LOCK(L); got = 1 }        \
	:: else ->                                                        \
		HP;                                                       \
		pv_wait(rkicked[idx] == 0, me)                            \
	fi
#endif

#define DEF_TICKET_WAIT(NAME, HP)                                         \
inline NAME(L, my, h, got, me, idx)                                       \
{                                                                         \
	rlock[idx] = 0;                                                   \
	atomic { rwant[idx] = my; rkicked[idx] = 0 };                     \
	rlock[idx] = L + 1;                 /* record published */        \
	HP;                                                               \
	FLAG_AND_RECHECK(L, my, h, got, HP);                              \
	/* clear the record (the model also zeroes want/kicked in the same  \
	 * step to keep the state space canonical: nobody reads them while  \
	 * lock is NULL, as the kick scan reads lock and want together) */   \
	atomic { rlock[idx] = 0; rwant[idx] = 0; rkicked[idx] = 0 }       \
}

/*
 * ticket lock: my = fetch_add(tail, 2) (the xadd returns the whole old
 * word, so head comes with it); if head (without FLAG) == my we own it.
 * Else: spin (one nondeterministic look, or give up) then pv_ticket_wait,
 * and loop.  On acquisition with FLAG seen: try to clear the flag.
 */
#define DEF_TICKET_LOCK(NAME, WAITFN)                                     \
inline NAME(L, my, h, got, me, idx)                                       \
{                                                                         \
	atomic {                                                          \
		LIVE(L);                                                  \
		my = tail[L]; tail[L] = (tail[L] + 2) & TMASK; h = head[L]; \
		if                                                        \
		:: (h & ~FLAG) == my -> GOT_LOCK(L); got = 1              \
		:: else -> skip                                           \
		fi                                                        \
	};                                                                \
	do                                                                \
	:: got -> got = 0; break                                          \
	:: else ->                                                        \
		if                                                        \
		:: atomic { (head[L] & ~FLAG) == my ->   /* spin saw it */ \
			LIVE(L); h = head[L]; GOT_LOCK(L); got = 1 }        \
		:: true -> WAITFN(L, my, h, got, me, idx) /* gave up */   \
		fi                                                        \
	od;                                                               \
	if                                                                \
	:: h & FLAG -> clear_slowpath_flag(L, my)                         \
	:: else -> skip                                                   \
	fi;                                                               \
	h = 0                                                             \
}

#ifdef MUTANT_SHARED_RECORD
#define LVL1 0
#else
#define LVL1 1
#endif

DEF_TICKET_WAIT(ticket_wait_plain, skip)
DEF_TICKET_LOCK(ticket_lock_plain, ticket_wait_plain)

/* the signal handler: runs at most once, in T0, inside T0's wait on A */
bit handled;
inline maybe_handler()
{
	if
	:: !handled ->
		handled = 1;
		ticket_lock_plain(B, my2, h2, got2, 0, 0 * 2 + LVL1);
		assert(incs[B] == 1);                 /* handler's critical section */
		ticket_unlock(B, old, i)
	:: true -> skip
	fi
}

DEF_TICKET_WAIT(ticket_wait_outer, maybe_handler())
DEF_TICKET_LOCK(ticket_lock_outer, ticket_wait_outer)

#ifndef NP_CONFIG
/* T0: takes A once; its wait on A may be interrupted by the handler */
active proctype t0()
{
	byte my, h, my2, h2, old, i;
	bit got, got2;
	ticket_lock_outer(A, my, h, got, 0, 0 * 2 + 0);
	assert(incs[A] == 1);
	ticket_unlock(A, old, i)
}

/* T1: takes A ACQ times */
active proctype t1()
{
	byte my, h, old, i, n;
	bit got;
	do
	:: n < ACQ ->
		ticket_lock_plain(A, my, h, got, 1, 1 * 2 + 0);
		assert(incs[A] == 1);
		ticket_unlock(A, old, i);
		my = 0; n++
	:: else -> break
	od
}

/* T2: takes B once (contends with T0's handler) */
active proctype t2()
{
	byte my, h, old, i;
	bit got;
	ticket_lock_plain(B, my, h, got, 2, 2 * 2 + 0);
	assert(incs[B] == 1);
	ticket_unlock(B, old, i)
}

init {
	nleft[A] = 1 + ACQ;
	nleft[B] = 2
}
#else
/* non-progress configuration: 2 threads, lock A, forever */
proctype looper(byte me)
{
	byte my, h, old, i;
	bit got;
	do
	::
		ticket_lock_plain(A, my, h, got, me, me * 2 + 0);
#ifdef PROGRESS_T0
		if
		:: me == 0 ->
progress0:		assert(incs[A] == 1)
		:: else -> assert(incs[A] == 1)
		fi;
#else
progress:
		assert(incs[A] == 1);
#endif
		ticket_unlock(A, old, i);
		my = 0
	od
}

init {
	atomic { run looper(0); run looper(1) }
}
#endif
