/*
 * M2: the pv_wait_node <-> pv_kick_node handshake under x86-TSO with
 * explicit store buffers (docs/design.md, "Orderings: every atomic access
 * and its partner"; the "kick-node ordering" race, docs/design.md).
 *
 * Mirrors (src/algo/qspinlock_pv.h):
 *   waiter  = pv_wait_node:  state = HALTED; full barrier; read node->locked;
 *             if !locked: pvlock__pv_wait(&state, HALTED);
 *             CAS state HALTED -> RUNNING; if locked: done, else loop.
 *   owner   = qspin_slowpath hand-over + pv_kick_node:
 *             next->locked = 1; full barrier; CAS next->state HALTED -> HASHED;
 *             if the CAS succeeded the owner will kick at unlock
 *             (pvlock__qspin_unlock_slow), modelled as setting the token.
 *
 * Memory model
 *   mem[LOCKED_A], mem[STATE_A]: shared memory.
 *   Each thread t has a FIFO store buffer (addr/val arrays, count bc[t]).
 *   store: append to own buffer (blocks if full; that is just "wait for a
 *          flush", no behaviour is lost because the flusher is independent).
 *   load:  youngest own buffered store to that address, else memory
 *          (store forwarding).
 *   MFENCE (the C full barrier, atomic_thread_fence(seq_cst)): wait until
 *          own buffer is empty.
 *   flusher process per thread: at any time moves the oldest buffered store
 *          to memory (in order) -- this is the TSO nondeterminism.
 *   CAS: atomic on memory.  By default it is modelled as a *relaxed* CAS
 *        (C11 compare_exchange with memory_order_relaxed, as on ARM/POWER
 *        LL/SC): it does NOT drain the own store buffer, so a CAS (failed or
 *        not) gives no ordering for earlier stores.  This is the portable
 *        worst case that the "kick-node ordering" race is about.  With
 *        -DX86_LOCKED_CAS the CAS is an x86 LOCK CMPXCHG, which drains the
 *        buffer first (a full fence
 *        even when it fails).  Neither thread has a store to the CAS'd
 *        location pending in its buffer at the CAS in this protocol, except
 *        the waiter's own state store, which the waiter's CAS must see: the
 *        waiter's CAS therefore always drains first (it follows a fence in
 *        the correct code anyway).
 *
 * Property: no lost wake-up.  If the waiter blocks in pv_wait with the
 * owner's CAS having failed (owner thinks the waiter is running, so nobody
 * will ever kick), the waiter blocks forever: pan reports an invalid end
 * state (spurious wake-ups are allowed but finitely many: MAXSPUR).
 * Also asserted: when the waiter finishes, locked is really 1.
 *
 * Variants: MUTANT_NO_WAITER_BARRIER (no fence between "state = HALTED" and
 * the read of locked), MUTANT_NO_KICKER_BARRIER ("kick-node ordering": no
 * fence between "locked = 1" and the CAS): each must give a lost wake-up (invalid end
 * state).  X86_LOCKED_CAS: x86 LOCK CMPXCHG semantics; with it,
 * MUTANT_NO_KICKER_BARRIER is safe (the locked CAS is a full fence on x86).
 */

#ifndef MAXSPUR
#define MAXSPUR 1
#endif
#define BSZ 2
#define LOCKED_A 0
#define STATE_A  1

#define RUNNING 0
#define HALTED  1
#define HASHED  2

#define W 0      /* waiter thread */
#define O 1      /* owner (kicker) thread */

byte mem[2];
byte baddr[4];    /* baddr[t*BSZ + i] */
byte bval[4];
byte bc[2];
bit  kicked;      /* backend token of the waiter's slot */
byte spur = MAXSPUR;
bit  wdone;

inline store(t, a, v)
{
	atomic {
		bc[t] < BSZ ->
		baddr[t*BSZ + bc[t]] = a; bval[t*BSZ + bc[t]] = v; bc[t]++
	}
}

/* load with store forwarding (youngest matching entry wins) */
inline load(t, a, r)
{
	atomic {
		if
		:: bc[t] == 2 && baddr[t*BSZ + 1] == a -> r = bval[t*BSZ + 1]
		:: bc[t] == 2 && baddr[t*BSZ + 1] != a && baddr[t*BSZ] == a -> r = bval[t*BSZ]
		:: bc[t] == 1 && baddr[t*BSZ] == a -> r = bval[t*BSZ]
		:: else -> r = mem[a]
		fi
	}
}

inline mfence(t)
{
	bc[t] == 0
}

proctype flusher(byte t)
{
end:
	do
	:: atomic {
		bc[t] > 0 ->
		mem[baddr[t*BSZ]] = bval[t*BSZ];
		baddr[t*BSZ] = baddr[t*BSZ + 1]; bval[t*BSZ] = bval[t*BSZ + 1];
		baddr[t*BSZ + 1] = 0; bval[t*BSZ + 1] = 0;
		bc[t]--
	   }
	od
}

active proctype waiter()
{
	byte l, s;
	do
	::
		/* spin phase: read locked once (or give up at once) */
		load(W, LOCKED_A, l);
		if
		:: l -> break
		:: else -> skip
		fi;
		store(W, STATE_A, HALTED);
#ifndef MUTANT_NO_WAITER_BARRIER
		mfence(W);
#endif
		load(W, LOCKED_A, l);
		if
		:: !l ->
			/* pvlock__pv_wait(&state, HALTED): the value check and the
			 * decision to block are atomic w.r.t. the sticky token */
			atomic {
				load(W, STATE_A, s);
				if
				:: s != HALTED -> skip
				:: else ->
					if
					:: kicked -> kicked = 0
					:: spur > 0 -> spur--
					fi
				fi;
				s = 0
			}
		:: else -> skip
		fi;
		/* CAS state HALTED -> RUNNING (locked RMW on own location:
		 * drains own buffer so it sees its own HALTED store) */
		atomic {
			bc[W] == 0 ->
			if
			:: mem[STATE_A] == HALTED -> mem[STATE_A] = RUNNING
			:: else -> skip
			fi
		};
		load(W, LOCKED_A, l);
		if
		:: l -> break
		:: else -> skip            /* spurious: loop */
		fi
	od;
	mfence(W);
	assert(mem[LOCKED_A] == 1);
	wdone = 1
}

active proctype owner()
{
	/* hand-over: next->locked = 1 */
	store(O, LOCKED_A, 1);
#ifndef MUTANT_NO_KICKER_BARRIER
	mfence(O);                  /* smp_mb() before the CAS */
#endif
	/* pv_kick_node: CAS next->state HALTED -> HASHED */
	atomic {
#ifdef X86_LOCKED_CAS
		bc[O] == 0 ->           /* LOCK prefix drains the store buffer */
#endif
		if
		:: mem[STATE_A] == HALTED ->
			mem[STATE_A] = HASHED;
			/* owner marks SLOW and hashes; its unlock will kick */
			kicked = 1
		:: else -> skip         /* waiter seen RUNNING: no kick ever */
		fi
	};
	mfence(O)
}

init {
	atomic { run flusher(W); run flusher(O) }
}
