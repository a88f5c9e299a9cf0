/*
 * router/loop.c - the router daemon: one thread, one epoll set, non-blocking
 * sockets everywhere, proxying TCP from each route's stable listen address
 * to the backends of the active release.
 *
 * Why it looks the way it does:
 * - Connection sockets are registered once, edge-triggered, for
 *   IN|OUT|RDHUP, and never modified: each side keeps "can read" / "can
 *   write" flags that events set and EAGAIN (or a short read/write) clears,
 *   and conn_pump() moves whatever it can. Backpressure needs no epoll_ctl:
 *   while the buffer toward a side is full we simply stop reading the other
 *   side, and the kernel's receive window does the rest.
 * - Bytes are read into one shared scratch buffer and written straight to
 *   the other side; only what the other side does not take at once is copied
 *   into a per-direction buffer (buf_size), taken from a small free list and
 *   given back as soon as it is drained. An idle connection owns no buffer,
 *   so 10,000 idle connections cost about the size of struct conn each.
 * - Timers: each connection sits once in a binary min-heap keyed by the
 *   earliest time it may need attention (connect deadline, idle deadline,
 *   drain deadline). Activity only updates last_active; when the heap top
 *   falls due the real deadline is recomputed and the entry pushed back if
 *   it moved (lazy re-keying), so busy connections cost no heap work.
 * - Route changes ("set") bind first, persist second (routes.json through
 *   svc_file_write_atomic), apply third, and reply last, so a reply of ok
 *   means the table is on disk and in force.
 * - Listeners are level-triggered; at max_conns they are paused (EPOLLIN
 *   off), leaving new connections in the kernel's backlog until a
 *   connection closes, as HAProxy does with maxconn.
 * - One router per state dir is enforced with flock() on
 *   STATE/router/router.lock, held for the daemon's lifetime (a router
 *   killed with SIGKILL releases it); a stale socket file is then unlinked.
 */
#include "router/router.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "router/client.h"
#include "util.h"

#define DEFAULT_MAX_CONNS 20000
#define DEFAULT_IDLE_TIMEOUT_MS (10 * 60 * 1000)
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_BUF_SIZE (16 * 1024)
#define DEFAULT_DRAIN_TIMEOUT_MS 30000

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
#define CTL_MAX_REQUEST (64 * 1024)
#define CTL_MAX_CONNS 64
#define CTL_TIMEOUT_MS 5000
#define LISTEN_RETRY_MS 1000
#define POOL_MAX 64
#define ROUTES_MAX_BYTES (16 * 1024 * 1024)
#define LOOP_MAX_WAIT_MS 1000

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

enum obj_kind { OBJ_LISTENER, OBJ_CTL_LISTENER, OBJ_CTL, OBJ_CLIENT, OBJ_BACKEND };

/* The head of everything registered in epoll (data.ptr points here). */
struct obj {
	enum obj_kind kind;
};

/* A direction's pending bytes: data[off, off+len). */
struct buf {
	struct buf *next_free;
	size_t off, len;
	char data[];
};

/* One socket of a proxied connection. */
struct half {
	struct obj obj;
	int fd;
	bool can_read, can_write;
	bool rdhup;    /* the peer's FIN was signalled: read to 0 */
	bool eof;      /* read returned 0 */
	bool shut_wr;  /* we sent our FIN */
};

struct route;

struct backend {
	struct svc_addr addr;
	struct route *route;
	bool active;            /* in the route's current set */
	long conns;             /* connections attached (connecting or open) */
	long pins;              /* temporary references while iterating */
	struct conn *conn_head; /* connections attached, doubly linked */
	struct backend *next;
};

struct route {
	struct obj obj;          /* OBJ_LISTENER */
	struct svc_addr listen;
	char *service;
	int64_t drain_timeout_ms;
	int lfd;                 /* -1 while not listening */
	bool paused;             /* EPOLLIN off because of max_conns */
	int64_t retry_at;        /* next listen attempt while lfd < 0 and routed */
	char *listen_error;      /* last listen failure, for status and logs */
	struct backend *backends;  /* every backend with connections or in the set */
	struct backend **active;   /* the current set, in order */
	size_t nactive;
	size_t rr;
	struct route *next;
};

