/*
 * router/table.c - routes and their backends, the listeners, and the
 * routing table on disk (STATE/router/routes.json): parsed strictly,
 * saved atomically before a change is put in force, restored at start.
 */
#include "router/internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "router/client.h"

/* ---- routes and backends ---- */

struct route *router_route_find(struct router *r, const char *listen)
{
	for (struct route *rt = r->routes; rt; rt = rt->next)
		if (!strcmp(rt->listen.text, listen))
			return rt;
	return NULL;
}

static struct backend *backend_find(struct route *rt, const char *addr)
{
	for (struct backend *b = rt->backends; b; b = b->next)
		if (!strcmp(b->addr.text, addr))
			return b;
	return NULL;
}

void router_route_close_listener(struct router *r, struct route *rt)
{
	(void)r;
	if (rt->lfd >= 0)
		close(rt->lfd);    /* closing removes it from the epoll set */
	rt->lfd = -1;
	rt->paused = false;
}

/* Free backends that left the set and have no connections; free the route
 * when it has no backends at all. */
void router_route_gc(struct router *r, struct route *rt)
{
	struct backend **pb = &rt->backends;

	while (*pb) {
		struct backend *b = *pb;
		if (!b->active && b->conns == 0 && b->pins == 0) {
			*pb = b->next;
			free(b);
		} else {
			pb = &b->next;
		}
	}
	if (rt->backends || rt->nactive || rt->nconns)
		return;
	for (struct route **pr = &r->routes; *pr; pr = &(*pr)->next) {
		if (*pr == rt) {
			*pr = rt->next;
			break;
		}
	}
	router_route_close_listener(r, rt);
	free(rt->active);
	free(rt->service);
	free(rt->listen_error);
	free(rt);
}

/* Open a listening socket for addr. Returns the fd or -1 with errno set. */
int router_listen_on(const struct svc_addr *addr)
{
	int fd, one = 1, saved;

	fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto fail;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len))
		goto fail;
	if (listen(fd, SOMAXCONN))
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int router_route_attach_listener(struct router *r, struct route *rt, int fd)
{
	rt->lfd = fd;
	rt->paused = router_route_want_pause(r, rt);
	if (router_ep_add(r, fd, rt->paused ? 0 : EPOLLIN, &rt->obj)) {
		int e = errno;
		close(fd);
		rt->lfd = -1;
		errno = e;
		return -1;
	}
	free(rt->listen_error);
	rt->listen_error = NULL;
	return 0;
}

/* ---- the routing table on disk ---- */

void router_set_req_release(struct set_req *q)
{
	free(q->service);
	free(q->backends);
	memset(q, 0, sizeof(*q));
}

static json_t *route_json(const char *listen, const char *service, int64_t drain,
			  const struct svc_addr *addrs, struct backend *const *bs, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(addrs ? addrs[i].text : bs[i]->addr.text));
	return json_pack("{s:s, s:s, s:o, s:I}", "listen", listen, "service", service,
			 "backends", arr, "drain_timeout_ms", (json_int_t)drain);
}

/* The table as it would be with chg applied (chg may be NULL). */
static json_t *table_json(struct router *r, const struct set_req *chg)
{
	json_t *routes = json_array();
	bool seen = false;

	for (struct route *rt = r->routes; rt; rt = rt->next) {
		if (chg && !strcmp(rt->listen.text, chg->listen.text)) {
			seen = true;
			if (chg->nbackends)
				json_array_append_new(routes, route_json(chg->listen.text,
					chg->service, chg->drain_timeout_ms, chg->backends,
					NULL, chg->nbackends));
		} else if (rt->nactive) {
			json_array_append_new(routes, route_json(rt->listen.text, rt->service,
				rt->drain_timeout_ms, NULL, rt->active, rt->nactive));
		}
	}
	if (chg && !seen && chg->nbackends)
		json_array_append_new(routes, route_json(chg->listen.text, chg->service,
			chg->drain_timeout_ms, chg->backends, NULL, chg->nbackends));
	if (r->epoch)   /* the last table committed through the peer channel */
		return json_pack("{s:i, s:I, s:o}", "version", 1, "epoch", (json_int_t)r->epoch,
				 "routes", routes);
	return json_pack("{s:i, s:o}", "version", 1, "routes", routes);
}

