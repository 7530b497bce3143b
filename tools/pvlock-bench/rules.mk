# tools/pvlock-bench/rules.mk - included by the top-level Makefile.
#
# The CK spinlocks are header-only (static inline in <ck_spinlock.h>); -lck
# is linked anyway so the tool keeps building if an adapter ever uses a CK
# function that is not.  -lm: the statistics (ceil, ldexp, isnan).
TOOL_LDLIBS_pvlock-bench := -lck -lm
TOOL_CFLAGS_pvlock-bench := -D_GNU_SOURCE

# `make demo`: the overcommit study on 2 CPUs, about 3 minutes, into results/.
# docs/benchmark.md explains every number and how this budget was chosen.
PVLOCK_BENCH_DEMO := --cpus 2 --threads 1,2,4,8,16,32 --duration 0.3 --repeat 5 \
	--fastpath --sweep-threshold 6:16 --sweep-threads 8 --output results

demo:
	bash scripts/install-deps.sh
	$(MAKE) --no-print-directory build/bin/pvlock-bench
	build/bin/pvlock-bench $(PVLOCK_BENCH_DEMO)
	bash tools/pvlock-bench/plot.sh results

.PHONY: demo
