/*
 * hammer - concurrent HTTP clients that loop requests and count what they
 * get, for the end-to-end tests, the soak and the demo.
 *
 *   hammer --addr 127.0.0.1:8080 [--addr ...] [--clients 8] [--keepalive-clients 0]
 *          [--duration-ms 10000] [--stop-file PATH] [--path /]
 *          [--new-conn-pause-ms 0] [--allow-net A.B.C.0/24]
 *
 * With several --addr (at most 8), client i goes to address i modulo
 * their number (new-connection clients first, then keep-alive ones), and
 * one more line per address follows the summary:
 *   target 10.78.1.1:8080 requests 300 ok 300 failed 0 first 1.0.0 last 2.0.0
 *
 * Two kinds of client thread, each looping "GET PATH" until the duration
 * (at most 10 minutes) has passed or the stop file appears:
 *
 * - new-connection clients (--clients) open a TCP connection per request,
 *   send it with Connection: close and read the answer to EOF, then wait
 *   --new-conn-pause-ms (0: not at all). Each request leaves connections
 *   in TIME_WAIT for a minute, and where netfilter tracks connections
 *   (nf_conntrack, loaded with Docker's rules) an entry for two minutes:
 *   unpaced, 8 clients track more than its default 262,144 entries, and
 *   the kernel then drops new connections' SYNs;
 * - keep-alive clients (--keepalive-clients) each hold one HTTP/1.1
 *   keep-alive connection and send their requests on it one after the
 *   other, reading each response up to its Content-Length.
 *
 * A request is ok when a whole HTTP 200 response arrives. It failed when
 * the connect is refused, the connection is reset or closed before the
 * whole response arrived, the status is not 200, or no byte arrives for
 * 5 s. One exception, as curl and browsers do for idempotent requests (RFC
 * 9112 9.3.1, 9.4): a server may close an idle keep-alive connection at
 * any time, so a request written on a REUSED connection that got no byte
 * of response before EOF or reset is sent once more on a fresh connection,
 * and only that second attempt counts. A fresh connection is never
 * retried, nor is a response that had begun.
 *
 * The body's "greeter VERSION" is tallied per version (both kinds; the
 * first 256 versions seen, the rest as "(others)"). At the
 * end one summary line; its first fields count both kinds together, the
 * fields after "last" each kind on its own:
 *   requests 1234 ok 1234 failed 0 versions 1.0.0:600 2.0.0:634 last 2.0.0
 *     new_requests 900 new_ok 900 new_failed 0 keepalive_requests 334
 *     keepalive_ok 334 keepalive_failed 0 keepalive_retried 2
 *     keepalive_connects 10
 * (one line), then "first error: ..." when a request failed. Each failure
 * is also written to stderr (the first 100) with its wall-clock time, to
 * match it against the log of what ran meanwhile. Exits 0 when no request
 * failed, 1 otherwise, 2 on a usage error. Loopback only, and the one
 * private /24 a test made and names with --allow-net (a swarm's network
 * namespaces).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_TARGETS 8
#define MAX_VERSIONS 256
#define MAX_LOGGED_ERRORS 100
#define RESP_MAX 8192

enum kind { KIND_NEW, KIND_KEEPALIVE };
static const char *const kind_name[] = { "new-connection", "keep-alive" };

struct tally {
	long long ok, failed;
};

static struct sockaddr_in targets[MAX_TARGETS];
static const char *target_text[MAX_TARGETS];
static int ntargets;
static __thread int my_target;   /* this client's: targets[my_target] */
static struct {
	long long ok, failed;
	char first[32], last[32];
} per_target[MAX_TARGETS];
static const char *path = "/";
static const char *stop_file;
static long new_conn_pause_ms;
static long long deadline_ms;
static volatile int stop;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tally tallies[2];
static long long ka_retried, ka_connects, n_logged;
static char versions[MAX_VERSIONS][32];
static long long version_count[MAX_VERSIONS];
static long long other_versions; /* answers of versions past MAX_VERSIONS */
static char last_version[32] = "-";
static char first_error[600];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record_ok(enum kind k, const char *version)
{
	int i;

	pthread_mutex_lock(&lock);
	tallies[k].ok++;
	for (i = 0; i < MAX_VERSIONS; i++) {
		if (!versions[i][0])
			snprintf(versions[i], sizeof(versions[i]), "%s", version);
		if (!strcmp(versions[i], version)) {
			version_count[i]++;
			break;
		}
	}
	if (i == MAX_VERSIONS)
		other_versions++;
	snprintf(last_version, sizeof(last_version), "%s", version);
	per_target[my_target].ok++;
	if (!per_target[my_target].first[0])
		snprintf(per_target[my_target].first, sizeof(per_target[0].first), "%s", version);
	snprintf(per_target[my_target].last, sizeof(per_target[0].last), "%s", version);
	pthread_mutex_unlock(&lock);
}

