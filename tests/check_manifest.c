/*
 * check_manifest.c - unit tests of the manifest loader (manifest.c).
 *
 * Fixtures live in $TESTDATA (tests/data): good/ holds valid manifests,
 * bad/ one manifest per kind of error, each asserted below with its exact
 * file:line:col and message; equiv/ two spellings of one configuration;
 * the set_ folders for the checks across files. Other inputs (huge, deeply
 * nested, mutated) are built in memory.
 */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

/* $TESTDATA/rel; caller frees. */
static char *data_path(const char *rel)
{
	const char *dir = getenv("TESTDATA");

	ck_assert_msg(dir != NULL, "TESTDATA is not set");
	return svc_strfmt("%s/%s", dir, rel);
}

/* All diagnostics, one per line, for failure messages. Caller frees. */
static char *diags_text(const struct svc_diags *d)
{
	char *out = svc_strdup(""), buf[2048];

	for (size_t i = 0; i < d->count; i++) {
		char *next = svc_strfmt("%s  %s\n", out,
					svc_error_format(&d->items[i], buf, sizeof(buf)));
		free(out);
		out = next;
	}
	return out;
}

/* True when d has an error in a file whose name ends with file, at line:col,
 * whose message contains msg. */
static bool has_diag(const struct svc_diags *d, const char *file, int line, int col,
		     const char *msg)
{
	size_t flen = strlen(file);

	for (size_t i = 0; i < d->count; i++) {
		const struct svc_error *e = &d->items[i];
		size_t elen = strlen(e->file);

		if (elen >= flen && !strcmp(e->file + elen - flen, file) &&
		    e->line == line && e->column == col && strstr(e->message, msg))
			return true;
	}
	return false;
}

#define ASSERT_DIAG(d, file, line, col, msg)                                         \
	do {                                                                         \
		if (!has_diag((d), (file), (line), (col), (msg))) {                  \
			char *all_ = diags_text(d);                                  \
			ck_abort_msg("no error %s:%d:%d: %s; got:\n%s", (file), (line), \
				     (col), (msg), all_);                            \
			free(all_);                                                  \
		}                                                                    \
	} while (0)

/* Load a fixture that must be refused with (at least) the given error and,
 * when count > 0, exactly count errors in all. */
static void check_bad(const char *rel, int line, int col, const char *msg, size_t count)
{
	char *path = data_path(rel);
	struct svc_manifest *m = (struct svc_manifest *)1;
	struct svc_diags d;
	int rc;

	svc_diags_init(&d);
	rc = svc_manifest_load(&m, path, &d);
	ck_assert_int_eq(rc, SVC_EMANIFEST);
	ck_assert_ptr_null(m);
	ASSERT_DIAG(&d, rel, line, col, msg);
	if (count) {
		char *all = diags_text(&d);
		ck_assert_msg(d.count == count, "expected %zu errors, got:\n%s", count, all);
		free(all);
	}
	svc_diags_release(&d);
	free(path);
}

/* Load a fixture that must be valid. Caller frees. */
static struct svc_manifest *load_good(const char *rel)
{
	char *path = data_path(rel);
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	char *all;
	int rc;

	svc_diags_init(&d);
	rc = svc_manifest_load(&m, path, &d);
	all = diags_text(&d);
	ck_assert_msg(rc == 0 && d.count == 0, "%s: rc %d:\n%s", rel, rc, all);
	ck_assert_ptr_nonnull(m);
	free(all);
	svc_diags_release(&d);
	free(path);
	return m;
}

/* Load a manifest from memory (base folder /srv/m). */
static int load_text(struct svc_manifest **out, const char *text, struct svc_diags *d)
{
	return svc_manifest_load_buffer(out, text, strlen(text), "mem.yaml", "/srv/m", d);
}

/* ------------------------------------------------------------------ */
/* Every bad fixture with its position and message. */

