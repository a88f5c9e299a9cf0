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

json_t *router_reply_error(const char *fmt, ...)
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

json_t *router_handle_set(struct router *r, struct set_req *q, int lfd)
{
	struct svc_error err;
	struct route *rt;
	json_t *reply = NULL;
	int listen_errno = 0;

	svc_error_clear(&err);
	rt = router_route_find(r, q->listen.text);
	if (lfd >= 0) {
		/* bound already (a prepared change: peer.c) */
	} else if (q->nbackends && (!rt || !rt->nactive)) {
		/* A new route: bind first, so a failure changes nothing. */
		lfd = router_listen_on(&q->listen);
		if (lfd < 0) {
			reply = router_reply_error("cannot listen on %s: %s", q->listen.text,
					    strerror(errno));
			json_object_set_new(reply, "listening", json_false());
			goto done;
		}
	} else if (q->nbackends && rt->lfd < 0) {
		/*
		 * A route that could not listen (the address was taken while
		 * no router ran): try again now rather than at the next retry.
		 * A failure still applies the change, so the table follows the
		 * caller's records, but the reply says it is not listening.
		 */
		lfd = router_listen_on(&q->listen);
		if (lfd < 0)
			listen_errno = errno;
	}
	if (router_table_save(r, q, &err)) {
		reply = router_reply_error("cannot save the routing table: %s", err.message);
		goto done;
	}
	if (!rt && !q->nbackends) {
		reply = json_pack("{s:b}", "ok", 1);   /* nothing to remove */
		goto done;
	}
	if (!rt) {
		rt = svc_calloc(1, sizeof(*rt));
		rt->obj.kind = OBJ_LISTENER;
		rt->listen = q->listen;
		rt->lfd = -1;
		rt->next = r->routes;
		r->routes = rt;
	}
	if (lfd >= 0) {
		if (rt->lfd >= 0)
			router_route_close_listener(r, rt);
		if (router_route_attach_listener(r, rt, lfd)) {
			/* Saved, so keep it and retry like a restored route. */
			listen_errno = errno;
			rt->retry_at = r->now + LISTEN_RETRY_MS;
		} else {
			svc_daemon_log(ROUTER_WHO, "listening on %s (%s)", rt->listen.text,
				       q->service);
		}
		lfd = -1;
	}
	if (listen_errno) {
		svc_daemon_log(ROUTER_WHO, "cannot listen on %s: %s; retrying every second",
			       rt->listen.text, strerror(listen_errno));
		free(rt->listen_error);
		rt->listen_error = svc_strdup(strerror(listen_errno));
	}
	log_set(q);
	if (q->nbackends && rt->lfd < 0)
		reply = json_pack("{s:b, s:b, s:s}", "ok", 1, "listening", 0, "listen_error",
				  rt->listen_error ? rt->listen_error : "not listening");
	else
		reply = json_pack("{s:b, s:b}", "ok", 1, "listening", q->nbackends > 0);
	router_route_apply(r, rt, q);   /* may free rt */
done:
	if (lfd >= 0)
		close(lfd);
	return reply;
}

json_t *router_status_json(struct router *r)
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
		json_array_append_new(routes, json_pack("{s:s, s:s, s:I, s:b, s:I, s:I, s:o}",
			"listen", rt->listen.text, "service", rt->service ? rt->service : "",
			"drain_timeout_ms", (json_int_t)rt->drain_timeout_ms,
			"listening", rt->lfd >= 0, "connections", (json_int_t)rt->nconns,
			"max_conns", (json_int_t)(r->route_limit > 0 ? r->route_limit
								     : r->opts.max_conns),
			"backends", bs));
		if (rt->listen_error)
			json_object_set_new(json_array_get(routes, json_array_size(routes) - 1),
					    "listen_error", json_string(rt->listen_error));
	}
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:b, s:o}", "ok", 1,
			 "pid", (json_int_t)getpid(), "started_ms", (json_int_t)r->started_ms,
			 "connections", (json_int_t)r->nconns,
			 "max_conns", (json_int_t)r->opts.max_conns,
			 "supervised", r->opts.supervised, "routes", routes);
}

