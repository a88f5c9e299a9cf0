/*
 * router/tcp.c - the router's proxied connections: per-direction buffers
 * from a small pool, the timer heap, the connection limits (overall and
 * per route: listeners paused at either), accept, connect with failover
 * to the next backend, moving bytes both ways with backpressure, resets
 * passed on, and timeouts. (Why it looks the way it does: see loop.c.)
 */
#include "router/internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "router/client.h"

/* ---- buffers ---- */

static struct buf *buf_get(struct router *r)
{
	struct buf *b = r->pool;

	if (b) {
		r->pool = b->next_free;
		r->pool_len--;
	} else {
		b = malloc(sizeof(*b) + r->opts.buf_size);
		if (!b)
			return NULL;
	}
	b->next_free = NULL;
	b->off = b->len = 0;
	return b;
}

static void buf_put(struct router *r, struct buf *b)
{
	if (!b)
		return;
	if (r->pool_len < POOL_MAX) {
		b->next_free = r->pool;
		r->pool = b;
		r->pool_len++;
	} else {
		free(b);
	}
}

/* ---- timer heap ---- */

static void heap_set(struct router *r, size_t i, struct conn *c)
{
	r->heap[i] = c;
	c->heap_idx = i;
}

static void heap_up(struct router *r, size_t i)
{
	struct conn *c = r->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (r->heap[p]->timer_at <= c->timer_at)
			break;
		heap_set(r, i, r->heap[p]);
		i = p;
	}
	heap_set(r, i, c);
}

static void heap_down(struct router *r, size_t i)
{
	struct conn *c = r->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		int64_t best = c->timer_at;
		if (l < r->heap_len && r->heap[l]->timer_at < best) {
			m = l;
			best = r->heap[l]->timer_at;
		}
		if (l + 1 < r->heap_len && r->heap[l + 1]->timer_at < best)
			m = l + 1;
		if (m == i)
			break;
		heap_set(r, i, r->heap[m]);
		i = m;
	}
	heap_set(r, i, c);
}

static void heap_push(struct router *r, struct conn *c)
{
	if (r->heap_len == r->heap_alloc) {
		r->heap_alloc = r->heap_alloc ? r->heap_alloc * 2 : 1024;
		r->heap = svc_realloc(r->heap, r->heap_alloc, sizeof(*r->heap));
	}
	heap_set(r, r->heap_len++, c);
	heap_up(r, c->heap_idx);
}

static void heap_remove(struct router *r, struct conn *c)
{
	size_t i = c->heap_idx;
	struct conn *last = r->heap[--r->heap_len];

	if (i == r->heap_len)
		return;
	heap_set(r, i, last);
	heap_up(r, i);
	heap_down(r, last->heap_idx);
}

/* Re-key c to at (earlier or later). */
static void heap_rekey(struct router *r, struct conn *c, int64_t at)
{
	c->timer_at = at;
	heap_up(r, c->heap_idx);
	heap_down(r, c->heap_idx);
}

/* What a connection's deadline is for. */
enum conn_timer { TIMER_CONNECT, TIMER_IDLE, TIMER_FIRST_BYTE, TIMER_DRAIN, TIMER_FIN };

/*
 * The earliest deadline of c, and in *why (when not NULL) what it is for;
 * on a tie the one that closes wins over a connect retry. After the
 * client's FIN the connection lives at most fin_timeout past the FIN or
 * past the last bytes sent to the client, whichever is later: a client
 * that closed frees its slot whatever the backend does (a fully closed
 * client answers any later byte with a reset), and a half-closed one still
 * gets an answer that keeps coming.
 */
static int64_t conn_deadline(const struct router *r, const struct conn *c,
			     enum conn_timer *why)
{
	enum conn_timer w;
	int64_t d;

