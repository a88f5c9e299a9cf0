/*
 * docker_api.c - the Docker Engine API over HTTP with libcurl: unix
 * socket or tcp (with TLS), JSON bodies with jansson, the version
 * negotiated once, the engine's own error messages passed on.
 *
 * Every request goes through one function (do_request) with a body sink:
 * bounded in memory for JSON answers, or a callback for the streams
 * (container logs, image build output).
 */
#include "docker_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define BODY_MAX (64 * 1024 * 1024)

struct svc_docker {
	struct svc_docker_host host;
	char endpoint[600];
	char version[16];        /* negotiated, "1.41" */
	char cert_dir[512];
	int64_t busy_ms;         /* time spent in requests */
};

/* ---- pure helpers ---- */

int svc_docker_host_parse(struct svc_docker_host *out, const char *text,
			  struct svc_error *err)
{
	const char *tls = getenv("DOCKER_TLS_VERIFY");

	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		text = SVC_DOCKER_DEFAULT_HOST;
	if (!strncmp(text, "unix://", 7)) {
		if (text[7] != '/' || strlen(text + 7) >= sizeof(out->socket_path))
			return svc_error_set(err, SVC_EUSAGE,
					     "invalid DOCKER_HOST '%s' (expected unix:///path)", text);
		out->unix_socket = true;
		snprintf(out->socket_path, sizeof(out->socket_path), "%s", text + 7);
		return 0;
	}
	if (!strncmp(text, "tcp://", 6)) {
		const char *h = text + 6;
		size_t n = strcspn(h, "/");
		if (!n || n >= sizeof(out->host) || !strchr(h, ':'))
			return svc_error_set(err, SVC_EUSAGE,
					     "invalid DOCKER_HOST '%s' (expected tcp://host:port)", text);
		memcpy(out->host, h, n);
		out->host[n] = '\0';
		out->tls = tls && *tls && strcmp(tls, "0");
		return 0;
	}
	return svc_error_set(err, SVC_EUSAGE,
			     "invalid DOCKER_HOST '%s' (expected unix:// or tcp://)", text);
}

char *svc_docker_url(const struct svc_docker_host *h, const char *api_version,
		     const char *path)
{
	const char *base = h->unix_socket ? "localhost" : h->host;
	const char *scheme = !h->unix_socket && h->tls ? "https" : "http";

	if (api_version && *api_version)
		return svc_strfmt("%s://%s/v%s%s", scheme, base, api_version, path);
	return svc_strfmt("%s://%s%s", scheme, base, path);
}

char *svc_docker_query_escape(const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(value);
	char *out = svc_calloc(3 * n + 1, 1), *p = out;

	for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.' || *s == '~') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = '\0';
	return out;
}

int svc_docker_parse_response(long status, const char *body, size_t len,
			      bool allow_empty, const char *what, json_t **out,
			      struct svc_error *err)
{
	json_error_t je;
	json_t *j = NULL;
	bool empty = true;

	*out = NULL;
	for (size_t i = 0; i < len; i++)
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
			empty = false;
	if (status < 200 || status >= 300) {
		const char *msg = NULL;
		if (!empty)
			j = json_loadb(body, len, 0, &je);
		msg = json_string_value(json_object_get(j, "message"));
		if (msg)
			svc_error_set(err, status == 404 ? SVC_ENOTFOUND : SVC_EGENERIC,
				      "%s: %s (HTTP %ld)", what, msg, status);
		else
			svc_error_set(err, status == 404 ? SVC_ENOTFOUND : SVC_EGENERIC,
				      "%s: HTTP %ld%s%.*s", what, status, empty ? "" : ": ",
				      (int)(len > 200 ? 200 : len), body ? body : "");
		json_decref(j);
		return status == 404 ? SVC_ENOTFOUND : SVC_EGENERIC;
	}
	if (empty) {
		if (allow_empty)
			return 0;
		return svc_error_set(err, SVC_EGENERIC, "%s: the engine sent an empty answer", what);
	}
	j = json_loadb(body, len, 0, &je);
	if (!j)
		return svc_error_set(err, SVC_EGENERIC,
				     "%s: the engine's answer is not valid JSON (%s at byte %d)",
				     what, je.text, je.position);
	*out = j;
	return 0;
}

