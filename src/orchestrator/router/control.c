/*
 * router/control.c - the control socket (STATE/router/router.sock): one
 * request line in, one reply line out per connection (the protocol is in
 * router/client.h), and the requests themselves: ping, set, status,
 * shutdown.
 */
#include "router/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "router/client.h"

/* ---- requests ---- */

static json_t *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *reply_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static void log_set(const struct set_req *q)
{
	char list[1024] = "";
	size_t used = 0;
	char drain[32];

	for (size_t i = 0; i < q->nbackends && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "",
				 q->backends[i].text);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (q->nbackends)
		svc_daemon_log(ROUTER_WHO, "route %s (%s) -> %s, drain %s", q->listen.text,
			       q->service, list,
			       svc_duration_format(drain, sizeof(drain), q->drain_timeout_ms));
	else
		svc_daemon_log(ROUTER_WHO, "route %s (%s) removed, drain %s", q->listen.text,
			       q->service,
			       svc_duration_format(drain, sizeof(drain), q->drain_timeout_ms));
}

static json_t *handle_set(struct router *r, const json_t *req)
{
	struct svc_error err;
	struct set_req q;
	struct route *rt;
	json_t *reply = NULL;
	int lfd = -1;

	svc_error_clear(&err);
	if (router_set_req_parse(&q, req, &err))
		return reply_error("invalid request: %s", err.message);
	rt = router_route_find(r, q.listen.text);
	if (q.nbackends && (!rt || !rt->nactive)) {
		/* A new route: bind first, so a failure changes nothing. */
		lfd = router_listen_on(&q.listen);
		if (lfd < 0) {
			reply = reply_error("cannot listen on %s: %s", q.listen.text,
					    strerror(errno));
			goto done;
		}
	}
	if (router_table_save(r, &q, &err)) {
		reply = reply_error("cannot save the routing table: %s", err.message);
		goto done;
	}
	if (!rt && !q.nbackends) {
		reply = json_pack("{s:b}", "ok", 1);   /* nothing to remove */
		goto done;
	}
	if (!rt) {
		rt = svc_calloc(1, sizeof(*rt));
		rt->obj.kind = OBJ_LISTENER;
		rt->listen = q.listen;
		rt->lfd = -1;
		rt->next = r->routes;
		r->routes = rt;
	}
	if (lfd >= 0) {
		if (rt->lfd >= 0)
			router_route_close_listener(r, rt);
		if (router_route_attach_listener(r, rt, lfd)) {
			/* Saved, so keep it and retry like a restored route. */
			svc_daemon_log(ROUTER_WHO, "cannot listen on %s: %s; retrying every second",
				       rt->listen.text, strerror(errno));
			rt->retry_at = r->now + LISTEN_RETRY_MS;
		}
		lfd = -1;
	}
	log_set(&q);
	router_route_apply(r, rt, &q);   /* may free rt */
	reply = json_pack("{s:b}", "ok", 1);
done:
	if (lfd >= 0)
		close(lfd);
	router_set_req_release(&q);
	return reply;
}

static json_t *handle_status(struct router *r)
{
	json_t *routes = json_array();

	for (struct route *rt = r->routes; rt; rt = rt->next) {
		json_t *bs = json_array();

		for (size_t i = 0; i < rt->nactive; i++)
			json_array_append_new(bs, json_pack("{s:s, s:b, s:I}",
				"address", rt->active[i]->addr.text, "active", 1,
				"connections", (json_int_t)rt->active[i]->conns));
		for (struct backend *b = rt->backends; b; b = b->next)
			if (!b->active)
				json_array_append_new(bs, json_pack("{s:s, s:b, s:I}",
					"address", b->addr.text, "active", 0,
					"connections", (json_int_t)b->conns));
		json_array_append_new(routes, json_pack("{s:s, s:s, s:I, s:b, s:o}",
			"listen", rt->listen.text, "service", rt->service ? rt->service : "",
			"drain_timeout_ms", (json_int_t)rt->drain_timeout_ms,
			"listening", rt->lfd >= 0, "backends", bs));
		if (rt->listen_error)
			json_object_set_new(json_array_get(routes, json_array_size(routes) - 1),
					    "listen_error", json_string(rt->listen_error));
	}
	return json_pack("{s:b, s:I, s:I, s:I, s:o}", "ok", 1,
			 "pid", (json_int_t)getpid(), "started_ms", (json_int_t)r->started_ms,
			 "connections", (json_int_t)r->nconns, "routes", routes);
}

static json_t *handle_request(struct router *r, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, 0, &jerr);
	json_t *reply = NULL;
	const char *op;

	if (!json_is_object(req)) {
		reply = reply_error("invalid request: %s", req ? "not an object" : jerr.text);
		goto done;
	}
	op = json_string_value(json_object_get(req, "op"));
	if (!op)
		reply = reply_error("invalid request: 'op' must be a string");
	else if (!strcmp(op, "ping"))
		reply = json_pack("{s:b, s:I}", "ok", 1, "pid", (json_int_t)getpid());
	else if (!strcmp(op, "set"))
		reply = handle_set(r, req);
	else if (!strcmp(op, "status"))
		reply = handle_status(r);
	else if (!strcmp(op, "shutdown")) {
		svc_daemon_log(ROUTER_WHO, "shutdown requested");
		r->stop = true;
		reply = json_pack("{s:b}", "ok", 1);
	} else
		reply = reply_error("unknown op '%s'", op);
