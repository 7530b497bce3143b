/*
 * locks.c - the lock adapter table: every lock the bench can measure.
 *
 * Each lock supplies init/destroy and acquire/release; LOCK_LOOPS turns the
 * latter two into that lock's own copies of the measured loops.  The peers
 * from optional packages are compiled in only where the build found them
 * (rules.mk sets HAVE_CK, HAVE_ABSL, HAVE_TBB); the C++ ones live in
 * peers.cc.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"


#if HAVE_CK
#include <ck_spinlock.h>
#endif

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
#if HAVE_CK

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
#endif /* HAVE_CK */

/* ---- C++ peers (peers.cc) ----------------------------------------------- */
#if HAVE_ABSL
PEER_DECLARE(absl_mutex)
#endif
#if HAVE_TBB
PEER_DECLARE(tbb_mutex)
PEER_DECLARE(tbb_spin)
PEER_DECLARE(tbb_queuing)
#endif

/* ---- the table ---------------------------------------------------------- */

#define ADAPTER(nm, desc, pvl, mode, type, id, init_fn, destroy_fn)	\
	{ .name = nm, .what = desc, .is_pvlock = pvl, .pv_mode = mode,	\
	  .size = sizeof(type), .init = init_fn, .destroy = destroy_fn,	\
	  .run_worker = id##_worker, .run_fastpath = id##_fastpath }
#define PEER_ADAPTER(nm, desc, cls, type, id, init_fn, destroy_fn)	\
	{ .name = nm, .what = desc, .is_pvlock = false, .pv_mode = -1,	\
	  .peer_class = cls, .size = sizeof(type), .init = init_fn,	\
	  .destroy = destroy_fn, .run_worker = id##_worker,		\
	  .run_fastpath = id##_fastpath }
#define PEER(nm, desc, cls, id)						\
	{ .name = nm, .what = desc, .is_pvlock = false, .pv_mode = -1,	\
	  .peer_class = cls, .size = PEER_LOCK_BYTES, .init = id##_init,	\
	  .destroy = id##_destroy, .run_worker = id##_worker,		\
	  .run_fastpath = id##_fastpath }

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
	PEER_ADAPTER("mutex", "glibc pthread_mutex_t, default type", PEER_MUTEX,
		pthread_mutex_t, mutex, mutex_init, mutex_destroy),
	PEER_ADAPTER("mutex-adaptive", "glibc pthread_mutex_t, PTHREAD_MUTEX_ADAPTIVE_NP",
		PEER_MUTEX, pthread_mutex_t, mutex, mutex_adaptive_init, mutex_destroy),
#if HAVE_ABSL
	PEER("absl-mutex", "Abseil absl::Mutex (C++ shim)", PEER_MUTEX, absl_mutex),
#endif
#if HAVE_TBB
	PEER("tbb-mutex", "oneTBB tbb::mutex (C++ shim)", PEER_MUTEX, tbb_mutex),
#endif
	PEER_ADAPTER("pthread-spin", "glibc pthread_spinlock_t", PEER_SPIN,
		pthread_spinlock_t, pspin, pspin_init, pspin_destroy),
#if HAVE_TBB
	PEER("tbb-spin", "oneTBB tbb::spin_mutex (C++ shim)", PEER_SPIN, tbb_spin),
	PEER("tbb-queuing", "oneTBB tbb::queuing_mutex, fair queue (C++ shim)", PEER_SPIN,
	     tbb_queuing),
#endif
#if HAVE_CK
	PEER_ADAPTER("ck-ticket", "Concurrency Kit ck_spinlock_ticket", PEER_SPIN,
		ck_spinlock_ticket_t, ck_ticket, ck_ticket_init, no_destroy),
	PEER_ADAPTER("ck-mcs", "Concurrency Kit ck_spinlock_mcs", PEER_SPIN,
		ck_spinlock_mcs_t, ck_mcs, ck_mcs_init, no_destroy),
	PEER_ADAPTER("ck-fas", "Concurrency Kit ck_spinlock_fas (test-and-test-and-set)",
		PEER_SPIN, ck_spinlock_fas_t, ck_fas, ck_fas_init, no_destroy),
#endif
};
const unsigned lock_adapter_count = sizeof(lock_adapters) / sizeof(lock_adapters[0]);

static const struct lock_adapter *table_find(const char *name, size_t len)
{
	for (unsigned i = 0; i < lock_adapter_count; i++)
		if (strlen(lock_adapters[i].name) == len && !strncmp(lock_adapters[i].name, name, len))
			return &lock_adapters[i];
	return NULL;
}

/* Every peer this bench knows, and the package each needs. */
static const struct {
	const char *name, *package;
	bool built;
} optional_peers[] = {
	{ "absl-mutex", "libabsl-dev and g++", HAVE_ABSL },
	{ "tbb-mutex", "libtbb-dev and g++", HAVE_TBB },
	{ "tbb-spin", "libtbb-dev and g++", HAVE_TBB },
	{ "tbb-queuing", "libtbb-dev and g++", HAVE_TBB },
	{ "ck-ticket", "libck-dev", HAVE_CK },
	{ "ck-mcs", "libck-dev", HAVE_CK },
	{ "ck-fas", "libck-dev", HAVE_CK },
};

const char *lock_left_out_package(const char *name)
{
	for (unsigned i = 0; i < sizeof(optional_peers) / sizeof(optional_peers[0]); i++)
		if (!optional_peers[i].built && !strcmp(optional_peers[i].name, name))
			return optional_peers[i].package;
	return NULL;
}

const char *lock_left_out(void)
{
	static char buf[512];
	size_t used = 0;
	unsigned n = sizeof(optional_peers) / sizeof(optional_peers[0]);

	buf[0] = '\0';
	for (unsigned i = 0; i < n && used < sizeof(buf); i++) {
		if (optional_peers[i].built)
			continue;
		bool last = i + 1 == n || optional_peers[i + 1].built ||
			    strcmp(optional_peers[i + 1].package, optional_peers[i].package);
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? ", " : "",
					 optional_peers[i].name);
		if (last && used < sizeof(buf))
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, " (need %s)",
						 optional_peers[i].package);
	}
	return buf;
}

