# tests/system/hostile/rules.mk - the hostile tests with builds of their own (included by the
# Makefile).  build/hostile/plugin.so is a plugin linked with the shared
# libpvlock (found through its rpath); build/tests/hostile_dlopen loads it
# and does not link pvlock itself.
build/hostile/plugin.so: tests/system/hostile/plugin.c build/lib/libpvlock.so
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -fPIC -shared -o $@ $< -Lbuild/lib -lpvlock -Wl,-rpath,'$$ORIGIN/../lib'

build/tests/hostile_dlopen: tests/system/hostile/dlopen.c build/hostile/plugin.so
	@mkdir -p $(@D)
	$(CC) $(BASEFLAGS) -pthread -o $@ $< -ldl

CHECK_DEPS += build/tests/hostile_dlopen
