/*
 * router/cluster.c - the sender's side of the peer channel (router/peer.h):
 * one authenticated request to each of several routers at once (poll(2)
 * over non-blocking sockets, one deadline for all), and the two-phase
 * switch of a route built on it.
 */
#include "router/peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "util.h"

#define COMMIT_ROUNDS 3

struct exchange {
	int fd;
	char *out;
	size_t out_len, out_off;
	char *in;
	size_t in_len;
	char nonce[33];
	bool done;
	json_t *reply;        /* the verified reply, when done without error */
	char error[512];
};

static void ex_fail(struct exchange *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ex_fail(struct exchange *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->error, sizeof(x->error), fmt, ap);
	va_end(ap);
	x->done = true;
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
}

static int ex_start(struct exchange *x, const char *addr, const void *secret,
		    size_t secret_len, json_t *body)
{
	struct svc_addr a;
	struct svc_error e = { 0 };
	unsigned char raw[16];

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (svc_addr_parse(&a, addr, false, &e)) {
		ex_fail(x, "%s", e.message);
		return -1;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		ex_fail(x, "no random bytes for a nonce");
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(x->nonce + 2 * i, 3, "%02x", raw[i]);
	json_object_set_new(body, "ts", json_integer(svc_now_ms()));
	json_object_set_new(body, "nonce", json_string(x->nonce));
	x->out = svc_peer_line(secret, secret_len, body);
	if (!x->out) {
		ex_fail(x, "cannot encode the request");
		return -1;
	}
	x->out_len = strlen(x->out);
	x->in = svc_calloc(1, SVC_PEER_LINE_MAX + 1);
	x->fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		ex_fail(x, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(x->fd, (struct sockaddr *)&a.ss, a.len) && errno != EINPROGRESS) {
		ex_fail(x, "cannot connect to %s: %s", addr, strerror(errno));
		return -1;
	}
	return 0;
}

static void ex_release(struct exchange *x)
{
	if (x->fd >= 0)
		close(x->fd);
	free(x->out);
	free(x->in);
	json_decref(x->reply);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

static void ex_event(struct exchange *x, short rev, const void *secret, size_t secret_len)
{
	if (rev & POLLOUT && x->out_off < x->out_len) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		ssize_t w;

		if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr) {
			ex_fail(x, "cannot connect: %s", strerror(soerr));
			return;
		}
		w = send(x->fd, x->out + x->out_off, x->out_len - x->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			ex_fail(x, "cannot send: %s", strerror(errno));
			return;
		}
		if (w > 0)
			x->out_off += (size_t)w;
	}
	if (rev & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t got = recv(x->fd, x->in + x->in_len, SVC_PEER_LINE_MAX - x->in_len, 0);
		char *nl;
		struct svc_error e = { 0 };

		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (got < 0) {
			ex_fail(x, "%s", strerror(errno));
			return;
		}
		if (got == 0) {
			ex_fail(x, "it closed the connection without an answer (another secret?)");
			return;
		}
		x->in_len += (size_t)got;
		if (!(nl = memchr(x->in, '\n', x->in_len))) {
			if (x->in_len == SVC_PEER_LINE_MAX)
				ex_fail(x, "its answer is too long");
			return;
		}
		if (svc_peer_line_parse(secret, secret_len, x->in, (size_t)(nl - x->in), &x->reply,
					&e)) {
			ex_fail(x, "its answer is not authentic: %s", e.message);
			return;
		}
		if (strcmp(json_string_value(json_object_get(x->reply, "nonce")) ?
			   json_string_value(json_object_get(x->reply, "nonce")) : "", x->nonce)) {
			json_decref(x->reply);
			x->reply = NULL;
			ex_fail(x, "its answer is not to this request (nonce)");
			return;
		}
		if (!json_is_true(json_object_get(x->reply, "ok"))) {
			const char *why = json_string_value(json_object_get(x->reply, "error"));
			ex_fail(x, "%s", why ? why : "it refused");
			return;
		}
		close(x->fd);
		x->fd = -1;
		x->done = true;
	}
}

/*
 * Send body (with "op" set; "ts" and "nonce" added) to each peer whose
 * want[i] is true, all at once, and wait for the answers until timeout_ms.
 * ok[i] says who answered ok; errors go to peers[i].error.
 */
