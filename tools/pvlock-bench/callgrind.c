/*
 * callgrind.c - the fast path's instructions per lock+unlock: one valgrind
 * run of the fast-path child counts several locks, each as the difference
 * between a dump after n and one after 2n pairs (fastpath.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Callgrind runs ~50x slower than native; the N/2N difference needs no more. */
enum { CALLGRIND_ITERS = 100000 };

const char *callgrind_unavailable(void)
{
	if (!fastpath_can_count())
		return "not counted: built without <valgrind/callgrind.h>";
	if (!in_path("valgrind"))
		return "not counted: valgrind is not installed";
	return NULL;
}

/* The Ir total of a callgrind dump, if its trigger is the request "expect". */
static double dump_total(const char *path, const char *expect)
{
	char line[256], want[128];
	double total = NAN;
	bool right = false;
	FILE *f = fopen(path, "r");

	snprintf(want, sizeof(want), "desc: Trigger: Client Request: %s\n", expect);
	while (f && fgets(line, sizeof(line), f)) {
		if (!strcmp(line, want))
			right = true;
		else if (!strncmp(line, "summary: ", 9) || !strncmp(line, "totals: ", 8))
			total = strtod(strchr(line, ' ') + 1, NULL);
	}
	if (f)
		fclose(f);
	unlink(path);
	return right ? total : NAN;
}

void callgrind_count(const char *exe, const struct lock_adapter *const *locks, unsigned n,
		     uint64_t members, const char *pv_mode, double *ir, struct run_result *r)
{
	char dir[] = "/tmp/pvlock-bench.XXXXXX";
	char file[sizeof(dir) + 16], copy[sizeof(dir) + 16], list[MAX_LIST * 24];
	struct argv_buf a = { .n = 0 }, strip = { .n = 0 };
	struct run_result stripped;
	size_t used = 0;

	if (!mkdtemp(dir)) {
		fprintf(stderr, BENCH_NAME ": mkdtemp: %s\n", strerror(errno));
		return;
	}
	snprintf(file, sizeof(file), "%s/cg.out", dir);
	snprintf(copy, sizeof(copy), "%s/bench", dir);
	list[0] = '\0';
	for (unsigned i = 0; i < n && used < sizeof(list); i++)
		if (members & (1ull << i))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? "," : "", locks[i]->name);
	/*
	 * Valgrind 3.19 gives up on some DWARF 5 that clang emits, and the
	 * count needs no debug information: count a copy without it.
	 */
	arg(&strip, "objcopy");
	arg(&strip, "--strip-debug");
	arg(&strip, "%s", exe);
	arg(&strip, "%s", copy);
	stripped.status = RUN_FAILED;
	if (in_path("objcopy"))
		run_child(strip.argv, NULL, 60, false, &stripped);

	arg(&a, "valgrind");
	arg(&a, "--tool=callgrind");
	arg(&a, "-q");
	arg(&a, "--callgrind-out-file=%s", file);
	arg(&a, "%s", stripped.status == RUN_OK ? copy : exe);
	arg(&a, "--run-fastpath");
	a.argv[a.n] = list;	/* may be longer than an argv_buf slot */
	a.argv[++a.n] = NULL;
	arg(&a, "--callgrind");
	arg(&a, "--fastpath-iters");
	arg(&a, "%d", CALLGRIND_ITERS);
	run_child(a.argv, pv_mode, 300, true, r);

	/* Dumps k = 1, 2, ... in order: "NAME:n" then "NAME:2n" for each lock. */
	unsigned k = 1;
	for (unsigned i = 0; i < n; i++) {
		char path[sizeof(file) + 8], name[64];
		double at[2];

		if (!(members & (1ull << i)))
			continue;
		for (int d = 0; d < 2; d++, k++) {
			snprintf(path, sizeof(path), "%s.%u", file, k);
			snprintf(name, sizeof(name), "%s:%s", locks[i]->name, d ? "2n" : "n");
			at[d] = dump_total(path, name);
		}
		ir[i] = (at[1] - at[0]) / CALLGRIND_ITERS;
		if (r->status == RUN_OK && isnan(ir[i]))
			r->status = RUN_FAILED;
	}
	unlink(file);
	unlink(copy);
	rmdir(dir);
}
