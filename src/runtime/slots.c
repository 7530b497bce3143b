/*
 * slots.c - thread slots: the "CPU numbers" of the algorithms.
 *
 * A thread takes a slot on its first slow path and gives it back when it
 * exits (a pthread key destructor), so a program may create any number of
 * threads over its life; only the number alive and waiting at once is
 * bounded (PVLOCK_MAX_SLOTS; beyond it the algorithms spin without a node).
 *
 * Allocation is a lock-free scan of a bitmap and may run inside a signal
 * handler: a handler that interrupts our own allocation allocates for itself,
 * and the outer allocation then notices and gives its slot back.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "algo/hooks.h"
#include "runtime/fault.h"	/* max_slots, in test builds */

struct pvlock_slot pvlock__slots[PVLOCK_MAX_SLOTS];
uint64_t pvlock__orphan_events[PVLOCK_EV_COUNT];

#define BITMAP_WORDS ((PVLOCK_MAX_SLOTS + 63) / 64)
static uint64_t slot_used[BITMAP_WORDS];
static unsigned high_water;	/* slots [0, high_water) have been used */
static unsigned next_hint;	/* where the next scan starts */

/* This thread's slot + 1 (0: none).  initial-exec: no allocation on access,
 * so it is safe in a signal handler. */
static __thread uint32_t self_plus1 __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;

static void slot_free(uint32_t index)
{
	__atomic_fetch_and(&slot_used[index / 64], ~(1ull << (index % 64)), __ATOMIC_RELEASE);
}

/* Thread exit: the thread is in no slow path, so nothing refers to its nodes
 * or records any more (a late kick only wakes the slot's next owner). */
static void slot_release(void *arg)
{
	__atomic_store_n(&self_plus1, 0, __ATOMIC_RELAXED);
	slot_free((uint32_t)(uintptr_t)arg - 1);
}

__attribute__((constructor)) static void slots_init(void)
{
	if (pthread_key_create(&exit_key, slot_release) != 0) {
		fputs("pvlock: cannot create the thread-exit key; slots will not be recycled\n",
		      stderr);
	}
}

static unsigned slot_limit(void)
{
#ifdef PVLOCK_FAULT_INJECTION
	unsigned max = __atomic_load_n(&pvlock__fault.max_slots, __ATOMIC_RELAXED);
	if (max && max < PVLOCK_MAX_SLOTS)
		return max;
#endif
	return PVLOCK_MAX_SLOTS;
}

static int slot_take(void)
{
	unsigned limit = slot_limit();
	unsigned words = (limit + 63) / 64;
	unsigned start = __atomic_load_n(&next_hint, __ATOMIC_RELAXED) % words;

	for (unsigned n = 0; n < words; n++) {
		unsigned w = (start + n) % words;
		uint64_t used = __atomic_load_n(&slot_used[w], __ATOMIC_RELAXED);

		while (~used) {
			unsigned bit = (unsigned)__builtin_ctzll(~used);
			unsigned index = w * 64 + bit;

			if (index >= limit)
				break;
			used = __atomic_fetch_or(&slot_used[w], 1ull << bit, __ATOMIC_ACQUIRE);
			if (!(used & (1ull << bit))) {
				__atomic_store_n(&next_hint, w, __ATOMIC_RELAXED);
				return (int)index;
			}
		}
	}
	return -1;
}

static void raise_high_water(unsigned count)
{
	unsigned hw = __atomic_load_n(&high_water, __ATOMIC_RELAXED);

	while (hw < count &&
	       !__atomic_compare_exchange_n(&high_water, &hw, count, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

struct pvlock_slot *pvlock__slot_peek(void)
{
	uint32_t s = __atomic_load_n(&self_plus1, __ATOMIC_RELAXED);

	return s ? &pvlock__slots[s - 1] : NULL;
}

struct pvlock_slot *pvlock__slot_self(void)
{
	uint32_t s = __atomic_load_n(&self_plus1, __ATOMIC_RELAXED);

	if (pvlock__likely(s))
		return &pvlock__slots[s - 1];

	int index = slot_take();
	if (index < 0)
		return NULL;
	struct pvlock_slot *slot = &pvlock__slots[index];
	slot->index = (uint32_t)index;
	raise_high_water((unsigned)index + 1);

	uint32_t none = 0;
	if (!__atomic_compare_exchange_n(&self_plus1, &none, (uint32_t)index + 1, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		/* A signal handler gave this thread a slot meanwhile: use it. */
		slot_free((uint32_t)index);
		return &pvlock__slots[none - 1];
	}
	/* glibc keeps the first 32 keys' values in the thread descriptor, so
	 * this neither allocates nor locks: safe in a signal handler. */
	pthread_setspecific(exit_key, (void *)(uintptr_t)(index + 1));
	pvlock__slot_attached(slot);
	return slot;
}

unsigned pvlock__slot_high_water(void)
{
	return __atomic_load_n(&high_water, __ATOMIC_ACQUIRE);
}
