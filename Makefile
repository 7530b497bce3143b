# pvlock - plain Makefile.  `make`, `make check`, `make install PREFIX=DIR`.
#
# Layout of the build:
#   build/lib/      libpvlock.a, libpvlock.so (the product)
#   build/fi/       the same sources with fault injection compiled in (tests only)
#   build/<san>/    sanitizer builds (check-asan, check-tsan)
#   build/bin/      tools: one folder tools/NAME/ -> build/bin/NAME
#   build/tests/    test programs: tests/KIND/NAME.c -> build/tests/NAME

CC       ?= cc
# Goals that install missing packages first (scripts/install-deps.sh, or
# INSTALL_DEPS).  Make probes for optional packages (the benchmark's peers,
# the bpf backend's tools) while it reads the rules, so such a goal installs
# and then builds in a fresh sub-make, which reads them, and probes, anew;
# the sub-make is told AFTER_DEPS=1.  The probes' results are not exported:
# each make finds out for itself unless they are given on the command line.
INSTALL_DEPS ?= bash scripts/install-deps.sh
DEPS_GOALS   := deps check demo bench-full vm-demo
PREFIX   ?= /usr/local
VERSION  := 0.1.0
SOMAJOR  := 0
OPT      ?= -O2
WARN     := -Wall -Wextra -Werror
CFLAGS   ?=
CSTD     := -std=gnu11
BASEFLAGS = $(CSTD) $(OPT) -g $(WARN) -Iinclude -Isrc $(CFLAGS)

