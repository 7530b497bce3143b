/*
 * M6: the pv ticket lock's skip protocol and kick-ahead (src/algo/ticket_skip.h,
 * src/algo/ticket.c: lock_skipping, skip_ahead, kick_ahead,
 * pvlock__ticket_unlock_kick), sequential consistency.
 *
 * A waiter that may be passed over publishes a record {want, claim} for its
 * whole wait.  An unlocker (after releasing to `next`) or the waiter right
 * behind (seeing head == its ticket - 2) may claim a waiter that "does not
 * run" (its record's asleep hint, which may be stale, or the bpf backend's
 * answer: any answer is possible, so it is a nondeterministic choice), CAS
 * its claim WAITING -> SKIPPED, move head past it, and kick it; the skipped
 * waiter takes a new ticket, WAITING again until it was skipped K times in
 * this acquisition, then FIRM.  A waiter owns its turn only after its own
 * CAS WAITING|FIRM -> DONE.  Kick-ahead: an unlock that hands the turn to
 * `next` also kicks the waiter of next + 2 if its asleep hint (rasleep, set
 * around the wait; read possibly stale) says it sleeps.
 *
 * State: head (bit 0 = FLAG), tail; tickets advance by 2 modulo TMASK + 1.
 * Per thread t: rpub (record published), rwant, rclaim (DONE 0, WAITING 1,
 * SKIPPED 2, FIRM 3), rgen (the claim's generation), rkicked, tok (the
 * backend's wake token: the futex backend's token, read when the wait
 * begins, so a kick before that is seen only through rkicked).  Publication
 * is one step; the skipper's read of the claim and its claim CAS are two.
 * Tickets wrap (4 values), so a skipper's `next` can be stale.  rskips:
 * the skips of the current acquisition.  Knobs: ACQ, TMASK, K.
 *
 * The lock's lifetime: a program may free the lock whenever no ticket is
 * outstanding (head == tail): free_after_unlock's last user does, right
 * after its unlock.  Every access to head or tail that an unlocker makes
 * after its releasing fetch_add asserts LIVE, i.e. that it holds a turn (a
 * claimed one) that keeps the lock in use.
 *
 * Properties: mutual exclusion (assert at the acquiring step); every
 * thread finishes (a lost kick or an orphaned ticket = invalid end state);
 * a skipper only moves head from the skipped ticket (assert); no access to
 * a lock that may be freed (assert LIVE); a waiter is skipped at most K
 * times per acquisition (assert at the claim CAS).
 *
 * Mutants (models/check.sh must see each rejected):
 *   MUTANT_NO_RETIRE      the waiter owns its turn on head == want without
 *                         retiring its claim: two owners
 *   MUTANT_SLEEP_SKIPPED  the waiter's re-check before sleeping ignores a
 *                         skip that came before it reset kicked: lost kick
 *   MUTANT_NO_HEAD_CHECK  pass_turn moves head without waiting for it to
 *                         reach the claimed turn: a stale `next` (tickets
 *                         wrapped while the skipper was preempted) passes
 *                         a turn that is not the current one
 *   MUTANT_READ_AFTER_RELEASE  the unlocker looks at head before its claim
 *                         CAS: the waiter it found may meanwhile take its
 *                         turn and unlock, and the program free the lock
 *   MUTANT_PASS_RELEASE_ONLY  pass_turn's CAS is release only: it does not
 *                         acquire the waiter's flag fetch_or, so nothing
 *                         orders the waiter's reset of kicked before the
 *                         skipper's kick.  Modelled as the reordering C11
 *                         then permits (as M5 does): the reset stays
 *                         pending until an acquiring RMW of head reads the
 *                         flag (an unlock's fetch_add) or the waiter reads
 *                         kicked, where it may land after the kick.
 *   MUTANT_RETAKE_WAITING a skipped waiter retakes its ticket WAITING, not
 *                         FIRM after K skips: skipped without bound
 *   MUTANT_SKIP_LEFT      the skipper's claim ignores the record's state and
 *                         generation: it passes the turn of a waiter whose
 *                         wait is over (it owns the lock, record released)
 *   MUTANT_KICK_AHEAD_ONLY  the unlock kicks the waiter after next instead
 *                         of next: next sleeps through its turn
 */
