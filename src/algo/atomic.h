/*
 * atomic.h - the memory-order vocabulary of the algorithms.
 *
 * Thin names over the __atomic builtins (the C11 memory model with explicit
 * orders) so that every access in the slow paths states its order.  They work
 * on sub-words of the lock (byte, half-word), which the queued lock needs.
 */
#ifndef PVLOCK_ALGO_ATOMIC_H
#define PVLOCK_ALGO_ATOMIC_H

#include <stddef.h>

#include <pvlock/arch.h>

#define load_relaxed(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_relaxed(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define xchg(p, v, mo)		__atomic_exchange_n((p), (v), (mo))
#define fetch_or(p, v, mo)	__atomic_fetch_or((p), (v), (mo))
#define fetch_and(p, v, mo)	__atomic_fetch_and((p), (v), (mo))
/* A failed compare-and-swap orders nothing (relaxed failure order). */
#define cas(p, oldp, new_val, mo) \
	__atomic_compare_exchange_n((p), (oldp), (new_val), false, (mo), __ATOMIC_RELAXED)

#define smp_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
/* Orders against a signal handler on this thread only: a compiler barrier. */
#define signal_barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)

#define cpu_relax()	pvlock__cpu_relax()
#define likely(x)	pvlock__likely(x)
#define unlikely(x)	pvlock__unlikely(x)

#endif /* PVLOCK_ALGO_ATOMIC_H */