static void exchange_all(struct svc_peer *peers, size_t n, const bool *want, bool *ok,
			 const void *secret, size_t secret_len, json_t *const *bodies,
			 int64_t timeout_ms, json_t **replies)
{
	struct exchange *x = svc_calloc(n + 1, sizeof(*x));
	struct pollfd *pfd = svc_calloc(n + 1, sizeof(*pfd));
	int64_t deadline = svc_mono_ms() + timeout_ms;

	for (size_t i = 0; i < n; i++) {
		x[i].fd = -1;
		ok[i] = false;
		if (!want[i]) {
			x[i].done = true;
			continue;
		}
		ex_start(&x[i], peers[i].addr, secret, secret_len, bodies[i]);
	}
	for (;;) {
		size_t np = 0;
		int64_t left = deadline - svc_mono_ms();
		for (size_t i = 0; i < n; i++) {
			if (x[i].done)
				continue;
			pfd[np].fd = x[i].fd;
			pfd[np].events = (short)(x[i].out_off < x[i].out_len ? POLLOUT : POLLIN);
			pfd[np].revents = 0;
			np++;
		}
		if (!np || left <= 0)
			break;
		if (poll(pfd, np, (int)left) < 0 && errno != EINTR)
			break;
		np = 0;
		for (size_t i = 0; i < n; i++) {
			if (x[i].done)
				continue;
			if (pfd[np].revents)
				ex_event(&x[i], pfd[np].revents, secret, secret_len);
			np++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!want[i])
			continue;
		if (!x[i].done)
			snprintf(peers[i].error, sizeof(peers[i].error), "no answer within %lld ms",
				 (long long)timeout_ms);
		else if (x[i].error[0])
			snprintf(peers[i].error, sizeof(peers[i].error), "%s", x[i].error);
		else
			ok[i] = true, peers[i].error[0] = '\0';
		if (replies && ok[i]) {
			replies[i] = x[i].reply;
			x[i].reply = NULL;
		}
		ex_release(&x[i]);
	}
	free(pfd);
	free(x);
}

static json_t *route_json(const struct svc_peer_route *route, const char *listen)
{
	json_t *bs = json_array();

	for (size_t i = 0; route->backends && route->backends[i]; i++)
		json_array_append_new(bs, json_string(route->backends[i]));
	return json_pack("{s:s, s:s, s:o, s:I}", "listen", listen, "service", route->service,
			 "backends", bs, "drain_timeout_ms", (json_int_t)route->drain_timeout_ms);
}

/* body i: {op, epoch[, route]} */
static void bodies_make(json_t **b, struct svc_peer *peers, size_t n, const char *op,
			int64_t epoch, const struct svc_peer_route *route)
{
	for (size_t i = 0; i < n; i++) {
		b[i] = json_pack("{s:s, s:I}", "op", op, "epoch", (json_int_t)epoch);
		if (route)
			json_object_set_new(b[i], "route", route_json(route, peers[i].listen ?
							     peers[i].listen : route->listen));
	}
}

static void bodies_free(json_t **b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(b[i]);
		b[i] = NULL;
	}
}

static void names_of(char *buf, size_t len, const struct svc_peer *peers, size_t n,
		     bool committed)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (peers[i].committed == committed)
			svc_text_add(buf, len, peers[i].name ? peers[i].name : peers[i].addr);
}

int svc_peer_switch(struct svc_peer *peers, size_t n, const void *secret, size_t secret_len,
		    const struct svc_peer_route *route, int64_t timeout_ms, int64_t *epoch_out,
		    struct svc_error *err)
{
	json_t **b = svc_calloc(n + 1, sizeof(*b));
	bool *want = svc_calloc(n + 1, sizeof(*want)), *ok = svc_calloc(n + 1, sizeof(*ok));
	int64_t epoch = svc_now_ms();
	size_t missing = 0;
	char names[1024], bad[1024];
	int rc = 0;

