/*
 * asan_options.h - the sanitizer run-time options of the AddressSanitizer
 * tests (tests/asan/, built by tests/rules.mk): the first report ends the
 * program (abort_on_error: the runner sees signal 6), no leak check.
 *
 * It defines the functions the sanitizer runtimes call for a program's
 * defaults, so one program includes it once.  Not a tests/lib/ source, which
 * every test program links: the check-asan variant of the other tests
 * keeps the runtimes' own defaults and the Makefile's environment.
 */
#ifndef PVLOCK_TESTS_ASAN_OPTIONS_H
#define PVLOCK_TESTS_ASAN_OPTIONS_H

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__asan_default_options(void)
{
	return "abort_on_error=1:halt_on_error=1:detect_leaks=0";
}
const char *__ubsan_default_options(void)
{
	return "abort_on_error=1:halt_on_error=1:print_stacktrace=1";
}

#endif /* PVLOCK_TESTS_ASAN_OPTIONS_H */