int svc_docker_demux_feed(struct svc_docker_demux *dm, const char *data, size_t len, int fd)
{
	while (len > 0) {
		if (dm->remaining == 0) {
			size_t take = 8 - dm->header_len;
			if (take > len)
				take = len;
			memcpy(dm->header + dm->header_len, data, take);
			dm->header_len += take;
			data += take;
			len -= take;
			if (dm->header_len < 8)
				return 0;
			if (dm->header[0] > 2 || dm->header[1] || dm->header[2] || dm->header[3])
				return -1;
			dm->remaining = ((size_t)dm->header[4] << 24) | ((size_t)dm->header[5] << 16) |
					((size_t)dm->header[6] << 8) | dm->header[7];
			dm->header_len = 0;
			continue;
		}
		{
			size_t take = dm->remaining < len ? dm->remaining : len;
			size_t done = 0;
			while (done < take) {
				ssize_t w = write(fd, data + done, take - done);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					return -1;
				}
				done += (size_t)w;
			}
			dm->remaining -= take;
			data += take;
			len -= take;
		}
	}
	return 0;
}

/* ---- requests ---- */

struct sink {
	char *buf;
	size_t len, alloc;
	bool too_big;
	/* streams: called with each chunk instead of buffering */
	int (*stream)(void *arg, const char *data, size_t len);
	void *arg;
};

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
	struct sink *s = p;
	size_t len = size * n;

	if (s->stream)
		return s->stream(s->arg, data, len) ? 0 : len;
	if (s->len + len > BODY_MAX) {
		s->too_big = true;
		return 0;
	}
	if (s->len + len + 1 > s->alloc) {
		s->alloc = (s->len + len + 1) * 2;
		s->buf = svc_realloc(s->buf, s->alloc, 1);
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return len;
}

static void curl_once(void)
{
	static bool done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = true;
	}
}

/*
 * One HTTP request. upload: a file sent as the body (image build), else
 * json_body (may be NULL). timeout_ms 0: none.
 */
static int do_request(struct svc_docker *d, const char *method, const char *path,
		      bool versioned, const json_t *json_body, FILE *upload, long upload_len,
		      const char *content_type, long timeout_ms, struct sink *sink,
		      long *status, struct svc_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", hdr[128];
	char *url = svc_docker_url(&d->host, versioned ? d->version : NULL, path);
	char *body = json_body ? json_dumps(json_body, JSON_COMPACT) : NULL;
	struct curl_slist *headers = NULL;
	CURL *c;
	CURLcode cc;
	int rc = 0;

	curl_once();
	*status = 0;
	c = curl_easy_init();
	if (!c) {
		rc = svc_error_set(err, SVC_EGENERIC, "cannot initialise libcurl");
		goto done;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (timeout_ms)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (d->host.unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->host.socket_path);
	if (!d->host.unix_socket && d->host.tls) {
		char *ca = svc_strfmt("%s/ca.pem", d->cert_dir);
		char *cert = svc_strfmt("%s/cert.pem", d->cert_dir);
		char *key = svc_strfmt("%s/key.pem", d->cert_dir);
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
		free(ca);
		free(cert);
		free(key);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (upload) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, upload);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, upload_len);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	snprintf(hdr, sizeof(hdr), "Content-Type: %s",
		 content_type ? content_type : "application/json");
	headers = curl_slist_append(headers, hdr);
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	{
		int64_t t0 = svc_mono_ms();
		cc = curl_easy_perform(c);
		d->busy_ms += svc_mono_ms() - t0;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && sink->stream && *status)) {
		long oserr = 0;
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
		if (sink->too_big)
			rc = svc_error_set(err, SVC_EGENERIC, "%s %s: the engine's answer is larger "
					   "than %d bytes", method, path, BODY_MAX);
		else if (d->host.unix_socket && oserr &&
			 (cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR))
			/* libcurl's text speaks of "localhost port 80": say what failed */
			rc = svc_error_set(err, SVC_EUNAVAIL,
					   "cannot reach the Docker engine at %s: %s", d->endpoint,
					   strerror((int)oserr));
		else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
			 cc == CURLE_OPERATION_TIMEDOUT || (cc == CURLE_RECV_ERROR && !*status))
			rc = svc_error_set(err, SVC_EUNAVAIL,
					   "cannot reach the Docker engine at %s: %s%s%s%s",
					   d->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cc),
					   oserr ? " (" : "", oserr ? strerror((int)oserr) : "",
					   oserr ? ")" : "");
		else
			rc = svc_error_set(err, SVC_EGENERIC, "%s %s at %s: %s", method, path,
					   d->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
done:
	curl_slist_free_all(headers);
	if (c)
		curl_easy_cleanup(c);
	free(body);
	free(url);
	return rc;
}

