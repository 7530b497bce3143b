/*
 * pvlock-kvm-check - is /dev/kvm a standard KVM that a Linux guest's
 * paravirtual spinlocks can use?  tools/vm/qemu-run.sh asks this before it
 * picks -accel kvm; anything else runs under TCG.
 *
 * "Standard" is checked, not assumed, in three steps; each must pass:
 *   1. KVM_GET_API_VERSION is 12 (KVM_API_VERSION, fixed since Linux 2.6.22).
 *   2. KVM_GET_SUPPORTED_CPUID offers the KVM signature leaf 0x40000000
 *      ("KVMKVMKVM\0\0\0") and, in leaf 0x40000001, KVM_FEATURE_PV_UNHALT:
 *      without it a Linux guest never enables its pv spinlocks.
 *   3. A one-page test VM in real mode executes the hypercall that a pv
 *      spinlock's unlock makes, KVM_HC_KICK_CPU (rax = 5, rbx = flags 0,
 *      rcx = APIC id 0), then HLT.  Standard KVM returns 0 in rax and exits
 *      to user space with KVM_EXIT_HLT (no in-kernel irqchip).  A KVM that
 *      rejects the hypercall returns -KVM_ENOSYS (-1000), or fails KVM_RUN,
 *      or exits some other way.  Steps 1-2 only read what the module says
 *      about itself; step 3 is what a guest would actually meet.
 *
 * Output: one line on stdout, "standard KVM: ..." or "not standard KVM: why"
 * or "no KVM: why".  Exit status: 0 standard, 1 present but not standard,
 * 2 absent or unusable (cannot open it).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KVM_HC_KICK_CPU_NR	5	/* Documentation/virt/kvm/x86/hypercalls.rst */
#define PV_UNHALT_BIT		7	/* KVM_FEATURE_PV_UNHALT in leaf 0x40000001 eax */
#define CODE_GPA		0x1000

static int not_standard(const char *why, int err)
{
	if (err)
		printf("not standard KVM: %s: %s\n", why, strerror(err));
	else
		printf("not standard KVM: %s\n", why);
	return 1;
}

/* Step 2: the signature and the pv-unhalt feature among the supported CPUID leaves. */
static int check_cpuid(int kvm)
{
	enum { MAX_ENTRIES = 256 };
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return not_standard("out of memory", ENOMEM);
	c->nent = MAX_ENTRIES;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int e = errno;
		free(c);
		return not_standard("KVM_GET_SUPPORTED_CPUID failed", e);
	}
	int signature = 0, unhalt = 0;
	for (unsigned i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 0x40000000) {
			char sig[13];
			memcpy(sig, &e->ebx, 4);
			memcpy(sig + 4, &e->ecx, 4);
			memcpy(sig + 8, &e->edx, 4);
			sig[12] = 0;
			signature = !strcmp(sig, "KVMKVMKVM");
		}
		if (e->function == 0x40000001)
			unhalt = (e->eax >> PV_UNHALT_BIT) & 1;
	}
	free(c);
	if (!signature)
		return not_standard("CPUID leaf 0x40000000 lacks the KVMKVMKVM signature", 0);
	if (!unhalt)
		return not_standard("CPUID leaf 0x40000001 lacks KVM_FEATURE_PV_UNHALT", 0);
	return 0;
}

/* Step 3: run KVM_HC_KICK_CPU in a one-page real-mode VM. */
static int check_hypercall(int kvm)
{
	unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
	__get_cpuid(0, &eax, &ebx, &ecx, &edx);
	int amd = ebx == 0x68747541;	/* "Auth"enticAMD */
	/* vmcall (Intel) or vmmcall (AMD), then hlt */
	const uint8_t code[] = { 0x0f, 0x01, amd ? 0xd9 : 0xc1, 0xf4 };

	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return not_standard("KVM_CREATE_VM failed", errno);
	int rc = 1;
	void *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		rc = not_standard("mmap of the test VM's page failed", errno);
		goto out_vm;
	}
	memcpy(mem, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = CODE_GPA, .memory_size = 0x1000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		rc = not_standard("KVM_SET_USER_MEMORY_REGION failed", errno);
		goto out_mem;
	}
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || size <= 0) {
		rc = not_standard("KVM_CREATE_VCPU or KVM_GET_VCPU_MMAP_SIZE failed", errno);
		goto out_mem;
	}
	struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED) {
		rc = not_standard("mmap of kvm_run failed", errno);
		goto out_vcpu;
	}
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2, .rax = KVM_HC_KICK_CPU_NR };
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		rc = not_standard("KVM_GET_SREGS failed", errno);
		goto out_run;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		rc = not_standard("KVM_SET_SREGS/KVM_SET_REGS failed", errno);
		goto out_run;
	}
	alarm(5);	/* a fork that never returns from KVM_RUN must not hang the caller */
	if (ioctl(vcpu, KVM_RUN, 0) < 0) {
		rc = not_standard("KVM_RUN of a KVM_HC_KICK_CPU hypercall failed", errno);
		goto out_run;
	}
	alarm(0);
	if (run->exit_reason != KVM_EXIT_HLT) {
		char why[96];
		snprintf(why, sizeof(why), "the KVM_HC_KICK_CPU test VM exited with reason %u, not HLT",
			 run->exit_reason);
		rc = not_standard(why, 0);
		goto out_run;
	}
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) {
		rc = not_standard("KVM_GET_REGS failed", errno);
		goto out_run;
	}
	if ((uint32_t)regs.rax != 0) {
		char why[96];
		snprintf(why, sizeof(why), "KVM_HC_KICK_CPU returned %d (standard KVM returns 0)",
			 (int32_t)regs.rax);
		rc = not_standard(why, 0);
		goto out_run;
	}
	rc = 0;
out_run:
	munmap(run, (size_t)size);
out_vcpu:
	close(vcpu);
out_mem:
	munmap(mem, 0x1000);
out_vm:
	close(vm);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/kvm";
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: pvlock-kvm-check [DEVICE]   (default /dev/kvm)\n");
		return 2;
	}
	int kvm = open(path, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("no KVM: cannot open %s: %s\n", path, strerror(errno));
		return 2;
	}
	int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		char why[96];
		snprintf(why, sizeof(why), "%s: KVM_GET_API_VERSION is %d, standard KVM says %d",
			 path, version, KVM_API_VERSION);
		return not_standard(why, 0);
	}
	if (check_cpuid(kvm) || check_hypercall(kvm))
		return 1;
	printf("standard KVM: %s, API 12, KVM_FEATURE_PV_UNHALT offered, KVM_HC_KICK_CPU returns 0\n",
	       path);
	return 0;
}
