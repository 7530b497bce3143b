#define _GNU_SOURCE
/*
 * pvlock-torture - locktorture for pvlock: many writers over a few locks,
 * with stutter, nested signal handlers, thread churn and injected faults,
 * checking mutual exclusion and progress.  See docs/torture.md.
 */
#include <stdio.h>

#include "torture.h"

int main(int argc, char **argv)
{
	struct config cfg;

	options_parse(argc, argv, &cfg);
	/* Line-buffered: the watchdog's last words must reach a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (cfg.lock == LOCK_ALL || cfg.mode == MODE_ALL) {
		interrupt_install_orchestrator();
		return orchestrate(argc, argv, &cfg);
	}
	interrupt_install_run();
	return run_torture(&cfg);
}