#define BAD(name, file, line, col, msg, count)          \
	START_TEST(test_manifest__##name)               \
	{                                               \
		check_bad("bad/" file, line, col, msg, count); \
	}                                               \
	END_TEST

BAD(unknown_key, "unknown_key.yaml", 6, 3, "unknown key 'foo' in 'health'", 1)
BAD(unknown_top_key, "unknown_top.yaml", 3, 1, "unknown key 'servce'", 1)
BAD(wrong_type_mapping, "wrong_type_mapping.yaml", 3, 3,
    "replicas: expected an integer, got a mapping", 2)
BAD(wrong_type_scalar, "wrong_type_mapping.yaml", 5, 12,
    "run.command: expected a list, got './greeter'", 2)
BAD(quoted_int, "quoted_int.yaml", 2, 11, "replicas: expected an integer, got a quoted string", 1)
BAD(quoted_bool, "quoted_bool.yaml", 5, 8,
    "health.tcp: expected a boolean (true or false), got a quoted string", 1)
BAD(duplicate_key, "duplicate_key.yaml", 5, 1, "duplicate key 'replicas' (first at line 4)", 1)
BAD(missing_service, "missing_service.yaml", 2, 1, "missing required key 'service'", 1)
BAD(missing_command, "missing_command.yaml", 3, 3, "missing required key 'run.command'", 1)
BAD(missing_listen, "missing_listen.yaml", 4, 5, "missing required key 'ports[0].listen'", 1)
BAD(missing_image, "missing_image.yaml", 4, 3, "missing required key 'run.image'", 1)
BAD(missing_context, "missing_context.yaml", 4, 3, "missing required key 'build.context'", 1)
BAD(missing_dep_keys, "missing_dep_keys.yaml", 6, 7,
    "missing required key 'build.dependencies[0].into'", 2)
BAD(replicas_range, "replicas_range.yaml", 2, 11, "replicas: 101 is out of range 1-100", 1)
BAD(port_range, "port_range.yaml", 5, 13, "ports[0].target: 70000 is out of range 1-65535", 1)
BAD(listen_port_zero, "listen_port_zero.yaml", 4, 13,
    "ports[0].listen: invalid port in '127.0.0.1:0' (expected 1-65535)", 1)
BAD(bad_duration, "bad_duration.yaml", 4, 13,
    "health.interval: invalid duration '5x' (expected a number with ms, s, m or h)", 1)
BAD(duration_range, "duration_range.yaml", 4, 13, "health.interval: '5ms' is out of range 10ms-1h", 1)
BAD(bad_address, "bad_address.yaml", 4, 13,
    "ports[0].listen: invalid address 'localhost' (expected a numeric IPv4 or IPv6 address)", 1)
BAD(bad_status, "bad_status.yaml", 6, 18,
    "health.expect_status: invalid status range '399-200' (low end above high end)", 1)
BAD(anchor, "anchor.yaml", 3, 12, "anchors and aliases are not allowed", 1)
BAD(alias, "alias.yaml", 4, 24, "anchors and aliases are not allowed", 2)
BAD(tag, "tag.yaml", 2, 10, "tags are not allowed ('!!str')", 1)
BAD(top_list, "top_list.yaml", 1, 1, "top level must be a mapping, got a list", 1)
BAD(top_scalar, "top_scalar.yaml", 1, 1, "top level must be a mapping, got 'just a string'", 1)
BAD(empty_file, "empty.yaml", 1, 1, "empty manifest", 1)
BAD(comments_only, "comments_only.yaml", 1, 1, "empty manifest", 1)
BAD(binary, "binary.yaml", 3, 10, "control character U+007F in manifest (binary data?)", 1)
BAD(invalid_utf8, "invalid_utf8.yaml", 3, 13, "invalid UTF-8 (byte 0xe9)", 1)
BAD(deep_flow, "deep.yaml", 3, 39, "nesting deeper than 32 levels", 2)
BAD(deep_block, "deep_block.yaml", 36, 65, "nesting deeper than 32 levels", 2)
BAD(placeholder_unknown, "placeholder.yaml", 3, 32,
    "run.command[2]: unknown placeholder '${HOME}'", 2)
BAD(placeholder_unterminated, "placeholder.yaml", 6, 10,
    "run.env.BAD: unterminated placeholder '${PORT'", 2)
BAD(env_port, "env_port.yaml", 5, 5, "run.env.PORT: 'PORT' is set by svcctl", 2)
BAD(env_name, "env_port.yaml", 6, 5,
    "run.env: invalid variable name '1BAD' (expected [A-Za-z_][A-Za-z0-9_]*)", 2)
BAD(dup_env, "dup_env.yaml", 7, 5, "duplicate key 'run.env.A' (first at line 5)", 1)
BAD(build_env_name, "build_env.yaml", 5, 5,
    "build.env: invalid variable name '1BAD' (expected [A-Za-z_][A-Za-z0-9_]*)", 4)
BAD(build_env_reserved, "build_env.yaml", 7, 5,
    "build.env.SVCCTL_BUILD_DIR: 'SVCCTL_BUILD_DIR' is set by svcctl", 4)
BAD(build_env_dup, "build_env.yaml", 8, 5,
    "duplicate key 'build.env.CFLAGS' (first at line 6)", 4)
BAD(build_env_null, "build_env.yaml", 10, 16, "build.env.NULL_VALUE: expected a string, got null", 4)
BAD(build_env_type, "build_env_type.yaml", 4, 8, "build.env: expected a mapping, got a list", 1)
BAD(stop_signal, "stop_signal.yaml", 4, 16, "run.stop_signal: unknown signal 'SIGSTOP'", 1)
BAD(two_ports_process, "two_ports_process.yaml", 4, 3,
    "ports: the process runtime supports one port (found 2)", 1)
BAD(docker_no_target, "docker_no_target.yaml", 6, 13,
    "ports[0].target: required for the docker runtime", 1)
BAD(health_both, "health_both.yaml", 6, 3, "health: 'http' and 'tcp' cannot both be given", 1)
BAD(http_no_port, "http_no_port.yaml", 4, 3, "health.http: needs a port", 1)
BAD(preview_no_port, "preview_no_port.yaml", 4, 3, "rollout.preview: needs a port", 1)
BAD(preview_equals_listen_at_listen, "preview_equals_listen.yaml", 3, 18,
    "ports[0].listen: address '127.0.0.1:8080' is also used by rollout.preview (line 5)", 2)
BAD(preview_equals_listen_at_preview, "preview_equals_listen.yaml", 5, 12,
    "rollout.preview: address '127.0.0.1:8080' is also used by ports[0].listen (line 3)", 2)
BAD(expect_without_http, "expect_without_http.yaml", 5, 3,
    "health.expect_status: only allowed with 'health.http'", 1)
BAD(build_dockerfile_process, "build_dockerfile_process.yaml", 5, 3,
    "build.dockerfile: only for the docker and swarm runtimes (the process runtime runs the build's folder or build.artifact)", 1)
BAD(build_workdir, "build_workdir.yaml", 5, 3,
    "run.workdir: cannot be combined with build (instances run in the artifact's folder)", 1)
BAD(build_docker_no_dockerfile, "build_docker_no_dockerfile.yaml", 4, 3,
    "missing required key 'build.dockerfile' (runtime 'docker' builds an image)", 1)
BAD(build_docker_image_and_artifact, "build_docker_image_and_artifact.yaml", 6, 3,
    "build.artifact: only for the process runtime (runtime 'docker' builds an image from the build folder)", 2)
BAD(build_push_no_registry, "build_push_no_registry.yaml", 6, 3,
    "build.push: 'team/web' names no registry: its first part 'team' has no '.' and no ':PORT' "
    "and is not 'localhost' (so it would be Docker Hub's)", 1)
BAD(build_push_tag, "build_push_tag.yaml", 5, 3,
    "build.push: 'registry.example:5000/team/web:1.0' has a tag or digest: give the repository "
    "only (the image is pushed tagged with its artifact id)", 1)
BAD(build_push_path, "build_push_path.yaml", 3, 45,
    "build.push: repository path 'Team/web' of 'localhost:5000/Team/web': each part is "
    "lowercase letters and digits, with '.', '_', '__' or '-' only between them", 1)
BAD(swarm_listen_host, "swarm_listen_host.yaml", 5, 13,
    "ports[0].listen: on the swarm runtime it is a port on every node (svcctl's router runs "
    "on each): write ':8080' or '0.0.0.0:8080', not the host address '127.0.0.1'", 1)
BAD(swarm_preview_host, "swarm_preview_host.yaml", 6, 12,
    "rollout.preview: on the swarm runtime it is a port on every node: write ':9000' or "
    "'0.0.0.0:9000', not the host address '10.0.0.1'", 1)
BAD(listen_colon_port, "listen_colon_port.yaml", 4, 13,
    "ports[0].listen: invalid port in '0.0.0.0:99999' (expected 1-65535)", 1)
BAD(build_push_process, "build_push_process.yaml", 5, 3,
    "build.push: only for the docker and swarm runtimes (the process runtime builds a folder, "
    "not an image)", 1)
BAD(build_push_type, "build_push_type.yaml", 6, 9, "build.push: expected a string, got a list", 1)
BAD(build_artifact_abs, "build_artifact_abs.yaml", 3, 31,
    "build.artifact: '/usr/bin/greeter' must be a relative path", 1)
BAD(build_timeout, "build_timeout.yaml", 3, 30,
    "build.timeout: '500ms' is out of range 1s-24h", 1)
BAD(into_dotdot, "into_dotdot.yaml", 6, 46,
    "build.dependencies[0].into: 'vendor/../../etc' must not contain '..'", 1)
BAD(dup_dep_names, "dup_dep_names.yaml", 7, 8,
    "build.dependencies[1].name: duplicate dependency name 'a' (first at line 6)", 1)
BAD(dup_port_names, "dup_port_names.yaml", 6, 14,
    "ports[1].name: duplicate port name 'http' (first at line 5)", 2)
BAD(syntax_error, "syntax.yaml", 4, 6, "yaml syntax error: did not find expected ',' or ']'", 1)
BAD(tab_indent, "tab_indent.yaml", 3, 1, "yaml syntax error: a tab character here", 1)
BAD(two_documents, "two_documents.yaml", 3, 1, "only one document is allowed per manifest", 1)
BAD(null_value, "null_value.yaml", 1, 9, "service: expected a string, got null", 1)
BAD(empty_command, "empty_command.yaml", 3, 12, "run.command: must not be empty", 1)
BAD(bad_service_name, "bad_name.yaml", 1, 10, "service: invalid service name 'Greeter_1'", 1)
BAD(tcp_false, "tcp_false.yaml", 4, 15, "health.tcp: only 'true' is accepted", 1)
BAD(api_version, "bad_api.yaml", 4, 18, "api.provides[1]: invalid version 'v 2'", 3)
BAD(api_requires_name, "bad_api.yaml", 5, 14, "api.requires: invalid service name 'Accounts'", 3)
BAD(api_requires_empty, "bad_api.yaml", 5, 39, "api.requires.billing: must not be empty", 3)
BAD(key_not_string, "key_not_string.yaml", 3, 3, "keys must be strings, got a list", 1)
BAD(section_wrong_type, "build_wrong_type.yaml", 3, 8, "build: expected a mapping, got a list", 1)

/* One file, many errors: all are reported, in order. */
START_TEST(test_manifest__all_errors_reported)
{
	char *path = data_path("bad/many_errors.yaml");
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	const char *f = "bad/many_errors.yaml";

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load(&m, path, &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, f, 2, 11, "replicas: expected an integer, got 'zero'");
	ASSERT_DIAG(&d, f, 3, 10, "runtime: unknown runtime 'vm'");
	ASSERT_DIAG(&d, f, 6, 17, "run.stop_timeout: '2h' is out of range 0ms-1h");
	ASSERT_DIAG(&d, f, 7, 3, "unknown key 'bogus' in 'run'");
	ASSERT_DIAG(&d, f, 9, 13, "ports[0].listen: invalid address '300.1.1.1'");
	ASSERT_DIAG(&d, f, 11, 13, "health.interval: invalid duration '5x'");
	ASSERT_DIAG(&d, f, 12, 22, "health.healthy_threshold: 0 is out of range 1-100");
	ASSERT_DIAG(&d, f, 14, 12, "rollout.promote: unknown value 'sometimes'");
	ck_assert_int_eq(d.count, 8);
	for (size_t i = 1; i < d.count; i++)
		ck_assert(d.items[i - 1].line <= d.items[i].line);
	svc_diags_release(&d);
	free(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Good manifests */

START_TEST(test_manifest__greeter_example)
{
	const char *top = getenv("TOP_SRCDIR");
	char *path, *want_workdir;
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	char real_top[PATH_MAX];

	ck_assert_ptr_nonnull(top);
	ck_assert_ptr_nonnull(realpath(top, real_top));
	path = svc_strfmt("%s/manifests/greeter.yaml", top);
	want_workdir = svc_strfmt("%s/examples/greeter", real_top);
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load(&m, path, &d), 0);
	ck_assert_int_eq(d.count, 0);
	ck_assert_str_eq(m->service, "greeter");
	ck_assert_int_eq(m->runtime, SVC_RUNTIME_PROCESS);
	ck_assert_int_eq(m->replicas, 2);
	ck_assert_str_eq(m->version, "1.0.0");
	ck_assert_str_eq(m->run.workdir, want_workdir);
	ck_assert_int_eq(svc_strv_len(m->run.command), 3);
	ck_assert_str_eq(m->run.command[0], "./greeter");
	ck_assert_str_eq(m->run.command[2], "${PORT}");
	ck_assert_int_eq(m->run.nenv, 3);
	ck_assert_str_eq(m->run.env[0].key, "GREETING");
	ck_assert_str_eq(m->run.env[1].key, "INSTANCE");
	ck_assert_str_eq(m->run.env[2].key, "VERSION");
	ck_assert_str_eq(m->run.env[2].value, "${VERSION}");
	ck_assert_int_eq(m->nports, 1);
	ck_assert_str_eq(m->ports[0].name, "http");
	ck_assert_str_eq(m->ports[0].listen.text, "127.0.0.1:8080");
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_HTTP);
	ck_assert_str_eq(m->health.http_path, "/health");
	ck_assert_int_eq(m->health.interval_ms, 200);
	ck_assert_int_eq(m->health.timeout_ms, 1000);
	ck_assert_int_eq(m->health.start_timeout_ms, 20000);
	ck_assert(!m->rollout.manual);
	ck_assert(m->rollout.has_preview);
	ck_assert_str_eq(m->rollout.preview.text, "127.0.0.1:18080");
	ck_assert_int_eq(m->rollout.drain_timeout_ms, 10000);
	ck_assert_int_eq(m->rollout.keep_previous_ms, 600000);
	ck_assert_int_eq(m->rollout.bake_ms, 2000);
	ck_assert_str_eq(m->api.provides[0], "v1");
	ck_assert_ptr_null(m->api.provides[1]);
	svc_manifest_free(m);
	svc_diags_release(&d);
	free(want_workdir);
	free(path);
}
END_TEST

START_TEST(test_manifest__defaults)
{
	struct svc_manifest *m = load_good("good/minimal.yaml");

	ck_assert_str_eq(m->service, "minimal");
	ck_assert_int_eq(m->runtime, SVC_RUNTIME_PROCESS);
	ck_assert_int_eq(m->replicas, 1);
	ck_assert_ptr_null(m->version);
	ck_assert(!m->build.present);
	ck_assert_str_eq(m->run.workdir, m->dir);
	ck_assert_int_eq(m->dir[0], '/');
	ck_assert_ptr_null(m->run.image);
	ck_assert_int_eq(m->run.nenv, 0);
	ck_assert_int_eq(m->run.stop_signal, SIGTERM);
	ck_assert_str_eq(m->run.stop_signal_name, "TERM");
	ck_assert_int_eq(m->run.stop_timeout_ms, 10000);
	ck_assert_int_eq(m->nports, 0);
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_RUNNING);
	ck_assert_ptr_null(m->health.http_path);
	ck_assert_int_eq(m->health.status_lo, 200);
	ck_assert_int_eq(m->health.status_hi, 399);
	ck_assert_int_eq(m->health.interval_ms, 1000);
	ck_assert_int_eq(m->health.timeout_ms, 1000);
	ck_assert_int_eq(m->health.healthy_threshold, 2);
	ck_assert_int_eq(m->health.unhealthy_threshold, 3);
	ck_assert_int_eq(m->health.start_timeout_ms, 60000);
	ck_assert(!m->rollout.manual);
	ck_assert(!m->rollout.has_preview);
	ck_assert_int_eq(m->rollout.drain_timeout_ms, 30000);
	ck_assert_int_eq(m->rollout.keep_previous_ms, 600000);
	ck_assert_int_eq(m->rollout.bake_ms, 0);
	ck_assert_ptr_null(m->api.provides);
	ck_assert_int_eq(m->api.nrequires, 0);
	ck_assert_int_eq(m->service_pos.line, 1);
	ck_assert_int_eq(m->service_pos.column, 10);
	ck_assert_int_eq(m->preview_pos.line, 0);
	svc_manifest_free(m);
}
END_TEST

