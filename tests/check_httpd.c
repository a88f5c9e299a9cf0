/*
 * check_httpd.c - unit tests of the HTTP server (base/httpd.c) and of the
 * webhook signature check (sync/webhook.c). The server is started on a
 * loopback address with port 0 and driven by libcurl, a real client:
 * answers and content types, the exact bytes of a body of several upload
 * pieces, header lookup, 413 with Content-Length (with and without
 * "Expect: 100-continue") and chunked, bad and taken addresses, and a
 * stopped server refusing connections; a raw socket plays the client that
 * sends its whole body before reading anything.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/httpd.h"
#include "error.h"
#include "sync/webhook.h"
#include "util.h"

#define MIB (1024 * 1024)

/* RFC 4231 test case 2: HMAC-SHA256 of "what do ya want for nothing?" under "Jefe". */
#define RFC4231_KEY "Jefe"
#define RFC4231_DATA "what do ya want for nothing?"
#define RFC4231_HEX "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

/* What the handler saw, written on the server's thread. */
struct seen {
	pthread_mutex_t lock;
	int calls;
	char method[16];
	char path[256];
	char *body;
	size_t body_len;
	char header[128];   /* "X-Test-Header", looked up in lower case; "" when absent */
	bool has_header;
};

static struct seen seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void seen_reset(void)
{
	pthread_mutex_lock(&seen.lock);
	free(seen.body);
	seen.body = NULL;
	seen.body_len = 0;
	seen.calls = 0;
	seen.method[0] = seen.path[0] = seen.header[0] = '\0';
	seen.has_header = false;
	pthread_mutex_unlock(&seen.lock);
}

static int seen_calls(void)
{
	int n;

	pthread_mutex_lock(&seen.lock);
	n = seen.calls;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static void set_body(struct svc_http_response *res, const char *text)
{
	res->body = svc_strdup(text);
	res->body_len = strlen(text);
}

/*
 * The test's handler: GET (or HEAD) /hello is JSON, /echo answers the
 * body's length, /hook checks a webhook signature under "Jefe", /bad sets
 * an invalid status, /plain leaves the content type empty; anything else
 * is left unset (404).
 */
static void handler(void *arg, const struct svc_http_request *req, struct svc_http_response *res)
{
	const char *h = svc_http_header(req, "x-test-header");
	char buf[64];

	(void)arg;
	pthread_mutex_lock(&seen.lock);
	seen.calls++;
	snprintf(seen.method, sizeof(seen.method), "%s", req->method);
	snprintf(seen.path, sizeof(seen.path), "%s", req->path);
	free(seen.body);
	seen.body = malloc(req->body_len + 1);
	memcpy(seen.body, req->body, req->body_len + 1);
	seen.body_len = req->body_len;
	seen.has_header = h != NULL;
	snprintf(seen.header, sizeof(seen.header), "%s", h ? h : "");
	pthread_mutex_unlock(&seen.lock);

	if (!strcmp(req->path, "/hello") &&
	    (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))) {
		res->status = 200;
		snprintf(res->content_type, sizeof(res->content_type), "application/json");
		set_body(res, "{\"hello\":\"world\"}\n");
	} else if (!strcmp(req->path, "/echo")) {
		res->status = 200;
		snprintf(buf, sizeof(buf), "%zu bytes\n", req->body_len);
		set_body(res, buf);
	} else if (!strcmp(req->path, "/hook")) {
		bool ok = svc_webhook_signature_ok(RFC4231_KEY, strlen(RFC4231_KEY), req->body,
						   req->body_len,
						   svc_http_header(req, SVC_WEBHOOK_SIGNATURE_HEADER));
		res->status = ok ? 204 : 401;
	} else if (!strcmp(req->path, "/bad")) {
		res->status = 42;
		set_body(res, "never sent");
	} else if (!strcmp(req->path, "/plain")) {
		res->status = 200;
		res->content_type[0] = '\0';
	}
}

/* A response as libcurl got it. */
struct reply {
	CURLcode cc;
	long status;
	char content_type[128];   /* "" when none */
	char *body;
	size_t len;
};

