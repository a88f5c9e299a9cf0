/*
 * check_router.c - the router daemon and its client, against real sockets.
 *
 * The router runs as svc_router_run() in a forked child of the test process
 * (svcctl's `router run` is only a thin wrapper over it), with a fresh
 * state dir from mkdtemp. Backends are small forked servers: each accepted
 * connection gets the backend's name and a newline, then everything it
 * sends is echoed back; on EOF the backend shuts its write side down. All
 * traffic stays on loopback; children die with the test (PR_SET_PDEATHSIG).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "router/router.h"
#include "router/client.h"
#include "router/peer.h"
#include "util.h"

static char state_dir[256];
static pid_t children[32];
static size_t nchildren;

static void setup(void)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/svc-router-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(state_dir));
	nchildren = 0;
}

static void teardown(void)
{
	for (size_t i = 0; i < nchildren; i++) {
		if (children[i] > 0) {
			kill(-children[i], SIGKILL);
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
		}
	}
	svc_rm_rf(state_dir);
}

static void track(pid_t pid)
{
	ck_assert_uint_lt(nchildren, sizeof(children) / sizeof(children[0]));
	children[nchildren++] = pid;
}

static void untrack(pid_t pid)
{
	for (size_t i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static int free_port(const char *host)
{
	struct svc_error err;
	int port = 0;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_free_port(&port, host, &err), 0);
	return port;
}

static char *addr_of(const char *host, int port)
{
	return strchr(host, ':') ? svc_strfmt("[%s]:%d", host, port)
				 : svc_strfmt("%s:%d", host, port);
}

/* ---- the router child ---- */

static pid_t start_router_in(const char *dir, const struct svc_router_options *opts)
{
	pid_t pid = fork();
	int64_t deadline;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct svc_error err;
		int rc;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		svc_error_clear(&err);
		rc = svc_router_run(dir, opts, &err);
		if (rc)
			fprintf(stderr, "router: %s\n", err.message);
		_exit(rc ? 1 : 0);
	}
	track(pid);
	deadline = svc_mono_ms() + 5000;
	while (svc_router_ping(dir, NULL) != 0) {
		ck_assert_msg(svc_mono_ms() < deadline, "router did not answer");
		ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0);
		svc_sleep_ms(20);
	}
	return pid;
}

static pid_t start_router_opts(const struct svc_router_options *opts)
{
	return start_router_in(state_dir, opts);
}

static pid_t start_router(void)
{
	return start_router_opts(NULL);
}

/* SIGTERM the router and return its exit status. */
static int stop_router(pid_t pid)
{
	int status = 0;
	int64_t deadline = svc_mono_ms() + 5000;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		ck_assert_msg(svc_mono_ms() < deadline, "router did not stop");
		svc_sleep_ms(10);
	}
	untrack(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- backends ---- */

static void echo_conn(int fd, const char *name)
{
	char buf[65536];
	ssize_t n;

	if (write(fd, name, strlen(name)) < 0 || write(fd, "\n", 1) < 0)
		_exit(1);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w <= 0)
				_exit(1);
			off += w;
		}
	}
	shutdown(fd, SHUT_WR);
	/* Wait for the peer to finish, then leave. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

/* A listening socket with the given backlog (-1 when the port is taken). */
static int listen_socket_backlog(const char *host, int port, int backlog)
{
	struct svc_addr a;
	struct svc_error err;
	int one = 1, fd;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_addr_from_host_port(&a, host, port, &err), 0);
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) || listen(fd, backlog)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_socket(const char *host, int port)
{
	return listen_socket_backlog(host, port, 128);
}

static void stop_backend(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	untrack(pid);
}

/* ---- backends that misbehave ---- */

/* Where a serve function reports what it saw (one byte), or -1. */
static int report_fd = -1;

/*
 * A backend on host:port, listening before this returns, that runs
 * serve(fd, arg) in a child per connection; serve NULL: a hung backend,
 * which accepts every connection and never reads, answers or closes it.
 */
static pid_t start_backend_with(const char *host, int port,
				void (*serve)(int fd, const char *arg), const char *arg)
{
	int lfd = listen_socket(host, port);
	pid_t pid;

	ck_assert_int_ge(lfd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN);
		for (;;) {
			int fd = accept(lfd, NULL, NULL);
			if (fd < 0 || !serve)
				continue;   /* hung: fd stays open, unread */
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				close(lfd);
				serve(fd, arg);
				_exit(0);
			}
			close(fd);
		}
	}
	close(lfd);
	track(pid);
	return pid;
}

/* A backend named name on host:port (echo_conn). */
static pid_t start_backend(const char *host, int port, const char *name)
{
	return start_backend_with(host, port, echo_conn, name);
}

/* Send part of an answer, then reset the connection. */
static void serve_reset_midway(int fd, const char *arg)
{
	(void)arg;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (write(fd, "partial\n", 8) != 8)
		_exit(1);
	svc_sleep_ms(100);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Greet, then report how the client's side ended: 'R' reset, 'E' EOF. */
static void serve_report_end(int fd, const char *arg)
{
	(void)arg;
	char buf[256], how;
	ssize_t n;

	if (write(fd, "hi\n", 3) != 3)
		_exit(1);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	how = n < 0 && errno == ECONNRESET ? 'R' : 'E';
	if (write(report_fd, &how, 1) != 1)
		_exit(1);
}

/* ---- clients ---- */

/* Connect to host:port; -1 with errno on failure. */
static int dial(const char *host, int port)
{
	struct svc_addr a;
	struct svc_error err;
	struct timeval tv = { .tv_sec = 5 };
	int fd, e;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_addr_from_host_port(&a, host, port, &err), 0);
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a.ss, a.len)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Read one line (without the newline) into buf; "" on EOF or error. */
static const char *read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		char ch;
		ssize_t got = read(fd, &ch, 1);
		if (got <= 0 || ch == '\n')
			break;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return buf;
}

/* Send text and read the same number of bytes back. */
static void echo_ok(int fd, const char *text)
{
	char buf[256];
	size_t n = strlen(text), got = 0;

	ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	buf[got] = '\0';
	ck_assert_str_eq(buf, text);
}

/* Wait for EOF (or reset); returns the ms it took. */
static int64_t wait_closed(int fd, int64_t max_ms)
{
	int64_t start = svc_mono_ms();
	char buf[256];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_msg(svc_mono_ms() - start < max_ms, "connection still open");
		if (poll(&p, 1, 50) > 0 && read(fd, buf, sizeof(buf)) <= 0)
			return svc_mono_ms() - start;
	}
}