	if (timeout_ms <= 0)
		timeout_ms = 2000;
	if (epoch_out)
		*epoch_out = epoch;
	for (size_t i = 0; i < n; i++) {
		peers[i].prepared = peers[i].committed = false;
		peers[i].error[0] = '\0';
		want[i] = true;
	}
	/* phase 1: every router holds the new route, or none takes it */
	bodies_make(b, peers, n, "prepare", epoch, route);
	exchange_all(peers, n, want, ok, secret, secret_len, b, timeout_ms, NULL);
	bodies_free(b, n);
	for (size_t i = 0; i < n; i++) {
		peers[i].prepared = ok[i];
		if (!ok[i] && !missing++)
			snprintf(bad, sizeof(bad), "%s (%s): %s",
				 peers[i].name ? peers[i].name : peers[i].addr, peers[i].addr,
				 peers[i].error);
	}
	if (missing) {
		for (size_t i = 0; i < n; i++)
			want[i] = peers[i].prepared;
		bodies_make(b, peers, n, "abort", epoch, NULL);
		exchange_all(peers, n, want, ok, secret, secret_len, b, timeout_ms, NULL);
		bodies_free(b, n);
		rc = svc_error_set(err, SVC_EFAILED,
				   "%zu of %zu routers did not prepare the switch, so none switched: "
				   "%s", missing, n, bad);
		goto done;
	}
	/* phase 2: commit everywhere, again where it did not confirm */
	bodies_make(b, peers, n, "commit", epoch, NULL);
	for (int round = 0; round < COMMIT_ROUNDS; round++) {
		bool left = false;
		for (size_t i = 0; i < n; i++)
			left |= (want[i] = !peers[i].committed);
		if (!left)
			break;
		exchange_all(peers, n, want, ok, secret, secret_len, b, timeout_ms, NULL);
		for (size_t i = 0; i < n; i++)
			peers[i].committed |= ok[i];
	}
	bodies_free(b, n);
	missing = 0;
	for (size_t i = 0; i < n; i++)
		if (!peers[i].committed && !missing++)
			snprintf(bad, sizeof(bad), "%s: %s",
				 peers[i].name ? peers[i].name : peers[i].addr, peers[i].error);
	if (missing) {
		names_of(names, sizeof(names), peers, n, true);
		rc = svc_error_set(err, SVC_EUNAVAIL,
				   "the switch is confirmed on %s; %zu router%s did not confirm "
				   "the commit after %d tries (%s)", names[0] ? names : "no router",
				   missing, missing == 1 ? "" : "s", COMMIT_ROUNDS, bad);
	}
done:
	free(ok);
	free(want);
	free(b);
	return rc;
}

size_t svc_peer_ask(struct svc_peer *peers, size_t n, const void *secret, size_t secret_len,
		    const char *op, int64_t timeout_ms, json_t **replies)
{
	json_t **b = svc_calloc(n + 1, sizeof(*b));
	bool *want = svc_calloc(n + 1, sizeof(*want)), *ok = svc_calloc(n + 1, sizeof(*ok));
	size_t answered = 0;

	for (size_t i = 0; i < n; i++) {
		want[i] = true;
		b[i] = json_pack("{s:s}", "op", op);
		if (replies)
			replies[i] = NULL;
	}
	exchange_all(peers, n, want, ok, secret, secret_len, b, timeout_ms > 0 ? timeout_ms : 2000,
		     replies);
	for (size_t i = 0; i < n; i++)
		answered += ok[i];
	bodies_free(b, n);
	free(b);
	free(ok);
	free(want);
	return answered;
}

int svc_peer_table_fetch(char *const *addrs, const void *secret, size_t secret_len,
			 int64_t timeout_ms, json_t **out, char **from, struct svc_error *err)
{
	size_t n = svc_strv_len(addrs), best = 0;
	struct svc_peer *peers = svc_calloc(n + 1, sizeof(*peers));
	json_t **b = svc_calloc(n + 1, sizeof(*b)), **replies = svc_calloc(n + 1, sizeof(*replies));
	bool *want = svc_calloc(n + 1, sizeof(*want)), *ok = svc_calloc(n + 1, sizeof(*ok));
	json_int_t top = -1;
	char bad[1024] = "";

	*out = NULL;
	*from = NULL;
	for (size_t i = 0; i < n; i++) {
		peers[i].addr = addrs[i];
		want[i] = true;
		b[i] = json_pack("{s:s}", "op", "table");
	}
	exchange_all(peers, n, want, ok, secret, secret_len, b, timeout_ms > 0 ? timeout_ms : 2000,
		     replies);
	for (size_t i = 0; i < n; i++) {
		json_int_t e = json_integer_value(json_object_get(replies[i], "epoch"));
		if (!ok[i]) {
			char one[600];
			snprintf(one, sizeof(one), "%s: %s", addrs[i], peers[i].error);
			svc_text_add(bad, sizeof(bad), one);
		} else if (e > top && json_is_array(json_object_get(replies[i], "routes"))) {
			top = e;
			best = i;
		}
	}
	if (top >= 0) {
		*out = replies[best];
		replies[best] = NULL;
		*from = svc_strdup(addrs[best]);
	}
	bodies_free(b, n);
	for (size_t i = 0; i < n; i++)
		json_decref(replies[i]);
	free(replies);
	free(b);
	free(ok);
	free(want);
	free(peers);
	if (top < 0)
		return svc_error_set(err, SVC_EUNAVAIL, "no router answered: %s",
				     bad[0] ? bad : "none was named");
	return 0;
}
