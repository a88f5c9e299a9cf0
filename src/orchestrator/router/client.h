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
 *       -> {"ok":true,"pid":N,"started_ms":N,"connections":N,"max_conns":N,
 *           "supervised":bool,
 *           "routes":[{"listen":"...","service":"...","drain_timeout_ms":N,
 *             "listening":bool,"connections":N,"max_conns":N,
 *             "backends":[{"address":"...","active":true,"connections":N}]}]}
 *       (backends that left the set but still have draining connections are
 *        listed with "active":false, after the active ones; a removed route
 *        is listed while it has draining connections, with no active
 *        backend; each route also has "listening":bool and, while a
 *        restored route cannot listen, "listen_error")
 *   "drain_timeout_ms" defaults to 30000 when left out; 0 closes
 *   connections to removed backends at once.
 *   {"op":"shutdown"} -> {"ok":true}, then the router exits
 * A "set" whose route the router cannot listen on is applied and saved (the
 * router keeps trying to listen every second) but answered with
 * "listening":false and "listen_error"; svc_router_set turns that into
 * SVC_EUNAVAIL, so no caller takes it for a switch.
 *
 * The router answers on two sockets: STATE/router/router.sock and an
 * abstract unix socket named after the state dir's device and inode
 * (svc_router_abstract_addr). The abstract name cannot be deleted: it lives
 * exactly as long as the router, so it is also what keeps a second router
 * from starting for the same state dir whatever files were removed, and
 * the client falls back to it when router.sock is gone. Both accept only
 * the router's own user (and root), checked with SO_PEERCRED.
 *
 * Who runs the router: svc_router_ensure starts it under a supervisor
 * (`svcctl __router-supervise STATE`, router/supervise.c) that restarts it
 * with backoff when it dies; it restores its routes from routes.json. A
 * router started as `svcctl router run` in the foreground is taken to run
 * under a service manager (systemd): it writes STATE/router/external, and
 * svc_router_ensure then never starts another one, it only waits for that
 * one to come back.
 */
#ifndef SVC_ROUTER_CLIENT_H
#define SVC_ROUTER_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "error.h"

/* Paths under the state dir. Caller frees. */
char *svc_router_dir(const char *state_dir);
char *svc_router_socket_path(const char *state_dir);

/* 0 when a router answers; SVC_EUNAVAIL when none does. */
int svc_router_ping(const char *state_dir, struct svc_error *err);

/*
 * The abstract socket address of state_dir's router ("\0svcctl-router/DEV:INO"
 * of the state dir). SVC_EGENERIC when state_dir cannot be stat'ed.
 */
int svc_router_abstract_addr(struct sockaddr_un *sun, socklen_t *len,
			     const char *state_dir, struct svc_error *err);

/*
 * Whether a router process serves state_dir at all, answering or not: its
 * abstract socket is bound. For telling "none runs" from "one runs but
 * does not answer".
 */
bool svc_router_running(const char *state_dir);

/*
 * Make sure a router serves state_dir: when none answers, start
 * `self_exe __router-supervise STATE` detached (its own session, output to
 * STATE/router/router.log), which runs the router, and wait up to 5 s for
 * it to answer. When a supervisor is already bringing the router back (up
 * to 10 s: its longest backoff and a start), or the router is run by a
 * service manager (STATE/router/external, 5 s), only wait for it.
 * SVC_EUNAVAIL when no router answers in time.
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

/*
 * Ask the router to exit and wait up to 5 s for it and its supervisor to be
 * gone. *was_running: whether there was anything to stop. SVC_EUNAVAIL when
 * a router runs but does not answer; SVC_ETIMEOUT when it did not exit.
 */
int svc_router_stop(const char *state_dir, bool *was_running, struct svc_error *err);

/* STATE/router/external and STATE/router/supervisor.pid. Caller frees. */
char *svc_router_external_path(const char *state_dir);
char *svc_router_supervisor_pid_path(const char *state_dir);

/*
 * The pid of the router's supervisor when one runs (supervisor.pid names a
 * live process with its recorded start time), else 0.
 */
pid_t svc_router_supervisor_pid(const char *state_dir);

/* Send one request and read one reply. Caller owns *reply. */
int svc_router_request(const char *state_dir, json_t *request, json_t **reply,
		       struct svc_error *err);

#endif