static void set_route(const char *listen, const char *b1, const char *b2, int64_t drain)
{
	struct svc_error err;
	char *bs[] = { (char *)b1, (char *)b2 };
	size_t n = b2 ? 2 : b1 ? 1 : 0;

	svc_error_clear(&err);
	ck_assert_msg(svc_router_set(state_dir, "greeter", listen, bs, n, drain, &err) == 0,
		      "set failed: %s", err.message);
}

static json_t *status(void)
{
	struct svc_error err;
	json_t *st = NULL;

	svc_error_clear(&err);
	ck_assert_msg(svc_router_status(state_dir, &st, &err) == 0, "status: %s", err.message);
	return st;
}

static const json_t *backend_in(const json_t *st, size_t route, size_t i)
{
	return json_array_get(json_object_get(json_array_get(json_object_get(st, "routes"),
							     route), "backends"), i);
}

/* The byte a serve function reported, or 0 after max_ms. */
static char read_report(int fd, int max_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char how = 0;

	if (poll(&p, 1, max_ms) == 1 && read(fd, &how, 1) != 1)
		how = 0;
	return how;
}

/* Close fd with a reset (SO_LINGER 0). */
static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/* The router's "connections" count. */
static long router_conns(void)
{
	json_t *st = status();
	long n = (long)json_integer_value(json_object_get(st, "connections"));

	json_decref(st);
	return n;
}

/* Wait until the router holds at most n connections; false after max_ms. */
static bool conns_drop_to(long n, int64_t max_ms)
{
	int64_t deadline = svc_mono_ms() + max_ms;

	while (router_conns() > n) {
		if (svc_mono_ms() >= deadline)
			return false;
		svc_sleep_ms(20);
	}
	return true;
}

/* Wait until the router holds at least n connections; false after max_ms. */
static bool wait_conns(long n, int64_t max_ms)
{
	int64_t deadline = svc_mono_ms() + max_ms;

	while (router_conns() < n) {
		if (svc_mono_ms() >= deadline)
			return false;
		svc_sleep_ms(20);
	}
	return true;
}

/* Read until EOF or error: the errno of the error, 0 for EOF, -1 when
 * still open after max_ms. */
static int read_end(int fd, int max_ms)
{
	int64_t deadline = svc_mono_ms() + max_ms;
	char buf[256];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (svc_mono_ms() >= deadline)
			return -1;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0)
			return errno;
	}
}

/* ---- tests ---- */

START_TEST(test_router__set_status_round_trip)
{
	int lp = free_port("127.0.0.1"), bp = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *b = addr_of("127.0.0.1", bp);
	char *routes_path = svc_strfmt("%s/router/routes.json", state_dir), *text = NULL;
	const json_t *rt;
	json_t *st;
	char line[64];
	size_t len;
	int fd;

	start_backend("127.0.0.1", bp, "A");
	start_router();
	set_route(listen, b, NULL, 1500);
	st = status();
	ck_assert(json_is_true(json_object_get(st, "ok")));
	ck_assert_int_gt(json_integer_value(json_object_get(st, "pid")), 0);
	ck_assert_int_gt(json_integer_value(json_object_get(st, "started_ms")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(st, "routes")), 1);
	rt = json_array_get(json_object_get(st, "routes"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(rt, "listen")), listen);
	ck_assert_str_eq(json_string_value(json_object_get(rt, "service")), "greeter");
	ck_assert_int_eq(json_integer_value(json_object_get(rt, "drain_timeout_ms")), 1500);
	ck_assert_str_eq(json_string_value(json_object_get(backend_in(st, 0, 0), "address")), b);
	ck_assert(json_is_true(json_object_get(backend_in(st, 0, 0), "active")));
	ck_assert_int_eq(svc_router_backend_connections(st, b), 0);
	json_decref(st);

	fd = dial("127.0.0.1", lp);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	st = status();
	ck_assert_int_eq(svc_router_backend_connections(st, b), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "connections")), 1);
	json_decref(st);
	close(fd);

	/* Persisted. */
	ck_assert_int_eq(svc_file_read(&text, &len, routes_path, 1 << 20, NULL), 0);
	ck_assert_ptr_nonnull(strstr(text, listen));
	ck_assert_ptr_nonnull(strstr(text, b));
	ck_assert_int_eq(svc_router_backend_connections(NULL, b), -1);
	free(text);
	free(routes_path);
	free(listen);
	free(b);
}
END_TEST

START_TEST(test_router__round_robin)
{
	int lp = free_port("127.0.0.1"), p1 = free_port("127.0.0.1"), p2;
	char *listen = addr_of("127.0.0.1", lp), *b1 = addr_of("127.0.0.1", p1), *b2;
	char prev[8] = "", line[8];
	int counts[2] = { 0, 0 };

	start_backend("127.0.0.1", p1, "A");
	p2 = free_port("127.0.0.1");
	b2 = addr_of("127.0.0.1", p2);
	start_backend("127.0.0.1", p2, "B");
	start_router();
	set_route(listen, b1, b2, 1000);
	for (int i = 0; i < 6; i++) {
		int fd = dial("127.0.0.1", lp);
		ck_assert_int_ge(fd, 0);
		read_line(fd, line, sizeof(line));
		ck_assert_msg(!strcmp(line, "A") || !strcmp(line, "B"), "got '%s'", line);
		ck_assert_str_ne(line, prev);
		counts[line[0] - 'A']++;
		snprintf(prev, sizeof(prev), "%s", line);
		close(fd);
	}
	ck_assert_int_eq(counts[0], 3);
	ck_assert_int_eq(counts[1], 3);
	free(listen);
	free(b1);
	free(b2);
}
END_TEST

START_TEST(test_router__refusing_backend_skipped)
{
	int lp = free_port("127.0.0.1"), up = free_port("127.0.0.1"), down;
	char *listen = addr_of("127.0.0.1", lp), *bu = addr_of("127.0.0.1", up), *bd;
	char line[8], b_line[8];
	pid_t b_pid;
	int fd;

	start_backend("127.0.0.1", up, "A");
	down = free_port("127.0.0.1");   /* nobody listens there */
	bd = addr_of("127.0.0.1", down);
	start_router();
	set_route(listen, bd, bu, 1000);
	for (int i = 0; i < 10; i++) {
		fd = dial("127.0.0.1", lp);
		ck_assert_int_ge(fd, 0);
		ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
		echo_ok(fd, "x");
		close(fd);
	}

	/* A backend that dies while in the set: B up, then killed. */
	b_pid = start_backend("127.0.0.1", down, "B");
	set_route(listen, bu, bd, 1000);
	fd = dial("127.0.0.1", lp);
	read_line(fd, line, sizeof(line));
	close(fd);
	fd = dial("127.0.0.1", lp);
	read_line(fd, b_line, sizeof(b_line));
	close(fd);
	ck_assert_msg((line[0] == 'A' && b_line[0] == 'B') || (line[0] == 'B' && b_line[0] == 'A'),
		      "got '%s' then '%s'", line, b_line);
	stop_backend(b_pid);
	for (int i = 0; i < 10; i++) {
		fd = dial("127.0.0.1", lp);
		ck_assert_int_ge(fd, 0);
		ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
		close(fd);
	}
	free(listen);
	free(bu);
	free(bd);
}
END_TEST