	if (c->state == CONN_CONNECTING) {
		d = c->connect_deadline;
		w = TIMER_CONNECT;
	} else {
		d = c->last_active + r->opts.idle_timeout_ms;
		w = TIMER_IDLE;
		if (r->opts.first_byte_timeout_ms > 0 && !c->be_spoke &&
		    c->be_open_at + r->opts.first_byte_timeout_ms <= d) {
			d = c->be_open_at + r->opts.first_byte_timeout_ms;
			w = TIMER_FIRST_BYTE;
		}
	}
	if (c->drain_deadline && c->drain_deadline <= d) {
		d = c->drain_deadline;
		w = TIMER_DRAIN;
	}
	if (c->fin_at) {
		int64_t since = c->cl_sent_at > c->fin_at ? c->cl_sent_at : c->fin_at;
		if (since + r->opts.fin_timeout_ms <= d) {
			d = since + r->opts.fin_timeout_ms;
			w = TIMER_FIN;
		}
	}
	if (why)
		*why = w;
	return d;
}

/* Keys may be early (re-keyed when they fall due) but never late. */
void router_conn_timer_update(struct router *r, struct conn *c)
{
	int64_t d = conn_deadline(r, c, NULL);

	if (d < c->timer_at)
		heap_rekey(r, c, d);
}

/* The client's FIN was seen: from now on fin_timeout bounds c. */
static void conn_client_fin(struct router *r, struct conn *c)
{
	if (c->fin_at)
		return;
	c->fin_at = r->now;
	router_conn_timer_update(r, c);
}

/* ---- small socket helpers ---- */

