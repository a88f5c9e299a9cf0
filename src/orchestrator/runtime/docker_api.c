/*
 * runtime/docker_api.c - the Docker Engine API client behind the docker runtime.
 *
 * svcctl talks to the engine directly, never through the docker command
 * line: one libcurl easy handle per request (over the engine's unix socket,
 * or http/https for tcp://), jansson for the bodies. Each request is
 * self-contained - no connection reuse, no shared handle - because a
 * rollout makes a few dozen calls at most and a fresh handle keeps the
 * error paths simple. Responses are read into a bounded buffer, except the
 * ones that stream: container logs (demultiplexed to a file descriptor as
 * they arrive), image builds and pushes (one JSON object per line,
 * progress passed on, the first error kept, a push's digest picked up).
 * A registry is only ever reached through the engine (push, and
 * /distribution to resolve a tag to its digest), with the one extra
 * header these take. The pure parts - host parsing, URL building, query
 * escaping, response interpretation, log demultiplexing, progress lines,
 * image references - are separate functions so that the unit tests can
 * reach them without an engine.
 */
#include "runtime/docker_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* Bounded responses: nothing the engine answers us comes close. */
#define DOCKER_BODY_MAX ((size_t)64 * 1024 * 1024)
/* How much of a non-JSON error body goes into a message. */
#define DOCKER_SNIPPET_MAX 200
#define DOCKER_CONNECT_TIMEOUT_S 5L
#define DOCKER_REQUEST_TIMEOUT_S 60L

struct svc_docker {
	char *endpoint;                  /* as given */
	struct svc_docker_host host;
	char api_version[16];            /* "1.41" */
	char *ca, *cert, *key;           /* TLS files; NULL without TLS */
	int64_t busy_ms;                 /* time spent in requests */
};

/* ---- pure helpers ---- */

static bool tls_verify_env(void)
{
	const char *v = getenv("DOCKER_TLS_VERIFY");

	return v && v[0] && strcmp(v, "0") != 0;
}

int svc_docker_host_parse(struct svc_docker_host *out, const char *text,
			  struct svc_error *err)
{
	const char *rest, *colon, *end;
	long long port;
	char portbuf[8];
	size_t hostlen;

	memset(out, 0, sizeof(*out));
	if (!text || !text[0])
		return svc_error_set(err, SVC_EGENERIC, "empty Docker host");
	if (strncmp(text, "unix://", 7) == 0) {
		rest = text + 7;
		if (!rest[0])
			return svc_error_set(err, SVC_EGENERIC,
					     "Docker host '%s' has no socket path", text);
		if (strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
		    strlen(rest) >= sizeof(out->socket_path))
			return svc_error_set(err, SVC_EGENERIC,
					     "Docker host '%s': socket path too long", text);
		out->unix_socket = true;
		snprintf(out->socket_path, sizeof(out->socket_path), "%s", rest);
		return 0;
	}
	if (strncmp(text, "tcp://", 6) != 0) {
		return svc_error_set(err, SVC_EGENERIC,
				     "unsupported Docker host '%s': expected unix:///path or tcp://host:port",
				     text);
	}
	rest = text + 6;
	end = rest + strlen(rest);
	if (end > rest && end[-1] == '/')
		end--; /* "tcp://host:2375/" */
	if (memchr(rest, '/', (size_t)(end - rest)) || memchr(rest, '@', (size_t)(end - rest)))
		return svc_error_set(err, SVC_EGENERIC,
				     "Docker host '%s': expected tcp://host:port", text);
	if (rest < end && rest[0] == '[') {
		const char *close = memchr(rest, ']', (size_t)(end - rest));

		if (!close || close == rest + 1)
			return svc_error_set(err, SVC_EGENERIC,
					     "Docker host '%s': bad IPv6 address", text);
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
		if (!colon && close + 1 != end)
			return svc_error_set(err, SVC_EGENERIC,
					     "Docker host '%s': expected tcp://host:port", text);
	} else {
		colon = memchr(rest, ':', (size_t)(end - rest));
	}
	hostlen = (size_t)((colon ? colon : end) - rest);
	if (hostlen == 0)
		return svc_error_set(err, SVC_EGENERIC, "Docker host '%s' has no host name", text);
	if (colon) {
		size_t plen = (size_t)(end - colon - 1);

		if (plen == 0 || plen >= sizeof(portbuf))
			return svc_error_set(err, SVC_EGENERIC,
					     "Docker host '%s': bad port", text);
		memcpy(portbuf, colon + 1, plen);
		portbuf[plen] = '\0';
		if (svc_parse_int(&port, portbuf, 1, 65535))
			return svc_error_set(err, SVC_EGENERIC,
					     "Docker host '%s': bad port '%s'", text, portbuf);
	} else {
		port = tls_verify_env() ? 2376 : 2375; /* the docker client's defaults */
	}
	if (hostlen + 8 >= sizeof(out->host))
		return svc_error_set(err, SVC_EGENERIC, "Docker host '%s': host name too long", text);
	snprintf(out->host, sizeof(out->host), "%.*s:%lld", (int)hostlen, rest, port);
	out->tls = tls_verify_env();
	return 0;
}

char *svc_docker_url(const struct svc_docker_host *h, const char *api_version,
		     const char *path)
{
	bool versioned = api_version && api_version[0];
	const char *sep = path && path[0] == '/' ? "" : "/";

	if (!path)
		path = "";
	if (h->unix_socket)
		return svc_strfmt("http://localhost%s%s%s%s", versioned ? "/v" : "",
				  versioned ? api_version : "", sep, path);
	return svc_strfmt("%s://%s%s%s%s%s", h->tls ? "https" : "http", h->host,
			  versioned ? "/v" : "", versioned ? api_version : "", sep, path);
}

/* Percent-encode everything but RFC 3986 unreserved characters and keep. */
static char *escape(const char *value, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(value), i, o = 0;
	char *out = svc_calloc(n * 3 + 1, 1);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == '~' || (c && strchr(keep, c))) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

char *svc_docker_query_escape(const char *value)
{
	return escape(value ? value : "", "");
}

