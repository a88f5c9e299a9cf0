/*
 * base/httpd.c - the HTTP server of base/httpd.h over libmicrohttpd (MHD).
 *
 * Why it looks the way it does:
 * - MHD calls on_request several times per request: once when the headers
 *   are in (*con_cls still NULL: we attach a struct upload), once per piece
 *   of body it has read (we append it, up to max_body), and once more with
 *   no data when the body is complete: only then is the handler called and
 *   a response queued. on_completed frees the struct upload, however the
 *   request ended.
 * - A body over max_body is never stored: what is past max_body is read
 *   and dropped, and 413 answered once the body has ended, so that every
 *   client reads its answer, even one that reads only after sending the
 *   whole body (a client's HTTP library or a script). The early answer
 *   MHD 0.9.75 allows (MHD_queue_response accepts a response only at the
 *   first call or once the body is complete) is used only for a client
 *   waiting on "Expect: 100-continue" whose Content-Length is too large:
 *   MHD then sends no "100 Continue" and the body is never sent. Answered
 *   early to a client already sending, MHD closes the connection with the
 *   body unread and the client gets EPIPE or a reset for a body larger than
 *   the socket buffers, not the 413 (seen with 3 MB from a Python socket;
 *   curl, which reads while it sends, got the 413). Reading a body to its
 *   end costs what any accepted upload costs: it is bounded by the
 *   connection limit and the idle timeout, and memory by max_body.
 * - The address is parsed here (svc_addr_parse) and handed to MHD as a
 *   sockaddr (MHD_OPTION_SOCK_ADDR), with MHD_USE_IPv6 for an IPv6 one
 *   (which MHD binds IPV6_V6ONLY), so we bind exactly what was asked. The
 *   port is passed too: MHD reads the bound port back with getsockname only
 *   when that argument is 0, and MHD_DAEMON_INFO_BIND_PORT then reports it.
 * - One internal thread polling with poll(2) (not select(2), which fails
 *   for descriptors past FD_SETSIZE in a process holding many), so the
 *   handler is never called concurrently. MHD blocks SIGPIPE in that thread
 *   and sends with MSG_NOSIGNAL on Linux (MHD_FEATURE_AUTOSUPPRESS_SIGPIPE,
 *   checked at start): no handler is installed for it.
 * - Paths are percent-decoded by MHD's own decoder, except one holding
 *   "%00": decoded, it would end at the NUL and "/hook%00x" would read as
 *   "/hook"; it is left as sent (and so matches no path a handler knows).
 * - MHD's own messages go to on_log, never to stderr; the last one is kept
 *   only to explain a failed start when errno says nothing.
 */
#include "base/httpd.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"

struct svc_httpd {
	struct MHD_Daemon *mhd;
	size_t max_body;
	svc_http_handler handler;
	void *arg;
	int port;
	/* MHD's last message: written by whichever thread MHD logs from, read
	 * only after a failed start, when no thread of it runs */
	char last_log[256];
};

/* One request in progress (MHD's *con_cls). */
struct upload {
	char *buf;           /* the body so far, NUL-terminated once allocated */
	size_t len, alloc;
	bool too_large;      /* more than max_body: dropping the rest */
	bool answered;       /* a response was queued (413 at the first call) */
};

__attribute__((format(printf, 2, 0)))
static void on_log(void *cls, const char *fmt, va_list ap)
{
	struct svc_httpd *d = cls;
	size_t n;

	vsnprintf(d->last_log, sizeof(d->last_log), fmt, ap);
	n = strlen(d->last_log);
	while (n && (d->last_log[n - 1] == '\n' || d->last_log[n - 1] == '.'))
		d->last_log[--n] = '\0';
}

/* MHD's decoding of the path (and query values), unless a NUL would come of it. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	if (strstr(s, "%00"))
		return strlen(s);
	return MHD_http_unescape(s);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

const char *svc_http_header(const struct svc_http_request *req, const char *name)
{
	if (!req || !req->conn || !name)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* A content type MHD may send as it is: printable ASCII, terminated within the field. */
static bool content_type_ok(const char *ct, size_t size)
{
	size_t n = strnlen(ct, size);

	if (n == size)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)ct[i] < 0x20 || (unsigned char)ct[i] > 0x7e)
			return false;
	return true;
}

/*
 * Queue status with body (len bytes, malloc'd, or NULL; freed here
 * whatever happens) and content type ct, with "Connection: close" when
 * close is set. MHD_NO makes MHD close the connection.
 */
