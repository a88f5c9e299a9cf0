/*
 * check_docker_api.c - the Docker Engine API client: its pure parts (host
 * parsing, URLs, query escaping, response interpretation, log
 * demultiplexing) without an engine, and its requests against a real one.
 *
 * The engine tests run when SVCCTL_TEST_DOCKER_HOST names an engine (CI
 * sets it; for the development engine here:
 * unix:///tmp/dockerd-root/docker.sock) and pass with a "# skipped" note
 * otherwise. They build a tiny image FROM scratch out of a tar written
 * here by hand, and create containers that are never started. Everything
 * they create carries the label svcctl.test.run=<pid of the runner> and
 * the tag svcctl-test-<pid>; the tcase teardown, run in the parent even
 * when a test fails, removes both. The push test runs its own registry
 * (Debian's docker-registry, on 127.0.0.1, which an engine takes as
 * plain HTTP without being told), ended with the test's process.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/docker/docker.h"
#include "runtime/docker_api.h"
#include "runtime/swarm/swarm.h"
#include "manifest.h"
#include "util.h"

/* ---- host parsing ---- */

START_TEST(test_docker_api__host_unix)
{
	struct svc_docker_host h;
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_host_parse(&h, "unix:///var/run/docker.sock", &err), 0);
	ck_assert(h.unix_socket);
	ck_assert(!h.tls);
	ck_assert_str_eq(h.socket_path, "/var/run/docker.sock");
	ck_assert_str_eq(h.host, "");
}
END_TEST

START_TEST(test_docker_api__host_tcp)
{
	struct svc_docker_host h;
	struct svc_error err;

	unsetenv("DOCKER_TLS_VERIFY");
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://127.0.0.1:2375", &err), 0);
	ck_assert(!h.unix_socket);
	ck_assert(!h.tls);
	ck_assert_str_eq(h.host, "127.0.0.1:2375");

	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://docker.example:2375/", &err), 0);
	ck_assert_str_eq(h.host, "docker.example:2375");
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://[::1]:2376", &err), 0);
	ck_assert_str_eq(h.host, "[::1]:2376");
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://10.0.0.5", &err), 0);
	ck_assert_str_eq(h.host, "10.0.0.5:2375");

	setenv("DOCKER_TLS_VERIFY", "1", 1);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://10.0.0.5:2376", &err), 0);
	ck_assert(h.tls);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://10.0.0.5", &err), 0);
	ck_assert_str_eq(h.host, "10.0.0.5:2376");
	ck_assert_int_eq(svc_docker_host_parse(&h, "unix:///run/docker.sock", &err), 0);
	ck_assert(!h.tls);
	setenv("DOCKER_TLS_VERIFY", "0", 1);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://10.0.0.5:2376", &err), 0);
	ck_assert(!h.tls);
	setenv("DOCKER_TLS_VERIFY", "", 1);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://10.0.0.5:2376", &err), 0);
	ck_assert(!h.tls);
	unsetenv("DOCKER_TLS_VERIFY");
	ck_assert_int_eq(err.code, 0);
}
END_TEST

START_TEST(test_docker_api__host_bad)
{
	static const char *const bad[] = {
		"", "unix://", "http://127.0.0.1:2375", "ssh://me@host",
		"npipe:////./pipe/docker_engine", "fd://", "/var/run/docker.sock",
		"tcp://", "tcp://:2375", "tcp://host:", "tcp://host:0", "tcp://host:65536",
		"tcp://host:12x", "tcp://host:2375/path", "tcp://[::1", "tcp://[]:2375",
		"tcp://user@host:2375",
	};
	struct svc_docker_host h;
	struct svc_error err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_docker_host_parse(&h, bad[i], &err) == SVC_EGENERIC,
			      "'%s' accepted", bad[i]);
		ck_assert_msg(err.message[0], "'%s': no message", bad[i]);
		if (bad[i][0])
			ck_assert_msg(strstr(err.message, bad[i]), "'%s': %s", bad[i], err.message);
	}
	svc_error_clear(&err);
	svc_docker_host_parse(&h, "ssh://me@host", &err);
	ck_assert_str_eq(err.message, "unsupported Docker host 'ssh://me@host': "
			 "expected unix:///path or tcp://host:port");
	svc_error_clear(&err);
	svc_docker_host_parse(&h, "unix://", &err);
	ck_assert_str_eq(err.message, "Docker host 'unix://' has no socket path");
}
END_TEST

/* ---- URLs and escaping ---- */

START_TEST(test_docker_api__url)
{
	struct svc_docker_host h;
	char *u;

	unsetenv("DOCKER_TLS_VERIFY");
	ck_assert_int_eq(svc_docker_host_parse(&h, "unix:///var/run/docker.sock", NULL), 0);
	u = svc_docker_url(&h, "1.41", "/containers/json?all=1");
	ck_assert_str_eq(u, "http://localhost/v1.41/containers/json?all=1");
	free(u);
	u = svc_docker_url(&h, NULL, "/version");
	ck_assert_str_eq(u, "http://localhost/version");
	free(u);
	u = svc_docker_url(&h, "", "/_ping");
	ck_assert_str_eq(u, "http://localhost/_ping");
	free(u);

	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://10.0.0.5:2375", NULL), 0);
	u = svc_docker_url(&h, "1.43", "/info");
	ck_assert_str_eq(u, "http://10.0.0.5:2375/v1.43/info");
	free(u);

	setenv("DOCKER_TLS_VERIFY", "1", 1);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://docker.example:2376", NULL), 0);
	unsetenv("DOCKER_TLS_VERIFY");
	u = svc_docker_url(&h, "1.41", "/containers/abc/json");
	ck_assert_str_eq(u, "https://docker.example:2376/v1.41/containers/abc/json");
	free(u);
	ck_assert_int_eq(svc_docker_host_parse(&h, "tcp://[::1]:2376", NULL), 0);
	u = svc_docker_url(&h, "1.41", "/version");
	ck_assert_str_eq(u, "http://[::1]:2376/v1.41/version");
	free(u);
}
END_TEST