/* NAME@BACKEND[:USE+USE...]: the same lock, run with PVLOCK_BACKEND=BACKEND
 * (and PVLOCK_PREEMPT_USES=USE,USE...): the backend axis, e.g.
 * pv-queued@futex,pv-queued@bpf,pv-queued@bpf:holder side by side in one run. */
static const char *const backends[] = { "futex", "bpf" };
static struct lock_adapter on_backend[2 * MAX_LIST];
static char on_backend_names[2 * MAX_LIST][64];
static unsigned n_on_backend;

/* The backend part of "@bpf:holder" ("bpf"), or NULL. */
static const char *backend_of(const char *at, size_t *uses_at)
{
	for (unsigned b = 0; b < sizeof(backends) / sizeof(backends[0]); b++) {
		size_t len = strlen(backends[b]);
		if (!strncmp(at + 1, backends[b], len) && (!at[1 + len] || at[1 + len] == ':' ||
							   at[1 + len] == ',')) {
			*uses_at = 1 + len;
			return backends[b];
		}
	}
	return NULL;
}

const struct lock_adapter *lock_find(const char *name)
{
	const char *at = strchr(name, '@');
	size_t uses_at;

	if (!at)
		return table_find(name, strlen(name));
	const struct lock_adapter *base = table_find(name, (size_t)(at - name));
	const char *backend = backend_of(at, &uses_at);
	if (!base || !base->is_pvlock || !backend || strlen(name) >= sizeof(on_backend_names[0]) ||
	    (at[uses_at] == ':' && (strcmp(backend, "bpf") || !at[uses_at + 1])))
		return NULL;
	for (unsigned i = 0; i < n_on_backend; i++)
		if (!strcmp(on_backend[i].name, name))
			return &on_backend[i];
	if (n_on_backend == 2 * MAX_LIST)
		return NULL;
	struct lock_adapter *l = &on_backend[n_on_backend];
	*l = *base;
	strcpy(on_backend_names[n_on_backend], name);
	l->name = on_backend_names[n_on_backend++];
	l->backend = backend;
	return l;
}

void lock_list_setenv(const char *list)
{
	const char *at = strchr(list, '@');
	size_t uses_at;
	const char *backend = at ? backend_of(at, &uses_at) : NULL;

	if (!backend)
		return;
	setenv("PVLOCK_BACKEND", backend, 1);
	if (at[uses_at] != ':')
		return;
	char uses[64];
	size_t len = strcspn(at + uses_at + 1, ",");
	snprintf(uses, sizeof(uses), "%.*s", (int)len, at + uses_at + 1);
	for (char *p = uses; *p; p++)
		if (*p == '+')
			*p = ',';
	setenv("PVLOCK_PREEMPT_USES", uses, 1);
}

const char *lock_mode_name(const struct lock_adapter *l)
{
	if (l->pv_mode == PVLOCK_MODE_PV)
		return "pv";
	if (l->pv_mode == PVLOCK_MODE_NATIVE)
		return "native";
	return "-";
}

const struct lock_adapter *lock_native_twin(const struct lock_adapter *l)
{
	char name[64];

	if (l->pv_mode != PVLOCK_MODE_PV || strncmp(l->name, "pv-", 3))
		return NULL;
	snprintf(name, sizeof(name), "native-%.*s", (int)strcspn(l->name + 3, "@"), l->name + 3);
	return lock_find(name);
}
