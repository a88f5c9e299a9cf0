/*
 * runtime/proc/supervisor.h - the per-instance supervisor of the process runtime.
 *
 * `svcctl __supervise DIR` runs svc_supervisor_run: a small process in its
 * own session, detached from svcctl's terminal, that outlives svcctl. It
 * reads DIR/spec.json (argv, env, workdir, port, stop signal and timeout),
 * runs the instance as its child with exactly the spec's env as its
 * environment (its own, svcctl's, is not passed on; a bare argv[0] is looked
 * up in the spec's PATH) in its own process group with stdout and
 * stderr appended to DIR/output.log, restarts it on exit with backoff, and
 * records its own pid and start time, the child's pid and start time, the
 * restart count and the last exit status in DIR/status.json (atomic writes).
 * On SIGTERM (or when the epoch-ms time in DIR/expire_at passes) it sends
 * the stop signal to the instance's process group, waits stop_timeout, then
 * SIGKILL, records state "stopped" and exits 0.
 *
 * `svcctl __supervise --adopt DIR` (svc_supervisor_adopt) replaces a
 * supervisor that died: when the instance process DIR/status.json names
 * still runs with its recorded start time, it is adopted (watched through a
 * pidfd, stopped as above, restarted as a child of the new supervisor once
 * it exits) and status.json names it again; otherwise it is started again
 * at once. Either way the restart count carries over. A pid whose start
 * time does not match is never signalled.
 */
#ifndef SVC_SUPERVISOR_H
#define SVC_SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "error.h"

/* Runs until the instance is stopped. Returns the process exit status. */
int svc_supervisor_run(const char *dir);
/* The same in adopt mode (above). */
int svc_supervisor_adopt(const char *dir);

/*
 * DIR/status.json as read back by the process runtime. state is one of
 * "starting" (spec read, first start not yet tried or under way), "running"
 * (pid runs), "backoff" (the process exited; restart pending), "failed"
 * (the last start failed before the command ran: error says why; a retry
 * is pending), "stopping", "stopped" (the supervisor has finished or is
 * about to). Pids are meaningful only together with their start times
 * (svc_pid_alive): the files may be older than the processes they name.
 */
struct svc_supervisor_status {
	pid_t supervisor_pid;
	unsigned long long supervisor_start;
	pid_t pid;                    /* the instance's process, 0 when none */
	unsigned long long pid_start;
	int restarts;                 /* starts after the first one */
	char state[16];
	int last_exit_code;           /* -1 none; exit status; 128+signal */
	int64_t started_ms;           /* epoch ms of the current process start, 0 if none */
	char error[512];              /* empty when none */
	int port;
};

/*
 * Read DIR/status.json into *out (copied; nothing to free). SVC_ENOTFOUND
 * when the supervisor has not written it yet, SVC_ESTATE when unreadable.
 */
int svc_supervisor_status_read(struct svc_supervisor_status *out, const char *dir,
			       struct svc_error *err);
/*
 * The parser under it: SVC_ESTATE naming path when o is not what a
 * supervisor writes. svc_supervisor_status_read returns SVC_ENOTFOUND (err
 * unset) when there is no status.json yet.
 */
int svc_supervisor_status_parse(struct svc_supervisor_status *out, const json_t *o,
				const char *path, struct svc_error *err);

#endif