/* The first max bytes of body, printable, marked when cut. Caller frees. */
static char *snippet(const char *body, size_t len, size_t max)
{
	size_t n = len > max ? max : len, i;
	char *s;

	while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
		n--;
	s = svc_calloc(n + 4, 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body[i];

		s[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	if (len > max)
		memcpy(s + n, "...", 4);
	return s;
}

static bool all_space(const char *body, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
			return false;
	}
	return true;
}

int svc_docker_parse_response(long status, const char *body, size_t len,
			      bool allow_empty, const char *what, json_t **out,
			      struct svc_error *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	char *snip = NULL;
	int rc = SVC_EGENERIC;

	*out = NULL;
	if (!body)
		len = 0;
	if (!what)
		what = "request";
	if (status < 200 || status > 299) {
		int code = status == 404 ? SVC_ENOTFOUND : SVC_EGENERIC;
		const char *msg = NULL;

		if (len > 0 && !all_space(body, len))
			root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
		if (root && json_is_object(root))
			msg = json_string_value(json_object_get(root, "message"));
		if (msg && msg[0]) {
			rc = svc_error_set(err, code, "%s: %s", what, msg);
		} else if (len > 0 && !all_space(body, len)) {
			snip = snippet(body, len, DOCKER_SNIPPET_MAX);
			rc = svc_error_set(err, code, "%s: HTTP %ld from the Docker engine: %s",
					   what, status, snip);
		} else {
			rc = svc_error_set(err, code, "%s: HTTP %ld from the Docker engine",
					   what, status);
		}
		goto done;
	}
	if (len == 0 || all_space(body, len)) {
		if (allow_empty) {
			rc = 0;
			goto done;
		}
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine sent an empty response (HTTP %ld)",
				   what, status);
		goto done;
	}
	root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_premature_end_of_input) {
			rc = svc_error_set(err, SVC_EGENERIC,
					   "%s: the Docker engine's response is truncated JSON (%zu bytes)",
					   what, len);
		} else {
			snip = snippet(body, len, DOCKER_SNIPPET_MAX);
			rc = svc_error_set(err, SVC_EGENERIC,
					   "%s: the Docker engine's response is not valid JSON (%s at byte %d): %s",
					   what, jerr.text, jerr.position, snip);
		}
		goto done;
	}
	*out = root;
	root = NULL;
	rc = 0;
done:
	json_decref(root);
	free(snip);
	return rc;
}


int svc_docker_demux_feed(struct svc_docker_demux *dm, const char *data, size_t len, int fd)
{
	while (len > 0) {
		if (dm->remaining > 0) {
			size_t n = len < dm->remaining ? len : dm->remaining;

			if (svc_write_all(fd, data, n))
				return -1;
			data += n;
			len -= n;
			dm->remaining -= n;
			continue;
		}
		dm->header[dm->header_len++] = (unsigned char)*data++;
		len--;
		if (dm->header_len < sizeof(dm->header))
			continue;
		/* 0 stdin, 1 stdout, 2 stderr, 3 the engine's own error text */
		if (dm->header[0] > 3 || dm->header[1] || dm->header[2] || dm->header[3]) {
			dm->header_len = 0;
			return -1;
		}
		dm->remaining = (size_t)dm->header[4] << 24 | (size_t)dm->header[5] << 16 |
				(size_t)dm->header[6] << 8 | (size_t)dm->header[7];
		dm->header_len = 0;
	}
	return 0;
}

/* ---- requests ---- */

/* A response body read into memory, up to DOCKER_BODY_MAX. */
struct buf {
	char *data;
	size_t len, cap;
	bool overflow;
};

static int buf_add(struct buf *b, const char *data, size_t n)
{
	if (n > DOCKER_BODY_MAX - b->len) {
		b->overflow = true;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = svc_realloc(b->data, cap, 1);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	size_t n = size * nmemb;

	return buf_add(arg, ptr, n) ? 0 : n;
}

/*
 * A streamed response: 2xx bodies go to fn as they arrive; any other
 * status's body is kept in errbody for svc_docker_parse_response. fn
 * returns 0, or -1 after filling sink->err to stop the transfer.
 */
struct sink {
	CURL *curl;
	long status;                 /* 0 until the first bytes */
	struct buf errbody;
	int (*fn)(struct sink *s, const char *data, size_t len);
	struct svc_error err;        /* the sink's own failure */
	/* logs */
	struct svc_docker_demux demux;
	int fd;
	/* build, push: JSON lines */
	struct buf line;
	struct svc_docker_progress progress;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->status == 0)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status < 200 || s->status > 299)
		return buf_add(&s->errbody, ptr, n) ? 0 : n;
	return s->fn(s, ptr, n) ? 0 : n;
}

struct request {
	const char *method;          /* "GET", "POST", "DELETE" */
	const char *path;            /* "/containers/json?all=1" */
	bool unversioned;            /* GET /version, before negotiation */
	const char *what;            /* for messages */
	const char *body;            /* JSON, or NULL */
	size_t body_len;
	FILE *upload;                /* streamed request body (build) */
	curl_off_t upload_len;
	const char *content_type;
	const char *const *headers;  /* more "Name: value" lines, NULL-terminated; may be NULL */
	long timeout_s;              /* 0: none */
	struct sink *sink;           /* NULL: response read into resp */
};

static bool connect_failure(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
		return true;
	default:
		return false;
	}
}