static void record_failed(enum kind k, const char *why)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	pthread_mutex_lock(&lock);
	tallies[k].failed++;
	per_target[my_target].failed++;
	if (!first_error[0])
		snprintf(first_error, sizeof(first_error), "%s: %s (%s)", kind_name[k], why,
			 target_text[my_target]);
	if (n_logged++ < MAX_LOGGED_ERRORS)
		fprintf(stderr, "hammer: %s.%03ld (%lld.%03ld) %s: %s (%s)\n", when,
			ts.tv_nsec / 1000000, (long long)ts.tv_sec, ts.tv_nsec / 1000000,
			kind_name[k], why, target_text[my_target]);
	pthread_mutex_unlock(&lock);
}

static void count(long long *n)
{
	pthread_mutex_lock(&lock);
	(*n)++;
	pthread_mutex_unlock(&lock);
}

/* A blocking TCP connection to the target, 5 s timeouts; -1 with why set. */
static int open_conn(char *why, size_t why_len)
{
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, why_len, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&targets[my_target], sizeof(targets[0]))) {
		snprintf(why, why_len, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The length of a response's status line, at most 60 (for messages). */
static int status_len(const char *resp)
{
	size_t n = strcspn(resp, "\r\n");

	return n < 60 ? (int)n : 60;
}

/* The version in a greeter body ("... from greeter VERSION (...)"), or "?". */
static void body_version(const char *resp, char *out, size_t out_len)
{
	const char *p = strstr(resp, "greeter ");

	snprintf(out, out_len, "?");
	if (p) {
		size_t n = strcspn(p + 8, " \r\n");
		snprintf(out, out_len, "%.*s", (int)(n < out_len ? n : out_len - 1), p + 8);
	}
}

static void new_conn_request(void)
{
	char req[512], resp[RESP_MAX], version[32], why[200];
	size_t got = 0;
	int fd, n;

	fd = open_conn(why, sizeof(why));
	if (fd < 0) {
		record_failed(KIND_NEW, why);
		return;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: hammer\r\nConnection: close\r\n\r\n",
		     path);
	if (send_all(fd, req, (size_t)n)) {
		snprintf(why, sizeof(why), "send: %s", strerror(errno));
		record_failed(KIND_NEW, why);
		close(fd);
		return;
	}
	for (;;) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, sizeof(why), "recv: %s after %zu response bytes",
				 strerror(errno), got);
			record_failed(KIND_NEW, why);
			close(fd);
			return;
		}
		if (r == 0 || (got += (size_t)r) >= sizeof(resp) - 1)
			break;
	}
	close(fd);
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 200", 12)) {
		if (got)
			snprintf(why, sizeof(why), "bad answer: %.*s", status_len(resp), resp);
		else
			snprintf(why, sizeof(why), "bad answer: (empty)");
		record_failed(KIND_NEW, why);
		return;
	}
	body_version(resp, version, sizeof(version));
	record_ok(KIND_NEW, version);
}

/* ---- keep-alive clients ---- */

struct ka {
	int target;      /* its address: targets[target] */
	int fd;          /* -1: none open */
	long long uses;  /* requests answered on fd */
	char buf[RESP_MAX];
};

enum ka_result {
	KA_OK,
	KA_FAILED,      /* why says what */
	KA_RETRYABLE    /* no byte of response before EOF or reset */
};

static void ka_close(struct ka *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->uses = 0;
}

/* The value of header NAME in head[0..len) as a number, or -1. */
static long long header_number(const char *head, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (!strncasecmp(h, name, nl) && h[nl] == ':') {
			char *end;
			long long v;
			errno = 0;
			v = strtoll(h + nl + 1, &end, 10);
			if (errno || end == h + nl + 1 || v < 0 || (*end != '\r' && *end != ' '))
				return -1;
			return v;
		}
	}
	return -1;
}

/*
 * One request on k's connection (opened first when there is none). A
 * whole response ends at Content-Length; the connection stays open unless
 * the response said Connection: close.
 */