START_TEST(test_router__switch_keeps_old_connection)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1"), pb;
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa), *bb;
	char line[8];
	json_t *st;
	int old, fresh;

	start_backend("127.0.0.1", pa, "A");
	pb = free_port("127.0.0.1");
	bb = addr_of("127.0.0.1", pb);
	start_backend("127.0.0.1", pb, "B");
	start_router();
	set_route(listen, ba, NULL, 30000);
	old = dial("127.0.0.1", lp);
	ck_assert_int_ge(old, 0);
	ck_assert_str_eq(read_line(old, line, sizeof(line)), "A");

	set_route(listen, bb, NULL, 30000);
	echo_ok(old, "still here");
	for (int i = 0; i < 3; i++) {
		fresh = dial("127.0.0.1", lp);
		ck_assert_int_ge(fresh, 0);
		ck_assert_str_eq(read_line(fresh, line, sizeof(line)), "B");
		close(fresh);
	}
	st = status();
	ck_assert_str_eq(json_string_value(json_object_get(backend_in(st, 0, 0), "address")), bb);
	ck_assert(json_is_true(json_object_get(backend_in(st, 0, 0), "active")));
	ck_assert_str_eq(json_string_value(json_object_get(backend_in(st, 0, 1), "address")), ba);
	ck_assert(json_is_false(json_object_get(backend_in(st, 0, 1), "active")));
	ck_assert_int_eq(svc_router_backend_connections(st, ba), 1);
	json_decref(st);
	echo_ok(old, "and here");
	close(old);
	free(listen);
	free(ba);
	free(bb);
}
END_TEST

START_TEST(test_router__drain_timeout_closes)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1"), pb;
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa), *bb;
	char line[8];
	json_t *st;
	int64_t took;
	int old;

	start_backend("127.0.0.1", pa, "A");
	pb = free_port("127.0.0.1");
	bb = addr_of("127.0.0.1", pb);
	start_backend("127.0.0.1", pb, "B");
	start_router();
	set_route(listen, ba, NULL, 400);
	old = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(old, line, sizeof(line)), "A");
	set_route(listen, bb, NULL, 400);
	took = wait_closed(old, 3000);
	ck_assert_int_ge(took, 250);
	ck_assert_int_lt(took, 1500);
	close(old);
	svc_sleep_ms(50);
	st = status();
	ck_assert_int_eq(svc_router_backend_connections(st, ba), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(
		json_object_get(st, "routes"), 0), "backends")), 1);
	json_decref(st);

	/* drain_timeout_ms 0: closed at once. */
	old = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(old, line, sizeof(line)), "B");
	set_route(listen, ba, NULL, 0);
	took = wait_closed(old, 3000);
	ck_assert_int_lt(took, 200);
	close(old);
	free(listen);
	free(ba);
	free(bb);
}
END_TEST

START_TEST(test_router__empty_backends_refuse)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	char line[8];
	json_t *st;
	int fd;

	start_backend("127.0.0.1", pa, "A");
	start_router();
	/* Before any set: dark. */
	ck_assert_int_lt(dial("127.0.0.1", lp), 0);
	ck_assert_int_eq(errno, ECONNREFUSED);
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	close(fd);
	set_route(listen, NULL, NULL, 1000);
	ck_assert_int_lt(dial("127.0.0.1", lp), 0);
	ck_assert_int_eq(errno, ECONNREFUSED);
	svc_sleep_ms(50);
	st = status();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "routes")), 0);
	json_decref(st);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__bind_conflict_changes_nothing)
{
	int lp = free_port("127.0.0.1"), taken, pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa), *busy;
	char *routes_path = svc_strfmt("%s/router/routes.json", state_dir);
	char *before = NULL, *after = NULL;
	char *bs[] = { ba };
	struct svc_error err;
	size_t len;
	json_t *st;
	int blocker;

	taken = free_port("127.0.0.1");
	blocker = listen_socket("127.0.0.1", taken);
	ck_assert_int_ge(blocker, 0);
	busy = addr_of("127.0.0.1", taken);
	start_router();
	set_route(listen, ba, NULL, 1000);
	ck_assert_int_eq(svc_file_read(&before, &len, routes_path, 1 << 20, NULL), 0);

	svc_error_clear(&err);
	ck_assert_int_eq(svc_router_set(state_dir, "other", busy, bs, 1, 1000, &err),
			 SVC_EUNAVAIL);
	ck_assert_msg(strstr(err.message, "cannot listen on") && strstr(err.message, busy),
		      "message: %s", err.message);
	st = status();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "routes")), 1);
	json_decref(st);
	ck_assert_int_eq(svc_file_read(&after, &len, routes_path, 1 << 20, NULL), 0);
	ck_assert_str_eq(before, after);
	close(blocker);
	free(before);
	free(after);
	free(routes_path);
	free(listen);
	free(ba);
	free(busy);
}
END_TEST