/* Put libcurl's error into err, naming the endpoint and the OS error. */
static int transport_error(struct svc_docker *d, const struct request *r, CURL *curl,
			   CURLcode res, const char *errbuf, struct svc_error *err)
{
	long oserr = 0, status = 0;
	double connect_time = 0;
	const char *text = errbuf[0] ? errbuf : curl_easy_strerror(res);
	const char *os;
	char detail[CURL_ERROR_SIZE + 128];

	curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME, &connect_time);
	/* For a unix socket "Failed to connect to localhost port 80" misleads. */
	if (d->host.unix_socket && res == CURLE_COULDNT_CONNECT)
		text = curl_easy_strerror(res);
	os = oserr ? strerror((int)oserr) : NULL;
	if (os && !strstr(text, os))
		snprintf(detail, sizeof(detail), "%s (%s)", text, os);
	else
		snprintf(detail, sizeof(detail), "%s", text);

	if (connect_failure(res) ||
	    (res == CURLE_OPERATION_TIMEDOUT && connect_time <= 0 && status == 0)) {
		if (r->unversioned)
			return svc_error_set(err, SVC_EUNAVAIL,
					     "cannot reach the Docker engine at %s: %s",
					     d->endpoint, detail);
		return svc_error_set(err, SVC_EUNAVAIL,
				     "%s: cannot reach the Docker engine at %s: %s",
				     r->what, d->endpoint, detail);
	}
	if (res == CURLE_OPERATION_TIMEDOUT)
		return svc_error_set(err, SVC_ETIMEOUT,
				     "%s: the Docker engine at %s did not finish within %ld s",
				     r->what, d->endpoint, r->timeout_s);
	return svc_error_set(err, SVC_EUNAVAIL, "%s: the connection to the Docker engine at %s failed: %s",
			     r->what, d->endpoint, detail);
}

/*
 * Perform one request. *status gets the HTTP status; without a sink the
 * body goes to resp (caller frees resp->data). Transport failures and the
 * sink's own failures are errors; HTTP statuses are left to the caller.
 */
static int perform(struct svc_docker *d, const struct request *r, long *status,
		   struct buf *resp, struct svc_error *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers = NULL, *more;
	char *url = NULL, *ctype = NULL;
	CURL *curl = NULL;
	CURLcode res;
	int rc = SVC_EGENERIC;

	*status = 0;
	curl = curl_easy_init();
	if (!curl) {
		rc = svc_error_set(err, SVC_EGENERIC, "cannot create a libcurl handle");
		goto done;
	}
	url = svc_docker_url(&d->host, r->unversioned ? NULL : d->api_version, r->path);
	errbuf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, DOCKER_CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, r->timeout_s);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "svcctl");
	if (d->host.unix_socket)
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, d->host.socket_path);
	if (d->host.tls) {
		curl_easy_setopt(curl, CURLOPT_CAINFO, d->ca);
		curl_easy_setopt(curl, CURLOPT_SSLCERT, d->cert);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, d->key);
	}
	if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		if (r->upload) {
			curl_easy_setopt(curl, CURLOPT_READDATA, r->upload);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, r->upload_len);
		} else {
			/* Never the default read callback: it reads stdin. */
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(r->body ? r->body_len : 0));
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		}
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
	}
	/* "Content-Type:" drops libcurl's default form type from empty POSTs. */
	ctype = svc_strfmt("Content-Type:%s%s", r->content_type ? " " : "",
			   r->content_type ? r->content_type : "");
	if (!(more = curl_slist_append(headers, ctype)))
		goto nomem;
	headers = more;
	if (!(more = curl_slist_append(headers, "Expect:"))) /* no 100-continue wait */
		goto nomem;
	headers = more;
	for (size_t i = 0; r->headers && r->headers[i]; i++) {
		if (!(more = curl_slist_append(headers, r->headers[i])))
			goto nomem;
		headers = more;
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (r->sink) {
		r->sink->curl = curl;
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, r->sink);
	} else {
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, buf_write);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	}

	{
		int64_t t0 = svc_mono_ms();
		res = curl_easy_perform(curl);
		d->busy_ms += svc_mono_ms() - t0;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	if (res == CURLE_WRITE_ERROR && r->sink && r->sink->err.code) {
		rc = svc_error_set(err, r->sink->err.code, "%s: %s", r->what,
				   r->sink->err.message);
		goto done;
	}
	if (res == CURLE_WRITE_ERROR &&
	    ((r->sink && r->sink->errbody.overflow) || (!r->sink && resp->overflow))) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine's response is larger than %zu MiB",
				   r->what, DOCKER_BODY_MAX >> 20);
		goto done;
	}
	if (res != CURLE_OK) {
		rc = transport_error(d, r, curl, res, errbuf, err);
		goto done;
	}
	rc = 0;
	goto done;
nomem:
	rc = svc_error_set(err, SVC_EGENERIC, "%s: out of memory", r->what);
done:
	if (curl)
		curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	free(ctype);
	free(url);
	return rc;
}

/*
 * A JSON request: perform it and hand the status and raw body back, so
 * that callers can accept statuses such as 304 or 404 before interpreting.
 */
static int json_request(struct svc_docker *d, const char *method, const char *path,
			const json_t *body, const char *what, long *status,
			struct buf *resp, struct svc_error *err)
{
	struct request r;
	char *text = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.path = path;
	r.what = what;
	r.timeout_s = DOCKER_REQUEST_TIMEOUT_S;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			rc = svc_error_set(err, SVC_EGENERIC, "%s: cannot encode the request body",
					   what);
			goto done;
		}
		r.body = text;
		r.body_len = strlen(text);
		r.content_type = "application/json";
	}
	rc = perform(d, &r, status, resp, err);
done:
	free(text);
	return rc;
}

int svc_docker_request(struct svc_docker *d, const char *method, const char *path,
		       const json_t *body, long *status, json_t **out,
		       struct svc_error *err)
{
	struct buf resp = { 0 };
	char *what = svc_strfmt("%s %s", method, path);
	long st = 0;
	int rc;

	*out = NULL;
	rc = json_request(d, method, path, body, what, &st, &resp, err);
	if (status)
		*status = st;
	if (rc)
		goto done;
	rc = svc_docker_parse_response(st, resp.data, resp.len, true, what, out, err);
done:
	free(resp.data);
	free(what);
	return rc;
}

/* "major.minor" -> major * 1000 + minor; -1 when not that shape. */
static long version_number(const char *v)
{
	char *end;
	long major, minor;

	if (!v || !(v[0] >= '0' && v[0] <= '9'))
		return -1;
	errno = 0;
	major = strtol(v, &end, 10);
	if (errno || *end != '.' || major > 999 || !(end[1] >= '0' && end[1] <= '9'))
		return -1;
	minor = strtol(end + 1, &end, 10);
	if (errno || *end || minor > 999)
		return -1;
	return major * 1000 + minor;
}

