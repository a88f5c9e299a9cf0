/*
 * runtime/expiry.h - warm releases that stop themselves when keep_previous
 * ends, for runtimes with no supervisor of svcctl's (docker, swarm).
 *
 * set_expiry records the time in STATE/services/SERVICE/expiry/KEY (KEY is
 * what the driver removes: an instance id for docker, a release's service
 * for swarm) and starts a detached waiter, `svcctl __expire STATE SERVICE
 * KEY AT RUNTIME` (spawn.h), that sleeps until then and asks the driver to
 * remove KEY (its ops->expire) if the recorded time is still AT. A later
 * set_expiry, a rollback clearing it, or a stop removing the file ends the
 * wait: so the release goes with no svcctl running, and only when its time
 * is really up.
 */
#ifndef SVC_EXPIRY_H
#define SVC_EXPIRY_H

#include <stdint.h>

#include "runtime/driver.h"

/* The record's path. Caller frees. */
char *svc_expiry_path(const char *state_dir, const char *service, const char *key);
/* The recorded epoch ms, 0 when none (or unreadable). */
int64_t svc_expiry_read(const char *state_dir, const char *service, const char *key);
/* Forget the record (a stopped instance). */
void svc_expiry_clear(const char *state_dir, const char *service, const char *key);
/*
 * Record at_ms for key (0: clear it) and start its waiter, unless at_ms
 * is already recorded (one waiter per key and time).
 */
int svc_expiry_set(const struct svc_runtime *rt, const char *service, const char *key,
		   int64_t at_ms, struct svc_error *err);
/*
 * The waiter: sleep until at_ms; then, when key's record still says at_ms,
 * open runtime (by name) and call its ops->expire on key. Messages go to
 * stderr (the waiter's log). Returns the process exit status.
 */
int svc_expiry_run(const char *state_dir, const char *runtime, const char *service,
		   const char *key, int64_t at_ms);

#endif
