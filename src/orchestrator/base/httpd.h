/*
 * base/httpd.h - a small HTTP/1.1 server over GNU libmicrohttpd, shared by
 * the GitOps sync watcher's webhook endpoint and the live status page.
 *
 * One server owns one listening socket bound to exactly the address asked
 * for and one internal thread (libmicrohttpd's, polling with poll(2)) that
 * reads requests and calls the handler: handler calls are serialized, never
 * concurrent, and run on that thread, not the caller's. Each request's body
 * is read whole (at most max_body bytes) before the handler sees it; a
 * larger one is answered 413 without calling the handler. Every answer of
 * the handler's or of this module carries a Content-Type.
 *
 * Nothing is ever printed (libmicrohttpd's messages are dropped) and no
 * signal handler is installed: the thread blocks SIGPIPE for itself and
 * sends with MSG_NOSIGNAL, so a client that goes away cannot kill the
 * process. The thread starts with the caller's signal mask: a program that
 * waits for signals (sigwait, signalfd) blocks them before starting a
 * server, so that none is delivered to that thread.
 *
 * Limits: at most 64 connections at once (more wait in the kernel's
 * backlog until one closes); a connection idle for 10 s is closed. The
 * path is as sent but percent-decoded ("%00" excepted: a path holding it
 * is left undecoded), without the query, and not normalized ("/a/../b"
 * stays so). Errors libmicrohttpd answers itself (400 for a malformed
 * request, 413 for a Content-Length past 2^64, 431 for headers over its
 * 32 KiB buffer) never reach the handler and carry no Content-Type.
 */
#ifndef SVC_BASE_HTTPD_H
#define SVC_BASE_HTTPD_H

#include <stddef.h>

#include "error.h"

#define SVC_HTTPD_MAX_CONNS 64
#define SVC_HTTPD_TIMEOUT_S 10

struct svc_httpd;

/* One request, borrowed by the handler for the duration of its call. */
struct svc_http_request {
	const char *method;   /* "GET", "POST", ... */
	const char *path;     /* URL path, percent-decoded, without the query */
	const char *body;     /* the whole body, NUL-terminated; "" when none */
	size_t body_len;      /* may hold NUL bytes: use body_len, not strlen */
	void *conn;           /* internal: for svc_http_header */
};

/*
 * The value of the request header name (case-insensitive; the first one
 * when repeated), or NULL when absent. Borrowed, valid during the call.
 */
const char *svc_http_header(const struct svc_http_request *req, const char *name);

/* What the handler answers; zeroed, with the default content type, before the call. */
struct svc_http_response {
	int status;              /* 200..599; 0 (left unset) is 404 */
	char content_type[64];   /* "text/plain; charset=utf-8" unless changed; "" is that too */
	char *body;              /* malloc'd by the handler (may be NULL); the server frees it */
	size_t body_len;
};

/*
 * Called on the server's thread for each request whose body fit. It must
 * not call svc_httpd_stop on its own server. A status outside 200..599 or a
 * content type with a control character is answered 500 instead (the body
 * is freed all the same). Status 0 with no body answers "not found".
 */
typedef void (*svc_http_handler)(void *arg, const struct svc_http_request *req,
				 struct svc_http_response *res);

/*
 * Listen on addr and answer each request by calling handler(arg, ...).
 * addr is numeric (util.h's svc_addr_parse): "127.0.0.1:8080", "[::1]:0",
 * or ":8080" for every IPv4 address; port 0 picks a free port (see
 * svc_httpd_port). An IPv6 address binds IPv6 only. arg is borrowed and
 * must outlive the server. On success *out is the running server, which
 * the caller stops and frees with svc_httpd_stop; on failure *out is NULL.
 * Returns 0, SVC_EUSAGE for an address that does not parse, or
 * SVC_EGENERIC "cannot listen on 'ADDR': REASON" (errno's text, such as
 * "Address already in use") when the server cannot start.
 */
int svc_httpd_start(struct svc_httpd **out, const char *addr, size_t max_body,
		    svc_http_handler handler, void *arg, struct svc_error *err);

/*
 * Read addr as svc_httpd_start does ("127.0.0.1:8080", "[::1]:0", ":8080"
 * for every IPv4 address), for a caller that judges the address before it
 * starts a server. SVC_EUSAGE when it does not parse.
 */
struct svc_addr;
int svc_httpd_addr_parse(struct svc_addr *out, const char *addr, struct svc_error *err);

/* The port the server listens on (the one picked when addr's port was 0). */
int svc_httpd_port(const struct svc_httpd *d);

/*
 * Stop the server: close the listening socket and every connection, wait
 * for its thread (and so for a handler call in progress) to end, and free
 * it. NULL is fine.
 */
void svc_httpd_stop(struct svc_httpd *d);

#endif
