/*
 * check_proc.c - the process runtime and its supervisor, against real
 * processes: the example greeter service, and tests/supervise_helper
 * standing in for `svcctl __supervise` (and for a process that ignores
 * SIGTERM).
 *
 * Each test gets its own state folder under one temporary root. Tests stop
 * what they start; as a safety net (a failed assertion ends the test's
 * process at once) the tcase teardown, run in the parent, stops every
 * instance left under the root and kills every pid a test recorded.
 */
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/proc/proc.h"
#include "runtime/driver.h"
#include "runtime/proc/supervisor.h"
#include "util.h"

#define RELEASE "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define RELEASE2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static char root[PATH_MAX];
static char greeter[PATH_MAX];
static char helper[PATH_MAX];

static void abs_from_env(char *buf, size_t len, const char *var, const char *fallback)
{
	const char *v = getenv(var);
	char cwd[PATH_MAX];

	char *path;

	if (v && v[0] == '/') {
		path = svc_strdup(v);
	} else {
		ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
		path = svc_strfmt("%s/%s", cwd, v ? v : fallback);
	}
	ck_assert(strlen(path) < len);
	memcpy(buf, path, strlen(path) + 1);
	free(path);
}

static void setup_root(void)
{
	snprintf(root, sizeof(root), "/tmp/svc-check-proc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	abs_from_env(greeter, sizeof(greeter), "GREETER", "examples/greeter/greeter");
	abs_from_env(helper, sizeof(helper), "SUPERVISE_HELPER", "tests/supervise_helper");
}

/* Stop every instance left under root (all tests, all services). */
static void stop_leftovers(const char *state)
{
	struct svc_runtime *rt = NULL;
	char *services = svc_strfmt("%s/services", state);
	struct dirent *de;
	DIR *d = opendir(services);

	if (d && svc_runtime_open(&rt, SVC_RUNTIME_PROCESS, state, helper, NULL) == 0) {
		while ((de = readdir(d))) {
			struct svc_instance_list list = { NULL, 0 };

			if (de->d_name[0] == '.' || rt->ops->list(rt, de->d_name, &list, NULL))
				continue;
			for (size_t i = 0; i < list.count; i++) {
				fprintf(stderr, "# teardown: stopping leftover '%s'\n", list.items[i].id);
				rt->ops->stop(rt, &list.items[i], NULL);
			}
			svc_instance_list_release(&list);
		}
	}
	if (d)
		closedir(d);
	svc_runtime_free(rt);
	free(services);
}

static void teardown_root(void)
{
	char *pids = svc_strfmt("%s/pids", root);
	char *text = NULL;
	struct dirent *de;
	DIR *d = opendir(root);

	while (d && (de = readdir(d))) {
		char *state;

		if (de->d_name[0] == '.')
			continue;
		state = svc_strfmt("%s/%s", root, de->d_name);
		stop_leftovers(state);
		free(state);
	}
	if (d)
		closedir(d);
	if (svc_file_read(&text, NULL, pids, 1 << 20, NULL) == 0) {
		char *line = text;

		while (line && *line) {
			long pid = 0;
			unsigned long long start = 0;

			if (sscanf(line, "%ld %llu", &pid, &start) == 2 && svc_pid_alive((pid_t)pid, start))
				kill((pid_t)pid, SIGKILL);
			line = strchr(line, '\n');
			if (line)
				line++;
		}
	}
	free(text);
	free(pids);
	svc_rm_rf(root);
}

/* Remember a pid for the teardown (in case the test dies before its cleanup). */
static void record_pid(pid_t pid)
{
	char *path = svc_strfmt("%s/pids", root);
	FILE *f = fopen(path, "a");

	if (f) {
		fprintf(f, "%ld %llu\n", (long)pid, svc_pid_starttime(pid));
		fclose(f);
	}
	free(path);
}

/* A hand-filled manifest (the loader is written elsewhere). */
struct test_manifest {
	struct svc_manifest m;
	struct svc_kv env[2];
};

static void tm_init(struct test_manifest *tm, const char *const *argv)
{
	size_t n = 0;
	char gdir[PATH_MAX];

	memset(tm, 0, sizeof(*tm));
	snprintf(gdir, sizeof(gdir), "%s", greeter);
	while (argv[n])
		n++;
	tm->m.service = svc_strdup("greeter");
	tm->m.version = svc_strdup("1.0");
	tm->m.replicas = 1;
	tm->m.run.command = svc_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		tm->m.run.command[i] = svc_strdup(argv[i]);
	tm->m.run.workdir = svc_strdup(dirname(gdir));
	/* instances get only their manifest's env: under ASan the greeter's
	 * reports go where the test run collects them only when it says so */
	if (getenv("ASAN_OPTIONS")) {
		tm->env[tm->m.run.nenv].key = svc_strdup("ASAN_OPTIONS");
		tm->env[tm->m.run.nenv++].value = svc_strdup(getenv("ASAN_OPTIONS"));
	}
	tm->env[tm->m.run.nenv].key = svc_strdup("GREETING");
	tm->env[tm->m.run.nenv++].value = svc_strdup("hi $${SERVICE}=${SERVICE}/${INSTANCE}");
	tm->m.run.env = tm->env;
	tm->m.run.stop_signal = SIGTERM;
	tm->m.run.stop_signal_name = svc_strdup("TERM");
	tm->m.run.stop_timeout_ms = 3000;
}

static void tm_release(struct test_manifest *tm)
{
	free(tm->m.service);
	free(tm->m.version);
	svc_strv_free(tm->m.run.command);
	free(tm->m.run.workdir);
	free(tm->m.run.stop_signal_name);
	for (size_t i = 0; i < 2; i++) {
		free(tm->env[i].key);
		free(tm->env[i].value);
	}
}

static void tm_greeter(struct test_manifest *tm)
{
	const char *argv[] = { "./greeter", "--port", "${PORT}", "--version", "${VERSION}", NULL };

	tm_init(tm, argv);
}

static struct svc_runtime *open_rt(const char *name)
{
	struct svc_runtime *rt = NULL;
	struct svc_error err;
	char *state = svc_strfmt("%s/%s", root, name);

	svc_error_clear(&err);
	ck_assert_msg(svc_runtime_open(&rt, SVC_RUNTIME_PROCESS, state, helper, &err) == 0,
		      "%s", err.message);
	free(state);
	return rt;
}

static void start_ok(struct svc_runtime *rt, struct test_manifest *tm, const char *release,
		     int index, struct svc_instance *out)
{
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_msg(rt->ops->start(rt, &tm->m, release, "blue", index, out, &err) == 0,
		      "start: %s", err.message);
	if (out->proc.supervisor_pid > 0)
		record_pid(out->proc.supervisor_pid);
	if (out->pid > 0)
		record_pid(out->pid);
}

static void stop_ok(struct svc_runtime *rt, const struct svc_instance *inst)
{
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_msg(rt->ops->stop(rt, inst, &err) == 0, "stop: %s", err.message);
}

struct body {
	char buf[4096];
	size_t len;
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (len > sizeof(b->buf) - 1 - b->len)
		len = sizeof(b->buf) - 1 - b->len;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return size * n;
}

/* GET http://127.0.0.1:port/path, retrying until it answers (up to 5 s). */
static long http_get(int port, const char *path, struct body *b)
{
	char url[256];
	long status = 0;
	int64_t deadline = svc_mono_ms() + 5000;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	do {
		CURL *c = curl_easy_init();

		memset(b, 0, sizeof(*b));
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
		if (status)
			break;
		svc_sleep_ms(50);
	} while (svc_mono_ms() < deadline);
	return status;
}

/* Poll list() until the instance with id is in state (and cond holds), up to ms. */
static bool wait_state(struct svc_runtime *rt, const char *id, enum svc_instance_state state,
		       int64_t ms, struct svc_instance *out)
{
	int64_t deadline = svc_mono_ms() + ms;

	do {
		struct svc_instance_list list = { NULL, 0 };
		bool found = false;

		ck_assert_int_eq(rt->ops->list(rt, "greeter", &list, NULL), 0);
		for (size_t i = 0; i < list.count; i++) {
			if (!strcmp(list.items[i].id, id) && list.items[i].state == state) {
				*out = list.items[i];
				memset(&list.items[i], 0, sizeof(list.items[i]));
				found = true;
			}
		}
		svc_instance_list_release(&list);
		if (found)
			return true;
		svc_sleep_ms(50);
	} while (svc_mono_ms() < deadline);
	return false;
}

static bool wait_pid_gone(pid_t pid, unsigned long long start, int64_t ms)
{
	int64_t deadline = svc_mono_ms() + ms;

	while (svc_pid_alive(pid, start)) {
		if (svc_mono_ms() >= deadline)
			return false;
		svc_sleep_ms(20);
	}
	return true;
}

static char *read_text(const char *path)
{
	char *text = NULL;

	ck_assert_msg(svc_file_read(&text, NULL, path, 1 << 20, NULL) == 0, "cannot read %s", path);
	return text;
}

START_TEST(test_proc__start_answers_http)
{
	struct svc_runtime *rt = open_rt("start");
	struct test_manifest tm;
	struct svc_instance inst;
	struct body b;
	struct stat st;
	char *dir, *spec_path, *spec, *archived, *log;
	unsigned long long pid_start, sup_start;
	pid_t pid, sup;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	ck_assert_str_eq(inst.id, "greeter-0123456789ab-0");
	ck_assert_str_eq(inst.service, "greeter");
	ck_assert_str_eq(inst.release, RELEASE);
	ck_assert_str_eq(inst.color, "blue");
	ck_assert_str_eq(inst.host, "127.0.0.1");
	ck_assert_int_eq(inst.state, SVC_INST_RUNNING);
	ck_assert_int_gt(inst.pid, 0);
	ck_assert_int_gt(inst.proc.supervisor_pid, 0);
	ck_assert_int_ne(inst.pid, inst.proc.supervisor_pid);
	ck_assert_int_gt(inst.port, 0);
	ck_assert_int_eq(inst.restarts, 0);
	ck_assert_int_eq(inst.expire_at_ms, 0);

	/* ${PORT} ${VERSION} in argv; ${SERVICE} ${INSTANCE} $$ in env */
	ck_assert_int_eq(http_get(inst.port, "/", &b), 200);
	ck_assert_str_eq(b.buf, "hi ${SERVICE}=greeter/0 from greeter 1.0 (instance 0)\n");
	ck_assert_int_eq(http_get(inst.port, "/version", &b), 200);
	ck_assert_str_eq(b.buf, "1.0\n");

	dir = svc_strfmt("%s/start/services/greeter/instances/%s", root, inst.id);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	spec_path = svc_strfmt("%s/spec.json", dir);
	spec = read_text(spec_path);
	ck_assert_ptr_nonnull(strstr(spec, "\"stop_timeout_ms\": 3000"));
	ck_assert_ptr_nonnull(strstr(spec, "\"VERSION\": \"1.0\""));

	pid = inst.pid;
	pid_start = inst.proc.pid_start;
	sup = inst.proc.supervisor_pid;
	sup_start = inst.proc.supervisor_start;
	stop_ok(rt, &inst);
	ck_assert(!svc_pid_alive(pid, pid_start));
	ck_assert(!svc_pid_alive(sup, sup_start));
	ck_assert(!svc_path_exists(dir));
	archived = svc_strfmt("%s/start/services/greeter/logs/%s.log", root, inst.id);
	log = read_text(archived);
	ck_assert_ptr_nonnull(strstr(log, "listening on 127.0.0.1"));
	ck_assert_ptr_nonnull(strstr(log, "stopping"));
	/* stopping what is gone just cleans up */
	stop_ok(rt, &inst);

	free(log);
	free(archived);
	free(spec);
	free(spec_path);
	free(dir);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__list_rebuilds_from_files)
{
	struct svc_runtime *rt = open_rt("list"), *rt2 = open_rt("list");
	struct svc_instance a, b;
	struct svc_instance_list list = { NULL, 0 };
	struct test_manifest tm;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE2, 0, &b);
	start_ok(rt, &tm, RELEASE, 1, &a);
	svc_runtime_free(rt);

	ck_assert_int_eq(rt2->ops->list(rt2, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 2);
	/* sorted by id */
	ck_assert_str_eq(list.items[0].id, "greeter-0123456789ab-1");
	ck_assert_str_eq(list.items[1].id, "greeter-fedcba987654-0");
	ck_assert_str_eq(list.items[0].release, RELEASE);
	ck_assert_int_eq(list.items[0].index, 1);
	ck_assert_int_eq(list.items[0].port, a.port);
	ck_assert_int_eq(list.items[0].pid, a.pid);
	ck_assert_int_eq(list.items[0].proc.supervisor_pid, a.proc.supervisor_pid);
	ck_assert_int_eq(list.items[0].state, SVC_INST_RUNNING);
	ck_assert_int_eq(list.items[1].pid, b.pid);
	ck_assert_int_eq(list.items[1].state, SVC_INST_RUNNING);
	ck_assert_int_ne(list.items[0].port, list.items[1].port);
	ck_assert_ptr_nonnull(list.items[0].log_path);
	ck_assert(list.items[0].started_ms > 0);
	svc_instance_list_release(&list);

	/* a service without instances is an empty list */
	ck_assert_int_eq(rt2->ops->list(rt2, "other", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 0);

	stop_ok(rt2, &a);
	stop_ok(rt2, &b);
	ck_assert_int_eq(rt2->ops->list(rt2, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 0);
	svc_instance_release(&a);
	svc_instance_release(&b);
	tm_release(&tm);
	svc_runtime_free(rt2);
}
END_TEST

START_TEST(test_proc__crash_is_restarted)
{
	struct svc_runtime *rt = open_rt("crash");
	struct test_manifest tm;
	struct svc_instance inst, now;
	struct body b;
	int64_t deadline;
	bool restarted = false;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	ck_assert_int_eq(http_get(inst.port, "/health", &b), 200);
	ck_assert_int_eq(kill(inst.pid, SIGKILL), 0);

	deadline = svc_mono_ms() + 5000;
	memset(&now, 0, sizeof(now));
	while (!restarted && svc_mono_ms() < deadline) {
		ck_assert(wait_state(rt, inst.id, SVC_INST_RUNNING, 5000, &now));
		if (now.pid != inst.pid)
			restarted = true;
		else
			svc_instance_release(&now);
		svc_sleep_ms(20);
	}
	ck_assert_msg(restarted, "not restarted");
	record_pid(now.pid);
	ck_assert_int_eq(now.restarts, 1);
	ck_assert_int_eq(now.last_exit_code, 128 + SIGKILL);
	ck_assert_int_eq(now.proc.supervisor_pid, inst.proc.supervisor_pid);
	ck_assert_int_eq(now.port, inst.port);
	ck_assert_int_eq(http_get(now.port, "/health", &b), 200);

	stop_ok(rt, &now);
	ck_assert(!svc_pid_alive(now.pid, now.proc.pid_start));
	svc_instance_release(&now);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__stop_kills_after_timeout)
{
	struct svc_runtime *rt = open_rt("ignore");
	const char *argv[] = { helper, "ignore-term", NULL };
	struct test_manifest tm;
	struct svc_instance inst;
	char *archived, *log;
	int64_t t0, took;
	int64_t deadline;

	tm_init(&tm, argv);
	tm.m.run.stop_timeout_ms = 700;
	start_ok(rt, &tm, RELEASE, 0, &inst);
	/* wait until it has set up its SIGTERM handling (it says so) */
	deadline = svc_mono_ms() + 5000;
	for (;;) {
		char *out = NULL;

		if (svc_file_read(&out, NULL, inst.log_path, 4096, NULL) == 0 &&
		    strstr(out, "ignoring SIGTERM")) {
			free(out);
			break;
		}
		free(out);
		ck_assert(svc_mono_ms() < deadline);
		svc_sleep_ms(20);
	}
	t0 = svc_mono_ms();
	stop_ok(rt, &inst);
	took = svc_mono_ms() - t0;
	ck_assert_msg(took >= 700 && took < 4000, "stop took %lld ms", (long long)took);
	ck_assert(!svc_pid_alive(inst.pid, inst.proc.pid_start));
	ck_assert(!svc_pid_alive(inst.proc.supervisor_pid, inst.proc.supervisor_start));
	archived = svc_strfmt("%s/ignore/services/greeter/logs/%s.log", root, inst.id);
	log = read_text(archived);
	ck_assert_ptr_nonnull(strstr(log, "ignoring SIGTERM"));
	free(log);
	free(archived);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__expiry_stops_instance)
{
	struct svc_runtime *rt = open_rt("expiry");
	struct test_manifest tm;
	struct svc_instance inst, now;
	struct svc_error err;
	char *path;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	path = svc_strfmt("%s/expiry/services/greeter/instances/%s/expire_at", root, inst.id);

	/* set and clear */
	svc_error_clear(&err);
	ck_assert_int_eq(rt->ops->set_expiry(rt, &inst, svc_now_ms() + 3600000, &err), 0);
	ck_assert(svc_path_exists(path));
	ck_assert(wait_state(rt, inst.id, SVC_INST_RUNNING, 1000, &now));
	ck_assert(now.expire_at_ms > svc_now_ms());
	svc_instance_release(&now);
	ck_assert_int_eq(rt->ops->set_expiry(rt, &inst, 0, &err), 0);
	ck_assert(!svc_path_exists(path));

	ck_assert_int_eq(rt->ops->set_expiry(rt, &inst, svc_now_ms() + 300, &err), 0);
	ck_assert_msg(wait_state(rt, inst.id, SVC_INST_STOPPED, 5000, &now), "did not expire");
	ck_assert_int_eq(now.pid, 0);
	ck_assert(wait_pid_gone(inst.proc.supervisor_pid, inst.proc.supervisor_start, 2000));
	ck_assert(!svc_pid_alive(inst.pid, inst.proc.pid_start));
	ck_assert_int_eq(now.last_exit_code, 0); /* greeter exits 0 on SIGTERM */
	svc_instance_release(&now);

	stop_ok(rt, &inst);
	ck_assert(!svc_path_exists(path));
	free(path);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__exec_failure_is_reported)
{
	struct svc_runtime *rt = open_rt("execfail");
	const char *bad[] = { "/nonexistent/svc-no-such-command", "--port", "${PORT}", NULL };
	const char *notfound[] = { "svc-no-such-command-in-path", NULL };
	struct test_manifest tm;
	struct svc_instance inst;
	struct svc_instance_list list = { NULL, 0 };
	struct svc_error err;

	tm_init(&tm, bad);
	svc_error_clear(&err);
	ck_assert_int_eq(rt->ops->start(rt, &tm.m, RELEASE, "green", 0, &inst, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "No such file") != NULL, "%s", err.message);
	ck_assert_msg(strstr(err.message, "greeter-0123456789ab-0") != NULL, "%s", err.message);
	tm_release(&tm);

	tm_init(&tm, notfound);
	svc_error_clear(&err);
	ck_assert_int_eq(rt->ops->start(rt, &tm.m, RELEASE, "green", 0, &inst, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "No such file") != NULL, "%s", err.message);
	tm_release(&tm);

	tm_greeter(&tm);
	free(tm.m.run.workdir);
	tm.m.run.workdir = svc_strdup("/nonexistent/svc-workdir");
	svc_error_clear(&err);
	ck_assert_int_eq(rt->ops->start(rt, &tm.m, RELEASE, "green", 0, &inst, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "workdir '/nonexistent/svc-workdir'") != NULL,
		      "%s", err.message);

	/* nothing is left behind: no instance, no supervisor retrying */
	ck_assert_int_eq(rt->ops->list(rt, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 0);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__killed_supervisor_is_gone)
{
	struct svc_runtime *rt = open_rt("gone");
	struct test_manifest tm;
	struct svc_instance inst, now;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	ck_assert_int_eq(kill(inst.proc.supervisor_pid, SIGKILL), 0);
	ck_assert(wait_pid_gone(inst.proc.supervisor_pid, inst.proc.supervisor_start, 2000));
	ck_assert(wait_state(rt, inst.id, SVC_INST_GONE, 2000, &now));
	ck_assert_int_eq(now.proc.supervisor_pid, 0);
	/* its instance was left running: still reported, by pid and start time */
	ck_assert_int_eq(now.pid, inst.pid);
	svc_instance_release(&now);

	/* stop cleans up, and stops the orphan too */
	stop_ok(rt, &inst);
	ck_assert(wait_pid_gone(inst.pid, inst.proc.pid_start, 1000));
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__reused_pid_not_trusted)
{
	struct svc_runtime *rt = open_rt("reuse");
	struct svc_instance_list list = { NULL, 0 };
	unsigned long long me = svc_pid_starttime(getpid());
	char *dir = svc_strfmt("%s/reuse/services/greeter/instances/greeter-0123456789ab-0", root);
	char *path, *text;

	ck_assert(me > 0);
	ck_assert_int_eq(svc_mkdir_p(dir, 0700, NULL), 0);
	path = svc_strfmt("%s/spec.json", dir);
	text = svc_strfmt("{\"service\": \"greeter\", \"release\": \"%s\", \"color\": \"blue\","
			  " \"index\": 0, \"port\": 1, \"argv\": [\"x\"], \"created_ms\": 1}",
			  RELEASE);
	ck_assert_int_eq(svc_file_write_atomic(path, text, strlen(text), 0600, NULL), 0);
	free(path);
	free(text);
	/* our own (live) pid, with a start time that is not ours */
	path = svc_strfmt("%s/status.json", dir);
	text = svc_strfmt("{\"supervisor_pid\": %ld, \"supervisor_start\": %llu, \"pid\": %ld,"
			  " \"pid_start\": %llu, \"state\": \"running\", \"restarts\": 0,"
			  " \"last_exit_code\": -1, \"started_ms\": 1, \"error\": null, \"port\": 1}",
			  (long)getpid(), me + 1, (long)getpid(), me + 7);
	ck_assert_int_eq(svc_file_write_atomic(path, text, strlen(text), 0600, NULL), 0);

	ck_assert_int_eq(rt->ops->list(rt, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_int_eq(list.items[0].state, SVC_INST_GONE);
	ck_assert_int_eq(list.items[0].pid, 0);
	ck_assert_int_eq(list.items[0].proc.supervisor_pid, 0);
	/* stopping it signals nobody (we are still here) and cleans up */
	stop_ok(rt, &list.items[0]);
	ck_assert(!svc_path_exists(dir));
	svc_instance_list_release(&list);
	free(path);
	free(text);
	free(dir);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__logs_copies_output)
{
	struct svc_runtime *rt = open_rt("logs");
	struct test_manifest tm;
	struct svc_instance inst;
	struct svc_error err;
	struct body b;
	char tmpl[] = "/tmp/svc-check-logs-XXXXXX";
	char *out;
	int fd;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	ck_assert_int_eq(http_get(inst.port, "/health", &b), 200);
	fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	svc_error_clear(&err);
	ck_assert_msg(rt->ops->logs(rt, &inst, false, fd, &err) == 0, "%s", err.message);
	out = read_text(tmpl);
	ck_assert_msg(strstr(out, "greeter 1.0 listening on 127.0.0.1") != NULL, "%s", out);
	free(out);
	stop_ok(rt, &inst);

	/* after stop, the archived output */
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_msg(rt->ops->logs(rt, &inst, true, fd, &err) == 0, "%s", err.message);
	out = read_text(tmpl);
	ck_assert_msg(strstr(out, "greeter 1.0 stopping") != NULL, "%s", out);
	free(out);
	close(fd);
	unlink(tmpl);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

/* ---- adoption: instances whose supervisor died ---- */

/* reconcile() into what (asserting it exists and succeeds). */
static void reconcile_ok(struct svc_runtime *rt, char *what, size_t len)
{
	struct svc_error err;

	svc_error_clear(&err);
	what[0] = '\0';
	ck_assert_msg(rt->ops->reconcile != NULL, "the process runtime has no reconcile");
	ck_assert_msg(rt->ops->reconcile(rt, "greeter", what, len, &err) == 0, "%s", err.message);
}

/* SIGKILL the instance's supervisor and wait until it is gone. */
static void kill_supervisor(const struct svc_instance *inst)
{
	ck_assert_int_eq(kill(inst->proc.supervisor_pid, SIGKILL), 0);
	ck_assert(wait_pid_gone(inst->proc.supervisor_pid, inst->proc.supervisor_start, 2000));
}

/* The one instance of service greeter, after reconcile (recorded for the teardown). */
static void list_one(struct svc_runtime *rt, struct svc_instance *out)
{
	struct svc_instance_list list = { NULL, 0 };

	ck_assert_int_eq(rt->ops->list(rt, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 1);
	*out = list.items[0];
	memset(&list.items[0], 0, sizeof(list.items[0]));
	svc_instance_list_release(&list);
	if (out->proc.supervisor_pid > 0)
		record_pid(out->proc.supervisor_pid);
	if (out->pid > 0)
		record_pid(out->pid);
}

START_TEST(test_proc__reconcile_adopts_unsupervised)
{
	struct svc_runtime *rt = open_rt("adopt");
	struct test_manifest tm;
	struct svc_instance inst, now, again;
	struct body b;
	char what[512], *want;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	/* nothing to do while the supervisor lives */
	reconcile_ok(rt, what, sizeof(what));
	ck_assert_str_eq(what, "");

	kill_supervisor(&inst);
	ck_assert_int_eq(http_get(inst.port, "/health", &b), 200);
	reconcile_ok(rt, what, sizeof(what));
	want = svc_strfmt("adopted instance %s (pid %ld): its supervisor had died",
			  inst.id, (long)inst.pid);
	ck_assert_str_eq(what, want);
	free(want);
	list_one(rt, &now);
	ck_assert_int_eq(now.state, SVC_INST_RUNNING);
	ck_assert_int_eq(now.pid, inst.pid);
	ck_assert(now.proc.pid_start == inst.proc.pid_start);
	ck_assert_int_eq(now.port, inst.port);
	ck_assert_int_eq(now.restarts, 0);
	ck_assert_int_gt(now.proc.supervisor_pid, 0);
	ck_assert_int_ne(now.proc.supervisor_pid, inst.proc.supervisor_pid);
	ck_assert(svc_pid_alive(now.proc.supervisor_pid, now.proc.supervisor_start));
	ck_assert_int_eq(http_get(now.port, "/health", &b), 200);
	/* once adopted there is nothing left to do */
	reconcile_ok(rt, what, sizeof(what));
	ck_assert_str_eq(what, "");

	/* the adopted process dies: its new supervisor starts it again */
	ck_assert_int_eq(kill(now.pid, SIGKILL), 0);
	ck_assert(wait_pid_gone(now.pid, now.proc.pid_start, 2000));
	memset(&again, 0, sizeof(again));
	for (int64_t deadline = svc_mono_ms() + 5000; svc_mono_ms() < deadline;) {
		ck_assert(wait_state(rt, inst.id, SVC_INST_RUNNING, 5000, &again));
		if (again.pid != now.pid)
			break;
		svc_instance_release(&again);
		svc_sleep_ms(20);
	}
	ck_assert_msg(again.id && again.pid != now.pid, "not restarted");
	record_pid(again.pid);
	ck_assert_int_eq(again.restarts, 1);
	ck_assert_int_eq(again.proc.supervisor_pid, now.proc.supervisor_pid);
	ck_assert_int_eq(again.port, inst.port);
	ck_assert_int_eq(http_get(again.port, "/health", &b), 200);

	stop_ok(rt, &again);
	ck_assert(!svc_pid_alive(again.pid, again.proc.pid_start));
	ck_assert(!svc_pid_alive(now.proc.supervisor_pid, now.proc.supervisor_start));
	svc_instance_release(&again);
	svc_instance_release(&now);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__reconcile_replaces_dead_instance)
{
	struct svc_runtime *rt = open_rt("replace");
	struct test_manifest tm;
	struct svc_instance inst, now;
	struct body b;
	char what[512], *want;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	kill_supervisor(&inst);
	ck_assert_int_eq(kill(inst.pid, SIGKILL), 0);
	ck_assert(wait_pid_gone(inst.pid, inst.proc.pid_start, 2000));

	reconcile_ok(rt, what, sizeof(what));
	want = svc_strfmt("replaced instance %s: its supervisor and its process had died",
			  inst.id);
	ck_assert_str_eq(what, want);
	free(want);
	list_one(rt, &now);
	ck_assert_int_eq(now.state, SVC_INST_RUNNING);
	ck_assert_int_gt(now.pid, 0);
	ck_assert_int_ne(now.pid, inst.pid);
	ck_assert_int_eq(now.port, inst.port); /* what the route points at */
	ck_assert_int_eq(now.restarts, 1);
	ck_assert(svc_pid_alive(now.proc.supervisor_pid, now.proc.supervisor_start));
	ck_assert_int_eq(http_get(now.port, "/health", &b), 200);

	stop_ok(rt, &now);
	ck_assert(!svc_pid_alive(now.pid, now.proc.pid_start));
	svc_instance_release(&now);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

/* A child running sleep(1) for a minute (recorded for the teardown). */
static pid_t start_sleep(void)
{
	char *argv[] = { (char *)"sleep", (char *)"60", NULL };
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	/* wait for the exec, so that its start time is that of sleep */
	for (int i = 0; i < 250; i++) {
		char *path = svc_strfmt("/proc/%ld/comm", (long)pid), *comm = NULL;
		bool done = svc_file_read(&comm, NULL, path, 64, NULL) == 0 &&
			    !strncmp(comm, "sleep", 5);

		free(comm);
		free(path);
		if (done)
			break;
		svc_sleep_ms(20);
	}
	record_pid(pid);
	return pid;
}

static bool child_running(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0 && kill(pid, 0) == 0;
}

START_TEST(test_proc__reconcile_never_signals_reused_pid)
{
	struct svc_runtime *rt = open_rt("reused");
	struct test_manifest tm;
	struct svc_instance inst, now;
	unsigned long long start;
	char what[512], *dir, *path, *text, *want;
	pid_t other;
	int status;

	/* a real instance, so that spec.json is what start() writes */
	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	dir = svc_strfmt("%s/reused/services/greeter/instances/%s", root, inst.id);
	kill_supervisor(&inst);
	ck_assert_int_eq(kill(inst.pid, SIGKILL), 0);
	ck_assert(wait_pid_gone(inst.pid, inst.proc.pid_start, 2000));

	/* status.json names a live process of someone else, with another start time */
	other = start_sleep();
	start = svc_pid_starttime(other);
	ck_assert(start > 0);
	path = svc_strfmt("%s/status.json", dir);
	text = svc_strfmt("{\"supervisor_pid\": %ld, \"supervisor_start\": %llu, \"pid\": %ld,"
			  " \"pid_start\": %llu, \"state\": \"running\", \"restarts\": 0,"
			  " \"last_exit_code\": -1, \"started_ms\": 1, \"error\": null, \"port\": %d}",
			  (long)other, start + 3, (long)other, start + 7, inst.port);
	ck_assert_int_eq(svc_file_write_atomic(path, text, strlen(text), 0600, NULL), 0);

	reconcile_ok(rt, what, sizeof(what));
	want = svc_strfmt("replaced instance %s: its supervisor had died and pid %ld is "
			  "another process now", inst.id, (long)other);
	ck_assert_str_eq(what, want);
	free(want);
	svc_sleep_ms(200);
	ck_assert_msg(child_running(other), "the other process was signalled");
	list_one(rt, &now);
	ck_assert_int_eq(now.state, SVC_INST_RUNNING);
	ck_assert_int_ne(now.pid, other);
	ck_assert_int_ne(now.proc.supervisor_pid, other);

	stop_ok(rt, &now);
	ck_assert(!svc_pid_alive(now.pid, now.proc.pid_start));
	svc_sleep_ms(200);
	ck_assert_msg(child_running(other), "the other process was signalled by stop");
	kill(other, SIGKILL);
	waitpid(other, &status, 0);

	svc_instance_release(&now);
	svc_instance_release(&inst);
	free(path);
	free(text);
	free(dir);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__adopted_stop_kills_after_timeout)
{
	struct svc_runtime *rt = open_rt("adoptkill");
	const char *argv[] = { helper, "ignore-term", NULL };
	struct test_manifest tm;
	struct svc_instance inst, now;
	char what[512];
	int64_t t0, took, deadline;

	tm_init(&tm, argv);
	tm.m.run.stop_timeout_ms = 700;
	start_ok(rt, &tm, RELEASE, 0, &inst);
	deadline = svc_mono_ms() + 5000;
	for (;;) {
		char *out = NULL;

		if (svc_file_read(&out, NULL, inst.log_path, 4096, NULL) == 0 &&
		    strstr(out, "ignoring SIGTERM")) {
			free(out);
			break;
		}
		free(out);
		ck_assert(svc_mono_ms() < deadline);
		svc_sleep_ms(20);
	}
	kill_supervisor(&inst);
	reconcile_ok(rt, what, sizeof(what));
	ck_assert_msg(strstr(what, "adopted instance") != NULL, "%s", what);
	list_one(rt, &now);
	ck_assert_int_eq(now.pid, inst.pid);

	/* stop_signal, stop_timeout, then SIGKILL, from the new supervisor */
	t0 = svc_mono_ms();
	stop_ok(rt, &now);
	took = svc_mono_ms() - t0;
	ck_assert_msg(took >= 700 && took < 4000, "stop took %lld ms", (long long)took);
	ck_assert(!svc_pid_alive(inst.pid, inst.proc.pid_start));
	ck_assert(!svc_pid_alive(now.proc.supervisor_pid, now.proc.supervisor_start));
	svc_instance_release(&now);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__adopted_instance_expires)
{
	struct svc_runtime *rt = open_rt("adoptexpire");
	struct test_manifest tm;
	struct svc_instance inst, now, stopped;
	struct svc_error err;
	char what[512];

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	kill_supervisor(&inst);
	reconcile_ok(rt, what, sizeof(what));
	list_one(rt, &now);
	ck_assert_int_eq(now.pid, inst.pid);

	svc_error_clear(&err);
	ck_assert_int_eq(rt->ops->set_expiry(rt, &now, svc_now_ms() + 300, &err), 0);
	ck_assert_msg(wait_state(rt, inst.id, SVC_INST_STOPPED, 5000, &stopped), "did not expire");
	ck_assert_int_eq(stopped.pid, 0);
	ck_assert(wait_pid_gone(now.proc.supervisor_pid, now.proc.supervisor_start, 2000));
	ck_assert(wait_pid_gone(inst.pid, inst.proc.pid_start, 2000));
	/* a stopped instance is not started again */
	reconcile_ok(rt, what, sizeof(what));
	ck_assert_str_eq(what, "");
	svc_instance_release(&stopped);

	stop_ok(rt, &now);
	svc_instance_release(&now);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__reconcile_stops_expired_unsupervised)
{
	struct svc_runtime *rt = open_rt("adoptexpired");
	struct test_manifest tm;
	struct svc_instance inst;
	struct svc_instance_list list = { NULL, 0 };
	struct svc_error err;
	char what[512], *want;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	kill_supervisor(&inst);
	/* its warm period ended while nobody supervised it */
	svc_error_clear(&err);
	ck_assert_int_eq(rt->ops->set_expiry(rt, &inst, svc_now_ms() - 1000, &err), 0);
	reconcile_ok(rt, what, sizeof(what));
	want = svc_strfmt("stopped instance %s (pid %ld): its supervisor had died after its "
			  "warm period ended", inst.id, (long)inst.pid);
	ck_assert_str_eq(what, want);
	free(want);
	ck_assert(wait_pid_gone(inst.pid, inst.proc.pid_start, 1000));
	ck_assert_int_eq(rt->ops->list(rt, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 0);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__reconcile_removes_when_port_taken)
{
	struct svc_runtime *rt = open_rt("porttaken");
	struct test_manifest tm;
	struct svc_instance inst;
	struct svc_instance_list list = { NULL, 0 };
	struct svc_addr a;
	char what[512], *want;
	int fd, one = 1;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);
	kill_supervisor(&inst);
	ck_assert_int_eq(kill(inst.pid, SIGKILL), 0);
	ck_assert(wait_pid_gone(inst.pid, inst.proc.pid_start, 2000));
	/* someone else listens on its port now */
	ck_assert_int_eq(svc_addr_from_host_port(&a, "127.0.0.1", inst.port, NULL), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
	ck_assert_int_eq(listen(fd, 1), 0);

	reconcile_ok(rt, what, sizeof(what));
	want = svc_strfmt("removed instance %s: its supervisor and its process had died and "
			  "its port %d is taken now", inst.id, inst.port);
	ck_assert_str_eq(what, want);
	free(want);
	ck_assert_int_eq(rt->ops->list(rt, "greeter", &list, NULL), 0);
	ck_assert_uint_eq(list.count, 0);
	close(fd);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

static void on_usr1(int sig)
{
	(void)sig;
}

/* In a child: follow the instance's output into fd; exit 0 when logs() returns 0. */
static pid_t follow_in_child(struct svc_runtime *rt, const struct svc_instance *inst, int fd)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1; /* no SA_RESTART: the sleep is interrupted */
		sigaction(SIGUSR1, &sa, NULL);
		_exit(rt->ops->logs(rt, inst, true, fd, NULL) == 0 ? 0 : 1);
	}
	record_pid(pid);
	return pid;
}

/* Read from fd until text shows up (up to 5 s); true when it did. */
static bool read_until(int fd, const char *text, struct body *b)
{
	int64_t deadline = svc_mono_ms() + 5000;

	while (!strstr(b->buf, text) && svc_mono_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, b->buf + b->len, sizeof(b->buf) - 1 - b->len);
		if (n <= 0)
			break;
		b->len += (size_t)n;
		b->buf[b->len] = '\0';
	}
	return strstr(b->buf, text) != NULL;
}

static int wait_exit_status(pid_t pid, int64_t ms)
{
	int64_t deadline = svc_mono_ms() + ms;
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (svc_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		svc_sleep_ms(20);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_proc__logs_follow)
{
	struct svc_runtime *rt = open_rt("follow");
	struct test_manifest tm;
	struct svc_instance inst;
	struct body b;
	int pfd[2];
	pid_t reader;

	tm_greeter(&tm);
	start_ok(rt, &tm, RELEASE, 0, &inst);

	/* follows new output, and ends by itself once the instance is removed */
	ck_assert_int_eq(pipe(pfd), 0);
	reader = follow_in_child(rt, &inst, pfd[1]);
	memset(&b, 0, sizeof(b));
	ck_assert(read_until(pfd[0], "listening on", &b));
	stop_ok(rt, &inst);
	ck_assert_msg(read_until(pfd[0], "greeter 1.0 stopping", &b), "%s", b.buf);
	ck_assert_int_eq(wait_exit_status(reader, 3000), 0);
	close(pfd[0]);
	close(pfd[1]);
	svc_instance_release(&inst);

	/* ends on a signal */
	start_ok(rt, &tm, RELEASE, 0, &inst);
	ck_assert_int_eq(pipe(pfd), 0);
	reader = follow_in_child(rt, &inst, pfd[1]);
	memset(&b, 0, sizeof(b));
	ck_assert(read_until(pfd[0], "listening on", &b));
	svc_sleep_ms(300);
	ck_assert_int_eq(kill(reader, SIGUSR1), 0);
	ck_assert_int_eq(wait_exit_status(reader, 3000), 0);
	close(pfd[0]);
	close(pfd[1]);
	stop_ok(rt, &inst);
	svc_instance_release(&inst);
	tm_release(&tm);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_proc__runtime_open)
{
	struct svc_runtime *rt = NULL;
	struct svc_error err;

	/* docker and swarm: unavailable when the engine does not answer, naming the socket */
	setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_runtime_open(&rt, SVC_RUNTIME_SWARM, root, helper, &err), SVC_EUNAVAIL);
	ck_assert_msg(strstr(err.message, "unix:///nonexistent/docker.sock"), "%s", err.message);
	ck_assert_ptr_null(rt);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_runtime_open(&rt, SVC_RUNTIME_DOCKER, root, helper, &err), SVC_EUNAVAIL);
	ck_assert_msg(strstr(err.message, "unix:///nonexistent/docker.sock"), "%s", err.message);
	ck_assert_ptr_null(rt);
	unsetenv("DOCKER_HOST");
	ck_assert_int_eq(svc_runtime_open(&rt, SVC_RUNTIME_PROCESS, root, NULL, NULL), 0);
	ck_assert_str_eq(rt->ops->name, "process");
	ck_assert_str_eq(rt->state_dir, root);
	ck_assert(rt->self_exe[0] == '/');
	svc_runtime_free(rt);
	svc_runtime_free(NULL);
	ck_assert_str_eq(svc_instance_state_name(SVC_INST_GONE), "gone");
	ck_assert_str_eq(svc_instance_state_name(SVC_INST_RUNNING), "running");
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, setup_root, teardown_root);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_proc__start_answers_http);
	tcase_add_test(tc, test_proc__list_rebuilds_from_files);
	tcase_add_test(tc, test_proc__crash_is_restarted);
	tcase_add_test(tc, test_proc__stop_kills_after_timeout);
	tcase_add_test(tc, test_proc__expiry_stops_instance);
	tcase_add_test(tc, test_proc__exec_failure_is_reported);
	tcase_add_test(tc, test_proc__killed_supervisor_is_gone);
	tcase_add_test(tc, test_proc__reused_pid_not_trusted);
	tcase_add_test(tc, test_proc__reconcile_adopts_unsupervised);
	tcase_add_test(tc, test_proc__reconcile_replaces_dead_instance);
	tcase_add_test(tc, test_proc__reconcile_never_signals_reused_pid);
	tcase_add_test(tc, test_proc__adopted_stop_kills_after_timeout);
	tcase_add_test(tc, test_proc__adopted_instance_expires);
	tcase_add_test(tc, test_proc__reconcile_stops_expired_unsupervised);
	tcase_add_test(tc, test_proc__reconcile_removes_when_port_taken);
	tcase_add_test(tc, test_proc__logs_copies_output);
	tcase_add_test(tc, test_proc__logs_follow);
	tcase_add_test(tc, test_proc__runtime_open);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
