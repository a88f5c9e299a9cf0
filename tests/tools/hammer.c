/*
 * hammer - concurrent clients that loop new-connection HTTP requests and
 * count what they get, for the end-to-end tests and the demo.
 *
 *   hammer --addr 127.0.0.1:8080 [--clients 8] [--duration-ms 10000]
 *          [--stop-file PATH] [--path /]
 *
 * Each client thread opens a new TCP connection per request, sends
 * "GET PATH" with Connection: close, reads the whole answer and counts it
 * as ok (HTTP 200) or failed (refused, reset, timeout, other status). The
 * body's "greeter VERSION" is tallied per version. It stops after the
 * duration (at most 10 minutes) or when the stop file appears, prints one
 * summary line:
 *   requests 1234 ok 1234 failed 0 versions 1.0.0:600 2.0.0:634 last 2.0.0
 * and exits 0 when no request failed, 1 otherwise. Loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_VERSIONS 16

static struct sockaddr_in target;
static const char *path = "/";
static const char *stop_file;
static long long deadline_ms;
static volatile int stop;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long n_ok, n_failed;
static char versions[MAX_VERSIONS][32];
static long long version_count[MAX_VERSIONS];
static char last_version[32] = "-";
static char first_error[256];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(int ok, const char *version, const char *why)
{
	pthread_mutex_lock(&lock);
	if (ok) {
		n_ok++;
		for (int i = 0; i < MAX_VERSIONS; i++) {
			if (!versions[i][0])
				snprintf(versions[i], sizeof(versions[i]), "%s", version);
			if (!strcmp(versions[i], version)) {
				version_count[i]++;
				break;
			}
		}
		snprintf(last_version, sizeof(last_version), "%s", version);
	} else {
		n_failed++;
		if (!first_error[0])
			snprintf(first_error, sizeof(first_error), "%s", why);
	}
	pthread_mutex_unlock(&lock);
}

static void one_request(void)
{
	char req[512], resp[4096], version[32] = "?", why[200];
	struct timeval tv = { 5, 0 };
	size_t got = 0;
	int fd, n;
	const char *p;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		record(0, NULL, "socket failed");
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&target, sizeof(target))) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		record(0, NULL, why);
		close(fd);
		return;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: hammer\r\nConnection: close\r\n\r\n",
		     path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(why, sizeof(why), "send: %s", strerror(errno));
		record(0, NULL, why);
		close(fd);
		return;
	}
	for (;;) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r < 0) {
			snprintf(why, sizeof(why), "recv: %s", strerror(errno));
			record(0, NULL, why);
			close(fd);
			return;
		}
		if (r == 0 || (got += (size_t)r) >= sizeof(resp) - 1)
			break;
	}
	close(fd);
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 200", 12)) {
		snprintf(why, sizeof(why), "bad answer: %.60s", got ? resp : "(empty)");
		record(0, NULL, why);
		return;
	}
	p = strstr(resp, "greeter ");
	if (p)
		sscanf(p + 8, "%31s", version);
	record(1, version, NULL);
}

static void *client(void *arg)
{
	(void)arg;
	while (!stop && now_ms() < deadline_ms)
		one_request();
	return NULL;
}

static void usage(void)
{
	fputs("usage: hammer --addr IPV4:PORT [--clients N] [--duration-ms MS] "
	      "[--stop-file PATH] [--path /]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_CLIENTS];
	long clients = 8, duration = 10000;
	const char *addr = NULL;
	char host[64];
	struct stat st;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--addr"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "--clients"))
			clients = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--duration-ms"))
			duration = strtol(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--stop-file"))
			stop_file = argv[i + 1];
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else
			usage();
	}
	if (argc % 2 == 0 || !addr || clients < 1 || clients > MAX_CLIENTS ||
	    duration < 1 || duration > 600000)
		usage();
	{
		const char *colon = strrchr(addr, ':');
		if (!colon || colon - addr >= (long)sizeof(host))
			usage();
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
		memset(&target, 0, sizeof(target));
		target.sin_family = AF_INET;
		target.sin_port = htons((unsigned short)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &target.sin_addr) != 1 ||
		    (ntohl(target.sin_addr.s_addr) >> 24) != 127)
			usage(); /* loopback only */
	}
	deadline_ms = now_ms() + duration;
	for (long i = 0; i < clients; i++)
		pthread_create(&th[i], NULL, client, NULL);
	while (now_ms() < deadline_ms) {
		if (stop_file && stat(stop_file, &st) == 0)
			break;
		usleep(20000);
	}
	stop = 1;
	for (long i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	printf("requests %lld ok %lld failed %lld versions", n_ok + n_failed, n_ok, n_failed);
	for (int i = 0; i < MAX_VERSIONS && versions[i][0]; i++)
		printf(" %s:%lld", versions[i], version_count[i]);
	printf(" last %s\n", last_version);
	if (first_error[0])
		printf("first error: %s\n", first_error);
	return n_failed ? 1 : 0;
}
