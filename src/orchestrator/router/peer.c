/*
 * router/peer.c - the router's side of the peer channel (router/peer.h):
 * the TCP listener, each request line authenticated (MAC, clock, nonce),
 * and the two-phase switch: prepare, commit, abort, and the table for a
 * router catching up.
 *
 * A prepared route is held, not in force: its listener is bound at prepare
 * (so that a commit cannot fail for want of the address), and it is
 * dropped when a newer prepare comes, when it is aborted, or when no
 * commit came within PEER_PENDING_MS. A commit of the epoch already in
 * force is acknowledged again, so that the sender may retry one whose
 * reply it lost.
 */
#include "router/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/mac.h"
#include "router/peer.h"

/* ---- lines ---- */

char *svc_peer_line(const void *secret, size_t secret_len, const json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER), *line = NULL;
	char mac[SVC_MAC_HEX_LEN + 1];

	if (text && svc_mac_hex(mac, secret, secret_len, text, strlen(text)))
		line = svc_strfmt("%s %s\n", mac, text);
	free(text);
	return line;
}

int svc_peer_line_parse(const void *secret, size_t secret_len, const char *line, size_t len,
			json_t **out, struct svc_error *err)
{
	char mac[SVC_MAC_HEX_LEN + 1];
	json_error_t jerr;
	const char *json = line + SVC_MAC_HEX_LEN + 1;
	size_t jlen;

	*out = NULL;
	if (len < SVC_MAC_HEX_LEN + 2 || line[SVC_MAC_HEX_LEN] != ' ')
		return svc_error_set(err, SVC_EGENERIC, "not an authenticated line");
	memcpy(mac, line, SVC_MAC_HEX_LEN);
	mac[SVC_MAC_HEX_LEN] = '\0';
	jlen = len - SVC_MAC_HEX_LEN - 1;
	if (jlen && json[jlen - 1] == '\r')
		jlen--;
	if (!svc_mac_ok(secret, secret_len, json, jlen, mac))
		return svc_error_set(err, SVC_EGENERIC, "the line's MAC is wrong (another secret?)");
	*out = json_loadb(json, jlen, 0, &jerr);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return svc_error_set(err, SVC_EGENERIC, "invalid request: %s",
				     jerr.text[0] ? jerr.text : "not an object");
	}
	return 0;
}

/* ---- the listener ---- */

int router_bind_peer(struct router *r, struct svc_error *err)
{
	struct svc_addr a;
	int rc;

	if (!r->opts.peer_secret || !r->opts.peer_secret_len)
		return svc_error_set(err, SVC_EGENERIC, "the peer channel needs a secret");
	if ((rc = svc_addr_parse(&a, r->opts.peer_listen, false, err)))
		return rc;
	r->nonces = svc_calloc(PEER_NONCES, sizeof(*r->nonces));
	r->ctl_peer.fd = router_listen_on(&a);
	if (r->ctl_peer.fd < 0)
		return svc_error_set_errno(err, SVC_EUNAVAIL, errno,
					   "cannot listen on %s for the peer channel", a.text);
	svc_daemon_log(ROUTER_WHO, "peer channel on %s", a.text);
	return router_ctl_listen(r, &r->ctl_peer, err);
}

static void pending_drop(struct router *r)
{
	if (!r->pending.set)
		return;
	if (r->pending.lfd >= 0)
		close(r->pending.lfd);
	router_set_req_release(&r->pending.q);
	memset(&r->pending, 0, sizeof(r->pending));
	r->pending.lfd = -1;
}

void router_peer_release(struct router *r)
{
	pending_drop(r);
	free(r->nonces);
	r->nonces = NULL;
}

/* ---- requests ---- */

/* A nonce seen among the last PEER_NONCES is a replay; else remember it. */
static bool nonce_fresh(struct router *r, const char *nonce)
{
	size_t n = strlen(nonce);

	if (n < 16 || n > 64 || strspn(nonce, "0123456789abcdef") != n)
		return false;
	for (size_t i = 0; i < PEER_NONCES; i++)
		if (!strcmp(r->nonces[i], nonce))
			return false;
	snprintf(r->nonces[r->nonce_next], sizeof(r->nonces[0]), "%s", nonce);
	r->nonce_next = (r->nonce_next + 1) % PEER_NONCES;
	return true;
}

