# tools/pvlock-bench/rules.mk - included by the top-level Makefile.
#
# Optional peers.  The bench builds with nothing but a C compiler and make;
# each peer that needs a package is compiled in only where its headers and
# library are found, and make says in one line what it left out:
#   HAVE_CK    Concurrency Kit spinlocks (libck-dev; header-only, <ck_spinlock.h>)
#   HAVE_ABSL  absl::Mutex through the C++ shim peers.cc (libabsl-dev, g++)
#   HAVE_TBB   tbb::mutex, spin_mutex, queuing_mutex, same shim (libtbb-dev, g++)
# Each is found out by every make that reads these rules (the goals that
# install packages first build in a sub-make, after the install: see
# DEPS_GOALS in the Makefile), and can be forced:
#   make HAVE_CK=0 HAVE_ABSL=0 HAVE_TBB=0      (what tests/packaging/bench_nopeers.sh does)
# -lm: the statistics (ceil, ldexp, isnan).

BENCH_CXX ?= $(CXX)
BENCH_OBJ := build/bench
# True (1) if the compiler $(1) in language $(2) preprocesses #include <$(3)>.
# The # is printf's \043: written as \# in a function, make 4.3 and later
# keep the backslash, and "\#include" preprocesses without error anywhere.
bench_has_header = $(shell printf '\043include <%s>\n' '$(3)' | $(1) $(4) -E -x $(2) - >/dev/null 2>&1 && echo 1 || echo 0)
# True (1) if the C++ compiler finds lib$(1).so.
bench_has_lib = $(shell f=$$($(BENCH_CXX) -print-file-name=lib$(1).so 2>/dev/null) && [ "$$f" != lib$(1).so ] && [ -e "$$f" ] && echo 1 || echo 0)

ifeq ($(origin HAVE_CK),undefined)
HAVE_CK := $(call bench_has_header,$(CC),c,ck_spinlock.h)
endif
ifeq ($(origin HAVE_ABSL),undefined)
HAVE_ABSL := $(if $(filter 1,$(call bench_has_header,$(BENCH_CXX),c++,absl/synchronization/mutex.h,-std=c++17)),$(call bench_has_lib,absl_synchronization),0)
endif
ifeq ($(origin HAVE_TBB),undefined)
HAVE_TBB := $(if $(filter 1,$(call bench_has_header,$(BENCH_CXX),c++,oneapi/tbb/queuing_mutex.h,-std=c++17)),$(call bench_has_lib,tbb),0)
endif

# absl's libraries: pkg-config's list where it exists, else the one Debian 12 needs.
BENCH_ABSL_LIBS = $(or $(shell pkg-config --libs absl_synchronization 2>/dev/null),\
	-labsl_synchronization -labsl_graphcycles_internal -labsl_stacktrace \
	-labsl_symbolize -labsl_debugging_internal -labsl_demangle_internal \
	-labsl_malloc_internal -labsl_time -labsl_civil_time -labsl_strings \
	-labsl_strings_internal -labsl_base -labsl_spinlock_wait -labsl_int128 \
	-labsl_throw_delegate -labsl_raw_logging_internal -labsl_log_severity \
	-labsl_time_zone -lrt)

BENCH_PEERS_CXX := $(filter 1,$(HAVE_ABSL) $(HAVE_TBB))
BENCH_LEFT_OUT := $(if $(filter 0,$(HAVE_CK)),ck-ticket ck-mcs ck-fas (need libck-dev))
BENCH_LEFT_OUT += $(if $(filter 0,$(HAVE_ABSL)),absl-mutex (needs libabsl-dev and g++))
BENCH_LEFT_OUT += $(if $(filter 0,$(HAVE_TBB)),tbb-mutex tbb-spin tbb-queuing (need libtbb-dev and g++))
BENCH_LEFT_OUT := $(strip $(BENCH_LEFT_OUT))
# Said once: by the top-level make, unless it installs packages first (its
# probes ran before the install), then by its sub-make (AFTER_DEPS).
ifneq ($(BENCH_LEFT_OUT),)
ifeq ($(if $(AFTER_DEPS),$(filter 1,$(MAKELEVEL)),$(and $(filter 0,$(MAKELEVEL)),$(if $(filter clean $(DEPS_GOALS),$(MAKECMDGOALS)),,1))),)
else
$(info pvlock-bench: optional peers left out: $(BENCH_LEFT_OUT))
endif
endif

# The peer configuration is a prerequisite, so a change rebuilds the tool.
BENCH_CONFIG := HAVE_CK=$(HAVE_CK) HAVE_ABSL=$(HAVE_ABSL) HAVE_TBB=$(HAVE_TBB)
$(shell mkdir -p $(BENCH_OBJ); [ "$$(cat $(BENCH_OBJ)/peers.cfg 2>/dev/null)" = "$(BENCH_CONFIG)" ] || \
	echo "$(BENCH_CONFIG)" > $(BENCH_OBJ)/peers.cfg)

# The commit every result file names (machine.c); a new commit rebuilds the tool.
BENCH_COMMIT := $(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)
$(shell [ "$$(cat $(BENCH_OBJ)/commit.cfg 2>/dev/null)" = "$(BENCH_COMMIT)" ] || \
	echo "$(BENCH_COMMIT)" > $(BENCH_OBJ)/commit.cfg)

