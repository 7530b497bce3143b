/*
 * M5: the pv queued lock's orderings under a weak memory model (ARMv8 and
 * C11 relaxed/acquire/release), for the two places where a weaker order
 * than the code's breaks the lock (docs/design.md, "Orderings"):
 *
 *   -DSCENARIO_UNHASHED  the queue head's re-sleep with the `unhashed`
 *                        notice (pvlock__qspin_unlock_slow against
 *                        pv_wait_head_or_lock)
 *   -DSCENARIO_REUSE     a hash entry freed by one lock's unlocker or head
 *                        and taken by a second lock's head
 *                        (pvlock__pv_hash_insert / _remove, pv_hash_release_entry)
 *
 * Memory model.  One shared memory, as on ARMv8 (other-multi-copy-atomic:
 * a store, once performed, is seen by every other thread), but each thread
 * performs its accesses out of program order wherever nothing orders them:
 *
 *   stores     go to a per-thread buffer (one pending store per location)
 *              and reach memory later, in any order across locations
 *              (flusher processes): stores become visible out of program
 *              order.  A thread reads its own pending store (forwarding).
 *   release    (store or RMW): the thread's pending stores reach memory
 *              first, then this one.
 *   seq_cst RMW / full fence: the same, and it acts on memory at once.
 *   RMW (CAS, xchg): acts on memory; the thread's own pending store to the
 *              same location goes first (coherence).  A failed CAS is a load.
 *   loads satisfied early / stores performed early: where the C has a
 *              relaxed access followed by an access to another location
 *              with no acquire, release or fence between them, the model
 *              also runs the two in the other order (the LB and the
 *              early-load cases below, marked REORDER).  An acquire keeps
 *              later accesses after it; a release keeps earlier ones
 *              before it.
 *   Dependencies (address, data, control) are ignored, as C11 ignores
 *   them: the model allows some reorderings ARMv8 hardware would not.
 *
 * Orders under test (each a macro, default = the code as it is now):
 *   UNHASH_ST_RELAXED   unlocker's store of node->unhashed (now: release)
 *   UNHASH_LD_RELAXED   head's load of node->unhashed      (now: acquire)
 *   INS_CAS_RELAXED     insert's CAS of entry->lock        (now: acquire)
 *   REM_NULL_RELAXED    remove's NULL store                (now: release)
 *   HEAD_NULL_RELAXED   head's NULL store, own entry back  (now: release)
 *   NOTICE_AND_ENTRY_RELAXED  UNHASH_ST, INS_CAS, REM_NULL and HEAD_NULL
 *                       relaxed together (UNHASH_LD acquire)
 *
 * Properties (assertions; a blocked thread is an invalid end state):
 *   - an unlocker that finds SLOW finds an entry for its lock, and its node
 *     is that lock's sleeping head (no kick to the wrong slot);
 *   - a thread that owns a lock sees no hash entry for it (no stale entry);
 *   - at the end every entry is free and every lock is free;
 *   - nobody sleeps forever (lost wake-up).
 */

#ifdef NOTICE_AND_ENTRY_RELAXED
#define UNHASH_ST_RELAXED
#define INS_CAS_RELAXED
#define REM_NULL_RELAXED
#define HEAD_NULL_RELAXED
#endif

#define SLOW	3
#define NONE	0

/* Locations */
#define LK1	0	/* lock 1's locked byte */
#define LK2	1	/* lock 2's locked byte */
#define EL0	2	/* hash entry 0: lock (0 = free, else lock id) */
#define EN0	3	/* hash entry 0: node (head id) */
#define EL1	4	/* hash entry 1 */
#define EN1	5
#define UNH1	6	/* head 1's node->unhashed */
#define TOK1	7	/* head 1's kick token */
#define TOK2	8	/* head 2's kick token */
#define NLOC	9

#ifdef SCENARIO_UNHASHED
#define NTHR	2
#define NENT	2
#else
#define NTHR	4
#define NENT	1
#endif

byte mem[NLOC];
byte pv[NTHR * NLOC];	/* pending store: value, per thread and location */
bool pf[NTHR * NLOC];	/* pending store: flag */
bool pr[NTHR * NLOC];	/* pending store: a release */
byte ps[NTHR * NLOC];	/* pending store: its place in program order */
byte sq[NTHR];		/* per thread: stores issued so far */
byte done;

#define PF(t, l)	pf[(t) * NLOC + (l)]
#define PV(t, l)	pv[(t) * NLOC + (l)]
#define PR(t, l)	pr[(t) * NLOC + (l)]
#define PS(t, l)	ps[(t) * NLOC + (l)]

