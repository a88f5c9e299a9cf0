/*
 * hello - an example service built against the shared library libgreet,
 * pinned by its manifest to one version (vendor/libgreet is where the build
 * places it). It answers with the library version it was built with:
 *
 *   GET /         "<libgreet's greeting> from SERVICE (libgreet VERSION)\n"
 *   GET /version  "VERSION\n" (libgreet's)
 *   GET /health   "ok\n"
 *
 *   hello --port N [--service NAME]     (PORT and SERVICE from the environment too)
 *
 * One connection at a time, HTTP/1.0 style (answer, close): an example, not
 * a server to benchmark. Linked statically so that it runs in an image
 * FROM scratch.
 */
#define _GNU_SOURCE     /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "vendor/libgreet/greet.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/*
 * Read the request head (up to the blank line), answer, then let the client
 * close first: closing with unread bytes would reset the connection and
 * could lose the answer.
 */
static void answer(int fd, const char *service)
{
	char req[2048], body[512], head[256];
	size_t len = 0;
	ssize_t n;
	int blen, hlen;

	while (len < sizeof(req) - 1 && (n = read(fd, req + len, sizeof(req) - 1 - len)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (!len)
		return;
	req[len] = '\0';
	if (!strncmp(req, "GET /health ", 12))
		blen = snprintf(body, sizeof(body), "ok\n");
	else if (!strncmp(req, "GET /version ", 13))
		blen = snprintf(body, sizeof(body), "%s\n", libgreet_version());
	else
		blen = snprintf(body, sizeof(body), "%s from %s (libgreet %s)\n",
				libgreet_greeting(), service, libgreet_version());
	hlen = snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
			"Content-Length: %d\r\nConnection: close\r\n\r\n", blen);
	if (write(fd, head, (size_t)hlen) == hlen)
		(void)!write(fd, body, (size_t)blen);
	shutdown(fd, SHUT_WR);
	while (read(fd, req, sizeof(req)) > 0)
		;   /* until the client closes (or the 2 s receive timeout) */
}

int main(int argc, char **argv)
{
	const char *port = getenv("PORT"), *service = getenv("SERVICE");
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sigaction sig = { .sa_handler = on_signal };
	struct timeval tv = { .tv_sec = 2 };
	int one = 1, lfd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = argv[i + 1];
		else if (!strcmp(argv[i], "--service"))
			service = argv[i + 1];
	}
	if (!port || atoi(port) <= 0 || atoi(port) > 65535) {
		fprintf(stderr, "usage: hello --port N [--service NAME]\n");
		return 2;
	}
	sigaction(SIGTERM, &sig, NULL);
	sigaction(SIGINT, &sig, NULL);
	sa.sin_port = htons((unsigned short)atoi(port));
	inet_pton(AF_INET, getenv("HOST") ? getenv("HOST") : "127.0.0.1", &sa.sin_addr);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 64)) {
		fprintf(stderr, "hello: cannot listen on port %s: %s\n", port, strerror(errno));
		return 1;
	}
	printf("hello %s: libgreet %s on port %s\n", service ? service : "?",
	       libgreet_version(), port);
	fflush(stdout);
	while (!stopping) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;   /* EINTR on a signal: the loop checks stopping */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		answer(fd, service ? service : "hello");
		close(fd);
	}
	return 0;
}