static enum MHD_Result answer(struct MHD_Connection *conn, int status, const char *ct,
			      char *body, size_t len, bool close)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body)
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct) != MHD_YES ||
	    (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A fixed text answer ("not found\n"). */
static enum MHD_Result answer_text(struct MHD_Connection *conn, int status, const char *text)
{
	return answer(conn, status, DEFAULT_CONTENT_TYPE, svc_strdup(text), strlen(text), false);
}

/* 413, closing the connection: a client that sent too much once gets no second try on it. */
static enum MHD_Result answer_too_large(struct MHD_Connection *conn)
{
	static const char text[] = "request body too large\n";

	return answer(conn, MHD_HTTP_CONTENT_TOO_LARGE, DEFAULT_CONTENT_TYPE, svc_strdup(text),
		      sizeof(text) - 1, true);
}

/*
 * Whether the request's Content-Length is present and above max. MHD has
 * checked it by then: a malformed one it answers 400 itself, one past
 * UINT64_MAX 413, and a Transfer-Encoding overrides it.
 */
static bool declared_too_large(struct MHD_Connection *conn, size_t max)
{
	const char *cl;
	long long n;

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return false;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return false;
	/* digits only by now: what does not parse is past INT64_MAX */
	if (svc_parse_int(&n, cl, 0, INT64_MAX))
		return true;
	return (unsigned long long)n > max;
}

/* Whether the client waits for "100 Continue" before sending its body (MHD's own test). */
static bool expects_continue(struct MHD_Connection *conn, const char *version)
{
	const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

	return e && !strcasecmp(e, "100-continue") && !strcmp(version, MHD_HTTP_VERSION_1_1);
}

/* Append len bytes of data to up, or mark it too large past max. */
static void upload_add(struct upload *up, const char *data, size_t len, size_t max)
{
	if (up->too_large)
		return;
	if (len > max - up->len) {
		up->too_large = true;
		free(up->buf);
		up->buf = NULL;
		up->len = up->alloc = 0;
		return;
	}
	if (up->len + len + 1 > up->alloc) {
		size_t want = up->alloc ? up->alloc : 4096;

		while (want < up->len + len + 1)
			want *= 2;
		if (want > max + 1)
			want = max + 1;
		up->buf = svc_realloc(up->buf, want, 1);
		up->alloc = want;
	}
	memcpy(up->buf + up->len, data, len);
	up->len += len;
	up->buf[up->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct svc_httpd *d = cls;
	struct upload *up = *con_cls;
	struct svc_http_request req;
	struct svc_http_response res;
	bool defaulted;

	if (!up) {
		/* headers in, no body read yet */
		up = svc_calloc(1, sizeof(*up));
		*con_cls = up;
		if (declared_too_large(conn, d->max_body)) {
			up->too_large = true;
			if (expects_continue(conn, version)) {
				up->answered = true;
				return answer_too_large(conn);
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		upload_add(up, upload_data, *upload_data_size, d->max_body);
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* the body is complete */
	if (up->answered)
		return MHD_YES;
	up->answered = true;
	if (up->too_large)
		return answer_too_large(conn);

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.body = up->buf ? up->buf : "";
	req.body_len = up->len;
	req.conn = conn;
	memset(&res, 0, sizeof(res));
	snprintf(res.content_type, sizeof(res.content_type), "%s", DEFAULT_CONTENT_TYPE);
	d->handler(d->arg, &req, &res);

	defaulted = res.status == 0;
	if (defaulted)
		res.status = MHD_HTTP_NOT_FOUND;
	if (res.status < 200 || res.status > 599 ||
	    !content_type_ok(res.content_type, sizeof(res.content_type))) {
		free(res.body);
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "internal error: invalid response\n");
	}
	if (defaulted && !res.body)
		return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	return answer(conn, res.status,
		      res.content_type[0] ? res.content_type : DEFAULT_CONTENT_TYPE,
		      res.body, res.body ? res.body_len : 0, false);
}

int svc_httpd_addr_parse(struct svc_addr *out, const char *addr, struct svc_error *err)
{
	struct svc_error perr;
	char *spelled = NULL;
	int rc = 0;

	svc_error_clear(&perr);
	/* ":8080" is every IPv4 address */
	if (addr && addr[0] == ':')
		spelled = svc_strfmt("0.0.0.0%s", addr);
	if (!addr)
		rc = svc_error_set(err, SVC_EUSAGE, "no address to listen on");
	else if (svc_addr_parse(out, spelled ? spelled : addr, true, &perr))
		rc = spelled ? svc_error_set(err, SVC_EUSAGE, "invalid address '%s' (expected "
					     ":port)", addr)
			     : svc_error_set(err, SVC_EUSAGE, "%s", perr.message);
	free(spelled);
	return rc;
}

int svc_httpd_start(struct svc_httpd **out, const char *addr, size_t max_body,
		    svc_http_handler handler, void *arg, struct svc_error *err)
{
	struct svc_addr sa;
	struct svc_httpd *d = NULL;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	int rc = 0, saved;

	*out = NULL;
	if ((rc = svc_httpd_addr_parse(&sa, addr, err)))
		goto done;
	if (!handler) {
		rc = svc_error_set(err, SVC_EUSAGE, "no handler for '%s'", sa.text);
		goto done;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE) != MHD_YES) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "cannot listen on '%s': libmicrohttpd cannot suppress SIGPIPE",
				   sa.text);
		goto done;
	}
	if (sa.ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;

	d = svc_calloc(1, sizeof(*d));
	/* so that max_body + 1 (the NUL) and the buffer's doubling cannot overflow */
	d->max_body = max_body < SIZE_MAX / 4 ? max_body : SIZE_MAX / 4;
	d->handler = handler;
	d->arg = arg;
	errno = 0;
	d->mhd = MHD_start_daemon(flags, (uint16_t)sa.port, NULL, NULL, on_request, d,
				  MHD_OPTION_EXTERNAL_LOGGER, on_log, d,
				  MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sa.ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)SVC_HTTPD_MAX_CONNS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)SVC_HTTPD_TIMEOUT_S,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
				  MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, d,
				  MHD_OPTION_END);
	saved = errno;
	if (!d->mhd) {
		if (saved)
			rc = svc_error_set_errno(err, SVC_EGENERIC, saved, "cannot listen on '%s'",
						 sa.text);
		else
			rc = svc_error_set(err, SVC_EGENERIC, "cannot listen on '%s': %s", sa.text,
					   d->last_log[0] ? d->last_log : "libmicrohttpd failed");
		goto done;
	}
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	d->port = info ? info->port : sa.port;
	*out = d;
	d = NULL;
done:
	if (d) {
		if (d->mhd)
			MHD_stop_daemon(d->mhd);
		free(d);
	}
	return rc;
}

int svc_httpd_port(const struct svc_httpd *d)
{
	return d ? d->port : 0;
}

void svc_httpd_stop(struct svc_httpd *d)
{
	if (!d)
		return;
	MHD_stop_daemon(d->mhd);
	free(d);
}
