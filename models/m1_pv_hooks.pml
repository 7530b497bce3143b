/*
 * M1, part: the pv hooks of the queued lock, the hash table and the CAS
 * kind of pv unlock (src/algo/qspinlock_pv.h, src/algo/pv_hash.c,
 * src/algo/qspinlock.c).  Included by m1_pv_qspinlock.pml, whose comment
 * describes the state, the properties and the variants; not a model on its
 * own.
 */

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