#ifndef TMASK
#define TMASK 7
#endif
#define FLAG 1
#define NTHR 3
#ifndef ACQ
#define ACQ 2
#endif
#define DONE 0
#define WAITING 1
#define SKIPPED 2
#define FIRM 3
#ifndef K
#define K 1
#endif

byte head, tail;
bit  rpub[NTHR];
byte rwant[NTHR];
byte rclaim[NTHR];
bit  rkicked[NTHR];
bit  tok[NTHR];
bit  rpend[NTHR];	/* MUTANT_PASS_RELEASE_ONLY: a reset of kicked not yet landed */
byte owners;
byte rgen[NTHR];
byte rskips[NTHR];
bit  rasleep[NTHR];
byte spur = 1;

#define KICK(i) rkicked[i] = 1; tok[i] = 1

/* No ticket outstanding: the program may have freed the lock. */
#define LIVE ((head & ~FLAG) != tail)

/* A waiter's pending reset of kicked lands (MUTANT_PASS_RELEASE_ONLY). */
#define LAND(j) if :: rpend[j] -> rkicked[j] = 0; rpend[j] = 0 :: else -> skip fi

/* The unlocker's search (ticket_waiter): a published record for `want`. */
/* (A skipped record keeps its spent ticket until its thread runs again;
 * the search ignores it, which matters once tickets wrap.) */
#define MATCH(i, want) (rpub[i] && rwant[i] == want && rclaim[i] != SKIPPED)

/* The search, in one step (the C search is a scan of relaxed loads; what
 * matters is the claim CAS that follows, which re-checks everything). */
#define FIND(i, want) \
	atomic { \
		if \
		:: MATCH(0, want) -> i = 0 \
		:: MATCH(1, want) -> i = 1 \
		:: MATCH(2, want) -> i = 2 \
		:: else -> i = NTHR \
		fi \
	}

/* claim_for_skip: read the claim, CAS it unchanged (no look at the lock).
 * ok = 1 if we now own the turn `want` on behalf of thread i. */
inline claim_for_skip(i, want, g, ok)
{
	ok = 0;
	if
#ifdef MUTANT_SKIP_LEFT
	:: atomic { rwant[i] == want -> g = rgen[i] }
#else
	:: atomic { rclaim[i] == WAITING && MATCH(i, want) -> g = rgen[i] }
#endif
		/* "not running" is the bpf backend's answer: any */
#ifdef MUTANT_READ_AFTER_RELEASE
		if
		:: atomic { assert(LIVE); (head & ~FLAG) == want } ->
#endif
			atomic {
				if
#ifdef MUTANT_SKIP_LEFT
				:: rclaim[i] != SKIPPED -> rclaim[i] = SKIPPED; ok = 1;
					rskips[i]++
#else
				:: rclaim[i] == WAITING && rgen[i] == g -> rclaim[i] = SKIPPED; ok = 1;
					rskips[i]++; assert(rskips[i] <= K)
#endif
				:: else -> skip
				fi
			}
#ifdef MUTANT_READ_AFTER_RELEASE
		:: else -> skip
		fi
#endif
	:: true -> skip		/* it runs, or is not WAITING */
	fi;
	g = 0
}

/* pass_turn: we own the claimed turn; once head reaches it (at once unless
 * `next` was stale), move head on (keeps FLAG).  acq_rel: every waiter's
 * reset of kicked released by its flag fetch_or has landed. */
inline pass_turn(next, old)
{
#ifndef MUTANT_NO_HEAD_CHECK
	(head & ~FLAG) == next;
#endif
	atomic {
		assert(LIVE);
		assert((head & ~FLAG) == next);
		old = head;
		head = (head + 2) & TMASK;
#ifndef MUTANT_PASS_RELEASE_ONLY
		LAND(0); LAND(1); LAND(2)
#endif
	}
}