static json_t *peer_prepare(struct router *r, json_t *req, int64_t epoch)
{
	struct svc_error e = { 0 };
	struct set_req q;
	struct route *rt;
	int lfd = -1;

	if (epoch <= r->epoch)
		return router_reply_error("epoch %lld is not newer than the table in force (%lld)",
				  (long long)epoch, (long long)r->epoch);
	if (router_set_req_parse(&q, json_object_get(req, "route"), &e))
		return router_reply_error("invalid route: %s", e.message);
	rt = router_route_find(r, q.listen.text);
	if (q.nbackends && (!rt || rt->lfd < 0)) {
		/* bound now, so that the commit cannot fail for want of it */
		lfd = router_listen_on(&q.listen);
		if (lfd < 0) {
			json_t *reply = router_reply_error("cannot listen on %s: %s", q.listen.text,
						   strerror(errno));
			router_set_req_release(&q);
			return reply;
		}
	}
	pending_drop(r);
	r->pending.set = true;
	r->pending.epoch = epoch;
	r->pending.expires = r->now + PEER_PENDING_MS;
	r->pending.q = q;
	r->pending.lfd = lfd;
	svc_daemon_log(ROUTER_WHO, "prepared epoch %lld: route %s (%s), %zu backend(s)",
		       (long long)epoch, q.listen.text, q.service, q.nbackends);
	return json_pack("{s:b, s:I}", "ok", 1, "epoch", (json_int_t)epoch);
}

static json_t *peer_commit(struct router *r, int64_t epoch)
{
	int64_t before = r->epoch;
	json_t *reply;

	if (epoch == r->epoch && !r->pending.set)
		return json_pack("{s:b, s:I, s:b}", "ok", 1, "epoch", (json_int_t)epoch,
				 "again", 1);
	if (!r->pending.set || r->pending.epoch != epoch)
		return router_reply_error("nothing is prepared for epoch %lld", (long long)epoch);
	if (r->now > r->pending.expires) {
		pending_drop(r);
		return router_reply_error("the route prepared for epoch %lld expired before its commit",
				  (long long)epoch);
	}
	r->epoch = epoch;   /* saved with the table */
	reply = router_handle_set(r, &r->pending.q, r->pending.lfd);
	r->pending.lfd = -1;   /* router_handle_set owns it now */
	if (!json_is_true(json_object_get(reply, "ok")))
		r->epoch = before;
	else
		svc_daemon_log(ROUTER_WHO, "committed epoch %lld", (long long)epoch);
	pending_drop(r);
	json_object_set_new(reply, "epoch", json_integer(r->epoch));
	return reply;
}

static json_t *peer_table(struct router *r)
{
	json_t *routes = json_array();

	for (struct route *rt = r->routes; rt; rt = rt->next) {
		json_t *bs = json_array();
		if (!rt->nactive)
			continue;
		for (size_t i = 0; i < rt->nactive; i++)
			json_array_append_new(bs, json_string(rt->active[i]->addr.text));
		json_array_append_new(routes, json_pack("{s:s, s:s, s:o, s:I}", "listen",
			rt->listen.text, "service", rt->service ? rt->service : "", "backends", bs,
			"drain_timeout_ms", (json_int_t)rt->drain_timeout_ms));
	}
	return json_pack("{s:b, s:I, s:o}", "ok", 1, "epoch", (json_int_t)r->epoch,
			 "routes", routes);
}

char *router_peer_reply(struct router *r, const char *line, size_t len)
{
	const struct svc_router_options *o = &r->opts;
	struct svc_error e = { 0 };
	json_t *req = NULL, *reply = NULL;
	const char *op, *nonce;
	json_int_t ts, epoch;
	char *out;

	if (svc_peer_line_parse(o->peer_secret, o->peer_secret_len, line, len, &req, &e)) {
		/* no answer to a line that is not ours: a closed connection */
		svc_daemon_log(ROUTER_WHO, "peer channel: refused a request: %s", e.message);
		return svc_strdup("");
	}
	op = json_string_value(json_object_get(req, "op"));
	nonce = json_string_value(json_object_get(req, "nonce"));
	ts = json_integer_value(json_object_get(req, "ts"));
	epoch = json_integer_value(json_object_get(req, "epoch"));
	if (!nonce || !nonce_fresh(r, nonce)) {
		svc_daemon_log(ROUTER_WHO, "peer channel: refused a request with a nonce "
			       "missing, malformed or seen before");
		json_decref(req);
		return svc_strdup("");
	}
	if (ts < svc_now_ms() - PEER_CLOCK_SKEW_MS || ts > svc_now_ms() + PEER_CLOCK_SKEW_MS)
		reply = router_reply_error("the request's time is more than %d s from this router's "
				   "clock", PEER_CLOCK_SKEW_MS / 1000);
	else if (!op)
		reply = router_reply_error("invalid request: 'op' must be a string");
	else if (!strcmp(op, "ping"))
		reply = json_pack("{s:b, s:I, s:I}", "ok", 1, "pid", (json_int_t)getpid(),
				  "epoch", (json_int_t)r->epoch);
	else if (!strcmp(op, "table"))
		reply = peer_table(r);
	else if (!strcmp(op, "status")) {
		reply = router_status_json(r);
		json_object_set_new(reply, "epoch", json_integer(r->epoch));
	}
	else if (epoch <= 0)
		reply = router_reply_error("invalid request: 'epoch' must be a positive integer");
	else if (!strcmp(op, "prepare"))
		reply = peer_prepare(r, req, (int64_t)epoch);
	else if (!strcmp(op, "commit"))
		reply = peer_commit(r, (int64_t)epoch);
	else if (!strcmp(op, "abort")) {
		if (r->pending.set && r->pending.epoch == epoch) {
			pending_drop(r);
			svc_daemon_log(ROUTER_WHO, "aborted epoch %lld", (long long)epoch);
		}
		reply = json_pack("{s:b}", "ok", 1);
	} else {
		reply = router_reply_error("unknown op '%.64s'", op);
	}
	json_object_set_new(reply, "nonce", json_string(nonce));
	out = svc_peer_line(o->peer_secret, o->peer_secret_len, reply);
	json_decref(reply);
	json_decref(req);
	return out ? out : svc_strdup("");
}

