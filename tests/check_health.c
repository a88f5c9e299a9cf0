/*
 * check_health.c - health probes, streaks, wait and watch, against real
 * listeners: the example greeter (healthy, or 503 after --unhealthy-after),
 * a free port nobody listens on (refused) and a socket that is listening
 * but never accepts (the request times out).
 *
 * Greeters started here are children of the test process; each test kills
 * and reaps them. As a safety net (a failed assertion ends the test at
 * once) their pids and start times go to a file that the tcase teardown,
 * run in the parent, reads to kill what is left.
 */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health.h"
#include "util.h"

static char root[PATH_MAX];
static char greeter[PATH_MAX];

static void setup_root(void)
{
	const char *g = getenv("GREETER");
	char cwd[PATH_MAX];
	char *path;

	snprintf(root, sizeof(root), "/tmp/svc-check-health-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	if (g && g[0] == '/') {
		path = svc_strdup(g);
	} else {
		ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
		path = svc_strfmt("%s/%s", cwd, g ? g : "examples/greeter/greeter");
	}
	ck_assert(strlen(path) < sizeof(greeter));
	memcpy(greeter, path, strlen(path) + 1);
	free(path);
}

static void teardown_root(void)
{
	char *pids = svc_strfmt("%s/pids", root);
	char *text = NULL;

	if (svc_file_read(&text, NULL, pids, 1 << 20, NULL) == 0) {
		for (char *line = text; line && *line; ) {
			long pid = 0;
			unsigned long long start = 0;

			if (sscanf(line, "%ld %llu", &pid, &start) == 2 &&
			    svc_pid_alive((pid_t)pid, start)) {
				fprintf(stderr, "# teardown: killing leftover pid %ld\n", pid);
				kill((pid_t)pid, SIGKILL);
			}
			line = strchr(line, '\n');
			if (line)
				line++;
		}
	}
	free(text);
	free(pids);
	svc_rm_rf(root);
}

static int free_port(void)
{
	int port = 0;

	ck_assert_int_eq(svc_free_port(&port, "127.0.0.1", NULL), 0);
	return port;
}

static bool can_connect(const char *host, int port)
{
	struct svc_addr a;
	int fd;
	bool ok;

	if (svc_addr_from_host_port(&a, host, port, NULL))
		return false;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a.ss, a.len) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * Start a greeter on host:port (after delay_ms when not 0, without waiting
 * for it); unhealthy_after < 0 means never. Returns its pid.
 */
static pid_t greeter_spawn(const char *host, int port, long unhealthy_after, int delay_ms,
			   bool wait_ready)
{
	char portbuf[16], ubuf[32];
	char opt_port[] = "--port", opt_host[] = "--host", opt_unh[] = "--unhealthy-after";
	char opt_version[] = "--version", version[] = "test";
	char *hostarg = svc_strdup(host);
	char *argv[] = { greeter, opt_port, portbuf, opt_host, hostarg, opt_version, version,
			 opt_unh, ubuf, NULL };
	char *pids = svc_strfmt("%s/pids", root);
	int64_t deadline;
	FILE *f;
	pid_t pid;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	snprintf(ubuf, sizeof(ubuf), "%ld", unhealthy_after);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 1);
		dup2(fd, 2);
		if (delay_ms)
			svc_sleep_ms(delay_ms);
		execv(argv[0], argv);
		_exit(127);
	}
	f = fopen(pids, "a");
	if (f) {
		fprintf(f, "%ld %llu\n", (long)pid, svc_pid_starttime(pid));
		fclose(f);
	}
	free(pids);
	free(hostarg);
	if (wait_ready) {
		deadline = svc_mono_ms() + 5000;
		while (!can_connect(host, port)) {
			ck_assert_msg(svc_mono_ms() < deadline, "greeter did not start on port %d", port);
			svc_sleep_ms(20);
		}
	}
	return pid;
}