/* unlock: release, then if FLAG, kick or skip the waiter of next. */
inline unlock(old, next, i, h, g, ok)
{
	atomic { old = head; head = ((head & ~FLAG) + 2) & TMASK | (head & FLAG); owners--;
		 LAND(0); LAND(1); LAND(2) };
	if
	:: old & FLAG ->
		next = ((old & ~FLAG) + 2) & TMASK;
again:
		FIND(i, next);
		if
		:: i == NTHR -> goto done
		:: else -> skip
		fi;
		claim_for_skip(i, next, g, ok);
		if
		:: ok ->
			pass_turn(next, h);
			KICK(i);
			if
			:: h & FLAG -> next = (next + 2) & TMASK; goto again
			:: else -> goto done
			fi
		:: else ->	/* it runs, or is FIRM: an ordinary kick */
#ifndef MUTANT_KICK_AHEAD_ONLY
			KICK(i);
#endif
			/* kick_ahead: the waiter of next + 2, if its hint says asleep */
			FIND(i, (next + 2) & TMASK);
			if
			:: i < NTHR && rasleep[i] -> KICK(i)
			:: else -> skip
			fi
		fi
	:: else -> skip
	fi;
done:
	old = 0; next = 0; i = 0; h = 0; ok = 0
}

/* The owner clears FLAG when nobody waits behind it. */
inline clear_flag(my)
{
	atomic {
		if
		:: head == (my | FLAG) && tail == ((my + 2) & TMASK) -> head = my
		:: else -> skip
		fi
	}
}

proctype T(byte me)
{
	byte my, n = 0, old, next, i, h, st, p, g;
	bit ok;

	do
	:: n == ACQ -> break
	:: n < ACQ ->
		atomic { my = tail; tail = (tail + 2) & TMASK };
		if
		:: atomic { (head & ~FLAG) == my -> owners++; assert(owners == 1) } -> goto cs
		:: else -> skip
		fi;
		st = WAITING;
publish:
		atomic { rclaim[me] = DONE; rgen[me]++; rkicked[me] = 0; rwant[me] = my; rpub[me] = 1; rclaim[me] = st };
wait:
		if
		:: atomic { (head & ~FLAG) == my ->
#ifdef MUTANT_NO_RETIRE
			owners++; assert(owners == 1); rclaim[me] = DONE
#else
			if
			:: rclaim[me] == WAITING || rclaim[me] == FIRM ->
				rclaim[me] = DONE; owners++; assert(owners == 1)
			:: else -> skip
			fi
#endif
		   } ->
			if
			:: rclaim[me] == DONE -> goto got
			:: else -> goto retake
			fi
		:: rclaim[me] == SKIPPED -> goto retake
		:: atomic { (head & ~FLAG) == ((my - 2) & TMASK) } ->
			/* skip_ahead: claim the waiter before us if it "does not run" */
			p = (my - 2) & TMASK;
			FIND(i, p);
			if
			:: i < NTHR ->
				claim_for_skip(i, p, g, ok);
				if
				:: ok -> pass_turn(p, h); KICK(i)
				:: else -> skip
				fi
			:: else -> skip
			fi;
			i = 0; h = 0; p = 0;
			goto wait
		:: true ->
			/* sleep_once */
#ifdef MUTANT_PASS_RELEASE_ONLY
			atomic { rpend[me] = 1; h = head; head = head | FLAG };
#else
			rkicked[me] = 0;
			atomic { h = head; head = head | FLAG };
#endif
			if
			:: (h & ~FLAG) == my -> skip
#ifndef MUTANT_SLEEP_SKIPPED
			:: (h & ~FLAG) != my && rclaim[me] == SKIPPED -> skip
#endif
			:: else ->
				tok[me] = 0;	/* the wait begins: the backend reads its token */
				rasleep[me] = 1;
				atomic {
					LAND(me);
					if
					:: rkicked[me] -> skip
					:: else ->
						if
						:: tok[me] -> tok[me] = 0
						:: spur > 0 -> spur--
						fi
					fi
				}
				rasleep[me] = 0
			fi;
			h = 0;
			goto wait
		fi;
retake:
		atomic { my = tail; tail = (tail + 2) & TMASK };
#ifdef MUTANT_RETAKE_WAITING
		st = WAITING;
#else
		if
		:: rskips[me] < K -> st = WAITING
		:: else -> st = FIRM
		fi;
#endif
		goto publish;
got:
		rpub[me] = 0;
cs:
		rskips[me] = 0;
		if
		:: head & FLAG -> clear_flag(my)
		:: else -> skip
		fi;
		unlock(old, next, i, h, g, ok);
		n++
	od
}

init {
	atomic {
		run T(0); run T(1); run T(2)
	}
}
