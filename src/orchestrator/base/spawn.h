/*
 * base/spawn.h - starting a detached helper process: the process runtime's
 * supervisors, the router daemon, the Docker runtime's expiry waiters.
 *
 * The helper runs in its own session (it outlives svcctl and its
 * terminal), with stdin on /dev/null, stdout and stderr appended to a log
 * file, no other descriptors, default signal dispositions and an empty
 * signal mask, in the folder "/". Never through a shell: argv is exec'd.
 */
#ifndef SVC_SPAWN_H
#define SVC_SPAWN_H

#include <sys/types.h>

#include "error.h"

/*
 * Double-fork argv (argv[0] an absolute path) detached as above, output
 * appended to log_path (created 0600). *out gets the helper's pid (it is
 * not our child: it is reparented, so nothing waits for it here).
 * Returns once it has been forked; a failed exec shows in the log.
 */
int svc_spawn_detached(pid_t *out, char *const argv[], const char *log_path,
		       struct svc_error *err);

#endif