enum conn_state { CONN_CONNECTING, CONN_OPEN };

struct conn {
	struct half cl, be;
	enum conn_state state;
	struct route *route;
	struct backend *backend;   /* NULL between attempts */
	size_t rr_base, tries;
	struct buf *to_be, *to_cl;
	int64_t last_active;
	int64_t connect_deadline;
	int64_t drain_deadline;    /* 0: none */
	int64_t timer_at;
	size_t heap_idx;
	struct conn *bprev, *bnext;
	bool closed;
};

struct ctl {
	struct obj obj;          /* OBJ_CTL */
	int fd;
	int64_t deadline;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	bool replied;
	struct ctl *next;
};

struct router {
	const char *state_dir;
	char *dir, *sock_path, *pid_path, *routes_path, *lock_path;
	struct svc_router_options opts;
	int epfd, ctl_fd, lock_fd;
	struct obj ctl_obj;
	bool sock_bound, pid_written;
	bool stop;
	int64_t now;             /* monotonic, refreshed each loop turn */
	int64_t started_ms;      /* wall clock */
	struct route *routes;
	struct ctl *ctls;
	size_t nctl;
	long nconns;
	bool paused;             /* listeners paused at max_conns */
	int64_t emfile_until;    /* listeners paused after EMFILE until then */
	struct conn **heap;
	size_t heap_len, heap_alloc;
	struct conn *dead;       /* closed this turn, freed at its end */
	char *scratch;
	struct buf *pool;
	size_t pool_len;
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* The name in the router's log lines (svc_daemon_log). */
#define ROUTER_WHO "router"

void svc_router_options_init(struct svc_router_options *opts)
{
	opts->max_conns = DEFAULT_MAX_CONNS;
	opts->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	opts->buf_size = DEFAULT_BUF_SIZE;
}

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

static int64_t conn_deadline(const struct router *r, const struct conn *c)
{
	int64_t d;

	if (c->state == CONN_CONNECTING)
		d = c->connect_deadline;
	else
		d = c->last_active + r->opts.idle_timeout_ms;
	if (c->drain_deadline && c->drain_deadline < d)
		d = c->drain_deadline;
	return d;
}

/* Keys may be early (re-keyed when they fall due) but never late. */
static void conn_timer_update(struct router *r, struct conn *c)
{
	int64_t d = conn_deadline(r, c);

	if (d < c->timer_at)
		heap_rekey(r, c, d);
}

/* ---- small socket helpers ---- */

static int ep_add(struct router *r, int fd, uint32_t events, struct obj *o)
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

/* ---- routes and backends ---- */

static struct route *route_find(struct router *r, const char *listen)
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

static void route_close_listener(struct router *r, struct route *rt)
{
	(void)r;
	if (rt->lfd >= 0)
		close(rt->lfd);    /* closing removes it from the epoll set */
	rt->lfd = -1;
	rt->paused = false;
}

/* Free backends that left the set and have no connections; free the route
 * when it has no backends at all. */
static void route_gc(struct router *r, struct route *rt)
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
	if (rt->backends || rt->nactive)
		return;
	for (struct route **pr = &r->routes; *pr; pr = &(*pr)->next) {
		if (*pr == rt) {
			*pr = rt->next;
			break;
		}
	}
	route_close_listener(r, rt);
	free(rt->active);
	free(rt->service);
	free(rt->listen_error);
	free(rt);
}

/* Open a listening socket for addr. Returns the fd or -1 with errno set. */
static int listen_on(const struct svc_addr *addr)
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

