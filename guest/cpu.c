/*
 * cpu.c - one vCPU's hardware: IDT, local APIC, clock, and the bring-up of
 * the other vCPUs.
 */
#include "guest/kernel.h"

struct percpu cpus[MAX_CPUS];
unsigned ncpus = 1;
uint64_t tsc_per_us = 1;
bool apic_x2;

/* APs' stacks: cpu_stacks[i] for cpu i >= 1 (boot.S picks them). */
__attribute__((aligned(16))) uint8_t cpu_stacks[MAX_CPUS][STACK_SIZE];

void (*timer_work)(void);
void (*lock_ipi_work)(void);
void (*nmi_work)(void);

/* ---- IDT --------------------------------------------------------------------- */
/* A 64-bit interrupt gate: the handler's address split in three, our code
 * segment, and type 0xE ("interrupt gate": the CPU clears IF on entry, so a
 * handler runs with interrupts off until it chooses otherwise). */
struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t ist, type;
	uint16_t offset_mid;
	uint32_t offset_hi, reserved;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
extern const uint64_t isr_table[], isr_table_end[];

void idt_init(void)
{
	for (const uint64_t *e = isr_table; e < isr_table_end; e += 2) {
		uint64_t handler = e[1];
		struct idt_gate *g = &idt[e[0]];

		g->offset_lo = (uint16_t)handler;
		g->selector = KERNEL_CS;
		g->ist = 0;		/* same stack: we never change privilege */
		g->type = 0x8E;		/* present, ring 0, interrupt gate */
		g->offset_mid = (uint16_t)(handler >> 16);
		g->offset_hi = (uint32_t)(handler >> 32);
	}
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) ptr = { sizeof(idt) - 1, (uint64_t)idt };

	__asm__ __volatile__("lidt %0" : : "m"(ptr));
}

static const char *const exception_names[32] = {
	[0] = "divide error", [2] = "NMI", [3] = "breakpoint", [6] = "invalid opcode",
	[8] = "double fault", [13] = "general protection", [14] = "page fault",
};

void isr_dispatch(struct frame *f)
{
	struct percpu *cpu = this_cpu();

	switch (f->vector) {
	case 2:		/* NMI: the fourth nesting level */
		cpu->in_nmi++;
		if (nmi_work)
			nmi_work();
		cpu->in_nmi--;
		return;
	case VEC_TIMER:
		cpu->ticks++;
		if (timer_work)
			timer_work();
		/* EOI last: until then the APIC holds back our class and
		 * below, so the timer never nests inside itself. */
		apic_eoi();
		return;
	case VEC_LOCK_IPI:
		if (lock_ipi_work)
			lock_ipi_work();
		apic_eoi();
		return;
	case VEC_KICK:
		pv_kick_handler(f);
		apic_eoi();
		return;
	case VEC_SPURIOUS:
		return;		/* no EOI for the spurious vector */
	}
	if (f->vector < 32) {
		uint64_t cr2;
		__asm__ __volatile__("mov %%cr2, %0" : "=r"(cr2));
		panic("exception %u (%s) error %x at rip %lx, cr2 %lx", (unsigned)f->vector,
		      exception_names[f->vector] ? exception_names[f->vector] : "?",
		      (unsigned)f->error, f->rip, cr2);
	}
	panic("unexpected vector %u", (unsigned)f->vector);
}

/* ---- local APIC ---------------------------------------------------------------- */
#define MSR_APIC_BASE		0x1B
#define APIC_BASE_ENABLE	(1u << 11)	/* the APIC is on */
#define APIC_BASE_X2		(1u << 10)	/* ... in x2APIC mode */
#define XAPIC_MMIO		0xFEE00000ul	/* where xAPIC registers are */
#define MSR_X2APIC_FIRST	0x800		/* x2APIC: MSR = 0x800 + offset / 16 */

#define APIC_ID		0x020
#define APIC_TPR	0x080	/* task priority: 0 = accept every class */
#define APIC_EOI	0x0B0
#define APIC_SVR	0x0F0	/* spurious vector register; bit 8 = enable */
#define APIC_ICR	0x300	/* interrupt command (low half in xAPIC) */
#define APIC_ICR_HI	0x310	/* xAPIC: destination in bits 24-31 */
#define APIC_LVT_TIMER	0x320
#define APIC_LVT_LINT0	0x350
#define APIC_LVT_LINT1	0x360
#define APIC_TIMER_INIT	0x380
#define APIC_TIMER_CUR	0x390
#define APIC_TIMER_DIV	0x3E0

