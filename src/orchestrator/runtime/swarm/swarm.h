/*
 * runtime/swarm/swarm.h - the Swarm runtime: each release one Swarm service,
 * created through a manager's Engine API (docker_api.h), its replicas the
 * service's tasks. svcctl, not Swarm, does the blue/green: green's service
 * starts beside blue's, svcctl probes every task at its node's address and
 * host-mode port, and only then points the router at them.
 */
#ifndef SVC_SWARM_H
#define SVC_SWARM_H

#include "runtime/driver.h"

#include <jansson.h>

extern const struct svc_runtime_ops svc_swarm_ops;

/*
 * The body of POST /services/create for release (see swarm.c for what goes
 * in), named name. Caller owns the reference.
 */
json_t *svc_swarm_service_spec(const struct svc_manifest *m, const char *state_dir,
			       const char *name, const char *release, const char *color);

#endif