int svc_docker_request(struct svc_docker *d, const char *method, const char *path,
		       const json_t *body, long *status, json_t **out,
		       struct svc_error *err)
{
	struct sink s = { 0 };
	char what[300];
	int rc;

	*out = NULL;
	rc = do_request(d, method, path, true, body, NULL, 0, NULL, 60000, &s, status, err);
	if (!rc && (*status < 200 || *status >= 300 || s.len)) {
		snprintf(what, sizeof(what), "%s %s", method, path);
		rc = svc_docker_parse_response(*status, s.buf, s.len, true, what, out, err);
	}
	free(s.buf);
	return rc;
}

/* ---- open ---- */

/* "1.41" < "1.9"? Compare numerically, part by part. */
static int version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if (!*a && !*b)
			break;
		if (!*a || !*b)
			return *a ? 1 : -1;
	}
	return 0;
}

int svc_docker_open(struct svc_docker **out, const char *host, struct svc_error *err)
{
	struct svc_docker *d = svc_calloc(1, sizeof(*d));
	const char *text = host ? host : getenv("DOCKER_HOST");
	const char *certs = getenv("DOCKER_CERT_PATH"), *api, *min;
	struct sink s = { 0 };
	json_t *v = NULL;
	long status;
	int rc;

	*out = NULL;
	if (!text || !*text)
		text = SVC_DOCKER_DEFAULT_HOST;
	if ((rc = svc_docker_host_parse(&d->host, text, err)))
		goto done;
	snprintf(d->endpoint, sizeof(d->endpoint), "%s", text);
	if (certs && *certs)
		snprintf(d->cert_dir, sizeof(d->cert_dir), "%s", certs);
	else
		snprintf(d->cert_dir, sizeof(d->cert_dir), "%s/.docker",
			 getenv("HOME") ? getenv("HOME") : "");
	if ((rc = do_request(d, "GET", "/version", false, NULL, NULL, 0, NULL, 10000, &s,
			     &status, err)))
		goto done;
	if ((rc = svc_docker_parse_response(status, s.buf, s.len, false, "GET /version", &v, err)))
		goto done;
	api = json_string_value(json_object_get(v, "ApiVersion"));
	min = json_string_value(json_object_get(v, "MinAPIVersion"));
	if (!api) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "the engine at %s did not say its API version",
				   d->endpoint);
		goto done;
	}
	if (min && version_cmp(min, SVC_DOCKER_API_MAX) > 0) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "the engine at %s needs API %s or later; "
				   "svcctl speaks up to %s", d->endpoint, min, SVC_DOCKER_API_MAX);
		goto done;
	}
	snprintf(d->version, sizeof(d->version), "%s",
		 version_cmp(api, SVC_DOCKER_API_MAX) < 0 ? api : SVC_DOCKER_API_MAX);
	*out = d;
	d = NULL;
done:
	json_decref(v);
	free(s.buf);
	free(d);
	return rc;
}