static void greeter_kill(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void health_init(struct svc_health *h, enum svc_health_kind kind)
{
	static char path[] = "/health";

	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->http_path = kind == SVC_HEALTH_HTTP ? path : NULL;
	h->status_lo = 200;
	h->status_hi = 399;
	h->interval_ms = 100;
	h->timeout_ms = 1000;
	h->healthy_threshold = 2;
	h->unhealthy_threshold = 3;
	h->start_timeout_ms = 5000;
}

static bool alive_false(void *ctx, struct svc_health_target *t)
{
	(void)ctx;
	(void)t;
	return false;
}

static bool alive_true(void *ctx, struct svc_health_target *t)
{
	(void)ctx;
	(void)t;
	return true;
}

START_TEST(test_health__http_ok_and_streaks)
{
	static char version_path[] = "version";
	struct svc_health h;
	struct svc_health_target t;
	int port = free_port();
	pid_t pid = greeter_spawn("127.0.0.1", port, -1, 0, true);

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t, "g-0", "127.0.0.1", port);
	ck_assert(!t.healthy);
	ck_assert(svc_health_probe(&h, &t));
	ck_assert_str_eq(t.last_detail, "HTTP 200");
	ck_assert_int_eq(t.ok_streak, 1);
	ck_assert(!t.healthy); /* healthy_threshold 2 */
	ck_assert(svc_health_probe(&h, &t));
	ck_assert(t.healthy);

	/* a path without a leading slash still makes a valid URL */
	h.http_path = version_path;
	ck_assert(svc_health_probe(&h, &t));

	/* not alive: fails without asking, and counts towards unhealthy */
	t.alive = alive_false;
	for (int i = 0; i < 2; i++) {
		ck_assert(!svc_health_probe(&h, &t));
		ck_assert(t.healthy);
	}
	ck_assert(!svc_health_probe(&h, &t));
	ck_assert_str_eq(t.last_detail, "instance not running");
	ck_assert_int_eq(t.fail_streak, 3);
	ck_assert(!t.healthy);
	greeter_kill(pid);
}
END_TEST

START_TEST(test_health__http_503)
{
	struct svc_health h;
	struct svc_health_target t;
	int port = free_port();
	pid_t pid = greeter_spawn("127.0.0.1", port, 0, 0, true);

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t, "g-0", "127.0.0.1", port);
	ck_assert(!svc_health_probe(&h, &t));
	ck_assert_str_eq(t.last_detail, "HTTP 503");
	ck_assert_int_eq(t.fail_streak, 1);
	/* the expected range decides */
	h.status_lo = 500;
	h.status_hi = 503;
	ck_assert(svc_health_probe(&h, &t));
	greeter_kill(pid);
}
END_TEST

START_TEST(test_health__http_refused)
{
	struct svc_health h;
	struct svc_health_target t;
	int port = free_port();

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t, "g-0", "127.0.0.1", port);
	ck_assert(!svc_health_probe(&h, &t));
	ck_assert_msg(strstr(t.last_detail, "127.0.0.1") && strstr(t.last_detail, "refused"),
		      "%s", t.last_detail);
}
END_TEST