done:
	json_decref(req);
	return reply;
}

/* ---- control connections ---- */

void router_ctl_free(struct router *r, struct ctl *k)
{
	for (struct ctl **pk = &r->ctls; *pk; pk = &(*pk)->next) {
		if (*pk == k) {
			*pk = k->next;
			break;
		}
	}
	r->nctl--;
	close(k->fd);
	free(k->in);
	free(k->out);
	free(k);
}

/* Write the pending reply. Returns -1 when k was freed. */
static int ctl_flush(struct router *r, struct ctl *k)
{
	while (k->out_off < k->out_len) {
		ssize_t w = router_sock_write(k->fd, k->out + k->out_off, k->out_len - k->out_off);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			break;
		}
		k->out_off += (size_t)w;
	}
	router_ctl_free(r, k);
	return -1;
}

static void ctl_reply(struct router *r, struct ctl *k, size_t line_len)
{
	json_t *reply = handle_request(r, k->in, line_len);
	char *text = reply ? json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(reply);
	k->replied = true;
	k->out = text ? svc_strfmt("%s\n", text)
		      : svc_strdup("{\"ok\":false,\"error\":\"cannot encode the reply\"}\n");
	free(text);
	k->out_len = strlen(k->out);
	k->out_off = 0;
	(void)ctl_flush(r, k);
}

void router_on_ctl_event(struct router *r, struct ctl *k, uint32_t ev)
{
	if (k->replied) {
		if (ev & (EPOLLERR | EPOLLHUP))
			router_ctl_free(r, k);
		else
			(void)ctl_flush(r, k);
		return;
	}
	for (;;) {
		char *nl;
		ssize_t got;

		if (k->in_len == CTL_MAX_REQUEST) {
			k->replied = true;
			k->out = svc_strdup("{\"ok\":false,\"error\":\"request too long\"}\n");
			k->out_len = strlen(k->out);
			(void)ctl_flush(r, k);
			return;
		}
		got = router_sock_read(k->fd, k->in + k->in_len, CTL_MAX_REQUEST - k->in_len);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			router_ctl_free(r, k);
			return;
		}
		if (got == 0) {
			if (k->in_len == 0) {
				router_ctl_free(r, k);
				return;
			}
			ctl_reply(r, k, k->in_len);   /* a last line without newline */
			return;
		}
		nl = memchr(k->in + k->in_len, '\n', (size_t)got);
		k->in_len += (size_t)got;
		if (nl) {
			ctl_reply(r, k, (size_t)(nl - k->in));
			return;
		}
	}
}

void router_on_ctl_accept(struct router *r)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct ctl *k;
		int fd = accept4(r->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (r->nctl >= CTL_MAX_CONNS) {
			close(fd);
			continue;
		}
		k = svc_calloc(1, sizeof(*k));
		k->obj.kind = OBJ_CTL;
		k->fd = fd;
		k->deadline = r->now + CTL_TIMEOUT_MS;
		k->in = malloc(CTL_MAX_REQUEST);
		if (!k->in || router_ep_add(r, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &k->obj)) {
			free(k->in);
			free(k);
			close(fd);
			continue;
		}
		k->next = r->ctls;
		r->ctls = k;
		r->nctl++;
	}
}

void router_expire_ctls(struct router *r)
{
	struct ctl *k = r->ctls;

	while (k) {
		struct ctl *next = k->next;
		if (k->deadline <= r->now)
			router_ctl_free(r, k);
		k = next;
	}
}

/* Bind the control socket, mode 0600 from the start (umask). */
int router_bind_control(struct router *r, struct svc_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int rc;

	if (strlen(r->sock_path) >= sizeof(sun.sun_path))
		return svc_error_set(err, SVC_EGENERIC, "socket path '%s' is too long",
				     r->sock_path);
	memcpy(sun.sun_path, r->sock_path, strlen(r->sock_path) + 1);
	r->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->ctl_fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "socket");
	if (unlink(r->sock_path) && errno != ENOENT)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove stale '%s'",
					   r->sock_path);
	old = umask(0177);
	rc = bind(r->ctl_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot bind '%s'",
					   r->sock_path);
	r->sock_bound = true;
	if (chmod(r->sock_path, 0600) || listen(r->ctl_fd, 64))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot listen on '%s'",
					   r->sock_path);
	r->ctl_obj.kind = OBJ_CTL_LISTENER;
	if (router_ep_add(r, r->ctl_fd, EPOLLIN, &r->ctl_obj))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "epoll_ctl");
	return 0;
}