START_TEST(test_manifest__docker_defaults_tcp_health)
{
	struct svc_manifest *m = load_good("good/docker.yaml");

	ck_assert_int_eq(m->runtime, SVC_RUNTIME_DOCKER);
	ck_assert_str_eq(m->run.image, "accounts:1.4.0");
	ck_assert_ptr_null(m->run.command);
	ck_assert_int_eq(m->nports, 1);
	ck_assert_str_eq(m->ports[0].name, "http");
	ck_assert_int_eq(m->ports[0].target, 8080);
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_TCP);
	ck_assert_str_eq(svc_runtime_kind_name(m->runtime), "docker");
	svc_manifest_free(m);
	m = load_good("good/swarm-build.yml");
	ck_assert_int_eq(m->runtime, SVC_RUNTIME_SWARM);
	ck_assert_int_eq(m->replicas, 100);
	ck_assert(m->build.present);
	ck_assert_str_eq(m->build.context, m->dir);
	ck_assert_str_eq(m->build.dockerfile, "Dockerfile");
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_TCP);
	svc_manifest_free(m);
	ck_assert_str_eq(svc_runtime_kind_name(SVC_RUNTIME_PROCESS), "process");
	ck_assert_str_eq(svc_runtime_kind_name(SVC_RUNTIME_SWARM), "swarm");
}
END_TEST

START_TEST(test_manifest__full)
{
	struct svc_manifest *m = load_good("good/full.yaml");
	char real[PATH_MAX], *want;
	const char *data = getenv("TESTDATA");

	ck_assert_ptr_nonnull(realpath(data, real));
	/* real is <top>/tests/data: the context is <top>/examples/greeter */
	*strrchr(real, '/') = '\0';
	*strrchr(real, '/') = '\0';
	want = svc_strfmt("%s/examples/greeter", real);
	ck_assert_str_eq(m->build.context, want);
	free(want);
	ck_assert_str_eq(m->service, "billing");
	ck_assert_int_eq(m->replicas, 3);
	ck_assert_str_eq(m->version, "2");
	ck_assert_str_eq(m->build.command[1], "greeter");
	ck_assert_str_eq(m->build.artifact, "greeter");
	ck_assert_int_eq(m->build.timeout_ms, 20 * 60 * 1000);
	ck_assert_int_eq(m->build.ndeps, 2);
	ck_assert_str_eq(m->build.deps[0].git, "../deps/libgreet.git");
	ck_assert_str_eq(m->build.deps[1].into, "vendor/fmt");
	/* build.env: sorted, values as written (no placeholders) */
	ck_assert_int_eq(m->build.nenv, 2);
	ck_assert_str_eq(m->build.env[0].key, "AS_WRITTEN");
	ck_assert_str_eq(m->build.env[0].value, "${PORT}$$");
	ck_assert_str_eq(m->build.env[1].key, "CFLAGS");
	ck_assert_str_eq(m->build.env[1].value, "-O2 -g");
	/* with a build, instances run in the artifact's folder: no workdir */
	ck_assert_str_eq(m->run.workdir, m->dir);
	ck_assert_str_eq(m->run.command[5], "$$literal");
	ck_assert_int_eq(m->run.nenv, 3);
	ck_assert_str_eq(m->run.env[0].key, "A_NUMBER");
	ck_assert_str_eq(m->run.env[0].value, "42");
	ck_assert_str_eq(m->run.env[1].key, "EMPTY");
	ck_assert_str_eq(m->run.env[1].value, "");
	ck_assert_str_eq(m->run.env[2].key, "ZED");
	ck_assert_int_eq(m->run.stop_signal, SIGINT);
	ck_assert_str_eq(m->run.stop_signal_name, "INT");
	ck_assert_int_eq(m->run.stop_timeout_ms, 1500);
	ck_assert_str_eq(m->ports[0].name, "api");
	ck_assert_str_eq(m->ports[0].listen.text, "[::1]:9090");
	ck_assert_int_eq(m->ports[0].target, 9091);
	ck_assert_int_eq(m->listen_pos[0].line, 30);
	ck_assert_int_eq(m->listen_pos[0].column, 13);
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_HTTP);
	ck_assert_str_eq(m->health.http_path, "/healthz");
	ck_assert_int_eq(m->health.status_lo, 200);
	ck_assert_int_eq(m->health.status_hi, 204);
	ck_assert_int_eq(m->health.interval_ms, 250);
	ck_assert_int_eq(m->health.timeout_ms, 2000);
	ck_assert_int_eq(m->health.healthy_threshold, 1);
	ck_assert_int_eq(m->health.unhealthy_threshold, 5);
	ck_assert_int_eq(m->health.start_timeout_ms, 120000);
	ck_assert(m->rollout.manual);
	ck_assert_str_eq(m->rollout.preview.text, "127.0.0.1:19090");
	ck_assert_int_eq(m->preview_pos.line, 42);
	ck_assert_int_eq(m->preview_pos.column, 12);
	ck_assert_int_eq(m->rollout.drain_timeout_ms, 0);
	ck_assert_int_eq(m->rollout.keep_previous_ms, 7 * 24 * 3600000LL);
	ck_assert_int_eq(m->rollout.bake_ms, 3600000);
	ck_assert_str_eq(m->api.provides[1], "v2.1");
	ck_assert_int_eq(m->api.nrequires, 2);
	ck_assert_str_eq(m->api.requires[0].service, "accounts");
	ck_assert_str_eq(m->api.requires[1].service, "greeter");
	ck_assert_str_eq(m->api.requires[1].versions[0], "v1");
	ck_assert_int_eq(m->api_requires_pos.line, 48);
	ck_assert_int_eq(m->service_pos.line, 2);
	svc_manifest_free(m);
}
END_TEST