static int tls_files(struct svc_docker *d, struct svc_error *err)
{
	const char *dir = getenv("DOCKER_CERT_PATH");
	const char *home = getenv("HOME");
	char *fallback = NULL;
	char **files[3] = { &d->ca, &d->cert, &d->key };
	static const char *const names[3] = { "ca.pem", "cert.pem", "key.pem" };
	int i, rc = SVC_EGENERIC;

	if (!dir || !dir[0]) {
		if (!home || !home[0]) {
			rc = svc_error_set(err, SVC_EGENERIC,
					   "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is");
			goto done;
		}
		fallback = svc_strfmt("%s/.docker", home);
		dir = fallback;
	}
	for (i = 0; i < 3; i++) {
		*files[i] = svc_strfmt("%s/%s", dir, names[i]);
		if (access(*files[i], R_OK)) {
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno,
						 "DOCKER_TLS_VERIFY is set but '%s' cannot be read",
						 *files[i]);
			goto done;
		}
	}
	rc = 0;
done:
	free(fallback);
	return rc;
}

int svc_docker_open(struct svc_docker **out, const char *host, struct svc_error *err)
{
	struct svc_docker *d = svc_calloc(1, sizeof(*d));
	struct request r;
	struct buf resp = { 0 };
	json_t *version = NULL;
	const char *api, *min_api;
	long status = 0, have, max = version_number(SVC_DOCKER_API_MAX);
	int rc;

	*out = NULL;
	if (!host || !host[0])
		host = getenv("DOCKER_HOST");
	if (!host || !host[0])
		host = SVC_DOCKER_DEFAULT_HOST;
	d->endpoint = svc_strdup(host);
	rc = svc_docker_host_parse(&d->host, host, err);
	if (rc)
		goto done;
	if (d->host.tls && (rc = tls_files(d, err)))
		goto done;

	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.path = "/version";
	r.unversioned = true;
	r.what = "get the Docker engine's version";
	r.timeout_s = DOCKER_REQUEST_TIMEOUT_S;
	rc = perform(d, &r, &status, &resp, err);
	if (rc)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, r.what,
				       &version, err);
	if (rc)
		goto done;
	api = json_string_value(json_object_get(version, "ApiVersion"));
	min_api = json_string_value(json_object_get(version, "MinAPIVersion"));
	have = version_number(api);
	if (have < 0) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "the Docker engine at %s reports no usable API version ('%s')",
				   d->endpoint, api ? api : "");
		goto done;
	}
	if (min_api && version_number(min_api) > max) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "the Docker engine at %s needs API %s or later; svcctl speaks up to %s",
				   d->endpoint, min_api, SVC_DOCKER_API_MAX);
		goto done;
	}
	snprintf(d->api_version, sizeof(d->api_version), "%s",
		 have < max ? api : SVC_DOCKER_API_MAX);
	*out = d;
	d = NULL;
	rc = 0;
done:
	json_decref(version);
	free(resp.data);
	svc_docker_free(d);
	return rc;
}

int64_t svc_docker_busy_ms(const struct svc_docker *d)
{
	return d->busy_ms;
}

void svc_docker_free(struct svc_docker *d)
{
	if (!d)
		return;
	free(d->endpoint);
	free(d->ca);
	free(d->cert);
	free(d->key);
	free(d);
}

const char *svc_docker_endpoint(const struct svc_docker *d)
{
	return d->endpoint;
}

const char *svc_docker_api_version(const struct svc_docker *d)
{
	return d->api_version;
}

int svc_docker_image_exists(struct svc_docker *d, const char *image, bool *out,
			    struct svc_error *err)
{
	struct buf resp = { 0 };
	char *name = escape(image, "/:@");
	char *path = svc_strfmt("/images/%s/json", name);
	char *what = svc_strfmt("inspect image '%s'", image);
	json_t *info = NULL;
	long status = 0;
	int rc;

	*out = false;
	rc = json_request(d, "GET", path, NULL, what, &status, &resp, err);
	if (rc)
		goto done;
	if (status == 404)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, &info, err);
	if (rc)
		goto done;
	*out = true;
done:
	json_decref(info);
	free(resp.data);
	free(what);
	free(path);
	free(name);
	return rc;
}

int svc_docker_container_create(struct svc_docker *d, const char *name,
				const json_t *spec, char **id_out, struct svc_error *err)
{
	struct buf resp = { 0 };
	char *qname = name ? svc_docker_query_escape(name) : NULL;
	char *path = name ? svc_strfmt("/containers/create?name=%s", qname)
			  : svc_strdup("/containers/create");
	char *what = svc_strfmt("create container '%s'", name ? name : "");
	json_t *res = NULL;
	const char *id;
	long status = 0;
	int rc;

	*id_out = NULL;
	rc = json_request(d, "POST", path, spec, what, &status, &resp, err);
	if (rc)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, &res, err);
	if (rc)
		goto done;
	id = json_string_value(json_object_get(res, "Id"));
	if (!id || !id[0]) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine's response has no container id", what);
		goto done;
	}
	*id_out = svc_strdup(id);
done:
	json_decref(res);
	free(resp.data);
	free(what);
	free(path);
	free(qname);
	return rc;
}

/*
 * A request whose answer is empty (204) or ignored; ok_status (0: none)
 * is accepted as success besides 2xx.
 */
static int simple_request(struct svc_docker *d, const char *method, const char *path,
			  const char *what, long ok_status, long timeout_s,
			  struct svc_error *err)
{
	struct request r;
	struct buf resp = { 0 };
	json_t *res = NULL;
	long status = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.method = method;
	r.path = path;
	r.what = what;
	r.timeout_s = timeout_s;
	rc = perform(d, &r, &status, &resp, err);
	if (rc)
		goto done;
	if (ok_status && status == ok_status)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, true, what, &res, err);
done:
	json_decref(res);
	free(resp.data);
	return rc;
}

/*
 * simple_request on one object: METHOD /KINDs/ID[SUFFIX], described as
 * "VERB KIND 'ID'" in errors.
 */
