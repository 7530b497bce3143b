/*
 * pv.c - the guest backend: how a vCPU halts and how another wakes it.
 *
 * The contract is src/backend/backend.h's, the same one the futex backend
 * keeps for threads:
 *   wait(self, ptr, val)    halt while *ptr == val; may return at any time
 *   kick(target)            wake that slot's vCPU; never lost once its
 *                           wait has begun; harmless if it is running
 *   vcpu_is_preempted(s)    true only if that vCPU is known not to run
 * Slots are vCPUs: slot i is cpus[i].
 *
 * Two hosts, one image.  CPUID tells us which we run on:
 *   standard KVM   signature "KVMKVMKVM" at leaf 0x40000000, features at
 *                  0x40000001: PV_UNHALT (a hypercall that wakes a halted
 *                  vCPU even with interrupts off) and STEAL_TIME (a per-vCPU
 *                  page with a "preempted" byte the host writes).  Kick =
 *                  KVM_HC_KICK_CPU, preempted = the steal-time byte, as
 *                  Linux's arch/x86/kernel/kvm.c does.
 *   anything else  (QEMU's TCG here): kick = a fixed-vector IPI to the
 *                  target's local APIC; preempted = "don't know".
 */
#include "guest/kernel.h"
#include "backend/backend.h"
#include "guest/guest.h"

#define CPUID_HYPERVISOR_BIT	(1u << 31)	/* leaf 1 ECX: running under a hypervisor */
#define KVM_CPUID_SIGNATURE	0x40000000
#define KVM_CPUID_FEATURES	0x40000001
#define KVM_FEATURE_STEAL_TIME	5
#define KVM_FEATURE_PV_UNHALT	7
#define MSR_KVM_STEAL_TIME	0x4b564d03
#define KVM_MSR_ENABLED		1
#define KVM_VCPU_PREEMPTED	1
#define KVM_HC_KICK_CPU		5

/* The host's per-vCPU steal-time record (64-byte aligned, host-written). */
struct kvm_steal_time {
	uint64_t steal;		/* ns this vCPU was runnable but not running */
	uint32_t version;
	uint32_t flags;
	uint8_t preempted;	/* bit 0: the host has preempted this vCPU */
	uint8_t pad8[3];
	uint32_t pad[11];
} __attribute__((aligned(64)));

static struct kvm_steal_time steal_time[MAX_CPUS];
static bool kvm, kvm_unhalt, kvm_steal, amd;

