/*
 * main.c - the experiment: every vCPU takes and releases one lock for a
 * fixed time, for each of pvlock's locks, while its timer interrupt, a lock
 * IPI and an NMI take locks of their own.
 *
 * Command line (QEMU -append): cpus=N (vCPUs to expect), ms=N (per lock),
 * hz=N (timer), cs=N and think=N (pause loops inside and outside the
 * critical section), spin=N (pv spin threshold), check (print PASS/FAIL
 * lines, run the unlocked control, and let each phase go on past ms until
 * it has shown what is checked: see PHASE_CAP).
 *
 * Output, one line per lock (the host's guest/demo.sh parses it):
 *   RESULT lock=NAME vcpus=V ms=T total=N jain=0.xxxx counts=a,b,.. halts=..
 */
#include <pvlock.h>

#include "guest/kernel.h"
#include "guest/guest.h"

/* ---- command line ------------------------------------------------------------ */
struct options {
	unsigned cpus, ms, hz, cs, think, spin;
	bool check;
};
static struct options opt = { .cpus = 1, .ms = 1000, .hz = 1000, .cs = 20, .think = 20 };

extern uint64_t mb_info;	/* boot.S: the multiboot info block */

static bool starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

static unsigned parse_uint(const char *s)
{
	unsigned v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (unsigned)(*s++ - '0');
	return v;
}

static void parse_cmdline(void)
{
	const uint32_t *info = (const uint32_t *)mb_info;

	if (!info || !(info[0] & (1u << 2)))	/* flags bit 2: cmdline valid */
		return;
	const char *s = (const char *)(uintptr_t)info[4];
	kprintf("guest: command line \"%s\"\n", s);
	while (*s) {
		if (starts_with(s, "cpus="))
			opt.cpus = parse_uint(s + 5);
		else if (starts_with(s, "ms="))
			opt.ms = parse_uint(s + 3);
		else if (starts_with(s, "hz="))
			opt.hz = parse_uint(s + 3);
		else if (starts_with(s, "cs="))
			opt.cs = parse_uint(s + 3);
		else if (starts_with(s, "think="))
			opt.think = parse_uint(s + 6);
		else if (starts_with(s, "spin="))
			opt.spin = parse_uint(s + 5);
		else if (starts_with(s, "check"))
			opt.check = true;
		while (*s && *s != ' ')
			s++;
		while (*s == ' ')
			s++;
	}
	if (opt.cpus < 1 || opt.cpus > MAX_CPUS)
		opt.cpus = 1;
	if (opt.hz < 10)
		opt.hz = 10;
}

/* ---- the locks under test ------------------------------------------------------ */
enum kind { K_QUEUED, K_TICKET, K_TAS, K_NONE };

struct lock_case {
	const char *name;
	enum kind kind;
	bool pv;
};

