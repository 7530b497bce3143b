/*
 * guest.h - the guest's lock runtime (guest/hooks.c, guest/pv.c) as the
 * experiment (guest/main.c) sees it.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdbool.h>

struct pvlock_backend;
extern const struct pvlock_backend pvlock__guest_backend;

void guest_slots_init(void);
void guest_set_mode(bool pv);
void guest_backend_knows(bool knows);	/* KVM steal time: who runs is known */
void guest_set_spin_threshold(unsigned loops);
unsigned guest_spin_threshold(void);

#endif /* GUEST_GUEST_H */
