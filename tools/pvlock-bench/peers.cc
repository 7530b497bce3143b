/*
 * peers.cc - the C++ peers: Abseil's absl::Mutex and oneTBB's tbb::mutex,
 * tbb::spin_mutex and tbb::queuing_mutex.  Small shims only: each lock gets
 * init/destroy and its own copies of the loops of loops.h, with lock and
 * unlock inlined as for the C locks.  Built only where rules.mk found the
 * headers and libraries (HAVE_ABSL, HAVE_TBB); the library itself stays C.
 */
#include <new>

#include "loops.h"


#if HAVE_ABSL
#include <absl/synchronization/mutex.h>
#endif
#if HAVE_TBB
#include <oneapi/tbb/mutex.h>
#include <oneapi/tbb/queuing_mutex.h>
#include <oneapi/tbb/spin_mutex.h>
#endif

namespace {

/* A lock object constructed in the PEER_LOCK_BYTES the C side reserved. */
template <class M> void construct(void *p)
{
	static_assert(sizeof(M) <= PEER_LOCK_BYTES, "a peer lock must fit PEER_LOCK_BYTES");
	static_assert(alignof(M) <= CACHE_LINE, "a peer lock must fit a cache line's alignment");
	new (p) M();
}

template <class M> void destruct(void *p)
{
	static_cast<M *>(p)->~M();
}

/* lock()/unlock() members: tbb::mutex, tbb::spin_mutex. */
template <class M> ALWAYS_INLINE void member_acquire(void *lock, struct lock_ctx *)
{
	static_cast<M *>(lock)->lock();
}

template <class M> ALWAYS_INLINE void member_release(void *lock, struct lock_ctx *)
{
	static_cast<M *>(lock)->unlock();
}

} // namespace

#define PEER_LOOPS(id, type, acq, rel)						\
	extern "C" void id##_init(void *lock) { construct<type>(lock); }		\
	extern "C" void id##_destroy(void *lock) { destruct<type>(lock); }		\
	extern "C" void id##_worker(struct worker *w, void *lock)			\
	{ workload_loop(w, lock, acq, rel); }						\
	extern "C" void id##_fastpath(void *lock, uint64_t iters)			\
	{ fastpath_loop(lock, iters, acq, rel); }

#if HAVE_ABSL
static ALWAYS_INLINE void absl_acquire(void *lock, struct lock_ctx *)
{
	static_cast<absl::Mutex *>(lock)->Lock();
}
static ALWAYS_INLINE void absl_release(void *lock, struct lock_ctx *)
{
	static_cast<absl::Mutex *>(lock)->Unlock();
}
PEER_LOOPS(absl_mutex, absl::Mutex, absl_acquire, absl_release)
#endif

#if HAVE_TBB
PEER_LOOPS(tbb_mutex, tbb::mutex, member_acquire<tbb::mutex>, member_release<tbb::mutex>)
PEER_LOOPS(tbb_spin, tbb::spin_mutex, member_acquire<tbb::spin_mutex>,
	   member_release<tbb::spin_mutex>)

/*
 * The queuing mutex is an MCS-style queue: each acquisition brings its own
 * node, the scoped_lock, which lives in the caller's lock_ctx from lock to
 * unlock (as CK's MCS node does in locks.c).
 */
typedef tbb::queuing_mutex::scoped_lock queuing_node;
static_assert(sizeof(queuing_node) <= sizeof(struct lock_ctx),
	      "a tbb::queuing_mutex node must fit in struct lock_ctx");
static ALWAYS_INLINE void queuing_acquire(void *lock, struct lock_ctx *c)
{
	new (c->bytes) queuing_node(*static_cast<tbb::queuing_mutex *>(lock));
}
static ALWAYS_INLINE void queuing_release(void *, struct lock_ctx *c)
{
	reinterpret_cast<queuing_node *>(c->bytes)->~queuing_node();	/* releases */
}
PEER_LOOPS(tbb_queuing, tbb::queuing_mutex, queuing_acquire, queuing_release)
#endif