START_TEST(test_health__http_timeout)
{
	struct svc_health h;
	struct svc_health_target t;
	struct svc_addr a;
	int fd, port = free_port();
	int64_t t0, took;

	/* listening, so the connection is made, but nobody ever answers */
	ck_assert_int_eq(svc_addr_from_host_port(&a, "127.0.0.1", port, NULL), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
	ck_assert_int_eq(listen(fd, 8), 0);

	health_init(&h, SVC_HEALTH_HTTP);
	h.timeout_ms = 300;
	svc_health_target_init(&t, "g-0", "127.0.0.1", port);
	t0 = svc_mono_ms();
	ck_assert(!svc_health_probe(&h, &t));
	took = svc_mono_ms() - t0;
	ck_assert_msg(took >= 250 && took < 2000, "took %lld ms", (long long)took);
	ck_assert_msg(strstr(t.last_detail, "timed out") != NULL, "%s", t.last_detail);

	/* a TCP probe only needs the connection */
	h.kind = SVC_HEALTH_TCP;
	ck_assert(svc_health_probe(&h, &t));
	close(fd);
}
END_TEST

START_TEST(test_health__tcp_ok_and_refused)
{
	struct svc_health h;
	struct svc_health_target t;
	int port = free_port();
	pid_t pid = greeter_spawn("127.0.0.1", port, -1, 0, true);

	health_init(&h, SVC_HEALTH_TCP);
	svc_health_target_init(&t, "g-0", "127.0.0.1", port);
	ck_assert(svc_health_probe(&h, &t));
	greeter_kill(pid);
	ck_assert(!svc_health_probe(&h, &t));
	ck_assert_msg(strstr(t.last_detail, "Connection refused") != NULL, "%s", t.last_detail);
	ck_assert_msg(strstr(t.last_detail, "127.0.0.1:") != NULL, "%s", t.last_detail);
}
END_TEST

START_TEST(test_health__running_kind)
{
	struct svc_health h;
	struct svc_health_target t;

	health_init(&h, SVC_HEALTH_RUNNING);
	h.healthy_threshold = 1;
	svc_health_target_init(&t, "g-0", "127.0.0.1", 0);
	t.alive = alive_true;
	ck_assert(svc_health_probe(&h, &t));
	ck_assert(t.healthy);
	t.alive = alive_false;
	ck_assert(!svc_health_probe(&h, &t));
	ck_assert_str_eq(t.last_detail, "instance not running");
}
END_TEST

START_TEST(test_health__http_ipv6)
{
	struct svc_health h;
	struct svc_health_target t;
	int port = 0;
	pid_t pid;

	if (svc_free_port(&port, "::1", NULL)) {
		fprintf(stderr, "# no IPv6 loopback here: skipped\n");
		return;
	}
	pid = greeter_spawn("::1", port, -1, 0, true);
	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t, "g-0", "::1", port);
	ck_assert_msg(svc_health_probe(&h, &t), "%s", t.last_detail);
	ck_assert_str_eq(t.last_detail, "HTTP 200");
	h.kind = SVC_HEALTH_TCP;
	ck_assert(svc_health_probe(&h, &t));
	greeter_kill(pid);
}
END_TEST

static bool count_rounds(void *arg, const struct svc_health_target *t, size_t n)
{
	(void)t;
	(void)n;
	(*(int *)arg)++;
	return true;
}

/* Goes on for *arg rounds, then asks the wait to stop. */
static bool stop_after(void *arg, const struct svc_health_target *t, size_t n)
{
	(void)t;
	(void)n;
	return --*(int *)arg > 0;
}

START_TEST(test_health__wait_until_healthy)
{
	struct svc_health h;
	struct svc_health_target t[2];
	struct svc_error err;
	int p0 = free_port(), p1 = free_port(), rounds = 0;
	/* the second one comes up only after a while */
	pid_t a = greeter_spawn("127.0.0.1", p0, -1, 0, true);
	pid_t b = greeter_spawn("127.0.0.1", p1, -1, 400, false);

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t[0], "g-0", "127.0.0.1", p0);
	svc_health_target_init(&t[1], "g-1", "127.0.0.1", p1);
	svc_error_clear(&err);
	ck_assert_msg(svc_health_wait(&h, t, 2, 10000, count_rounds, &rounds, &err) == 0,
		      "%s", err.message);
	ck_assert(t[0].healthy && t[1].healthy);
	ck_assert_int_ge(rounds, 3); /* some rounds failed before b was up */
	greeter_kill(a);
	greeter_kill(b);
}
END_TEST

START_TEST(test_health__wait_times_out)
{
	struct svc_health h;
	struct svc_health_target t[2];
	struct svc_error err;
	int p0 = free_port(), p1 = free_port();
	pid_t a = greeter_spawn("127.0.0.1", p0, -1, 0, true);
	pid_t b = greeter_spawn("127.0.0.1", p1, 0, 0, true);
	int64_t t0, took;

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t[0], "greeter-0123456789ab-0", "127.0.0.1", p0);
	svc_health_target_init(&t[1], "greeter-0123456789ab-1", "127.0.0.1", p1);
	svc_error_clear(&err);
	t0 = svc_mono_ms();
	ck_assert_int_eq(svc_health_wait(&h, t, 2, 700, NULL, NULL, &err), SVC_EFAILED);
	took = svc_mono_ms() - t0;
	ck_assert_msg(took >= 700 && took < 2500, "took %lld ms", (long long)took);
	ck_assert_str_eq(err.message,
			 "instance 'greeter-0123456789ab-1' not healthy within 700ms: HTTP 503");
	ck_assert(t[0].healthy);
	greeter_kill(a);
	greeter_kill(b);
}
END_TEST