START_TEST(test_router__restart_restores_routes)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	char line[8];
	json_t *st;
	pid_t pid;
	int fd;

	start_backend("127.0.0.1", pa, "A");
	pid = start_router();
	set_route(listen, ba, NULL, 1234);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	untrack(pid);
	ck_assert_int_ne(svc_router_ping(state_dir, NULL), 0);

	pid = start_router();   /* stale socket and pid file left behind */
	st = status();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "routes")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
		json_object_get(st, "routes"), 0), "drain_timeout_ms")), 1234);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "pid")), pid);
	json_decref(st);
	fd = dial("127.0.0.1", lp);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	close(fd);
	ck_assert_int_eq(stop_router(pid), 0);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__half_close)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	const char *msg = "hello, half-closed world";
	char line[8], buf[256];
	size_t got = 0;
	ssize_t n;
	int fd;

	start_backend("127.0.0.1", pa, "A");
	start_router();
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	ck_assert_int_eq(n, 0);   /* a clean EOF, not a reset or a timeout */
	buf[got] = '\0';
	ck_assert_str_eq(buf, msg);
	close(fd);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__large_transfer_backpressure)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	struct svc_router_options opts;
	size_t total = 8u << 20, sent = 0, recvd = 0;
	unsigned char *out = malloc(total), *in = malloc(total);
	char line[8];
	int fd;

	svc_router_options_init(&opts);
	opts.buf_size = 4096;   /* small, so backpressure has to work */
	for (size_t i = 0; i < total; i++)
		out[i] = (unsigned char)((i * 2654435761u) >> 13);
	start_backend("127.0.0.1", pa, "A");
	start_router_opts(&opts);
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (recvd < total) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		ck_assert_int_gt(poll(&p, 1, 5000), 0);
		if ((p.revents & POLLOUT) && sent < total) {
			ssize_t w = write(fd, out + sent, total - sent > 65536 ? 65536 : total - sent);
			if (w > 0)
				sent += (size_t)w;
			if (sent == total)
				shutdown(fd, SHUT_WR);
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(fd, in + recvd, total - recvd);
			if (r < 0 && errno == EAGAIN)
				continue;
			ck_assert_int_gt(r, 0);
			recvd += (size_t)r;
		}
	}
	ck_assert_int_eq(memcmp(out, in, total), 0);
	close(fd);
	free(out);
	free(in);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__ipv6)
{
	int probe = listen_socket("::1", 0), lp, pa;
	char *listen, *ba;
	char line[8];
	json_t *st;
	int fd;

	if (probe < 0)
		return;   /* no IPv6 loopback here */
	close(probe);
	lp = free_port("::1");
	pa = free_port("::1");
	listen = addr_of("::1", lp);
	ba = addr_of("::1", pa);
	start_backend("::1", pa, "A6");
	start_router();
	set_route(listen, ba, NULL, 1000);
	fd = dial("::1", lp);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A6");
	echo_ok(fd, "v6");
	st = status();
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(st, "routes"), 0), "listen")), listen);
	ck_assert_int_eq(svc_router_backend_connections(st, ba), 1);
	json_decref(st);
	close(fd);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__socket_mode)
{
	char *sock = svc_router_socket_path(state_dir), *dir = svc_router_dir(state_dir);
	char *pidfile = svc_strfmt("%s/router.pid", dir);
	struct stat st;
	pid_t pid;

	pid = start_router();
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert(svc_path_exists(pidfile));
	ck_assert_int_eq(stop_router(pid), 0);
	ck_assert(!svc_path_exists(sock));
	ck_assert(!svc_path_exists(pidfile));
	free(pidfile);
	free(sock);
	free(dir);
}
END_TEST

START_TEST(test_router__second_router_refused)
{
	struct svc_error err;

	start_router();
	svc_error_clear(&err);
	ck_assert_int_eq(svc_router_run(state_dir, NULL, &err), SVC_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(err.message, "a router already serves"));
	ck_assert_int_eq(svc_router_ping(state_dir, NULL), 0);
}
END_TEST

START_TEST(test_router__idle_timeout)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	struct svc_router_options opts;
	char line[8];
	int64_t took;
	int fd;

	svc_router_options_init(&opts);
	opts.idle_timeout_ms = 400;
	start_backend("127.0.0.1", pa, "A");
	start_router_opts(&opts);
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	svc_sleep_ms(250);
	echo_ok(fd, "keepalive");   /* activity pushes the deadline */
	took = wait_closed(fd, 3000);
	ck_assert_int_ge(took, 300);
	ck_assert_int_lt(took, 1000);
	close(fd);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__connection_limit)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	struct svc_router_options opts;
	struct pollfd p;
	char line[8];
	int fd[3];

	svc_router_options_init(&opts);
	opts.max_conns = 2;
	start_backend("127.0.0.1", pa, "A");
	start_router_opts(&opts);
	set_route(listen, ba, NULL, 1000);
	for (int i = 0; i < 2; i++) {
		fd[i] = dial("127.0.0.1", lp);
		ck_assert_str_eq(read_line(fd[i], line, sizeof(line)), "A");
	}
	/* the third waits in the backlog: connected, but not served */
	fd[2] = dial("127.0.0.1", lp);
	ck_assert_int_ge(fd[2], 0);
	p.fd = fd[2];
	p.events = POLLIN;
	ck_assert_int_eq(poll(&p, 1, 500), 0);
	/* one leaves: the third is served */
	close(fd[0]);
	ck_assert_str_eq(read_line(fd[2], line, sizeof(line)), "A");
	close(fd[1]);
	close(fd[2]);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__client_without_router)
{
	struct svc_error err;
	bool was_running;
	char *sock = svc_router_socket_path(state_dir);
	json_t *st = NULL;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_router_ping(state_dir, &err), SVC_EUNAVAIL);
	ck_assert_msg(strstr(err.message, sock), "message: %s", err.message);
	ck_assert_int_eq(svc_router_status(state_dir, &st, NULL), SVC_EUNAVAIL);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(svc_router_stop(state_dir, &was_running, NULL), 0);
	ck_assert(!was_running);
	free(sock);
}
END_TEST

START_TEST(test_router__stop_and_bad_requests)
{
	struct svc_error err;
	bool was_running;
	json_t *req, *reply = NULL;
	pid_t pid;
	int status;

	pid = start_router();
	req = json_pack("{s:s, s:s, s:[s]}", "op", "set", "listen", "nonsense",
			"backends", "127.0.0.1:1");
	ck_assert_int_eq(svc_router_request(state_dir, req, &reply, NULL), 0);
	ck_assert(json_is_false(json_object_get(reply, "ok")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(reply, "error")),
				     "nonsense"));
	json_decref(reply);
	json_decref(req);
	req = json_pack("{s:s}", "op", "dance");
	ck_assert_int_eq(svc_router_request(state_dir, req, &reply, NULL), 0);
	ck_assert(json_is_false(json_object_get(reply, "ok")));
	json_decref(reply);
	json_decref(req);

	svc_error_clear(&err);
	ck_assert_int_eq(svc_router_stop(state_dir, &was_running, &err), 0);
	ck_assert(was_running);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	untrack(pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_ne(svc_router_ping(state_dir, NULL), 0);
}
END_TEST

/* set LISTEN -> BACKEND is refused as a loop: the router's reason, or NULL
 * when it was accepted. */
static char *set_refused(const char *listen, const char *backend)
{
	struct svc_error err;
	char *bs[] = { (char *)backend };

	svc_error_clear(&err);
	if (svc_router_set(state_dir, "loop", listen, bs, 1, 0, &err) == 0)
		return NULL;
	return svc_strdup(err.message);
}

