/*
 * supervise.c - `svcctl __supervise DIR`, the hidden command that runs the
 * supervisor of one process-runtime instance (supervisor.h).
 *
 * The process runtime (proc.c) starts it detached with the instance's
 * folder as its only argument; users never type it. For cmd/main.c:
 *
 *     int cmd_supervise(int argc, char **argv);
 *
 * argv[0] is "__supervise", argv[1] the absolute instance folder. Returns
 * the exit status (0 once the instance was stopped, 2 on misuse).
 */
#include <stdio.h>

#include "supervisor.h"

int cmd_supervise(int argc, char **argv);

int cmd_supervise(int argc, char **argv)
{
	if (argc != 2 || !argv[1] || argv[1][0] != '/') {
		fputs("usage: svcctl __supervise ABSOLUTE-INSTANCE-DIR\n", stderr);
		return 2;
	}
	return svc_supervisor_run(argv[1]);
}