int router_table_save(struct router *r, const struct set_req *chg, struct svc_error *err)
{
	json_t *t = table_json(r, chg);
	char *text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *line = NULL;
	int rc = SVC_EGENERIC;

	if (!text) {
		svc_error_set(err, SVC_EGENERIC, "cannot encode the routing table");
		goto done;
	}
	line = svc_strfmt("%s\n", text);
	rc = svc_file_write_atomic(r->routes_path, line, strlen(line), 0600, err);
done:
	free(line);
	free(text);
	json_decref(t);
	return rc;
}

/* An IPv4-mapped IPv6 address ([::ffff:a.b.c.d]) as the IPv4 address it
 * reaches; any other address as it is. */
static void addr_unmap(struct sockaddr_storage *out, const struct svc_addr *a)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;

	memcpy(out, &a->ss, sizeof(*out));
	if (a->ss.ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	memset(out, 0, sizeof(*out));
	s4->sin_family = AF_INET;
	s4->sin_port = s6->sin6_port;
	memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
}

static bool ss_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static bool ss_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/*
 * Whether connecting to backend reaches the router's own listener on
 * listen: the same address and port, or the same port with the wildcard
 * on either side (a wildcard listener takes loopback connections; a connect
 * to the wildcard goes to this host). Listeners are IPV6_V6ONLY, so the two
 * families never meet. Another address of this host's interfaces under a
 * wildcard listener is not caught.
 */
static bool backend_is_listener(const struct svc_addr *listen, const struct svc_addr *backend)
{
	struct sockaddr_storage l, b;

	if (listen->port != backend->port)
		return false;
	addr_unmap(&l, listen);
	addr_unmap(&b, backend);
	if (l.ss_family != b.ss_family)
		return false;
	if (ss_is_any(&b) || (ss_is_any(&l) && ss_is_loopback(&b)))
		return true;
	if (l.ss_family == AF_INET)
		return ((struct sockaddr_in *)&l)->sin_addr.s_addr ==
		       ((struct sockaddr_in *)&b)->sin_addr.s_addr;
	return !memcmp(&((struct sockaddr_in6 *)&l)->sin6_addr,
		       &((struct sockaddr_in6 *)&b)->sin6_addr, sizeof(struct in6_addr));
}

/*
 * Parse a route object (from a request or from routes.json) into q.
 * A backend that is the route's own listener (backend_is_listener) is
 * refused. Returns 0 or SVC_EGENERIC with a reason in err.
 */
int router_set_req_parse(struct set_req *q, const json_t *o, struct svc_error *err)
{
	const json_t *listen = json_object_get(o, "listen");
	const json_t *service = json_object_get(o, "service");
	const json_t *backends = json_object_get(o, "backends");
	const json_t *drain = json_object_get(o, "drain_timeout_ms");
	int rc = SVC_EGENERIC;
	size_t i;

	memset(q, 0, sizeof(*q));
	q->drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
	if (!json_is_string(listen)) {
		svc_error_set(err, SVC_EGENERIC, "'listen' must be a string");
		goto done;
	}
	if (svc_addr_parse(&q->listen, json_string_value(listen), false, err))
		goto done;
	if (service && !json_is_string(service)) {
		svc_error_set(err, SVC_EGENERIC, "'service' must be a string");
		goto done;
	}
	q->service = svc_strdup(service ? json_string_value(service) : "");
	if (!json_is_array(backends)) {
		svc_error_set(err, SVC_EGENERIC, "'backends' must be an array of addresses");
		goto done;
	}
	if (drain) {
		if (!json_is_integer(drain) || json_integer_value(drain) < 0 ||
		    json_integer_value(drain) > INT64_C(1) << 40) {
			svc_error_set(err, SVC_EGENERIC,
				      "'drain_timeout_ms' must be a non-negative integer");
			goto done;
		}
		q->drain_timeout_ms = json_integer_value(drain);
	}
	q->backends = svc_calloc(json_array_size(backends) + 1, sizeof(*q->backends));
	for (i = 0; i < json_array_size(backends); i++) {
		const json_t *b = json_array_get(backends, i);
		struct svc_addr a;
		bool dup = false;

		if (!json_is_string(b)) {
			svc_error_set(err, SVC_EGENERIC, "'backends' must be an array of addresses");
			goto done;
		}
		if (svc_addr_parse(&a, json_string_value(b), false, err))
			goto done;
		if (backend_is_listener(&q->listen, &a)) {
			/* One client would loop until it filled the router. */
			svc_error_set(err, SVC_EGENERIC,
				      "backend '%s' is the route's own listen address '%s'",
				      a.text, q->listen.text);
			goto done;
		}
		for (size_t j = 0; j < q->nbackends; j++)
			dup = dup || !strcmp(q->backends[j].text, a.text);
		if (!dup)
			q->backends[q->nbackends++] = a;
	}
	rc = 0;
done:
	if (rc)
		router_set_req_release(q);
	return rc;
}