START_TEST(test_router__self_backend_refused)
{
	int lp = free_port("127.0.0.1");
	char *lit = addr_of("127.0.0.1", lp), *any = addr_of("0.0.0.0", lp);
	char *routes_path = svc_strfmt("%s/router/routes.json", state_dir);
	char *other = addr_of("127.0.0.2", lp), *six = addr_of("::1", lp);
	char *v6any = addr_of("::", lp), *text, *why;
	struct svc_error err;
	json_t *st;
	pid_t pid;

	pid = start_router();
	/* the literal form, and either side the wildcard */
	why = set_refused(lit, lit);
	ck_assert_msg(why && strstr(why, "own listen address"), "got: %s", why ? why : "ok");
	free(why);
	why = set_refused(any, lit);
	ck_assert_msg(why && strstr(why, "own listen address"), "got: %s", why ? why : "ok");
	free(why);
	why = set_refused(lit, any);
	ck_assert_msg(why && strstr(why, "own listen address"), "got: %s", why ? why : "ok");
	free(why);
	why = set_refused(v6any, six);
	ck_assert_msg(why && strstr(why, "own listen address"), "got: %s", why ? why : "ok");
	free(why);
	st = status();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "routes")), 0);
	json_decref(st);
	ck_assert_int_lt(dial("127.0.0.1", lp), 0);
	ck_assert_int_eq(stop_router(pid), 0);

	/* another address on the same port is no loop (checked without binding) */
	text = svc_strfmt("{\"version\":1,\"routes\":[{\"listen\":\"%s\",\"backends\":[\"%s\",\"%s\"]}]}",
			  lit, other, six);
	svc_error_clear(&err);
	ck_assert_msg(svc_router_table_check(text, strlen(text), "routes.json", &err) == 0,
		      "check: %s", err.message);
	free(text);

	/* a saved table holding a loop is invalid like any invalid route */
	text = svc_strfmt("{\"version\":1,\"routes\":[{\"listen\":\"%s\",\"backends\":[\"%s\"]}]}\n",
			  any, lit);
	svc_error_clear(&err);
	ck_assert_int_ne(svc_router_table_check(text, strlen(text), "routes.json", &err), 0);
	ck_assert_msg(strstr(err.message, "invalid route 1") &&
		      strstr(err.message, "own listen address"), "check: %s", err.message);
	ck_assert_int_eq(svc_file_write_atomic(routes_path, text, strlen(text), 0600, NULL), 0);
	svc_error_clear(&err);
	ck_assert_int_ne(svc_router_run(state_dir, NULL, &err), 0);
	ck_assert_msg(strstr(err.message, "own listen address"), "run: %s", err.message);
	free(text);
	free(routes_path);
	free(lit);
	free(any);
	free(other);
	free(six);
	free(v6any);
}
END_TEST

START_TEST(test_router__backend_reset_resets_client)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	char line[16];
	int fd;

	start_backend_with("127.0.0.1", pa, serve_reset_midway, NULL);
	start_router();
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_int_ge(fd, 0);
	/* what came before the reset is passed on, then the reset itself */
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "partial");
	ck_assert_int_eq(read_end(fd, 3000), ECONNRESET);
	close(fd);
	ck_assert(conns_drop_to(0, 1000));
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__client_reset_resets_backend)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	char line[16];
	int pipefd[2], fd;

	ck_assert_int_eq(pipe(pipefd), 0);
	report_fd = pipefd[1];
	start_backend_with("127.0.0.1", pa, serve_report_end, NULL);
	start_router();
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "hi");
	close_reset(fd);
	ck_assert_int_eq(read_report(pipefd[0], 3000), 'R');
	ck_assert(conns_drop_to(0, 1000));

	/* a clean close stays clean */
	fd = dial("127.0.0.1", lp);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "hi");
	close(fd);
	ck_assert_int_eq(read_report(pipefd[0], 3000), 'E');
	close(pipefd[0]);
	close(pipefd[1]);
	report_fd = -1;
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__fin_timeout_frees_closed_client)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	struct svc_router_options opts;
	int64_t closed_at, took;
	int fd[5];

	svc_router_options_init(&opts);
	ck_assert_int_eq(opts.fin_timeout_ms, 5000);
	opts.fin_timeout_ms = 300;
	start_backend_with("127.0.0.1", pa, NULL, NULL);   /* accepts, never answers */
	start_router_opts(&opts);
	set_route(listen, ba, NULL, 1000);
	for (int i = 0; i < 5; i++) {
		fd[i] = dial("127.0.0.1", lp);
		ck_assert_int_ge(fd[i], 0);
	}
	ck_assert(wait_conns(5, 2000));
	for (int i = 0; i < 5; i++)
		close(fd[i]);
	closed_at = svc_mono_ms();
	/* counted until the fin timeout, whatever the backend does, then freed */
	ck_assert_msg(conns_drop_to(0, 2000), "still %ld connection(s)", router_conns());
	took = svc_mono_ms() - closed_at;
	ck_assert_int_ge(took, 200);
	ck_assert_int_lt(took, 1500);

	/* a reset frees the slot at once */
	for (int i = 0; i < 3; i++)
		fd[i] = dial("127.0.0.1", lp);
	ck_assert(wait_conns(3, 2000));
	for (int i = 0; i < 3; i++)
		close_reset(fd[i]);
	ck_assert_msg(conns_drop_to(0, 200), "still %ld connection(s)", router_conns());
	free(listen);
	free(ba);
}
END_TEST

/* Read the request to EOF, answer late (within the fin timeout), in
 * pieces spread over longer than the fin timeout, then close. */
static void serve_late_answer(int fd, const char *arg)
{
	(void)arg;
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	svc_sleep_ms(150);
	for (int i = 0; i < 6; i++) {
		snprintf(buf, sizeof(buf), "part %d\n", i);
		if (write(fd, buf, strlen(buf)) < 0)
			_exit(1);
		svc_sleep_ms(150);
	}
	close(fd);
}

