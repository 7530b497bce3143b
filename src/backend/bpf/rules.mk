# src/backend/bpf/rules.mk - the bpf backend's loader, libpvlock-bpf.so.
#
# Built only where clang, bpftool and libbpf are found; otherwise one line
# says it was left out and everything else builds.  libpvlock
# itself never links libbpf: it dlopens this library when PVLOCK_BACKEND=bpf.
BPF_CLANG   ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null))
BPFTOOL     ?= $(firstword $(shell command -v bpftool /usr/sbin/bpftool /sbin/bpftool 2>/dev/null))
BPF_HAVE_LIBBPF := $(wildcard /usr/include/bpf/libbpf.h)
BPF_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BPF_LIB     := build/lib/libpvlock-bpf.so
BPF_MISSING := $(if $(BPF_CLANG),,clang )$(if $(BPFTOOL),,bpftool )$(if $(BPF_HAVE_LIBBPF),,libbpf-dev )

ifeq ($(strip $(BPF_MISSING)),)
BPF_BUILT := 1
build/bpf/pvlock.bpf.o: src/backend/bpf/pvlock.bpf.c src/backend/bpf/bpf_abi.h
	@mkdir -p $(@D)
	$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		$(if $(BPF_MULTIARCH),-I/usr/include/$(BPF_MULTIARCH)) -Isrc -c $< -o $@
build/bpf/pvlock.skel.h: build/bpf/pvlock.bpf.o
	$(BPFTOOL) gen skeleton $< name pvlock_bpf > $@.tmp && mv $@.tmp $@
$(BPF_LIB): src/backend/bpf/loader.c build/bpf/pvlock.skel.h src/backend/bpf/bpf_abi.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(OPT) -g $(WARN) -fPIC -shared -fvisibility=hidden -Isrc -Ibuild/bpf \
		-o $@ $< -lbpf
all: $(BPF_LIB)
INSTALLED_FILES += lib/libpvlock-bpf.so
install: install-bpf
install-bpf: $(BPF_LIB)
	install -d $(INSTALL_DIR)/lib
	install -m 755 $(BPF_LIB) $(INSTALL_DIR)/lib/
else
BPF_BUILT :=
$(info pvlock: the bpf backend was left out (missing: $(strip $(BPF_MISSING))); everything else builds)
install-bpf:
endif
.PHONY: install-bpf

# libpvlock looks for the loader next to itself first, and in $(PREFIX)/lib of
# the build too (a program linked statically against libpvlock.a).  That and
# whether the loader was built go into a generated header, rewritten (at
# parse time) only when its text changes: `make install PREFIX=DIR` after a
# plain `make` recompiles bpf.o with DIR.  The include path is added through
# BASEFLAGS, so a CFLAGS=... on the command line does not drop it.
BPF_GEN_DIR  := build/gen
BPF_BUILD_H  := $(BPF_GEN_DIR)/pvlock_bpf_build.h
bpf_sq        = '$(subst ','\'',$(1))'
bpf_cstr      = "$(subst ",\",$(subst \,\\,$(1)))"
BPF_BUILD_H_TEXT := \#define PVLOCK_BPF_LIBDIR $(call bpf_cstr,$(PREFIX)/lib)
BPF_BUILD_H_TEXT += \#define PVLOCK_BPF_BUILT $(if $(BPF_BUILT),1,0)
$(shell mkdir -p $(BPF_GEN_DIR) && t=$(call bpf_sq,$(BPF_BUILD_H_TEXT)) && \
	t=$$(printf '%s\n' "$$t" | sed 's/ \#define/\n#define/g') && \
	[ "$$(cat $(BPF_BUILD_H) 2>/dev/null)" = "$$t" ] || printf '%s\n' "$$t" > $(BPF_BUILD_H))
BPF_OBJS := $(foreach v,build/lib build/fi build/check-asan build/check-tsan,$(v)/obj/backend/bpf/bpf.o)
$(BPF_OBJS): $(BPF_BUILD_H)
$(BPF_OBJS): BASEFLAGS += -I$(BPF_GEN_DIR)