START_TEST(test_docker_api__query_escape)
{
	char *e;

	e = svc_docker_query_escape("{\"label\":[\"svcctl.service=greeter\"]}");
	ck_assert_str_eq(e, "%7B%22label%22%3A%5B%22svcctl.service%3Dgreeter%22%5D%7D");
	free(e);
	e = svc_docker_query_escape("a b/c~d_e-f.g&h?i#j%k+l");
	ck_assert_str_eq(e, "a%20b%2Fc~d_e-f.g%26h%3Fi%23j%25k%2Bl");
	free(e);
	e = svc_docker_query_escape("\xc3\xa9");
	ck_assert_str_eq(e, "%C3%A9");
	free(e);
	e = svc_docker_query_escape("");
	ck_assert_str_eq(e, "");
	free(e);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* build.env reaches an image build as the buildargs query parameter */
START_TEST(test_docker_api__build_path)
{
	json_t *args = json_object();
	char *p;

	p = svc_docker_build_path("hello:0123456789ab", NULL, NULL);
	ck_assert_str_eq(p, "/build?t=hello%3A0123456789ab");
	free(p);
	p = svc_docker_build_path("hello:1", "sub/Dockerfile", args);   /* empty: left out */
	ck_assert_str_eq(p, "/build?t=hello%3A1&dockerfile=sub%2FDockerfile");
	free(p);
	json_object_set_new(args, "LANG", json_string("C"));
	json_object_set_new(args, "CFLAGS", json_string("-O2 -g"));
	p = svc_docker_build_path("hello:1", "Dockerfile", args);
	/* {"CFLAGS":"-O2 -g","LANG":"C"}, keys sorted */
	ck_assert_str_eq(p, "/build?t=hello%3A1&dockerfile=Dockerfile&buildargs="
			 "%7B%22CFLAGS%22%3A%22-O2%20-g%22%2C%22LANG%22%3A%22C%22%7D");
	free(p);
	json_decref(args);
}
END_TEST

/* ---- images in a registry (pure) ---- */

START_TEST(test_docker_api__image_refs)
{
	static const char *const with[] = {
		"reg.example/web", "reg.example:5000/team/web:1", "localhost/web", "localhost:5000/web",
		"10.78.1.253:5123/greeter@sha256:00", "a.b/c/d/e:f", NULL,
	};
	static const char *const without[] = {
		"web", "web:1", "team/web", "team/web:1.0", "localhostx/web", "web@sha256:00",
		"", "reg.example", "Team_web/x", NULL,
	};
	static const struct { const char *image, *repo; } repos[] = {
		{ "web", "web" },
		{ "web:1", "web" },
		{ "reg:5000/web", "reg:5000/web" },
		{ "reg:5000/team/web:1.2", "reg:5000/team/web" },
		{ "reg:5000/web@sha256:ab", "reg:5000/web" },
		{ "reg:5000/web:1@sha256:ab", "reg:5000/web" },
		{ "localhost/a.b/c", "localhost/a.b/c" },
	};
	char *r;

	for (size_t i = 0; with[i]; i++)
		ck_assert_msg(svc_docker_image_has_registry(with[i]), "%s", with[i]);
	for (size_t i = 0; without[i]; i++)
		ck_assert_msg(!svc_docker_image_has_registry(without[i]), "%s", without[i]);
	ck_assert(!svc_docker_image_has_registry(NULL));
	for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		r = svc_docker_image_repo(repos[i].image);
		ck_assert_str_eq(r, repos[i].repo);
		free(r);
	}
	r = svc_docker_image_pin("reg:5000/team/web:1.2", "sha256:abc");
	ck_assert_str_eq(r, "reg:5000/team/web@sha256:abc");
	free(r);
	ck_assert(svc_docker_digest_valid(
		"sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c"));
	ck_assert(!svc_docker_digest_valid(
		"sha256:9B9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c"));
	ck_assert(!svc_docker_digest_valid(
		"sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938"));
	ck_assert(!svc_docker_digest_valid(
		"sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938cc"));
	ck_assert(!svc_docker_digest_valid(
		"sha512:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c"));
	ck_assert(!svc_docker_digest_valid(NULL));
	ck_assert(!svc_docker_digest_valid(""));
}
END_TEST

START_TEST(test_docker_api__push_repo_check)
{
	static const char *const good[] = {
		"reg.example/web", "reg.example:5000/team/web", "localhost/web", "localhost:1/a/b/c",
		"10.78.3.253:5123/greeter", "my-reg.example.com/a.b_c__d-e--f/g", "Reg.Example/web",
		NULL,
	};
	static const struct { const char *text, *why; } bad[] = {
		{ "", "'' is not HOST[:PORT]/PATH" },
		{ "web", "'web' is not HOST[:PORT]/PATH" },
		{ "reg.example", "'reg.example' is not HOST[:PORT]/PATH" },
		{ "team/web", "'team/web' names no registry: its first part 'team'" },
		{ "reg.example:5000/web:1", "has a tag or digest" },
		{ "reg.example/web@sha256:00", "has a tag or digest" },
		{ "reg.example:0/web", "registry port '0' is not a port" },
		{ "reg.example:99999/web", "registry port '99999' is not a port" },
		{ "reg.example:/web", "registry port '' is not a port" },
		{ "reg.example:5x/web", "registry port '5x' is not a port" },
		{ "reg..example/web", "registry host 'reg..example' is not a host name" },
		{ "-reg.example/web", "registry host '-reg.example' is not a host name" },
		{ "re_g.example/web", "registry host 're_g.example' is not a host name" },
		{ "reg.example/Web", "repository path 'Web' of 'reg.example/Web'" },
		{ "reg.example/", "repository path ''" },
		{ "reg.example/a//b", "repository path 'a//b'" },
		{ "reg.example/a/", "repository path 'a/'" },
		{ "reg.example/-a", "repository path '-a'" },
		{ "reg.example/a.", "repository path 'a.'" },
		{ "reg.example/a..b", "repository path 'a..b'" },
		{ "reg.example/a___b", "repository path 'a___b'" },
		{ "reg.example/a b", "repository path 'a b'" },
	};
	char why[512], *huge;

	for (size_t i = 0; good[i]; i++) {
		ck_assert_msg(svc_docker_push_repo_check(good[i], why, sizeof(why)) == 0, "%s: %s",
			      good[i], why);
		ck_assert_str_eq(why, "");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(svc_docker_push_repo_check(bad[i].text, why, sizeof(why)) == -1, "%s",
			      bad[i].text);
		ck_assert_msg(strstr(why, bad[i].why), "'%s': %s", bad[i].text, why);
	}
	huge = svc_strfmt("reg.example/%0300d", 0);
	ck_assert_int_eq(svc_docker_push_repo_check(huge, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "longer than 255 characters"), "%s", why);
	free(huge);
}
END_TEST

START_TEST(test_docker_api__push_path)
{
	char *p = svc_docker_push_path("10.78.3.253:5123/team/greeter", "0123456789ab");

	ck_assert_str_eq(p, "/images/10.78.3.253:5123/team/greeter/push?tag=0123456789ab");
	free(p);
	p = svc_docker_push_path("reg.example/a b", "x&y");
	ck_assert_str_eq(p, "/images/reg.example/a%20b/push?tag=x%26y");
	free(p);
}
END_TEST