int router_request_parse(struct ctl_request *out, const char *line, size_t len,
			 struct svc_error *err)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, 0, &jerr);
	const char *op;
	int rc = SVC_EGENERIC;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(req)) {
		svc_error_set(err, SVC_EGENERIC, "invalid request: %s",
			      req ? "not an object" : jerr.text);
		goto done;
	}
	op = json_string_value(json_object_get(req, "op"));
	if (!op) {
		svc_error_set(err, SVC_EGENERIC, "invalid request: 'op' must be a string");
	} else if (!strcmp(op, "ping")) {
		out->op = CTL_PING;
		rc = 0;
	} else if (!strcmp(op, "status")) {
		out->op = CTL_STATUS;
		rc = 0;
	} else if (!strcmp(op, "shutdown")) {
		out->op = CTL_SHUTDOWN;
		rc = 0;
	} else if (!strcmp(op, "set")) {
		struct svc_error e;
		svc_error_clear(&e);
		out->op = CTL_SET;
		if (router_set_req_parse(&out->set, req, &e))
			svc_error_set(err, SVC_EGENERIC, "invalid request: %s", e.message);
		else
			rc = 0;
	} else {
		svc_error_set(err, SVC_EGENERIC, "unknown op '%.64s'", op);
	}
done:
	json_decref(req);
	return rc;
}

void router_request_release(struct ctl_request *q)
{
	if (q->op == CTL_SET)
		router_set_req_release(&q->set);
	memset(q, 0, sizeof(*q));
}

static json_t *handle_request(struct router *r, const char *line, size_t len)
{
	struct ctl_request q;
	struct svc_error err;
	json_t *reply = NULL;

	svc_error_clear(&err);
	if (router_request_parse(&q, line, len, &err))
		return router_reply_error("%s", err.message);
	switch (q.op) {
	case CTL_PING:
		reply = json_pack("{s:b, s:I}", "ok", 1, "pid", (json_int_t)getpid());
		break;
	case CTL_SET:
		reply = router_handle_set(r, &q.set, -1);
		break;
	case CTL_STATUS:
		reply = router_status_json(r);
		break;
	case CTL_SHUTDOWN:
		svc_daemon_log(ROUTER_WHO, "shutdown requested");
		r->stop = true;
		r->shutdown_requested = true;
		reply = json_pack("{s:b}", "ok", 1);
		break;
	}
	router_request_release(&q);
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
	if (k->evicted)
		r->nctl_evicted--;
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
	k->replied = true;
	if (k->peer) {
		k->out = router_peer_reply(r, k->in, line_len);
	} else {
		json_t *reply = handle_request(r, k->in, line_len);
		char *text = reply ? json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

		json_decref(reply);
		k->out = text ? svc_strfmt("%s\n", text)
			      : svc_strdup("{\"ok\":false,\"error\":\"cannot encode the reply\"}\n");
		free(text);
	}
	k->out_len = strlen(k->out);
	k->out_off = 0;
	(void)ctl_flush(r, k);
}