# The lock algorithms are freestanding: no libc headers, no libc calls.
# `make check` verifies this on the objects (tests/packaging/freestanding.sh).
# Fault injection (FI_SRC, tests/seams/) is linked only into the libraries
# built with -DPVLOCK_FAULT_INJECTION (tests, sanitizers), never into the
# product; whatever includes its header does so as "seams/fault.h", -Itests.
ALGO_SRC := $(wildcard src/algo/*.c)
FI_SRC   := $(wildcard tests/seams/fault.c)
RT_SRC   := $(wildcard src/runtime/*.c src/backend/*.c) src/backend/bpf/bpf.c
HDRS     := $(wildcard include/*.h include/pvlock/*.h src/*/*.h src/*/*/*.h tests/seams/*.h)

# lib_objs(variant-dir, extra-cflags)
lib_objs = $(patsubst src/%.c,$(1)/obj/%.o,$(ALGO_SRC) $(RT_SRC)) \
	$(if $(findstring -DPVLOCK_FAULT_INJECTION,$(2)),$(patsubst tests/%.c,$(1)/obj/%.o,$(FI_SRC)))

# define_lib(variant-dir, extra-cflags[, compiler])
define define_lib
$(1)/obj/algo/%.o: src/algo/%.c $$(HDRS)
	@mkdir -p $$(@D)
	$$(or $(3),$$(CC)) $$(BASEFLAGS) -fPIC -ffreestanding -fno-builtin $(2) -c $$< -o $$@
$(1)/obj/%.o: src/%.c $$(HDRS)
	@mkdir -p $$(@D)
	$$(or $(3),$$(CC)) $$(BASEFLAGS) -fPIC -pthread $(2) -c $$< -o $$@
$(1)/obj/seams/%.o: tests/seams/%.c $$(HDRS)
	@mkdir -p $$(@D)
	$$(or $(3),$$(CC)) $$(BASEFLAGS) -Itests -fPIC -pthread $(2) -c $$< -o $$@
$(1)/libpvlock.a: $$(call lib_objs,$(1),$(2))
	@rm -f $$@
	ar rcs $$@ $$^
endef

$(eval $(call define_lib,build/lib,))
$(eval $(call define_lib,build/fi,-DPVLOCK_FAULT_INJECTION))

SONAME := libpvlock.so.$(SOMAJOR)
build/lib/libpvlock.so.$(VERSION): $(call lib_objs,build/lib) src/libpvlock.map
	$(CC) -shared -pthread -Wl,-soname,$(SONAME) -Wl,--version-script=src/libpvlock.map -o $@ $(filter %.o,$^)
build/lib/libpvlock.so: build/lib/libpvlock.so.$(VERSION)
	ln -sf libpvlock.so.$(VERSION) build/lib/$(SONAME)
	ln -sf libpvlock.so.$(VERSION) $@

# Paths in recipes: PREFIX and DESTDIR may hold spaces (or quotes), so every
# path built from them goes to the shell as one single-quoted word, $(call
# shq,...), with any ' inside written as '\''.  INSTALL_DIR is where `make
# install` writes: DESTDIR then PREFIX.
shq = '$(subst ','\'',$(1))'
INSTALL_DIR = $(call shq,$(DESTDIR)$(PREFIX))
# pvlock.pc: pkg-config splits a value at spaces unless escaped by a
# backslash, and prints it escaped, so that a shell (or make's recipe)
# reading `pkg-config --cflags pvlock` gets one word again.  The sed
# replacement escapes what sed itself would read: \, & and the | delimiter.
empty :=
space := $(empty) $(empty)
PC_PREFIX = $(subst $(space),\ ,$(PREFIX))
sed_text = $(subst |,\|,$(subst &,\&,$(subst \,\\,$(1))))
PC_SED = sed -e $(call shq,s|@PREFIX@|$(call sed_text,$(PC_PREFIX))|g) -e 's|@VERSION@|$(VERSION)|g'

build/lib/pvlock.pc: src/pvlock.pc.in Makefile
	$(PC_SED) $< > $@

LIBS := build/lib/libpvlock.a build/lib/libpvlock.so build/lib/pvlock.pc

# Tools: every folder tools/NAME/ holds the sources of build/bin/NAME.  A
# tools/NAME/rules.mk may set TOOL_LDLIBS_NAME, TOOL_CFLAGS_NAME, TOOL_LIB_NAME
# (default build/lib/libpvlock.a; build/fi/libpvlock.a for fault injection)
# and add targets of its own.
TOOLS := $(notdir $(patsubst %/,%,$(wildcard tools/*/)))
-include $(wildcard tools/*/rules.mk)
-include src/backend/bpf/rules.mk
define define_tool
build/bin/$(1): $$(wildcard tools/$(1)/*.c tools/$(1)/*.h) $$(or $$(TOOL_LIB_$(1)),build/lib/libpvlock.a)
	@mkdir -p $$(@D)
	$$(CC) $$(BASEFLAGS) -pthread $$(TOOL_CFLAGS_$(1)) -o $$@ $$(wildcard tools/$(1)/*.c) $$(or $$(TOOL_LIB_$(1)),build/lib/libpvlock.a) $$(TOOL_LDLIBS_$(1))
endef
$(foreach t,$(TOOLS),$(eval $(call define_tool,$(t))))
# A tool on the fault-injection library needs tests/seams/: a tree without
# it builds the product and the other tools.
FI_TOOLS  := $(foreach t,$(TOOLS),$(if $(filter build/fi/%,$(TOOL_LIB_$(t))),$(t)))
TOOL_BINS := $(addprefix build/bin/,$(if $(FI_SRC),$(TOOLS),$(filter-out $(FI_TOOLS),$(TOOLS))))

all: $(LIBS) $(TOOL_BINS) build/bin/example

build/bin/example: examples/example.c build/lib/libpvlock.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -pthread -o $@ $< build/lib/libpvlock.a

# ---- tests ------------------------------------------------------------------
# A folder per kind of test (tests/run.sh runs them all):
#   tests/unit/       one unit through its API, step by step
#   tests/system/     races, stress, signals, churn, hostile programs, torture
#   tests/programs/   the drop-in (libpvlock-preload.so) and real programs
#   tests/packaging/  build, install, headers, man pages, the tools' edges
# tests/KIND/NAME.c -> build/tests/NAME (one flat folder: names are unique),
# linked with the fault-injection library and the shared test helpers in
# tests/lib/.  TEST_OWN_BUILD: sources built by rules of their own.
TEST_DIRS := tests/unit tests/system tests/system/hostile tests/programs tests/packaging
TEST_OWN_BUILD := tests/system/hostile/dlopen.c tests/system/hostile/plugin.c
TEST_SRC  := $(filter-out $(TEST_OWN_BUILD),$(wildcard $(addsuffix /*.c,$(TEST_DIRS))))
TEST_BINS := $(addprefix build/tests/,$(notdir $(TEST_SRC:.c=)))
TEST_LIB  := $(wildcard tests/lib/*.c)
# define_test_rules(bin-dir, extra-cflags, compiler, library): one pattern
# rule per folder of TEST_DIRS, bin-dir/NAME from tests/KIND/NAME.c.
define define_test_rules
$(foreach d,$(TEST_DIRS),
$(1)/%: $(d)/%.c $$(TEST_LIB) $$(wildcard tests/lib/*.h) $(4)
	@mkdir -p $$(@D)
	$(3) $$(BASEFLAGS) $(2) -Itests -pthread -o $$@ $$< $$(TEST_LIB) $(4)
)
endef
$(eval $(call define_test_rules,build/tests,-DPVLOCK_FAULT_INJECTION,$$(CC),build/fi/libpvlock.a))

# tests/rules.mk adds special test builds (sanitizers) and CHECK_DEPS.
-include tests/rules.mk
# src/preload/rules.mk: libpvlock-preload.so (LD_PRELOAD drop-in, docs/preload.md).
-include src/preload/rules.mk
# tests/system/hostile/rules.mk: the plugin test's builds (plugin.so, hostile_dlopen).
-include tests/system/hostile/rules.mk
# guest/rules.mk: the bare-metal guest kernel (build/guest/, make guest-demo).
-include guest/rules.mk

# Install missing Debian packages (needs root); a no-op when all are there.
deps:
	@$(INSTALL_DEPS)

check: deps
	@$(MAKE) --no-print-directory AFTER_DEPS=1 all $(TEST_BINS) $(CHECK_DEPS)
	@bash tests/run.sh

# Everything `make check` runs, built and not run (.ci/run: the clang build).
check-build: all $(TEST_BINS) $(CHECK_DEPS)

# ---- sanitizers --------------------------------------------------------------
# The library and every test program again, under a sanitizer, run by the same
# harness (programs only: the scripts and models do not change under them).
#   check-asan  gcc, AddressSanitizer + UndefinedBehaviorSanitizer
#   check-tsan  clang-14, ThreadSanitizer checking pvlock's own atomics
#               (annotations off), plus tests/tsan/annotations.c with them on
ASAN_FLAGS := -DPVLOCK_FAULT_INJECTION -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer
TSAN_CC    ?= clang-14
TSAN_FLAGS := -DPVLOCK_FAULT_INJECTION -fsanitize=thread -DPVLOCK_NO_TSAN_ANNOTATIONS

# define_test_variant(dir, cflags, compiler)
define define_test_variant
$(eval $(call define_lib,$(1),$(2),$(3)))
$(call define_test_rules,$(1)/tests,$(2),$(3),$(1)/libpvlock.a)
endef
$(eval $(call define_test_variant,build/check-asan,$(ASAN_FLAGS),$(CC)))
$(eval $(call define_test_variant,build/check-tsan,$(TSAN_FLAGS),$(TSAN_CC)))

# Built with the annotations on, as a user's program would be.
build/check-tsan/tests/tsan_annotations: tests/tsan/annotations.c build/check-tsan/libpvlock.a
	$(TSAN_CC) $(BASEFLAGS) -fsanitize=thread -o $@ $< build/check-tsan/libpvlock.a -pthread

# The sanitizer test programs live in build/check-*/tests, where the bpf
# backend's loader (build/lib/libpvlock-bpf.so) is not ../lib: name it.
SAN_BPF_DEP := $(if $(BPF_BUILT),$(BPF_LIB))
SAN_BPF_ENV := $(if $(BPF_BUILT),PVLOCK_BPF_LIBRARY=$(CURDIR)/$(BPF_LIB))

check-asan: $(patsubst build/tests/%,build/check-asan/tests/%,$(TEST_BINS)) $(SAN_BPF_DEP)
	@$(SAN_BPF_ENV) ASAN_OPTIONS=halt_on_error=1:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		PVLOCK_TEST_DIR=build/check-asan/tests PVLOCK_TEST_PROGRAMS_ONLY=1 bash tests/run.sh

check-tsan: $(patsubst build/tests/%,build/check-tsan/tests/%,$(TEST_BINS)) \
		build/check-tsan/tests/tsan_annotations $(SAN_BPF_DEP)
	@$(SAN_BPF_ENV) TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		PVLOCK_TEST_DIR=build/check-tsan/tests PVLOCK_TEST_PROGRAMS_ONLY=1 bash tests/run.sh

# make check-aarch64: cross-built tests under qemu-user (tests/aarch64/).
-include tests/aarch64/rules.mk

install: $(LIBS)
	install -d $(INSTALL_DIR)/include/pvlock $(INSTALL_DIR)/lib/pkgconfig
	install -m 644 include/pvlock.h include/pvlock.hpp $(INSTALL_DIR)/include/
	install -m 644 include/pvlock/*.h $(INSTALL_DIR)/include/pvlock/
	install -m 644 build/lib/libpvlock.a $(INSTALL_DIR)/lib/
	install -m 755 build/lib/libpvlock.so.$(VERSION) $(INSTALL_DIR)/lib/
	ln -sf libpvlock.so.$(VERSION) $(INSTALL_DIR)/lib/$(SONAME)
	ln -sf libpvlock.so.$(VERSION) $(INSTALL_DIR)/lib/libpvlock.so
	$(PC_SED) src/pvlock.pc.in > $(INSTALL_DIR)/lib/pkgconfig/pvlock.pc
	install -d $(INSTALL_DIR)/share/man/man3
	install -m 644 $(MAN_PAGES) $(INSTALL_DIR)/share/man/man3/

# ---- uninstall ------------------------------------------------------------------
# Everything `make install` puts under PREFIX, relative to it.  A rules.mk
# that installs more adds its files to INSTALLED_FILES (and directories of its
# own to INSTALLED_DIRS); `make uninstall` removes them all, then the
# directories the install made, if they are empty.  tests/packaging/install.sh checks
# that nothing is left.
MAN_PAGES := $(wildcard man/man3/*.3)
INSTALLED_FILES += include/pvlock.h include/pvlock.hpp \
	$(wildcard include/pvlock/*.h) \
	lib/libpvlock.a lib/libpvlock.so.$(VERSION) lib/$(SONAME) lib/libpvlock.so \
	lib/pkgconfig/pvlock.pc $(patsubst man/%,share/man/%,$(MAN_PAGES))
INSTALLED_DIRS += include/pvlock lib/pkgconfig share/man/man3 share/man share include lib bin
# The names are relative and hold no space: the recipe works in the install
# directory, so nothing outside it can be named.
uninstall:
	@if [ -d $(INSTALL_DIR) ]; then \
		cd $(INSTALL_DIR) && rm -f $(INSTALLED_FILES) && \
		for d in $(INSTALLED_DIRS); do \
			[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; \
		done; \
	fi

# One relative name a line: what `make install` puts under PREFIX (tests/packaging/install_spaces.sh).
installed-files:
	@printf '%s\n' $(sort $(INSTALLED_FILES))

clean:
	rm -rf build

.PHONY: all deps check check-build check-asan check-tsan install uninstall installed-files clean
.DEFAULT_GOAL := all
.SECONDARY:
