# tests/rules.mk - test builds beyond tests/NAME.c -> build/tests/NAME.
# Included by the Makefile; CHECK_DEPS are extra prerequisites of `make check`.

# ---- AddressSanitizer + UndefinedBehaviorSanitizer --------------------------
# tests/asan/NAME.c -> build/tests/asan_NAME: the test, the shared test helpers
# and every library source compiled together with the sanitizers and fault
# injection, so that the lock algorithms themselves are instrumented (a
# use-after-free inside an unlock slow path is what these tests look for).
# (Names are TESTS_*: the Makefile's own ASAN_FLAGS is for check-asan.)
# The binaries land in build/tests/ so that tests/run.sh runs them like any
# other test; the sources live in tests/asan/, so the generic rule
# build/tests/%: tests/%.c never matches them.
TESTS_ASAN_CC    ?= gcc
TESTS_ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		    -fno-omit-frame-pointer
TESTS_ASAN :=  $(patsubst tests/asan/%.c,build/tests/asan_%,$(wildcard tests/asan/*.c))

$(TESTS_ASAN): build/tests/asan_%: tests/asan/%.c $(ALGO_SRC) $(RT_SRC) $(FI_SRC) $(HDRS) \
		$(TEST_LIB) $(wildcard tests/lib/*.h) tests/rules.mk
	@mkdir -p $(@D)
	$(TESTS_ASAN_CC) $(CSTD) -O1 -g $(WARN) -Iinclude -Isrc -Itests -pthread \
		-DPVLOCK_FAULT_INJECTION $(TESTS_ASAN_FLAGS) $(CFLAGS) \
		-o $@ $< $(ALGO_SRC) $(RT_SRC) $(FI_SRC) $(TEST_LIB)

CHECK_DEPS += $(TESTS_ASAN)