int router_ep_add(struct router *r, int fd, uint32_t events, struct obj *o)
{
	struct epoll_event ev = { .events = events, .data.ptr = o };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int ep_mod(struct router *r, int fd, uint32_t events, struct obj *o)
{
	struct epoll_event ev = { .events = events, .data.ptr = o };

	return epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Make the coming close() of h send a reset (SO_LINGER 0), not a FIN. */
static void half_set_reset(struct half *h)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (h->fd >= 0)
		setsockopt(h->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* ---- limits: listeners paused at max_conns and at each route's limit ---- */

static long route_limit(const struct router *r)
{
	return r->route_limit > 0 ? r->route_limit : r->opts.max_conns;
}

bool router_route_want_pause(const struct router *r, const struct route *rt)
{
	return r->paused || r->emfile_until > 0 || rt->nconns >= route_limit(r);
}

void router_route_update_pause(struct router *r, struct route *rt)
{
	bool want = router_route_want_pause(r, rt);

	if (rt->lfd >= 0 && want != rt->paused &&
	    ep_mod(r, rt->lfd, want ? 0 : EPOLLIN, &rt->obj) == 0)
		rt->paused = want;
}

void router_update_pause(struct router *r)
{
	bool want = r->nconns >= r->opts.max_conns || r->emfile_until > 0;

	if (want != r->paused) {
		r->paused = want;
		for (struct route *rt = r->routes; rt; rt = rt->next)
			router_route_update_pause(r, rt);
	}
}

/*
 * Recompute the per-route limit after routes came or went: the option when
 * set, else an equal share of max_conns among the routes with backends, so
 * that one route whose backend hangs cannot starve the others.
 */
void router_update_route_limit(struct router *r)
{
	long routed = 0, limit = r->opts.max_conns_per_route;

	for (struct route *rt = r->routes; rt; rt = rt->next)
		routed += rt->nactive > 0;
	if (limit <= 0)
		limit = r->opts.max_conns / (routed > 0 ? routed : 1);
	r->route_limit = limit > 0 ? limit : 1;
	for (struct route *rt = r->routes; rt; rt = rt->next)
		router_route_update_pause(r, rt);
}

/* ---- connections ---- */

static void conn_detach_backend(struct router *r, struct conn *c)
{
	struct backend *b = c->backend;

	if (c->be.fd >= 0)
		close(c->be.fd);
	c->be.fd = -1;
	if (!b)
		return;
	if (c->bprev)
		c->bprev->bnext = c->bnext;
	else
		b->conn_head = c->bnext;
	if (c->bnext)
		c->bnext->bprev = c->bprev;
	c->bprev = c->bnext = NULL;
	c->backend = NULL;
	b->conns--;
	(void)r;
}

void router_conn_close(struct router *r, struct conn *c)
{
	struct route *rt = c->route;

	if (c->closed)
		return;
	c->closed = true;
	heap_remove(r, c);
	conn_detach_backend(r, c);
	if (c->cl.fd >= 0)
		close(c->cl.fd);
	c->cl.fd = -1;
	buf_put(r, c->to_be);
	buf_put(r, c->to_cl);
	c->to_be = c->to_cl = NULL;
	r->nconns--;
	rt->nconns--;
	router_route_update_pause(r, rt);
	/* Freed after this batch of events: one may still name c. */
	c->bnext = r->dead;
	r->dead = c;
	router_route_gc(r, rt);
	router_update_pause(r);
}

static int conn_pump(struct router *r, struct conn *c);

/*
 * Try the route's current backends round-robin, starting at the
 * connection's base, each at most once. Returns 0 when an attempt is under
 * way or connected, -1 when none is left (the caller closes c).
 */
static int conn_connect_next(struct router *r, struct conn *c)
{
	struct route *rt = c->route;

	while (c->tries < rt->nactive) {
		struct backend *b = rt->active[(c->rr_base + c->tries) % rt->nactive];
		int fd, rc;

		c->tries++;
		fd = socket(b->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		set_nodelay(fd);
		rc = connect(fd, (const struct sockaddr *)&b->addr.ss, b->addr.len);
		if (rc && errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		c->be = (struct half){ .obj.kind = OBJ_BACKEND, .fd = fd };
		if (router_ep_add(r, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->be.obj)) {
			close(fd);
			c->be.fd = -1;
			return -1;
		}
		c->backend = b;
		b->conns++;
		c->bprev = NULL;
		c->bnext = b->conn_head;
		if (b->conn_head)
			b->conn_head->bprev = c;
		b->conn_head = c;
		c->drain_deadline = 0;
		c->be_spoke = false;
		if (rc == 0) {
			c->state = CONN_OPEN;
			c->be_open_at = r->now;
			c->be.can_write = true;
			c->cl.can_read = true;
			c->last_active = r->now;
			router_conn_timer_update(r, c);
		} else {
			c->state = CONN_CONNECTING;
			c->connect_deadline = r->now + r->opts.connect_timeout_ms;
			heap_rekey(r, c, conn_deadline(r, c, NULL));
		}
		return 0;
	}
	return -1;
}

/* The current attempt failed: try the next backend or close. Returns -1
 * when c was closed (and freed). */
int router_conn_retry(struct router *r, struct conn *c)
{
	conn_detach_backend(r, c);
	if (conn_connect_next(r, c)) {
		router_conn_close(r, c);
		return -1;
	}
	if (c->state == CONN_OPEN)
		return conn_pump(r, c);
	return 0;
}

ssize_t router_sock_write(int fd, const char *p, size_t n)
{
	ssize_t w;

	do
		w = send(fd, p, n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w;
}

ssize_t router_sock_read(int fd, char *p, size_t n)
{
	ssize_t got;

	do
		got = recv(fd, p, n, 0);
	while (got < 0 && errno == EINTR);
	return got;
}

/*
 * Move bytes from src to dst through *pb. Returns 1 when anything moved,
 * 0 when nothing could, -1 on a fatal error, with *failed the side whose
 * socket failed (NULL: the router's own, out of memory).
 */
static int transfer(struct router *r, struct conn *c, struct half *src,
		    struct half *dst, struct buf **pb, struct half **failed)
{
	size_t cap = r->opts.buf_size;
	int moved = 0;

	/* Flush what is pending toward dst. */
	while (*pb && dst->can_write) {
		struct buf *b = *pb;
		ssize_t w = router_sock_write(dst->fd, b->data + b->off, b->len);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				dst->can_write = false;
				break;
			}
			*failed = dst;
			return -1;
		}
		moved = 1;
		if (dst == &c->cl)
			c->cl_sent_at = r->now;
		b->off += (size_t)w;
		b->len -= (size_t)w;
		if (b->len == 0) {
			buf_put(r, b);
			*pb = NULL;
		} else {
			dst->can_write = false;   /* short write: the send buffer is full */
		}
	}

	/* Read more from src while there is room toward dst. */
	while (src->can_read && !src->eof) {
		struct buf *b = *pb;
		ssize_t got;
		size_t want;

		if (!b && dst->can_write) {
			/* The fast path: straight through the scratch buffer. */
			got = router_sock_read(src->fd, r->scratch, cap);
			if (got > 0) {
				ssize_t w = router_sock_write(dst->fd, r->scratch, (size_t)got);
				if (w < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK) {
						*failed = dst;
						return -1;
					}
					w = 0;
				}
				moved = 1;
				if (w > 0 && dst == &c->cl)
					c->cl_sent_at = r->now;
				if (w < got) {
					dst->can_write = false;
					b = buf_get(r);
					if (!b) {
						*failed = NULL;
						return -1;
					}
					memcpy(b->data, r->scratch + w, (size_t)(got - w));
					b->len = (size_t)(got - w);
					*pb = b;
				}
			}
			want = cap;
		} else {
			if (!b) {
				b = buf_get(r);
				if (!b) {
					*failed = NULL;
					return -1;
				}
				*pb = b;
			}
			if (b->off + b->len == cap && b->off > 0) {
				memmove(b->data, b->data + b->off, b->len);
				b->off = 0;
			}
			want = cap - b->off - b->len;
			if (want == 0)
				break;     /* full: backpressure until dst drains */
			got = router_sock_read(src->fd, b->data + b->off + b->len, want);
			if (got > 0) {
				b->len += (size_t)got;
				moved = 1;
			} else if (b->len == 0) {
				buf_put(r, b);
				*pb = NULL;
			}
		}
		if (got >= 0 && src == &c->be)
			c->be_spoke = true;
		if (got == 0) {
			src->eof = true;
			moved = 1;
			if (src == &c->cl)
				conn_client_fin(r, c);
			break;
		}
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				src->can_read = false;
				break;
			}
			*failed = src;
			return -1;
		}
		/* A short read emptied the receive queue: wait for the next
		 * edge, unless a FIN is known to be waiting behind the data. */
		if ((size_t)got < want && !src->rdhup) {
			src->can_read = false;
			break;
		}
	}

	/* Pass the FIN on once everything before it is delivered (not while
	 * failing: the other side is about to be reset instead). */
	if (src->eof && !*pb && !dst->shut_wr && !c->failing) {
		shutdown(dst->fd, SHUT_WR);
		dst->shut_wr = true;
		moved = 1;
	}
	if (moved)
		c->last_active = r->now;
	return moved;
}

/*
 * One side failed (an error or a reset from its peer; NULL: the router
 * itself): reset the other side too, so that its peer learns the stream
 * was cut, not ended (a clean EOF would pass a truncated answer off as
 * whole). What a failed backend sent before its reset is passed on first,
 * as far as the client takes it now. Closes c.
 */
static void conn_fail(struct router *r, struct conn *c, struct half *failed)
{
	struct half *ignored;

	c->failing = true;
	if (failed == &c->be && c->state == CONN_OPEN) {
		c->be.can_read = c->be.rdhup = true;
		(void)transfer(r, c, &c->be, &c->cl, &c->to_cl, &ignored);
	}
	if (failed != &c->cl)
		half_set_reset(&c->cl);
	if (failed != &c->be)
		half_set_reset(&c->be);
	router_conn_close(r, c);
}

/* Move what can be moved both ways. Returns -1 when c was closed. */
static int conn_pump(struct router *r, struct conn *c)
{
	for (int round = 0; round < 4; round++) {
		struct half *failed = NULL;
		int a = transfer(r, c, &c->cl, &c->be, &c->to_be, &failed);
		int b = a < 0 ? -1 : transfer(r, c, &c->be, &c->cl, &c->to_cl, &failed);
		if (a < 0 || b < 0) {
			conn_fail(r, c, failed);
			return -1;
		}
		if (c->cl.eof && c->be.eof && c->cl.shut_wr && c->be.shut_wr) {
			router_conn_close(r, c);
			return -1;
		}
		if (!a && !b)
			break;
	}
	return 0;
}

void router_on_half_event(struct router *r, struct half *h, uint32_t ev)
{
	struct conn *c = h->obj.kind == OBJ_CLIENT ? container_of(h, struct conn, cl)
						   : container_of(h, struct conn, be);

	if (c->closed)
		return;

	if (h->obj.kind == OBJ_BACKEND && c->state == CONN_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr ||
		    (ev & (EPOLLERR | EPOLLHUP))) {
			(void)router_conn_retry(r, c);
			return;
		}
		c->state = CONN_OPEN;
		c->be_open_at = r->now;
		c->last_active = r->now;
		router_conn_timer_update(r, c);
		c->be.can_write = true;
		c->cl.can_read = true;   /* an early request may be waiting */
		if (ev & EPOLLIN)
			c->be.can_read = true;
		(void)conn_pump(r, c);
		return;
	}
	if (ev & EPOLLERR) {
		conn_fail(r, c, h);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		h->can_read = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP)) {
		h->rdhup = true;
		if (h == &c->cl)
			conn_client_fin(r, c);
	}
	if (ev & (EPOLLOUT | EPOLLHUP))
		h->can_write = true;
	if (c->state == CONN_OPEN)
		(void)conn_pump(r, c);
}