/* the progress stream of a push: status lines passed on, the digest kept, the first error kept */
START_TEST(test_docker_api__progress_lines)
{
	static const char *const push[] = {
		"{\"status\":\"The push refers to repository [10.78.3.253:5123/greeter]\"}",
		"{\"status\":\"Preparing\",\"progressDetail\":{},\"id\":\"1ba34447a295\"}",
		"{\"status\":\"Pushing\",\"progressDetail\":{\"current\":512,\"total\":3},"
		"\"progress\":\"[==>]     512B\",\"id\":\"1ba34447a295\"}",
		"{\"status\":\"Pushed\",\"progressDetail\":{},\"id\":\"1ba34447a295\"}",
		"  ",
		"{\"status\":\"t1: digest: sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c size: 524\"}",
		"{\"progressDetail\":{},\"aux\":{\"Tag\":\"t1\",\"Digest\":"
		"\"sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c\",\"Size\":524}}",
		NULL,
	};
	struct svc_docker_progress p;
	struct svc_error err;
	char path[] = "/tmp/svc-check-progress-XXXXXX", *text = NULL;
	const char *line;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	memset(&p, 0, sizeof(p));
	p.fd = fd;
	svc_error_clear(&err);
	for (size_t i = 0; push[i]; i++)
		ck_assert_msg(svc_docker_progress_line(&p, push[i], strlen(push[i]), &err) == 0,
			      "%s", err.message);
	ck_assert_str_eq(p.digest,
			 "sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c");
	ck_assert_ptr_null(p.error);
	close(fd);
	ck_assert_int_eq(svc_file_read(&text, NULL, path, 1 << 20, NULL), 0);
	ck_assert_str_eq(text, "The push refers to repository [10.78.3.253:5123/greeter]\n"
			 "1ba34447a295: Preparing\n"
			 "1ba34447a295: Pushed\n"
			 "t1: digest: sha256:9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c size: 524\n");
	free(text);
	unlink(path);

	/* a build's aux (an image ID) is no digest; its stream text is progress */
	p.fd = -1;
	line = "{\"aux\":{\"ID\":\"sha256:3894ec22c06b0fcd57c2ada3f3541881236b67cae37b0c6f1a651e30bd89d298\"}}";
	memset(p.digest, 0, sizeof(p.digest));
	ck_assert_int_eq(svc_docker_progress_line(&p, line, strlen(line), &err), 0);
	ck_assert_str_eq(p.digest, "");
	/* errors: the first is kept */
	line = "{\"errorDetail\":{\"message\":\"Get \\\"http://10.78.3.253:1/v2/\\\": connection refused\"},"
	       "\"error\":\"Get \\\"http://10.78.3.253:1/v2/\\\": connection refused\"}";
	ck_assert_int_eq(svc_docker_progress_line(&p, line, strlen(line), &err), 0);
	line = "{\"errorDetail\":{}}";
	ck_assert_int_eq(svc_docker_progress_line(&p, line, strlen(line), &err), 0);
	ck_assert_str_eq(p.error, "Get \"http://10.78.3.253:1/v2/\": connection refused");
	svc_docker_progress_release(&p);
	ck_assert_ptr_null(p.error);
	line = "{\"errorDetail\":{}}";
	ck_assert_int_eq(svc_docker_progress_line(&p, line, strlen(line), &err), 0);
	ck_assert_str_eq(p.error, "unknown error");
	svc_docker_progress_release(&p);
	/* a digest that is not one is not taken */
	line = "{\"aux\":{\"Digest\":\"sha256:nothex\"}}";
	ck_assert_int_eq(svc_docker_progress_line(&p, line, strlen(line), &err), 0);
	ck_assert_str_eq(p.digest, "");
	/* not JSON */
	line = "<html>proxy error</html>";
	ck_assert_int_eq(svc_docker_progress_line(&p, line, strlen(line), &err), -1);
	ck_assert_msg(strstr(err.message, "progress output is not JSON: <html>proxy error</html>"),
		      "%s", err.message);
	svc_docker_progress_release(&p);
}
END_TEST

/*
 * A container's environment: the manifest's env and svcctl's variables
 * (over the image's ENV), never anything of svcctl's own environment.
 */
START_TEST(test_docker_api__container_env)
{
	static const char text[] =
		"service: web\n"
		"runtime: docker\n"
		"version: 1.2\n"
		"run:\n"
		"  image: web:1\n"
		"  env: {GREETING: \"hi ${INSTANCE}\", PATH: /opt/bin}\n"
		"ports:\n"
		"  - {listen: 127.0.0.1:8080, target: 8080}\n";
	static const char *const want[] = { "GREETING=hi 1", "INSTANCE=1", "PATH=/opt/bin",
					    "PORT=8080", "SERVICE=web", "VERSION=1.2" };
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	json_t *spec, *env, *v;
	size_t i, n = sizeof(want) / sizeof(want[0]);
	char **got;

	setenv("SVC_CHECK_SECRET_TOKEN", "s3cret", 1);
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "web.yaml", "/srv",
						  &d), 0);
	spec = svc_docker_container_spec(m, "/state", "0123456789abcdef", "blue", 1);
	env = json_object_get(spec, "Env");
	ck_assert_int_eq(json_array_size(env), n);
	got = svc_calloc(n + 1, sizeof(*got));
	json_array_foreach(env, i, v)
		got[i] = svc_strdup(json_string_value(v));
	qsort(got, n, sizeof(*got), cmp_str);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(got[i], want[i]);
	svc_strv_free(got);
	json_decref(spec);
	svc_manifest_free(m);
	svc_diags_release(&d);
	unsetenv("SVC_CHECK_SECRET_TOKEN");
}
END_TEST

/*
 * A release's Swarm service: its labels, replicas, env with Swarm's slot
 * template for INSTANCE, stop signal and grace period in nanoseconds,
 * restart policy, and the target port published in host mode on a port
 * the node chooses (no PublishedPort).
 */
START_TEST(test_docker_api__swarm_service_spec)
{
	static const char text[] =
		"service: web\n"
		"runtime: swarm\n"
		"version: 1.2\n"
		"replicas: 3\n"
		"run:\n"
		"  image: web:1\n"
		"  command: [--port, \"${PORT}\", --name, \"web-${INSTANCE}\"]\n"
		"  env: {GREETING: \"hi ${INSTANCE}\"}\n"
		"  stop_signal: INT\n"
		"  stop_timeout: 4s\n"
		"ports:\n"
		"  - {listen: \":8080\", target: 8081}\n";
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	json_t *spec, *cs, *port, *env, *v, *labels;
	bool greeting = false, instance = false;
	size_t i;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "web.yaml", "/srv",
						  &d), 0);
	spec = svc_swarm_service_spec(m, "/state", "svcctl-abcd1234-web-0123456789ab",
				      "0123456789abcdef", "green");
	ck_assert_str_eq(json_string_value(json_object_get(spec, "Name")),
			 "svcctl-abcd1234-web-0123456789ab");
	labels = json_object_get(spec, "Labels");
	ck_assert_str_eq(json_string_value(json_object_get(labels, "svcctl.service")), "web");
	ck_assert_str_eq(json_string_value(json_object_get(labels, "svcctl.release")),
			 "0123456789abcdef");
	ck_assert_str_eq(json_string_value(json_object_get(labels, "svcctl.color")), "green");
	ck_assert_str_eq(json_string_value(json_object_get(labels, "svcctl.state_dir")), "/state");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
		json_object_get(spec, "Mode"), "Replicated"), "Replicas")), 3);
	cs = json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec");
	ck_assert_str_eq(json_string_value(json_object_get(cs, "Image")), "web:1");
	ck_assert_str_eq(json_string_value(json_object_get(cs, "StopSignal")), "INT");
	ck_assert_int_eq(json_integer_value(json_object_get(cs, "StopGracePeriod")), 4000000000LL);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(cs, "Args"), 1)), "8081");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(cs, "Args"), 3)),
			 "web-{{.Task.Slot}}");
	env = json_object_get(cs, "Env");
	json_array_foreach(env, i, v) {
		greeting |= !strcmp(json_string_value(v), "GREETING=hi {{.Task.Slot}}");
		instance |= !strcmp(json_string_value(v), "INSTANCE={{.Task.Slot}}");
		ck_assert_msg(strncmp(json_string_value(v), "SVC_CHECK", 9), "%s",
			      json_string_value(v));
	}
	ck_assert(greeting && instance);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(
		spec, "TaskTemplate"), "RestartPolicy"), "Condition")), "any");
	port = json_array_get(json_object_get(json_object_get(spec, "EndpointSpec"), "Ports"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(port, "PublishMode")), "host");
	ck_assert_int_eq(json_integer_value(json_object_get(port, "TargetPort")), 8081);
	ck_assert_ptr_null(json_object_get(port, "PublishedPort"));
	json_decref(spec);
	/* a release pinned to a digest: its tasks run that, not the tag */
	svc_manifest_set_pinned(m, "reg.example:5000/web@sha256:"
				"9b9b5fc6795d9797a5c31fc8e7b959d73abdfbd058b8d3e191b0fa7a6b49938c");
	spec = svc_swarm_service_spec(m, "/state", "svcctl-abcd1234-web-0123456789ab",
				      "0123456789abcdef", "green");
	cs = json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec");
	ck_assert_str_eq(json_string_value(json_object_get(cs, "Image")), m->pinned_image);
	json_decref(spec);
	svc_manifest_free(m);
	svc_diags_release(&d);
}
END_TEST

