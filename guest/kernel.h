/*
 * kernel.h - the guest kernel's small world: port and MSR access, CPUID,
 * per-CPU data, the local APIC, the clock, the console.
 */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/asm.h"

/* ---- instructions ---------------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ __volatile__("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			     : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ __volatile__("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
			     : "a"(leaf), "c"(0));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	/* lfence: do not let the read float above earlier loads. */
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

#define RFLAGS_IF	0x200ull	/* interrupts enabled */

static inline uint64_t irq_save(void)
{
	uint64_t flags;

	__asm__ __volatile__("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	return flags;
}

static inline void irq_restore(uint64_t flags)
{
	if (flags & RFLAGS_IF)
		__asm__ __volatile__("sti" : : : "memory");
}

/* ---- per-CPU data ---------------------------------------------------------- */
struct percpu {
	struct percpu *self;	/* %gs:0, so this_cpu() is one load */
	unsigned index;		/* 0..ncpus-1; also the lock slot */
	uint32_t apic_id;
	volatile bool online;
	unsigned in_nmi;	/* > 0 while an NMI handler runs on this vCPU */
	uint64_t ticks;		/* timer interrupts taken */
	/* The guest backend's own counts (guest/pv.c), per phase. */
	uint64_t halts;		/* HLTs executed by pv waits */
	uint64_t kicks_sent;	/* kicks this vCPU sent */
	uint64_t kicks_taken;	/* kick interrupts this vCPU received */
	uint64_t halt_fixups;	/* kicks that arrived between STI and HLT */
} __attribute__((aligned(64)));

extern struct percpu cpus[MAX_CPUS];
extern unsigned ncpus;		/* vCPUs online */

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ __volatile__("movq %%gs:0, %0" : "=r"(p));
	return p;
}

/* ---- interrupts ------------------------------------------------------------ */
/* What boot.S pushes: scratch registers, vector, error code, CPU frame. */
struct frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

void idt_init(void);
void idt_load(void);
void isr_dispatch(struct frame *f);
/* Set by main.c: what the timer, lock IPI and NMI handlers do. */
extern void (*timer_work)(void);
extern void (*lock_ipi_work)(void);
extern void (*nmi_work)(void);

/* ---- local APIC -------------------------------------------------------------- */
extern bool apic_x2;		/* x2APIC (MSRs) rather than xAPIC (MMIO) */
void apic_init_cpu(void);	/* enable this vCPU's APIC */
uint32_t apic_id(void);
void apic_eoi(void);
void apic_send_ipi(uint32_t apic_id, uint32_t vector);
void apic_send_nmi(uint32_t apic_id);
void apic_broadcast_ipi(uint32_t vector);	/* to all other vCPUs */
void apic_broadcast_nmi(void);
void apic_timer_start(unsigned hz);
void smp_boot(unsigned want);	/* INIT-SIPI-SIPI; returns with ncpus set */

/* ---- time -------------------------------------------------------------------- */
extern uint64_t tsc_per_us;
void tsc_calibrate(void);
static inline uint64_t now_us(void)
{
	return rdtsc() / tsc_per_us;
}

/* ---- hypervisor (guest/pv.c) ------------------------------------------------ */
void pv_detect(void);		/* boot vCPU: what does the host offer? */
void pv_init_cpu(void);		/* every vCPU: register steal time */
const char *pv_describe(void);
void pv_kick_handler(struct frame *f);
bool pv_kvm_unhalt(void);
uint64_t pv_steal_ns(unsigned cpu);	/* KVM steal time; 0 without it */	/* kicks by KVM_HC_KICK_CPU, not by IPI */
extern const char sti_hlt_insn[];	/* boot.S: the HLT of sti_hlt() */
void sti_hlt(void);		/* boot.S: sti; hlt; ret */

/* ---- console and exit -------------------------------------------------------- */
void console_init(void);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
__attribute__((noreturn)) void guest_exit(int status);
__attribute__((noreturn)) void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- freestanding helpers the compiler may call ------------------------------- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);

#endif /* GUEST_KERNEL_H */
