/*
 * router/client.h - talking to the router daemon over its unix socket.
 *
 * Protocol: the client connects to STATE/router/router.sock, writes one JSON
 * object and a newline, reads one JSON object and a newline, and closes.
 * Requests:
 *   {"op":"ping"}
 *       -> {"ok":true,"pid":N}
 *   {"op":"set","listen":"127.0.0.1:8080","service":"greeter",
 *    "backends":["127.0.0.1:4101",...],"drain_timeout_ms":30000}
 *       -> {"ok":true} once the new table is persisted and in force, or
 *          {"ok":false,"error":"cannot listen on 127.0.0.1:8080: ..."}
 *       (an empty backends list removes the route and closes its listener)
 *   {"op":"status"}
 *       -> {"ok":true,"pid":N,"started_ms":N,"connections":N,
 *           "routes":[{"listen":"...","service":"...","drain_timeout_ms":N,
 *             "backends":[{"address":"...","active":true,"connections":N}]}]}
 *       (backends that left the set but still have draining connections are
 *        listed with "active":false, after the active ones; a removed route
 *        is listed while it has draining connections, with no active
 *        backend; each route also has "listening":bool and, while a
 *        restored route cannot listen, "listen_error")
 *   "drain_timeout_ms" defaults to 30000 when left out; 0 closes
 *   connections to removed backends at once.
 *   {"op":"shutdown"} -> {"ok":true}, then the router exits
 */
#ifndef SVC_ROUTER_CLIENT_H
#define SVC_ROUTER_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Paths under the state dir. Caller frees. */
char *svc_router_dir(const char *state_dir);
char *svc_router_socket_path(const char *state_dir);

/* 0 when a router answers; SVC_EUNAVAIL when none does. */
int svc_router_ping(const char *state_dir, struct svc_error *err);

/*
 * Make sure a router serves state_dir: when none answers, start
 * `self_exe --state-dir STATE router run` detached (its own session, output
 * to STATE/router/router.log) and wait up to 5 s for it to answer.
 * SVC_EUNAVAIL when it cannot be started.
 */
int svc_router_ensure(const char *state_dir, const char *self_exe,
		      struct svc_error *err);

/*
 * Set the backends of listen atomically (nbackends == 0 removes the route).
 * Returns once the router has the new table in force. SVC_EUNAVAIL when no
 * router answers; SVC_EGENERIC with the router's reason when it refuses.
 */
int svc_router_set(const char *state_dir, const char *service,
		   const char *listen, char *const *backends, size_t nbackends,
		   int64_t drain_timeout_ms, struct svc_error *err);

/* The router's status object (see above). Caller owns *out (json_decref). */
int svc_router_status(const char *state_dir, json_t **out, struct svc_error *err);

/*
 * Connections the router holds to backend address on any route (draining
 * or not); -1 on error.
 */
long svc_router_backend_connections(const json_t *status, const char *address);

/* Ask the router to exit and wait up to 5 s for it to be gone. */
int svc_router_stop(const char *state_dir, struct svc_error *err);

/* Send one request and read one reply. Caller owns *reply. */
int svc_router_request(const char *state_dir, json_t *request, json_t **reply,
		       struct svc_error *err);

#endif
