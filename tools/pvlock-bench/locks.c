/*
 * locks.c - the lock adapter table: every lock the bench can measure.
 *
 * Each lock supplies init/destroy and acquire/release; LOCK_LOOPS turns the
 * latter two into that lock's own copies of the measured loops.
 */
#include <pthread.h>
#include <string.h>

#include <ck_spinlock.h>

#include "workload.h"

#define LOCK_LOOPS(id)							\
	static void id##_worker(struct worker *w, void *lock)		\
	{ workload_loop(w, lock, id##_acquire, id##_release); }		\
	static void id##_fastpath(void *lock, uint64_t iters)		\
	{ fastpath_loop(lock, iters, id##_acquire, id##_release); }

static void no_destroy(void *lock)
{
	(void)lock;
}

/* ---- pvlock: queued, ticket, test-and-set ------------------------------- */
/* The mode (pv or native) is process-wide; the child sets it before any run. */

static void queued_init(void *lock) { pvlock_init(lock); }
static ALWAYS_INLINE void queued_acquire(void *lock, struct lock_ctx *c)
{ (void)c; pvlock_lock(lock); }
static ALWAYS_INLINE void queued_release(void *lock, struct lock_ctx *c)
{ (void)c; pvlock_unlock(lock); }
LOCK_LOOPS(queued)

static void ticket_init(void *lock) { pvlock_ticket_init(lock); }
static ALWAYS_INLINE void ticket_acquire(void *lock, struct lock_ctx *c)
{ (void)c; pvlock_ticket_lock(lock); }
static ALWAYS_INLINE void ticket_release(void *lock, struct lock_ctx *c)
{ (void)c; pvlock_ticket_unlock(lock); }
LOCK_LOOPS(ticket)

static void tas_init(void *lock) { pvlock_tas_init(lock); }
static ALWAYS_INLINE void tas_acquire(void *lock, struct lock_ctx *c)
{ (void)c; pvlock_tas_lock(lock); }
static ALWAYS_INLINE void tas_release(void *lock, struct lock_ctx *c)
{ (void)c; pvlock_tas_unlock(lock); }
LOCK_LOOPS(tas)

/* ---- glibc -------------------------------------------------------------- */

static void mutex_init(void *lock) { pthread_mutex_init(lock, NULL); }
static void mutex_adaptive_init(void *lock)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(lock, &a);
	pthread_mutexattr_destroy(&a);
}
static void mutex_destroy(void *lock) { pthread_mutex_destroy(lock); }
static ALWAYS_INLINE void mutex_acquire(void *lock, struct lock_ctx *c)
{ (void)c; pthread_mutex_lock(lock); }
static ALWAYS_INLINE void mutex_release(void *lock, struct lock_ctx *c)
{ (void)c; pthread_mutex_unlock(lock); }
LOCK_LOOPS(mutex)

static void pspin_init(void *lock) { pthread_spin_init(lock, PTHREAD_PROCESS_PRIVATE); }
static void pspin_destroy(void *lock) { pthread_spin_destroy(lock); }
static ALWAYS_INLINE void pspin_acquire(void *lock, struct lock_ctx *c)
{ (void)c; pthread_spin_lock(lock); }
static ALWAYS_INLINE void pspin_release(void *lock, struct lock_ctx *c)
{ (void)c; pthread_spin_unlock(lock); }
LOCK_LOOPS(pspin)

/* ---- Concurrency Kit (header-only spinlocks) ---------------------------- */

static void ck_ticket_init(void *lock) { ck_spinlock_ticket_init(lock); }
static ALWAYS_INLINE void ck_ticket_acquire(void *lock, struct lock_ctx *c)
{ (void)c; ck_spinlock_ticket_lock(lock); }
static ALWAYS_INLINE void ck_ticket_release(void *lock, struct lock_ctx *c)
{ (void)c; ck_spinlock_ticket_unlock(lock); }
LOCK_LOOPS(ck_ticket)

/* The MCS lock is the tail pointer; each waiter brings its own node. */
_Static_assert(sizeof(struct ck_spinlock_mcs) <= sizeof(struct lock_ctx),
	       "an MCS node must fit in struct lock_ctx");
static void ck_mcs_init(void *lock) { ck_spinlock_mcs_init(lock); }
static ALWAYS_INLINE void ck_mcs_acquire(void *lock, struct lock_ctx *c)
{ ck_spinlock_mcs_lock(lock, (struct ck_spinlock_mcs *)c->bytes); }
static ALWAYS_INLINE void ck_mcs_release(void *lock, struct lock_ctx *c)
{ ck_spinlock_mcs_unlock(lock, (struct ck_spinlock_mcs *)c->bytes); }
LOCK_LOOPS(ck_mcs)

static void ck_fas_init(void *lock) { ck_spinlock_fas_init(lock); }
static ALWAYS_INLINE void ck_fas_acquire(void *lock, struct lock_ctx *c)
{ (void)c; ck_spinlock_fas_lock(lock); }
static ALWAYS_INLINE void ck_fas_release(void *lock, struct lock_ctx *c)
{ (void)c; ck_spinlock_fas_unlock(lock); }
LOCK_LOOPS(ck_fas)

/* ---- the table ---------------------------------------------------------- */

#define ADAPTER(nm, desc, pvl, mode, type, id, init_fn, destroy_fn)	\
	{ .name = nm, .what = desc, .is_pvlock = pvl, .pv_mode = mode,	\
	  .size = sizeof(type), .init = init_fn, .destroy = destroy_fn,	\
	  .run_worker = id##_worker, .run_fastpath = id##_fastpath }

/* Order matters: it is the interleaving order and the report order. */
const struct lock_adapter lock_adapters[] = {
	ADAPTER("pv-queued", "pvlock queued spinlock, pv mode (spin, then sleep; unlock kicks)",
		true, PVLOCK_MODE_PV, pvlock_t, queued, queued_init, no_destroy),
	ADAPTER("native-queued", "pvlock queued spinlock, native mode (spin only)",
		true, PVLOCK_MODE_NATIVE, pvlock_t, queued, queued_init, no_destroy),
	ADAPTER("pv-ticket", "pvlock ticket lock, pv mode",
		true, PVLOCK_MODE_PV, pvlock_ticket_t, ticket, ticket_init, no_destroy),
	ADAPTER("native-ticket", "pvlock ticket lock, native mode",
		true, PVLOCK_MODE_NATIVE, pvlock_ticket_t, ticket, ticket_init, no_destroy),
	ADAPTER("tas", "pvlock test-and-set lock (same in both modes; run in pv mode)",
		true, PVLOCK_MODE_PV, pvlock_tas_t, tas, tas_init, no_destroy),
	ADAPTER("mutex", "glibc pthread_mutex_t, default type",
		false, -1, pthread_mutex_t, mutex, mutex_init, mutex_destroy),
	ADAPTER("mutex-adaptive", "glibc pthread_mutex_t, PTHREAD_MUTEX_ADAPTIVE_NP",
		false, -1, pthread_mutex_t, mutex, mutex_adaptive_init, mutex_destroy),
	ADAPTER("pthread-spin", "glibc pthread_spinlock_t",
		false, -1, pthread_spinlock_t, pspin, pspin_init, pspin_destroy),
	ADAPTER("ck-ticket", "Concurrency Kit ck_spinlock_ticket",
		false, -1, ck_spinlock_ticket_t, ck_ticket, ck_ticket_init, no_destroy),
	ADAPTER("ck-mcs", "Concurrency Kit ck_spinlock_mcs",
		false, -1, ck_spinlock_mcs_t, ck_mcs, ck_mcs_init, no_destroy),
	ADAPTER("ck-fas", "Concurrency Kit ck_spinlock_fas (test-and-test-and-set)",
		false, -1, ck_spinlock_fas_t, ck_fas, ck_fas_init, no_destroy),
};
const unsigned lock_adapter_count = sizeof(lock_adapters) / sizeof(lock_adapters[0]);

const struct lock_adapter *lock_find(const char *name)
{
	for (unsigned i = 0; i < lock_adapter_count; i++)
		if (!strcmp(lock_adapters[i].name, name))
			return &lock_adapters[i];
	return NULL;
}

const char *lock_mode_name(const struct lock_adapter *l)
{
	if (l->pv_mode == PVLOCK_MODE_PV)
		return "pv";
	if (l->pv_mode == PVLOCK_MODE_NATIVE)
		return "native";
	return "-";
}
