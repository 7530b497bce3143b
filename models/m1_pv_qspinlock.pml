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
 * STORE_UNLOCK: the store kind of pv unlock (docs/design.md, "The pv unlock
 * without a locked instruction"), the default where membarrier(2) works.
 * Unlock is store_release(locked, 0), then a relaxed load of the sleepers
 * count `slp`, then, if it is not 0, pvlock__qspin_unlock_wake: claim the
 * lock's entry (CAS lock -> CLM), write the node's notice, free the entry,
 * kick.  The release store goes into the unlocker's store buffer sb[t]
 * (one entry: the pending "lk[L] = 0"), which the `drainer` process
 * empties at any later step, so the sleepers load and the whole wake path
 * may run before the release is visible.  The head counts itself
 * (slp++), hashes, and calls membarrier, modelled as one step that drains
 * every store buffer, then looks at the locked byte; it sleeps on its
 * notice (unhashed == 0), not on the lock word.  No SLOW value exists.
 * pv_wait here is the futex backend's: the token (tok[t], a counter mod 4
 * that every kick bumps) is read first, then the condition, and the sleep
 * lasts while the token is unchanged: a kick before the token read is
 * lost unless the condition changed.  Ghosts: owes[t] (an entry of t
 * claimed, its notice not yet written: must be 0 when t reuses its node),
 * relleft[L] (releases of L still to come: 0 means L is freed, and reading
 * lk[L] then is a use after free).
 *   MUTANT_NO_MEMBARRIER: the head does not call membarrier: lost wake-up.
 *   MUTANT_SLEEP_ON_LOCK: the head sleeps on the locked byte it saw: a
 *     stranger's claim (an unlocker delayed after
 *     its release finds the entry a later head inserted) kicks before the
 *     head reads its token; the head sleeps on a lock whose later unlockers
 *     find no entry: lost wake-up.
 *   MUTANT_WAKE_READS_LOCK: the wake path reads the lock word after the
 *     release ("held again? its owner will wake the head"): a read of a
 *     lock that may have been freed.
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

/* pvlock__pv_wait(ptr, val): return at once if *ptr != val; else block until
 * this thread's token is set (consume it) or a spurious wake-up happens.
 * The comparison and the decision to block are one atomic step; a kick that
 * arrives after it is not lost because the token is sticky. */
inline pv_wait(eqcond, me)
{
	atomic {
		if
		:: !(eqcond) -> skip
		:: else ->
			if
			:: kicked[me] -> kicked[me] = 0
			:: spur > 0 -> spur--
			fi
		fi
	}
}

/* pvlock__pv_hash_insert(L, node): probe from entry 0 (every lock hashes there),
 * CAS the first free entry's lock field, then write its node field. */
inline pvlock__pv_hash_insert(L, nd, ent)
{
	atomic {
		/* at most one entry per lock: only a sleeping head or its kicker
		 * inserts, and never both (the "double hash" and "release
		 * before unhash" races would break this) */
		assert(!HAS_ENTRY(L));
		ent = 0;
	}
	do
	:: atomic {
		if
		:: hlock[ent] == 0 -> hlock[ent] = L + 1; break
		:: else -> ent = ent + 1;
			/* table never fills: <= one entry per lock, NLOCKS <= HSZ */
			assert(ent < HSZ)
		fi
	   }
	od;
	hnode[ent] = nd + 1
}

/* pvlock__pv_hash_remove(L): first entry whose lock field is L; read node, free it.
 * (The model also zeroes hnode so that an entry whose node field was not yet
 * written is visible as node 0 and trips the assertion.) */
