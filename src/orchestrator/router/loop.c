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
#include "router/internal.h"

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

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}


void svc_router_options_init(struct svc_router_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_conns = DEFAULT_MAX_CONNS;
	opts->max_conns_per_route = 0;   /* an equal share */
	opts->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	opts->fin_timeout_ms = DEFAULT_FIN_TIMEOUT_MS;
	opts->first_byte_timeout_ms = DEFAULT_FIRST_BYTE_TIMEOUT_MS;
	opts->buf_size = DEFAULT_BUF_SIZE;
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
	if (r->files_check_at - r->now < wait)
		wait = r->files_check_at - r->now;
	return wait < 0 ? 0 : wait;
}

static void free_dead(struct router *r)
{
	while (r->dead) {
		struct conn *c = r->dead;
		r->dead = c->bnext;
		free(c);
	}
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

int router_write_pid(struct router *r, struct svc_error *err)
{
	char text[32];
	int rc;

	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (!(rc = svc_file_write_atomic(r->pid_path, text, strlen(text), 0600, err)))
		r->pid_written = true;
	return rc;
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
			router_on_half_event(r, (struct half *)o, ev[i].events);
			break;
		case OBJ_LISTENER:
			router_on_accept(r, container_of(o, struct route, obj));
			break;
		case OBJ_CTL_LISTENER:
		case OBJ_CTL:
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		struct obj *o = ev[i].data.ptr;

		if (o->kind == OBJ_CTL_LISTENER)
			router_on_ctl_accept(r, container_of(o, struct ctl_listener, obj));
	}
	for (int i = 0; i < n; i++) {
		struct obj *o = ev[i].data.ptr;

		/* A ctl freed earlier in this batch is never named again: each
		 * ctl appears at most once per batch and is freed only by its
		 * own event or by expiry outside the batch. */
		if (o->kind == OBJ_CTL)
			router_on_ctl_event(r, container_of(o, struct ctl, obj), ev[i].events);
	}
}

static void router_release(struct router *r)
{
	while (r->ctls)
		router_ctl_free(r, r->ctls);
	while (r->heap_len)
		router_conn_close(r, r->heap[0]);
	free_dead(r);
	while (r->routes) {
		struct route *rt = r->routes;
		r->routes = rt->next;
		router_route_close_listener(r, rt);
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
	router_peer_release(r);
	if (r->ctl_peer.fd >= 0)
		close(r->ctl_peer.fd);
	if (r->ctl_path.fd >= 0)
		close(r->ctl_path.fd);
	if (r->sock_bound)
		unlink(r->sock_path);
	if (r->pid_written)
		unlink(r->pid_path);
	/* asked to stop (`svcctl router stop`): no service manager owns it now */
	if (r->external_written && r->shutdown_requested)
		unlink(r->external_path);
	if (r->ctl_abstract.fd >= 0)
		close(r->ctl_abstract.fd);   /* last: the lock */
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
	free(r->external_path);
}

int svc_router_run(const char *state_dir, const struct svc_router_options *opts,
		   struct svc_error *err)
{
	struct router r;
	struct sigaction sa, old_term, old_int, old_pipe;
	sigset_t block, old_mask;
	struct epoll_event events[MAX_EVENTS];
	int rc = SVC_EGENERIC;

	memset(&r, 0, sizeof(r));
	r.epfd = r.ctl_path.fd = r.ctl_abstract.fd = r.ctl_peer.fd = r.lock_fd = -1;
	r.pending.lfd = -1;
	r.state_dir = state_dir;
	svc_router_options_init(&r.opts);
	if (opts) {
		if (opts->max_conns > 0)
			r.opts.max_conns = opts->max_conns;
		if (opts->max_conns_per_route > 0)
			r.opts.max_conns_per_route = opts->max_conns_per_route;
		if (opts->idle_timeout_ms > 0)
			r.opts.idle_timeout_ms = opts->idle_timeout_ms;
		if (opts->connect_timeout_ms > 0)
			r.opts.connect_timeout_ms = opts->connect_timeout_ms;
		if (opts->fin_timeout_ms > 0)
			r.opts.fin_timeout_ms = opts->fin_timeout_ms;
		if (opts->first_byte_timeout_ms > 0)
			r.opts.first_byte_timeout_ms = opts->first_byte_timeout_ms;
		if (opts->buf_size >= 1024)
			r.opts.buf_size = opts->buf_size;
		r.opts.rebuild = opts->rebuild;
		r.opts.rebuild_arg = opts->rebuild_arg;
		r.opts.supervised = opts->supervised;
		r.opts.peer_listen = opts->peer_listen;
		r.opts.peer_secret = opts->peer_secret;
		r.opts.peer_secret_len = opts->peer_secret_len;
		r.opts.peer_join = opts->peer_join;
	}
	r.dir = svc_router_dir(state_dir);
	r.sock_path = svc_router_socket_path(state_dir);
	r.pid_path = svc_strfmt("%s/router.pid", r.dir);
	r.routes_path = svc_strfmt("%s/routes.json", r.dir);
	r.lock_path = svc_strfmt("%s/router.lock", r.dir);
	r.external_path = svc_router_external_path(state_dir);
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
	r.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r.epfd < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "epoll_create1");
		goto done;
	}
	/* the abstract socket first: it is the lock no deleted file breaks */
	if ((rc = router_bind_abstract(&r, err)) || (rc = take_lock(&r, err)))
		goto done;
	rc = SVC_EGENERIC;
	raise_nofile(&r);
	if (router_load_routes(&r, err))
		goto done;
	if (r.opts.peer_listen && r.opts.peer_join)
		router_peer_catch_up(&r);
	router_retry_listeners(&r);
	if (router_bind_control(&r, err))
		goto done;
	if (r.opts.peer_listen && router_bind_peer(&r, err))
		goto done;
	if (router_write_pid(&r, err))
		goto done;
	if (r.opts.supervised) {
		unlink(r.external_path);   /* svcctl supervises it: nobody else does */
	} else {
		static const char note[] =
			"svcctl router run: the router runs under a service manager, which "
			"restarts it;\nsvcctl never starts another while this file exists.\n";
		if (svc_file_write_atomic(r.external_path, note, sizeof(note) - 1, 0600, err))
			goto done;
		r.external_written = true;
	}
	r.files_check_at = r.now + FILES_CHECK_MS;
	svc_daemon_log(ROUTER_WHO, "serving %s%s", r.sock_path,
		       r.opts.supervised ? " (supervised)" : "");

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
		router_run_timers(&r);
		router_expire_ctls(&r);
		if (r.emfile_until && r.emfile_until <= r.now) {
			r.emfile_until = 0;
			router_update_pause(&r);
		}
		router_retry_listeners(&r);
		router_check_control(&r);
		free_dead(&r);
	}
	if (stop_signal)
		svc_daemon_log(ROUTER_WHO, "stopping on signal %d", (int)stop_signal);
	rc = 0;
done:
	router_release(&r);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	return rc;
}
