/*
 * supervisor.h - the per-instance supervisor of the process runtime.
 *
 * `svcctl __supervise DIR` runs svc_supervisor_run: a small process in its
 * own session, detached from svcctl's terminal, that outlives svcctl. It
 * reads DIR/spec.json (argv, env, workdir, port, stop signal and timeout),
 * runs the instance as its child in its own process group with stdout and
 * stderr appended to DIR/output.log, restarts it on exit with backoff, and
 * records its own pid and start time, the child's pid and start time, the
 * restart count and the last exit status in DIR/status.json (atomic writes).
 * On SIGTERM (or when the epoch-ms time in DIR/expire_at passes) it sends
 * the stop signal to the instance's process group, waits stop_timeout, then
 * SIGKILL, records state "stopped" and exits 0.
 */
#ifndef SVC_SUPERVISOR_H
#define SVC_SUPERVISOR_H

#include "error.h"

/* Runs until the instance is stopped. Returns the process exit status. */
int svc_supervisor_run(const char *dir);

#endif
