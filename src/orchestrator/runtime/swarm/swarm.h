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

struct svc_docker;

/*
 * Build (unless it is there already) the image of this svcctl that runs
 * the routers on swarm nodes, through the engine d: FROM scratch, self_exe
 * as /svcctl (the entrypoint), the shared libraries it has loaded and its
 * program interpreter (selfimage.c). work_dir holds the image's folder
 * while it is built. *tag_out: "svcctl-router:ID12" (caller frees).
 */
int svc_swarm_router_image(struct svc_docker *d, const char *self_exe, const char *work_dir,
			   char **tag_out, struct svc_error *err);

#endif