/* Backends that left the set: restart connects, drain open connections. */
static void backend_retire(struct router *r, struct backend *b, int64_t drain_ms)
{
	struct conn *c = b->conn_head;

	b->pins++;
	while (c) {
		struct conn *next = c->bnext;
		if (c->state == CONN_CONNECTING) {
			c->tries = 0;
			(void)router_conn_retry(r, c);
		} else if (drain_ms == 0) {
			router_conn_close(r, c);
		} else if (!c->drain_deadline) {
			c->drain_deadline = r->now + drain_ms;
			router_conn_timer_update(r, c);
		}
		c = next;
	}
	b->pins--;
}

/* Apply q to the in-memory table (the listener, if new, is already open). */
void router_route_apply(struct router *r, struct route *rt, struct set_req *q)
{
	struct backend **active = svc_calloc(q->nbackends + 1, sizeof(*active));
	struct backend *b;

	free(rt->service);
	rt->service = q->service;
	q->service = NULL;
	rt->drain_timeout_ms = q->drain_timeout_ms;
	for (b = rt->backends; b; b = b->next)
		b->active = false;
	for (size_t i = 0; i < q->nbackends; i++) {
		b = backend_find(rt, q->backends[i].text);
		if (!b) {
			b = svc_calloc(1, sizeof(*b));
			b->addr = q->backends[i];
			b->route = rt;
			b->next = rt->backends;
			rt->backends = b;
		} else {
			/* Back in the set: its connections stop draining. */
			for (struct conn *c = b->conn_head; c; c = c->bnext)
				c->drain_deadline = 0;
		}
		b->active = true;
		active[i] = b;
	}
	free(rt->active);
	rt->active = active;
	rt->nactive = q->nbackends;
	if (rt->nactive == 0)
		router_route_close_listener(r, rt);
	/* Pin every backend while retiring: closing a connection runs
	 * route_gc, which must not free what this loop walks. */
	for (b = rt->backends; b; b = b->next)
		b->pins++;
	for (b = rt->backends; b; b = b->next)
		if (!b->active)
			backend_retire(r, b, rt->drain_timeout_ms);
	for (b = rt->backends; b; b = b->next)
		b->pins--;
	router_route_gc(r, rt);   /* may free rt */
	router_update_route_limit(r);
}

/* ---- start-up and the loop ---- */

/* The saved table's routes (borrowed from root), or an error naming path. */
static int table_routes(json_t **out, json_t *root, const char *path, struct svc_error *err)
{
	json_t *routes = json_object_get(root, "routes");

	*out = NULL;
	if (!json_is_object(root) || !json_is_array(routes))
		return svc_error_set(err, SVC_EGENERIC,
				     "%s:1:1: invalid routing table: 'routes' must be an array", path);
	*out = routes;
	return 0;
}

static int table_route_parse(struct set_req *q, json_t *routes, size_t i, const char *path,
			     struct svc_error *err)
{
	struct svc_error e = { 0 };

	if (router_set_req_parse(q, json_array_get(routes, i), &e))
		return svc_error_set(err, SVC_EGENERIC, "%s: invalid route %zu: %s", path,
				     i + 1, e.message);
	return 0;
}

int svc_router_table_check(const char *buf, size_t len, const char *path,
			   struct svc_error *err)
{
	json_t *root, *routes = NULL;
	int rc;

	if ((rc = svc_json_parse_buffer(&root, buf, len, 0, path, "routing table", SVC_EGENERIC,
					err)))
		return rc;
	rc = table_routes(&routes, root, path, err);
	for (size_t i = 0; !rc && i < json_array_size(routes); i++) {
		struct set_req q;
		if (!(rc = table_route_parse(&q, routes, i, path, err)))
			router_set_req_release(&q);
	}
	json_decref(root);
	return rc;
}

/*
 * Check every route of root's table, then put them all in force (a table
 * is taken whole or not at all). how: "restored" or "rebuilt", for the log.
 */
static int table_load(struct router *r, json_t *root, const char *path, const char *how,
		      struct svc_error *err)
{
	json_t *routes;
	struct set_req *qs;
	size_t n, i;
	int rc;