static int route_attach_listener(struct router *r, struct route *rt, int fd)
{
	rt->lfd = fd;
	rt->paused = r->paused || r->emfile_until > 0;
	if (ep_add(r, fd, rt->paused ? 0 : EPOLLIN, &rt->obj)) {
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

static void listeners_pause(struct router *r, bool pause)
{
	for (struct route *rt = r->routes; rt; rt = rt->next) {
		if (rt->lfd < 0 || rt->paused == pause)
			continue;
		if (ep_mod(r, rt->lfd, pause ? 0 : EPOLLIN, &rt->obj) == 0)
			rt->paused = pause;
	}
}

static void update_pause(struct router *r)
{
	bool want = r->nconns >= r->opts.max_conns || r->emfile_until > 0;

	if (want != r->paused) {
		r->paused = want;
		listeners_pause(r, want);
	}
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

static void conn_close(struct router *r, struct conn *c)
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
	/* Freed after this batch of events: one may still name c. */
	c->bnext = r->dead;
	r->dead = c;
	route_gc(r, rt);
	update_pause(r);
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
		if (ep_add(r, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->be.obj)) {
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
		if (rc == 0) {
			c->state = CONN_OPEN;
			c->be.can_write = true;
			c->cl.can_read = true;
			c->last_active = r->now;
			conn_timer_update(r, c);
		} else {
			c->state = CONN_CONNECTING;
			c->connect_deadline = r->now + r->opts.connect_timeout_ms;
			heap_rekey(r, c, c->connect_deadline);
		}
		return 0;
	}
	return -1;
}

/* The current attempt failed: try the next backend or close. Returns -1
 * when c was closed (and freed). */
static int conn_retry(struct router *r, struct conn *c)
{
	conn_detach_backend(r, c);
	if (conn_connect_next(r, c)) {
		conn_close(r, c);
		return -1;
	}
	if (c->state == CONN_OPEN)
		return conn_pump(r, c);
	return 0;
}

static ssize_t sock_write(int fd, const char *p, size_t n)
{
	ssize_t w;

	do
		w = send(fd, p, n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w;
}

static ssize_t sock_read(int fd, char *p, size_t n)
{
	ssize_t got;

	do
		got = recv(fd, p, n, 0);
	while (got < 0 && errno == EINTR);
	return got;
}

/*
 * Move bytes from src to dst through *pb. Returns 1 when anything moved,
 * 0 when nothing could, -1 on a fatal socket error.
 */
static int transfer(struct router *r, struct conn *c, struct half *src,
		    struct half *dst, struct buf **pb)
{
	size_t cap = r->opts.buf_size;
	int moved = 0;

	/* Flush what is pending toward dst. */
	while (*pb && dst->can_write) {
		struct buf *b = *pb;
		ssize_t w = sock_write(dst->fd, b->data + b->off, b->len);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				dst->can_write = false;
				break;
			}
			return -1;
		}
		moved = 1;
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
			got = sock_read(src->fd, r->scratch, cap);
			if (got > 0) {
				ssize_t w = sock_write(dst->fd, r->scratch, (size_t)got);
				if (w < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK)
						return -1;
					w = 0;
				}
				moved = 1;
				if (w < got) {
					dst->can_write = false;
					b = buf_get(r);
					if (!b)
						return -1;
					memcpy(b->data, r->scratch + w, (size_t)(got - w));
					b->len = (size_t)(got - w);
					*pb = b;
				}
			}
			want = cap;
		} else {
			if (!b) {
				b = buf_get(r);
				if (!b)
					return -1;
				*pb = b;
			}
			if (b->off + b->len == cap && b->off > 0) {
				memmove(b->data, b->data + b->off, b->len);
				b->off = 0;
			}
			want = cap - b->off - b->len;
			if (want == 0)
				break;     /* full: backpressure until dst drains */
			got = sock_read(src->fd, b->data + b->off + b->len, want);
			if (got > 0) {
				b->len += (size_t)got;
				moved = 1;
			} else if (b->len == 0) {
				buf_put(r, b);
				*pb = NULL;
			}
		}
		if (got == 0) {
			src->eof = true;
			moved = 1;
			break;
		}
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				src->can_read = false;
				break;
			}
			return -1;
		}
		/* A short read emptied the receive queue: wait for the next
		 * edge, unless a FIN is known to be waiting behind the data. */
		if ((size_t)got < want && !src->rdhup) {
			src->can_read = false;
			break;
		}
	}

	/* Pass the FIN on once everything before it is delivered. */
	if (src->eof && !*pb && !dst->shut_wr) {
		shutdown(dst->fd, SHUT_WR);
		dst->shut_wr = true;
		moved = 1;
	}
	if (moved)
		c->last_active = r->now;
	return moved;
}

