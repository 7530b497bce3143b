/*
 * pvlock.h - Linux's paravirtual spinlocks for the threads of one process.
 *
 * Three 4-byte locks, each with inline fast paths:
 *   pvlock_t         queued spinlock (qspinlock) with the pv slow path
 *   pvlock_ticket_t  ticket lock with the pv slow path
 *   pvlock_tas_t     test-and-set lock
 * In pv mode (the default) a waiter spins a bounded time and then sleeps on a
 * futex; the unlocker wakes ("kicks") exactly the waiter that must run next.
 * Native mode spins like Linux's native locks.  See README.md.
 */
#ifndef PVLOCK_H
#define PVLOCK_H

#define PVLOCK_VERSION_MAJOR 0
#define PVLOCK_VERSION_MINOR 1
#define PVLOCK_VERSION_PATCH 0

#include <pvlock/arch.h>
#include <pvlock/mode.h>
#include <pvlock/stats.h>
#include <pvlock/qspinlock.h>
#include <pvlock/ticket.h>
#include <pvlock/tas.h>

#endif /* PVLOCK_H */