void router_on_ctl_event(struct router *r, struct ctl *k, uint32_t ev)
{
	if (k->evicted)
		return;
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

/* Only the router's own user (and root) may control it. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	return cred.uid == geteuid() || cred.uid == 0;
}

/*
 * Make room for a new control connection at CTL_MAX_CONNS: close the
 * oldest one that has not sent a whole request (clients send theirs at
 * once; one that sits idle is the one to go). False when every slot is
 * busy writing a reply.
 */
static bool ctl_evict_idle(struct router *r)
{
	struct ctl *oldest = NULL;

	for (struct ctl *k = r->ctls; k; k = k->next)   /* newest first */
		if (!k->replied && !k->evicted)
			oldest = k;
	if (!oldest)
		return false;
	/* Not freed here: an event of this batch may still name it (ctl
	 * events are handled after accepts); router_expire_ctls frees it. */
	oldest->evicted = true;
	oldest->deadline = 0;
	r->nctl_evicted++;
	return true;
}

void router_on_ctl_accept(struct router *r, struct ctl_listener *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct ctl *k;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		/* the peer channel authenticates each line instead (peer.c) */
		if ((l != &r->ctl_peer && !peer_allowed(fd)) ||
		    (r->nctl - r->nctl_evicted >= CTL_MAX_CONNS && !ctl_evict_idle(r))) {
			close(fd);
			continue;
		}
		k = svc_calloc(1, sizeof(*k));
		k->obj.kind = OBJ_CTL;
		k->fd = fd;
		k->peer = l == &r->ctl_peer;
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

int router_ctl_listen(struct router *r, struct ctl_listener *l, struct svc_error *err)
{
	if (listen(l->fd, 64))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot listen on a control socket");
	l->obj.kind = OBJ_CTL_LISTENER;
	if (router_ep_add(r, l->fd, EPOLLIN, &l->obj))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "epoll_ctl");
	return 0;
}

/*
 * Bind the abstract control socket. It is the one-router-per-state-dir
 * lock that no file deletion can break: SVC_EUNAVAIL when another router
 * holds the name. Called before anything else is touched.
 */
int router_bind_abstract(struct router *r, struct svc_error *err)
{
	struct sockaddr_un sun;
	socklen_t len;
	int rc;

	if ((rc = svc_router_abstract_addr(&sun, &len, r->state_dir, err)))
		return rc;
	r->ctl_abstract.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->ctl_abstract.fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "socket");
	if (bind(r->ctl_abstract.fd, (struct sockaddr *)&sun, len)) {
		if (errno == EADDRINUSE)
			return svc_error_set(err, SVC_EUNAVAIL, "a router already serves '%s'",
					     r->state_dir);
		return svc_error_set_errno(err, SVC_EGENERIC, errno,
					   "cannot bind the router's abstract socket");
	}
	return router_ctl_listen(r, &r->ctl_abstract, err);
}

/* Bind STATE/router/router.sock, mode 0600 from the start (umask). */
int router_bind_control(struct router *r, struct svc_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat sb;
	mode_t old;
	int rc;

	if (strlen(r->sock_path) >= sizeof(sun.sun_path))
		return svc_error_set(err, SVC_EGENERIC, "socket path '%s' is too long",
				     r->sock_path);
	memcpy(sun.sun_path, r->sock_path, strlen(r->sock_path) + 1);
	r->ctl_path.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->ctl_path.fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "socket");
	/* the lock is ours: whatever is there is a dead router's */
	if (unlink(r->sock_path) && errno != ENOENT)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove stale '%s'",
					   r->sock_path);
	old = umask(0177);
	rc = bind(r->ctl_path.fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot bind '%s'",
					   r->sock_path);
	r->sock_bound = true;
	if (chmod(r->sock_path, 0600) || lstat(r->sock_path, &sb))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot set up '%s'",
					   r->sock_path);
	r->sock_dev = sb.st_dev;
	r->sock_ino = sb.st_ino;
	return router_ctl_listen(r, &r->ctl_path, err);
}

/*
 * Once a second: when router.sock is gone (or is no longer ours) bind it
 * again, and write router.pid again when it is gone, so that clients and
 * tests find the router by its files whatever was deleted.
 */
void router_check_control(struct router *r)
{
	struct svc_error e;
	struct stat sb;

	if (r->now < r->files_check_at)
		return;
	r->files_check_at = r->now + FILES_CHECK_MS;
	svc_error_clear(&e);
	if (lstat(r->sock_path, &sb) || sb.st_dev != r->sock_dev || sb.st_ino != r->sock_ino) {
		if (r->ctl_path.fd >= 0)
			close(r->ctl_path.fd);
		r->ctl_path.fd = -1;
		r->sock_bound = false;
		if (svc_mkdir_p(r->dir, 0700, &e) || router_bind_control(r, &e))
			svc_daemon_log(ROUTER_WHO, "cannot bind '%s' again: %s", r->sock_path,
				       e.message);
		else
			svc_daemon_log(ROUTER_WHO, "'%s' was gone: bound it again", r->sock_path);
	}
	if (r->pid_written && access(r->pid_path, F_OK)) {
		svc_error_clear(&e);
		if (router_write_pid(r, &e) == 0)
			svc_daemon_log(ROUTER_WHO, "'%s' was gone: wrote it again", r->pid_path);
	}
}