void svc_docker_free(struct svc_docker *d)
{
	free(d);
}

const char *svc_docker_endpoint(const struct svc_docker *d)
{
	return d->endpoint;
}

const char *svc_docker_api_version(const struct svc_docker *d)
{
	return d->version;
}

int64_t svc_docker_busy_ms(const struct svc_docker *d)
{
	return d->busy_ms;
}

/* ---- the calls svcctl makes ---- */

int svc_docker_image_exists(struct svc_docker *d, const char *image, bool *out,
			    struct svc_error *err)
{
	char *q = svc_docker_query_escape(image), *path = svc_strfmt("/images/%s/json", q);
	struct svc_error e = { 0 };
	json_t *j = NULL;
	long status;
	int rc = svc_docker_request(d, "GET", path, NULL, &status, &j, &e);

	*out = rc == 0;
	if (rc == SVC_ENOTFOUND)
		rc = 0;
	else if (rc && err && !err->code)
		*err = e;
	json_decref(j);
	free(path);
	free(q);
	return rc;
}

int svc_docker_container_create(struct svc_docker *d, const char *name,
				const json_t *spec, char **id_out, struct svc_error *err)
{
	char *q = svc_docker_query_escape(name), *path = svc_strfmt("/containers/create?name=%s", q);
	json_t *j = NULL;
	long status;
	int rc = svc_docker_request(d, "POST", path, spec, &status, &j, err);
	const char *id = json_string_value(json_object_get(j, "Id"));

	*id_out = NULL;
	if (!rc && !id)
		rc = svc_error_set(err, SVC_EGENERIC, "create container '%s': no Id in the answer",
				   name);
	if (!rc)
		*id_out = svc_strdup(id);
	json_decref(j);
	free(path);
	free(q);
	return rc;
}

static int simple_post(struct svc_docker *d, const char *method, const char *path,
		       long ok_too, struct svc_error *err)
{
	struct svc_error e = { 0 };
	json_t *j = NULL;
	long status = 0;
	int rc = svc_docker_request(d, method, path, NULL, &status, &j, &e);

	json_decref(j);
	if (rc && status == ok_too)
		return 0;
	if (rc && err && !err->code)
		*err = e;
	return rc;
}

int svc_docker_container_start(struct svc_docker *d, const char *id, struct svc_error *err)
{
	char *path = svc_strfmt("/containers/%s/start", id);
	int rc = simple_post(d, "POST", path, 304, err);

	free(path);
	return rc;
}

int svc_docker_container_stop(struct svc_docker *d, const char *id, int timeout_s,
			      struct svc_error *err)
{
	char *path = timeout_s >= 0 ? svc_strfmt("/containers/%s/stop?t=%d", id, timeout_s)
				    : svc_strfmt("/containers/%s/stop", id);
	int rc;

	/* stopping waits for the container's own StopTimeout: allow for it */
	rc = simple_post(d, "POST", path, 304, err);
	free(path);
	return rc;
}

int svc_docker_container_remove(struct svc_docker *d, const char *id,
				struct svc_error *err)
{
	char *path = svc_strfmt("/containers/%s?force=1&v=1", id);
	int rc = simple_post(d, "DELETE", path, 404, err);

	free(path);
	return rc;
}

int svc_docker_container_inspect(struct svc_docker *d, const char *id, json_t **out,
				 struct svc_error *err)
{
	char *path = svc_strfmt("/containers/%s/json", id);
	long status;
	int rc = svc_docker_request(d, "GET", path, NULL, &status, out, err);

	free(path);
	return rc;
}

int svc_docker_container_list(struct svc_docker *d, const char *label, json_t **out,
			      struct svc_error *err)
{
	json_t *f = json_pack("{s:[s]}", "label", label);
	char *fj = json_dumps(f, JSON_COMPACT), *q = svc_docker_query_escape(fj);
	char *path = svc_strfmt("/containers/json?all=1&filters=%s", q);
	long status;
	int rc = svc_docker_request(d, "GET", path, NULL, &status, out, err);

