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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/spawn.h"
#include "util.h"

#define REQUEST_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 5000
/* a supervisor's backoff (at most 5 s) plus a start */
#define RESTART_TIMEOUT_MS 10000
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

char *svc_router_external_path(const char *state_dir)
{
	return svc_strfmt("%s/router/external", state_dir);
}

char *svc_router_supervisor_pid_path(const char *state_dir)
{
	return svc_strfmt("%s/router/supervisor.pid", state_dir);
}

int svc_router_abstract_addr(struct sockaddr_un *sun, socklen_t *len,
			     const char *state_dir, struct svc_error *err)
{
	struct stat sb;
	int n;

	if (stat(state_dir, &sb))
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot stat '%s'", state_dir);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* sun_path[0] == '\0': the abstract namespace; the name is not NUL-terminated */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "svcctl-router/%llx:%llx",
		     (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	return 0;
}

/*
 * Connect to the router: router.sock first, then the abstract socket (the
 * file may have been deleted). Returns the connected fd, or -1 with errno
 * of the last attempt.
 */
static int connect_to(const struct sockaddr_un *sun, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), e;

	if (fd < 0)
		return -1;
	/* A unix socket connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (const struct sockaddr *)sun, len) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int router_connect(const char *state_dir, const char *path, int64_t deadline)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX }, abs;
	socklen_t abs_len = 0;
	bool have_abs = svc_router_abstract_addr(&abs, &abs_len, state_dir, NULL) == 0;
	int fd;

	if (strlen(path) < sizeof(sun.sun_path))
		memcpy(sun.sun_path, path, strlen(path) + 1);
	for (;;) {
		bool busy = false;
		if (sun.sun_path[0] && (fd = connect_to(&sun, sizeof(sun))) >= 0)
			return fd;
		busy = errno == EAGAIN;
		if (have_abs && (fd = connect_to(&abs, abs_len)) >= 0)
			return fd;
		busy = busy || errno == EAGAIN;
		/* both backlogs full: the router is busy accepting, not gone */
		if (!busy || svc_mono_ms() >= deadline)
			return -1;
		svc_sleep_ms(10);
	}
}

bool svc_router_running(const char *state_dir)
{
	struct sockaddr_un sun;
	socklen_t len;
	bool running;
	int fd;

	if (svc_router_abstract_addr(&sun, &len, state_dir, NULL))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	/* refused: nobody bound it; EAGAIN: bound, with a full backlog */
	running = connect(fd, (struct sockaddr *)&sun, len) == 0 || errno == EAGAIN;
	close(fd);
	return running;
}