/* ---- responses ---- */

static int parse(long status, const char *body, bool allow_empty, json_t **out,
		 struct svc_error *err)
{
	svc_error_clear(err);
	return svc_docker_parse_response(status, body, body ? strlen(body) : 0, allow_empty,
					 "inspect container 'x'", out, err);
}

START_TEST(test_docker_api__response_ok)
{
	struct svc_error err;
	json_t *out = NULL;

	ck_assert_int_eq(parse(200, "{\"Id\":\"abc\",\"State\":{\"Running\":true}}", false,
			       &out, &err), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(json_string_value(json_object_get(out, "Id")), "abc");
	json_decref(out);

	ck_assert_int_eq(parse(200, "[{\"Id\":\"a\"},{\"Id\":\"b\"}]\n", false, &out, &err), 0);
	ck_assert(json_is_array(out));
	ck_assert_int_eq(json_array_size(out), 2);
	json_decref(out);

	ck_assert_int_eq(parse(201, "{\"Id\":\"e90e34656806\",\"Warnings\":[]}\n", false,
			       &out, &err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(out, "Id")), "e90e34656806");
	json_decref(out);
}
END_TEST

START_TEST(test_docker_api__response_empty)
{
	struct svc_error err;
	json_t *out = (json_t *)&err; /* must be reset */

	ck_assert_int_eq(parse(204, "", true, &out, &err), 0);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(parse(204, NULL, true, &out, &err), 0);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(parse(200, "\r\n", true, &out, &err), 0);
	ck_assert_ptr_null(out);

	ck_assert_int_eq(parse(204, "", false, &out, &err), SVC_EGENERIC);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(err.message, "inspect container 'x': the Docker engine sent an "
			 "empty response (HTTP 204)");
}
END_TEST

START_TEST(test_docker_api__response_errors)
{
	struct svc_error err;
	json_t *out = NULL;
	char big[1000];

	ck_assert_int_eq(parse(404, "{\"message\":\"No such container: x\"}\n", false,
			       &out, &err), SVC_ENOTFOUND);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(err.code, SVC_ENOTFOUND);
	ck_assert_str_eq(err.message, "inspect container 'x': No such container: x");

	ck_assert_int_eq(parse(409, "{\"message\":\"Conflict. The container name \\\"/x\\\" "
			       "is already in use\"}", false, &out, &err), SVC_EGENERIC);
	ck_assert_str_eq(err.message, "inspect container 'x': Conflict. The container "
			 "name \"/x\" is already in use");

	/* An error status is an error even when empty bodies are allowed. */
	ck_assert_int_eq(parse(500, "", true, &out, &err), SVC_EGENERIC);
	ck_assert_str_eq(err.message, "inspect container 'x': HTTP 500 from the Docker engine");

	ck_assert_int_eq(parse(502, "Bad Gateway\n", true, &out, &err), SVC_EGENERIC);
	ck_assert_str_eq(err.message, "inspect container 'x': HTTP 502 from the Docker "
			 "engine: Bad Gateway");

	/* A long non-JSON body is quoted cut short. */
	memset(big, 'z', sizeof(big) - 1);
	memcpy(big, "<html>", 6);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(parse(500, big, false, &out, &err), SVC_EGENERIC);
	ck_assert_ptr_nonnull(strstr(err.message, "HTTP 500 from the Docker engine: <html>zzz"));
	ck_assert_ptr_nonnull(strstr(err.message, "zzz..."));
	ck_assert(strlen(err.message) < 300);

	/* JSON without "message" */
	ck_assert_int_eq(parse(500, "{\"error\":1}", false, &out, &err), SVC_EGENERIC);
	ck_assert_str_eq(err.message, "inspect container 'x': HTTP 500 from the Docker "
			 "engine: {\"error\":1}");
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_docker_api__response_bad_json)
{
	struct svc_error err;
	json_t *out = NULL;

	ck_assert_int_eq(parse(201, "{\"Id\": \"ab", false, &out, &err), SVC_EGENERIC);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(err.message, "inspect container 'x': the Docker engine's response "
			 "is truncated JSON (10 bytes)");

	ck_assert_int_eq(parse(200, "{\"Id\": nope}", false, &out, &err), SVC_EGENERIC);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(err.message, "the Docker engine's response is not "
				     "valid JSON ("));
	ck_assert_ptr_nonnull(strstr(err.message, "): {\"Id\": nope}"));

	ck_assert_int_eq(parse(200, "OK", true, &out, &err), SVC_EGENERIC);
	ck_assert_ptr_nonnull(strstr(err.message, "not valid JSON"));
}
END_TEST

/* ---- log demultiplexing ---- */

static size_t frame(char *out, int stream, const char *payload)
{
	size_t n = strlen(payload);

	out[0] = (char)stream;
	out[1] = out[2] = out[3] = 0;
	out[4] = (char)(n >> 24);
	out[5] = (char)(n >> 16);
	out[6] = (char)(n >> 8);
	out[7] = (char)n;
	memcpy(out + 8, payload, n);
	return n + 8;
}

/* Feed stream split at a and b (a <= b) into a pipe; return what came out. */
static char *demux_split(const char *stream, size_t len, size_t a, size_t b)
{
	struct svc_docker_demux dm;
	int p[2];
	char *out = svc_calloc(len + 1, 1);
	ssize_t n;
	size_t got = 0;

	memset(&dm, 0, sizeof(dm));
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream, a, p[1]), 0);
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream + a, b - a, p[1]), 0);
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream + b, len - b, p[1]), 0);
	ck_assert_int_eq(dm.header_len, 0);
	ck_assert_int_eq(dm.remaining, 0);
	close(p[1]);
	while ((n = read(p[0], out + got, len - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	return out;
}

START_TEST(test_docker_api__demux_splits)
{
	char stream[256];
	size_t len = 0, a, b;
	const char *want = "hello\nerror: disk full\nworld\n";

	len += frame(stream + len, 1, "hello\n");
	len += frame(stream + len, 2, "error: disk full\n");
	len += frame(stream + len, 1, "");
	len += frame(stream + len, 1, "world\n");
	for (a = 0; a <= len; a++) {
		for (b = a; b <= len; b++) {
			char *out = demux_split(stream, len, a, b);

			ck_assert_msg(strcmp(out, want) == 0, "split at %zu,%zu: '%s'", a, b, out);
			free(out);
		}
	}
}
END_TEST

START_TEST(test_docker_api__demux_byte_at_a_time)
{
	struct svc_docker_demux dm;
	char stream[70000], out[70000];
	char *payload = svc_calloc(66000, 1);
	size_t len = 0, i, got = 0;
	FILE *f = tmpfile();
	int fd;

	ck_assert_ptr_nonnull(f);
	fd = fileno(f);
	/* A payload longer than 16 bits of length. */
	memset(payload, 'x', 65999);
	len += frame(stream + len, 2, payload);
	len += frame(stream + len, 1, "end\n");
	memset(&dm, 0, sizeof(dm));
	for (i = 0; i < len; i++)
		ck_assert_int_eq(svc_docker_demux_feed(&dm, stream + i, 1, fd), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	for (ssize_t n; (n = read(fd, out + got, sizeof(out) - got)) > 0; )
		got += (size_t)n;
	ck_assert_uint_eq(got, 65999 + 4);
	ck_assert_int_eq(memcmp(out, payload, 65999), 0);
	ck_assert_int_eq(memcmp(out + 65999, "end\n", 4), 0);
	fclose(f);
	free(payload);
}
END_TEST

START_TEST(test_docker_api__demux_malformed)
{
	struct svc_docker_demux dm;
	char stream[64];
	size_t len;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(devnull, 0);
	len = frame(stream, 1, "ok\n");
	stream[len] = 9; /* no such stream */
	memset(stream + len + 1, 0, 7);
	memset(&dm, 0, sizeof(dm));
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream, len + 8, devnull), -1);

	frame(stream, 1, "ok\n");
	stream[2] = 1; /* the three padding bytes must be zero */
	memset(&dm, 0, sizeof(dm));
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream, 1, devnull), 0);
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream + 1, 10, devnull), -1);

	/* Plain text (a TTY container's raw stream) is not a frame header. */
	memset(&dm, 0, sizeof(dm));
	ck_assert_int_eq(svc_docker_demux_feed(&dm, "hello world\n", 12, devnull), -1);

	/* A write error. */
	len = frame(stream, 1, "ok\n");
	memset(&dm, 0, sizeof(dm));
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream, len, -1), 0); /* -1: dropped */
	memset(&dm, 0, sizeof(dm));
	close(devnull);
	ck_assert_int_eq(svc_docker_demux_feed(&dm, stream, len, devnull), -1);
}
END_TEST

