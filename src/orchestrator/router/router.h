/*
 * router.h - the svcctl router daemon: a long-lived, event-driven (epoll),
 * non-blocking TCP proxy that gives each service a stable listen address
 * and forwards to the backends of the active release.
 *
 * One router runs per state dir. It is controlled through a unix socket
 * (STATE/router/router.sock, mode 0600) with one JSON object per line (see
 * router/client.h for the protocol) and persists its routing table to
 * STATE/router/routes.json (atomically) after every change, restoring it on
 * start. Invariants:
 * - a route with no backends is not listened on: its address refuses
 *   connections (this is how a preview address stays dark until green is
 *   healthy);
 * - after a route's backends are set, every new connection goes to the new
 *   backends; connections to backends that left the set keep working until
 *   they close or until the route's drain timeout, when they are closed;
 * - backends are chosen round-robin; one that refuses a connection is
 *   skipped and the next tried, so a client sees no refused connect while
 *   any backend is up;
 * - every connection has bounded buffers (backpressure: reading stops while
 *   the other side's buffer is full), allocated only while data is in
 *   flight, so idle connections cost little memory.
 * Behaviour choices:
 * - a drain timeout of 0 closes connections to removed backends at once;
 *   a connection still connecting to a removed backend is re-pointed at
 *   the new set instead (it has carried no bytes yet), and a backend put
 *   back into the set stops draining its connections;
 * - at max_conns the listeners stop accepting (new connections wait in
 *   the kernel's backlog) until a connection closes; max_conns is also
 *   lowered at start to what RLIMIT_NOFILE fits (two descriptors each);
 * - each route has a limit too, max_conns_per_route or by default an equal
 *   share of max_conns (max_conns divided by the routes with backends,
 *   recomputed as routes come and go): a route at its limit stops
 *   accepting the same way while the others keep accepting, so one service
 *   whose backend hangs cannot starve the rest;
 * - a backend connect attempt that has not completed after
 *   connect_timeout is given up and the next backend tried (the client is
 *   closed when none is left); with first_byte_timeout set, a connection
 *   whose backend has sent nothing (no byte, no FIN) that long after the
 *   connection to it was established is closed, and the client reset;
 * - a client's FIN bounds its connection: it is closed fin_timeout after
 *   the FIN, or after the last bytes sent to the client if later (like
 *   HAProxy's timeout client-fin). A client that closed frees its slot
 *   whatever the backend does (a closed socket answers any later byte
 *   with a reset, which closes at once); a half-closed client gets an
 *   answer that starts within fin_timeout and pauses no longer than that;
 * - an error or reset on either side resets the other (SO_LINGER 0), so
 *   a backend reset mid-answer reaches the client as ECONNRESET, not as a
 *   clean EOF on a truncated body (what the backend sent before is passed
 *   on first, as far as the client takes it at once); a FIN is passed on
 *   after the bytes before it, and the other direction keeps flowing;
 * - a route whose backend is its own listen address (the same address and
 *   port, or the same port with 0.0.0.0 / [::] on either side) is refused:
 *   one client would loop through it until the router was full; a
 *   routes.json holding one is invalid;
 * - a routes.json that cannot be parsed is rebuilt through opts->rebuild
 *   (without one svc_router_run fails rather than start with an empty
 *   table).
 */
#ifndef SVC_ROUTER_H
#define SVC_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct svc_router_options {
	int max_conns;              /* client connections at once; default 20000 */
	int max_conns_per_route;    /* default 0: max_conns / routes with backends */
	int64_t idle_timeout_ms;    /* close a connection idle this long; default 10m */
	int64_t connect_timeout_ms; /* per backend connect attempt; default 5s */
	int64_t first_byte_timeout_ms; /* see above; default 0: off */
	int64_t fin_timeout_ms;     /* after the client's FIN (see above); default 5s */
	size_t buf_size;            /* per direction per connection; default 16 KiB */
	/*
	 * When routes.json cannot be parsed: fill *table (malloc'd) with a
	 * table in the routes.json format rebuilt from what the services
	 * record and what runs (cmd/ passes svc_rollout_route_table). The
	 * router then keeps the bad file as routes.json.corrupt, logs each
	 * rebuilt route and saves the table. NULL: refuse to start.
	 */
	int (*rebuild)(void *arg, char **table, struct svc_error *err);
	void *rebuild_arg;
	/*
	 * Started by svcctl's supervisor (router/supervise.c). When false the
	 * router runs under a service manager: it writes STATE/router/external
	 * (removed when it exits on a "shutdown" request) so that svcctl never
	 * starts a second one.
	 */
	bool supervised;
	/*
	 * The peer channel (router/peer.c): with peer_listen ("ADDR:PORT"),
	 * the router also takes control requests over TCP from other
	 * machines, each authenticated with peer_secret (peer_secret_len
	 * bytes, borrowed), and only the peer ops: ping, status, prepare, commit,
	 * abort, table. NULL: none.
	 */
	const char *peer_listen;
	const void *peer_secret;
	size_t peer_secret_len;
	/*
	 * The peer channels of the other routers (NULL-terminated, borrowed;
	 * may be NULL): at start, before it serves, the router asks them for
	 * their tables and takes the one with the highest epoch when it is
	 * newer than its own (a router whose machine was away while others
	 * switched). None answering is no error: it serves its own.
	 */
	char *const *peer_join;
};

/* Fill opts with the defaults above. */
void svc_router_options_init(struct svc_router_options *opts);

/*
 * Run the router in the foreground until SIGTERM/SIGINT or a "shutdown"
 * request. Writes STATE/router/router.pid. Returns SVC_EUNAVAIL when another
 * router already serves this state dir.
 */
int svc_router_run(const char *state_dir, const struct svc_router_options *opts,
		   struct svc_error *err);

/*
 * `svcctl __router-supervise STATE` (router/supervise.c): run the router
 * as `self_exe --state-dir STATE router run --supervised` and start it
 * again with backoff whenever it dies, until it exits 0 or a signal asks
 * the supervisor to stop. Returns the process exit status.
 */
int svc_router_supervise(const char *state_dir, const char *self_exe);

/*
 * Parse buf as the router's saved table (STATE/router/routes.json) as the
 * router reads it when it starts: 0, or an error naming path. For the
 * table of state files (state_files.c).
 */
int svc_router_table_check(const char *buf, size_t len, const char *path,
			   struct svc_error *err);

#endif