/* The progress callback stops a wait that would take its whole timeout. */
START_TEST(test_health__wait_cancelled)
{
	struct svc_health h;
	struct svc_health_target t[1];
	struct svc_error err;
	int p0 = free_port(), rounds = 3;
	pid_t a = greeter_spawn("127.0.0.1", p0, 0, 0, true);   /* 503 from the start */
	int64_t t0, took;

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t[0], "greeter-0123456789ab-0", "127.0.0.1", p0);
	svc_error_clear(&err);
	t0 = svc_mono_ms();
	ck_assert_int_eq(svc_health_wait(&h, t, 1, 60000, stop_after, &rounds, &err),
			 SVC_ECANCELED);
	took = svc_mono_ms() - t0;
	ck_assert_int_eq(rounds, 0);
	ck_assert_msg(took < 5000, "took %lld ms", (long long)took);
	ck_assert_ptr_nonnull(strstr(err.message, "cancelled"));
	/* a round that finds everything healthy ends the wait whatever it says */
	svc_error_clear(&err);
	greeter_kill(a);
	a = greeter_spawn("127.0.0.1", p0, -1, 0, true);
	svc_health_target_init(&t[0], "greeter-0123456789ab-0", "127.0.0.1", p0);
	h.healthy_threshold = 1;
	rounds = 1;     /* stop after the first round, which is healthy */
	ck_assert_int_eq(svc_health_wait(&h, t, 1, 10000, stop_after, &rounds, &err), 0);
	greeter_kill(a);
}
END_TEST

START_TEST(test_health__watch_detects_unhealthy)
{
	struct svc_health h;
	struct svc_health_target t[2];
	struct svc_error err;
	int p0 = free_port(), p1 = free_port();
	pid_t a = greeter_spawn("127.0.0.1", p0, -1, 0, true);
	pid_t b = greeter_spawn("127.0.0.1", p1, 600, 0, true);
	int64_t t0, took;

	health_init(&h, SVC_HEALTH_HTTP);
	svc_health_target_init(&t[0], "g-0", "127.0.0.1", p0);
	svc_health_target_init(&t[1], "g-1", "127.0.0.1", p1);

	/* all well for a short bake */
	svc_error_clear(&err);
	ck_assert_msg(svc_health_watch(&h, t, 2, 300, &err) == 0, "%s", err.message);

	t0 = svc_mono_ms();
	ck_assert_int_eq(svc_health_watch(&h, t, 2, 10000, &err), SVC_EFAILED);
	took = svc_mono_ms() - t0;
	ck_assert_msg(took < 3000, "took %lld ms", (long long)took);
	ck_assert_str_eq(err.message,
			 "instance 'g-1' became unhealthy: HTTP 503 (3 failed checks in a row)");
	greeter_kill(a);
	greeter_kill(b);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, setup_root, teardown_root);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_health__http_ok_and_streaks);
	tcase_add_test(tc, test_health__http_503);
	tcase_add_test(tc, test_health__http_refused);
	tcase_add_test(tc, test_health__http_timeout);
	tcase_add_test(tc, test_health__tcp_ok_and_refused);
	tcase_add_test(tc, test_health__running_kind);
	tcase_add_test(tc, test_health__http_ipv6);
	tcase_add_test(tc, test_health__wait_until_healthy);
	tcase_add_test(tc, test_health__wait_times_out);
	tcase_add_test(tc, test_health__wait_cancelled);
	tcase_add_test(tc, test_health__watch_detects_unhealthy);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
