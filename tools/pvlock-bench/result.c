/*
 * result.c - one run's result: the line a child writes and the parent reads.
 *
 * Format: "pvlock-bench-result status=ok name=value ... pv.name=value ...".
 * Doubles travel as %.17g so the parent sees exactly what the child measured.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define RESULT_TAG "pvlock-bench-result"

static const char *const status_names[] = {
	[RUN_OK] = "ok", [RUN_TIMEOUT] = "timeout", [RUN_CRASHED] = "crashed",
	[RUN_FAILED] = "failed", [RUN_CHECK_FAILED] = "check-failed",
};

const char *run_status_name(enum run_status s)
{
	return status_names[s];
}

void result_init(struct run_result *r)
{
	memset(r, 0, sizeof(*r));
	r->status = RUN_FAILED;
#define INIT_U(name)
#define INIT_D(name) r->name = NAN;
	RUN_FIELDS(INIT_U, INIT_D)
#undef INIT_U
#undef INIT_D
	r->wall_s = NAN;
}

void result_write_line(FILE *f, const struct run_result *r)
{
	fprintf(f, RESULT_TAG " status=%s", run_status_name(r->status));
#define PUT_U(name) fprintf(f, " " #name "=%llu", (unsigned long long)r->name);
#define PUT_D(name) fprintf(f, " " #name "=%.17g", r->name);
	RUN_FIELDS(PUT_U, PUT_D)
#undef PUT_U
#undef PUT_D
	if (r->has_stats) {
#define PUT_STAT(name, desc) fprintf(f, " pv." #name "=%llu", (unsigned long long)r->st.name);
		PVLOCK_STATS_EVENTS(PUT_STAT)
#undef PUT_STAT
	}
	fputc('\n', f);
	fflush(f);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_field(struct run_result *r, const char *key, const char *val)
{
	if (!strcmp(key, "status")) {
		for (unsigned i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
			if (!strcmp(val, status_names[i])) {
				r->status = (enum run_status)i;
				return 0;
			}
		return -1;
	}
#define GET_U(name) if (!strcmp(key, #name)) return parse_u64(val, &r->name);
#define GET_D(name) if (!strcmp(key, #name)) return parse_double(val, &r->name);
	RUN_FIELDS(GET_U, GET_D)
#undef GET_U
#undef GET_D
	if (!strncmp(key, "pv.", 3)) {
		r->has_stats = true;
#define GET_STAT(name, desc) if (!strcmp(key + 3, #name)) return parse_u64(val, &r->st.name);
		PVLOCK_STATS_EVENTS(GET_STAT)
#undef GET_STAT
	}
	return 0;	/* a field from a newer child: ignore */
}

int result_parse_line(const char *buf, struct run_result *r)
{
	const char *line = strstr(buf, RESULT_TAG " ");

	if (!line)
		return -1;
	const char *nl = strchr(line, '\n');
	if (!nl)
		return -1;	/* cut short: the child died while writing */

	size_t len = (size_t)(nl - line);
	char *copy = strndup(line + sizeof(RESULT_TAG), len - sizeof(RESULT_TAG));
	int rc = 0;

	if (!copy)
		return -1;
	for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			rc = -1;
			break;
		}
		*eq = '\0';
		if (parse_field(r, tok, eq + 1)) {
			rc = -1;
			break;
		}
	}
	free(copy);
	return rc;
}

uint64_t result_waits(const struct run_result *r)
{
	return r->st.pv_wait_node + r->st.pv_wait_head + r->st.ticket_wait;
}

uint64_t result_kicks(const struct run_result *r)
{
	return r->st.pv_kick_unlock + r->st.ticket_kick;
}

uint64_t result_steals(const struct run_result *r)
{
	return r->st.pv_lock_stealing;
}

double result_wake_ns(const struct run_result *r)
{
	return r->st.pv_kick_wake ? (double)r->st.pv_latency_wake_ns / (double)r->st.pv_kick_wake : NAN;
}
