/*
 * backend_select.c - which backend the locks use (PVLOCK_BACKEND) and what
 * the slow paths do with a backend that knows who runs (PVLOCK_PREEMPT_USES).
 *
 * The one unit that loads and unloads a backend: it asks the backend for its
 * table (src/backend/) and installs what it gets (pv_ops.c); no backend
 * calls back into the runtime.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/hooks.h"
#include "backend/backend.h"

/* ---- which uses of "who runs" are on (PVLOCK_PREEMPT_USES) --------------- */

#define USE_NAMES(X) \
	X(WAIT_EARLY, "wait-early") X(HOLDER, "holder") X(SKIP, "skip")

unsigned pvlock__preempt_uses = PVLOCK_USES_DEFAULT;

static const struct { unsigned bit; const char *name; } use_names[] = {
#define USE_ENTRY(bit, name) { PVLOCK_USE_##bit, name },
	USE_NAMES(USE_ENTRY)
#undef USE_ENTRY
};

/* "none", "default", or a comma-separated list of use names: 0 and *out, or
 * -1 (also for an empty value, which would otherwise silently mean none). */
static int parse_uses(const char *text, unsigned *out)
{
	if (!*text)
		return -1;
	if (!strcmp(text, "none")) {
		*out = 0;
		return 0;
	}
	if (!strcmp(text, "default")) {
		*out = PVLOCK_USES_DEFAULT;
		return 0;
	}
	unsigned uses = 0;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ",");
		unsigned i;

		for (i = 0; i < sizeof(use_names) / sizeof(use_names[0]); i++)
			if (strlen(use_names[i].name) == len && !strncmp(p, use_names[i].name, len))
				break;
		if (i == sizeof(use_names) / sizeof(use_names[0]))
			return -1;
		uses |= use_names[i].bit;
		p += len;
		if (*p == ',')
			p++;
	}
	*out = uses;
	return 0;
}

/* ---- the bpf backend: load, fork, unload ---------------------------------- */

/* A forked child shares the parent's maps but not its threads: it goes on
 * with the futex backend, and the bpf backend forgets the parent's program. */
static void bpf_forked_child(void)
{
	pvlock__backend_install(NULL);
	pvlock__bpf_backend_forget();
}

int pvlock__bpf_backend_load(char *why, size_t why_len)
{
	const struct pvlock_backend *b = pvlock__bpf_backend_open(why, why_len);

	if (!b)
		return -1;
	static bool atfork_set;
	if (!atfork_set && pthread_atfork(NULL, NULL, bpf_forked_child) == 0)
		atfork_set = true;
	pvlock__backend_install(b);
	return 0;
}

void pvlock__bpf_backend_unload(void)
{
	if (!pvlock__bpf_ops())
		return;
	/* A slow path that reads the backend from here on asks futex. */
	pvlock__backend_install(NULL);
	pvlock__bpf_backend_close();
}

/* ---- choosing the backend (PVLOCK_BACKEND) -------------------------------- */

static void use_bpf(bool quiet)
{
	char why[300];

	if (pvlock__bpf_backend_load(why, sizeof(why)) != 0 && !quiet)
		fprintf(stderr, "pvlock: PVLOCK_BACKEND=bpf: the bpf backend cannot load: %s; "
			"using futex\n", why);
}

/* auto: futex.  The measurements in docs/design.md did not show bpf making
 * pvlock better by enough to load a program into the kernel for every
 * process that may; bpf is opt-in, for its statistics and its pictures. */
static void use_auto(void)
{
}

__attribute__((constructor)) static void backend_from_environment(void)
{
	const char *name = getenv("PVLOCK_BACKEND");
	const char *uses = getenv("PVLOCK_PREEMPT_USES");

	if (!name || !strcmp(name, "auto")) {
		use_auto();
	} else if (!strcmp(name, "bpf")) {
		use_bpf(false);
	} else if (strcmp(name, "futex") != 0) {
		fprintf(stderr, "pvlock: PVLOCK_BACKEND=\"%s\" is not a backend; accepted "
			"values: auto, futex, bpf (using the default, auto)\n", name);
		use_auto();
	}

	if (uses && parse_uses(uses, &pvlock__preempt_uses) != 0)
		fprintf(stderr, "pvlock: PVLOCK_PREEMPT_USES=\"%s\" is not valid; accepted: none, "
			"default, or a comma-separated list of wait-early, holder, "
			"skip (using the default)\n", uses);
}

__attribute__((destructor)) static void backend_unload(void)
{
	pvlock__bpf_backend_unload();
}
