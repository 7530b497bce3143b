# tools/vm/rules.mk - included by the top-level Makefile.
#
# pvlock inside a QEMU guest whose vCPUs outnumber the host's CPUs
# (docs/benchmark.md, "In a virtual machine").  tools/vm/ is not one tool but
# a set of scripts and two small programs, so it leaves the generic
# tools/NAME -> build/bin/NAME rule:
TOOLS := $(filter-out vm,$(TOOLS))

# The guest runs the project's own benchmark, statically linked: the same
# sources, flags and libraries as build/bin/pvlock-bench, plus -static.  C++
# sources of the benchmark (if it gains optional C++ peers) are not part of
# the static build; `pvlock-bench --help` inside the guest lists what is.
VM_BENCH_SRC := $(wildcard tools/pvlock-bench/*.c)
build/bin/pvlock-bench-static: $(VM_BENCH_SRC) $(wildcard tools/pvlock-bench/*.h) \
		build/lib/libpvlock.a tools/vm/rules.mk
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -pthread $(TOOL_CFLAGS_pvlock-bench) -static -o $@ $(VM_BENCH_SRC) \
		build/lib/libpvlock.a $(TOOL_LDLIBS_pvlock-bench)

# The mutual-exclusion check that tests/vm.sh runs in the guest.
build/bin/pvlock-vm-check-static: tools/vm/guest-check.c build/lib/libpvlock.a
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -pthread -static -o $@ $< build/lib/libpvlock.a

# Is /dev/kvm a standard KVM?  Asked by tools/vm/qemu-run.sh (--accel auto).
build/bin/pvlock-kvm-check: tools/vm/kvm-check.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -o $@ $<

VM_BINS := build/bin/pvlock-bench-static build/bin/pvlock-vm-check-static build/bin/pvlock-kvm-check
all: $(VM_BINS)

# `make vm-demo`: the whole experiment, a few minutes, into results/vm/ and
# docs/vm-results.md + docs/vm-throughput.png.
vm-demo:
	bash scripts/install-deps.sh
	$(MAKE) --no-print-directory build/bin/pvlock-bench $(VM_BINS)
	bash tools/vm/vm-demo.sh

.PHONY: vm-demo