START_TEST(test_manifest__memory_edge_cases)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	svc_diags_init(&d);
	/* a UTF-8 byte order mark is accepted */
	ck_assert_int_eq(load_text(&m, "\xef\xbb\xbfservice: bom\nrun: {command: [a]}\n", &d), 0);
	ck_assert_str_eq(m->service, "bom");
	svc_manifest_free(m);
	/* non-ASCII text is fine */
	ck_assert_int_eq(load_text(&m, "service: u\nrun: {command: [a], env: {G: \"h\xc3\xa9\"}}\n",
				   &d), 0);
	ck_assert_str_eq(m->run.env[0].value, "h\xc3\xa9");
	svc_manifest_free(m);
	ck_assert_int_eq(d.count, 0);
	/* a NUL through an escape */
	ck_assert_int_eq(load_text(&m, "service: \"a\\0b\"\nrun: {command: [a]}\n", &d),
			 SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 1, 10, "service: NUL characters are not allowed");
	/* an anchor on a key */
	ck_assert_int_eq(load_text(&m, "&k service: a\nrun: {command: [a]}\n", &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 1, 1, "anchors and aliases are not allowed");
	/* a merge key is just an unknown key (and its alias refused) */
	ck_assert_int_eq(load_text(&m, "service: a\nrun: {command: [a]}\n<<: *x\n", &d),
			 SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 3, 1, "unknown key '<<'");
	/* a NUL byte in the buffer itself */
	ck_assert_int_eq(svc_manifest_load_buffer(&m, "service: a\0", 11, "nul.yaml", "/", &d),
			 SVC_EMANIFEST);
	ASSERT_DIAG(&d, "nul.yaml", 1, 11, "NUL byte in manifest");
	/* truncated UTF-8 at the very end */
	ck_assert_int_eq(load_text(&m, "service: a\xc3", &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 1, 11, "invalid UTF-8 (byte 0xc3)");
	/* overlong encoding and a surrogate */
	ck_assert_int_eq(load_text(&m, "a: \xc0\xaf", &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 1, 4, "invalid UTF-8 (byte 0xc0)");
	ck_assert_int_eq(load_text(&m, "x\nab: \xed\xa0\x80", &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 2, 5, "invalid UTF-8 (byte 0xed)");
	/* integers: no hex, no floats, no huge numbers */
	ck_assert_int_eq(load_text(&m, "service: a\nreplicas: 0x10\nrun: {command: [a]}\n", &d),
			 SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 2, 11, "replicas: expected an integer, got '0x10'");
	ck_assert_int_eq(load_text(&m, "service: a\nreplicas: 99999999999999999999999\n"
				   "run: {command: [a]}\n", &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 2, 11, "replicas: 99999999999999999999999 is out of range 1-100");
	/* a list entry that is not a mapping: no cascade of port errors */
	ck_assert_int_eq(load_text(&m, "service: a\nruntime: docker\nrun: {image: x}\n"
				   "ports: [5, {listen: '127.0.0.1:1'}]\n", &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "mem.yaml", 4, 9, "ports[0]: expected a mapping, got '5'");
	ck_assert_int_eq(d.items[d.count - 1].line, 4);
	ck_assert_ptr_null(m);
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_manifest__file_too_large)
{
	char dir[] = "/tmp/check_manifest.XXXXXX";
	char *path, *buf;
	const char *head = "service: big\nrun: {command: [a]}\n";
	size_t n = 1024 * 1024;
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = svc_strfmt("%s/big.yaml", dir);
	buf = svc_calloc(n + 2, 1);
	/* exactly 1 MiB: accepted */
	memset(buf, '\n', n);
	memcpy(buf, head, strlen(head));
	buf[strlen(head)] = '#';
	ck_assert_int_eq(svc_file_write_atomic(path, buf, n, 0600, NULL), 0);
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load(&m, path, &d), 0);
	svc_manifest_free(m);
	/* one byte more: refused, without parsing */
	ck_assert_int_eq(svc_file_write_atomic(path, buf, n + 1, 0600, NULL), 0);
	ck_assert_int_eq(svc_manifest_load(&m, path, &d), SVC_EMANIFEST);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(d.count, 1);
	ck_assert_int_eq(d.items[0].line, 0);
	ck_assert_ptr_nonnull(strstr(d.items[0].message, "file is larger than 1 MiB"));
	ck_assert_int_eq(svc_manifest_load_buffer(&m, buf, n + 1, "b.yaml", "/", &d),
			 SVC_EMANIFEST);
	ck_assert_int_eq(d.count, 2);
	svc_diags_release(&d);
	svc_rm_rf(dir);
	free(buf);
	free(path);
}
END_TEST

START_TEST(test_manifest__missing_file)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load(&m, "/nonexistent/m.yaml", &d), SVC_ENOTFOUND);
	ck_assert_ptr_null(m);
	ASSERT_DIAG(&d, "/nonexistent/m.yaml", 0, 0, "cannot read: No such file or directory");
	svc_diags_release(&d);
}
END_TEST

/* Nesting thousands deep: one error, no recursion, bounded memory. */
START_TEST(test_manifest__deep_nesting_in_memory)
{
	static const char *const opens[] = { "[", "{a: ", "- " };
	size_t depth = 200000;

	for (size_t k = 0; k < sizeof(opens) / sizeof(opens[0]); k++) {
		size_t olen = strlen(opens[k]);
		char *buf = svc_calloc(depth * olen + 16, 1);
		struct svc_manifest *m = NULL;
		struct svc_diags d;

		for (size_t i = 0; i < depth; i++)
			memcpy(buf + i * olen, opens[k], olen);
		svc_diags_init(&d);
		ck_assert_int_eq(svc_manifest_load_buffer(&m, buf, strlen(buf), "deep.yaml", "/", &d),
				 SVC_EMANIFEST);
		ck_assert_ptr_null(m);
		ck_assert_msg(has_diag(&d, "deep.yaml", 1, (int)(32 * olen + 1),
				       "nesting deeper than 32 levels"),
			      "%s", opens[k]);
		ck_assert_int_le(d.count, 2);
		svc_diags_release(&d);
		free(buf);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Placeholders */

START_TEST(test_manifest__expand)
{
	struct svc_expand_vars v = { "8080", "1.2.3", "greeter", "2" };
	struct svc_expand_vars none = { NULL, NULL, NULL, NULL };
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "${PORT}", "8080" },
		{ "--port=${PORT}", "--port=8080" },
		{ "${SERVICE}-${INSTANCE}@${VERSION}", "greeter-2@1.2.3" },
		{ "a$$b", "a$b" },
		{ "$${PORT}", "${PORT}" },
		{ "$HOME", "$HOME" },
		{ "x$", "x$" },
		{ "", "" },
		{ "no placeholders", "no placeholders" },
	};
	static const char *const bad[] = { "${FOO}", "${PORT", "a${}", "${port}", "${ PORT}" };
	char *s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = svc_manifest_expand(cases[i].in, &v);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(s, cases[i].out);
		free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(svc_manifest_expand(bad[i], &v) == NULL, "%s", bad[i]);
	s = svc_manifest_expand("[${PORT}${VERSION}]", &none);
	ck_assert_str_eq(s, "[]");
	free(s);
	s = svc_manifest_expand("${INSTANCE}", NULL);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_ptr_null(svc_manifest_expand(NULL, &v));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Canonical JSON and release ids */

START_TEST(test_manifest__json)
{
	struct svc_manifest *m = load_good("good/full.yaml");
	json_t *j = svc_manifest_to_json(m);

	ck_assert_ptr_null(json_object_get(j, "path"));
	ck_assert_str_eq(json_string_value(json_object_get(j, "dir")), m->dir);
	ck_assert_str_eq(json_string_value(json_object_get(j, "runtime")), "process");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "replicas")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "run"), "workdir")),
			 m->run.workdir);
	ck_assert_str_eq(json_string_value(json_object_get(
		json_object_get(json_object_get(j, "run"), "env"), "A_NUMBER")), "42");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "health"),
							    "interval_ms")), 250);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "health"),
							   "expect_status")), "200-204");
	ck_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "ports"), 0), "listen")), "[::1]:9090");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "rollout"),
							    "keep_previous_ms")),
			 7 * 24 * 3600000LL);
	ck_assert_int_eq(json_array_size(json_object_get(json_object_get(j, "build"),
							 "dependencies")), 2);
	json_decref(j);
	svc_manifest_free(m);
}
END_TEST