static const struct lock_case cases[] = {
	{ "queued-native", K_QUEUED, false },
	{ "queued-pv",     K_QUEUED, true },
	{ "ticket-native", K_TICKET, false },
	{ "ticket-pv",     K_TICKET, true },
	{ "tas",           K_TAS,    false },
	{ "none",          K_NONE,   false },	/* control: no lock at all */
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The nesting levels, each with a lock of its own (Linux's four per-CPU
 * queue nodes: task, softirq, hardirq, NMI). */
enum level { L_TASK, L_TIMER, L_IPI, L_NMI, NLEVELS };
static const char *const level_names[NLEVELS] = { "task", "timer", "ipi", "nmi" };

/* A lock and the plain counter it guards: if two vCPUs were ever inside
 * at once, their read-pause-write increments would lose updates. */
struct guarded {
	union {
		pvlock_t queued;
		pvlock_ticket_t ticket;
		pvlock_tas_t tas;
	} lock;
	uint64_t counter;
} __attribute__((aligned(64)));

static struct guarded guarded[NLEVELS];

/* Acquisitions per vCPU and level: each written only by its own vCPU. */
static struct {
	uint64_t n[NLEVELS];
} __attribute__((aligned(64))) done[MAX_CPUS];

/* The running phase.  end_tsc is published last (release) and read first
 * (acquire): a handler that sees the new deadline sees the new kind. */
static enum kind phase_kind;
static const struct lock_case *phase_case;
static uint64_t phase_end_tsc;
/* Check mode: a phase goes on past its end until it has shown what
 * phase_report() checks (phase_shown()), for at most PHASE_CAP times its
 * length, a hang detector.  At load 8-30 on the 2-core test machines, with
 * TCG's vCPU threads waiting for host CPUs, ticket-native made 467
 * acquisitions in its second and two vCPUs 2 each, and queued-native 182:
 * a busier host could have left a level at 0, a FAIL of a correct lock.
 * over_end is the end_tsc of the last phase that is over (written once,
 * when it is): a vCPU still seeing that deadline sees it over. */
#define PHASE_CAP 20
static uint64_t phase_over_end;
static uint64_t phase_next_look;	/* the next phase_shown(), at most 1 per ms */
static uint64_t nested_node2;		/* node-2 slow paths of the queued phases so far */
static uint64_t phase_start_tsc;

static void lock_take(struct guarded *g)
{
	switch (phase_kind) {
	case K_QUEUED: pvlock_lock(&g->lock.queued); break;
	case K_TICKET: pvlock_ticket_lock(&g->lock.ticket); break;
	case K_TAS:    pvlock_tas_lock(&g->lock.tas); break;
	case K_NONE:   break;
	}
}

static void lock_give(struct guarded *g)
{
	switch (phase_kind) {
	case K_QUEUED: pvlock_unlock(&g->lock.queued); break;
	case K_TICKET: pvlock_ticket_unlock(&g->lock.ticket); break;
	case K_TAS:    pvlock_tas_unlock(&g->lock.tas); break;
	case K_NONE:   break;
	}
}

static void pause_loops(unsigned n)
{
	while (n--)
		__builtin_ia32_pause();
}

/* One acquisition at a level: the critical section is a read-pause-write
 * of the guarded counter (plain accesses: the lock is what orders them). */
static void one_acquisition(enum level level, unsigned cs)
{
	struct guarded *g = &guarded[level];

	lock_take(g);
	uint64_t v = *(volatile uint64_t *)&g->counter;
	pause_loops(cs);
	*(volatile uint64_t *)&g->counter = v + 1;
	lock_give(g);
	done[this_cpu()->index].n[level]++;
}

static uint64_t load_relaxed(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Has the current phase shown all that phase_report() will check?  (A sum
 * of other vCPUs' counters while they run: each only grows.) */
static bool phase_shown(void)
{
	const struct lock_case *c = phase_case;
	uint64_t per_level[NLEVELS] = { 0 }, halts = 0, kicks = 0;

	for (unsigned i = 0; i < ncpus; i++) {
		for (unsigned l = 0; l < NLEVELS; l++)
			per_level[l] += load_relaxed(&done[i].n[l]);
		halts += load_relaxed(&cpus[i].halts);
		kicks += load_relaxed(&cpus[i].kicks_sent);
	}
	if (c->kind == K_NONE) {
		/* A lost update: the acquisitions counted (read first) exceed
		 * the counter (read after), which only in-flight increments
		 * could make up for, and those only make the counter larger. */
		__asm__ __volatile__("" ::: "memory");
		return per_level[L_TASK] > load_relaxed(&guarded[L_TASK].counter);
	}
	for (unsigned l = 0; l < NLEVELS; l++)
		if (!per_level[l])
			return false;
	if (c->pv && !(halts > 0 && kicks > 0))
		return false;
	if (c->kind == K_QUEUED && c->pv) {
		struct pvlock_stats st;

		pvlock_stats_read(&st);
		return nested_node2 + st.lock_use_node2 > 0;
	}
	return true;
}

static bool phase_running(void)
{
	uint64_t end = __atomic_load_n(&phase_end_tsc, __ATOMIC_ACQUIRE), now = rdtsc();

	if (now < end)
		return true;
	if (!opt.check || __atomic_load_n(&phase_over_end, __ATOMIC_ACQUIRE) == end)
		return false;
	if (now < __atomic_load_n(&phase_next_look, __ATOMIC_RELAXED))
		return true;
	__atomic_store_n(&phase_next_look, now + 1000 * tsc_per_us, __ATOMIC_RELAXED);
	if (now < end + (uint64_t)opt.ms * 1000 * tsc_per_us * PHASE_CAP && !phase_shown())
		return true;
	__atomic_store_n(&phase_over_end, end, __ATOMIC_RELEASE);
	return false;
}

/* ---- interrupt handlers' work ---------------------------------------------------- */
/*
 * Timer: take the timer-level lock.  Every other tick, send the lock IPI to
 * all other vCPUs at once, and every 8th an NMI: their handlers then all
 * want their level's lock together, mostly while the code they interrupted
 * waits for its own, which is what the nesting levels are for.
 */
#define HANDLER_CS	50	/* pause loops inside a handler's critical section */

static void on_timer(void)
{
	struct percpu *cpu = this_cpu();

	if (!phase_running())
		return;
	one_acquisition(L_TIMER, HANDLER_CS);
	if (ncpus > 1 && cpu->ticks % 2 == 0)
		apic_broadcast_ipi(VEC_LOCK_IPI);
	if (ncpus > 1 && cpu->ticks % 8 == 0)
		apic_broadcast_nmi();
}

static void on_lock_ipi(void)
{
	if (phase_running())
		one_acquisition(L_IPI, HANDLER_CS);
}

static void on_nmi(void)
{
	if (phase_running())
		one_acquisition(L_NMI, HANDLER_CS);
}

/* ---- phases ---------------------------------------------------------------------------- */
static unsigned barrier_count, barrier_generation;
static bool all_done, smp_ready;

/* Every vCPU waits here until all have arrived (interrupts stay on). */
static void barrier(void)
{
	unsigned gen = __atomic_load_n(&barrier_generation, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&barrier_count, 1, __ATOMIC_ACQ_REL) == ncpus) {
		__atomic_store_n(&barrier_count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&barrier_generation, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&barrier_generation, __ATOMIC_ACQUIRE) == gen)
		__builtin_ia32_pause();
}

/* The task level: lock, critical section, unlock, think, until the deadline. */
static void run_phase(void)
{
	while (phase_running()) {
		one_acquisition(L_TASK, opt.cs);
		pause_loops(opt.think);
	}
}

/* Boot vCPU, every vCPU at the barrier and every handler idle (the old
 * deadline has passed on each vCPU's clock): reset, then publish. */
static void phase_setup(const struct lock_case *c)
{
	memset(guarded, 0, sizeof(guarded));
	memset(done, 0, sizeof(done));
	for (unsigned i = 0; i < ncpus; i++) {
		cpus[i].halts = cpus[i].kicks_sent = 0;
		cpus[i].kicks_taken = cpus[i].halt_fixups = 0;
	}
	pvlock_stats_reset();
	guest_set_mode(c->pv);
	phase_kind = c->kind;
	phase_case = c;
	__atomic_store_n(&phase_next_look, 0, __ATOMIC_RELAXED);
	phase_start_tsc = rdtsc();
	__atomic_store_n(&phase_end_tsc, rdtsc() + (uint64_t)opt.ms * 1000 * tsc_per_us,
			 __ATOMIC_RELEASE);
}

/* Jain's fairness index (sum x)^2 / (n sum x^2), in units of 1/10000,
 * in integers (no floating point in the kernel). */
static unsigned jain_x10000(const uint64_t *x, unsigned n)
{
	uint64_t sum = 0, max = 0;

	for (unsigned i = 0; i < n; i++) {
		sum += x[i];
		max = x[i] > max ? x[i] : max;
	}
	if (!sum)
		return 0;
	unsigned shift = 0;	/* scale so that sums of squares fit 64 bits */
	while ((max >> shift) > (1u << 20))
		shift++;
	uint64_t s = 0, q = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = x[i] >> shift;
		s += v;
		q += v * v;
	}
	return q ? (unsigned)(s * s * 10000 / (n * q)) : 0;
}

static unsigned failures;

/* In check mode: one PASS/FAIL line of tests/run.sh's protocol. */
static void check(bool ok, const char *lock, const char *what)
{
	if (!opt.check)
		return;
	kprintf("%s: guest: %s: %s\n", ok ? "PASS" : "FAIL", lock, what);
	failures += !ok;
}

static void phase_report(const struct lock_case *c)
{
	uint64_t task[MAX_CPUS], per_level[NLEVELS] = { 0 };
	uint64_t halts = 0, kicks = 0, taken = 0, fixups = 0;
	struct pvlock_stats st;

	for (unsigned i = 0; i < ncpus; i++) {
		task[i] = done[i].n[L_TASK];
		for (unsigned l = 0; l < NLEVELS; l++)
			per_level[l] += done[i].n[l];
		halts += cpus[i].halts;
		kicks += cpus[i].kicks_sent;
		taken += cpus[i].kicks_taken;
		fixups += cpus[i].halt_fixups;
	}
	pvlock_stats_read(&st);
	unsigned j = jain_x10000(task, ncpus);
	if (opt.check)	/* RESULT's ms= is the planned length; this the real one */
		kprintf("guest: %s ran %lu ms\n", c->name,
			(rdtsc() - phase_start_tsc) / tsc_per_us / 1000);

	kprintf("RESULT lock=%s vcpus=%u ms=%u total=%lu jain=0.%04u counts=", c->name, ncpus,
		opt.ms, per_level[L_TASK], j);
	for (unsigned i = 0; i < ncpus; i++)
		kprintf("%s%lu", i ? "," : "", task[i]);
	kprintf(" timer=%lu ipi=%lu nmi=%lu halts=%lu kicks=%lu kick_irqs=%lu fixups=%lu"
		" waits=%lu kicks_unlock=%lu steals=%lu node2=%lu node3=%lu node4=%lu"
		" spurious=%lu\n",
		per_level[L_TIMER], per_level[L_IPI], per_level[L_NMI], halts, kicks, taken,
		fixups, st.pv_wait_node + st.pv_wait_head + st.ticket_wait,
		st.pv_kick_unlock + st.ticket_kick, st.pv_lock_stealing, st.lock_use_node2,
		st.lock_use_node3, st.lock_use_node4, st.pv_spurious_wakeup);

	if (c->kind == K_NONE) {
		/* The control: without a lock the same counters must lose
		 * updates, or the mutual-exclusion checks could not fail. */
		uint64_t lost = per_level[L_TASK] - guarded[L_TASK].counter;
		kprintf("guest: control without a lock: %lu of %lu increments lost\n", lost,
			per_level[L_TASK]);
		check(lost > 0, c->name, "unlocked control loses updates (the exclusion check can fail)");
		return;
	}
	static const char *const exclusion[NLEVELS] = {
		"mutual exclusion, task level", "mutual exclusion, timer-handler level",
		"mutual exclusion, IPI-handler level", "mutual exclusion, NMI-handler level",
	};
	for (unsigned l = 0; l < NLEVELS; l++) {
		bool ok = guarded[l].counter == per_level[l] && per_level[l] > 0;

		if (!ok)
			kprintf("guest: %s %s level: %lu acquisitions, counter %lu\n", c->name,
				level_names[l], per_level[l], guarded[l].counter);
		check(ok, c->name, exclusion[l]);
	}
	if (c->pv) {
		if (!(halts > 0 && kicks > 0))
			kprintf("guest: %s: halts %lu kicks %lu\n", c->name, halts, kicks);
		check(halts > 0 && kicks > 0, c->name, "pv waiters halted and were kicked");
	}
	/* Nesting, over both queued phases together (each alone depends on
	 * how often handlers on different vCPUs overlap). */
	if (c->kind == K_QUEUED) {
		nested_node2 += st.lock_use_node2;
		uint64_t nested = nested_node2;
		if (c->pv) {
			if (!nested)
				kprintf("guest: queued: no slow path at nesting level 2\n");
			check(nested > 0, "queued (native and pv)",
			      "a handler queued while the code it interrupted was queued (node 2)");
		}
	}
}

/* ---- start-up ------------------------------------------------------------------------------ */
static void start_interrupts(void)
{
	timer_work = on_timer;
	lock_ipi_work = on_lock_ipi;
	nmi_work = on_nmi;
}

static void run_all_phases(bool boot_cpu)
{
	for (unsigned c = 0;; c++) {
		if (boot_cpu) {
			if (c == NCASES || (cases[c].kind == K_NONE && !opt.check))
				__atomic_store_n(&all_done, true, __ATOMIC_RELEASE);
			else
				phase_setup(&cases[c]);
		}
		barrier();
		if (__atomic_load_n(&all_done, __ATOMIC_ACQUIRE))
			return;
		run_phase();
		barrier();
		if (boot_cpu)
			phase_report(&cases[c]);
	}
}

void ap_main(void)
{
	pv_init_cpu();
	apic_timer_start(opt.hz);
	__atomic_store_n(&this_cpu()->online, true, __ATOMIC_RELEASE);
	__asm__ __volatile__("sti");
	/* Wait for the boot vCPU to count us in, then join the phases. */
	while (!__atomic_load_n(&smp_ready, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	run_all_phases(false);
	for (;;)
		__asm__ __volatile__("hlt");
}

void kernel_main(void)
{
	kprintf("\nguest: pvlock bare-metal guest, built from src/algo\n");
	parse_cmdline();
	tsc_calibrate();
	pv_detect();
	pv_init_cpu();
	guest_slots_init();
	if (opt.spin)
		guest_set_spin_threshold(opt.spin);
	kprintf("guest: TSC %lu MHz, %s, %s\n", tsc_per_us,
		apic_x2 ? "x2APIC" : "xAPIC (no x2APIC offered)", pv_describe());

	start_interrupts();
	apic_timer_start(opt.hz);
	__atomic_store_n(&cpus[0].online, true, __ATOMIC_RELEASE);
	smp_boot(opt.cpus);
	kprintf("guest: %u of %u vCPUs online; timer %u Hz; %u ms per lock; spin threshold %u\n",
		ncpus, opt.cpus, opt.hz, opt.ms, guest_spin_threshold());
	if (opt.check)
		kprintf("%s: guest: INIT-SIPI-SIPI brought up all %u vCPUs\n",
			ncpus == opt.cpus ? "PASS" : "FAIL", opt.cpus);
	failures += ncpus != opt.cpus;

	__atomic_store_n(&smp_ready, true, __ATOMIC_RELEASE);
	__asm__ __volatile__("sti");
	run_all_phases(true);
	kprintf("guest: done, %u failure(s)\n", failures);
	guest_exit(failures ? 1 : 0);
}
