/*
 * router/internal.h - what the router daemon's files share: its objects
 * (routes, backends, connections, control connections, the router itself),
 * its limits, and the functions one file calls in another.
 *   loop.c     start-up, the lock, signals, the event loop, shutdown
 *   tcp.c      proxied connections: buffers, the timer heap, limits,
 *              accept, connect, moving bytes, resets, timeouts
 *   table.c    routes and backends, the routing table on disk, listeners
 *   control.c  the control socket: connections, requests, replies
 *   peer.c     the peer channel: authenticated requests over TCP and the
 *              two-phase switch (prepare, commit, abort)
 */
#ifndef SVC_ROUTER_INTERNAL_H
#define SVC_ROUTER_INTERNAL_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "router/router.h"
#include "util.h"

#define DEFAULT_MAX_CONNS 20000
#define DEFAULT_IDLE_TIMEOUT_MS (10 * 60 * 1000)
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_FIRST_BYTE_TIMEOUT_MS 0   /* off */
#define DEFAULT_FIN_TIMEOUT_MS 5000
#define DEFAULT_BUF_SIZE (16 * 1024)
#define DEFAULT_DRAIN_TIMEOUT_MS 30000

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64
#define CTL_MAX_REQUEST (64 * 1024)
#define CTL_MAX_CONNS 64
#define FILES_CHECK_MS 1000
#define CTL_TIMEOUT_MS 5000
#define LISTEN_RETRY_MS 1000
#define POOL_MAX 64
#define ROUTES_MAX_BYTES (16 * 1024 * 1024)
#define LOOP_MAX_WAIT_MS 1000

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
/* The name in the router's log lines (svc_daemon_log). */
#define ROUTER_WHO "router"

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
	bool paused;             /* EPOLLIN off: at max_conns or the route's limit */
	long nconns;             /* client connections accepted here, still open */
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
	int64_t be_open_at;        /* when the backend connection was established */
	bool be_spoke;             /* the backend has sent a byte (or its FIN) */
	int64_t drain_deadline;    /* 0: none */
	int64_t fin_at;            /* when the client's FIN was seen; 0: not yet */
	int64_t cl_sent_at;        /* when bytes last went to the client */
	int64_t timer_at;
	size_t heap_idx;
	struct conn *bprev, *bnext;
	bool failing;              /* one side failed: the other is reset */
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
	bool evicted;            /* closed for a newer one: freed after the batch */
	bool peer;               /* from the peer channel: authenticated lines (peer.c) */
	struct ctl *next;
};

/* A control socket the router accepts on: router.sock or the abstract one. */
struct ctl_listener {
	struct obj obj;          /* OBJ_CTL_LISTENER */
	int fd;
};

struct set_req {
	struct svc_addr listen;
	char *service;
	struct svc_addr *backends;
	size_t nbackends;
	int64_t drain_timeout_ms;
};

struct router {
	const char *state_dir;
	char *dir, *sock_path, *pid_path, *routes_path, *lock_path, *external_path;
	struct svc_router_options opts;
	int epfd, lock_fd;
	struct ctl_listener ctl_path, ctl_abstract, ctl_peer;
	/*
	 * The two-phase switch (peer.c): the epoch of the last committed
	 * table (saved in routes.json), the prepared change waiting for its
	 * commit (its listener already bound when the route is new), and the
	 * nonces of the last requests, so that none is taken twice.
	 */
	int64_t epoch;
	struct {
		bool set;
		int64_t epoch, expires;
		struct set_req q;
		int lfd;
	} pending;
	char (*nonces)[65];
	size_t nonce_next;
	dev_t sock_dev;          /* router.sock as bound: re-bound when it is gone */
	ino_t sock_ino;
	int64_t files_check_at;  /* next look at router.sock and router.pid */
	bool sock_bound, pid_written, external_written;
	bool stop;
	bool shutdown_requested; /* stop came from a "shutdown" request */
	int64_t now;             /* monotonic, refreshed each loop turn */
	int64_t started_ms;      /* wall clock */
	struct route *routes;
	struct ctl *ctls;
	size_t nctl, nctl_evicted;
	long nconns;
	long route_limit;        /* connections per route now; 0: max_conns */
	bool paused;             /* listeners paused at max_conns */
	int64_t emfile_until;    /* listeners paused after EMFILE until then */
	struct conn **heap;
	size_t heap_len, heap_alloc;
	struct conn *dead;       /* closed this turn, freed at its end */
	char *scratch;
	struct buf *pool;
	size_t pool_len;
};



