/*
 * boot.S - the guest's assembly: what C cannot express.
 *
 *   1. the multiboot v1 header, so that QEMU's -kernel loads us;
 *   2. the 32-bit entry: page tables, long mode, jump to C (the boot vCPU);
 *   3. the AP trampoline: 16-bit code the other vCPUs start in after
 *      INIT-SIPI-SIPI; it goes straight from real mode to long mode;
 *   4. the interrupt stubs: save the scratch registers, call C, iretq.
 *
 * Memory map (everything identity-mapped, virtual == physical):
 *   0x8000      AP trampoline (copied there by smp_boot(); the SIPI vector
 *               names a 4 KiB page below 1 MiB)
 *   0x100000    this image: text, data, bss (page tables, stacks, slots)
 *   0xFEE00000  local APIC registers (xAPIC mode only)
 */
#include "guest/asm.h"

/* ---- 1. multiboot v1 header ------------------------------------------------ */
/* The loader scans the first 8 KiB of the image for this magic.  Flags 0: we
 * ask for nothing (QEMU passes the -append command line anyway, flags bit 2
 * of the info block).  The three words must sum to zero. */
	.section .multiboot, "a"
	.balign 4
	.long	MB_MAGIC
	.long	0
	.long	-MB_MAGIC

/*
 * Long mode, in the order the architecture requires: PAE on, CR3 = our
 * PML4, EFER.LME on, then paging (and protection) on, which activates long
 * mode; the caller's far jump then loads the 64-bit code segment.  Used by
 * the boot vCPU (from 32-bit code) and the APs (from 16-bit code): the same
 * instructions, assembled for the mode each runs in.
 */
	.macro	ENTER_LONG_MODE
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	.endm

/* ---- 2. boot vCPU: 32-bit protected mode -> long mode ------------------------ */
	.section .text.boot, "ax"
	.code32
	.globl	_start
_start:
	/* The loader left us in 32-bit protected mode, paging off, interrupts
	 * off, eax = multiboot magic, ebx = physical address of its info block.
	 * Keep the info pointer before we touch memory. */
	cli
	movl	%ebx, mb_info

	/* Zero .bss (the loader zero-fills ELF segments, but say so ourselves). */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	xorl	%eax, %eax
	cld
	rep stosb

	movl	$(boot_stack + STACK_SIZE), %esp

	/*
	 * Page tables: identity-map the first 4 GiB with 2 MiB pages.
	 * PML4[0] -> PDPT, PDPT[0..3] -> four page directories, each of 512
	 * 2 MiB pages.  4 GiB covers our image and the local APIC (0xFEE00000);
	 * the last GiB (devices) is mapped uncached (PCD|PWT).
	 */
	movl	$pdpt, %eax
	orl	$(PTE_P | PTE_W), %eax
	movl	%eax, pml4

	movl	$page_dirs, %eax
	orl	$(PTE_P | PTE_W), %eax
	xorl	%ecx, %ecx
1:	movl	%eax, pdpt(, %ecx, 8)
	addl	$4096, %eax
	incl	%ecx
	cmpl	$4, %ecx
	jne	1b

	xorl	%ecx, %ecx		/* ecx: 2 MiB page number, 0..2047 */
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$(PTE_P | PTE_W | PTE_PS), %eax
	cmpl	$1536, %ecx		/* page 1536 = 3 GiB: devices from here */
	jb	3f
	orl	$(PTE_PWT | PTE_PCD), %eax
3:	movl	%eax, page_dirs(, %ecx, 8)
	incl	%ecx
	cmpl	$2048, %ecx
	jne	2b

	/* Long mode (running this 32-bit code in compatibility mode until the
	 * far jump below). */
	ENTER_LONG_MODE

	/* Our GDT has the 64-bit code segment; a far jump loads it into CS. */
	lgdt	gdt_ptr
	ljmp	$KERNEL_CS, $bsp_long_mode

	.code64
bsp_long_mode:
	movw	$KERNEL_DS, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movq	$(boot_stack + STACK_SIZE), %rsp
	xorl	%edi, %edi		/* cpu index 0 */
	call	cpu_main
halt_forever:
	cli
	hlt
	jmp	halt_forever

/* ---- 3. AP trampoline ------------------------------------------------------ */
/*
 * A SIPI with vector 0x08 starts the AP in real mode at 0x0800:0000, i.e.
 * physical 0x8000, where smp_boot() copied these bytes.  Addresses inside
 * the trampoline are therefore TRAMP(label); addresses outside it (the GDT,
 * the page tables, the 64-bit entry) are absolute and below 4 GiB.
 *
 * Real mode -> long mode in one step: with PAE, CR3 and EFER.LME set,
 * setting CR0.PE and CR0.PG together enters long mode (compatibility mode),
 * and the far jump then loads the 64-bit code segment.
 */