/*
 * Whether addr is this router's own peer channel: its port is the peer
 * port and its host an address of this machine (it can be bound), so that
 * a router given every node's channel does not wait for its own answer.
 */
static bool peer_is_self(const struct router *r, const char *addr)
{
	struct svc_addr a, self;
	int fd;

	if (svc_addr_parse(&a, addr, false, NULL) ||
	    svc_addr_parse(&self, r->opts.peer_listen, false, NULL) || a.port != self.port)
		return false;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (a.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a.ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&a.ss)->sin6_port = 0;
	{
		bool local = bind(fd, (struct sockaddr *)&a.ss, a.len) == 0;
		close(fd);
		return local;
	}
}

void router_peer_catch_up(struct router *r)
{
	const struct svc_router_options *o = &r->opts;
	struct svc_error e = { 0 };
	json_t *t = NULL, *routes, *route;
	char *from = NULL, **others = NULL;
	json_int_t epoch;
	size_t i;
	int rc;

	for (i = 0; o->peer_join[i]; i++)
		if (!peer_is_self(r, o->peer_join[i]))
			others = svc_strv_add_unique(others, o->peer_join[i]);
	if (!others) {
		svc_daemon_log(ROUTER_WHO, "catching up: no other router is named");
		return;
	}
	rc = svc_peer_table_fetch(others, o->peer_secret, o->peer_secret_len, 0, &t, &from, &e);
	svc_strv_free(others);
	if (rc) {
		svc_daemon_log(ROUTER_WHO, "catching up: %s; serving the table it had", e.message);
		return;
	}
	epoch = json_integer_value(json_object_get(t, "epoch"));
	routes = json_object_get(t, "routes");
	if (epoch <= r->epoch) {
		svc_daemon_log(ROUTER_WHO, "catching up: its table (epoch %lld) is the newest",
			       (long long)r->epoch);
		goto done;
	}
	svc_daemon_log(ROUTER_WHO, "catching up: taking epoch %lld from %s (it had %lld)",
		       (long long)epoch, from, (long long)r->epoch);
	r->epoch = (int64_t)epoch;   /* saved with each change below */
	/* routes the newer table does not have go */
	for (struct route *rt = r->routes, *next; rt; rt = next) {
		bool kept = false;
		next = rt->next;
		json_array_foreach(routes, i, route)
			kept |= !strcmp(json_string_value(json_object_get(route, "listen")) ?
					json_string_value(json_object_get(route, "listen")) : "",
					rt->listen.text);
		if (!kept && rt->nactive) {
			/* the route takes q's service (router_route_apply) */
			struct set_req q = { .listen = rt->listen,
					     .service = svc_strdup(rt->service ? rt->service : ""),
					     .drain_timeout_ms = rt->drain_timeout_ms };
			json_decref(router_handle_set(r, &q, -1));
			router_set_req_release(&q);
		}
	}
	json_array_foreach(routes, i, route) {
		struct set_req q;
		svc_error_clear(&e);
		if (router_set_req_parse(&q, route, &e)) {
			svc_daemon_log(ROUTER_WHO, "catching up: route %zu of %s: %s", i + 1, from,
				       e.message);
			continue;
		}
		json_decref(router_handle_set(r, &q, -1));
		router_set_req_release(&q);
	}
done:
	free(from);
	json_decref(t);
}