	if (!rc && !json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = svc_error_set(err, SVC_EGENERIC, "GET /containers/json: expected a list");
	}
	free(path);
	free(q);
	free(fj);
	json_decref(f);
	return rc;
}

static int demux_stream(void *arg, const char *data, size_t len)
{
	struct { struct svc_docker_demux dm; int fd; } *a = arg;

	return svc_docker_demux_feed(&a->dm, data, len, a->fd);
}

int svc_docker_container_logs(struct svc_docker *d, const char *id, bool follow, int fd,
			      struct svc_error *err)
{
	struct { struct svc_docker_demux dm; int fd; } a;
	struct sink s = { 0 };
	char *path = svc_strfmt("/containers/%s/logs?stdout=1&stderr=1%s", id,
				follow ? "&follow=1" : "");
	long status;
	int rc;

	memset(&a, 0, sizeof(a));
	a.fd = fd;
	s.stream = demux_stream;
	s.arg = &a;
	rc = do_request(d, "GET", path, true, NULL, NULL, 0, NULL, follow ? 0 : 60000, &s,
			&status, err);
	if (!rc && (status < 200 || status >= 300))
		rc = svc_error_set(err, status == 404 ? SVC_ENOTFOUND : SVC_EGENERIC,
				   "GET %s: HTTP %ld", path, status);
	free(path);
	return rc;
}

struct build_stream {
	char line[65536];
	size_t len;
	int fd;
	char error[1024];
};

static void build_line(struct build_stream *b)
{
	json_error_t je;
	json_t *j;
	const char *text;

	b->line[b->len] = '\0';
	j = json_loads(b->line, 0, &je);
	b->len = 0;
	if (!j)
		return;
	if ((text = json_string_value(json_object_get(j, "error"))) && !b->error[0])
		snprintf(b->error, sizeof(b->error), "%s", text);
	if ((text = json_string_value(json_object_get(j, "stream"))) && b->fd >= 0) {
		size_t n = strlen(text);
		if (write(b->fd, text, n) != (ssize_t)n)
			b->fd = -1;
	}
	json_decref(j);
}

static int build_chunk(void *arg, const char *data, size_t len)
{
	struct build_stream *b = arg;

	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' || b->len == sizeof(b->line) - 1) {
			build_line(b);
			if (data[i] == '\n')
				continue;
		}
		b->line[b->len++] = data[i];
	}
	return 0;
}

int svc_docker_image_build(struct svc_docker *d, const char *tar_path, const char *tag,
			   const char *dockerfile, int progress_fd, struct svc_error *err)
{
	struct build_stream *b = svc_calloc(1, sizeof(*b));
	struct sink s = { 0 };
	char *qt = svc_docker_query_escape(tag), *qd = NULL, *path;
	FILE *f = fopen(tar_path, "rb");
	long status, size;
	int rc;

	if (dockerfile)
		qd = svc_docker_query_escape(dockerfile);
	path = svc_strfmt("/build?t=%s%s%s&rm=1&forcerm=1", qt, qd ? "&dockerfile=" : "",
			  qd ? qd : "");
	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", tar_path);
		goto done;
	}
	b->fd = progress_fd;
	s.stream = build_chunk;
	s.arg = b;
	rc = do_request(d, "POST", path, true, NULL, f, size, "application/x-tar", 0, &s,
			&status, err);
	if (b->len)
		build_line(b);
	if (!rc && (status < 200 || status >= 300))
		rc = svc_error_set(err, SVC_EGENERIC, "build of '%s' failed: HTTP %ld%s%s", tag,
				   status, b->error[0] ? ": " : "", b->error);
	else if (!rc && b->error[0])
		rc = svc_error_set(err, SVC_EGENERIC, "build of '%s' failed: %s", tag, b->error);
done:
	if (f)
		fclose(f);
	free(path);
	free(qd);
	free(qt);
	free(b);
	return rc;
}