static int object_request(struct svc_docker *d, const char *method, const char *kind,
			  const char *id, const char *suffix, const char *verb,
			  long ok_status, long timeout_s, struct svc_error *err)
{
	char *eid = svc_docker_query_escape(id);
	char *path = svc_strfmt("/%ss/%s%s", kind, eid, suffix);
	char *what = svc_strfmt("%s %s '%s'", verb, kind, id);
	int rc = simple_request(d, method, path, what, ok_status, timeout_s, err);

	free(what);
	free(path);
	free(eid);
	return rc;
}

int svc_docker_container_start(struct svc_docker *d, const char *id, struct svc_error *err)
{
	/* 304: already started */
	return object_request(d, "POST", "container", id, "/start", "start", 304,
			      DOCKER_REQUEST_TIMEOUT_S, err);
}

int svc_docker_container_stop(struct svc_docker *d, const char *id, int timeout_s,
			      struct svc_error *err)
{
	/* no t: the engine uses the container's own StopTimeout */
	char *suffix = timeout_s < 0 ? svc_strdup("/stop") : svc_strfmt("/stop?t=%d", timeout_s);
	long limit = DOCKER_REQUEST_TIMEOUT_S;
	int rc;

	/* The engine answers after the grace period: wait for longer than that. */
	if (timeout_s > 0 && (long)timeout_s + 30 > limit)
		limit = (long)timeout_s + 30;
	rc = object_request(d, "POST", "container", id, suffix, "stop", 304, limit, err);
	free(suffix);
	return rc;
}

int svc_docker_container_remove(struct svc_docker *d, const char *id,
				struct svc_error *err)
{
	return object_request(d, "DELETE", "container", id, "?force=1&v=1", "remove", 404,
			      DOCKER_REQUEST_TIMEOUT_S, err);
}

int svc_docker_image_remove(struct svc_docker *d, const char *image, struct svc_error *err)
{
	return object_request(d, "DELETE", "image", image, "", "remove", 404,
			      DOCKER_REQUEST_TIMEOUT_S, err);
}

int svc_docker_container_inspect(struct svc_docker *d, const char *id, json_t **out,
				 struct svc_error *err)
{
	struct buf resp = { 0 };
	char *eid = svc_docker_query_escape(id);
	char *path = svc_strfmt("/containers/%s/json", eid);
	char *what = svc_strfmt("inspect container '%s'", id);
	long status = 0;
	int rc;

	*out = NULL;
	rc = json_request(d, "GET", path, NULL, what, &status, &resp, err);
	if (rc)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, out, err);
done:
	free(resp.data);
	free(what);
	free(path);
	free(eid);
	return rc;
}

/*
 * GET BASE[?|&]filters={"KEY":[VALUE]} (no filter when key is NULL): the
 * engine's JSON array of objects. what names it in messages.
 */
static int list_request(struct svc_docker *d, const char *base, const char *key,
			const char *value, const char *what, json_t **out,
			struct svc_error *err)
{
	struct buf resp = { 0 };
	json_t *filters = NULL;
	char *ftext = NULL, *fesc = NULL, *path = NULL;
	long status = 0;
	int rc = SVC_EGENERIC;

	*out = NULL;
	if (key) {
		filters = json_pack("{s:[s]}", key, value);
		ftext = filters ? json_dumps(filters, JSON_COMPACT) : NULL;
		if (!ftext) {
			rc = svc_error_set(err, SVC_EGENERIC, "%s: cannot encode the filter", what);
			goto done;
		}
		fesc = svc_docker_query_escape(ftext);
		path = svc_strfmt("%s%cfilters=%s", base, strchr(base, '?') ? '&' : '?', fesc);
	} else {
		path = svc_strdup(base);
	}
	rc = json_request(d, "GET", path, NULL, what, &status, &resp, err);
	if (rc)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, out, err);
	if (rc)
		goto done;
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine's response is not a list", what);
	}
done:
	json_decref(filters);
	free(resp.data);
	free(path);
	free(fesc);
	free(ftext);
	return rc;
}

int svc_docker_container_list(struct svc_docker *d, const char *label, json_t **out,
			      struct svc_error *err)
{
	char *what = svc_strfmt("list containers labelled '%s'", label);
	int rc = list_request(d, "/containers/json?all=1", "label", label, what, out, err);

	free(what);
	return rc;
}

/* ---- swarm ---- */

int svc_docker_swarm_info(struct svc_docker *d, struct svc_docker_swarm *out,
			  struct svc_error *err)
{
	json_t *info = NULL, *sw;
	const char *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = svc_docker_request(d, "GET", "/info", NULL, NULL, &info, err)))
		return rc;
	sw = json_object_get(info, "Swarm");
	s = json_string_value(json_object_get(sw, "LocalNodeState"));
	snprintf(out->state, sizeof(out->state), "%s", s ? s : "inactive");
	out->manager = json_is_true(json_object_get(sw, "ControlAvailable"));
	s = json_string_value(json_object_get(sw, "NodeID"));
	snprintf(out->node_id, sizeof(out->node_id), "%s", s ? s : "");
	s = json_string_value(json_object_get(sw, "NodeAddr"));
	snprintf(out->node_addr, sizeof(out->node_addr), "%s", s ? s : "");
	out->nodes = (int)json_integer_value(json_object_get(sw, "Nodes"));
	json_decref(info);
	return 0;
}

int svc_docker_service_create(struct svc_docker *d, const json_t *spec, char **id_out,
			      struct svc_error *err)
{
	struct buf resp = { 0 };
	const char *name = json_string_value(json_object_get(spec, "Name"));
	char *what = svc_strfmt("create swarm service '%s'", name ? name : "");
	json_t *res = NULL;
	const char *id;
	long status = 0;
	int rc;

	*id_out = NULL;
	rc = json_request(d, "POST", "/services/create", spec, what, &status, &resp, err);
	if (rc)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, &res, err);
	if (rc)
		goto done;
	id = json_string_value(json_object_get(res, "ID"));
	if (!id || !id[0]) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine's response has no service id", what);
		goto done;
	}
	*id_out = svc_strdup(id);
done:
	json_decref(res);
	free(resp.data);
	free(what);
	return rc;
}

