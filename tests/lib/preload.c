/*
 * preload.c - running a test program again under libpvlock-preload.so.
 */
#define _GNU_SOURCE
#include "lib/preload.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *test_preload_lib(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	const char *env = getenv("PVLOCK_PRELOAD_LIB");

	if (env)
		return env;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return NULL;
	self[n] = 0;
	const char *dir = dirname(self);
	const char *up[] = { "/../lib/", "/../../lib/" };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s%slibpvlock-preload.so", dir, up[i]);
		if (access(path, R_OK) == 0)
			return path;
	}
	return NULL;
}

static int find_sanitizer(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (strstr(info->dlpi_name, "libasan") || strstr(info->dlpi_name, "libtsan")) {
		snprintf(data, PATH_MAX, "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

const char *test_sanitizer_lib(void)
{
	static char path[PATH_MAX];

	path[0] = 0;
	dl_iterate_phdr(find_sanitizer, path);
	return path;
}

int test_preload_runs(char **argv, const char *run_env, unsigned modes)
{
	static const char *const kinds[] = { "queued", "ticket", "tas" };
	const char *mode_names[2];
	int nmodes = 0;
	const char *lib = test_preload_lib(), *san = test_sanitizer_lib();
	char preload[2 * PATH_MAX + 2];
	int failed = 0;

	if (modes & TEST_PRELOAD_NATIVE)
		mode_names[nmodes++] = "native";
	if (modes & TEST_PRELOAD_PV)
		mode_names[nmodes++] = "pv";
	if (nmodes == 0)
		mode_names[nmodes++] = NULL;	/* PVLOCK_MODE left alone */
	if (!lib) {
		printf("FAIL: preload: libpvlock-preload.so not found (make builds it)\n");
		return 1;
	}
	snprintf(preload, sizeof preload, "%s%s%s", san, *san ? ":" : "", lib);
	for (int k = 0; k < 3; k++) {
		for (int m = 0; m < nmodes; m++) {
			const char *mode = mode_names[m];
			char name[64];
			if (mode)
				snprintf(name, sizeof name, "preload [%s, %s]", kinds[k], mode);
			else
				snprintf(name, sizeof name, "preload [%s]", kinds[k]);
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				setenv("LD_PRELOAD", preload, 1);
				setenv("PVLOCK_PRELOAD_LOCK", kinds[k], 1);
				if (mode)
					setenv("PVLOCK_MODE", mode, 1);
				setenv(run_env, name, 1);
				unsetenv("PVLOCK_PRELOAD_REPORT");
				execv("/proc/self/exe", argv);
				printf("FAIL: %s: exec: %s\n", name, strerror(errno));
				_exit(1);
			}
			int status;
			if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0)
				failed = 1;
		}
	}
	return failed;
}

int test_preload_each(char **argv, const char *run_env)
{
	return test_preload_runs(argv, run_env, TEST_PRELOAD_NATIVE | TEST_PRELOAD_PV);
}