TOOL_CFLAGS_pvlock-bench := -D_GNU_SOURCE -DHAVE_CK=$(HAVE_CK) -DHAVE_ABSL=$(HAVE_ABSL) \
	-DHAVE_TBB=$(HAVE_TBB) -DBENCH_COMMIT='"$(BENCH_COMMIT)"'
TOOL_LDLIBS_pvlock-bench := $(if $(BENCH_PEERS_CXX),$(BENCH_OBJ)/peers.o) \
	$(if $(filter 1,$(HAVE_ABSL)),$(BENCH_ABSL_LIBS)) \
	$(if $(filter 1,$(HAVE_TBB)),-ltbb) \
	$(if $(BENCH_PEERS_CXX),-lstdc++) -lm

build/bin/pvlock-bench: $(BENCH_OBJ)/peers.cfg $(BENCH_OBJ)/commit.cfg $(if $(BENCH_PEERS_CXX),$(BENCH_OBJ)/peers.o)

$(BENCH_OBJ)/peers.o: tools/pvlock-bench/peers.cc tools/pvlock-bench/loops.h $(BENCH_OBJ)/peers.cfg
	@mkdir -p $(@D)
	$(BENCH_CXX) -std=c++17 $(OPT) -g $(WARN) -pthread -DHAVE_ABSL=$(HAVE_ABSL) \
		-DHAVE_TBB=$(HAVE_TBB) -c $< -o $@

# The locks of the grid: pvlock's queued lock and every peer this build has
# that does not collapse under overcommit, less CK's test-and-set (the same
# kind as pthread-spin and tbb-spin).  The fair spinlocks (CK ticket and mcs,
# TBB queuing, pvlock's native and ticket locks) are in the fast-path table
# and in `--locks all` studies, but would only add collapsed cells here.
comma := ,
BENCH_GRID_LOCKS := pv-queued,mutex,mutex-adaptive$(if $(filter 1,$(HAVE_ABSL)),$(comma)absl-mutex)$(if $(filter 1,$(HAVE_TBB)),$(comma)tbb-mutex)$(comma)pthread-spin$(if $(filter 1,$(HAVE_TBB)),$(comma)tbb-spin)

# Measurements take the shared measurement lock where flock exists, and run
# each child in a scheduler autogroup of nice -20 where allowed (root):
# docs/benchmark.md, "Steady state and this machine".
BENCH_LOCK ?= $(if $(shell command -v flock),flock /tmp/pvlock-bench.lock)
BENCH_PRIO ?= $(if $(filter 0,$(shell id -u)),--autogroup-nice -20)
BENCH_STEADY := --cpus 2 --warmup 0.5 --duration 1

# `make demo`: about 12 minutes on 2 CPUs, into results/: the fast path
# (each pv-mode lock beside its native-mode twin, which the bench adds), a
# slice of the grid (4 workloads x 5 thread counts, each cell the median of
# 3 rounds interleaved across the locks), the heat map and the goals.
# docs/benchmark.md explains every number and the budget.
PVLOCK_BENCH_DEMO := $(BENCH_STEADY) --locks $(BENCH_GRID_LOCKS) \
	--cs-lines 1,16 --non-cs-ns 100,2000 --lock-count 1 --threads 1,2,8,32,128 \
	--repeat 3 --fastpath --output results

# The packages first, then a sub-make that probes for the peers anew, builds
# the bench and runs it (tests/packaging/deps_order.sh: BENCH_LOCK and BENCH_PLOT).
BENCH_PLOT ?= bash tools/pvlock-bench/plot.sh
demo: deps
	@$(MAKE) --no-print-directory AFTER_DEPS=1 demo-run
demo-run: build/bin/pvlock-bench
	$(BENCH_LOCK) build/bin/pvlock-bench $(BENCH_PRIO) $(PVLOCK_BENCH_DEMO)
	$(BENCH_PLOT) results

# `make bench-full`: the whole grid (3 x 3 x 2 workloads x 5
# thread counts x the grid locks), about 20 minutes, into results-full/.  It
# runs in chunks of at most BENCH_CHUNK seconds, each under the measurement
# lock, resuming from results-full/journal.txt: Ctrl-C and run it again to
# continue.
BENCH_CHUNK ?= 330
PVLOCK_BENCH_FULL := $(BENCH_STEADY) --locks $(BENCH_GRID_LOCKS) \
	--cs-lines 1,16,128 --non-cs-ns 100,2000,20000 --lock-count 1,64 \
	--threads 1,2,8,32,128 --repeat 1 --output results-full

bench-full: deps
	@$(MAKE) --no-print-directory AFTER_DEPS=1 bench-full-run
bench-full-run: build/bin/pvlock-bench
	@while :; do \
		$(BENCH_LOCK) build/bin/pvlock-bench $(BENCH_PRIO) $(PVLOCK_BENCH_FULL) --resume \
			--budget $(BENCH_CHUNK) --quiet > /dev/null; rc=$$?; \
		[ $$rc -eq 3 ] || break; \
		echo "bench-full: chunk done, $$(grep -c '^run ' results-full/journal.txt) runs so far"; \
	done; cat results-full/table.txt; [ $$rc -eq 0 ]
	$(BENCH_PLOT) results-full

.PHONY: demo demo-run bench-full bench-full-run
