/*
 * router/client.c - the CLI's side of the router: one JSON line out, one
 * JSON line back over STATE/router/router.sock, and starting the daemon on
 * demand.
 *
 * Every request opens a fresh connection (the router handles one request
 * per connection), so there is no session state to get wrong. Reads are
 * bounded by a deadline (5 s) so a wedged router makes the CLI fail with
 * SVC_EUNAVAIL instead of hanging. The daemon is started with a double
 * fork and execv of our own executable (never a shell), in its own
 * session, with its output appended to STATE/router/router.log.
 */
#include "router/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "util.h"

#define REQUEST_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define REPLY_MAX (16 * 1024 * 1024)

char *svc_router_dir(const char *state_dir)
{
	return svc_strfmt("%s/router", state_dir);
}

char *svc_router_socket_path(const char *state_dir)
{
	return svc_strfmt("%s/router/router.sock", state_dir);
}

/* Wait until fd is ready for events or deadline passes. 0, or -1 on timeout
 * or error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - svc_mono_ms();
		int n;

		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int request_timeout(const char *state_dir, json_t *request, json_t **reply,
			   int64_t timeout_ms, struct svc_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *path = svc_router_socket_path(state_dir);
	char *text = NULL, *line = NULL, *in = NULL;
	size_t in_len = 0, in_alloc = 0, off = 0, len;
	int64_t deadline = svc_mono_ms() + timeout_ms;
	json_error_t jerr;
	int fd = -1, rc = SVC_EUNAVAIL;

	*reply = NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		rc = svc_error_set(err, SVC_EGENERIC, "socket path '%s' is too long", path);
		goto done;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	text = json_dumps(request, JSON_COMPACT);
	if (!text) {
		rc = svc_error_set(err, SVC_EGENERIC, "cannot encode the router request");
		goto done;
	}
	line = svc_strfmt("%s\n", text);
	len = strlen(line);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		svc_error_set_errno(err, SVC_EUNAVAIL, errno, "socket");
		goto done;
	}
	/* A unix socket connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		svc_error_set_errno(err, SVC_EUNAVAIL, errno, "no router answers on '%s'", path);
		goto done;
	}
	while (off < len) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline)) {
				svc_error_set(err, SVC_EUNAVAIL,
					      "the router on '%s' did not take the request in time", path);
				goto done;
			}
			continue;
		}
		if (w < 0) {
			svc_error_set_errno(err, SVC_EUNAVAIL, errno,
					    "cannot send to the router on '%s'", path);
			goto done;
		}
		off += (size_t)w;
	}
	for (;;) {
		ssize_t got;

		if (in_alloc - in_len < 4096) {
			if (in_alloc >= REPLY_MAX) {
				svc_error_set(err, SVC_EGENERIC, "the router's reply is too long");
				goto done;
			}
			in_alloc = in_alloc ? in_alloc * 2 : 8192;
			in = svc_realloc(in, in_alloc, 1);
		}
		got = recv(fd, in + in_len, in_alloc - in_len, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline)) {
				svc_error_set(err, SVC_EUNAVAIL,
					      "the router on '%s' did not answer within %lldms", path,
					      (long long)timeout_ms);
				goto done;
			}
			continue;
		}
		if (got < 0) {
			svc_error_set_errno(err, SVC_EUNAVAIL, errno,
					    "no answer from the router on '%s'", path);
			goto done;
		}
		if (got == 0) {
			svc_error_set(err, SVC_EUNAVAIL,
				      "the router on '%s' closed the connection without answering", path);
			goto done;
		}
		if (memchr(in + in_len, '\n', (size_t)got)) {
			in_len += (size_t)got;
			break;
		}
		in_len += (size_t)got;
	}
	*reply = json_loadb(in, (size_t)((char *)memchr(in, '\n', in_len) - in), 0, &jerr);
	if (!json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		rc = svc_error_set(err, SVC_EGENERIC, "invalid reply from the router: %s",
				   jerr.text);
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(in);
	free(line);
	free(text);
	free(path);
	return rc;
}

int svc_router_request(const char *state_dir, json_t *request, json_t **reply,
		       struct svc_error *err)
{
	return request_timeout(state_dir, request, reply, REQUEST_TIMEOUT_MS, err);
}

/* Send {"op": op} and check "ok". */
static int simple_op(const char *state_dir, const char *op, int64_t timeout_ms,
		     struct svc_error *err)
{
	json_t *req = json_pack("{s:s}", "op", op);
	json_t *reply = NULL;
	int rc = request_timeout(state_dir, req, &reply, timeout_ms, err);

	if (rc == 0 && !json_is_true(json_object_get(reply, "ok")))
		rc = svc_error_set(err, SVC_EGENERIC, "the router refused '%s': %s", op,
				   json_string_value(json_object_get(reply, "error"))
					   ? json_string_value(json_object_get(reply, "error"))
					   : "no reason given");
	json_decref(reply);
	json_decref(req);
	return rc;
}