/* Move what can be moved both ways. Returns -1 when c was closed. */
static int conn_pump(struct router *r, struct conn *c)
{
	for (int round = 0; round < 4; round++) {
		int a = transfer(r, c, &c->cl, &c->be, &c->to_be);
		int b = a < 0 ? -1 : transfer(r, c, &c->be, &c->cl, &c->to_cl);
		if (a < 0 || b < 0 ||
		    (c->cl.eof && c->be.eof && c->cl.shut_wr && c->be.shut_wr)) {
			conn_close(r, c);
			return -1;
		}
		if (!a && !b)
			break;
	}
	return 0;
}

static void on_half_event(struct router *r, struct half *h, uint32_t ev)
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
			(void)conn_retry(r, c);
			return;
		}
		c->state = CONN_OPEN;
		c->last_active = r->now;
		conn_timer_update(r, c);
		c->be.can_write = true;
		c->cl.can_read = true;   /* an early request may be waiting */
		if (ev & EPOLLIN)
			c->be.can_read = true;
		(void)conn_pump(r, c);
		return;
	}
	if (ev & EPOLLERR) {
		conn_close(r, c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		h->can_read = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		h->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLHUP))
		h->can_write = true;
	if (c->state == CONN_OPEN)
		(void)conn_pump(r, c);
}

static void on_accept(struct router *r, struct route *rt)
{
	for (int i = 0; i < ACCEPT_BATCH && rt->lfd >= 0 && !r->paused; i++) {
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
				update_pause(r);
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
		if (ep_add(r, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->cl.obj) ||
		    conn_connect_next(r, c)) {
			conn_close(r, c);
		} else if (c->state == CONN_OPEN) {
			(void)conn_pump(r, c);
		}
		update_pause(r);
	}
}

static void run_timers(struct router *r)
{
	while (r->heap_len > 0 && r->heap[0]->timer_at <= r->now) {
		struct conn *c = r->heap[0];
		int64_t d = conn_deadline(r, c);

		if (d > r->now) {
			heap_rekey(r, c, d);
			continue;
		}
		if (c->state == CONN_CONNECTING &&
		    !(c->drain_deadline && c->drain_deadline <= r->now)) {
			if (conn_retry(r, c) == 0 && c->timer_at <= r->now)
				heap_rekey(r, c, conn_deadline(r, c));
		} else {
			conn_close(r, c);
		}
	}
}

/* ---- the routing table on disk ---- */

struct set_req {
	struct svc_addr listen;
	char *service;
	struct svc_addr *backends;
	size_t nbackends;
	int64_t drain_timeout_ms;
};

static void set_req_release(struct set_req *q)
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
	return json_pack("{s:i, s:o}", "version", 1, "routes", routes);
}

static int table_save(struct router *r, const struct set_req *chg, struct svc_error *err)
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

/*
 * Parse a route object (from a request or from routes.json) into q.
 * Returns 0 or SVC_EGENERIC with a reason in err.
 */
static int set_req_parse(struct set_req *q, const json_t *o, struct svc_error *err)
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
		for (size_t j = 0; j < q->nbackends; j++)
			dup = dup || !strcmp(q->backends[j].text, a.text);
		if (!dup)
			q->backends[q->nbackends++] = a;
	}
	rc = 0;
done:
	if (rc)
		set_req_release(q);
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
			(void)conn_retry(r, c);
		} else if (drain_ms == 0) {
			conn_close(r, c);
		} else if (!c->drain_deadline) {
			c->drain_deadline = r->now + drain_ms;
			conn_timer_update(r, c);
		}
		c = next;
	}
	b->pins--;
}