static size_t reply_write(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;

	r->body = svc_realloc(r->body, r->len + size * n + 1, 1);
	memcpy(r->body + r->len, data, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static void reply_free(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* A body sent chunked, from memory. */
struct source {
	const char *data;
	size_t len, pos;
};

static size_t source_read(char *buf, size_t size, size_t n, void *arg)
{
	struct source *s = arg;
	size_t k = size * n < s->len - s->pos ? size * n : s->len - s->pos;

	memcpy(buf, s->data + s->pos, k);
	s->pos += k;
	return k;
}

enum send_mode { SEND_LENGTH, SEND_EXPECT, SEND_CHUNKED };

/*
 * Send method to http://HOST:PORT/PATH (host bracketed for IPv6) with body
 * (len bytes, or NULL for none) and extra headers ("Name: value", NULL-ended).
 * SEND_LENGTH sends Content-Length and no Expect, SEND_EXPECT adds
 * "Expect: 100-continue", SEND_CHUNKED uses Transfer-Encoding: chunked.
 */
static void request(struct reply *r, const char *host, int port, const char *method,
		    const char *path, const char *body, size_t len, enum send_mode mode,
		    const char *const *headers)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct source src = { body, len, 0 };
	char *url = svc_strfmt("http://%s:%d%s", host, port, path);
	char *ct = NULL;

	ck_assert_ptr_nonnull(c);
	memset(r, 0, sizeof(*r));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		if (mode == SEND_CHUNKED) {
			curl_easy_setopt(c, CURLOPT_READFUNCTION, source_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &src);
			hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		}
		hl = curl_slist_append(hl, mode == SEND_EXPECT ? "Expect: 100-continue" : "Expect:");
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	r->cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	free(url);
}

/*
 * A client that writes all of head and then body (len bytes) to
 * 127.0.0.1:port before reading, then reads until the server closes (10 s
 * at most: send a request the server closes after, such as a 413). Returns what it read (caller frees), "" when the write failed.
 */
static char *raw_exchange(int port, const char *head, const char *body, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 10 };
	const char *parts[2] = { head, body };
	size_t lens[2] = { strlen(head), body ? len : 0 }, got = 0;
	char *out = svc_calloc(1, 1);
	char buf[4096];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	for (int i = 0; i < 2; i++)
		for (size_t off = 0; off < lens[i]; off += (size_t)n) {
			n = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
			if (n <= 0)
				goto done;
		}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		out = svc_realloc(out, got + (size_t)n + 1, 1);
		memcpy(out + got, buf, (size_t)n);
		got += (size_t)n;
		out[got] = '\0';
	}
done:
	close(fd);
	return out;
}

static struct svc_httpd *start(const char *addr, size_t max_body)
{
	struct svc_httpd *d = NULL;
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_msg(svc_httpd_start(&d, addr, max_body, handler, NULL, &err) == 0, "%s: %s",
		      addr, err.message);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_gt(svc_httpd_port(d), 0);
	seen_reset();
	return d;
}