pid_t svc_router_supervisor_pid(const char *state_dir)
{
	char *path = svc_router_supervisor_pid_path(state_dir);
	char *text = NULL;
	size_t len;
	long long pid = 0;
	unsigned long long start = 0;
	pid_t out = 0;

	if (svc_file_read(&text, &len, path, 256, NULL) == 0 &&
	    sscanf(text, "%lld %llu", &pid, &start) == 2 && pid > 1 && pid <= INT32_MAX &&
	    svc_pid_alive((pid_t)pid, start))
		out = (pid_t)pid;
	free(text);
	free(path);
	return out;
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
	char *path = svc_router_socket_path(state_dir);
	char *text = NULL, *line = NULL, *in = NULL;
	size_t in_len = 0, in_alloc = 0, off = 0, len;
	int64_t deadline = svc_mono_ms() + timeout_ms;
	json_error_t jerr;
	int fd = -1, rc = SVC_EUNAVAIL;

	*reply = NULL;
	text = json_dumps(request, JSON_COMPACT);
	if (!text) {
		rc = svc_error_set(err, SVC_EGENERIC, "cannot encode the router request");
		goto done;
	}
	line = svc_strfmt("%s\n", text);
	len = strlen(line);
	fd = router_connect(state_dir, path, deadline);
	if (fd < 0) {
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

/* Wait until a router answers or deadline passes. */
static bool wait_answer(const char *state_dir, int64_t deadline)
{
	for (;;) {
		if (svc_router_ping(state_dir, NULL) == 0)
			return true;
		if (svc_mono_ms() >= deadline)
			return false;
		svc_sleep_ms(50);
	}
}

int svc_router_ensure(const char *state_dir, const char *self_exe,
		      struct svc_error *err)
{
	char *dir = svc_router_dir(state_dir);
	char *log_path = svc_strfmt("%s/router.log", dir);
	char *external = svc_router_external_path(state_dir);
	char *argv[] = { (char *)self_exe, (char *)"__router-supervise", (char *)state_dir, NULL };
	int64_t deadline = svc_mono_ms() + START_TIMEOUT_MS;
	int rc = SVC_EUNAVAIL;
	pid_t pid;

	if (svc_router_ping(state_dir, NULL) == 0) {
		rc = 0;
		goto done;
	}
	if (access(external, F_OK) == 0) {
		/* a service manager owns it: never start a second one */
		if (wait_answer(state_dir, deadline))
			rc = 0;
		else
			svc_error_set(err, SVC_EUNAVAIL,
				      "the router is run by a service manager ('svcctl router run', "
				      "see '%s') and did not answer within %dms; start it there, or "
				      "remove '%s' to let svcctl start and supervise one",
				      external, START_TIMEOUT_MS, external);
		goto done;
	}
	if ((pid = svc_router_supervisor_pid(state_dir)) != 0) {
		/* its supervisor is bringing it back */
		if (wait_answer(state_dir, svc_mono_ms() + RESTART_TIMEOUT_MS))
			rc = 0;
		else
			svc_error_set(err, SVC_EUNAVAIL,
				      "the router's supervisor (pid %ld) did not bring it back within "
				      "%dms (see '%s')", (long)pid, RESTART_TIMEOUT_MS, log_path);
		goto done;
	}
	if (svc_router_running(state_dir)) {
		svc_error_set(err, SVC_EUNAVAIL,
			      "a router runs for '%s' but does not answer (see '%s')",
			      state_dir, log_path);
		goto done;
	}
	if (svc_mkdir_p(dir, 0700, err))
		goto done;
	if (svc_spawn_detached(&pid, argv, log_path, err)) {
		svc_error_set(err, SVC_EUNAVAIL, "cannot start the router (see '%s')", log_path);
		goto done;
	}
	if (!wait_answer(state_dir, deadline)) {
		svc_error_set(err, SVC_EUNAVAIL,
			      "the router did not answer within %dms after starting (see '%s')",
			      START_TIMEOUT_MS, log_path);
		goto done;
	}
	rc = 0;
done:
	free(external);
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
		/* an address it cannot listen on is the router's unavailability */
		rc = svc_error_set(err, json_is_false(json_object_get(reply, "listening"))
				   ? SVC_EUNAVAIL : SVC_EGENERIC,
				   "%s", why ? why : "the router refused the route");
	} else if (rc == 0 && nbackends && json_is_false(json_object_get(reply, "listening"))) {
		const char *why = json_string_value(json_object_get(reply, "listen_error"));
		rc = svc_error_set(err, SVC_EUNAVAIL, "the router is not listening on %s: %s",
				   listen, why ? why : "unknown reason");
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

int svc_router_stop(const char *state_dir, bool *was_running, struct svc_error *err)
{
	int64_t deadline = svc_mono_ms() + STOP_TIMEOUT_MS;
	pid_t sup = svc_router_supervisor_pid(state_dir);
	struct svc_error e;
	int rc;

	*was_running = false;
	svc_error_clear(&e);
	if (!svc_router_running(state_dir)) {
		/* none runs; a supervisor waiting to restart one must not */
		if (sup) {
			*was_running = true;
			kill(sup, SIGTERM);
		}
	} else {
		*was_running = true;
		rc = simple_op(state_dir, "shutdown", REQUEST_TIMEOUT_MS, &e);
		if (rc)
			return svc_error_set(err, SVC_EUNAVAIL,
					     "a router runs for '%s' but did not answer the shutdown "
					     "request (it may still act on it once it runs): %s",
					     state_dir, e.message);
		while (svc_router_running(state_dir)) {
			if (svc_mono_ms() >= deadline)
				return svc_error_set(err, SVC_ETIMEOUT,
						     "the router of '%s' did not stop within %dms",
						     state_dir, STOP_TIMEOUT_MS);
			svc_sleep_ms(20);
		}
	}
	/* the supervisor exits once its router exited 0 */
	while (sup && svc_router_supervisor_pid(state_dir) == sup) {
		if (svc_mono_ms() >= deadline)
			return svc_error_set(err, SVC_ETIMEOUT,
					     "the router's supervisor (pid %ld) did not exit within %dms",
					     (long)sup, STOP_TIMEOUT_MS);
		svc_sleep_ms(20);
	}
	return 0;
}