inline pvlock__pv_hash_remove(L, nd, ent)
{
	ent = 0;
	do
	:: atomic {
		if
		:: hlock[ent] == L + 1 ->
			/* entry must be complete: the inserter wrote node before
			 * SLOW became visible (or is the unlocker itself) */
			assert(hnode[ent] != 0);
			nd = hnode[ent] - 1;
			hlock[ent] = 0; hnode[ent] = 0;
			gwin[L]++;            /* SLOW without entry until lk = 0 */
			break
		:: else ->
			/* unlock saw SLOW: the entry must exist (the "slow flag
			 * before hash entry" race); failing
			 * here means "probed the whole table, no entry for L" */
			assert(ent + 1 < HSZ);
			ent = ent + 1
		fi
	   }
	od
}

/* pvlock__qspin_unlock_slow(L): called after the unlock CAS saw SLOW. */
inline unlock_slow(L, nd, ent)
{
#ifdef MUTANT_RELEASE_BEFORE_UNHASH
	atomic { lk[L] = 0; incs[L]-- };    /* "release before unhash": released first */
	pvlock__pv_hash_remove(L, nd, ent);
	gwin[L]--;
	unhashed[nd] = 1;
#else
	pvlock__pv_hash_remove(L, nd, ent);
	unhashed[nd] = 1;
	atomic { lk[L] = 0; gwin[L]--; incs[L]-- }   /* release */
#endif
	kicked[nd] = 1;                     /* kick(the node's slot), never via L */
	nd = 0; ent = 0
}

/* pv_kick_node(L, next): the new owner, right after nlocked[next] = 1. */
inline pv_kick_node(L, nx, ent)
{
	/* full barrier (SC) then CAS next.state HALTED -> HASHED */
	if
	:: atomic { nstate[nx] == HALTED -> nstate[nx] = HASHED }
#ifdef STORE_UNLOCK
		/* waiter asleep: the owner hashes on its behalf; its own unlock
		 * reads sleepers after the increment (program order) */
		hash_insert_store(L, nx, ent);
		ent = 0
#else
		/* waiter asleep: owner marks SLOW and hashes on its behalf;
		 * only this owner unlocks L, so SLOW-before-insert is legal */
		atomic { lk[L] = SLOW; gwin[L]++ };
		pvlock__pv_hash_insert(L, nx, ent);
		gwin[L]--;
		ent = 0
#endif
	:: else -> skip                     /* CAS failed: waiter is running */
	fi
}

/* pv_wait_node(me, prev): queued, not head. Returns with nlocked[me] == 1. */
inline pv_wait_node(me, tk)
{
	do
	::
		/* spin: observe locked, or give up (threshold / prev not RUNNING) */
		if
		:: nlocked[me] -> break
		:: true -> skip
		fi;
		nstate[me] = HALTED;            /* + full barrier (SC) */
		if
#ifdef STORE_UNLOCK
		:: !nlocked[me] -> pv_wait_tok(nstate[me] == HALTED, me, tk)
#else
		:: !nlocked[me] -> pv_wait(nstate[me] == HALTED, me)
#endif
		:: else -> skip
		fi;
		/* CAS HALTED -> RUNNING; if the kicker made it HASHED, leave it */
		atomic { if :: nstate[me] == HALTED -> nstate[me] = RUNNING :: else -> skip fi };
		if
		:: nlocked[me] -> break
		:: else -> skip                 /* spurious wake-up: loop */
		fi
	od
}

/* pv_wait_head_or_lock(L, me): returns owning L (lk[L] == LOCKED). */
inline pv_wait_head_or_lock(L, me, hashed, ent, oldl)
{
#ifdef MUTANT_DOUBLE_HASH
	hashed = 0;                          /* "double hash": ignore HASHED at entry */
#else
	hashed = (nstate[me] == HASHED);     /* kicker hashed (or will hash) us */
#endif
	do
	::
#ifndef MUTANT_NO_UNHASH_NOTICE_REHASH
		if
		:: hashed && unhashed[me] -> unhashed[me] = 0; hashed = 0
		:: else -> skip
		fi;
#endif
		nstate[me] = RUNNING;
		pend[L] = 1;
		/* spin: locked == 0 && CAS locked_pending (0,1) -> (LOCKED,0) */
		if
		:: atomic { lk[L] == 0 && pend[L] == 1 -> lk[L] = LOCKED; pend[L] = 0; GOT_LOCK(L) } -> break
		:: true -> skip
		fi;
		pend[L] = 0;
		if
#ifndef REHASH_ON_NOTICE
		/* Wait for the release (docs/models.md, "M1 finding"):
		 * after the unlocker's notice, the unlocker may still be between
		 * "remove entry + notice" and its release store "lk = 0".  If we
		 * hashed now, our xchg would return that unlocker's SLOW, we would
		 * go to sleep, and its "lk = 0" would then overwrite our SLOW: our
		 * fresh entry is orphaned (never removed), and a later slow unlock
		 * or insert for this lock meets a stale entry.  So: while the lock
		 * still reads SLOW and we are not hashed, do not hash; wait for the
		 * release (the unlocker kicks us after it). Only an unlocker that
		 * removed our entry can make lk == SLOW while we are an unhashed
		 * head, so the check-then-insert below is race free. */
		:: !hashed && lk[L] == SLOW -> skip
		:: !hashed && lk[L] != SLOW ->
#else
		:: !hashed ->
#endif
#ifdef MUTANT_SLOW_BEFORE_HASH
			/* "slow flag before hash entry": SLOW made visible
			 * before the entry exists */
			atomic { oldl = lk[L]; lk[L] = SLOW; if :: oldl == 0 -> GOT_LOCK(L) :: else fi };
			if
			:: oldl == 0 -> lk[L] = LOCKED; oldl = 0; break
			:: else -> skip
			fi;
			pvlock__pv_hash_insert(L, me, ent);
			hashed = 1;
#else
			pvlock__pv_hash_insert(L, me, ent);
			hashed = 1;
			atomic { oldl = lk[L]; lk[L] = SLOW;        /* xchg */
				 if :: oldl == 0 -> GOT_LOCK(L) :: else fi };
			if
			:: oldl == 0 ->
				/* lock was free: take it and drop our own entry */
				lk[L] = LOCKED;
				atomic { hlock[ent] = 0; hnode[ent] = 0; ent = 0; oldl = 0 };
				break
			:: else -> oldl = 0; ent = 0
			fi;
#endif
		:: else -> skip
		fi;
		nstate[me] = HASHED;
		pv_wait(lk[L] == SLOW, me);
#ifdef MUTANT_NO_UNHASH_NOTICE_REHASH
		/* "am I still hashed?" guessed from the lock word instead of the
		 * unlocker's notice: wrong in the kicker's SLOW-not-yet-written
		 * window, and after a stealer took the lock */
		hashed = (lk[L] == SLOW);
		unhashed[me] = 0;
#endif
	od;
	hashed = 0
}

#ifdef STORE_UNLOCK
/* The futex backend's wait: the token read, then the check and the sleep
 * (one step: a change of the condition after the check comes with a kick,
 * which changes the token the sleep compares). */
inline pv_wait_tok(eqcond, me, tk)
{
	tk = tok[me];
	atomic {
		if
		:: !(eqcond) -> skip
		:: else ->
			if
			:: tok[me] != tk -> skip
			:: spur > 0 -> spur--
			fi
		fi;
		tk = 0
	}
}

/* thread t's buffered release becomes visible (a no-op if none) */
#if ACQ > 0
#define RELLEFT(L) relleft[L]--
#else
#define RELLEFT(L) skip		/* looping forever: no lock is ever freed */
#endif
#define DRAIN(t) if :: sb[t] != 0 -> lk[sb[t] - 1] = 0; RELLEFT(sb[t] - 1); incs[sb[t] - 1]--; sb[t] = 0 \
		    :: else -> skip fi

inline kick_tok(nd)
{
	tok[nd] = (tok[nd] + 1) % 4
}

/* membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every other thread runs a
 * full barrier at some instant of the call: its buffered store is visible
 * before the call returns. */
inline membarrier()
{
	atomic {
		DRAIN(0);
#if NTHR > 1
		DRAIN(1);
#endif
#if NTHR > 2
		DRAIN(2);
#endif
		skip
	}
}

/* pvlock__pv_hash_insert, store kind: count the sleeper first (sleepers is
 * never below the number of entries), reserve a free entry (CAS NULL ->
 * RSV), write its node, publish the lock (store_release). */
inline hash_insert_store(L, nd, ent)
{
	slp++;
	atomic { assert(!HAS_ENTRY(L)); ent = 0 };
	do
	:: atomic {
		if
		:: hlock[ent] == 0 -> hlock[ent] = RSV; break
		:: else -> ent = ent + 1; assert(ent < HSZ)
		fi
	   }
	od;
	hnode[ent] = nd + 1;
#ifdef REACH_STRANGER
	hgen[ent] = gen[L];
#endif
	hlock[ent] = L + 1
}

/* pvlock__qspin_unlock_wake(L): after the release store; never reads lk[L].
 * Claim the entry that names L (CAS L -> CLM: one claimer wins), read its
 * node, uncount it, write the node's notice, free the entry, kick. */
inline unlock_wake(L, nd, ent, claimed, mygen)
{
#ifdef MUTANT_WAKE_READS_LOCK
	atomic { assert(relleft[L] > 0); if :: lk[L] != 0 -> goto wake_done :: else -> skip fi };
#endif
	ent = 0;
	do
	:: ent < HSZ ->
		atomic {
			if
			:: hlock[ent] == L + 1 ->
				hlock[ent] = CLM; nd = hnode[ent] - 1; owes[nd]++; claimed = 1;
#ifdef REACH_STRANGER
				/* a witness: the entry was inserted during a later
				 * ownership of L than the one this unlock ended */
				assert(hgen[ent] == mygen);
#endif
			:: else -> skip
			fi
		};
		if
		:: claimed -> break
		:: else -> ent++
		fi
	:: else -> break
	od;
	if
	:: claimed ->
		slp--;
		atomic { unhashed[nd] = 1; owes[nd]-- };
		atomic { hlock[ent] = 0; hnode[ent] = 0 };
		kick_tok(nd)
	:: else -> skip
	fi;
wake_done:
	nd = 0; ent = 0; claimed = 0
}

/* pv_wait_head_or_lock, store kind: returns owning L, with no entry of ours
 * in the table and no notice on its way. */
inline pv_wait_head_store(L, me, hashed, ent, oldl, tk, claimed)
{
	hashed = (nstate[me] == HASHED);
	do
	::
		if
		:: hashed && unhashed[me] -> unhashed[me] = 0; hashed = 0
		:: else -> skip
		fi;
		nstate[me] = RUNNING;
		pend[L] = 1;
		if
		:: atomic { lk[L] == 0 && pend[L] == 1 -> lk[L] = LOCKED; pend[L] = 0; GOT_LOCK(L) } -> break
		:: true -> skip
		fi;
		pend[L] = 0;
		if
		:: !hashed -> hash_insert_store(L, me, ent); hashed = 1; ent = 0
		:: else -> skip
		fi;
#ifndef MUTANT_NO_MEMBARRIER
		membarrier();
#endif
		/* the look at the locked byte, then the byte CAS 0 -> LOCKED */
		oldl = lk[L];
		if
		:: oldl == 0 ->
			atomic { if :: lk[L] == 0 -> lk[L] = LOCKED; GOT_LOCK(L); claimed = 1
				    :: else -> oldl = lk[L] fi };
			if :: claimed -> claimed = 0; oldl = 0; break :: else -> skip fi
		:: else -> skip
		fi;
		nstate[me] = HASHED;
#ifdef MUTANT_SLEEP_ON_LOCK
		pv_wait_tok(lk[L] == oldl, me, tk);
#else
		pv_wait_tok(unhashed[me] == 0, me, tk);
#endif
		oldl = 0
	od;
	/* Own the lock: take our entry back, or wait for the notice of the
	 * claimer that beat us to it.  The look (lock and node) and the CAS of
	 * the lock field are separate steps, as in the C. */
	if
	:: hashed ->
		ent = 0;
		do
		:: ent < HSZ ->
			if
			:: hlock[ent] == L + 1 && hnode[ent] == me + 1 ->
				atomic { if :: hlock[ent] == L + 1 -> hlock[ent] = 0; hnode[ent] = 0; claimed = 1
					    :: else -> skip fi };
				break
			:: else -> ent++
			fi
		:: else -> break
		od;
		if
		:: claimed -> slp--
		:: else -> (unhashed[me] == 1)
		fi;
		unhashed[me] = 0; claimed = 0; ent = 0
	:: else -> skip
	fi;
	hashed = 0
}
#endif /* STORE_UNLOCK */

/* pv_trylock_steal(L): returns with stolen = 1 owning L, or 0 to queue.
 * One look: a single load of the whole word (a hint), then, if locked and
 * pending both read 0, the steal: CAS of the locked byte 0 -> LOCKED that
 * does not compare pending.  It races with the head's CAS of
 * locked_pending (0,1) -> (LOCKED,0) and its xchg of the locked byte to
 * SLOW, which act on the same byte: only one of them finds it 0.
 * The C gives up at once after a failed look that read the tail empty (we
 * then become the head); otherwise it looks again, whatever pending read:
 * steal_spin() looks, then pvlock__pv_yield and another round, up to
 * steal_yields() rounds, then it queues.  Here, after a failed look that
 * read the tail non-empty, the thread may look again or queue, at every
 * look: that covers every steal_spin() / steal_yields() value (a yield is
 * no step here; which thread runs next is the interleaving).
 * The bound itself is not modelled: a look changes nothing but the two
 * locals, so looking forever is a cycle, not a longer path, and the
 * progress check (-DNP, pan -l -f) finds no non-progress cycle made of it:
 * while a stealer looks at a non-empty queue some other thread owns the
 * lock or is running toward it (the head sleeps only on SLOW, i.e. while
 * someone owns the lock), and weak fairness runs that thread. */
inline trylock_steal(L, stolen, vfree, vtail)
{
	do
	::
		atomic { vfree = (lk[L] == 0 && pend[L] == 0); vtail = (tail[L] != 0) };
		if
		:: vfree ->
#ifdef MUTANT_STEAL_TEST_THEN_SET
			/* a steal past a queue takes the byte, read free by the
			 * look above, with a plain store instead of the CAS: a
			 * head (its pending CAS or its xchg) or another stealer
			 * that took the lock in between is overwritten.  Looks
			 * that read the queue empty keep the CAS, so that the
			 * counterexample is this race, not the one with
			 * the fast path (which a plain store on every look also
			 * has, and which SPIN then finds first). */
			atomic {
				if
				:: vtail -> lk[L] = LOCKED; stolen = 1; GOT_LOCK(L)
				:: else ->
					if :: lk[L] == 0 -> lk[L] = LOCKED; stolen = 1; GOT_LOCK(L) :: else -> skip fi
				fi
			}
#else
			/* CAS locked byte 0 -> LOCKED (pending not compared) */
			atomic { if :: lk[L] == 0 -> lk[L] = LOCKED; stolen = 1; GOT_LOCK(L) :: else -> skip fi }
#endif
		:: else -> skip
		fi;
		if
		:: stolen -> break
		:: !stolen && !vtail -> break   /* queue empty: queue, become the head */
		:: !stolen && vtail -> skip     /* look again (relax, or yield first) */
		:: !stolen && vtail -> break    /* looks and yields used up: queue */
		fi
	od;
	vfree = 0; vtail = 0
}

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
