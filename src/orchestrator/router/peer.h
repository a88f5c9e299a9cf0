/*
 * router/peer.h - the routers' peer channel: the line format both sides
 * speak, and the two-phase switch of one route on several routers (one per
 * machine), as svcctl drives it.
 *
 * The channel is TCP between machines, so every line is authenticated with
 * a secret the two sides share: a line is "MAC JSON\n", MAC the 64 hex
 * digits of HMAC-SHA256(secret, JSON) (base/mac.h). A request's JSON has
 * "op", "ts" (the sender's clock, epoch ms: refused beyond 30 s of the
 * router's) and "nonce" (hex, refused when one of the router's last 256
 * requests had it), so that a recorded line cannot be played again; the
 * reply's JSON carries the request's nonce, so that the sender knows it is
 * the answer to its own request. Without the secret the channel is of no
 * use: a line whose MAC is wrong gets no reply at all.
 *
 *   ping                          {"ok":true, "epoch":N}
 *   prepare {epoch, route}        the route checked, a new listener bound,
 *                                 held; a later prepare replaces it
 *   commit  {epoch}               the prepared route in force and saved
 *                                 (routes.json keeps the epoch)
 *   abort   {epoch}               the prepared route dropped
 *   table                         {"epoch":N, "routes":[...]}: the table
 *                                 in force, for a router catching up
 *   status                        what "status" answers on the control
 *                                 socket (client.h), and "epoch"
 * route is {listen, service, backends, drain_timeout_ms}, as "set" takes.
 */
#ifndef SVC_ROUTER_PEER_H
#define SVC_ROUTER_PEER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SVC_PEER_SECRET_MAX 4096
#define SVC_PEER_LINE_MAX (64 * 1024)

/* "MAC JSON\n" for body under secret (malloc'd), or NULL when it cannot be encoded. */
char *svc_peer_line(const void *secret, size_t secret_len, const json_t *body);
/*
 * Parse one line (without its newline) as "MAC JSON", checking the MAC:
 * *out is the JSON object. SVC_EGENERIC with the reason otherwise.
 */
int svc_peer_line_parse(const void *secret, size_t secret_len, const char *line, size_t len,
			json_t **out, struct svc_error *err);

/* One router of the switch, and what happened there. */
struct svc_peer {
	const char *name;       /* for messages: a node's name */
	const char *addr;       /* its peer channel, "HOST:PORT" */
	const char *listen;     /* where the route listens there; NULL: the call's */
	bool prepared;
	bool committed;
	char error[512];        /* why not, "" when it did */
};

/* The route to put in force on every peer. */
struct svc_peer_route {
	const char *listen;
	const char *service;
	char *const *backends;  /* NULL-terminated "HOST:PORT"s; none removes the route */
	int64_t drain_timeout_ms;
};

/*
 * The two-phase switch: prepare route on every peer, each within
 * timeout_ms (default 2 s when 0); only when all acknowledge, commit on
 * all, retrying those that do not confirm (three rounds). 0 when every
 * peer committed. SVC_EFAILED when one did not prepare: none committed
 * (the others are told to abort), the message naming it and why.
 * SVC_EUNAVAIL when some committed and others never confirmed: the
 * message says which switched. Each peer's fields say what happened
 * there. *epoch_out (may be NULL) gets the epoch used.
 */
int svc_peer_switch(struct svc_peer *peers, size_t n, const void *secret, size_t secret_len,
		    const struct svc_peer_route *route, int64_t timeout_ms, int64_t *epoch_out,
		    struct svc_error *err);

/*
 * Send {"op": op} to every peer at once, within timeout_ms (default 2 s):
 * replies[i] (may be NULL; caller json_decrefs each) the verified answer
 * of those that answered ok, peers[i].error why not for the others.
 * Returns how many answered ok.
 */
size_t svc_peer_ask(struct svc_peer *peers, size_t n, const void *secret, size_t secret_len,
		    const char *op, int64_t timeout_ms, json_t **replies);

/*
 * Ask every router of addrs (NULL-terminated "HOST:PORT"s) for its table
 * at once, within timeout_ms (default 2 s): *out the answer with the
 * highest epoch ({"epoch":N, "routes":[...]}), *from who gave it (caller
 * frees both). SVC_EUNAVAIL when none answered, naming each and why.
 */
int svc_peer_table_fetch(char *const *addrs, const void *secret, size_t secret_len,
			 int64_t timeout_ms, json_t **out, char **from, struct svc_error *err);

#endif
