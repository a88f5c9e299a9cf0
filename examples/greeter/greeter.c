/*
 * greeter - the example service: a small HTTP/1.1 server with keep-alive.
 *
 *   GET /         "<greeting> from greeter <version> (instance <n>)\n"
 *   GET /health   200 "ok\n" (503 once --unhealthy-after has passed)
 *   GET /version  "<version>\n"
 *
 * Options (each also read from the environment named in brackets):
 *   --port N             port on 127.0.0.1 to listen on [PORT]; required
 *   --host ADDR          numeric address to listen on, default 127.0.0.1
 *   --version V          version reported [VERSION], default "dev"
 *   --greeting TEXT      greeting [GREETING], default "hello"
 *   --unhealthy-after MS /health answers 503 once MS ms have passed since
 *                        start (-1, the default, never) [UNHEALTHY_AFTER_MS]
 *   --start-delay MS     wait MS ms before listening, like a service that
 *                        takes time to start [START_DELAY_MS]
 *   --hang 1             a hung service: accept connections and never read,
 *                        answer or close them [HANG]; for the router's tests
 *
 * One thread, epoll, non-blocking sockets; enough for the router benchmarks
 * to measure the router and not the backend. Exits 0 on SIGTERM/SIGINT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define REQ_MAX 8192

struct conn {
	int fd;
	struct conn *prev, *next;  /* every open connection, to free at exit */
	size_t len;
	char buf[REQ_MAX];
};

static struct conn *conns;

static volatile sig_atomic_t stopping;
static const char *version = "dev";
static const char *greeting = "hello";
static const char *instance = "0";
static long long unhealthy_after_ms = -1;
static long long started_ms;
static long long start_delay_ms;
static long long hang;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	free(c);
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void usage(void)
{
	fputs("usage: greeter --port N [--host ADDR] [--version V] [--greeting TEXT]\n"
	      "               [--unhealthy-after MS] [--start-delay MS] [--hang 0|1]\n", stderr);
	exit(2);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* responses are small: wait briefly for room */
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Answer one complete request in c->buf[0..hdr_end). Returns -1 to close. */
static int respond(struct conn *c, size_t hdr_end)
{
	char body[512], resp[1024];
	int status = 200, keep_alive = 1, n;
	const char *reason = "OK";
	char method[16] = "", path[256] = "";

	c->buf[hdr_end - 1] = '\0';
	if (sscanf(c->buf, "%15s %255s", method, path) != 2)
		return -1;
	if (strstr(c->buf, "HTTP/1.0") && !strcasestr(c->buf, "connection: keep-alive"))
		keep_alive = 0;
	if (strcasestr(c->buf, "connection: close"))
		keep_alive = 0;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = 405;
		reason = "Method Not Allowed";
		snprintf(body, sizeof(body), "method not allowed\n");
	} else if (!strcmp(path, "/")) {
		snprintf(body, sizeof(body), "%s from greeter %s (instance %s)\n",
			 greeting, version, instance);
	} else if (!strcmp(path, "/health")) {
		if (unhealthy_after_ms >= 0 && now_ms() - started_ms >= unhealthy_after_ms) {
			status = 503;
			reason = "Service Unavailable";
			snprintf(body, sizeof(body), "unhealthy\n");
		} else {
			snprintf(body, sizeof(body), "ok\n");
		}
	} else if (!strcmp(path, "/version")) {
		snprintf(body, sizeof(body), "%s\n", version);
	} else {
		status = 404;
		reason = "Not Found";
		snprintf(body, sizeof(body), "not found\n");
	}
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
		     status, reason, strlen(body), keep_alive ? "keep-alive" : "close",
		     strcmp(method, "HEAD") ? body : "");
	if (n < 0 || (size_t)n >= sizeof(resp) || write_all(c->fd, resp, (size_t)n))
		return -1;
	return keep_alive ? 0 : -1;
}

/* Read what is there and answer every complete request. -1 to close. */
static int on_readable(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
		if (r == 0)
			return -1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->len += (size_t)r;
		c->buf[c->len] = '\0';
		for (;;) {
			char *end = strstr(c->buf, "\r\n\r\n");
			size_t used;
			if (!end)
				break;
			used = (size_t)(end - c->buf) + 4;
			if (respond(c, used))
				return -1;
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			c->buf[c->len] = '\0';
		}
		if (c->len >= sizeof(c->buf) - 1)
			return -1; /* request headers too large */
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *env;
	long long port = -1;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct epoll_event ev, events[MAX_EVENTS];
	int lfd, ep, one = 1;

	if ((env = getenv("PORT")) && parse_ll(env, 1, 65535, &port))
		port = -1;
	if ((env = getenv("VERSION")) && *env)
		version = env;
	if ((env = getenv("GREETING")) && *env)
		greeting = env;
	if ((env = getenv("INSTANCE")) && *env)
		instance = env;
	if ((env = getenv("UNHEALTHY_AFTER_MS")) && *env &&
	    parse_ll(env, -1, 1LL << 40, &unhealthy_after_ms))
		usage();
	if ((env = getenv("START_DELAY_MS")) && *env &&
	    parse_ll(env, 0, 3600000, &start_delay_ms))
		usage();
	if ((env = getenv("HANG")) && *env && parse_ll(env, 0, 1, &hang))
		usage();
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			usage();
		if (!v)
			usage();
		if (!strcmp(a, "--port")) {
			if (parse_ll(v, 1, 65535, &port))
				usage();
		} else if (!strcmp(a, "--host")) {
			host = v;
		} else if (!strcmp(a, "--version")) {
			version = v;
		} else if (!strcmp(a, "--greeting")) {
			greeting = v;
		} else if (!strcmp(a, "--start-delay")) {
			if (parse_ll(v, 0, 3600000, &start_delay_ms))
				usage();
		} else if (!strcmp(a, "--unhealthy-after")) {
			if (parse_ll(v, -1, 1LL << 40, &unhealthy_after_ms))
				usage();
		} else if (!strcmp(a, "--hang")) {
			if (parse_ll(v, 0, 1, &hang))
				usage();
		} else {
			usage();
		}
	}
	if (port < 0)
		usage();

	if (start_delay_ms > 0) {
		struct timespec ts = { start_delay_ms / 1000, (start_delay_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((unsigned short)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((unsigned short)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "greeter: invalid --host '%s'\n", host);
		return 2;
	}
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 1024)) {
		fprintf(stderr, "greeter: cannot listen on %s:%lld: %s\n", host, port,
			strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	started_ms = now_ms();
	fprintf(stderr, "greeter %s listening on %s:%lld\n", version, host, port);

	while (!stopping) {
		int n = epoll_wait(ep, events, MAX_EVENTS, 500);
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (hang)
						continue;   /* held open, never read */
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->next = conns;
					if (conns)
						conns->prev = c;
					conns = c;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (on_readable(c))
				conn_free(c);
		}
	}
	fprintf(stderr, "greeter %s stopping\n", version);
	/* connections still open (keep-alive clients) are closed, not leaked */
	while (conns)
		conn_free(conns);
	close(ep);
	close(lfd);
	return 0;
}
