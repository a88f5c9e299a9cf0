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
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

extern const struct svc_runtime_ops svc_swarm_ops;

/*
 * What a swarm manifest may say (manifest.h): the image runtime's rules
 * (docker.h), and every listen address (and the preview) a port on every
 * node, ":PORT" or "0.0.0.0:PORT": svcctl's router on each node binds it.
 */
void svc_swarm_manifest_check(struct svc_mcheck *c);

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

/* A node's router, as svc_swarm_routers_up found it. */
struct svc_swarm_router {
	char *node;        /* the node's name */
	char *state;       /* the node's: "ready", "down", ... */
	char *addr;        /* its router's peer channel, "ADDR:PORT" */
	bool answers;      /* it answered with the secret */
	int64_t epoch;     /* of the table it has in force */
	char error[512];   /* why not */
};

/*
 * Run svcctl's router on every node of the swarm at DOCKER_HOST
 * (routers.c): the global service svcctl-TAG-router from the image of
 * self_exe (on more than one node pushed to push_repo, REGISTRY/REPO, and
 * run by digest), its peer channel on peer_port, authenticated with the
 * secret in STATE/router/peer.secret (made, with a new Swarm secret, when
 * it is missing: *rotated). Waits until every ready node's router answers.
 * *out: one entry per node (svc_swarm_routers_free).
 */
int svc_swarm_routers_up(const char *state_dir, const char *self_exe, const char *push_repo,
			 int peer_port, struct svc_swarm_router **out, size_t *nout,
			 bool *rotated, struct svc_error *err);
void svc_swarm_routers_free(struct svc_swarm_router *r, size_t n);

/*
 * Remove what svc_swarm_routers_up made on the swarm at DOCKER_HOST: the
 * watcher's service, the routers' service and their Swarm secrets (the
 * routers' volumes stay, as Swarm leaves volumes). *removed: whether
 * there was a service to remove. svcctl's copy of the secret stays.
 */
int svc_swarm_routers_remove(const char *state_dir, bool *removed, struct svc_error *err);

/*
 * The routers' watcher (watch.c), as `svcctl router swarm-watch` runs it
 * on a manager (its engine at DOCKER_HOST) until *stop: every interval_ms,
 * each route of owner's routers (their secret in secret_file, their peer
 * channels on peer_port) is switched off the tasks of nodes that are not
 * ready, and onto the running tasks of its release that pass their health
 * check (the "svcctl.health" label of their service).
 */
int svc_swarm_watch(const char *owner, const char *secret_file, int peer_port,
		    int64_t interval_ms, volatile sig_atomic_t *stop, struct svc_error *err);

/* The peer port of the routers when none was asked for. */
#define SVC_SWARM_PEER_PORT 7950

/*
 * How svc_swarm_routers_up last put the routers up (STATE/router/swarm.json):
 * *push (NULL: none; caller frees) and *peer_port. SVC_ENOTFOUND (the
 * defaults: none, SVC_SWARM_PEER_PORT) when they never were.
 */
int svc_swarm_routers_config(const char *state_dir, char **push, int *peer_port,
			     struct svc_error *err);

struct svc_plane_members;
/*
 * The routers of state_dir on the swarm of d (router/plane.h): every
 * node, its state and its router's peer channel, and the secret.
 * SVC_ENOTFOUND when the routers' service does not exist; the secret's
 * reader's error when svcctl's copy cannot be read.
 */
int svc_swarm_routers_members(struct svc_docker *d, const char *state_dir,
			      struct svc_plane_members *out, struct svc_error *err);

#endif
