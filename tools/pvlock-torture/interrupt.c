#define _GNU_SOURCE
/*
 * interrupt.c - Ctrl-C (SIGINT) and SIGTERM.
 *
 * A single run (one lock, one mode; also each child of the orchestrator)
 * ends at once with one line, "INTERRUPTED: ...", and exit status 128 +
 * the signal: the run was cut short, so it has no verdict.
 *
 * The orchestrator passes the signal on to its running child (so a signal
 * sent to the parent alone never leaves the child running), lets it end,
 * and then stops: interrupted() says so.  A child also dies with its parent
 * (PR_SET_PDEATHSIG), should the parent be killed outright.
 */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "torture.h"

static volatile sig_atomic_t got_signal;
static volatile pid_t child_pid;

static void on_interrupt_run(int sig)
{
	static const char msg[] =
		"INTERRUPTED: the run was stopped by a signal before its end; no verdict\n";

	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(128 + sig);
}

static void on_interrupt_orchestrator(int sig)
{
	got_signal = sig;
	if (child_pid > 0)
		kill(child_pid, SIGTERM);
}

static void install(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;	/* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void interrupt_install_run(void)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	install(on_interrupt_run);
}

void interrupt_install_orchestrator(void)
{
	install(on_interrupt_orchestrator);
}

void interrupt_set_child(pid_t pid)
{
	child_pid = pid;
	if (pid > 0 && got_signal)	/* the signal came just before the fork */
		kill(pid, SIGTERM);
}

int interrupted(void)
{
	return got_signal;
}