/* Load with forwarding from the thread's own pending store. */
#define LD(t, l)	(PF(t, l) -> PV(t, l) : mem[l])

/* Thread t has a pending store older than place s. */
#define OLDER1(t, l, s)	(PF(t, l) && PS(t, l) < (s))
#define OLDER(t, s)	(OLDER1(t, LK1, s) || OLDER1(t, LK2, s) || OLDER1(t, EL0, s) || \
			 OLDER1(t, EN0, s) || OLDER1(t, EL1, s) || OLDER1(t, EN1, s) || \
			 OLDER1(t, UNH1, s))
/* May this pending store be performed now?  A release store waits for
 * every older store of its thread; a relaxed one never waits. */
#define READY(t, l)	(PF(t, l) && (!PR(t, l) || !OLDER(t, PS(t, l))))

/* Issue a store into the thread's buffer.  An older store of the thread to
 * the same location is performed first (coherence; the flusher does it). */
inline st_buf(t, l, v, rel)
{
	atomic {
		!PF(t, l) ->
		PS(t, l) = sq[t]; PR(t, l) = rel;
		PV(t, l) = v; PF(t, l) = 1; sq[t]++
	}
}
#define st_rlx(t, l, v)	st_buf(t, l, v, 0)
#define st_rel(t, l, v)	st_buf(t, l, v, 1)

/* Perform thread t's pending store to l (at the end, or before an RMW). */
inline drain_one(t, l)
{
	if
	:: PF(t, l) -> mem[l] = PV(t, l); PF(t, l) = 0
	:: else -> skip
	fi
}

/* Perform all of thread t's pending stores, oldest first (a full fence, or
 * the release half of a seq_cst or release RMW). */
inline drain_all(t)
{
	do
	:: READY(t, LK1) && !OLDER(t, PS(t, LK1)) -> mem[LK1] = PV(t, LK1); PF(t, LK1) = 0
	:: READY(t, LK2) && !OLDER(t, PS(t, LK2)) -> mem[LK2] = PV(t, LK2); PF(t, LK2) = 0
	:: READY(t, EL0) && !OLDER(t, PS(t, EL0)) -> mem[EL0] = PV(t, EL0); PF(t, EL0) = 0
	:: READY(t, EN0) && !OLDER(t, PS(t, EN0)) -> mem[EN0] = PV(t, EN0); PF(t, EN0) = 0
	:: READY(t, EL1) && !OLDER(t, PS(t, EL1)) -> mem[EL1] = PV(t, EL1); PF(t, EL1) = 0
	:: READY(t, EN1) && !OLDER(t, PS(t, EN1)) -> mem[EN1] = PV(t, EN1); PF(t, EN1) = 0
	:: READY(t, UNH1) && !OLDER(t, PS(t, UNH1)) -> mem[UNH1] = PV(t, UNH1); PF(t, UNH1) = 0
	:: else -> break
	od
}

/* The flusher: performs any ready pending store of thread t, at any time. */
proctype flusher(byte t)
{
end:	do
	:: atomic { READY(t, LK1) -> mem[LK1] = PV(t, LK1); PF(t, LK1) = 0 }
	:: atomic { READY(t, LK2) -> mem[LK2] = PV(t, LK2); PF(t, LK2) = 0 }
	:: atomic { READY(t, EL0) -> mem[EL0] = PV(t, EL0); PF(t, EL0) = 0 }
	:: atomic { READY(t, EN0) -> mem[EN0] = PV(t, EN0); PF(t, EN0) = 0 }
	:: atomic { READY(t, EL1) -> mem[EL1] = PV(t, EL1); PF(t, EL1) = 0 }
	:: atomic { READY(t, EN1) -> mem[EN1] = PV(t, EN1); PF(t, EN1) = 0 }
	:: atomic { READY(t, UNH1) -> mem[UNH1] = PV(t, UNH1); PF(t, UNH1) = 0 }
	od
}

/* The entry locations of entry e. */
#define ELOC(e)	(EL0 + 2 * (e))
#define ENOD(e)	(EN0 + 2 * (e))

/*
 * pvlock__pv_hash_insert(lock, node): probe for a free entry, CAS it from
 * NULL to the lock, then store the node.  Sets `ent` to the entry taken.
 * With a one-entry table (SCENARIO_REUSE) the probe waits until the entry
 * is free: the second lock's head then always reuses the first lock's entry.
 */