void pv_detect(void)
{
	uint32_t a, b, c, d;
	char sig[13] = { 0 };

	cpuid(0, &a, &b, &c, &d);
	amd = b == 0x68747541;			/* "Auth"enticAMD: vmmcall */
	cpuid(1, &a, &b, &c, &d);
	if (!(c & CPUID_HYPERVISOR_BIT))
		return;
	cpuid(KVM_CPUID_SIGNATURE, &a, &b, &c, &d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	kvm = a >= KVM_CPUID_FEATURES;
	for (int i = 0; i < 12; i++)		/* "KVMKVMKVM\0\0\0" */
		kvm &= sig[i] == "KVMKVMKVM\0\0\0"[i];
	if (!kvm)
		return;
	cpuid(KVM_CPUID_FEATURES, &a, &b, &c, &d);
	kvm_unhalt = a & (1u << KVM_FEATURE_PV_UNHALT);
	kvm_steal = a & (1u << KVM_FEATURE_STEAL_TIME);
	guest_backend_knows(kvm_steal);				/* KVM */
}

bool pv_kvm_unhalt(void)
{
	return kvm_unhalt;
}

const char *pv_describe(void)
{
	if (kvm_unhalt && kvm_steal)
		return "KVM: kick = KVM_HC_KICK_CPU, preempted = steal-time byte";
	if (kvm_unhalt)
		return "KVM without steal time: kick = KVM_HC_KICK_CPU, preempted = don't know";
	if (kvm)
		return "KVM without PV_UNHALT: kick = IPI, preempted = don't know";
	return "no KVM (TCG): kick = IPI, preempted = don't know";
}

/* Every vCPU: tell the host where our steal-time record is. */
void pv_init_cpu(void)
{
	if (kvm_steal)
		wrmsr(MSR_KVM_STEAL_TIME,
		      (uint64_t)&steal_time[this_cpu()->index] | KVM_MSR_ENABLED);
}

/* rax = hypercall number, rbx and rcx = its arguments; VMCALL on Intel,
 * VMMCALL on AMD. */
static void kvm_hypercall2(uint64_t nr, uint64_t a0, uint64_t a1)
{
	if (amd)
		__asm__ __volatile__("vmmcall" : "+a"(nr) : "b"(a0), "c"(a1) : "memory");
	else
		__asm__ __volatile__("vmcall" : "+a"(nr) : "b"(a0), "c"(a1) : "memory");
}

/*
 * wait: halt while *ptr == val.  Linux's pv_wait (kvm_wait) does the same.
 *
 *   cli                     nothing can interrupt us from here on ...
 *   if (*ptr != val) out    ... so a kick sent after this check stays
 *                           pending in our local APIC ...
 *   sti; hlt                ... and STI opens interrupts only after the
 *                           next instruction: the pending kick wakes the
 *                           HLT; it cannot slip in before it and be lost.
 *
 * A kick sent before the check was preceded by its sender's change to *ptr
 * (the algorithms' rule), which the check sees.
 *
 * KVM with PV_UNHALT and interrupts off on entry (a handler waiting):
 * plain HLT, as Linux does; KVM_HC_KICK_CPU wakes it regardless of IF.
 * Without PV_UNHALT (TCG) only an interrupt can end a HLT, so a waiting
 * handler opens interrupts for the halt too.  The APIC then admits only
 * vector classes above the ones in service: the kick (0xF0) and, below it,
 * the next nesting level; never the level itself or one below.
 *
 * In an NMI handler we never halt (an interrupt taken inside it would end
 * its NMI blocking): the wait returns at once, which the contract allows,
 * and the NMI-level waiter spins.
 */
static void guest_wait(struct pvlock_slot *self, const uint8_t *ptr, uint8_t val)
{
	struct percpu *cpu = this_cpu();
	(void)self;

	if (cpu->in_nmi)
		return;
	uint64_t flags = irq_save();
	if (__atomic_load_n(ptr, __ATOMIC_ACQUIRE) == val) {
		cpu->halts++;
		if (kvm_unhalt && !(flags & RFLAGS_IF))
			__asm__ __volatile__("hlt" : : : "memory");	/* KVM */
		else
			sti_hlt();					/* TCG */
	}
	/* Back to the caller's interrupt state (sti_hlt left them on). */
	if (flags & RFLAGS_IF)
		__asm__ __volatile__("sti" : : : "memory");
	else
		__asm__ __volatile__("cli" : : : "memory");
}

/* The kick interrupt's handler.  It need do nothing: taking it ended the
 * HLT.  Except: if it was taken between STI and HLT (only possible when an
 * NMI in the STI shadow reopened interrupts), step over the HLT, which would
 * otherwise sleep after its wake-up had been spent. */
void pv_kick_handler(struct frame *f)
{
	struct percpu *cpu = this_cpu();

	cpu->kicks_taken++;
	if (f->rip == (uint64_t)sti_hlt_insn) {
		f->rip++;		/* HLT is one byte */
		cpu->halt_fixups++;
	}
}

/* kick: Linux's pv_kick (kvm_kick_cpu) is the hypercall; under TCG an IPI. */
static void guest_kick(struct pvlock_slot *target)
{
	struct percpu *to = &cpus[target->index];

	this_cpu()->kicks_sent++;
	if (kvm_unhalt)
		kvm_hypercall2(KVM_HC_KICK_CPU, 0, to->apic_id);	/* KVM */
	else
		apic_send_ipi(to->apic_id, VEC_KICK);			/* TCG */
}

/* Linux's kvm_vcpu_is_preempted: the steal-time byte; TCG: don't know. */
static bool guest_vcpu_is_preempted(const struct pvlock_slot *slot)
{
	if (!kvm_steal)
		return false;					/* TCG */
	return __atomic_load_n(&steal_time[slot->index].preempted, __ATOMIC_RELAXED) &
	       KVM_VCPU_PREEMPTED;				/* KVM */
}

const struct pvlock_backend pvlock__guest_backend = {
	.name = "guest",
	.wait = guest_wait,
	.kick = guest_kick,
	.vcpu_is_preempted = guest_vcpu_is_preempted,
};

/* Steal time of a vCPU in ns (0 without KVM steal time). */
uint64_t pv_steal_ns(unsigned cpu)
{
	return kvm_steal ? __atomic_load_n(&steal_time[cpu].steal, __ATOMIC_RELAXED) : 0;
}