int svc_router_ping(const char *state_dir, struct svc_error *err)
{
	return simple_op(state_dir, "ping", REQUEST_TIMEOUT_MS, err);
}

int svc_router_ensure(const char *state_dir, const char *self_exe,
		      struct svc_error *err)
{
	char *dir = svc_router_dir(state_dir);
	char *log_path = svc_strfmt("%s/router.log", dir);
	char *argv[] = { (char *)self_exe, (char *)"--state-dir", (char *)state_dir,
			 (char *)"router", (char *)"run", NULL };
	int64_t deadline;
	int rc = SVC_EUNAVAIL;
	pid_t pid;

	if (svc_router_ping(state_dir, NULL) == 0) {
		rc = 0;
		goto done;
	}
	if (svc_mkdir_p(dir, 0700, err))
		goto done;
	if (svc_spawn_detached(&pid, argv, log_path, err)) {
		svc_error_set(err, SVC_EUNAVAIL, "cannot start the router (see '%s')", log_path);
		goto done;
	}
	deadline = svc_mono_ms() + START_TIMEOUT_MS;
	for (;;) {
		if (svc_router_ping(state_dir, NULL) == 0)
			break;
		if (svc_mono_ms() >= deadline) {
			svc_error_set(err, SVC_EUNAVAIL,
				      "the router did not answer within %dms after starting (see '%s')",
				      START_TIMEOUT_MS, log_path);
			goto done;
		}
		svc_sleep_ms(50);
	}
	rc = 0;
done:
	free(log_path);
	free(dir);
	return rc;
}

int svc_router_set(const char *state_dir, const char *service,
		   const char *listen, char *const *backends, size_t nbackends,
		   int64_t drain_timeout_ms, struct svc_error *err)
{
	json_t *arr = json_array();
	json_t *req, *reply = NULL;
	int rc;

	for (size_t i = 0; i < nbackends; i++)
		json_array_append_new(arr, json_string(backends[i]));
	req = json_pack("{s:s, s:s, s:s, s:o, s:I}", "op", "set", "listen", listen,
			"service", service, "backends", arr,
			"drain_timeout_ms", (json_int_t)drain_timeout_ms);
	if (!req) {
		rc = svc_error_set(err, SVC_EGENERIC, "cannot encode the router request");
		goto done;
	}
	rc = svc_router_request(state_dir, req, &reply, err);
	if (rc == 0 && !json_is_true(json_object_get(reply, "ok"))) {
		const char *why = json_string_value(json_object_get(reply, "error"));
		rc = svc_error_set(err, SVC_EGENERIC, "%s", why ? why : "the router refused the route");
	}
done:
	json_decref(reply);
	json_decref(req);
	return rc;
}

int svc_router_status(const char *state_dir, json_t **out, struct svc_error *err)
{
	json_t *req = json_pack("{s:s}", "op", "status");
	int rc = svc_router_request(state_dir, req, out, err);

	if (rc == 0 && !json_is_true(json_object_get(*out, "ok"))) {
		const char *why = json_string_value(json_object_get(*out, "error"));
		rc = svc_error_set(err, SVC_EGENERIC, "router status: %s", why ? why : "refused");
		json_decref(*out);
		*out = NULL;
	}
	json_decref(req);
	return rc;
}

long svc_router_backend_connections(const json_t *status, const char *address)
{
	const json_t *routes = json_object_get(status, "routes");
	long total = 0;

	if (!json_is_array(routes))
		return -1;
	for (size_t i = 0; i < json_array_size(routes); i++) {
		const json_t *bs = json_object_get(json_array_get(routes, i), "backends");
		for (size_t j = 0; j < json_array_size(bs); j++) {
			const json_t *b = json_array_get(bs, j);
			const char *a = json_string_value(json_object_get(b, "address"));
			const json_t *n = json_object_get(b, "connections");
			if (!a || !json_is_integer(n))
				return -1;
			if (!strcmp(a, address))
				total += (long)json_integer_value(n);
		}
	}
	return total;
}

int svc_router_stop(const char *state_dir, struct svc_error *err)
{
	int64_t deadline;
	int rc;

	rc = simple_op(state_dir, "shutdown", REQUEST_TIMEOUT_MS, NULL);
	if (rc == SVC_EUNAVAIL)
		return 0;   /* none runs: nothing to stop */
	deadline = svc_mono_ms() + STOP_TIMEOUT_MS;
	while (simple_op(state_dir, "ping", 500, NULL) == 0) {
		if (svc_mono_ms() >= deadline)
			return svc_error_set(err, SVC_ETIMEOUT,
					     "the router on '%s' did not stop within %dms",
					     state_dir, STOP_TIMEOUT_MS);
		svc_sleep_ms(50);
	}
	return 0;
}
