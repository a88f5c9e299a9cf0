/*
 * runtime/proc/proc.h - the process runtime: each instance a local process under its own
 * supervisor (supervisor.h), its files under
 * STATE/services/SERVICE/instances/INSTANCE-ID/.
 *
 * Invariants: INSTANCE-ID is "<service>-<first 12 chars of release>-<index>";
 * the folder (0700) holds spec.json (written once by start(), before the
 * supervisor runs), status.json (written only by the supervisor, always
 * atomically), output.log, supervisor.log and, optionally, expire_at (epoch
 * ms, text). Those files and the live processes are the only record of an
 * instance; a pid in them counts only when its start time matches. After
 * stop() the folder is gone and the output is kept as
 * STATE/services/SERVICE/logs/INSTANCE-ID.log (the latest run wins).
 *
 * start() returns once the instance's process runs, or fails with
 * SVC_EFAILED giving the reason (command not found, workdir missing, ...);
 * a failed start leaves nothing behind. The instance's environment is the
 * caller's, plus run.env, plus PORT, SERVICE, VERSION and INSTANCE (these
 * four win over run.env).
 */
#ifndef SVC_PROC_H
#define SVC_PROC_H

#include "runtime/driver.h"

/* The driver's operations (used by svc_runtime_open). */
extern const struct svc_runtime_ops svc_proc_ops;

/*
 * The parsers of an instance's files (spec.json, status.json, expire_at)
 * over a buffer, as list() reads them: 0, or SVC_ESTATE naming path. For
 * the table of state files (state_files.c).
 */
int svc_proc_spec_check(const char *buf, size_t len, const char *path, struct svc_error *err);
int svc_proc_status_check(const char *buf, size_t len, const char *path, struct svc_error *err);
int svc_proc_expire_check(const char *buf, size_t len, const char *path, struct svc_error *err);

/* What a manifest of the process runtime may say (svc_manifest_rules.check). */
void svc_proc_manifest_check(struct svc_mcheck *c);

#endif
