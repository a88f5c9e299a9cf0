/*
 * router/plane.h - where a service's routes are put in force, as the
 * rollout code sees it: svcctl's own router on this machine (client.h),
 * or a router on every node of a cluster (a swarm), switched together by
 * the two-phase protocol of the peer channel (peer.h). rollout.c asks the
 * plane, never a router directly.
 *
 * A cluster plane learns its routers from the runtime (members): each
 * node, its state there ("ready", "down", ...) and its router's peer
 * channel, and the secret. A switch goes to the routers of ready nodes
 * only; a node that is down takes the table in force when it comes back
 * (router.h: peer_join). A switch that some ready router prepared but
 * never confirmed after its retries is in force on the others: set says
 * so in its note and succeeds, since the node that missed it catches up
 * from the others. "Serving" and connection counts are asked of every
 * router that answers; one that does not answer is named, not waited for.
 */
#ifndef SVC_ROUTER_PLANE_H
#define SVC_ROUTER_PLANE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct svc_plane_node {
	char *name;     /* the node's name */
	char *state;    /* the runtime's word for it: "ready", "down", ... */
	char *addr;     /* its router's peer channel, "HOST:PORT" */
};

/* What the runtime says the routers of a cluster are. */
struct svc_plane_members {
	struct svc_plane_node *nodes;
	size_t n;
	char *secret;
	size_t secret_len;
};
void svc_plane_members_release(struct svc_plane_members *m);

struct svc_plane_cluster {
	/*
	 * The nodes and the secret, now. SVC_ENOTFOUND when the cluster has
	 * no routers of this state dir yet (ensure makes them).
	 */
	int (*members)(void *arg, struct svc_plane_members *out, struct svc_error *err);
	/* Make sure a router runs on every node (made when there is none). */
	int (*ensure)(void *arg, struct svc_error *err);
	void (*free)(void *arg);
	void *arg;
};

struct svc_plane;

/* svcctl's router of state_dir on this machine; self_exe starts it (client.h). */
struct svc_plane *svc_plane_local(const char *state_dir, const char *self_exe);
/* The routers of a cluster; the plane owns c->arg (c->free). */
struct svc_plane *svc_plane_cluster(const struct svc_plane_cluster *c);
void svc_plane_free(struct svc_plane *p);
bool svc_plane_is_local(const struct svc_plane *p);

/* Make sure the routers run (local: svc_router_ensure). SVC_EUNAVAIL when not. */
int svc_plane_ensure(struct svc_plane *p, struct svc_error *err);
/* 0 when the routers answer (a cluster: every ready node's); SVC_EUNAVAIL otherwise. */
int svc_plane_ping(struct svc_plane *p, struct svc_error *err);

/*
 * Point listen at backends (NULL-terminated "HOST:PORT"s; none removes the
 * route), with drain_timeout_ms for connections to backends that leave.
 * Returns once the new table is in force. SVC_EFAILED only when no router
 * changed (a cluster: one did not prepare, so none switched); SVC_EUNAVAIL
 * when none could be asked. note (may be NULL) gets what the caller should tell the user of
 * a switch that is in force but not everywhere: the nodes that missed it.
 */
int svc_plane_set(struct svc_plane *p, const char *service, const char *listen,
		  char *const *backends, int64_t drain_timeout_ms, char *note, size_t note_len,
		  struct svc_error *err);

/*
 * Whether listen is served, listening, from exactly want (NULL-terminated):
 * 1 it is (on every router that answers); 0 a router answers but does not
 * (why says which and how); -1 no router answers.
 */
int svc_plane_serving(struct svc_plane *p, const char *listen, char *const *want, char *why,
		      size_t why_len);

/* Connections the routers hold to the addrs (draining or not); -1 when none answers. */
long svc_plane_connections(struct svc_plane *p, char *const *addrs);

/*
 * What the routers say, as one object: {"routes":[...]} in the router's
 * status format (client.h), each route of a cluster with the "node" it is
 * on, and {"routers":[{node, state, addr, answers, epoch, error}]} for a
 * cluster, {"pid":N} for the local router. SVC_EUNAVAIL when no router
 * answers.
 */
int svc_plane_status(struct svc_plane *p, json_t **out, struct svc_error *err);

#endif
