/*
 * supervise_helper.c - a stand-in for `svcctl __supervise DIR` in the unit
 * tests (the real command line is written separately), and a test process
 * that ignores SIGTERM.
 *
 *   supervise_helper __supervise DIR   runs svc_supervisor_run(DIR)
 *   supervise_helper __supervise --adopt DIR
 *                                      runs svc_supervisor_adopt(DIR)
 *   supervise_helper ignore-term       ignores SIGTERM and waits forever
 *                                      (a process only SIGKILL stops)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/proc/supervisor.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "__supervise"))
		return svc_supervisor_run(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "__supervise") && !strcmp(argv[2], "--adopt"))
		return svc_supervisor_adopt(argv[3]);
	if (argc == 2 && !strcmp(argv[1], "ignore-term")) {
		signal(SIGTERM, SIG_IGN);
		puts("ignoring SIGTERM");
		fflush(stdout);
		for (;;)
			pause();
	}
	fputs("usage: supervise_helper __supervise [--adopt] DIR | ignore-term\n", stderr);
	return 2;
}
