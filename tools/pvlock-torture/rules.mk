# tools/pvlock-torture/rules.mk - included by the top-level Makefile.
#
# The torture tool links the fault-injection build of the library so that
# its --spurious-wakeup, --drop-kicks, ... switches act; -Itests for the
# knobs' header, seams/fault.h.
TOOL_LIB_pvlock-torture := build/fi/libpvlock.a
TOOL_CFLAGS_pvlock-torture := -Itests

# `make torture`: the long run.  Every real lock in both modes, TORTURE_SECONDS
# each, once per variant below (the first is plain): 30 runs, about 30 minutes
# at the default.  Each run prints "RESULT lock/mode: SUCCESS|FAILURE", each
# variant a verdict, and the target fails if any run failed.  For a quicker
# pass: `make torture TORTURE_SECONDS=10`.
TORTURE_SECONDS ?= 60
TORTURE_VARIANTS := \
	"" \
	"--signals --signal-depth 3 --churn --stutter" \
	"--spurious-wakeup 20 --hash-lines 4 --preempt 5 --spin-threshold 512" \
	"--preempt 30 --signals --stutter --spin-threshold 256" \
	"--kick-delay-us 300 --slots 3 --preempt 2 --preempt-us 50 --signals --churn"

torture: build/bin/pvlock-torture
	@failed=0; \
	for v in $(TORTURE_VARIANTS); do \
		echo "### pvlock-torture --duration $(TORTURE_SECONDS) $$v"; \
		build/bin/pvlock-torture --duration $(TORTURE_SECONDS) $$v || failed=$$((failed + 1)); \
	done; \
	if [ $$failed -ne 0 ]; then echo "torture: $$failed variant(s) FAILED"; exit 1; fi; \
	echo "torture: all variants SUCCESS"

.PHONY: torture