START_TEST(test_httpd__get_and_404)
{
	struct svc_httpd *d = start("127.0.0.1:0", MIB);
	int port = svc_httpd_port(d);
	struct reply r;

	request(&r, "127.0.0.1", port, "GET", "/hello?x=1&y", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.cc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "application/json");
	ck_assert_str_eq(r.body, "{\"hello\":\"world\"}\n");
	ck_assert_int_eq(seen_calls(), 1);
	ck_assert_str_eq(seen.method, "GET");
	ck_assert_str_eq(seen.path, "/hello");
	ck_assert_uint_eq(seen.body_len, 0);
	ck_assert_str_eq(seen.body, "");
	ck_assert(!seen.has_header);
	reply_free(&r);

	/* left unset: 404, with a body and the default type */
	request(&r, "127.0.0.1", port, "GET", "/nothing/here", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.cc, CURLE_OK);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
	ck_assert_str_eq(r.body, "not found\n");
	ck_assert_int_eq(seen_calls(), 2);
	reply_free(&r);

	/* a POST to /hello is not the GET: 404 too */
	request(&r, "127.0.0.1", port, "POST", "/hello", "x", 1, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);

	/* an empty content type is the default; an invalid status is 500 */
	request(&r, "127.0.0.1", port, "GET", "/plain", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
	ck_assert_uint_eq(r.len, 0);
	reply_free(&r);
	request(&r, "127.0.0.1", port, "GET", "/bad", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 500);
	ck_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
	ck_assert_ptr_null(strstr(r.body, "never sent"));
	reply_free(&r);

	/* the path is percent-decoded, except a NUL, which would cut it short */
	request(&r, "127.0.0.1", port, "GET", "/a%20b/%2e", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(seen.path, "/a b/.");
	reply_free(&r);
	request(&r, "127.0.0.1", port, "GET", "/hello%00x", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(seen.path, "/hello%00x");
	reply_free(&r);

	/* HEAD: the headers, no body */
	request(&r, "127.0.0.1", port, "HEAD", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.cc, CURLE_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.content_type, "application/json");
	ck_assert_uint_eq(r.len, 0);
	ck_assert_str_eq(seen.method, "HEAD");
	reply_free(&r);
	svc_httpd_stop(d);
}
END_TEST

START_TEST(test_httpd__post_body_and_header)
{
	struct svc_httpd *d = start("127.0.0.1:0", MIB);
	int port = svc_httpd_port(d);
	size_t len = 100 * 1024;
	char *body = malloc(len);
	static const char *const hdrs[] = { "X-Test-HEADER: some value", NULL };
	struct reply r;
	char want[64];

	/* every byte value, NUL included, over more than one upload piece */
	for (size_t i = 0; i < len; i++)
		body[i] = (char)(i * 7 % 256);
	ck_assert(memchr(body, '\0', len) != NULL);
	for (int mode = SEND_LENGTH; mode <= SEND_CHUNKED; mode++) {
		seen_reset();
		request(&r, "127.0.0.1", port, "POST", "/echo", body, len, mode, hdrs);
		ck_assert_int_eq(r.cc, CURLE_OK);
		ck_assert_int_eq(r.status, 200);
		snprintf(want, sizeof(want), "%zu bytes\n", len);
		ck_assert_str_eq(r.body, want);
		ck_assert_int_eq(seen_calls(), 1);
		ck_assert_str_eq(seen.method, "POST");
		ck_assert_str_eq(seen.path, "/echo");
		ck_assert_uint_eq(seen.body_len, len);
		ck_assert_msg(memcmp(seen.body, body, len) == 0, "mode %d: body differs", mode);
		ck_assert_int_eq(seen.body[len], '\0');
		ck_assert(seen.has_header);
		ck_assert_str_eq(seen.header, "some value");
		reply_free(&r);
	}
	free(body);
	svc_httpd_stop(d);
}
END_TEST

START_TEST(test_httpd__body_too_large)
{
	struct svc_httpd *d = start("127.0.0.1:0", 1000);
	int port = svc_httpd_port(d);
	size_t big = 2 * MIB;
	char *body = malloc(big);
	struct reply r;

	memset(body, 'x', big);
	/* exactly max_body is fine */
	for (int mode = SEND_LENGTH; mode <= SEND_CHUNKED; mode++) {
		seen_reset();
		request(&r, "127.0.0.1", port, "POST", "/echo", body, 1000, mode, NULL);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, "1000 bytes\n");
		ck_assert_int_eq(seen_calls(), 1);
		reply_free(&r);
	}
	/* one byte more, and far more, is 413 without the handler, each way of sending */
	for (int round = 0; round < 10; round++) {
		for (int mode = SEND_LENGTH; mode <= SEND_CHUNKED; mode++) {
			size_t sizes[] = { 1001, big };

			for (size_t i = 0; i < 2; i++) {
				seen_reset();
				request(&r, "127.0.0.1", port, "POST", "/echo", body, sizes[i],
					mode, NULL);
				ck_assert_msg(r.cc == CURLE_OK, "mode %d, %zu bytes: %s", mode,
					      sizes[i], curl_easy_strerror(r.cc));
				ck_assert_int_eq(r.status, 413);
				ck_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
				ck_assert_str_eq(r.body, "request body too large\n");
				ck_assert_int_eq(seen_calls(), 0);
				reply_free(&r);
			}
		}
	}
	/* a client sending all 2 MiB before it reads gets its 413 too */
	for (int round = 0; round < 5; round++) {
		char *head = svc_strfmt("POST /echo HTTP/1.1\r\nHost: x\r\n"
					"Content-Length: %zu\r\n\r\n", big);
		char *got = raw_exchange(port, head, body, big);

		ck_assert_msg(!strncmp(got, "HTTP/1.1 413 ", 13), "'%.40s'", got);
		ck_assert_ptr_nonnull(strcasestr(got, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
		ck_assert_ptr_nonnull(strcasestr(got, "\r\nConnection: close\r\n"));
		ck_assert_ptr_nonnull(strstr(got, "\r\n\r\nrequest body too large\n"));
		free(got);
		free(head);
	}
	/* one waiting on 100 Continue is answered at once and sends nothing */
	{
		char *got = raw_exchange(port, "POST /echo HTTP/1.1\r\nHost: x\r\n"
					 "Content-Length: 1000000000000\r\n"
					 "Expect: 100-continue\r\n\r\n", NULL, 0);

		ck_assert_msg(!strncmp(got, "HTTP/1.1 413 ", 13), "'%.40s'", got);
		ck_assert_ptr_nonnull(strcasestr(got, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
		free(got);
	}
	ck_assert_int_eq(seen_calls(), 0);
	/* and the server still answers */
	request(&r, "127.0.0.1", port, "GET", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	free(body);
	svc_httpd_stop(d);
}
END_TEST

START_TEST(test_httpd__addresses)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "localhost:80", "127.0.0.1:99999", "127.0.0.1:-1",
		"::1:80", "[127.0.0.1]:80", ":", ":x", "1.2.3:80",
	};
	struct svc_httpd *d, *d2;
	struct svc_error err;
	struct reply r;
	char want[64];
	int port;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = (struct svc_httpd *)&err;
		svc_error_clear(&err);
		ck_assert_msg(svc_httpd_start(&d, bad[i], MIB, handler, NULL, &err) == SVC_EUSAGE,
			      "'%s'", bad[i]);
		ck_assert_ptr_null(d);
		ck_assert_msg(err.message[0], "'%s'", bad[i]);
	}
	svc_error_clear(&err);
	ck_assert_int_eq(svc_httpd_start(&d, NULL, MIB, handler, NULL, &err), SVC_EUSAGE);
	ck_assert_int_eq(svc_httpd_start(&d, "127.0.0.1:0", MIB, NULL, NULL, NULL), SVC_EUSAGE);

	/* IPv6 loopback, bound to exactly that: not reached over IPv4 */
	d = start("[::1]:0", MIB);
	port = svc_httpd_port(d);
	request(&r, "[::1]", port, "GET", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	request(&r, "127.0.0.1", port, "GET", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.cc, CURLE_COULDNT_CONNECT);
	reply_free(&r);

	/* the port taken (by the IPv6 server: same port over IPv4 is free) */
	snprintf(want, sizeof(want), "[::1]:%d", port);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_httpd_start(&d2, want, MIB, handler, NULL, &err), SVC_EGENERIC);
	ck_assert_ptr_null(d2);
	ck_assert_msg(strstr(err.message, want) && strstr(err.message, "Address already in use"),
		      "%s", err.message);
	svc_httpd_stop(d);

	/* ":PORT" is every IPv4 address: loopback answers */
	d = start(":0", MIB);
	port = svc_httpd_port(d);
	request(&r, "127.0.0.1", port, "GET", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	/* and a second server on it cannot listen, naming the address and the reason */
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_httpd_start(&d2, want, MIB, handler, NULL, &err), SVC_EGENERIC);
	ck_assert_ptr_null(d2);
	ck_assert_msg(strstr(err.message, "cannot listen on '127.0.0.1:") &&
		      strstr(err.message, "Address already in use"), "%s", err.message);
	svc_httpd_stop(d);
	svc_httpd_stop(NULL);
}
END_TEST

START_TEST(test_httpd__stop_refuses)
{
	struct svc_httpd *d = start("127.0.0.1:0", MIB);
	int port = svc_httpd_port(d);
	struct reply r;

	request(&r, "127.0.0.1", port, "GET", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	svc_httpd_stop(d);
	request(&r, "127.0.0.1", port, "GET", "/hello", NULL, 0, SEND_LENGTH, NULL);
	ck_assert_int_eq(r.cc, CURLE_COULDNT_CONNECT);
	ck_assert_int_eq(r.status, 0);
	reply_free(&r);
	/* the port can be listened on again at once */
	{
		char addr[32];
		struct svc_error err;

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		svc_error_clear(&err);
		ck_assert_msg(svc_httpd_start(&d, addr, MIB, handler, NULL, &err) == 0, "%s",
			      err.message);
		ck_assert_int_eq(svc_httpd_port(d), port);
		svc_httpd_stop(d);
	}
}
END_TEST

START_TEST(test_httpd__webhook_over_http)
{
	struct svc_httpd *d = start("127.0.0.1:0", MIB);
	int port = svc_httpd_port(d);
	static const char *const good[] = { "X-Hub-Signature-256: sha256=" RFC4231_HEX, NULL };
	static const char *const none[] = { NULL };
	struct reply r;

	request(&r, "127.0.0.1", port, "POST", "/hook", RFC4231_DATA, strlen(RFC4231_DATA),
		SEND_LENGTH, good);
	ck_assert_int_eq(r.status, 204);
	reply_free(&r);
	/* one byte of body more: refused */
	request(&r, "127.0.0.1", port, "POST", "/hook", RFC4231_DATA "\n",
		strlen(RFC4231_DATA) + 1, SEND_LENGTH, good);
	ck_assert_int_eq(r.status, 401);
	reply_free(&r);
	request(&r, "127.0.0.1", port, "POST", "/hook", RFC4231_DATA, strlen(RFC4231_DATA),
		SEND_LENGTH, none);
	ck_assert_int_eq(r.status, 401);
	reply_free(&r);
	svc_httpd_stop(d);
}
END_TEST

START_TEST(test_webhook__signature)
{
	static const char *const bad[] = {
		/* one wrong digit (the last), and the first */
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3844",
		"sha256=6bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		/* no prefix, another prefix, the prefix in capitals */
		RFC4231_HEX,
		"sha1=" RFC4231_HEX,
		"SHA256=" RFC4231_HEX,
		/* short, empty, long, trailing junk, leading space, not hex */
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384",
		"sha256=",
		"",
		"sha256=" RFC4231_HEX "00",
		"sha256=" RFC4231_HEX " ",
		"sha256=" RFC4231_HEX "\n",
		" sha256=" RFC4231_HEX,
		"sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384g",
		"sha256=+bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	};
	const char *key = RFC4231_KEY, *data = RFC4231_DATA;
	size_t klen = strlen(key), dlen = strlen(data);

	ck_assert(svc_webhook_signature_ok(key, klen, data, dlen, "sha256=" RFC4231_HEX));
	ck_assert(svc_webhook_signature_ok(key, klen, data, dlen,
		"sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"));
	ck_assert(svc_webhook_signature_ok(key, klen, data, dlen,
		"sha256=5bDcC146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!svc_webhook_signature_ok(key, klen, data, dlen, bad[i]), "'%s'",
			      bad[i]);
	ck_assert(!svc_webhook_signature_ok(key, klen, data, dlen, NULL));
	/* another body, another key, no key */
	ck_assert(!svc_webhook_signature_ok(key, klen, data, dlen - 1, "sha256=" RFC4231_HEX));
	ck_assert(!svc_webhook_signature_ok("jefe", klen, data, dlen, "sha256=" RFC4231_HEX));
	ck_assert(!svc_webhook_signature_ok(key, 0, data, dlen, "sha256=" RFC4231_HEX));
	/* an empty body has a signature too (openssl dgst -sha256 -hmac Jefe </dev/null) */
	ck_assert(svc_webhook_signature_ok(key, klen, NULL, 0,
		"sha256=923598ca6d64af2a5dba79dcd021a8a0fe5c5f557519adaaf0ad532d4506dd30"));
	ck_assert(svc_webhook_signature_ok(key, klen, "", 0,
		"sha256=923598ca6d64af2a5dba79dcd021a8a0fe5c5f557519adaaf0ad532d4506dd30"));
}
END_TEST

/* Write data to a file in dir; returns its path (caller frees). */
static char *write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char *path = svc_strfmt("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

START_TEST(test_webhook__secret_read)
{
	static const struct {
		const char *data;
		size_t len;
		const char *want;
		size_t want_len;
	} ok[] = {
		{ "s3cret\n", 7, "s3cret", 6 },
		{ "s3cret\r\n", 8, "s3cret", 6 },
		{ "s3cret", 6, "s3cret", 6 },
		{ "s3cret\n\n", 8, "s3cret\n", 7 },     /* one newline only */
		{ " s3 cret \n", 10, " s3 cret ", 9 },  /* nothing else trimmed */
		{ "a\0b\n", 4, "a\0b", 3 },
		{ "\r", 1, "\r", 1 },
	};
	static const char *const empty[] = { "", "\n", "\r\n" };
	char *dir = svc_strdup("/tmp/check_httpd.XXXXXX");
	char *path, *secret, *large;
	struct svc_error err;
	size_t len;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		path = write_file(dir, "secret", ok[i].data, ok[i].len);
		svc_error_clear(&err);
		ck_assert_msg(svc_webhook_secret_read(&secret, &len, path, &err) == 0, "%zu: %s",
			      i, err.message);
		ck_assert_uint_eq(len, ok[i].want_len);
		ck_assert_msg(memcmp(secret, ok[i].want, len) == 0, "case %zu", i);
		ck_assert_int_eq(secret[len], '\0');
		explicit_bzero(secret, len);
		free(secret);
		free(path);
	}
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		path = write_file(dir, "empty", empty[i], strlen(empty[i]));
		svc_error_clear(&err);
		secret = (char *)&err;
		ck_assert_int_eq(svc_webhook_secret_read(&secret, &len, path, &err), SVC_EGENERIC);
		ck_assert_ptr_null(secret);
		ck_assert_msg(strstr(err.message, path) && strstr(err.message, "empty"), "%s",
			      err.message);
		free(path);
	}
	/* 4 KiB is the most; the secret of a webhook signed with it works */
	large = malloc(SVC_WEBHOOK_SECRET_MAX + 1);
	memset(large, 'k', SVC_WEBHOOK_SECRET_MAX + 1);
	path = write_file(dir, "large", large, SVC_WEBHOOK_SECRET_MAX);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_webhook_secret_read(&secret, &len, path, &err), 0);
	ck_assert_uint_eq(len, SVC_WEBHOOK_SECRET_MAX);
	free(secret);
	free(path);
	path = write_file(dir, "larger", large, SVC_WEBHOOK_SECRET_MAX + 1);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_webhook_secret_read(&secret, &len, path, &err), SVC_EGENERIC);
	ck_assert_ptr_null(secret);
	ck_assert_msg(strstr(err.message, path) && strstr(err.message, "larger than 4096"), "%s",
		      err.message);
	free(path);
	free(large);

	path = write_file(dir, "jefe", "Jefe\n", 5);
	ck_assert_int_eq(svc_webhook_secret_read(&secret, &len, path, NULL), 0);
	ck_assert(svc_webhook_signature_ok(secret, len, RFC4231_DATA, strlen(RFC4231_DATA),
					   "sha256=" RFC4231_HEX));
	free(secret);
	free(path);

	/* missing, and a folder */
	path = svc_strfmt("%s/missing", dir);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_webhook_secret_read(&secret, &len, path, &err), SVC_ENOTFOUND);
	ck_assert_ptr_null(secret);
	ck_assert_msg(strstr(err.message, path) != NULL, "%s", err.message);
	free(path);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_webhook_secret_read(&secret, &len, dir, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, dir) != NULL, "%s", err.message);

	ck_assert_int_eq(svc_rm_rf(dir), 0);
	free(dir);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_httpd__get_and_404);
	tcase_add_test(tc, test_httpd__post_body_and_header);
	tcase_add_test(tc, test_httpd__body_too_large);
	tcase_add_test(tc, test_httpd__addresses);
	tcase_add_test(tc, test_httpd__stop_refuses);
	tcase_add_test(tc, test_httpd__webhook_over_http);
	tcase_add_test(tc, test_webhook__signature);
	tcase_add_test(tc, test_webhook__secret_read);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