inline insert(t, lock, node, ent)
{
	ent = 255;
	do
	:: ent != 255 -> break
	:: else ->
		for (e : 0 .. NENT - 1) {
			if
			:: ent == 255 ->
#ifdef INS_CAS_RELAXED
				/* REORDER: the relaxed CAS does not keep the node
				 * store after it; the store may be performed first. */
				if
				:: atomic { mem[ELOC(e)] == NONE && !PF(t, ELOC(e)) ->
					mem[ELOC(e)] = lock; ent = e }
				   st_rlx(t, ENOD(e), node)
				:: mem[ELOC(e)] == NONE ->
				   st_rlx(t, ENOD(e), node);
				   atomic { mem[ELOC(e)] == NONE -> mem[ELOC(e)] = lock; ent = e }
				:: skip		/* this entry looked busy */
				fi
#else
				/* acquire CAS: the node store stays after it */
				atomic {
					if
					:: mem[ELOC(e)] == NONE && !PF(t, ELOC(e)) ->
						mem[ELOC(e)] = lock; ent = e
					:: else -> skip
					fi
				}
				if
				:: ent == e -> st_rlx(t, ENOD(e), node)
				:: else -> skip
				fi
#endif
			:: else -> skip
			fi
		}
		/* all busy: wait until one is freed */
		if
		:: ent == 255 -> (mem[ELOC(0)] == NONE || mem[ELOC(NENT - 1)] == NONE)
		:: else -> skip
		fi
	od
}

/* pvlock__pv_hash_remove(lock): find the entry, read its node, free it. */
inline remove(t, lock, node)
{
	node = NONE;
	for (e : 0 .. NENT - 1) {
		if
		:: node == NONE && LD(t, ELOC(e)) == lock ->
#ifdef REM_NULL_RELAXED
			/* REORDER (LB): the relaxed NULL store may be performed
			 * before the node load is satisfied. */
			if
			:: node = LD(t, ENOD(e)); st_rlx(t, ELOC(e), NONE)
			:: st_rlx(t, ELOC(e), NONE); node = LD(t, ENOD(e))
			fi
#else
			node = LD(t, ENOD(e));
			st_rel(t, ELOC(e), NONE)
#endif
		:: else -> skip
		fi
	}
}

/* A head gives back the entry it inserted itself (its xchg returned 0). */
inline release_entry(t, ent)
{
#ifdef HEAD_NULL_RELAXED
	st_rlx(t, ELOC(ent), NONE)
#else
	st_rel(t, ELOC(ent), NONE)
#endif
}

/* The owner holds no entry for its lock (as it sees memory). */
inline assert_no_entry(t, lock)
{
	for (e : 0 .. NENT - 1) {
		entry_lock = LD(t, ELOC(e));
		assert(entry_lock != lock)	/* a stale entry */
	}
}

/*
 * The unlock of a pv queued lock by its owner t: the fast CAS (release)
 * from 1 to 0; on SLOW the slow path: re-read SLOW with acquire, remove the
 * entry, tell the head (unhashed), release, kick the head's slot.
 */
inline unlock(t, lk, lock, hd, unh, tok)
{
	atomic {
		if
		:: LD(t, lk) == 1 -> drain_all(t); mem[lk] = 0; slow = 0
		:: else -> slow = 1
		fi
	}
	if
	:: slow ->
		assert(LD(t, lk) == SLOW);	/* load_acquire: in order */
		remove(t, lock, node);
		assert(node != NONE);		/* SLOW => an entry exists */
		assert(node == hd);		/* and it is our head's */
#ifdef SCENARIO_UNHASHED
#ifdef UNHASH_ST_RELAXED
		st_rlx(t, unh, 1);
#else
		st_rel(t, unh, 1);
#endif
#endif
		st_rel(t, lk, 0);
		atomic { drain_all(t); mem[tok] = mem[tok] + 1 }	/* kick */
	:: else -> skip
	fi
}

/* pvlock__pv_wait(ptr = lk, SLOW): read the token, check, sleep until kicked. */
inline pv_wait(t, lk, tok)
{
	atomic { tk = mem[tok]; v = LD(t, lk) }
	if
	:: v == SLOW -> (mem[tok] != tk)	/* blocks: a lost kick hangs here */
	:: else -> skip
	fi
}

#ifdef SCENARIO_UNHASHED
/*
 * U owns lock 1.  As the new owner it ran pv_kick_node for its successor H,
 * found H HALTED and made it HASHED (the CAS, done before the start here);
 * it now stores SLOW and inserts H's entry on H's behalf, then unlocks.
 */
proctype owner_u()
{
	byte e, ent, node, slow;

	st_rlx(0, LK1, SLOW);
	insert(0, 1, 1, ent);
	unlock(0, LK1, 1, 1, UNH1, TOK1);
	done++
}

