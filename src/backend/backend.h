/*
 * backend.h - how a thread sleeps and how another wakes it.
 *
 * The contract (reference section 9), which every backend keeps:
 *   wait(self, ptr, val)  sleep while *ptr == val; may return at any time
 *                         (spurious wake-ups are legal; callers loop)
 *   kick(target)          wake that slot's thread; a kick sent after the
 *                         waiter's wait began is never lost; kicking a
 *                         running thread is harmless
 *   vcpu_is_preempted(s)  true if that slot's thread is known not to run;
 *                         false means "don't know"
 * Kickers change what the waiter checks (*ptr) before they kick, so a kick
 * sent before the wait began is seen through *ptr.  kick names a slot, never
 * a lock address: the lock may be freed by the time the kick is sent.
 */
#ifndef PVLOCK_BACKEND_H
#define PVLOCK_BACKEND_H

#include "algo/slot.h"

struct pvlock_backend {
	const char *name;
	void (*wait)(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val);
	void (*kick)(struct pvlock_slot *target);
	bool (*vcpu_is_preempted)(const struct pvlock_slot *slot);
};

extern const struct pvlock_backend pvlock__futex_backend;

/* Use another backend (tests); NULL puts the futex backend back.  Install it
 * while no thread is in a slow path. */
void pvlock__backend_install(const struct pvlock_backend *backend);
const struct pvlock_backend *pvlock__backend_current(void);

#endif /* PVLOCK_BACKEND_H */
