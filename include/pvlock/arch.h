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

#endif /* PVLOCK_ARCH_H */
