/*
 * plugin.c - a plugin that uses pvlock, for tests/system/hostile/dlopen.c: built as
 * build/hostile/plugin.so and linked with the shared libpvlock, so that
 * loading and unloading the plugin loads and unloads the library too.
 */
#include <pvlock.h>

static pvlock_t q;
static pvlock_ticket_t t;

void plugin_hold(void)
{
	pvlock_lock(&q);
	pvlock_ticket_lock(&t);
}

void plugin_release(void)
{
	pvlock_ticket_unlock(&t);
	pvlock_unlock(&q);
}

/* Take and release both locks (a slow path each while another holds them). */
void plugin_pass(void)
{
	pvlock_lock(&q);
	pvlock_unlock(&q);
	pvlock_ticket_lock(&t);
	pvlock_ticket_unlock(&t);
}

unsigned long plugin_slowpaths(void)
{
	struct pvlock_stats s;

	pvlock_stats_read(&s);
	return (unsigned long)(s.lock_slowpath + s.lock_pending + s.ticket_slowpath);
}
