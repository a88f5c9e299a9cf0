/*
 * supervise.c - `svcctl __supervise DIR`, the hidden command that runs the
 * supervisor of one process-runtime instance (supervisor.h).
 *
 * The process runtime (proc.c) starts it detached with the instance's
 * folder as its only argument; users never type it. For cmd/main.c:
 *
 *     int cmd_supervise(int argc, char **argv);
 *
 * argv[0] is "__supervise", then "--adopt" to take over from a supervisor
 * that died (supervisor.h), then the absolute instance folder. Returns
 * the exit status (0 once the instance was stopped, 2 on misuse).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "runtime/expiry.h"
#include "runtime/proc/supervisor.h"
#include "util.h"

int cmd_supervise(int argc, char **argv);
int cmd_expire(int argc, char **argv);

int cmd_supervise(int argc, char **argv)
{
	bool adopt = argc == 3 && !strcmp(argv[1], "--adopt");
	const char *dir = argc == 2 || adopt ? argv[argc - 1] : NULL;

	if (!dir || dir[0] != '/') {
		fputs("usage: svcctl __supervise [--adopt] ABSOLUTE-INSTANCE-DIR\n", stderr);
		return 2;
	}
	return adopt ? svc_supervisor_adopt(dir) : svc_supervisor_run(dir);
}

/*
 * `svcctl __expire STATE SERVICE KEY AT [RUNTIME]`: the waiter that stops a
 * warm release of a runtime with no supervisor of ours when its
 * keep_previous period ends (runtime/expiry.h). RUNTIME defaults to docker
 * (waiters started before it was given).
 */
int cmd_expire(int argc, char **argv)
{
	long long at;

	if ((argc != 5 && argc != 6) || argv[1][0] != '/' || !svc_name_valid(argv[2]) ||
	    svc_parse_int(&at, argv[4], 1, INT64_MAX)) {
		fputs("usage: svcctl __expire ABSOLUTE-STATE-DIR SERVICE KEY EPOCH-MS [RUNTIME]\n",
		      stderr);
		return 2;
	}
	return svc_expiry_run(argv[1], argc == 6 ? argv[5] : "docker", argv[2], argv[3],
			      (int64_t)at);
}