	if ((rc = table_routes(&routes, root, path, err)))
		return rc;
	if (json_integer_value(json_object_get(root, "epoch")) > 0)
		r->epoch = (int64_t)json_integer_value(json_object_get(root, "epoch"));
	n = json_array_size(routes);
	qs = svc_calloc(n + 1, sizeof(*qs));
	for (i = 0; i < n; i++)
		if ((rc = table_route_parse(&qs[i], routes, i, path, err)))
			break;
	for (size_t k = 0; k < n; k++) {
		struct route *rt;

		if (rc || !qs[k].nbackends || router_route_find(r, qs[k].listen.text)) {
			router_set_req_release(&qs[k]);
			continue;
		}
		rt = svc_calloc(1, sizeof(*rt));
		rt->obj.kind = OBJ_LISTENER;
		rt->listen = qs[k].listen;
		rt->lfd = -1;
		rt->next = r->routes;
		r->routes = rt;
		router_route_apply(r, rt, &qs[k]);
		svc_daemon_log(ROUTER_WHO, "%s route %s (%s) with %zu backend(s)", how,
			       rt->listen.text, rt->service, rt->nactive);
		router_set_req_release(&qs[k]);
	}
	free(qs);
	return rc;
}

/*
 * routes.json is there but is not a routing table: keep it aside as
 * routes.json.corrupt, take the table the rebuild hook makes from the
 * services' state and the runtime, and save it.
 */
static int table_rebuild(struct router *r, const struct svc_error *why, struct svc_error *err)
{
	char *aside = svc_strfmt("%s.corrupt", r->routes_path);
	char *text = NULL;
	json_t *root = NULL;
	struct svc_error e;
	int rc;

	svc_error_clear(&e);
	svc_daemon_log(ROUTER_WHO, "%s; keeping it as '%s' and rebuilding the table from "
		       "the services' state", why->message, aside);
	if (rename(r->routes_path, aside)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot rename '%s' to '%s'",
					 r->routes_path, aside);
		goto done;
	}
	if ((rc = r->opts.rebuild(r->opts.rebuild_arg, &text, &e))) {
		svc_error_set(err, rc, "%s; cannot rebuild it: %s", why->message, e.message);
		goto done;
	}
	if ((rc = svc_json_parse_buffer(&root, text, strlen(text), 0, "(rebuilt table)",
					"routing table", SVC_EGENERIC, err)) ||
	    (rc = table_load(r, root, "(rebuilt table)", "rebuilt", err)))
		goto done;
	if ((rc = router_table_save(r, NULL, err)))
		goto done;
	svc_daemon_log(ROUTER_WHO, "saved the rebuilt table to '%s'", r->routes_path);
done:
	json_decref(root);
	free(text);
	free(aside);
	return rc;
}

int router_load_routes(struct router *r, struct svc_error *err)
{
	struct svc_error e;
	json_t *root = NULL;
	bool bad_content = false;
	int rc;

	svc_error_clear(&e);
	rc = svc_json_file_read(&root, r->routes_path, ROUTES_MAX_BYTES, &e);
	if (rc == SVC_ENOTFOUND)
		return 0;
	if (rc && e.line) {
		struct svc_error parse = e;
		svc_error_set(&e, rc, "%s (invalid routing table)", parse.message);
		bad_content = true;
	} else if (!rc && (rc = table_load(r, root, r->routes_path, "restored", &e))) {
		bad_content = true;
	}
	json_decref(root);
	if (!rc)
		return 0;
	if (bad_content && r->opts.rebuild)
		return table_rebuild(r, &e, err);
	return svc_error_set(err, rc, "%s", e.message);
}

void router_retry_listeners(struct router *r)
{
	for (struct route *rt = r->routes; rt; rt = rt->next) {
		int fd;

		if (rt->lfd >= 0 || !rt->nactive || rt->retry_at > r->now)
			continue;
		fd = router_listen_on(&rt->listen);
		if (fd >= 0 && router_route_attach_listener(r, rt, fd) == 0) {
			svc_daemon_log(ROUTER_WHO, "listening on %s (%s)", rt->listen.text, rt->service);
			continue;
		}
		if (!rt->listen_error || strcmp(rt->listen_error, strerror(errno))) {
			svc_daemon_log(ROUTER_WHO, "cannot listen on %s: %s; retrying every second",
				       rt->listen.text, strerror(errno));
			free(rt->listen_error);
			rt->listen_error = svc_strdup(strerror(errno));
		}
		rt->retry_at = r->now + LISTEN_RETRY_MS;
	}
}