int svc_docker_service_remove(struct svc_docker *d, const char *id, struct svc_error *err)
{
	return object_request(d, "DELETE", "service", id, "", "remove", 404,
			      DOCKER_REQUEST_TIMEOUT_S, err);
}

int svc_docker_service_inspect(struct svc_docker *d, const char *id, json_t **out,
			       struct svc_error *err)
{
	struct buf resp = { 0 };
	char *eid = svc_docker_query_escape(id);
	char *path = svc_strfmt("/services/%s", eid);
	char *what = svc_strfmt("inspect swarm service '%s'", id);
	long status = 0;
	int rc;

	*out = NULL;
	rc = json_request(d, "GET", path, NULL, what, &status, &resp, err);
	if (!rc)
		rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, out, err);
	free(resp.data);
	free(what);
	free(path);
	free(eid);
	return rc;
}

int svc_docker_service_list(struct svc_docker *d, const char *label, json_t **out,
			    struct svc_error *err)
{
	char *what = svc_strfmt("list swarm services labelled '%s'", label);
	int rc = list_request(d, "/services", "label", label, what, out, err);

	free(what);
	return rc;
}

int svc_docker_task_list(struct svc_docker *d, const char *service, json_t **out,
			 struct svc_error *err)
{
	char *what = svc_strfmt("list the tasks of swarm service '%s'", service);
	int rc = list_request(d, "/tasks", "service", service, what, out, err);

	free(what);
	return rc;
}

int svc_docker_node_list(struct svc_docker *d, json_t **out, struct svc_error *err)
{
	return list_request(d, "/nodes", NULL, NULL, "list the swarm's nodes", out, err);
}

static int logs_sink(struct sink *s, const char *data, size_t len)
{
	if (svc_docker_demux_feed(&s->demux, data, len, s->fd) == 0)
		return 0;
	if (s->demux.remaining > 0) /* the header was fine: the write failed */
		svc_error_set_errno(&s->err, SVC_EGENERIC, errno, "cannot write the logs");
	else
		svc_error_set(&s->err, SVC_EGENERIC,
			      "the Docker engine's log stream has a malformed frame header");
	return -1;
}

/* GET /KINDs/ID/logs?stdout=1&stderr=1[&follow=1], demultiplexed to fd */
static int logs_request(struct svc_docker *d, const char *kind, const char *id, bool follow,
			int fd, struct svc_error *err)
{
	struct request r;
	struct sink s;
	char *eid = svc_docker_query_escape(id);
	char *path = svc_strfmt("/%ss/%s/logs?stdout=1&stderr=1%s", kind, eid,
				follow ? "&follow=1" : "");
	char *what = svc_strfmt("logs of %s '%s'", kind, id);
	json_t *res = NULL;
	long status = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	s.fn = logs_sink;
	s.fd = fd;
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.path = path;
	r.what = what;
	r.timeout_s = follow ? 0 : DOCKER_REQUEST_TIMEOUT_S;
	r.sink = &s;
	rc = perform(d, &r, &status, NULL, err);
	if (rc)
		goto done;
	if (status < 200 || status > 299)
		rc = svc_docker_parse_response(status, s.errbody.data, s.errbody.len, true,
					       what, &res, err);
done:
	json_decref(res);
	free(s.errbody.data);
	free(what);
	free(path);
	free(eid);
	return rc;
}

int svc_docker_container_logs(struct svc_docker *d, const char *id, bool follow, int fd,
			      struct svc_error *err)
{
	return logs_request(d, "container", id, follow, fd, err);
}

int svc_docker_task_logs(struct svc_docker *d, const char *id, bool follow, int fd,
			 struct svc_error *err)
{
	return logs_request(d, "task", id, follow, fd, err);
}

/* ---- JSON progress streams: builds and pushes ---- */

bool svc_docker_digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7))
		return false;
	s += 7;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

static int progress_write(struct svc_docker_progress *p, const char *text, struct svc_error *err)
{
	if (p->fd < 0 || !text[0] || svc_write_all(p->fd, text, strlen(text)) == 0)
		return 0;
	return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write the engine's progress");
}

int svc_docker_progress_line(struct svc_docker_progress *p, const char *line, size_t len,
			     struct svc_error *err)
{
	json_error_t jerr;
	json_t *obj, *detail, *aux;
	const char *text;
	int rc = -1;

	if (all_space(line, len))
		return 0;
	obj = json_loadb(line, len, 0, &jerr);
	if (!obj || !json_is_object(obj)) {
		char *snip = snippet(line, len, DOCKER_SNIPPET_MAX);

		svc_error_set(err, SVC_EGENERIC,
			      "the Docker engine's progress output is not JSON: %s", snip);
		free(snip);
		goto done;
	}
	text = json_string_value(json_object_get(obj, "error"));
	detail = json_object_get(obj, "errorDetail");
	if (!text && detail)
		text = json_string_value(json_object_get(detail, "message"));
	if (!text && detail)
		text = "unknown error";
	if (text) {
		if (!p->error)
			p->error = svc_strdup(text);
		rc = 0;
		goto done;
	}
	/* a push names what the registry stored the image as */
	aux = json_object_get(obj, "aux");
	text = json_string_value(json_object_get(aux, "Digest"));
	if (text && svc_docker_digest_valid(text))
		snprintf(p->digest, sizeof(p->digest), "%s", text);
	text = json_string_value(json_object_get(obj, "stream"));
	if (text && progress_write(p, text, err))
		goto done;
	text = json_string_value(json_object_get(obj, "status"));
	detail = json_object_get(obj, "progressDetail");
	/* Pull and push progress repeat many times a second: only the plain status lines. */
	if (text && (!detail || json_object_size(detail) == 0)) {
		const char *lid = json_string_value(json_object_get(obj, "id"));
		char *msg = lid ? svc_strfmt("%s: %s\n", lid, text) : svc_strfmt("%s\n", text);
		int w = progress_write(p, msg, err);

		free(msg);
		if (w)
			goto done;
	}
	rc = 0;
done:
	json_decref(obj);
	return rc;
}

void svc_docker_progress_release(struct svc_docker_progress *p)
{
	if (!p)
		return;
	free(p->error);
	p->error = NULL;
}