START_TEST(test_router__half_close_within_fin_timeout)
{
	int lp = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *ba = addr_of("127.0.0.1", pa);
	const char *want = "part 0\npart 1\npart 2\npart 3\npart 4\npart 5\n";
	struct svc_router_options opts;
	char buf[256];
	size_t got = 0;
	ssize_t n;
	int fd;

	svc_router_options_init(&opts);
	opts.fin_timeout_ms = 400;
	start_backend_with("127.0.0.1", pa, serve_late_answer, NULL);
	start_router_opts(&opts);
	set_route(listen, ba, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_int_eq(write(fd, "request", 7), 7);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	/* the answer starts within the fin timeout and keeps coming for
	 * longer than it: all of it arrives, then a clean EOF */
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	ck_assert_int_eq(n, 0);
	buf[got] = '\0';
	ck_assert_str_eq(buf, want);
	close(fd);
	free(listen);
	free(ba);
}
END_TEST

START_TEST(test_router__route_limit_keeps_others_serving)
{
	int la = free_port("127.0.0.1"), lb = free_port("127.0.0.1");
	int pa = free_port("127.0.0.1"), pb = free_port("127.0.0.1");
	char *listen_a = addr_of("127.0.0.1", la), *listen_b = addr_of("127.0.0.1", lb);
	char *ba = addr_of("127.0.0.1", pa), *bb = addr_of("127.0.0.1", pb);
	struct svc_router_options opts;
	int a[8], b[5];
	char line[8];
	pid_t pid;

	svc_router_options_init(&opts);
	ck_assert_int_eq(opts.max_conns_per_route, 0);
	opts.max_conns = 10;          /* two routes: 5 each */
	opts.fin_timeout_ms = 300;
	start_backend_with("127.0.0.1", pa, NULL, NULL);   /* A hangs */
	start_backend("127.0.0.1", pb, "B");
	pid = start_router_opts(&opts);
	set_route(listen_a, ba, NULL, 1000);
	set_route(listen_b, bb, NULL, 1000);

	/* A's clients fill A's share; the rest wait in the kernel's backlog */
	for (int i = 0; i < 8; i++) {
		a[i] = dial("127.0.0.1", la);
		ck_assert_int_ge(a[i], 0);
	}
	ck_assert(wait_conns(5, 2000));
	svc_sleep_ms(300);
	ck_assert_int_eq(router_conns(), 5);
	/* B still answers, up to its own share */
	for (int i = 0; i < 5; i++) {
		b[i] = dial("127.0.0.1", lb);
		ck_assert_int_ge(b[i], 0);
		ck_assert_str_eq(read_line(b[i], line, sizeof(line)), "B");
	}
	ck_assert_int_eq(router_conns(), 10);
	for (int i = 0; i < 5; i++)
		close(b[i]);
	ck_assert(conns_drop_to(5, 2000));

	/* B removed: A's share is the whole limit, and its waiting clients
	 * are taken */
	set_route(listen_b, NULL, NULL, 1000);
	ck_assert_msg(wait_conns(8, 2000), "only %ld connection(s)", router_conns());
	for (int i = 0; i < 8; i++)
		close(a[i]);
	ck_assert(stop_router(pid) == 0);

	/* an explicit limit per route */
	opts.max_conns_per_route = 2;
	start_router_opts(&opts);
	for (int i = 0; i < 4; i++)
		a[i] = dial("127.0.0.1", la);
	ck_assert(wait_conns(2, 2000));
	svc_sleep_ms(300);
	ck_assert_int_eq(router_conns(), 2);
	for (int i = 0; i < 4; i++)
		close(a[i]);
	free(listen_a);
	free(listen_b);
	free(ba);
	free(bb);
}
END_TEST

START_TEST(test_router__connect_timeout)
{
	int lp = free_port("127.0.0.1"), ph = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *bh = addr_of("127.0.0.1", ph);
	char *ba = addr_of("127.0.0.1", pa);
	struct svc_router_options opts;
	int64_t start, took;
	int hung, filler, fd;
	char line[8];

	svc_router_options_init(&opts);
	ck_assert_int_eq(opts.connect_timeout_ms, 5000);
	opts.connect_timeout_ms = 300;
	/* a backend that never accepts, its backlog full: connects to it hang */
	hung = listen_socket_backlog("127.0.0.1", ph, 0);
	ck_assert_int_ge(hung, 0);
	filler = dial("127.0.0.1", ph);
	ck_assert_int_ge(filler, 0);
	start_backend("127.0.0.1", pa, "A");
	start_router_opts(&opts);

	/* alone, the client is closed after the connect timeout */
	set_route(listen, bh, NULL, 1000);
	fd = dial("127.0.0.1", lp);
	ck_assert_int_ge(fd, 0);
	took = wait_closed(fd, 3000);
	ck_assert_int_ge(took, 200);
	ck_assert_int_lt(took, 1500);
	close(fd);

	/* with another backend, the client is served by it after the timeout */
	set_route(listen, bh, ba, 1000);
	for (int i = 0; i < 2; i++) {
		start = svc_mono_ms();
		fd = dial("127.0.0.1", lp);
		ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
		took = svc_mono_ms() - start;
		ck_assert_int_lt(took, 1500);
		close(fd);
	}
	close(filler);
	close(hung);
	free(listen);
	free(bh);
	free(ba);
}
END_TEST

START_TEST(test_router__first_byte_timeout)
{
	int lp = free_port("127.0.0.1"), ph = free_port("127.0.0.1"), pa = free_port("127.0.0.1");
	int lg = free_port("127.0.0.1");
	char *listen = addr_of("127.0.0.1", lp), *bh = addr_of("127.0.0.1", ph);
	char *greet = addr_of("127.0.0.1", lg), *ba = addr_of("127.0.0.1", pa);
	struct svc_router_options opts;
	int64_t start, took;
	char line[8];
	int fd;

	svc_router_options_init(&opts);
	ck_assert_int_eq(opts.first_byte_timeout_ms, 0);
	opts.first_byte_timeout_ms = 300;
	start_backend_with("127.0.0.1", ph, NULL, NULL);   /* accepts, never answers */
	start_backend("127.0.0.1", pa, "A");
	start_router_opts(&opts);
	set_route(listen, bh, NULL, 1000);
	set_route(greet, ba, NULL, 1000);

	/* nothing from the backend within the timeout: the client is reset */
	fd = dial("127.0.0.1", lp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "request", 7), 7);
	start = svc_mono_ms();
	ck_assert_int_eq(read_end(fd, 3000), ECONNRESET);
	took = svc_mono_ms() - start;
	ck_assert_int_ge(took, 200);
	ck_assert_int_lt(took, 1500);
	close(fd);
	ck_assert(conns_drop_to(0, 1000));

	/* a backend that has answered is not timed out by it */
	fd = dial("127.0.0.1", lg);
	ck_assert_str_eq(read_line(fd, line, sizeof(line)), "A");
	svc_sleep_ms(600);
	echo_ok(fd, "still here");
	close(fd);
	free(listen);
	free(bh);
	free(greet);
	free(ba);
}
END_TEST


/* ---- the peer channel and the two-phase switch (router/peer.h) ---- */

#define PEER_SECRET "the-peer-secret-of-this-test-0123456789"
#define NPEERS 3

struct peer_fixture {
	char dir[NPEERS][300];
	char *addr[NPEERS], *listen[NPEERS];
	pid_t pid[NPEERS];
	struct svc_router_options opts[NPEERS];
	struct svc_peer peers[NPEERS];
	int port;
	char *a, *b;      /* backends "a" and "b" */
};

/* router i of f, started with its own state dir and peer channel */
static void peer_start(struct peer_fixture *f, size_t i)
{
	svc_router_options_init(&f->opts[i]);
	f->opts[i].peer_listen = f->addr[i];
	f->opts[i].peer_secret = PEER_SECRET;
	f->opts[i].peer_secret_len = strlen(PEER_SECRET);
	f->pid[i] = start_router_in(f->dir[i], &f->opts[i]);
}

/*
 * Three routers, as on three machines: router i's peer channel on
 * 127.0.0.1, the route listening on 127.0.0.(i+1):port (one loopback
 * address each, where machines would share the port).
 */
