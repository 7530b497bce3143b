/*
 * maps.c - mmap, munmap, mremap, shmat and shmdt, interposed only to keep
 * spin.c's cache of which memory is shared right: each makes the system
 * call, then drops the cached ranges the change touches.
 *
 * The real calls are made as system calls: a malloc that maps through these
 * symbols must not find dlsym (which may allocate) on its way.  A change
 * that may bring shared memory to an address drops every entry it touches;
 * one that brings private memory, or none, drops the shared entries it
 * touches (cached private ranges already cover unmapped gaps).
 */
#include "preload/preload.h"

#include <stdarg.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

static uintptr_t span_end(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, e = a + len;

	if (e < a || e > UINTPTR_MAX - 0xffff)
		return UINTPTR_MAX;
	return (e + 0xffff) & ~(uintptr_t)0xffff;	/* whole pages, of any size */
}

static void *mapped(void *addr, size_t len, int flags, void *p)
{
	if (p != MAP_FAILED)
		spin_ranges_drop((uintptr_t)p, span_end(p, len), (flags & MAP_TYPE) == MAP_PRIVATE);
	else if (flags & MAP_FIXED)	/* a failed MAP_FIXED may have unmapped */
		spin_ranges_drop((uintptr_t)addr, span_end(addr, len), 1);
	return p;
}

PRELOAD_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mapped(addr, len, flags, (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}

PRELOAD_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mapped(addr, len, flags, (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}

PRELOAD_EXPORT int munmap(void *addr, size_t len)
{
	int ret = (int)syscall(SYS_munmap, addr, len);

	spin_ranges_drop((uintptr_t)addr, span_end(addr, len), 1);
	return ret;
}

PRELOAD_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *want = NULL;

	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, want);

	spin_ranges_drop((uintptr_t)old, span_end(old, old_len), 0);
	if (p != MAP_FAILED)
		spin_ranges_drop((uintptr_t)p, span_end(p, new_len), 0);
	else if (flags & MREMAP_FIXED)
		spin_ranges_drop((uintptr_t)want, span_end(want, new_len), 0);
	return p;
}

/* SysV shm: the segment's size is not at hand, and these are rare. */
PRELOAD_EXPORT void *shmat(int id, const void *addr, int flags)
{
	void *p = (void *)syscall(SYS_shmat, id, addr, flags);

	spin_ranges_drop(0, UINTPTR_MAX, 0);
	return p;
}

PRELOAD_EXPORT int shmdt(const void *addr)
{
	int ret = (int)syscall(SYS_shmdt, addr);

	spin_ranges_drop(0, UINTPTR_MAX, 1);
	return ret;
}
