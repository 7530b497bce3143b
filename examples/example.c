/*
 * example.c - four threads share a counter under each of pvlock's locks.
 *
 *   build/bin/example              # pv mode (the default)
 *   PVLOCK_MODE=native build/bin/example
 */
#include <pthread.h>
#include <stdio.h>

#include <pvlock.h>

#define THREADS 4
#define ROUNDS 200000

static pvlock_t queued = PVLOCK_INIT;
static pvlock_ticket_t ticket = PVLOCK_TICKET_INIT;
static pvlock_tas_t tas = PVLOCK_TAS_INIT;
static long counters[3];

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pvlock_lock(&queued);
		counters[0]++;
		pvlock_unlock(&queued);

		pvlock_ticket_lock(&ticket);
		counters[1]++;
		pvlock_ticket_unlock(&ticket);

		pvlock_tas_lock(&tas);
		counters[2]++;
		pvlock_tas_unlock(&tas);
	}
	return NULL;
}

int main(void)
{
	pthread_t threads[THREADS];
	struct pvlock_stats stats;

	for (int i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);

	pvlock_stats_read(&stats);
	printf("mode %s: queued %ld, ticket %ld, tas %ld (expected %d each)\n",
	       pvlock_get_mode() == PVLOCK_MODE_PV ? "pv" : "native",
	       counters[0], counters[1], counters[2], THREADS * ROUNDS);
	printf("slow paths: queued %llu (sleeps: head %llu, node %llu), ticket %llu, tas %llu\n",
	       (unsigned long long)stats.lock_slowpath,
	       (unsigned long long)stats.pv_wait_head, (unsigned long long)stats.pv_wait_node,
	       (unsigned long long)stats.ticket_slowpath, (unsigned long long)stats.tas_slowpath);
	for (int i = 0; i < 3; i++)
		if (counters[i] != THREADS * ROUNDS)
			return 1;
	return 0;
}