START_TEST(test_manifest__release_id_ignores_formatting)
{
	struct svc_manifest *a = load_good("equiv/a.yaml"), *b = load_good("equiv/b.yaml");
	char ida[65], idb[65];
	json_t *ja = svc_manifest_to_json(a), *jb = svc_manifest_to_json(b);

	ck_assert(json_equal(ja, jb));
	svc_manifest_release_id(a, ida);
	svc_manifest_release_id(b, idb);
	ck_assert_int_eq(strlen(ida), 64);
	ck_assert_str_eq(ida, idb);
	/* stable across calls */
	svc_manifest_release_id(a, idb);
	ck_assert_str_eq(ida, idb);
	json_decref(ja);
	json_decref(jb);
	svc_manifest_free(a);
	svc_manifest_free(b);
}
END_TEST

static const char release_base[] =
	"service: shop\n"
	"version: 1.0.0\n"
	"replicas: 2\n"
	"run:\n"
	"  command: [./shop, --port, \"${PORT}\"]\n"
	"  env: {GREETING: hello}\n"
	"  stop_signal: TERM\n"
	"ports:\n"
	"  - listen: 127.0.0.1:8080\n"
	"health:\n"
	"  http: /health\n"
	"  interval: 200ms\n"
	"rollout:\n"
	"  promote: auto\n"
	"  bake: 2s\n"
	"api:\n"
	"  provides: [v1]\n";

/* base with the first occurrence of from replaced by to; caller frees. */
static char *replace_once(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);

	ck_assert_msg(at != NULL, "'%s' not in base", from);
	return svc_strfmt("%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
}

START_TEST(test_manifest__release_id_changes_with_values)
{
	static const struct {
		const char *from, *to;
	} changes[] = {
		{ "service: shop", "service: shop2" },
		{ "version: 1.0.0", "version: 1.0.1" },
		{ "replicas: 2", "replicas: 3" },
		{ "--port", "--listen" },
		{ "  stop_signal", "  workdir: sub\n  stop_signal" },
		{ "hello", "hallo" },
		{ "GREETING", "GREETINGS" },
		{ "stop_signal: TERM", "stop_signal: INT" },
		{ "127.0.0.1:8080", "127.0.0.1:8081" },
		{ "  - listen", "  - target: 9000\n    listen" },
		{ "  - listen", "  - name: web\n    listen" },
		{ "/health", "/healthz" },
		{ "interval: 200ms", "interval: 201ms" },
		{ "promote: auto", "promote: manual" },
		{ "bake: 2s", "bake: 3s" },
		{ "[v1]", "[v1, v2]" },
		{ "api:\n", "api:\n  requires: {other: [v1]}\n" },
		{ "rollout:\n", "rollout:\n  preview: 127.0.0.1:9999\n" },
		{ "run:\n", "build: {context: .}\nrun:\n" },
	};
	struct svc_manifest *base = NULL, *m = NULL;
	struct svc_diags d;
	char idbase[65], id[65];

	svc_diags_init(&d);
	ck_assert_int_eq(load_text(&base, release_base, &d), 0);
	svc_manifest_release_id(base, idbase);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char *text = replace_once(release_base, changes[i].from, changes[i].to);
		char *all;
		int rc = load_text(&m, text, &d);

		all = diags_text(&d);
		ck_assert_msg(rc == 0, "%s:\n%s", changes[i].to, all);
		free(all);
		svc_manifest_release_id(m, id);
		ck_assert_msg(strcmp(id, idbase) != 0, "'%s' -> '%s' kept the id",
			      changes[i].from, changes[i].to);
		svc_manifest_free(m);
		free(text);
	}
	/* the same text in another folder is the same release (issue 10: a
	 * release is identified by content, not by where its files are) */
	ck_assert_int_eq(svc_manifest_load_buffer(&m, release_base, strlen(release_base),
						  "mem.yaml", "/srv/other", &d), 0);
	svc_manifest_release_id(m, id);
	ck_assert_str_eq(id, idbase);
	/* ... unless what is in the folder it runs in differs */
	memset(m->workdir_id, 'a', 64);
	m->workdir_id[64] = '\0';
	svc_manifest_release_id(m, id);
	ck_assert_str_ne(id, idbase);
	svc_manifest_free(m);
	/* the display path is not part of it */
	ck_assert_int_eq(svc_manifest_load_buffer(&m, release_base, strlen(release_base),
						  "elsewhere.yaml", "/srv/m/", &d), 0);
	svc_manifest_release_id(m, id);
	ck_assert_str_eq(id, idbase);
	svc_manifest_free(m);
	ck_assert_int_eq(d.count, 0);
	svc_manifest_free(base);
	svc_diags_release(&d);
}
END_TEST

/*
 * build.env is part of the release (and, in the builder, of the artifact
 * id); a manifest without it keeps the release id it always had (the
 * canonical JSON gets no build.env key), so existing releases stay what
 * they are.
 */