#define ICR_FIXED	0x00000
#define ICR_NMI		0x00400
#define ICR_INIT	0x00500
#define ICR_STARTUP	0x00600
#define ICR_PENDING	0x01000	/* xAPIC: delivery still in progress */
#define ICR_ASSERT	0x04000
#define ICR_ALL_BUT_SELF 0xC0000
#define LVT_MASKED	0x10000
#define LVT_PERIODIC	0x20000

static uint32_t apic_read(uint32_t reg)
{
	if (apic_x2)
		return (uint32_t)rdmsr(MSR_X2APIC_FIRST + (reg >> 4));
	return *(volatile uint32_t *)(XAPIC_MMIO + reg);
}

static void apic_write(uint32_t reg, uint32_t v)
{
	if (apic_x2)
		wrmsr(MSR_X2APIC_FIRST + (reg >> 4), v);
	else
		*(volatile uint32_t *)(XAPIC_MMIO + reg) = v;
}

/* Send an IPI.  x2APIC: one MSR write, destination in the high half.
 * xAPIC: destination first (the low write sends), then wait until the APIC
 * has taken it.  Interrupts off: a handler on this vCPU that sends its own
 * IPI between our two writes would change the destination under us. */
static void apic_icr(uint32_t dest, uint32_t low)
{
	uint64_t flags = irq_save();

	if (apic_x2) {
		/* x2APIC ICR writes are not serialising: order the stores that
		 * the IPI announces (a kick's *ptr change) before it. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		wrmsr(MSR_X2APIC_FIRST + (APIC_ICR >> 4), ((uint64_t)dest << 32) | low);
	} else {
		apic_write(APIC_ICR_HI, dest << 24);
		apic_write(APIC_ICR, low);
		while (apic_read(APIC_ICR) & ICR_PENDING)
			__builtin_ia32_pause();
	}
	irq_restore(flags);
}

void apic_send_ipi(uint32_t dest, uint32_t vector)
{
	apic_icr(dest, ICR_FIXED | ICR_ASSERT | vector);
}

void apic_send_nmi(uint32_t dest)
{
	apic_icr(dest, ICR_NMI | ICR_ASSERT);
}

/* The same to every other vCPU at once ("all excluding self" shorthand). */
void apic_broadcast_ipi(uint32_t vector)
{
	apic_icr(0, ICR_ALL_BUT_SELF | ICR_FIXED | ICR_ASSERT | vector);
}

void apic_broadcast_nmi(void)
{
	apic_icr(0, ICR_ALL_BUT_SELF | ICR_NMI | ICR_ASSERT);
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

uint32_t apic_id(void)
{
	/* x2APIC: the full 32-bit id; xAPIC: bits 24-31 of the ID register. */
	return apic_x2 ? apic_read(APIC_ID) : apic_read(APIC_ID) >> 24;
}

void apic_init_cpu(void)
{
	uint32_t a, b, c, d;

	/* CPUID.1:ECX bit 21 says x2APIC exists (QEMU's TCG before 8.1 has
	 * none: then we use the memory-mapped xAPIC registers). */
	cpuid(1, &a, &b, &c, &d);
	apic_x2 = c & (1u << 21);
	uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;
	if (apic_x2)
		base |= APIC_BASE_X2;
	wrmsr(MSR_APIC_BASE, base);

	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_LINT0, LVT_MASKED);	/* no legacy PIC interrupts */
	apic_write(APIC_LVT_LINT1, LVT_MASKED);
	apic_write(APIC_LVT_TIMER, LVT_MASKED);
	apic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);	/* software-enable */
}

/* ---- clock ------------------------------------------------------------------------ */
/*
 * The PIT counts at 1.193182 MHz whatever the host: time 10 ms with its
 * channel 2 (the one whose gate software controls, via port 0x61) and count
 * TSC ticks meanwhile.  Both QEMU's TCG and KVM run the TSC at a constant
 * rate, so this one measurement serves every vCPU.
 *
 * Our vCPU is a host thread and may be preempted while it polls, which can
 * only make a measurement too long (we notice the end late); so measure five
 * times and keep the shortest.
 */
#define PIT_HZ		1193182u
#define PIT_CH2		0x42
#define PIT_CMD		0x43
#define PIT_GATE	0x61	/* bit 0: channel 2 gate; bit 5: its output */

static uint64_t pit_measure_tsc(unsigned ms)
{
	uint16_t count = (uint16_t)(PIT_HZ * ms / 1000);

	outb(PIT_GATE, (inb(PIT_GATE) & ~0x03) | 0x01);	/* gate on, speaker off */
	outb(PIT_CMD, 0xB0);		/* channel 2, low then high byte, mode 0 */
	outb(PIT_CH2, (uint8_t)count);
	/* Mode 0 starts counting when the high byte is written; its output
	 * goes high when the count reaches zero. */
	uint64_t start = rdtsc();
	outb(PIT_CH2, (uint8_t)(count >> 8));
	while (!(inb(PIT_GATE) & 0x20))
		;
	return rdtsc() - start;
}

void tsc_calibrate(void)
{
	const unsigned ms = 10;
	uint64_t best = ~0ull;

	for (int i = 0; i < 5; i++) {
		uint64_t ticks = pit_measure_tsc(ms);
		best = ticks < best ? ticks : best;
	}
	tsc_per_us = best / (ms * 1000u);
	if (!tsc_per_us)
		tsc_per_us = 1;
}

/* Periodic APIC timer at hz: count its ticks against the TSC for 10 ms to
 * learn its rate (it runs at the APIC bus clock, which we are not told). */
void apic_timer_start(unsigned hz)
{
	static uint32_t per_second;	/* measured once, by the boot vCPU */

	apic_write(APIC_TIMER_DIV, 0x3);	/* divide by 16 */
	if (!per_second) {
		apic_write(APIC_LVT_TIMER, LVT_MASKED);
		apic_write(APIC_TIMER_INIT, 0xFFFFFFFFu);
		uint64_t end = rdtsc() + 10000 * tsc_per_us;
		while (rdtsc() < end)
			;
		per_second = (0xFFFFFFFFu - apic_read(APIC_TIMER_CUR)) * 100u;
		apic_write(APIC_TIMER_INIT, 0);
	}
	apic_write(APIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	apic_write(APIC_TIMER_INIT, per_second / hz);
}

/* ---- bring-up --------------------------------------------------------------------- */
extern const char ap_trampoline[], ap_trampoline_end[];

static void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_per_us;

	while (rdtsc() < end)
		__builtin_ia32_pause();
}

/*
 * Start every other vCPU with the sequence the MP specification gives:
 * INIT (reset into wait-for-SIPI), 10 ms, then STARTUP twice with vector
 * 0x08 (start in real mode at 0x8000), 200 us apart (the second is for CPUs
 * that missed the first).  Broadcast to "all but self", so we need no table
 * of APIC ids: each AP takes a cpu index in the trampoline.  Then wait for
 * `want` vCPUs to say they are online, up to 30 s: a hang detector (under
 * TCG on a loaded host a vCPU thread may wait long for a host CPU; the
 * caller reports a vCPU that did not come).
 */
void smp_boot(unsigned want)
{
	memcpy((void *)AP_TRAMPOLINE_ADDR, ap_trampoline,
	       (size_t)(ap_trampoline_end - ap_trampoline));

	apic_icr(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT);
	delay_us(10000);
	for (int i = 0; i < 2; i++) {
		apic_icr(0, ICR_ALL_BUT_SELF | ICR_STARTUP | ICR_ASSERT |
			 (AP_TRAMPOLINE_ADDR >> 12));
		delay_us(200);
	}

	uint64_t deadline = now_us() + 30000000;
	for (;;) {
		unsigned online = 0;
		for (unsigned i = 0; i < MAX_CPUS; i++)
			online += cpus[i].online;
		ncpus = online;
		if (online >= want || now_us() > deadline)
			break;
		__builtin_ia32_pause();
	}
}

/* ---- every vCPU starts here (boot.S) ----------------------------------------------- */
void kernel_main(void);
void ap_main(void);

/* Per-CPU data through GS: IA32_GS_BASE points at our struct percpu. */
#define MSR_GS_BASE	0xC0000101

void cpu_main(unsigned index)
{
	struct percpu *cpu = &cpus[index];

	cpu->self = cpu;
	cpu->index = index;
	wrmsr(MSR_GS_BASE, (uint64_t)cpu);

	if (index == 0) {
		console_init();
		idt_init();
	}
	idt_load();
	apic_init_cpu();
	cpu->apic_id = apic_id();
	if (index == 0) {
		kernel_main();		/* does not return */
	} else {
		ap_main();
	}
	for (;;)
		__asm__ __volatile__("cli; hlt");
}
