# src/preload/rules.mk - libpvlock-preload.so and its installation
# (docs/preload.md).  Included by the Makefile.
#
# The library is the pvlock objects of build/lib plus src/preload/, linked
# with a version script that exports only the pthread_* interposers; pvlock
# itself stays private to it.  -fexceptions: a cancelled condvar wait unwinds
# through our frames (pthread_cleanup_push then uses unwind-based cleanups).
PRELOAD_SRC    := $(wildcard src/preload/*.c)
PRELOAD_LIB    := build/lib/libpvlock-preload.so
PRELOAD_CFLAGS := -fPIC -pthread -fvisibility=hidden -fexceptions -fno-strict-aliasing

$(PRELOAD_LIB): $(PRELOAD_SRC) src/preload/preload.h src/preload/libpvlock-preload.map \
		$(call lib_objs,build/lib)
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(PRELOAD_CFLAGS) -shared \
		-Wl,--version-script=src/preload/libpvlock-preload.map -o $@ \
		$(PRELOAD_SRC) $(call lib_objs,build/lib) -ldl

all: $(PRELOAD_LIB)
CHECK_DEPS += $(PRELOAD_LIB)

install: install-preload
install-preload: $(PRELOAD_LIB) build/bin/pvlock-run
	install -d $(INSTALL_DIR)/lib $(INSTALL_DIR)/bin
	install -m 755 $(PRELOAD_LIB) $(INSTALL_DIR)/lib/
	install -m 755 build/bin/pvlock-run $(INSTALL_DIR)/bin/
INSTALLED_FILES += lib/libpvlock-preload.so bin/pvlock-run

.PHONY: install-preload

# check-asan: the preload library itself under AddressSanitizer and UBSan
# too, from the sanitizer build's pvlock objects.  The preload tests (build/tests/preload_*) look in
# ../lib/ beside itself first, so build/check-asan/tests/preload_api_mutex and the others use it.
build/check-asan/lib/libpvlock-preload.so: $(PRELOAD_SRC) src/preload/preload.h \
		src/preload/libpvlock-preload.map $(call lib_objs,build/check-asan,-DPVLOCK_FAULT_INJECTION)
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) $(ASAN_FLAGS) $(PRELOAD_CFLAGS) -shared \
		-Wl,--version-script=src/preload/libpvlock-preload.map -o $@ \
		$(PRELOAD_SRC) $(call lib_objs,build/check-asan,-DPVLOCK_FAULT_INJECTION) -ldl
check-asan: build/check-asan/lib/libpvlock-preload.so