/* Apply q to the in-memory table (the listener, if new, is already open). */
static void route_apply(struct router *r, struct route *rt, struct set_req *q)
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
		route_close_listener(r, rt);
	/* Pin every backend while retiring: closing a connection runs
	 * route_gc, which must not free what this loop walks. */
	for (b = rt->backends; b; b = b->next)
		b->pins++;
	for (b = rt->backends; b; b = b->next)
		if (!b->active)
			backend_retire(r, b, rt->drain_timeout_ms);
	for (b = rt->backends; b; b = b->next)
		b->pins--;
	route_gc(r, rt);   /* may free rt */
}

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
	if (set_req_parse(&q, req, &err))
		return reply_error("invalid request: %s", err.message);
	rt = route_find(r, q.listen.text);
	if (q.nbackends && (!rt || !rt->nactive)) {
		/* A new route: bind first, so a failure changes nothing. */
		lfd = listen_on(&q.listen);
		if (lfd < 0) {
			reply = reply_error("cannot listen on %s: %s", q.listen.text,
					    strerror(errno));
			goto done;
		}
	}
	if (table_save(r, &q, &err)) {
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
			route_close_listener(r, rt);
		if (route_attach_listener(r, rt, lfd)) {
			/* Saved, so keep it and retry like a restored route. */
			svc_daemon_log(ROUTER_WHO, "cannot listen on %s: %s; retrying every second",
				       rt->listen.text, strerror(errno));
			rt->retry_at = r->now + LISTEN_RETRY_MS;
		}
		lfd = -1;
	}
	log_set(&q);
	route_apply(r, rt, &q);   /* may free rt */
	reply = json_pack("{s:b}", "ok", 1);
done:
	if (lfd >= 0)
		close(lfd);
	set_req_release(&q);
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

static void ctl_free(struct router *r, struct ctl *k)
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
		ssize_t w = sock_write(k->fd, k->out + k->out_off, k->out_len - k->out_off);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			break;
		}
		k->out_off += (size_t)w;
	}
	ctl_free(r, k);
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