static void peer_setup(struct peer_fixture *f)
{
	int pa = free_port("127.0.0.1"), pb = free_port("127.0.0.1");

	memset(f, 0, sizeof(*f));
	f->port = free_port("127.0.0.1");
	start_backend("127.0.0.1", pa, "a");
	start_backend("127.0.0.1", pb, "b");
	f->a = addr_of("127.0.0.1", pa);
	f->b = addr_of("127.0.0.1", pb);
	for (size_t i = 0; i < NPEERS; i++) {
		char host[32];
		struct svc_error err = { 0 };
		snprintf(f->dir[i], sizeof(f->dir[i]), "%s/n%zu", state_dir, i + 1);
		ck_assert_int_eq(svc_mkdir_p(f->dir[i], 0700, &err), 0);
		f->addr[i] = addr_of("127.0.0.1", free_port("127.0.0.1"));
		snprintf(host, sizeof(host), "127.0.0.%zu", i + 1);
		f->listen[i] = addr_of(host, f->port);
		f->peers[i].name = i == 0 ? "n1" : i == 1 ? "n2" : "n3";
		f->peers[i].addr = f->addr[i];
		f->peers[i].listen = f->listen[i];
		peer_start(f, i);
	}
}

static void peer_teardown(struct peer_fixture *f)
{
	for (size_t i = 0; i < NPEERS; i++) {
		free(f->addr[i]);
		free(f->listen[i]);
	}
	free(f->a);
	free(f->b);
}

static int peer_switch(struct peer_fixture *f, const char *backend, int64_t timeout_ms,
		       struct svc_error *err)
{
	char *backends[] = { (char *)backend, NULL };
	struct svc_peer_route route = { "127.0.0.1:1", "web", backends, 1000 };

	svc_error_clear(err);
	return svc_peer_switch(f->peers, NPEERS, PEER_SECRET, strlen(PEER_SECRET), &route,
			       timeout_ms, NULL, err);
}

/* the name of the backend a new connection to router i's route reaches */
static const char *peer_serves(struct peer_fixture *f, size_t i, char *buf, size_t len)
{
	char host[32];
	int fd;

	snprintf(host, sizeof(host), "127.0.0.%zu", i + 1);
	buf[0] = '\0';
	if ((fd = dial(host, f->port)) < 0)
		return "(refused)";
	read_line(fd, buf, len);
	close(fd);
	return buf;
}

/* One request line sent as is to router i's peer channel; its reply line ("" when none). */
static char *peer_raw(struct peer_fixture *f, size_t i, const char *line)
{
	char buf[4096];
	const char *colon = strrchr(f->addr[i], ':');
	int fd = dial("127.0.0.1", atoi(colon + 1));

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	read_line(fd, buf, sizeof(buf));
	close(fd);
	return svc_strdup(buf);
}

START_TEST(test_router__peer_two_phase_switch)
{
	struct peer_fixture f;
	struct svc_error err;
	char buf[64], *text = NULL, path[400];

	peer_setup(&f);
	ck_assert_msg(peer_switch(&f, f.a, 0, &err) == 0, "%s", err.message);
	for (size_t i = 0; i < NPEERS; i++) {
		ck_assert(f.peers[i].prepared && f.peers[i].committed);
		ck_assert_str_eq(peer_serves(&f, i, buf, sizeof(buf)), "a");
	}
	ck_assert_msg(peer_switch(&f, f.b, 0, &err) == 0, "%s", err.message);
	for (size_t i = 0; i < NPEERS; i++)
		ck_assert_str_eq(peer_serves(&f, i, buf, sizeof(buf)), "b");
	/* the committed epoch is saved with the table */
	snprintf(path, sizeof(path), "%s/router/routes.json", f.dir[1]);
	ck_assert_int_eq(svc_file_read(&text, NULL, path, 1 << 20, NULL), 0);
	ck_assert_ptr_nonnull(strstr(text, "\"epoch\""));
	free(text);

	/* one router cannot acknowledge (stopped): none switches */
	kill(f.pid[2], SIGSTOP);
	ck_assert_int_eq(peer_switch(&f, f.a, 500, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "none switched") && strstr(err.message, "n3"), "%s",
		      err.message);
	ck_assert(f.peers[0].prepared && !f.peers[2].prepared);
	for (size_t i = 0; i < NPEERS; i++)
		ck_assert(!f.peers[i].committed);
	ck_assert_str_eq(peer_serves(&f, 0, buf, sizeof(buf)), "b");
	ck_assert_str_eq(peer_serves(&f, 1, buf, sizeof(buf)), "b");
	kill(f.pid[2], SIGCONT);
	/* it reads the prepare it was sent meanwhile: held, never in force */
	svc_sleep_ms(200);
	ck_assert_str_eq(peer_serves(&f, 2, buf, sizeof(buf)), "b");
	/* and a later switch goes everywhere again */
	ck_assert_msg(peer_switch(&f, f.a, 0, &err) == 0, "%s", err.message);
	for (size_t i = 0; i < NPEERS; i++)
		ck_assert_str_eq(peer_serves(&f, i, buf, sizeof(buf)), "a");

	/* a router restarted keeps its table and its epoch */
	ck_assert_int_eq(stop_router(f.pid[0]), 0);
	peer_start(&f, 0);
	ck_assert_str_eq(peer_serves(&f, 0, buf, sizeof(buf)), "a");
	{
		json_t *ping = json_pack("{s:s, s:I, s:s}", "op", "ping", "ts",
					 (json_int_t)svc_now_ms(), "nonce", "00112233445566778899aabb");
		char *line = svc_peer_line(PEER_SECRET, strlen(PEER_SECRET), ping), *reply;
		json_t *r = NULL;

		reply = peer_raw(&f, 0, line);
		ck_assert_int_eq(svc_peer_line_parse(PEER_SECRET, strlen(PEER_SECRET), reply,
						     strlen(reply), &r, &err), 0);
		ck_assert(json_integer_value(json_object_get(r, "epoch")) > 0);
		json_decref(r);
		free(reply);
		/* the same line again is a replay: no answer */
		reply = peer_raw(&f, 0, line);
		ck_assert_str_eq(reply, "");
		free(reply);
		free(line);
		json_decref(ping);
	}
	peer_teardown(&f);
}
END_TEST

/* router i's table as its peer channel gives it: {"epoch":N, "routes":[...]} */
static json_t *peer_table_of(struct peer_fixture *f, size_t i)
{
	char *one[] = { f->addr[i], NULL }, *from = NULL;
	struct svc_error err = { 0 };
	json_t *t = NULL;

	ck_assert_msg(svc_peer_table_fetch(one, PEER_SECRET, strlen(PEER_SECRET), 0, &t, &from,
					   &err) == 0, "%s", err.message);
	free(from);
	return t;
}

