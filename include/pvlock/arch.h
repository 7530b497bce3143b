/*
 * pvlock/arch.h - the few machine facts the inline fast paths need.
 *
 * Atomics are GCC/Clang __atomic builtins: the C11 memory model with explicit
 * orders, usable on sub-words of the lock word (the queued lock stores its
 * locked byte and swaps its tail half on their own, as Linux does).
 */
#ifndef PVLOCK_ARCH_H
#define PVLOCK_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "pvlock needs a compiler that defines __BYTE_ORDER__ (gcc or clang)"
#endif
#define PVLOCK__LITTLE_ENDIAN (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/*
 * The public headers are valid C99 and C11 under -pedantic, and C++11 to
 * C++20: anonymous members are marked __extension__, and a build-time check
 * uses the form each language accepts.
 */
#if defined(__cplusplus)
#define PVLOCK__STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define PVLOCK__STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#else	/* C99: an array type of negative size when cond is false */
#define PVLOCK__STATIC_ASSERT2(cond, line) typedef char pvlock__static_assert_##line[(cond) ? 1 : -1]
#define PVLOCK__STATIC_ASSERT1(cond, line) PVLOCK__STATIC_ASSERT2(cond, line)
#define PVLOCK__STATIC_ASSERT(cond, msg) PVLOCK__STATIC_ASSERT1(cond, __LINE__)
#endif

#if defined(__cplusplus)
#define PVLOCK__BEGIN_DECLS extern "C" {
#define PVLOCK__END_DECLS }
#else
#define PVLOCK__BEGIN_DECLS
#define PVLOCK__END_DECLS
#endif

#define pvlock__likely(x)   __builtin_expect(!!(x), 1)
#define pvlock__unlikely(x) __builtin_expect(!!(x), 0)

/* Tell the core we are spinning (pause on x86, yield on arm64). */
static inline void pvlock__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * ThreadSanitizer: when a program is built with -fsanitize=thread, the
 * inline lock functions tell TSan "this is a mutex", so it reports races on
 * the data a pvlock protects as it would for a pthread mutex (and does not
 * look inside the lock).  Define PVLOCK_NO_TSAN_ANNOTATIONS to let TSan
 * check the lock's own atomics instead (pvlock's check-tsan does both).
 * Otherwise these compile to nothing.
 */
#if defined(__SANITIZE_THREAD__)
#define PVLOCK__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PVLOCK__TSAN 1
#endif
#endif
#if defined(PVLOCK__TSAN) && !defined(PVLOCK_NO_TSAN_ANNOTATIONS)
#include <sanitizer/tsan_interface.h>
/* linker_init: a zeroed lock is ready to use and needs no destroy. */
#define pvlock__tsan_pre_lock(l, f)	__tsan_mutex_pre_lock((l), __tsan_mutex_linker_init | (f))
#define pvlock__tsan_post_lock(l, f)	__tsan_mutex_post_lock((l), __tsan_mutex_linker_init | (f), 0)
#define pvlock__tsan_pre_unlock(l)	((void)__tsan_mutex_pre_unlock((l), 0))
#define pvlock__tsan_post_unlock(l)	__tsan_mutex_post_unlock((l), 0)
#define PVLOCK__TSAN_TRY		__tsan_mutex_try_lock
#define PVLOCK__TSAN_TRY_FAILED		__tsan_mutex_try_lock_failed
#else
#define pvlock__tsan_pre_lock(l, f)	((void)0)
#define pvlock__tsan_post_lock(l, f)	((void)0)
#define pvlock__tsan_pre_unlock(l)	((void)0)
#define pvlock__tsan_post_unlock(l)	((void)0)
#define PVLOCK__TSAN_TRY		0
#define PVLOCK__TSAN_TRY_FAILED		0
#endif

/* Wrap a lock's raw inline operations with the annotations. */
#define PVLOCK__ANNOTATED_OPS(type, lock_fn, trylock_fn, unlock_fn)		\
static inline void lock_fn(type *lock)						\
{										\
	pvlock__tsan_pre_lock(lock, 0);						\
	lock_fn##_raw(lock);							\
	pvlock__tsan_post_lock(lock, 0);					\
}										\
static inline bool trylock_fn(type *lock)					\
{										\
	pvlock__tsan_pre_lock(lock, PVLOCK__TSAN_TRY);				\
	bool taken = trylock_fn##_raw(lock);					\
	pvlock__tsan_post_lock(lock, PVLOCK__TSAN_TRY |				\
			       (taken ? 0 : PVLOCK__TSAN_TRY_FAILED));		\
	return taken;								\
}										\
static inline void unlock_fn(type *lock)					\
{										\
	pvlock__tsan_pre_unlock(lock);						\
	unlock_fn##_raw(lock);							\
	pvlock__tsan_post_unlock(lock);						\
}

#endif /* PVLOCK_ARCH_H */