static int progress_sink(struct sink *s, const char *data, size_t len)
{
	size_t start = 0, i;

	if (buf_add(&s->line, data, len)) {
		svc_error_set(&s->err, SVC_EGENERIC,
			      "the Docker engine's progress output has a line longer than %zu MiB",
			      DOCKER_BODY_MAX >> 20);
		return -1;
	}
	for (i = 0; i < s->line.len; i++) {
		if (s->line.data[i] != '\n')
			continue;
		if (svc_docker_progress_line(&s->progress, s->line.data + start, i - start, &s->err))
			return -1;
		start = i + 1;
	}
	memmove(s->line.data, s->line.data + start, s->line.len - start);
	s->line.len -= start;
	return 0;
}

/*
 * Perform r, its 2xx answer a JSON progress stream into s (progress to
 * progress_fd), and say how it ended: the engine's HTTP error, a last
 * line without its newline, or the stream's first error line (SVC_EGENERIC:
 * the engine did the work and it failed).
 */
static int progress_request(struct svc_docker *d, struct request *r, struct sink *s,
			    int progress_fd, struct svc_error *err)
{
	json_t *res = NULL;
	long status = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	s->fn = progress_sink;
	s->progress.fd = progress_fd;
	r->sink = s;
	rc = perform(d, r, &status, NULL, err);
	if (rc)
		goto done;
	if (status < 200 || status > 299) {
		rc = svc_docker_parse_response(status, s->errbody.data, s->errbody.len, true,
					       r->what, &res, err);
		goto done;
	}
	if (s->line.len > 0 &&
	    svc_docker_progress_line(&s->progress, s->line.data, s->line.len, &s->err)) {
		rc = svc_error_set(err, s->err.code, "%s: %s", r->what, s->err.message);
		goto done;
	}
	if (s->progress.error) {
		rc = svc_error_set(err, SVC_EGENERIC, "%s: %s", r->what, s->progress.error);
		goto done;
	}
	rc = 0;
done:
	json_decref(res);
	free(s->errbody.data);
	free(s->line.data);
	s->errbody.data = s->line.data = NULL;
	return rc;
}

char *svc_docker_build_path(const char *tag, const char *dockerfile, const json_t *buildargs)
{
	char *etag = svc_docker_query_escape(tag);
	char *edf = dockerfile ? svc_docker_query_escape(dockerfile) : NULL;
	char *args = json_object_size(buildargs)
		? json_dumps(buildargs, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char *eargs = args ? svc_docker_query_escape(args) : NULL;
	char *path = svc_strfmt("/build?t=%s%s%s%s%s", etag, edf ? "&dockerfile=" : "",
				edf ? edf : "", eargs ? "&buildargs=" : "", eargs ? eargs : "");

	free(eargs);
	free(args);
	free(edf);
	free(etag);
	return path;
}

int svc_docker_image_build(struct svc_docker *d, const char *tar_path, const char *tag,
			   const char *dockerfile, const json_t *buildargs, long timeout_s,
			   int progress_fd, struct svc_error *err)
{
	struct request r;
	struct sink s;
	struct stat st;
	FILE *tar = NULL;
	char *path = svc_docker_build_path(tag, dockerfile, buildargs);
	char *what = svc_strfmt("build image '%s'", tag);
	int rc;

	memset(&s, 0, sizeof(s));
	tar = fopen(tar_path, "rbe");
	if (!tar || fstat(fileno(tar), &st)) {
		rc = svc_error_set_errno(err, errno == ENOENT ? SVC_ENOTFOUND : SVC_EGENERIC,
					 errno, "%s: cannot read '%s'", what, tar_path);
		goto done;
	}
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.path = path;
	r.what = what;
	r.upload = tar;
	r.upload_len = (curl_off_t)st.st_size;
	r.content_type = "application/x-tar";
	r.timeout_s = timeout_s > 0 ? timeout_s : 0;
	rc = progress_request(d, &r, &s, progress_fd, err);
done:
	if (tar)
		fclose(tar);
	svc_docker_progress_release(&s.progress);
	free(what);
	free(path);
	return rc;
}

/* ---- images in a registry ---- */

/*
 * The credential of every registry request: base64 of "{}", no user, which
 * a registry without authentication accepts (the engine wants the header
 * on a push).
 */
static const char *const registry_headers[] = { "X-Registry-Auth: e30=", NULL };

/* The first path component of image when there is a '/' after it; else its length is 0. */
static size_t first_component(const char *image)
{
	const char *slash = image ? strchr(image, '/') : NULL;

	return slash ? (size_t)(slash - image) : 0;
}

bool svc_docker_image_has_registry(const char *image)
{
	size_t n = first_component(image);

	if (n == 0)
		return false;
	return memchr(image, '.', n) || memchr(image, ':', n) ||
	       (n == 9 && !strncmp(image, "localhost", 9));
}

char *svc_docker_image_repo(const char *image)
{
	size_t n = strcspn(image, "@");
	const char *slash, *colon;

	/* a ':' after the last '/' starts the tag (one before it is a port) */
	slash = memrchr(image, '/', n);
	colon = memchr(slash ? slash : image, ':', n - (size_t)((slash ? slash : image) - image));
	if (colon)
		n = (size_t)(colon - image);
	return svc_strfmt("%.*s", (int)n, image);
}

char *svc_docker_image_pin(const char *image, const char *digest)
{
	char *repo = svc_docker_image_repo(image);
	char *pin = svc_strfmt("%s@%s", repo, digest);

	free(repo);
	return pin;
}

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A repository path component: [a-z0-9]+ joined by '.', '_', '__' or '-'+. */
static bool path_component_valid(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
		return false;
	while (i < n) {
		if (alnum_lower(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '_' && i + 1 < n && s[i + 1] == '_') {
			i += 2;
		} else if (s[i] == '.' || s[i] == '_') {
			i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= n || !alnum_lower(s[i]))
			return false;
	}
	return true;
}

/* A registry host: DNS-like labels joined by '.', then :PORT. */
static bool host_valid(const char *s, size_t n, char *why, size_t why_len)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n;

	for (size_t i = 0, start = 0; i <= hn; i++) {
		if (i < hn && s[i] != '.')
			continue;
		/* a label: letters, digits and '-' inside */
		if (i == start || s[start] == '-' || s[i - 1] == '-') {
			snprintf(why, why_len, "registry host '%.*s' is not a host name", (int)hn, s);
			return false;
		}
		for (size_t k = start; k < i; k++) {
			char c = s[k];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-')) {
				snprintf(why, why_len, "registry host '%.*s' is not a host name",
					 (int)hn, s);
				return false;
			}
		}
		start = i + 1;
	}
	if (colon) {
		char port[8];
		long long v;
		size_t pn = n - hn - 1;

		if (pn == 0 || pn >= sizeof(port) || (memcpy(port, colon + 1, pn), port[pn] = '\0',
						      svc_parse_int(&v, port, 1, 65535))) {
			snprintf(why, why_len, "registry port '%.*s' is not a port (1-65535)",
				 (int)pn, colon + 1);
			return false;
		}
	}
	return true;
}

