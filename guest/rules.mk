# guest/rules.mk - the bare-metal guest kernel, included by the
# Makefile.  The same src/algo/*.c as the library, compiled again for a
# kernel: no red zone (interrupts push onto the stack we run on), no SSE/x87
# registers (handlers do not save them), no PIC (one image at a fixed
# address), code model small (everything below 2 GiB, identity-mapped).
#
#   build/guest/pvlock-guest      the image: multiboot v1, ELF32 (QEMU -kernel)
#   make guest-demo               V/P = 1, 2, 4 under QEMU -> docs/guest*.{md,png}
#
# x86-64 hosts only (the guest is x86-64 code); elsewhere it is left out.

GUEST_DIR    := build/guest
GUEST_CC     ?= gcc
GUEST_CFLAGS := $(CSTD) -O2 -g $(WARN) -Iinclude -Isrc -I. \
	-ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns \
	-mno-red-zone -mgeneral-regs-only -mcmodel=small -fno-pic -fno-pie \
	-fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables

GUEST_HDRS   := $(HDRS) $(wildcard guest/*.h)
GUEST_OBJS   := $(patsubst src/%.c,$(GUEST_DIR)/obj/%.o,$(ALGO_SRC) src/runtime/stats.c) \
	$(patsubst guest/%.c,$(GUEST_DIR)/obj/guest/%.o,$(wildcard guest/*.c)) \
	$(GUEST_DIR)/obj/guest/boot.o

$(GUEST_DIR)/obj/%.o: src/%.c $(GUEST_HDRS) guest/rules.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@
$(GUEST_DIR)/obj/guest/%.o: guest/%.c $(GUEST_HDRS) guest/rules.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@
$(GUEST_DIR)/obj/guest/boot.o: guest/boot.S guest/asm.h
	@mkdir -p $(@D)
	$(GUEST_CC) -I. -c $< -o $@

# Link as x86-64, then relabel as ELF32: QEMU's multiboot loader takes only
# 32-bit ELF files, and our entry point is 32-bit code anyway.
$(GUEST_DIR)/pvlock-guest.elf64: $(GUEST_OBJS) guest/kernel.ld
	ld -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 --no-warn-rwx-segments -T guest/kernel.ld \
		-o $@ $(GUEST_OBJS)
$(GUEST_DIR)/pvlock-guest: $(GUEST_DIR)/pvlock-guest.elf64
	objcopy -O elf32-i386 $< $@

ifeq ($(shell uname -m),x86_64)
GUEST_IMAGE := $(GUEST_DIR)/pvlock-guest
all: $(GUEST_IMAGE)
CHECK_DEPS += $(GUEST_IMAGE)
else
$(info guest/: not built (the bare-metal guest is x86-64 code; this host is $(shell uname -m)))
endif

guest-demo: $(GUEST_DIR)/pvlock-guest
	bash guest/demo.sh

.PHONY: guest-demo