static enum ka_result ka_request(struct ka *k, char *version, size_t version_len, char *why,
				 size_t why_len)
{
	char req[512];
	size_t got = 0, want = 0;
	long long clen = -1;
	int n;

	if (k->fd < 0) {
		k->fd = open_conn(why, why_len);
		if (k->fd < 0)
			return KA_FAILED;
		count(&ka_connects);
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: hammer\r\n\r\n", path);
	if (send_all(k->fd, req, (size_t)n)) {
		snprintf(why, why_len, "send: %s (request %lld on the connection)",
			 strerror(errno), k->uses + 1);
		return k->uses > 0 && (errno == EPIPE || errno == ECONNRESET) ? KA_RETRYABLE
									 : KA_FAILED;
	}
	for (;;) {
		ssize_t r;
		char *end;

		if (got == sizeof(k->buf) - 1) {
			snprintf(why, why_len, "response longer than %zu bytes", got);
			return KA_FAILED;
		}
		r = recv(k->fd, k->buf + got, sizeof(k->buf) - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : 0;
			snprintf(why, why_len, "%s after %zu response bytes (request %lld on the connection)",
				 r < 0 ? strerror(e) : "EOF", got, k->uses + 1);
			if (got == 0 && k->uses > 0 && (r == 0 || e == ECONNRESET))
				return KA_RETRYABLE;
			return KA_FAILED;
		}
		got += (size_t)r;
		k->buf[got] = '\0';
		if (clen < 0) {
			end = strstr(k->buf, "\r\n\r\n");
			if (!end)
				continue;
			clen = header_number(k->buf, "Content-Length");
			if (clen < 0 || clen > (long long)sizeof(k->buf)) {
				snprintf(why, why_len, "no usable Content-Length: %.*s",
					 status_len(k->buf), k->buf);
				return KA_FAILED;
			}
			want = (size_t)(end - k->buf) + 4 + (size_t)clen;
		}
		if (got >= want)
			break;
	}
	if (got > want) {
		snprintf(why, why_len, "%zu bytes after the response", got - want);
		return KA_FAILED;
	}
	if (strncmp(k->buf, "HTTP/1.1 200", 12)) {
		snprintf(why, why_len, "bad answer: %.*s", status_len(k->buf), k->buf);
		return KA_FAILED;
	}
	body_version(k->buf, version, version_len);
	k->uses++;
	{
		/* the header block only: the body may say anything */
		char *end = strstr(k->buf, "\r\n\r\n");
		*end = '\0';
		if (strcasestr(k->buf, "\r\nconnection: close"))
			ka_close(k);
	}
	return KA_OK;
}

static void keepalive_request(struct ka *k)
{
	char version[32], why[240], first[240], msg[520];
	enum ka_result res = ka_request(k, version, sizeof(version), why, sizeof(why));

	snprintf(msg, sizeof(msg), "%s", why);
	if (res == KA_RETRYABLE) {
		/* the server closed the idle connection: once more, on a new one */
		count(&ka_retried);
		ka_close(k);
		snprintf(first, sizeof(first), "%s", why);
		res = ka_request(k, version, sizeof(version), why, sizeof(why));
		snprintf(msg, sizeof(msg), "%s, then on a fresh connection: %s", first, why);
	}
	if (res == KA_OK) {
		record_ok(KIND_KEEPALIVE, version);
		return;
	}
	record_failed(KIND_KEEPALIVE, msg);
	ka_close(k);
}

static void *new_conn_client(void *arg)
{
	struct timespec pause = { new_conn_pause_ms / 1000, (new_conn_pause_ms % 1000) * 1000000 };

	my_target = (int)(intptr_t)arg;
	while (!stop && now_ms() < deadline_ms) {
		new_conn_request();
		if (new_conn_pause_ms > 0)
			nanosleep(&pause, NULL);
	}
	return NULL;
}

static void *keepalive_client(void *arg)
{
	struct ka *k = arg;

	my_target = k->target;
	while (!stop && now_ms() < deadline_ms)
		keepalive_request(k);
	ka_close(k);
	return NULL;
}

static void usage(void)
{
	fputs("usage: hammer --addr IPV4:PORT [--addr ...] [--clients N] [--keepalive-clients N]\n"
	      "              [--duration-ms MS] [--stop-file PATH] [--path /]\n"
	      "              [--new-conn-pause-ms MS] [--allow-net A.B.C.0/24]\n", stderr);
	exit(2);
}

/* A whole decimal number in [min, max], or usage(). */
static long parse_long(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static struct ka kas[MAX_CLIENTS];
	pthread_t th[MAX_CLIENTS];
	long clients = 8, ka_clients = 0, duration = 10000, started = 0;
	const char *allow = NULL;
	struct in_addr allow_net = { 0 };
	char host[64];
	struct stat st;
	long long n_ok, n_failed;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--addr")) {
			if (ntargets == MAX_TARGETS)
				usage();
			target_text[ntargets++] = argv[i + 1];
		} else if (!strcmp(argv[i], "--allow-net"))
			allow = argv[i + 1];
		else if (!strcmp(argv[i], "--clients"))
			clients = parse_long(argv[i + 1], 0, MAX_CLIENTS);
		else if (!strcmp(argv[i], "--keepalive-clients"))
			ka_clients = parse_long(argv[i + 1], 0, MAX_CLIENTS);
		else if (!strcmp(argv[i], "--duration-ms"))
			duration = parse_long(argv[i + 1], 1, 600000);
		else if (!strcmp(argv[i], "--stop-file"))
			stop_file = argv[i + 1];
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--new-conn-pause-ms"))
			new_conn_pause_ms = parse_long(argv[i + 1], 0, 10000);
		else
			usage();
	}
	if (argc % 2 == 0 || !ntargets || clients + ka_clients < 1 ||
	    clients + ka_clients > MAX_CLIENTS || strlen(path) > 400)
		usage();
	if (allow) {
		size_t n = strlen(allow);
		snprintf(host, sizeof(host), "%.*s", n > 3 ? (int)(n - 3) : 0, allow);
		if (n < 4 || strcmp(allow + n - 3, "/24") || inet_pton(AF_INET, host, &allow_net) != 1 ||
		    (ntohl(allow_net.s_addr) & 0xff) || (ntohl(allow_net.s_addr) >> 24) != 10)
			usage(); /* a private 10.x.y.0/24 only */
	}
	for (int t = 0; t < ntargets; t++) {
		const char *addr = target_text[t], *colon = strrchr(addr, ':');
		uint32_t a;
		if (!colon || colon - addr >= (long)sizeof(host))
			usage();
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
		memset(&targets[t], 0, sizeof(targets[t]));
		targets[t].sin_family = AF_INET;
		targets[t].sin_port = htons((unsigned short)parse_long(colon + 1, 1, 65535));
		if (inet_pton(AF_INET, host, &targets[t].sin_addr) != 1)
			usage();
		a = ntohl(targets[t].sin_addr.s_addr);
		if ((a >> 24) != 127 && !(allow && (a & 0xffffff00u) == ntohl(allow_net.s_addr)))
			usage(); /* loopback, or the test's own network */
	}
	deadline_ms = now_ms() + duration;
	for (long i = 0; i < clients + ka_clients; i++) {
		int rc;
		if (i < clients) {
			rc = pthread_create(&th[i], NULL, new_conn_client,
					    (void *)(intptr_t)(i % ntargets));
		} else {
			kas[i].fd = -1;
			kas[i].target = (int)(i % ntargets);
			rc = pthread_create(&th[i], NULL, keepalive_client, &kas[i]);
		}
		if (rc) {
			fprintf(stderr, "hammer: pthread_create: %s\n", strerror(rc));
			stop = 1;
			break;
		}
		started++;
	}
	while (!stop && now_ms() < deadline_ms) {
		if (stop_file && stat(stop_file, &st) == 0)
			break;
		usleep(20000);
	}
	stop = 1;
	for (long i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	n_ok = tallies[KIND_NEW].ok + tallies[KIND_KEEPALIVE].ok;
	n_failed = tallies[KIND_NEW].failed + tallies[KIND_KEEPALIVE].failed;
	printf("requests %lld ok %lld failed %lld versions", n_ok + n_failed, n_ok, n_failed);
	for (int i = 0; i < MAX_VERSIONS && versions[i][0]; i++)
		printf(" %s:%lld", versions[i], version_count[i]);
	if (other_versions)
		printf(" (others):%lld", other_versions);
	printf(" last %s", last_version);
	printf(" new_requests %lld new_ok %lld new_failed %lld",
	       tallies[KIND_NEW].ok + tallies[KIND_NEW].failed, tallies[KIND_NEW].ok,
	       tallies[KIND_NEW].failed);
	printf(" keepalive_requests %lld keepalive_ok %lld keepalive_failed %lld"
	       " keepalive_retried %lld keepalive_connects %lld\n",
	       tallies[KIND_KEEPALIVE].ok + tallies[KIND_KEEPALIVE].failed,
	       tallies[KIND_KEEPALIVE].ok, tallies[KIND_KEEPALIVE].failed, ka_retried,
	       ka_connects);
	if (first_error[0])
		printf("first error: %s\n", first_error);
	for (int t = 0; ntargets > 1 && t < ntargets; t++)
		printf("target %s requests %lld ok %lld failed %lld first %s last %s\n",
		       target_text[t], per_target[t].ok + per_target[t].failed, per_target[t].ok,
		       per_target[t].failed, per_target[t].first[0] ? per_target[t].first : "-",
		       per_target[t].last[0] ? per_target[t].last : "-");
	if (started < clients + ka_clients)
		return 1;
	return n_failed ? 1 : 0;
}