#define TRAMP(x)	((x) - ap_trampoline + AP_TRAMPOLINE_ADDR)
	.code16
	.globl	ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds		/* ds = 0: TRAMP() addresses are absolute */
	lgdtl	TRAMP(ap_gdt_ptr)
	ENTER_LONG_MODE
	ljmpl	$KERNEL_CS, $ap_long_mode
	.balign 4
ap_gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	gdt
ap_trampoline_end:

	.code64
	.text
ap_long_mode:
	movw	$KERNEL_DS, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	/* Every AP was started by one broadcast SIPI: take the next cpu index
	 * atomically, and with it the stack cpu_stacks[index]. */
	movl	$1, %eax
	lock xaddl %eax, ap_next_index
	cmpl	$MAX_CPUS, %eax
	jae	halt_forever		/* more vCPUs than we have stacks for */
	movl	%eax, %edi
	movq	%rdi, %rsp
	incq	%rsp
	shlq	$STACK_SHIFT, %rsp
	addq	$cpu_stacks, %rsp
	call	cpu_main
	jmp	halt_forever

/* ---- the halt of a pv wait ---------------------------------------------------
 * sti; hlt as one unit, called with interrupts disabled.  STI enables
 * interrupts only after the instruction that follows it, so no interrupt
 * (a kick) can be taken between the two: one already pending wakes the HLT
 * at once.  sti_hlt_insn is named so that the kick handler can recognise a
 * kick taken exactly there anyway (after an NMI in the shadow, whose IRET
 * reopens interrupts) and step over the HLT (guest/pv.c). */
	.globl	sti_hlt, sti_hlt_insn
sti_hlt:
	sti
sti_hlt_insn:
	hlt
	ret

/* ---- 4. interrupt stubs ------------------------------------------------------ */
/*
 * The CPU pushes ss, rsp, rflags, cs, rip (and an error code for some
 * exceptions).  Each stub makes the frame uniform (a zero error code where
 * the CPU pushed none, then the vector) and jumps to isr_common, which saves
 * the registers a C function may clobber and calls isr_dispatch(frame).
 * The callee-saved ones (rbx, rbp, r12-r15) the C code saves itself.
 * struct frame in guest/kernel.h mirrors this layout.
 */
	.macro	STUB vec, err
	.globl	isr_\vec
isr_\vec:
	.if	\err == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	isr_common
	.endm

	.irp	v, 0,1,2,3,4,5,6,7,9,16,18,19,20,28,31
	STUB	\v, 0
	.endr
	.irp	v, 8,10,11,12,13,14,17,21,29,30
	STUB	\v, 1
	.endr
	.irp	v, 22,23,24,25,26,27
	STUB	\v, 0
	.endr
	STUB	15, 0

	/* The device vectors: named stubs (the vector numbers are macros). */
	.macro	DEVICE name, vec
isr_\name:
	pushq	$0
	pushq	$\vec
	jmp	isr_common
	.endm
	DEVICE	timer, VEC_TIMER
	DEVICE	lock_ipi, VEC_LOCK_IPI
	DEVICE	kick, VEC_KICK
	DEVICE	spurious, VEC_SPURIOUS

isr_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	movq	%rsp, %rdi
	cld				/* the C ABI assumes DF = 0 */
	call	isr_dispatch
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp		/* vector and error code */
	iretq

	/* (vector, stub) pairs for idt_init(). */
	.section .rodata
	.balign 8
	.globl	isr_table, isr_table_end
isr_table:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	\v, isr_\v
	.endr
	.quad	VEC_TIMER, isr_timer
	.quad	VEC_LOCK_IPI, isr_lock_ipi
	.quad	VEC_KICK, isr_kick
	.quad	VEC_SPURIOUS, isr_spurious
isr_table_end:

/* ---- data ------------------------------------------------------------------ */
	.data
	.balign 8
	.globl	mb_info, ap_next_index
mb_info:	.quad	0	/* physical address of the multiboot info block */
ap_next_index:	.long	1	/* cpu 0 is the boot vCPU */

/* GDT: null, 64-bit code (L=1), data.  No TSS: we never change privilege. */
	.balign 16
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: code, present, ring 0, long mode */
	.quad	0x00cf92000000ffff	/* 0x10: data, present, ring 0, writable */
gdt_end:
	.balign 4
	.word	0			/* so that the base below is 4-aligned */
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.bss
	.balign 4096
	.globl	pml4
pml4:		.skip	4096
pdpt:		.skip	4096
page_dirs:	.skip	4 * 4096
	.balign 16
boot_stack:	.skip	STACK_SIZE

	.section .note.GNU-stack, "", @progbits	/* no executable stack wanted */