/*
 * H: the queue head of lock 1, hashed by U (state HASHED).  Each round:
 * the notice, the spin (a CAS of the locked byte that may succeed or not),
 * the guarded re-hash, the sleep.  Bounded by ROUNDS for the state space;
 * the last round spins until it gets the lock.
 */
#ifndef ROUNDS
#define ROUNDS 3
#endif
proctype head_h()
{
	byte e, ent, node, slow, old, v, tk, early, rounds, entry_lock;
	bool hashed = 1, have_early;

	do
	:: rounds < ROUNDS ->
		rounds++;
		have_early = 0;
#ifdef UNHASH_LD_RELAXED
		/* REORDER: with a relaxed notice load, the later load of the
		 * locked byte may be satisfied before it. */
		if
		:: early = LD(1, LK1); have_early = 1
		:: skip
		fi
#endif
		if
		:: hashed && LD(1, UNH1) == 1 ->
			st_rlx(1, UNH1, 0);
			hashed = 0
		:: else -> skip
		fi
		/* spin as the head: the trylock may succeed */
		if
		:: !have_early ->
			if
			:: atomic { LD(1, LK1) == 0 -> mem[LK1] = 1; PF(1, LK1) = 0 } -> goto gotlock
			:: skip
			fi
		:: else -> skip
		fi
		if
		:: have_early -> v = early
		:: else -> v = LD(1, LK1)
		fi
		if
		:: !hashed && v != SLOW ->
			insert(1, 1, 1, ent);
			hashed = 1;
			/* xchg SLOW, seq_cst */
			atomic { drain_all(1); old = mem[LK1]; mem[LK1] = SLOW }
			if
			:: old == 0 ->
				st_rlx(1, LK1, 1);
				release_entry(1, ent);
				goto gotlock
			:: else -> skip
			fi
		:: else -> skip
		fi
		pv_wait(1, LK1, TOK1)
	:: else ->
		/* last round: spin for the lock (nobody else will hash) */
		atomic { LD(1, LK1) == 0 -> mem[LK1] = 1 };
		goto gotlock
	od;
gotlock:
	assert_no_entry(1, 1);
	atomic { drain_all(1); assert(mem[LK1] == 1); mem[LK1] = 0 };
	done++
}

init {
	mem[LK1] = 1;	/* U holds lock 1 */
	atomic {
		run flusher(0); run flusher(1);
		run owner_u(); run head_h()
	}
	(done == 2);
	atomic {
		drain_all(0); drain_all(1);
		assert(mem[EL0] == NONE && mem[EL1] == NONE);
		assert(mem[LK1] == 0)
	}
}
#endif /* SCENARIO_UNHASHED */

#ifdef SCENARIO_REUSE
/*
 * Two locks, one hash entry.  For each lock i: owner Ui holds it and
 * unlocks; head Hi hashes and xchgs SLOW.  If Ui's fast unlock came first
 * the xchg returns 0: Hi owns the lock and takes its entry back itself.
 * Otherwise Hi sleeps and Ui removes the entry and kicks Hi.  Head 2's
 * insert waits for head 1's entry to be freed, so the entry is reused.
 * Threads: U1 = 0, H1 = 1, U2 = 2, H2 = 3.
 */
proctype owner_b(byte t; byte lk; byte lid; byte tok)
{
	byte e, node, slow;

	unlock(t, lk, lid, lid, 0, tok);
	done++
}

proctype head_b(byte t; byte lk; byte lid; byte tok)
{
	byte e, ent, old, v, tk, entry_lock;

	insert(t, lid, lid, ent);
	atomic { drain_all(t); old = mem[lk]; mem[lk] = SLOW }
	if
	:: old == 0 ->
		st_rlx(t, lk, 1);
		release_entry(t, ent);
		assert_no_entry(t, lid);
		atomic { drain_all(t); mem[lk] = 0 }	/* its unlock: fast path */
	:: else ->
		pv_wait(t, lk, tok)		/* the owner kicks after its release */
	fi;
	done++
}

init {
	mem[LK1] = 1; mem[LK2] = 1;	/* U1 holds lock 1, U2 holds lock 2 */
	atomic {
		run flusher(0); run flusher(1); run flusher(2); run flusher(3);
		run owner_b(0, LK1, 1, TOK1); run head_b(1, LK1, 1, TOK1);
		run owner_b(2, LK2, 2, TOK2); run head_b(3, LK2, 2, TOK2)
	}
	(done == 4);
	atomic {
		drain_all(0); drain_all(1); drain_all(2); drain_all(3);
		assert(mem[EL0] == NONE);
		assert(mem[LK1] != SLOW && mem[LK2] != SLOW)
	}
}
#endif /* SCENARIO_REUSE */