/*
 * A router away while the others switched takes their table when it
 * starts, before it serves. (Here the routers share a machine, so each
 * route listens on its own loopback address and the one taken cannot be
 * bound where another router holds it: what is checked is the epoch and
 * the table it takes; swarm_cluster.sh has nodes of their own.)
 */
START_TEST(test_router__peer_catch_up)
{
	struct peer_fixture f;
	struct svc_error err;
	char *join[NPEERS] = { NULL };
	char *backends[] = { NULL, NULL };
	struct svc_peer_route route = { "127.0.0.1:1", "web", backends, 1000 };
	int64_t epoch = 0;
	json_t *t;

	peer_setup(&f);
	ck_assert_msg(peer_switch(&f, f.a, 0, &err) == 0, "%s", err.message);
	ck_assert_int_eq(stop_router(f.pid[2]), 0);
	/* the two that are up switch to b (the one away is not asked) */
	backends[0] = f.b;
	svc_error_clear(&err);
	ck_assert_msg(svc_peer_switch(f.peers, 2, PEER_SECRET, strlen(PEER_SECRET), &route, 0,
				      &epoch, &err) == 0, "%s", err.message);
	/* it comes back knowing the others: it takes their newer table */
	join[0] = f.addr[0];
	join[1] = f.addr[1];
	svc_router_options_init(&f.opts[2]);
	f.opts[2].peer_listen = f.addr[2];
	f.opts[2].peer_secret = PEER_SECRET;
	f.opts[2].peer_secret_len = strlen(PEER_SECRET);
	f.opts[2].peer_join = join;
	f.pid[2] = start_router_in(f.dir[2], &f.opts[2]);
	t = peer_table_of(&f, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "epoch")), epoch);
	/* its own route, older, is gone; the others' table is what it has */
	ck_assert_uint_le(json_array_size(json_object_get(t, "routes")), 1);
	json_decref(t);
	/* with nobody to ask, a router serves the table it had, its epoch kept */
	ck_assert_int_eq(stop_router(f.pid[0]), 0);
	ck_assert_int_eq(stop_router(f.pid[1]), 0);
	ck_assert_int_eq(stop_router(f.pid[2]), 0);
	f.pid[2] = start_router_in(f.dir[2], &f.opts[2]);
	t = peer_table_of(&f, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "epoch")), epoch);
	json_decref(t);
	peer_teardown(&f);
}
END_TEST

START_TEST(test_router__peer_channel_needs_the_secret)
{
	struct peer_fixture f;
	struct svc_error err;
	char buf[64], *reply, *line;
	char *backends[] = { NULL, NULL };
	struct svc_peer_route route = { "127.0.0.1:1", "web", backends, 1000 };
	json_t *req;

	peer_setup(&f);
	ck_assert_msg(peer_switch(&f, f.a, 0, &err) == 0, "%s", err.message);
	/* another secret: refused without an answer, nothing changes */
	backends[0] = f.b;
	svc_error_clear(&err);
	ck_assert_int_eq(svc_peer_switch(f.peers, NPEERS, "not-the-secret", 14, &route, 500,
					 NULL, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "another secret"), "%s", err.message);
	for (size_t i = 0; i < NPEERS; i++)
		ck_assert_str_eq(peer_serves(&f, i, buf, sizeof(buf)), "a");
	/* an unauthenticated line, and a commit with a made-up MAC */
	reply = peer_raw(&f, 1, "{\"op\":\"commit\",\"epoch\":1}\n");
	ck_assert_str_eq(reply, "");
	free(reply);
	reply = peer_raw(&f, 1, "0000000000000000000000000000000000000000000000000000000000000000 "
			 "{\"op\":\"ping\"}\n");
	ck_assert_str_eq(reply, "");
	free(reply);
	/* a line signed long ago: answered, refused */
	req = json_pack("{s:s, s:I, s:s}", "op", "ping", "ts",
			(json_int_t)(svc_now_ms() - 120000), "nonce", "ffeeddccbbaa99887766");
	line = svc_peer_line(PEER_SECRET, strlen(PEER_SECRET), req);
	reply = peer_raw(&f, 1, line);
	ck_assert_msg(strstr(reply, "clock"), "%s", reply);
	free(reply);
	free(line);
	json_decref(req);
	/* a commit of nothing prepared is refused */
	req = json_pack("{s:s, s:I, s:I, s:s}", "op", "commit", "epoch", (json_int_t)42, "ts",
			(json_int_t)svc_now_ms(), "nonce", "0102030405060708090a");
	line = svc_peer_line(PEER_SECRET, strlen(PEER_SECRET), req);
	reply = peer_raw(&f, 1, line);
	ck_assert_msg(strstr(reply, "nothing is prepared"), "%s", reply);
	free(reply);
	free(line);
	json_decref(req);
	ck_assert_str_eq(peer_serves(&f, 1, buf, sizeof(buf)), "a");
	/* the router's own control socket knows no peer ops */
	peer_teardown(&f);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_router__set_status_round_trip);
	tcase_add_test(tc, test_router__round_robin);
	tcase_add_test(tc, test_router__refusing_backend_skipped);
	tcase_add_test(tc, test_router__switch_keeps_old_connection);
	tcase_add_test(tc, test_router__drain_timeout_closes);
	tcase_add_test(tc, test_router__empty_backends_refuse);
	tcase_add_test(tc, test_router__bind_conflict_changes_nothing);
	tcase_add_test(tc, test_router__restart_restores_routes);
	tcase_add_test(tc, test_router__half_close);
	tcase_add_test(tc, test_router__large_transfer_backpressure);
	tcase_add_test(tc, test_router__ipv6);
	tcase_add_test(tc, test_router__socket_mode);
	tcase_add_test(tc, test_router__second_router_refused);
	tcase_add_test(tc, test_router__idle_timeout);
	tcase_add_test(tc, test_router__connection_limit);
	tcase_add_test(tc, test_router__client_without_router);
	tcase_add_test(tc, test_router__stop_and_bad_requests);
	tcase_add_test(tc, test_router__self_backend_refused);
	tcase_add_test(tc, test_router__backend_reset_resets_client);
	tcase_add_test(tc, test_router__client_reset_resets_backend);
	tcase_add_test(tc, test_router__fin_timeout_frees_closed_client);
	tcase_add_test(tc, test_router__half_close_within_fin_timeout);
	tcase_add_test(tc, test_router__route_limit_keeps_others_serving);
	tcase_add_test(tc, test_router__connect_timeout);
	tcase_add_test(tc, test_router__first_byte_timeout);
	tcase_add_test(tc, test_router__peer_two_phase_switch);
	tcase_add_test(tc, test_router__peer_channel_needs_the_secret);
	tcase_add_test(tc, test_router__peer_catch_up);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