START_TEST(test_manifest__release_id_build_env)
{
	static const char text[] =
		"service: shop\n"
		"build:\n"
		"  context: src\n"
		"  command: [make]\n"
		"run:\n"
		"  command: [./shop]\n";
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	char *with, *other, *reordered;
	char id0[65], id[65], id2[65];
	json_t *j;

	svc_diags_init(&d);
	ck_assert_int_eq(load_text(&m, text, &d), 0);
	j = svc_manifest_to_json(m);
	ck_assert_ptr_null(json_object_get(json_object_get(j, "build"), "env"));
	json_decref(j);
	svc_manifest_release_id(m, id0);
	svc_manifest_free(m);
	/* the same build in another folder: the same release (context relative) */
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "x.yaml",
						  "/srv/elsewhere", &d), 0);
	svc_manifest_release_id(m, id);
	ck_assert_str_eq(id, id0);
	/* the id this manifest has had since release ids are identified by
	 * content (a change here changes every release id) */
	ck_assert_str_eq(id0, "474a6f9253c3724762100df63c3a999c03746c80a23f7a77502c11556febad87");
	svc_manifest_free(m);

	with = replace_once(text, "  command: [make]\n",
			    "  command: [make]\n  env: {CFLAGS: -O2, LANG: C}\n");
	other = replace_once(text, "  command: [make]\n",
			     "  command: [make]\n  env: {CFLAGS: -O3, LANG: C}\n");
	reordered = replace_once(text, "  command: [make]\n",
				 "  command: [make]\n  env:\n    LANG: C\n    CFLAGS: -O2\n");
	ck_assert_int_eq(load_text(&m, with, &d), 0);
	ck_assert_int_eq(m->build.nenv, 2);
	ck_assert_str_eq(m->build.env[0].key, "CFLAGS");   /* sorted by name */
	ck_assert_str_eq(m->build.env[0].value, "-O2");
	ck_assert_str_eq(m->build.env[1].key, "LANG");
	j = svc_manifest_to_json(m);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
		json_object_get(j, "build"), "env"), "CFLAGS")), "-O2");
	json_decref(j);
	svc_manifest_release_id(m, id);
	ck_assert_str_ne(id, id0);
	svc_manifest_free(m);
	ck_assert_int_eq(load_text(&m, other, &d), 0);
	svc_manifest_release_id(m, id2);
	ck_assert_str_ne(id2, id);
	svc_manifest_free(m);
	ck_assert_int_eq(load_text(&m, reordered, &d), 0);
	svc_manifest_release_id(m, id2);
	ck_assert_str_eq(id2, id);
	svc_manifest_free(m);
	ck_assert_int_eq(d.count, 0);
	svc_diags_release(&d);
	free(with);
	free(other);
	free(reordered);
}
END_TEST

/*
 * build.push: where the built image goes, part of the release (it
 * changes what the tasks run: the pushed image by digest) but only when
 * given, so that ids of manifests without it stay; the digest a release
 * runs is not part of its id, nor is a pin from a stored release.
 */
START_TEST(test_manifest__build_push)
{
	struct svc_manifest *m = load_good("good/swarm-push.yml"), *plain;
	char id[65], id_plain[65], id2[65], *text;
	char image[] = "shop:0123456789ab";
	struct svc_artifact_ref art = { .image = image };
	json_t *j;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_str_eq(m->build.push, "10.78.1.253:5000/team/shop");
	j = svc_manifest_to_json(m);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "build"), "push")),
			 "10.78.1.253:5000/team/shop");
	json_decref(j);
	svc_manifest_release_id(m, id);
	plain = load_good("good/swarm-build.yml");
	j = svc_manifest_to_json(plain);
	ck_assert_ptr_null(json_object_get(json_object_get(j, "build"), "push"));
	json_decref(j);
	svc_manifest_free(plain);

	/* the same manifest without build.push, and with another repository */
	text = svc_strdup("service: shop\nruntime: swarm\nreplicas: 3\nbuild:\n  context: .\n"
			  "  dockerfile: Dockerfile\n"
			  "ports: [{listen: \"0.0.0.0:8083\", target: 8082}]\nhealth: {tcp: true}\n");
	ck_assert_int_eq(load_text(&plain, text, &d), 0);
	svc_manifest_release_id(plain, id_plain);
	ck_assert_str_ne(id, id_plain);
	svc_manifest_free(plain);
	free(text);
	text = svc_strdup("service: shop\nruntime: swarm\nreplicas: 3\nbuild:\n  context: .\n"
			  "  dockerfile: Dockerfile\n  push: 10.78.1.253:5000/team/shop2\n"
			  "ports: [{listen: \"0.0.0.0:8083\", target: 8082}]\nhealth: {tcp: true}\n");
	ck_assert_int_eq(load_text(&plain, text, &d), 0);
	svc_manifest_release_id(plain, id2);
	ck_assert_str_ne(id, id2);
	svc_manifest_free(plain);
	free(text);

	/* built and pushed: the tasks run the pushed image by digest, and
	 * neither that digest nor a pin changes the release id */
	memset(art.id, 'c', 64);
	art.id[64] = '\0';
	svc_manifest_set_artifact(m, &art);
	svc_manifest_release_id(m, id);
	ck_assert_str_eq(svc_manifest_image(m), "shop:0123456789ab");
	ck_assert_ptr_null(svc_manifest_pinned(m));
	m->artifact->pushed = svc_strdup("10.78.1.253:5000/team/shop@sha256:"
					 "0000000000000000000000000000000000000000000000000000000000000000");
	ck_assert_str_eq(svc_manifest_image(m), m->artifact->pushed);
	ck_assert_str_eq(svc_manifest_pinned(m), m->artifact->pushed);
	svc_manifest_release_id(m, id2);
	ck_assert_str_eq(id2, id);
	j = svc_artifact_ref_to_json(m->artifact);
	ck_assert_str_eq(json_string_value(json_object_get(j, "pushed")), m->artifact->pushed);
	{
		struct svc_artifact_ref *back = svc_artifact_ref_from_json(j);

		ck_assert_ptr_nonnull(back);
		ck_assert_str_eq(back->pushed, m->artifact->pushed);
		svc_artifact_ref_free(back);
	}
	json_decref(j);
	svc_manifest_free(m);

	/* ":PORT" is the port on every address (on swarm: on every node) */
	ck_assert_int_eq(load_text(&m, "service: web\nruntime: swarm\n"
				   "run: {image: \"reg.example:5000/web:1\"}\n"
				   "ports:\n  - listen: :8080\n    target: 80\n", &d), 0);
	ck_assert_str_eq(m->ports[0].listen.text, "0.0.0.0:8080");
	svc_manifest_free(m);

	/* run.image of a registry, pinned: runs by digest, same release */
	ck_assert_int_eq(load_text(&m, "service: web\nruntime: swarm\n"
				   "run: {image: \"reg.example:5000/web:1\"}\n", &d), 0);
	svc_manifest_release_id(m, id);
	ck_assert_ptr_null(svc_manifest_pinned(m));
	svc_manifest_set_pinned(m, "reg.example:5000/web@sha256:"
				"1111111111111111111111111111111111111111111111111111111111111111");
	ck_assert_str_eq(svc_manifest_image(m), m->pinned_image);
	svc_manifest_release_id(m, id2);
	ck_assert_str_eq(id2, id);
	svc_manifest_set_pinned(m, NULL);
	ck_assert_str_eq(svc_manifest_image(m), "reg.example:5000/web:1");
	svc_manifest_free(m);
	/* written with its digest: that is the pin */
	ck_assert_int_eq(load_text(&m, "service: web\nruntime: swarm\nrun: {image: "
				   "\"reg.example/web@sha256:"
				   "2222222222222222222222222222222222222222222222222222222222222222\"}\n",
				   &d), 0);
	ck_assert_str_eq(svc_manifest_pinned(m), m->run.image);
	svc_manifest_free(m);
	ck_assert_int_eq(d.count, 0);
	svc_diags_release(&d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Robustness: every truncation and many mutations of a full manifest
 * are either loaded or refused with positioned errors; never a crash or
 * a leak (run under --enable-sanitizers). */

START_TEST(test_manifest__mutations)
{
	char *path = data_path("good/full.yaml");
	static const char *const inserts[] = { "[", "]", "{", "}", ":", "- ", "&a ", "*a",
					       "!!str ", "\"", "'", "\n", "\t", "${", "#",
					       "? ", ",", "\xff", "\0" };
	char *text = NULL;
	size_t len = 0;
	unsigned long seed = 12345;
	struct svc_diags d;

	ck_assert_int_eq(svc_file_read(&text, &len, path, 1 << 20, NULL), 0);
	svc_diags_init(&d);
	for (size_t cut = 0; cut <= len; cut++) {
		struct svc_manifest *m = NULL;
		int rc = svc_manifest_load_buffer(&m, text, cut, "cut.yaml", "/srv", &d);

		ck_assert((rc == 0) == (m != NULL));
		ck_assert(rc == 0 || d.count > 0);
		svc_manifest_free(m);
		svc_diags_release(&d);
	}
	for (int i = 0; i < 3000; i++) {
		char *buf = svc_calloc(len + 16, 1);
		struct svc_manifest *m = NULL;
		const char *ins;
		size_t at, ilen;
		int rc;

		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		at = (size_t)(seed >> 33) % len;
		ins = inserts[(seed >> 13) % (sizeof(inserts) / sizeof(inserts[0]))];
		ilen = *ins ? strlen(ins) : 1;
		memcpy(buf, text, at);
		memcpy(buf + at, ins, ilen);
		memcpy(buf + at + ilen, text + at, len - at);
		rc = svc_manifest_load_buffer(&m, buf, len + ilen, "mut.yaml", "/srv", &d);
		ck_assert((rc == 0) == (m != NULL));
		ck_assert(rc == 0 || d.count > 0);
		if (m) {
			char id[65];
			svc_manifest_release_id(m, id);
		}
		svc_manifest_free(m);
		svc_diags_release(&d);
		free(buf);
	}
	free(text);
	free(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Sets of manifests */

START_TEST(test_manifest__set_good_folder)
{
	char *dir = data_path("good");
	char *paths[] = { dir };
	struct svc_manifest_set set;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), 0);
	ck_assert_int_eq(d.count, 0);
	ck_assert_int_eq(set.nfiles, 5);
	ck_assert_int_eq(set.count, 5);
	/* name order: docker.yaml full.yaml minimal.yaml swarm-build.yml swarm-push.yml */
	ck_assert_str_eq(set.items[0]->service, "accounts");
	ck_assert_str_eq(set.items[3]->service, "web");
	ck_assert_str_eq(set.items[4]->service, "shop");
	ck_assert_ptr_eq(svc_manifest_set_find(&set, "billing"), set.items[1]);
	ck_assert_ptr_null(svc_manifest_set_find(&set, "nope"));
	svc_manifest_set_release(&set);
	ck_assert_int_eq(set.count, 0);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	free(dir);
}
END_TEST

START_TEST(test_manifest__set_duplicate_service)
{
	char *dir = data_path("set_dup/");
	char *paths[] = { dir };
	struct svc_manifest_set set;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), SVC_EMANIFEST);
	ck_assert_int_eq(set.nfiles, 2);   /* README.txt is not read */
	ck_assert_int_eq(set.count, 2);
	ASSERT_DIAG(&d, "set_dup/b.yml", 2, 10,
		    "service: 'shop' is already defined in ");
	ASSERT_DIAG(&d, "set_dup/b.yml", 2, 10, "set_dup/a.yaml:1");
	ck_assert_int_eq(d.count, 1);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	free(dir);
}
END_TEST