/* ---- open without an engine ---- */

START_TEST(test_docker_api__open_missing_socket)
{
	struct svc_docker *d = (struct svc_docker *)&d;
	struct svc_error err;
	char *host = svc_strfmt("unix:///tmp/svc-check-docker-none-%ld/docker.sock",
				(long)getpid());
	char *want = svc_strfmt("cannot reach the Docker engine at %s: ", host);

	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_open(&d, host, &err), SVC_EUNAVAIL);
	ck_assert_ptr_null(d);
	ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
	ck_assert_msg(strstr(err.message, "No such file or directory"), "%s", err.message);

	/* DOCKER_HOST when no host is given */
	setenv("DOCKER_HOST", host, 1);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_open(&d, NULL, &err), SVC_EUNAVAIL);
	ck_assert_msg(strncmp(err.message, want, strlen(want)) == 0, "%s", err.message);
	unsetenv("DOCKER_HOST");

	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_open(&d, "ssh://me@host", &err), SVC_EGENERIC);
	ck_assert_ptr_null(d);
	ck_assert_ptr_nonnull(strstr(err.message, "'ssh://me@host'"));

	/* Nobody listens on port 1 of the loopback. */
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_open(&d, "tcp://127.0.0.1:1", &err), SVC_EUNAVAIL);
	ck_assert_msg(strstr(err.message, "cannot reach the Docker engine at "
			     "tcp://127.0.0.1:1: "), "%s", err.message);
	free(want);
	free(host);
}
END_TEST

START_TEST(test_docker_api__open_tls_missing_certs)
{
	struct svc_docker *d = NULL;
	struct svc_error err;

	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", "/nonexistent-svcctl-certs", 1);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_open(&d, "tcp://127.0.0.1:1", &err), SVC_EGENERIC);
	ck_assert_ptr_null(d);
	ck_assert_str_eq(err.message, "DOCKER_TLS_VERIFY is set but "
			 "'/nonexistent-svcctl-certs/ca.pem' cannot be read: "
			 "No such file or directory");
	unsetenv("DOCKER_TLS_VERIFY");
	unsetenv("DOCKER_CERT_PATH");
}
END_TEST

/* ---- against a real engine ---- */

static char run_id[32];        /* the runner's pid: labels, names, tags */
static char image_tag[64];     /* svcctl-test-<run>:latest */
static char work[PATH_MAX];    /* temp folder for tars and output */

static const char *engine_host(void)
{
	const char *h = getenv("SVCCTL_TEST_DOCKER_HOST");

	return h && h[0] ? h : NULL;
}

#define NEED_ENGINE()                                                               \
	do {                                                                        \
		if (!engine_host()) {                                               \
			const char *ci = getenv("CI");                              \
			/* in CI an engine is always there: never skip */          \
			ck_assert_msg(!ci || strcmp(ci, "true"),                    \
				      "CI=true but SVCCTL_TEST_DOCKER_HOST is unset");  \
			fprintf(stderr, "# SVCCTL_TEST_DOCKER_HOST unset: %s skipped\n", \
				__func__);                                          \
			return;                                                     \
		}                                                                   \
	} while (0)

static struct svc_docker *engine_open(void)
{
	struct svc_docker *d = NULL;
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_msg(svc_docker_open(&d, engine_host(), &err) == 0, "%s", err.message);
	return d;
}

/* Append one regular file to a ustar archive. */
static void tar_add(FILE *f, const char *name, const char *data)
{
	unsigned char h[512];
	static const char zeros[512];
	size_t len = strlen(data), i;
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	ck_assert(strlen(name) < 100);
	memcpy(h, name, strlen(name));
	memcpy(h + 100, "0000644", 8);              /* mode */
	memcpy(h + 108, "0000000", 8);              /* uid */
	memcpy(h + 116, "0000000", 8);              /* gid */
	ck_assert(len <= 077777777777ULL);           /* fits 11 octal digits */
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)len & 077777777777ULL); /* size */
	memcpy(h + 136, "00000000000", 12);         /* mtime */
	memset(h + 148, ' ', 8);                    /* checksum, counted as spaces */
	h[156] = '0';                               /* regular file */
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	ck_assert_uint_eq(fwrite(h, 1, sizeof(h), f), sizeof(h));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	if (len % 512)
		ck_assert_uint_eq(fwrite(zeros, 1, 512 - len % 512, f), 512 - len % 512);
}

/* A build context: Dockerfile plus hello.txt. Caller frees the path. */
static char *make_context(const char *dockerfile)
{
	static const char zeros[1024];
	static int n;
	char *path = svc_strfmt("%s/context-%d.tar", work, n++);
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	tar_add(f, "Dockerfile", dockerfile);
	tar_add(f, "hello.txt", "hello from svcctl's tests\n");
	ck_assert_uint_eq(fwrite(zeros, 1, sizeof(zeros), f), sizeof(zeros));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static const char *const good_dockerfile =
	"FROM scratch\n"
	"COPY hello.txt /hello.txt\n"
	"LABEL svcctl.test.run=run\n"
	"CMD [\"/nothing\"]\n";

static void build_image(struct svc_docker *d, int progress_fd)
{
	struct svc_error err;
	char *tar = make_context(good_dockerfile);

	svc_error_clear(&err);
	ck_assert_msg(svc_docker_image_build(d, tar, image_tag, NULL, NULL, 0, progress_fd, &err) == 0,
		      "%s", err.message);
	free(tar);
}

static void ensure_image(struct svc_docker *d)
{
	struct svc_error err;
	bool exists = false;

	svc_error_clear(&err);
	ck_assert_msg(svc_docker_image_exists(d, image_tag, &exists, &err) == 0,
		      "%s", err.message);
	if (!exists)
		build_image(d, -1);
}

/* The create spec for a container of this run's image, never started. */
static json_t *test_spec(const char *image, const char *service)
{
	json_t *spec = json_pack("{s:s, s:[s], s:{s:s, s:s}, s:b, s:b}",
				 "Image", image, "Cmd", "/nothing",
				 "Labels", "svcctl.test.run", run_id, "svcctl.service", service,
				 "Tty", 0, "AttachStdout", 0);

	ck_assert_ptr_nonnull(spec);
	return spec;
}

static void setup_engine(void)
{
	snprintf(run_id, sizeof(run_id), "%ld", (long)getpid());
	snprintf(image_tag, sizeof(image_tag), "svcctl-test-%s:latest", run_id);
	snprintf(work, sizeof(work), "/tmp/svc-check-docker-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(work));
}

/* Runs in the parent after every test, failed or not: remove what is left. */
static void teardown_engine(void)
{
	struct svc_docker *d = NULL;
	struct svc_error err;
	json_t *list = NULL, *item, *res = NULL;
	char *label = svc_strfmt("svcctl.test.run=%s", run_id);
	char *path = NULL;
	size_t i;
	long status = 0;

	svc_rm_rf(work);
	if (!engine_host())
		goto done;
	svc_error_clear(&err);
	if (svc_docker_open(&d, engine_host(), &err)) {
		fprintf(stderr, "# teardown: %s\n", err.message);
		goto done;
	}
	if (svc_docker_container_list(d, label, &list, &err) == 0) {
		json_array_foreach(list, i, item) {
			const char *id = json_string_value(json_object_get(item, "Id"));

			fprintf(stderr, "# teardown: removing leftover container %.12s\n", id);
			svc_error_clear(&err);
			if (svc_docker_container_remove(d, id, &err))
				fprintf(stderr, "# teardown: %s\n", err.message);
		}
	}
	path = svc_strfmt("/images/%s?force=1", image_tag);
	svc_error_clear(&err);
	if (svc_docker_request(d, "DELETE", path, NULL, &status, &res, &err) && status != 404)
		fprintf(stderr, "# teardown: %s\n", err.message);
	/* images labelled with the run (the push test's, with their registry tags) */
	json_decref(list);
	list = NULL;
	free(path);
	path = svc_strfmt("/images/json?filters=%%7B%%22label%%22%%3A%%5B%%22svcctl.test.run%%3D%s"
			  "%%22%%5D%%7D", run_id);
	svc_error_clear(&err);
	if (svc_docker_request(d, "GET", path, NULL, &status, &list, &err) == 0) {
		json_array_foreach(list, i, item) {
			char *del = svc_strfmt("/images/%s?force=1",
					       json_string_value(json_object_get(item, "Id")));
			json_t *r = NULL;

			svc_error_clear(&err);
			if (svc_docker_request(d, "DELETE", del, NULL, &status, &r, &err))
				fprintf(stderr, "# teardown: %s\n", err.message);
			json_decref(r);
			free(del);
		}
	}
done:
	json_decref(res);
	json_decref(list);
	svc_docker_free(d);
	free(path);
	free(label);
}

/* "1.41" -> 1041 */
static long vnum(const char *v)
{
	long major = 0, minor = 0;

	ck_assert_int_eq(sscanf(v, "%ld.%ld", &major, &minor), 2);
	return major * 1000 + minor;
}

START_TEST(test_docker_api__engine_open)
{
	struct svc_docker *d;
	struct svc_error err;
	json_t *version = NULL;
	const char *api;
	long status = 0, want;

	NEED_ENGINE();
	d = engine_open();
	ck_assert_str_eq(svc_docker_endpoint(d), engine_host());
	svc_error_clear(&err);
	ck_assert_msg(svc_docker_request(d, "GET", "/version", NULL, &status, &version,
					 &err) == 0, "%s", err.message);
	ck_assert_int_eq(status, 200);
	api = json_string_value(json_object_get(version, "ApiVersion"));
	ck_assert_ptr_nonnull(api);
	want = vnum(api) < vnum(SVC_DOCKER_API_MAX) ? vnum(api) : vnum(SVC_DOCKER_API_MAX);
	ck_assert_int_eq(vnum(svc_docker_api_version(d)), want);
	if (strcmp(api, "1.41") == 0) /* Engine 20.10, as on the development machine */
		ck_assert_str_eq(svc_docker_api_version(d), "1.41");

	json_decref(version);
	version = NULL;

	/* An unknown path: the engine's 404 */
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_request(d, "GET", "/containers/svcctl-test-none-at-all/json",
					    NULL, &status, &version, &err), SVC_ENOTFOUND);
	ck_assert_int_eq(status, 404);
	ck_assert_ptr_null(version);
	ck_assert_msg(strstr(err.message, "No such container: svcctl-test-none-at-all"),
		      "%s", err.message);
	svc_docker_free(d);
}
END_TEST

START_TEST(test_docker_api__engine_build)
{
	struct svc_docker *d;
	struct svc_error err;
	char *out_path, *text = NULL, *missing;
	bool exists = true;
	int fd;

	NEED_ENGINE();
	d = engine_open();
	out_path = svc_strfmt("%s/progress", work);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	build_image(d, fd);
	close(fd);
	ck_assert_int_eq(svc_file_read(&text, NULL, out_path, 1 << 20, NULL), 0);
	ck_assert_msg(strstr(text, "COPY hello.txt /hello.txt"), "%s", text);
	ck_assert_msg(strstr(text, "Successfully tagged svcctl-test-"), "%s", text);

	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_image_exists(d, image_tag, &exists, &err), 0);
	ck_assert(exists);
	missing = svc_strfmt("svcctl-test-%s-missing:nope", run_id);
	ck_assert_int_eq(svc_docker_image_exists(d, missing, &exists, &err), 0);
	ck_assert(!exists);
	ck_assert_int_eq(err.code, 0);
	free(missing);
	free(text);
	free(out_path);
	svc_docker_free(d);
}
END_TEST

START_TEST(test_docker_api__engine_build_fails)
{
	struct svc_docker *d;
	struct svc_error err;
	char *tar, *tag;

	NEED_ENGINE();
	d = engine_open();
	tar = make_context("FROM scratch\nCOPY not-in-the-context.txt /x\n");
	tag = svc_strfmt("svcctl-test-%s-broken:latest", run_id);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_image_build(d, tar, tag, NULL, NULL, 0, -1, &err), SVC_EGENERIC);
	ck_assert_msg(strncmp(err.message, "build image 'svcctl-test-", 25) == 0, "%s",
		      err.message);
	ck_assert_msg(strstr(err.message, "not-in-the-context.txt"), "%s", err.message);

	/* A Dockerfile name that is not in the context */
	svc_error_clear(&err);
	ck_assert_int_ne(svc_docker_image_build(d, tar, tag, "Nope.dockerfile", NULL, 0, -1, &err), 0);
	ck_assert_msg(strstr(err.message, "build image"), "%s", err.message);

	/* A context that does not exist */
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_image_build(d, "/nonexistent/ctx.tar", tag, NULL, NULL, 0, -1, &err),
			 SVC_ENOTFOUND);
	ck_assert_msg(strstr(err.message, "'/nonexistent/ctx.tar'"), "%s", err.message);
	free(tag);
	free(tar);
	svc_docker_free(d);
}
END_TEST

START_TEST(test_docker_api__engine_container_lifecycle)
{
	struct svc_docker *d;
	struct svc_error err;
	char *name, *service, *label, *id = NULL, *id2 = NULL, *out_path, *text = NULL;
	json_t *spec, *info = NULL, *list = NULL;
	const char *got;
	int fd;

	NEED_ENGINE();
	d = engine_open();
	ensure_image(d);
	name = svc_strfmt("svcctl-test-%s-a", run_id);
	service = svc_strfmt("t%s", run_id);
	label = svc_strfmt("svcctl.service=%s", service);
	spec = test_spec(image_tag, service);

	svc_error_clear(&err);
	ck_assert_msg(svc_docker_container_create(d, name, spec, &id, &err) == 0, "%s",
		      err.message);
	ck_assert_uint_eq(strlen(id), 64);

	/* The name is taken. */
	ck_assert_int_eq(svc_docker_container_create(d, name, spec, &id2, &err), SVC_EGENERIC);
	ck_assert_ptr_null(id2);
	ck_assert_msg(strstr(err.message, "is already in use"), "%s", err.message);
	ck_assert_msg(strncmp(err.message, "create container 'svcctl-test-", 30) == 0, "%s",
		      err.message);

	svc_error_clear(&err);
	ck_assert_msg(svc_docker_container_inspect(d, name, &info, &err) == 0, "%s", err.message);
	ck_assert_str_eq(json_string_value(json_object_get(info, "Id")), id);
	got = json_string_value(json_object_get(json_object_get(json_object_get(info, "Config"),
							       "Labels"), "svcctl.service"));
	ck_assert_str_eq(got, service);
	ck_assert(!json_is_true(json_object_get(json_object_get(info, "State"), "Running")));

	ck_assert_msg(svc_docker_container_list(d, label, &list, &err) == 0, "%s", err.message);
	ck_assert_int_eq(json_array_size(list), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "Id")), id);
	json_decref(list);
	list = NULL;

	/* Never started: no logs, and stopping it is not an error (304). */
	out_path = svc_strfmt("%s/logs", work);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(svc_docker_container_logs(d, id, false, fd, &err) == 0, "%s", err.message);
	close(fd);
	ck_assert_int_eq(svc_file_read(&text, NULL, out_path, 1 << 20, NULL), 0);
	ck_assert_str_eq(text, "");
	ck_assert_msg(svc_docker_container_stop(d, id, 1, &err) == 0, "%s", err.message);

	ck_assert_msg(svc_docker_container_remove(d, id, &err) == 0, "%s", err.message);
	/* Already gone: still fine. */
	ck_assert_msg(svc_docker_container_remove(d, id, &err) == 0, "%s", err.message);
	json_decref(info);
	info = NULL;
	ck_assert_int_eq(svc_docker_container_inspect(d, id, &info, &err), SVC_ENOTFOUND);
	ck_assert_ptr_null(info);
	svc_error_clear(&err);

	ck_assert_msg(svc_docker_container_list(d, label, &list, &err) == 0, "%s", err.message);
	ck_assert_int_eq(json_array_size(list), 0);
	ck_assert_int_eq(err.code, 0);

	json_decref(list);
	json_decref(spec);
	free(text);
	free(out_path);
	free(id);
	free(label);
	free(service);
	free(name);
	svc_docker_free(d);
}
END_TEST

START_TEST(test_docker_api__engine_gone_container)
{
	struct svc_docker *d;
	struct svc_error err;
	json_t *info = NULL;
	char *name;

	NEED_ENGINE();
	d = engine_open();
	name = svc_strfmt("svcctl-test-%s-never-created", run_id);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_container_inspect(d, name, &info, &err), SVC_ENOTFOUND);
	ck_assert_ptr_null(info);
	ck_assert_msg(strstr(err.message, "No such container"), "%s", err.message);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_container_logs(d, name, false, -1, &err), SVC_ENOTFOUND);
	ck_assert_msg(strncmp(err.message, "logs of container 'svcctl-test-", 31) == 0, "%s",
		      err.message);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_container_start(d, name, &err), SVC_ENOTFOUND);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_container_stop(d, name, 1, &err), SVC_ENOTFOUND);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_container_remove(d, name, &err), 0);
	free(name);
	svc_docker_free(d);
}
END_TEST

START_TEST(test_docker_api__engine_create_missing_image)
{
	struct svc_docker *d;
	struct svc_error err;
	json_t *spec;
	char *image, *name, *id = NULL;

	NEED_ENGINE();
	d = engine_open();
	image = svc_strfmt("svcctl-test-%s-missing:nope", run_id);
	name = svc_strfmt("svcctl-test-%s-b", run_id);
	spec = test_spec(image, "nope");
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_container_create(d, name, spec, &id, &err), SVC_ENOTFOUND);
	ck_assert_ptr_null(id);
	ck_assert_msg(strstr(err.message, "No such image: svcctl-test-"), "%s", err.message);
	json_decref(spec);
	free(name);
	free(image);
	svc_docker_free(d);
}
END_TEST

START_TEST(test_docker_api__engine_start_fails)
{
	struct svc_docker *d;
	struct svc_error err;
	json_t *spec;
	char *name, *id = NULL;

	NEED_ENGINE();
	d = engine_open();
	ensure_image(d);
	name = svc_strfmt("svcctl-test-%s-c", run_id);
	spec = test_spec(image_tag, "start-fails");
	svc_error_clear(&err);
	ck_assert_msg(svc_docker_container_create(d, name, spec, &id, &err) == 0, "%s",
		      err.message);
	/* The image has no /nothing to run. */
	ck_assert_int_ne(svc_docker_container_start(d, id, &err), 0);
	ck_assert_msg(strncmp(err.message, "start container '", 17) == 0, "%s", err.message);
	ck_assert_msg(strstr(err.message, "/nothing"), "%s", err.message);
	svc_error_clear(&err);
	ck_assert_msg(svc_docker_container_remove(d, id, &err) == 0, "%s", err.message);
	json_decref(spec);
	free(id);
	free(name);
	svc_docker_free(d);
}
END_TEST

/* ---- a registry of the test's own ---- */

#define REGISTRY_BIN "/usr/bin/docker-registry"

/*
 * docker-registry serving on 127.0.0.1 (a free port, *port), storage in
 * work; it gets SIGKILL when the test's process ends. Returns its pid.
 */
static pid_t registry_start(int *port)
{
	struct svc_error err;
	char *dir = svc_strfmt("%s/registry", work), *cfg = svc_strfmt("%s/config.yml", dir);
	char *log = svc_strfmt("%s/registry.log", dir), *text;
	pid_t pid;

	svc_error_clear(&err);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(svc_free_port(port, "127.0.0.1", &err) == 0, "%s", err.message);
	text = svc_strfmt("version: 0.1\nlog: {level: warn}\n"
			  "storage: {filesystem: {rootdirectory: %s/data}}\n"
			  "http: {addr: \"127.0.0.1:%d\"}\n", dir, *port);
	ck_assert_int_eq(svc_file_write_atomic(cfg, text, strlen(text), 0600, &err), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(REGISTRY_BIN, "docker-registry", "serve", cfg, (char *)NULL);
		_exit(127);
	}
	/* up when it accepts connections (10 s) */
	for (int i = 0; i < 100; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			break;
		ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "docker-registry exited; see %s", log);
		usleep(100000);
	}
	free(text);
	free(log);
	free(cfg);
	free(dir);
	return pid;
}