int svc_docker_push_repo_check(const char *text, char *why, size_t why_len)
{
	size_t n = first_component(text), len;
	const char *path, *c;

	why[0] = '\0';
	if (!text || !text[0] || n == 0) {
		snprintf(why, why_len, "'%s' is not HOST[:PORT]/PATH (a registry, then a repository "
			 "in it: registry.example.com:5000/team/greeter)", text ? text : "");
		return -1;
	}
	len = strlen(text);
	if (len > 255) {
		snprintf(why, why_len, "'%.40s...' is longer than 255 characters", text);
		return -1;
	}
	if (!svc_docker_image_has_registry(text)) {
		snprintf(why, why_len, "'%s' names no registry: its first part '%.*s' has no '.' "
			 "and no ':PORT' and is not 'localhost' (so it would be Docker Hub's)",
			 text, (int)n, text);
		return -1;
	}
	if (!host_valid(text, n, why, why_len))
		return -1;
	path = text + n + 1;
	if (strchr(path, ':') || strchr(path, '@')) {
		snprintf(why, why_len, "'%s' has a tag or digest: give the repository only (the "
			 "image is pushed tagged with its artifact id)", text);
		return -1;
	}
	for (c = path; ; ) {
		size_t k = strcspn(c, "/");

		if (!path_component_valid(c, k)) {
			snprintf(why, why_len, "repository path '%s' of '%s': each part is lowercase "
				 "letters and digits, with '.', '_', '__' or '-' only between them",
				 path, text);
			return -1;
		}
		if (!c[k])
			break;
		c += k + 1;
	}
	return 0;
}

/* An image name in a request path: '/', ':' and '@' as they are (the engine's routes take them). */
static char *image_path_escape(const char *image)
{
	return escape(image, "/:@");
}

int svc_docker_image_tag(struct svc_docker *d, const char *source, const char *repo,
			 const char *tag, struct svc_error *err)
{
	char *esrc = image_path_escape(source), *erepo = svc_docker_query_escape(repo);
	char *etag = svc_docker_query_escape(tag);
	char *path = svc_strfmt("/images/%s/tag?repo=%s&tag=%s", esrc, erepo, etag);
	char *what = svc_strfmt("tag image '%s' as '%s:%s'", source, repo, tag);
	int rc = simple_request(d, "POST", path, what, 0, DOCKER_REQUEST_TIMEOUT_S, err);

	free(what);
	free(path);
	free(etag);
	free(erepo);
	free(esrc);
	return rc;
}

char *svc_docker_push_path(const char *repo, const char *tag)
{
	char *erepo = image_path_escape(repo), *etag = svc_docker_query_escape(tag);
	char *path = svc_strfmt("/images/%s/push?tag=%s", erepo, etag);

	free(etag);
	free(erepo);
	return path;
}

int svc_docker_image_push(struct svc_docker *d, const char *repo, const char *tag,
			  long timeout_s, int progress_fd,
			  char digest_out[SVC_DOCKER_DIGEST_LEN + 1], struct svc_error *err)
{
	struct request r;
	struct sink s;
	char *path = svc_docker_push_path(repo, tag);
	char *what = svc_strfmt("push image '%s:%s'", repo, tag);
	int rc;

	digest_out[0] = '\0';
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.path = path;
	r.what = what;
	r.headers = registry_headers;
	r.timeout_s = timeout_s > 0 ? timeout_s : 0;
	rc = progress_request(d, &r, &s, progress_fd, err);
	if (rc)
		goto done;
	if (!s.progress.digest[0]) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine's push output names no digest", what);
		goto done;
	}
	snprintf(digest_out, SVC_DOCKER_DIGEST_LEN + 1, "%s", s.progress.digest);
done:
	svc_docker_progress_release(&s.progress);
	free(what);
	free(path);
	return rc;
}

int svc_docker_image_resolve(struct svc_docker *d, const char *image,
			     char digest_out[SVC_DOCKER_DIGEST_LEN + 1], struct svc_error *err)
{
	struct request r;
	struct buf resp = { 0 };
	char *eimage = image_path_escape(image);
	char *path = svc_strfmt("/distribution/%s/json", eimage);
	char *what = svc_strfmt("resolve image '%s' in its registry", image);
	json_t *res = NULL;
	const char *digest;
	long status = 0;
	int rc;

	digest_out[0] = '\0';
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.path = path;
	r.what = what;
	r.headers = registry_headers;
	r.timeout_s = DOCKER_REQUEST_TIMEOUT_S;
	rc = perform(d, &r, &status, &resp, err);
	if (rc)
		goto done;
	rc = svc_docker_parse_response(status, resp.data, resp.len, false, what, &res, err);
	if (rc)
		goto done;
	digest = json_string_value(json_object_get(json_object_get(res, "Descriptor"), "digest"));
	if (!svc_docker_digest_valid(digest)) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "%s: the Docker engine's answer has no sha256 digest ('%s')", what,
				   digest ? digest : "");
		goto done;
	}
	snprintf(digest_out, SVC_DOCKER_DIGEST_LEN + 1, "%s", digest);
done:
	json_decref(res);
	free(resp.data);
	free(what);
	free(path);
	free(eimage);
	return rc;
}
