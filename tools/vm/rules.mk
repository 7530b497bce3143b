# tools/vm/rules.mk - included by the top-level Makefile.
#
# pvlock inside a QEMU guest whose vCPUs outnumber the host's CPUs
# (docs/benchmark.md, "In a virtual machine").  tools/vm/ is not one tool but
# a set of scripts and two small programs, so it leaves the generic
# tools/NAME -> build/bin/NAME rule:
TOOLS := $(filter-out vm,$(TOOLS))

# The guest runs the project's own benchmark, statically linked: the same
# C sources and flags as build/bin/pvlock-bench, plus -static.  The C++ peers
# (absl, TBB) are left out: Debian ships no static libtbb, and the guest
# compares pvlock with the glibc and Concurrency Kit peers;
# `pvlock-bench --help` inside the guest lists what is built in.
VM_BENCH_SRC := $(wildcard tools/pvlock-bench/*.c)
build/bin/pvlock-bench-static: $(VM_BENCH_SRC) $(wildcard tools/pvlock-bench/*.h) \
		build/lib/libpvlock.a tools/vm/rules.mk $(BENCH_OBJ)/peers.cfg $(BENCH_OBJ)/commit.cfg
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -pthread -D_GNU_SOURCE -DHAVE_CK=$(HAVE_CK) -DHAVE_ABSL=0 -DHAVE_TBB=0 \
		-DBENCH_COMMIT='"$(BENCH_COMMIT)"' -static -o $@ $(VM_BENCH_SRC) build/lib/libpvlock.a -lm

# The mutual-exclusion check that tests/programs/vm.sh runs in the guest; its
# ck-ticket lock only where Concurrency Kit is (HAVE_CK, as for the bench;
# peers.cfg changes with it, so a change rebuilds this too).
build/bin/pvlock-vm-check-static: tools/vm/guest-check.c build/lib/libpvlock.a $(BENCH_OBJ)/peers.cfg
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -pthread -DHAVE_CK=$(HAVE_CK) -static -o $@ $< build/lib/libpvlock.a

# Is /dev/kvm a standard KVM?  Asked by tools/vm/qemu-run.sh (--accel auto).
build/bin/pvlock-kvm-check: tools/vm/kvm-check.c
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -o $@ $<

VM_BINS := build/bin/pvlock-bench-static build/bin/pvlock-vm-check-static build/bin/pvlock-kvm-check
all: $(VM_BINS)

# `make vm-demo`: the whole experiment, a few minutes, into results/vm/ and
# docs/vm-results.md + docs/vm-throughput.png.
# The packages first, then a sub-make that probes for them anew.
vm-demo: deps
	@$(MAKE) --no-print-directory AFTER_DEPS=1 vm-demo-run
vm-demo-run: build/bin/pvlock-bench $(VM_BINS)
	bash tools/vm/vm-demo.sh

.PHONY: vm-demo vm-demo-run