static void on_ctl_event(struct router *r, struct ctl *k, uint32_t ev)
{
	if (k->replied) {
		if (ev & (EPOLLERR | EPOLLHUP))
			ctl_free(r, k);
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
		got = sock_read(k->fd, k->in + k->in_len, CTL_MAX_REQUEST - k->in_len);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			ctl_free(r, k);
			return;
		}
		if (got == 0) {
			if (k->in_len == 0) {
				ctl_free(r, k);
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

static void on_ctl_accept(struct router *r)
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
		if (!k->in || ep_add(r, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &k->obj)) {
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

	if (set_req_parse(q, json_array_get(routes, i), &e))
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
			set_req_release(&q);
	}
	json_decref(root);
	return rc;
}

static int load_routes(struct router *r, struct svc_error *err)
{
	struct svc_error e;
	json_t *root = NULL, *routes;
	int rc;

	svc_error_clear(&e);
	rc = svc_json_file_read(&root, r->routes_path, ROUTES_MAX_BYTES, &e);
	if (rc == SVC_ENOTFOUND)
		return 0;
	if (rc) {
		if (e.line)
			svc_error_set(err, rc, "%s (invalid routing table)", e.message);
		else
			svc_error_set(err, rc, "%s", e.message);
		goto done;
	}
	if ((rc = table_routes(&routes, root, r->routes_path, err)))
		goto done;
	rc = SVC_EGENERIC;
	for (size_t i = 0; i < json_array_size(routes); i++) {
		struct set_req q;
		struct route *rt;

		if (table_route_parse(&q, routes, i, r->routes_path, err))
			goto done;
		if (!q.nbackends || route_find(r, q.listen.text)) {
			set_req_release(&q);
			continue;
		}
		rt = svc_calloc(1, sizeof(*rt));
		rt->obj.kind = OBJ_LISTENER;
		rt->listen = q.listen;
		rt->lfd = -1;
		rt->next = r->routes;
		r->routes = rt;
		route_apply(r, rt, &q);
		svc_daemon_log(ROUTER_WHO, "restored route %s (%s) with %zu backend(s)",
			       rt->listen.text, rt->service, rt->nactive);
		set_req_release(&q);
	}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

static void retry_listeners(struct router *r)
{
	for (struct route *rt = r->routes; rt; rt = rt->next) {
		int fd;

		if (rt->lfd >= 0 || !rt->nactive || rt->retry_at > r->now)
			continue;
		fd = listen_on(&rt->listen);
		if (fd >= 0 && route_attach_listener(r, rt, fd) == 0) {
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

static int64_t next_wait(struct router *r)
{
	int64_t wait = LOOP_MAX_WAIT_MS;

	if (r->heap_len && r->heap[0]->timer_at - r->now < wait)
		wait = r->heap[0]->timer_at - r->now;
	for (struct ctl *k = r->ctls; k; k = k->next)
		if (k->deadline - r->now < wait)
			wait = k->deadline - r->now;
	for (struct route *rt = r->routes; rt; rt = rt->next)
		if (rt->lfd < 0 && rt->nactive && rt->retry_at - r->now < wait)
			wait = rt->retry_at - r->now;
	if (r->emfile_until && r->emfile_until - r->now < wait)
		wait = r->emfile_until - r->now;
	return wait < 0 ? 0 : wait;
}

static void expire_ctls(struct router *r)
{
	struct ctl *k = r->ctls;

	while (k) {
		struct ctl *next = k->next;
		if (k->deadline <= r->now)
			ctl_free(r, k);
		k = next;
	}
}

static void free_dead(struct router *r)
{
	while (r->dead) {
		struct conn *c = r->dead;
		r->dead = c->bnext;
		free(c);
	}
}

/* Bind the control socket, mode 0600 from the start (umask). */
static int bind_control(struct router *r, struct svc_error *err)
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
	if (ep_add(r, r->ctl_fd, EPOLLIN, &r->ctl_obj))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "epoll_ctl");
	return 0;
}

/* Take the per-state-dir lock; SVC_EUNAVAIL when another router holds it. */
static int take_lock(struct router *r, struct svc_error *err)
{
	r->lock_fd = open(r->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lock_fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'",
					   r->lock_path);
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB)) {
		if (errno == EWOULDBLOCK)
			return svc_error_set(err, SVC_EUNAVAIL, "a router already serves '%s'",
					     r->state_dir);
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot lock '%s'",
					   r->lock_path);
	}
	return 0;
}

/*
 * Raise the soft descriptor limit to the hard one, and lower max_conns to
 * what fits: each client connection needs two descriptors (client and
 * backend), plus a reserve for listeners and control connections.
 */
static void raise_nofile(struct router *r)
{
	struct rlimit rl;
	rlim_t fit;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur <= 256)
		return;
	fit = (rl.rlim_cur - 128) / 2;
	if ((rlim_t)r->opts.max_conns > fit) {
		svc_daemon_log(ROUTER_WHO,
			       "max_conns lowered from %d to %llu to fit %llu file descriptors",
			       r->opts.max_conns, (unsigned long long)fit,
			       (unsigned long long)rl.rlim_cur);
		r->opts.max_conns = (int)fit;
	}
}

static void dispatch(struct router *r, struct epoll_event *ev, int n)
{
	/* Control requests go last: a "set" may close or re-point connections
	 * that other events of this batch still name. */
	for (int i = 0; i < n; i++) {
		struct obj *o = ev[i].data.ptr;

		switch (o->kind) {
		case OBJ_CLIENT:
		case OBJ_BACKEND:
			on_half_event(r, (struct half *)o, ev[i].events);
			break;
		case OBJ_LISTENER:
			on_accept(r, container_of(o, struct route, obj));
			break;
		case OBJ_CTL_LISTENER:
		case OBJ_CTL:
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		struct obj *o = ev[i].data.ptr;

		if (o->kind == OBJ_CTL_LISTENER)
			on_ctl_accept(r);
	}
	for (int i = 0; i < n; i++) {
		struct obj *o = ev[i].data.ptr;

		/* A ctl freed earlier in this batch is never named again: each
		 * ctl appears at most once per batch and is freed only by its
		 * own event or by expiry outside the batch. */
		if (o->kind == OBJ_CTL)
			on_ctl_event(r, container_of(o, struct ctl, obj), ev[i].events);
	}
}

static void router_release(struct router *r)
{
	while (r->ctls)
		ctl_free(r, r->ctls);
	while (r->heap_len)
		conn_close(r, r->heap[0]);
	free_dead(r);
	while (r->routes) {
		struct route *rt = r->routes;
		r->routes = rt->next;
		route_close_listener(r, rt);
		while (rt->backends) {
			struct backend *b = rt->backends;
			rt->backends = b->next;
			free(b);
		}
		free(rt->active);
		free(rt->service);
		free(rt->listen_error);
		free(rt);
	}
	while (r->pool) {
		struct buf *b = r->pool;
		r->pool = b->next_free;
		free(b);
	}
	if (r->ctl_fd >= 0)
		close(r->ctl_fd);
	if (r->sock_bound)
		unlink(r->sock_path);
	if (r->pid_written)
		unlink(r->pid_path);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->heap);
	free(r->scratch);
	free(r->dir);
	free(r->sock_path);
	free(r->pid_path);
	free(r->routes_path);
	free(r->lock_path);
}