/* tcp.c */
void router_conn_close(struct router *r, struct conn *c);
int router_conn_retry(struct router *r, struct conn *c);
void router_conn_timer_update(struct router *r, struct conn *c);
int router_ep_add(struct router *r, int fd, uint32_t events, struct obj *o);
void router_on_accept(struct router *r, struct route *rt);
void router_on_half_event(struct router *r, struct half *h, uint32_t ev);
void router_run_timers(struct router *r);
ssize_t router_sock_read(int fd, char *p, size_t n);
ssize_t router_sock_write(int fd, const char *p, size_t n);
void router_route_update_pause(struct router *r, struct route *rt);
bool router_route_want_pause(const struct router *r, const struct route *rt);
void router_update_pause(struct router *r);
void router_update_route_limit(struct router *r);

/* table.c */
int router_listen_on(const struct svc_addr *addr);
int router_load_routes(struct router *r, struct svc_error *err);
void router_retry_listeners(struct router *r);
void router_route_apply(struct router *r, struct route *rt, struct set_req *q);
int router_route_attach_listener(struct router *r, struct route *rt, int fd);
void router_route_close_listener(struct router *r, struct route *rt);
struct route *router_route_find(struct router *r, const char *listen);
void router_route_gc(struct router *r, struct route *rt);
int router_set_req_parse(struct set_req *q, const json_t *o, struct svc_error *err);
void router_set_req_release(struct set_req *q);
int router_table_save(struct router *r, const struct set_req *chg, struct svc_error *err);

/* control.c: {"ok":false,"error":MESSAGE} */
json_t *router_reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* control.c: what a "set" does, with the listener already bound (lfd >= 0) or not (-1) */
json_t *router_handle_set(struct router *r, struct set_req *q, int lfd);
/* The reply to "status" (client.h), on the control socket and the peer channel. */
json_t *router_status_json(struct router *r);

/* peer.c */
#define PEER_NONCES 256
#define PEER_CLOCK_SKEW_MS 30000
#define PEER_PENDING_MS 30000
int router_bind_peer(struct router *r, struct svc_error *err);
/* The reply line ("MAC JSON\n", malloc'd) to one request line of the peer channel. */
char *router_peer_reply(struct router *r, const char *line, size_t len);
void router_peer_release(struct router *r);
/* At start: take the newest table of the peers (opts.peer_join) when newer than ours. */
void router_peer_catch_up(struct router *r);

/* loop.c */
/* Write STATE/router/router.pid ("PID\n", atomically); sets pid_written. */
int router_write_pid(struct router *r, struct svc_error *err);

/* control.c */
int router_bind_abstract(struct router *r, struct svc_error *err);
/* listen(2) on l->fd and watch it (OBJ_CTL_LISTENER) */
int router_ctl_listen(struct router *r, struct ctl_listener *l, struct svc_error *err);
int router_bind_control(struct router *r, struct svc_error *err);
void router_check_control(struct router *r);
void router_ctl_free(struct router *r, struct ctl *k);
void router_expire_ctls(struct router *r);
void router_on_ctl_accept(struct router *r, struct ctl_listener *l);
void router_on_ctl_event(struct router *r, struct ctl *k, uint32_t ev);

/*
 * A control request as parsed from one line: the op, and for "set" the
 * route. 0, or SVC_EGENERIC with the reason (what the reply says). The
 * parser of untrusted bytes the fuzz harness drives.
 */
enum ctl_op { CTL_PING, CTL_SET, CTL_STATUS, CTL_SHUTDOWN };
struct ctl_request {
	enum ctl_op op;
	struct set_req set;      /* CTL_SET only */
};
int router_request_parse(struct ctl_request *out, const char *line, size_t len,
			 struct svc_error *err);
void router_request_release(struct ctl_request *q);

#endif
