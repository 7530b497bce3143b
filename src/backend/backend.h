/*
 * backend.h - how a thread sleeps and how another wakes it.
 *
 * A backend is a struct pvlock_backend: a name and six functions, three that
 * every backend has and three optional ones.  The contract, which every
 * backend keeps (Linux's pv_wait and pv_kick, on threads: docs/design.md,
 * "Mapping Linux onto threads"):
 *   wait(self, ptr, val)  sleep while *ptr == val; may return at any time
 *                         (spurious wake-ups are legal; callers loop)
 *   kick(target)          wake that slot's thread; a kick sent after the
 *                         waiter's wait began is never lost; kicking a
 *                         running thread is harmless
 *   vcpu_is_preempted(s)  true if that slot's thread is known to be
 *                         runnable but not running (KVM's `preempted`);
 *                         false: running, blocked, or don't know
 * Optional (NULL: the backend does not know; the futex backend):
 *   slot_state(s)         an enum pvlock_slot_state (algo/hooks.h): unknown,
 *                         running, runnable (preempted), blocked
 *   steal_ns(s)           total ns the slot's thread was runnable, not running
 *   attach(s)             a thread just took slot s (s->tid is set)
 * Kickers change what the waiter checks (*ptr) before they kick, so a kick
 * sent before the wait began is seen through *ptr.  kick names a slot, never
 * a lock address: the lock may be freed by the time the kick is sent.
 *
 * The backends (src/backend/) call no runtime function: the runtime asks
 * them for their table and installs it (src/runtime/backend_select.c).
 */
#ifndef PVLOCK_BACKEND_H
#define PVLOCK_BACKEND_H

#include "algo/slot.h"

struct pvlock_backend {
	const char *name;
	void (*wait)(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val);
	void (*kick)(struct pvlock_slot *target);
	bool (*vcpu_is_preempted)(const struct pvlock_slot *slot);
	int (*slot_state)(const struct pvlock_slot *slot);
	uint64_t (*steal_ns)(const struct pvlock_slot *slot);
	void (*attach)(struct pvlock_slot *slot);
};

/* ---- the backends (src/backend/) ----------------------------------------- */
extern const struct pvlock_backend pvlock__futex_backend;
extern const struct pvlock_backend pvlock__bpf_backend;

/* Load the sched_switch program (dlopen libpvlock-bpf.so): the bpf backend's
 * table, to install, or NULL with the reason in why[]. */
const struct pvlock_backend *pvlock__bpf_backend_open(char *why, size_t why_len);
/* Unload the program (another backend is installed by now). */
void pvlock__bpf_backend_close(void);
/* In a forked child (the futex backend is installed by now): forget the
 * parent's program, which stays the parent's. */
void pvlock__bpf_backend_forget(void);
struct pvlock_bpf_ops;
/* The loader's operations while the program is loaded, else NULL. */
const struct pvlock_bpf_ops *pvlock__bpf_ops(void);

/* ---- the runtime's side (src/runtime/) ------------------------------------ */
/* backend_select.c: load the bpf backend and install it: 0, or -1 with the
 * reason in why[]; put the futex backend back and unload it (at exit). */
int pvlock__bpf_backend_load(char *why, size_t why_len);
void pvlock__bpf_backend_unload(void);

/* pv_ops.c: use another backend (tests); NULL puts the futex backend back.
 * Install it while no thread is in a slow path. */
void pvlock__backend_install(const struct pvlock_backend *backend);
const struct pvlock_backend *pvlock__backend_current(void);

#endif /* PVLOCK_BACKEND_H */