START_TEST(test_manifest__set_address_clash)
{
	char *dir = data_path("set_addr");
	char *paths[] = { dir };
	struct svc_manifest_set set;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), SVC_EMANIFEST);
	ck_assert_int_eq(set.nfiles, 3);
	ck_assert_int_eq(set.count, 3);
	ASSERT_DIAG(&d, "set_addr/one.yaml", 3, 18,
		    "ports[0].listen: address '127.0.0.1:8100' is also used by service 'two' "
		    "(ports[0].listen at ");
	ASSERT_DIAG(&d, "set_addr/two.yaml", 4, 13,
		    "ports[0].listen: address '127.0.0.1:8100' is also used by service 'one'");
	ASSERT_DIAG(&d, "set_addr/one.yaml", 4, 20,
		    "rollout.preview: address '127.0.0.1:18100' is also used by service 'three' "
		    "(ports[0].listen at ");
	ASSERT_DIAG(&d, "set_addr/three.yaml", 4, 13,
		    "ports[0].listen: address '127.0.0.1:18100' is also used by service 'one' "
		    "(rollout.preview at ");
	ck_assert_int_eq(d.count, 4);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	free(dir);
}
END_TEST

START_TEST(test_manifest__set_wildcard_clash)
{
	char dir[] = "/tmp/check_manifest.XXXXXX";
	char *a, *b, *paths[2];
	const char *ta = "service: a\nrun: {command: [a]}\nports: [{listen: '0.0.0.0:8300'}]\n";
	const char *tb = "service: b\nrun: {command: [b]}\nports: [{listen: '127.0.0.1:8300'}]\n";
	struct svc_manifest_set set;
	struct svc_diags d;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	a = svc_strfmt("%s/a.yaml", dir);
	b = svc_strfmt("%s/b.yaml", dir);
	ck_assert_int_eq(svc_file_write_atomic(a, ta, strlen(ta), 0600, NULL), 0);
	ck_assert_int_eq(svc_file_write_atomic(b, tb, strlen(tb), 0600, NULL), 0);
	paths[0] = a;
	paths[1] = b;
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 2, &d), SVC_EMANIFEST);
	ck_assert_int_eq(d.count, 2);
	ASSERT_DIAG(&d, "/a.yaml", 3, 18, "address '0.0.0.0:8300' is also used by service 'b'");
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	svc_rm_rf(dir);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_manifest__set_api_versions)
{
	char *dir = data_path("set_api");
	char *paths[] = { dir };
	struct svc_manifest_set set;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), SVC_EMANIFEST);
	ASSERT_DIAG(&d, "set_api/billing.yaml", 5, 5,
		    "api.requires.accounts: service 'accounts' does not provide version 'v3'");
	/* v2 is provided; 'elsewhere' is not in the set: no error for them */
	ck_assert_int_eq(d.count, 1);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	free(dir);
}
END_TEST

START_TEST(test_manifest__set_mixed_and_missing)
{
	char *minimal = data_path("good/minimal.yaml"), *bad = data_path("bad");
	char *paths[] = { minimal, bad, (char *)"/nonexistent/folder" };
	struct svc_manifest_set set;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 3, &d), SVC_EMANIFEST);
	ck_assert_int_gt(set.nfiles, 40);
	ck_assert_int_eq(set.count, 1);      /* every file in bad/ is refused */
	ck_assert_str_eq(set.items[0]->service, "minimal");
	ASSERT_DIAG(&d, "/nonexistent/folder", 0, 0, "cannot read");
	ASSERT_DIAG(&d, "bad/unknown_key.yaml", 6, 3, "unknown key 'foo' in 'health'");
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	free(minimal);
	free(bad);
}
END_TEST

/*
 * Regular files only, refused without blocking: a fifo given as a path, and
 * folder entries that are symlinks to a fifo, to /dev/zero or to nothing,
 * or folders, each an error naming it (and counted as a file read). A
 * symlink to a regular file is a manifest like any other.
 */
