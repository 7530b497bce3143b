/*
 * asm.h - constants shared by boot.S and the C code (no C in here).
 */
#ifndef GUEST_ASM_H
#define GUEST_ASM_H

#define MB_MAGIC		0x1BADB002	/* multiboot v1 header magic */

#define MAX_CPUS		16		/* vCPUs we bring up at most */
#define STACK_SHIFT		14
#define STACK_SIZE		(1 << STACK_SHIFT)	/* 16 KiB per vCPU */
#define AP_TRAMPOLINE_ADDR	0x8000		/* SIPI vector 0x08 */

#define KERNEL_CS		0x08
#define KERNEL_DS		0x10

/* Page-table entry bits. */
#define PTE_P			0x001		/* present */
#define PTE_W			0x002		/* writable */
#define PTE_PWT			0x008		/* write-through */
#define PTE_PCD			0x010		/* cache disabled */
#define PTE_PS			0x080		/* 2 MiB page (in a page directory) */

#define CR0_PE			0x00000001	/* protected mode */
#define CR0_PG			0x80000000	/* paging */
#define CR4_PAE			0x00000020	/* physical address extension */
#define MSR_EFER		0xC0000080
#define EFER_LME		0x00000100	/* long mode enable */

/*
 * Interrupt vectors.  The local APIC delivers a vector only when its
 * priority class (vector >> 4) is above that of every vector in service,
 * so a handler can be interrupted only by a higher class.  That gives the
 * nesting the lock nodes are built for, in order:
 *   task code < timer (class 4) < lock IPI (class 8) < NMI
 * and the kick, which must reach a waiter at any of these levels, above
 * them all.
 */
#define VEC_TIMER		0x40	/* local APIC timer: "softirq" level */
#define VEC_LOCK_IPI		0x80	/* an IPI whose handler takes a lock: "hardirq" */
#define VEC_KICK		0xF0	/* pv kick: wakes a halted waiter, nothing else */
#define VEC_SPURIOUS		0xFF	/* the APIC's spurious vector */

#endif /* GUEST_ASM_H */
