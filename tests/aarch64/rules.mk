# tests/aarch64/rules.mk - `make check-aarch64`: the library and the unit,
# race, stress and signal tests cross-built for aarch64 and run under
# qemu-user, twice:
#   build/aarch64-v80/  -march=armv8-a    load-exclusive/store-exclusive loops
#                       (-mno-outline-atomics: gcc would otherwise call
#                       libgcc helpers that pick LSE at run time)
#   build/aarch64-v81/  -march=armv8.1-a  LSE atomics (cas, swp, ldadd, ...)
# tests/aarch64/run.sh also checks with objdump that each build uses the
# instructions it claims.  qemu-user runs the aarch64 code with the host's
# memory order, so this cannot show a reordering x86 does not make (that is
# what models/m5_weak_memory.pml is for; docs/design.md).
AARCH64_CC      ?= aarch64-linux-gnu-gcc
AARCH64_TESTS   := api qspinlock_native qspinlock_pv qspinlock_pv_races pv_unlock pv_unlock_cas ticket races stress signals
AARCH64_VARIANTS := v80 v81
AARCH64_FLAGS_v80 := -march=armv8-a -mno-outline-atomics -DPVLOCK_FAULT_INJECTION
AARCH64_FLAGS_v81 := -march=armv8.1-a -DPVLOCK_FAULT_INJECTION

$(foreach v,$(AARCH64_VARIANTS),$(eval $(call define_test_variant,build/aarch64-$(v),$(AARCH64_FLAGS_$(v)),$(AARCH64_CC))))

AARCH64_BINS := $(foreach v,$(AARCH64_VARIANTS),$(addprefix build/aarch64-$(v)/tests/,$(AARCH64_TESTS)))

# Without the cross compiler or qemu there is nothing to build: run.sh says so.
check-aarch64:
	@mkdir -p build
	@if command -v $(AARCH64_CC) >/dev/null && command -v qemu-aarch64 >/dev/null; then \
		$(MAKE) --no-print-directory $(AARCH64_BINS) >build/aarch64.log 2>&1 || \
			{ tail -20 build/aarch64.log; echo "0 passed, 1 failed"; exit 1; }; \
	fi
	@AARCH64_CC=$(AARCH64_CC) AARCH64_TESTS="$(AARCH64_TESTS)" \
		AARCH64_VARIANTS="$(AARCH64_VARIANTS)" bash tests/aarch64/run.sh

.PHONY: check-aarch64