START_TEST(test_manifest__set_special_files)
{
	char tmp[] = "/tmp/svc-check-manifest-XXXXXX";
	char *minimal = data_path("good/minimal.yaml");
	char *fifo, *good, *to_fifo, *to_zero, *dangling, *nothing, *sub;
	char *paths[2];
	struct svc_manifest_set set;
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	fifo = svc_strfmt("%s/pipe.yaml", tmp);
	sub = svc_strfmt("%s/dir", tmp);
	good = svc_strfmt("%s/good.yaml", sub);
	to_fifo = svc_strfmt("%s/to-fifo.yaml", sub);
	to_zero = svc_strfmt("%s/to-zero.yml", sub);
	dangling = svc_strfmt("%s/dangling.yaml", sub);
	nothing = svc_strfmt("%s/nothing.yaml", tmp);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(symlink(minimal, good), 0);
	ck_assert_int_eq(symlink(fifo, to_fifo), 0);
	ck_assert_int_eq(symlink("/dev/zero", to_zero), 0);
	ck_assert_int_eq(symlink(nothing, dangling), 0);

	/* one file */
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load(&m, fifo, &d), SVC_EGENERIC);
	ck_assert_ptr_null(m);
	ASSERT_DIAG(&d, fifo, 0, 0, "not a regular file (a fifo)");
	ck_assert_int_eq(d.count, 1);
	svc_diags_release(&d);

	/* the fifo as a path, and the folder */
	paths[0] = fifo;
	paths[1] = sub;
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 2, &d), SVC_EMANIFEST);
	ck_assert_int_eq(set.nfiles, 5);
	ck_assert_int_eq(set.count, 1);
	ck_assert_str_eq(set.items[0]->service, "minimal");
	ASSERT_DIAG(&d, fifo, 0, 0, "not a regular file (a fifo)");
	ASSERT_DIAG(&d, to_fifo, 0, 0, "not a regular file (a fifo)");
	ASSERT_DIAG(&d, to_zero, 0, 0, "not a regular file (a character device)");
	{
		char *want = svc_strfmt("dangling symlink to '%s'", nothing);

		ASSERT_DIAG(&d, dangling, 0, 0, want);
		free(want);
	}
	ck_assert_int_eq(d.count, 4);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);

	/* a folder named like a manifest */
	unlink(to_fifo);
	unlink(to_zero);
	unlink(dangling);
	free(to_fifo);
	to_fifo = svc_strfmt("%s/folder.yaml", sub);
	ck_assert_int_eq(mkdir(to_fifo, 0700), 0);
	paths[0] = sub;
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), SVC_EMANIFEST);
	ck_assert_int_eq(set.nfiles, 2);
	ASSERT_DIAG(&d, to_fifo, 0, 0, "is a folder, not a manifest file");
	ck_assert_int_eq(d.count, 1);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);

	/* confined to the folder: the link out of it is refused, unread */
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load_confined(&set, sub, sub, "the tree", &d),
			 SVC_EMANIFEST);
	ck_assert_int_eq(set.count, 0);
	ck_assert_int_eq(set.nfiles, 1);
	ck_assert_str_eq(set.files[0], to_fifo);
	ck_assert_ptr_null(set.files[1]);
	{
		char *want = svc_strfmt("a symlink leaving the tree ('%s'): refused", minimal);

		ASSERT_DIAG(&d, good, 0, 0, want);
		free(want);
	}
	ck_assert_int_eq(d.count, 2);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	/* confined to a tree that holds its target: read */
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load_confined(&set, sub, "/", "the tree", &d),
			 SVC_EMANIFEST);
	ck_assert_int_eq(set.count, 1);
	ck_assert_int_eq(set.nfiles, 2);
	ck_assert_str_eq(set.files[1], good);
	ck_assert_int_eq(d.count, 1);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);

	svc_rm_rf(tmp);
	free(fifo);
	free(sub);
	free(good);
	free(to_fifo);
	free(to_zero);
	free(dangling);
	free(nothing);
	free(minimal);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_manifest__unknown_key);
	tcase_add_test(tc, test_manifest__unknown_top_key);
	tcase_add_test(tc, test_manifest__wrong_type_mapping);
	tcase_add_test(tc, test_manifest__wrong_type_scalar);
	tcase_add_test(tc, test_manifest__quoted_int);
	tcase_add_test(tc, test_manifest__quoted_bool);
	tcase_add_test(tc, test_manifest__duplicate_key);
	tcase_add_test(tc, test_manifest__missing_service);
	tcase_add_test(tc, test_manifest__missing_command);
	tcase_add_test(tc, test_manifest__missing_listen);
	tcase_add_test(tc, test_manifest__missing_image);
	tcase_add_test(tc, test_manifest__missing_context);
	tcase_add_test(tc, test_manifest__missing_dep_keys);
	tcase_add_test(tc, test_manifest__replicas_range);
	tcase_add_test(tc, test_manifest__port_range);
	tcase_add_test(tc, test_manifest__listen_port_zero);
	tcase_add_test(tc, test_manifest__bad_duration);
	tcase_add_test(tc, test_manifest__duration_range);
	tcase_add_test(tc, test_manifest__bad_address);
	tcase_add_test(tc, test_manifest__bad_status);
	tcase_add_test(tc, test_manifest__anchor);
	tcase_add_test(tc, test_manifest__alias);
	tcase_add_test(tc, test_manifest__tag);
	tcase_add_test(tc, test_manifest__top_list);
	tcase_add_test(tc, test_manifest__top_scalar);
	tcase_add_test(tc, test_manifest__empty_file);
	tcase_add_test(tc, test_manifest__comments_only);
	tcase_add_test(tc, test_manifest__binary);
	tcase_add_test(tc, test_manifest__invalid_utf8);
	tcase_add_test(tc, test_manifest__deep_flow);
	tcase_add_test(tc, test_manifest__deep_block);
	tcase_add_test(tc, test_manifest__placeholder_unknown);
	tcase_add_test(tc, test_manifest__placeholder_unterminated);
	tcase_add_test(tc, test_manifest__env_port);
	tcase_add_test(tc, test_manifest__env_name);
	tcase_add_test(tc, test_manifest__dup_env);
	tcase_add_test(tc, test_manifest__build_env_name);
	tcase_add_test(tc, test_manifest__build_env_reserved);
	tcase_add_test(tc, test_manifest__build_env_dup);
	tcase_add_test(tc, test_manifest__build_env_null);
	tcase_add_test(tc, test_manifest__build_env_type);
	tcase_add_test(tc, test_manifest__release_id_build_env);
	tcase_add_test(tc, test_manifest__stop_signal);
	tcase_add_test(tc, test_manifest__two_ports_process);
	tcase_add_test(tc, test_manifest__docker_no_target);
	tcase_add_test(tc, test_manifest__health_both);
	tcase_add_test(tc, test_manifest__http_no_port);
	tcase_add_test(tc, test_manifest__preview_no_port);
	tcase_add_test(tc, test_manifest__preview_equals_listen_at_listen);
	tcase_add_test(tc, test_manifest__preview_equals_listen_at_preview);
	tcase_add_test(tc, test_manifest__expect_without_http);
	tcase_add_test(tc, test_manifest__into_dotdot);
	tcase_add_test(tc, test_manifest__build_dockerfile_process);
	tcase_add_test(tc, test_manifest__build_workdir);
	tcase_add_test(tc, test_manifest__build_docker_no_dockerfile);
	tcase_add_test(tc, test_manifest__build_push_no_registry);
	tcase_add_test(tc, test_manifest__build_push_tag);
	tcase_add_test(tc, test_manifest__build_push_path);
	tcase_add_test(tc, test_manifest__build_push_process);
	tcase_add_test(tc, test_manifest__swarm_listen_host);
	tcase_add_test(tc, test_manifest__swarm_preview_host);
	tcase_add_test(tc, test_manifest__listen_colon_port);
	tcase_add_test(tc, test_manifest__build_push_type);
	tcase_add_test(tc, test_manifest__build_push);
	tcase_add_test(tc, test_manifest__build_docker_image_and_artifact);
	tcase_add_test(tc, test_manifest__build_artifact_abs);
	tcase_add_test(tc, test_manifest__build_timeout);
	tcase_add_test(tc, test_manifest__dup_dep_names);
	tcase_add_test(tc, test_manifest__dup_port_names);
	tcase_add_test(tc, test_manifest__syntax_error);
	tcase_add_test(tc, test_manifest__tab_indent);
	tcase_add_test(tc, test_manifest__two_documents);
	tcase_add_test(tc, test_manifest__null_value);
	tcase_add_test(tc, test_manifest__empty_command);
	tcase_add_test(tc, test_manifest__bad_service_name);
	tcase_add_test(tc, test_manifest__tcp_false);
	tcase_add_test(tc, test_manifest__api_version);
	tcase_add_test(tc, test_manifest__api_requires_name);
	tcase_add_test(tc, test_manifest__api_requires_empty);
	tcase_add_test(tc, test_manifest__key_not_string);
	tcase_add_test(tc, test_manifest__section_wrong_type);
	tcase_add_test(tc, test_manifest__all_errors_reported);
	tcase_add_test(tc, test_manifest__greeter_example);
	tcase_add_test(tc, test_manifest__defaults);
	tcase_add_test(tc, test_manifest__docker_defaults_tcp_health);
	tcase_add_test(tc, test_manifest__full);
	tcase_add_test(tc, test_manifest__memory_edge_cases);
	tcase_add_test(tc, test_manifest__file_too_large);
	tcase_add_test(tc, test_manifest__missing_file);
	tcase_add_test(tc, test_manifest__deep_nesting_in_memory);
	tcase_add_test(tc, test_manifest__expand);
	tcase_add_test(tc, test_manifest__json);
	tcase_add_test(tc, test_manifest__release_id_ignores_formatting);
	tcase_add_test(tc, test_manifest__release_id_changes_with_values);
	tcase_add_test(tc, test_manifest__mutations);
	tcase_add_test(tc, test_manifest__set_good_folder);
	tcase_add_test(tc, test_manifest__set_duplicate_service);
	tcase_add_test(tc, test_manifest__set_address_clash);
	tcase_add_test(tc, test_manifest__set_wildcard_clash);
	tcase_add_test(tc, test_manifest__set_api_versions);
	tcase_add_test(tc, test_manifest__set_mixed_and_missing);
	tcase_add_test(tc, test_manifest__set_special_files);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
