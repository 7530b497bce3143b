/*
 * M1, part: the store kind of pv unlock.  Included by m1_pv_qspinlock.pml
 * with -DSTORE_UNLOCK (its comment describes the rest of the model); not a
 * model on its own.
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
 *     stranger's claim (an unlocker delayed after its release finds the
 *     entry a later head inserted) kicks before the head reads its token;
 *     the head sleeps on a lock whose later unlockers find no entry: lost
 *     wake-up.
 *   MUTANT_WAKE_READS_LOCK: the wake path reads the lock word after the
 *     release ("held again? its owner will wake the head"): a read of a
 *     lock that may have been freed.
 */

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