static void registry_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/*
 * Push an image to a registry and resolve its tag to the digest it was
 * pushed as; a moved tag resolves to the new digest; a tag the registry
 * does not have, a registry nobody serves, an image the engine does not
 * have: errors with the engine's (the registry's) words.
 */
START_TEST(test_docker_api__engine_push_resolve)
{
	struct svc_docker *d;
	struct svc_error err;
	char digest[SVC_DOCKER_DIGEST_LEN + 1], digest2[SVC_DOCKER_DIGEST_LEN + 1], got[SVC_DOCKER_DIGEST_LEN + 1];
	char *repo, *image, *df, *tar, *tag2, *out_path, *text = NULL, *closed;
	int port, free_port, fd;
	pid_t reg;

	NEED_ENGINE();
	if (access(REGISTRY_BIN, X_OK)) {
		const char *ci = getenv("CI");

		ck_assert_msg(!ci || strcmp(ci, "true"), "CI=true but %s is missing", REGISTRY_BIN);
		fprintf(stderr, "# %s missing: %s skipped\n", REGISTRY_BIN, __func__);
		return;
	}
	d = engine_open();
	reg = registry_start(&port);
	repo = svc_strfmt("127.0.0.1:%d/svcctl-test-%s/hello", port, run_id);
	image = svc_strfmt("%s:t1", repo);
	df = svc_strfmt("FROM scratch\nCOPY hello.txt /hello.txt\nLABEL svcctl.test.run=%s\n"
			"CMD [\"/nothing\"]\n", run_id);
	tar = make_context(df);
	svc_error_clear(&err);
	ck_assert_msg(svc_docker_image_build(d, tar, image_tag, NULL, NULL, 0, -1, &err) == 0,
		      "%s", err.message);
	ck_assert_msg(svc_docker_image_tag(d, image_tag, repo, "t1", &err) == 0, "%s", err.message);

	out_path = svc_strfmt("%s/push-progress", work);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(svc_docker_image_push(d, repo, "t1", 60, fd, digest, &err) == 0, "%s",
		      err.message);
	close(fd);
	ck_assert_msg(svc_docker_digest_valid(digest), "%s", digest);
	ck_assert_int_eq(svc_file_read(&text, NULL, out_path, 1 << 20, NULL), 0);
	ck_assert_msg(strstr(text, "The push refers to repository"), "%s", text);
	ck_assert_msg(strstr(text, digest), "%s", text);
	free(text);

	ck_assert_msg(svc_docker_image_resolve(d, image, got, &err) == 0, "%s", err.message);
	ck_assert_str_eq(got, digest);
	/* pushed again: the same digest */
	ck_assert_msg(svc_docker_image_push(d, repo, "t1", 60, -1, digest2, &err) == 0, "%s",
		      err.message);
	ck_assert_str_eq(digest2, digest);

	/* the tag moved to another image: it resolves to that one now */
	free(df);
	free(tar);
	df = svc_strfmt("FROM scratch\nCOPY hello.txt /other.txt\nLABEL svcctl.test.run=%s\n"
			"CMD [\"/nothing\"]\n", run_id);
	tar = make_context(df);
	tag2 = svc_strfmt("%s-moved:latest", image_tag);
	*strrchr(tag2, ':') = '\0';
	ck_assert_msg(svc_docker_image_build(d, tar, tag2, NULL, NULL, 0, -1, &err) == 0, "%s",
		      err.message);
	ck_assert_msg(svc_docker_image_tag(d, tag2, repo, "t1", &err) == 0, "%s", err.message);
	ck_assert_msg(svc_docker_image_push(d, repo, "t1", 60, -1, digest2, &err) == 0, "%s",
		      err.message);
	ck_assert_str_ne(digest2, digest);
	ck_assert_msg(svc_docker_image_resolve(d, image, got, &err) == 0, "%s", err.message);
	ck_assert_str_eq(got, digest2);

	/* a tag it does not have */
	free(image);
	image = svc_strfmt("%s:nope", repo);
	ck_assert_int_eq(svc_docker_image_resolve(d, image, got, &err), SVC_ENOTFOUND);
	ck_assert_msg(strstr(err.message, "resolve image '127.0.0.1:") &&
		      strstr(err.message, "manifest unknown"), "%s", err.message);
	ck_assert_str_eq(got, "");

	/* an image the engine does not have */
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_image_push(d, repo, "nope", 60, -1, got, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, "push image '127.0.0.1:") &&
		      strstr(err.message, "does not exist"), "%s", err.message);

	/* a registry nobody serves */
	registry_stop(reg);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_free_port(&free_port, "127.0.0.1", &err), 0);
	closed = svc_strfmt("127.0.0.1:%d/svcctl-test-%s/hello", free_port, run_id);
	ck_assert_msg(svc_docker_image_tag(d, image_tag, closed, "t1", &err) == 0, "%s", err.message);
	ck_assert_int_eq(svc_docker_image_push(d, closed, "t1", 60, -1, got, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, "connection refused"), "%s", err.message);
	free(image);
	image = svc_strfmt("%s:t1", closed);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_docker_image_resolve(d, image, got, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, "connection refused"), "%s", err.message);

	free(closed);
	free(out_path);
	free(tag2);
	free(tar);
	free(df);
	free(image);
	free(repo);
	svc_docker_free(d);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("docker_api");
	TCase *tc = tcase_create("core");
	TCase *te = tcase_create("engine");

	tcase_add_test(tc, test_docker_api__host_unix);
	tcase_add_test(tc, test_docker_api__host_tcp);
	tcase_add_test(tc, test_docker_api__host_bad);
	tcase_add_test(tc, test_docker_api__url);
	tcase_add_test(tc, test_docker_api__query_escape);
	tcase_add_test(tc, test_docker_api__build_path);
	tcase_add_test(tc, test_docker_api__image_refs);
	tcase_add_test(tc, test_docker_api__push_repo_check);
	tcase_add_test(tc, test_docker_api__push_path);
	tcase_add_test(tc, test_docker_api__progress_lines);
	tcase_add_test(tc, test_docker_api__container_env);
	tcase_add_test(tc, test_docker_api__swarm_service_spec);
	tcase_add_test(tc, test_docker_api__response_ok);
	tcase_add_test(tc, test_docker_api__response_empty);
	tcase_add_test(tc, test_docker_api__response_errors);
	tcase_add_test(tc, test_docker_api__response_bad_json);
	tcase_add_test(tc, test_docker_api__demux_splits);
	tcase_add_test(tc, test_docker_api__demux_byte_at_a_time);
	tcase_add_test(tc, test_docker_api__demux_malformed);
	tcase_add_test(tc, test_docker_api__open_missing_socket);
	tcase_add_test(tc, test_docker_api__open_tls_missing_certs);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(te, setup_engine, teardown_engine);
	tcase_add_test(te, test_docker_api__engine_open);
	tcase_add_test(te, test_docker_api__engine_build);
	tcase_add_test(te, test_docker_api__engine_build_fails);
	tcase_add_test(te, test_docker_api__engine_container_lifecycle);
	tcase_add_test(te, test_docker_api__engine_gone_container);
	tcase_add_test(te, test_docker_api__engine_create_missing_image);
	tcase_add_test(te, test_docker_api__engine_start_fails);
	tcase_add_test(te, test_docker_api__engine_push_resolve);
	tcase_set_timeout(te, 120);
	suite_add_tcase(s, te);
	return s;
}

#include "check_main.h"