int svc_router_run(const char *state_dir, const struct svc_router_options *opts,
		   struct svc_error *err)
{
	struct router r;
	struct sigaction sa, old_term, old_int, old_pipe;
	sigset_t block, old_mask;
	struct epoll_event events[MAX_EVENTS];
	char *pid_text = NULL;
	int rc = SVC_EGENERIC;

	memset(&r, 0, sizeof(r));
	r.epfd = r.ctl_fd = r.lock_fd = -1;
	r.state_dir = state_dir;
	svc_router_options_init(&r.opts);
	if (opts) {
		if (opts->max_conns > 0)
			r.opts.max_conns = opts->max_conns;
		if (opts->idle_timeout_ms > 0)
			r.opts.idle_timeout_ms = opts->idle_timeout_ms;
		if (opts->connect_timeout_ms > 0)
			r.opts.connect_timeout_ms = opts->connect_timeout_ms;
		if (opts->buf_size >= 1024)
			r.opts.buf_size = opts->buf_size;
	}
	r.dir = svc_router_dir(state_dir);
	r.sock_path = svc_router_socket_path(state_dir);
	r.pid_path = svc_strfmt("%s/router.pid", r.dir);
	r.routes_path = svc_strfmt("%s/routes.json", r.dir);
	r.lock_path = svc_strfmt("%s/router.lock", r.dir);
	r.scratch = svc_calloc(1, r.opts.buf_size);
	r.now = svc_mono_ms();
	r.started_ms = svc_now_ms();

	/* Signals: blocked except inside epoll_pwait, so none is missed. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);
	stop_signal = 0;

	if (svc_mkdir_p(r.dir, 0700, err))
		goto done;
	if ((rc = take_lock(&r, err)))
		goto done;
	rc = SVC_EGENERIC;
	raise_nofile(&r);
	r.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r.epfd < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "epoll_create1");
		goto done;
	}
	if (load_routes(&r, err))
		goto done;
	retry_listeners(&r);
	if (bind_control(&r, err))
		goto done;
	pid_text = svc_strfmt("%ld\n", (long)getpid());
	if (svc_file_write_atomic(r.pid_path, pid_text, strlen(pid_text), 0600, err))
		goto done;
	r.pid_written = true;
	svc_daemon_log(ROUTER_WHO, "serving %s", r.sock_path);

	while (!r.stop && !stop_signal) {
		int n = epoll_pwait(r.epfd, events, MAX_EVENTS, (int)next_wait(&r), &old_mask);

		r.now = svc_mono_ms();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			svc_error_set_errno(err, SVC_EGENERIC, errno, "epoll_wait");
			goto done;
		}
		dispatch(&r, events, n);
		run_timers(&r);
		expire_ctls(&r);
		if (r.emfile_until && r.emfile_until <= r.now) {
			r.emfile_until = 0;
			update_pause(&r);
		}
		retry_listeners(&r);
		free_dead(&r);
	}
	if (stop_signal)
		svc_daemon_log(ROUTER_WHO, "stopping on signal %d", (int)stop_signal);
	rc = 0;
done:
	router_release(&r);
	free(pid_text);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	return rc;
}