void router_on_accept(struct router *r, struct route *rt)
{
	for (int i = 0; i < ACCEPT_BATCH && rt->lfd >= 0 && !r->paused &&
			rt->nconns < route_limit(r); i++) {
		struct conn *c;
		int fd = accept4(rt->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				svc_daemon_log(ROUTER_WHO,
					       "accept on %s: %s; pausing accepts for 100ms",
					       rt->listen.text, strerror(errno));
				r->emfile_until = r->now + 100;
				router_update_pause(r);
			}
			return;
		}
		if (rt->nactive == 0) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		set_nodelay(fd);
		c->cl = (struct half){ .obj.kind = OBJ_CLIENT, .fd = fd };
		c->be = (struct half){ .obj.kind = OBJ_BACKEND, .fd = -1 };
		c->route = rt;
		c->rr_base = rt->rr++;
		c->last_active = r->now;
		c->timer_at = r->now + r->opts.connect_timeout_ms;
		heap_push(r, c);
		r->nconns++;
		rt->nconns++;
		if (router_ep_add(r, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->cl.obj) ||
		    conn_connect_next(r, c)) {
			router_conn_close(r, c);
		} else if (c->state == CONN_OPEN) {
			(void)conn_pump(r, c);
		}
		router_update_pause(r);
		router_route_update_pause(r, rt);
	}
}

void router_run_timers(struct router *r)
{
	while (r->heap_len > 0 && r->heap[0]->timer_at <= r->now) {
		struct conn *c = r->heap[0];
		enum conn_timer why;
		int64_t d = conn_deadline(r, c, &why);

		if (d > r->now) {
			heap_rekey(r, c, d);
			continue;
		}
		switch (why) {
		case TIMER_CONNECT:
			if (router_conn_retry(r, c) == 0 && c->timer_at <= r->now)
				heap_rekey(r, c, conn_deadline(r, c, NULL));
			break;
		case TIMER_FIRST_BYTE:
			/* The client may have sent a request: tell it that no
			 * answer is coming, rather than end the stream cleanly. */
			half_set_reset(&c->cl);
			router_conn_close(r, c);
			break;
		case TIMER_IDLE:
		case TIMER_DRAIN:
		case TIMER_FIN:
			router_conn_close(r, c);
			break;
		}
	}
}
