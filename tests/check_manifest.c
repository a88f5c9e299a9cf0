/*
 * check_manifest.c - strict manifest parsing: every bad input in
 * tests/data/bad/ gives its expected file:line:col and message; the good
 * ones load with the right values and defaults; the release id ignores
 * formatting and follows every value; cross-file checks.
 */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"

static char *data_path(const char *rel)
{
	const char *d = getenv("TESTDATA");

	return svc_strfmt("%s/%s", d && *d ? d : "tests/data", rel);
}

/* Load one fixture; returns rc, diags filled. */
static int load(const char *rel, struct svc_manifest **m, struct svc_diags *d)
{
	char *p = data_path(rel);
	int rc;

	svc_diags_init(d);
	rc = svc_manifest_load(m, p, d);
	free(p);
	return rc;
}

static const struct bad_case {
	const char *file;
	int line, col;
	const char *message;  /* substring */
} bad_cases[] = {
	{ "bad/alias.yaml", 1, 7, "anchors and aliases are not allowed" },
	{ "bad/anchor.yaml", 1, 10, "anchors and aliases are not allowed" },
	{ "bad/bad_address.yaml", 5, 13, "'ports[0].listen': invalid address 'localhost'" },
	{ "bad/bad_duration.yaml", 5, 13, "'health.interval': invalid duration '5x'" },
	{ "bad/bad_name.yaml", 1, 10, "'service': invalid name 'Bad_Name'" },
	{ "bad/bad_signal.yaml", 4, 16, "'run.stop_signal': unknown signal 'STOP'" },
	{ "bad/binary.yaml", 1, 11, "NUL bytes are not allowed" },
	{ "bad/build_no_context.yaml", 5, 3, "'build.context' is required" },
	{ "bad/command_not_list.yaml", 3, 12, "'run.command': expected a list, found a scalar" },
	{ "bad/deep.yaml", 2, 35, "nesting deeper than 32 levels" },
	{ "bad/dep_into.yaml", 10, 13, "'build.dependencies[0].into' must be a relative path" },
	{ "bad/docker_no_image.yaml", 1, 1, "'run.image' is required for the docker runtime" },
	{ "bad/duplicate_key.yaml", 4, 1, "duplicate key 'service' (first at line 1)" },
	{ "bad/duration_range.yaml", 5, 12, "'health.timeout' must be between 10ms and 1h" },
	{ "bad/empty.yaml", 1, 1, "empty manifest" },
	{ "bad/env_port.yaml", 4, 9, "'PORT' is set by svcctl" },
	{ "bad/http_and_tcp.yaml", 5, 3, "give http or tcp, not both" },
	{ "bad/invalid_utf8.yaml", 1, 1, "invalid YAML: invalid trailing UTF-8 octet" },
	{ "bad/missing_command.yaml", 1, 1, "'run.command' is required for the process runtime" },
	{ "bad/missing_service.yaml", 1, 1, "'service' is required" },
	{ "bad/port_range.yaml", 5, 13, "invalid port in '127.0.0.1:70000'" },
	{ "bad/preview_no_port.yaml", 5, 12, "'rollout.preview' needs a port" },
	{ "bad/quoted_int.yaml", 2, 11, "'replicas': expected an integer, found '2'" },
	{ "bad/replicas_range.yaml", 2, 11, "'replicas' must be 1-100, not 101" },
	{ "bad/run_not_map.yaml", 2, 6, "'run': expected a mapping, found a list" },
	{ "bad/status_range.yaml", 8, 18, "'health.expect_status': invalid status range '399-200'" },
	{ "bad/syntax.yaml", 2, 6, "invalid YAML: mapping values are not allowed" },
	{ "bad/tag.yaml", 1, 10, "tags ('tag:yaml.org,2002:str') are not allowed" },
	{ "bad/top_list.yaml", 1, 1, "the top level must be a mapping" },
	{ "bad/two_documents.yaml", 4, 1, "only one YAML document" },
	{ "bad/two_ports.yaml", 6, 5, "the process runtime supports one port" },
	{ "bad/unknown_key.yaml", 4, 3, "unknown key 'colour' in 'run'" },
	{ "bad/unknown_var.yaml", 3, 16, "'run.command[1]': unknown variable '${HOME}'" },
};

START_TEST(test_manifest__bad_input)
{
	const struct bad_case *c = &bad_cases[_i];
	struct svc_manifest *m = (struct svc_manifest *)1;
	struct svc_diags d;
	char *want = data_path(c->file);
	bool found = false;

	ck_assert_int_eq(load(c->file, &m, &d), SVC_EMANIFEST);
	ck_assert_ptr_null(m);
	ck_assert_uint_gt(d.count, 0);
	for (size_t i = 0; i < d.count; i++) {
		const struct svc_error *e = &d.items[i];
		if (!strcmp(e->file, want) && e->line == c->line && e->column == c->col &&
		    strstr(e->message, c->message))
			found = true;
	}
	if (!found) {
		char buf[2048];
		for (size_t i = 0; i < d.count; i++)
			fprintf(stderr, "# got: %s\n", svc_error_format(&d.items[i], buf, sizeof(buf)));
	}
	ck_assert_msg(found, "%s: expected %d:%d: %s", c->file, c->line, c->col, c->message);
	svc_diags_release(&d);
	free(want);
}
END_TEST

START_TEST(test_manifest__every_error_is_reported)
{
	struct svc_manifest *m;
	struct svc_diags d;
	static const int lines[] = { 2, 5, 7, 8 };

	ck_assert_int_eq(load("bad/many_errors.yaml", &m, &d), SVC_EMANIFEST);
	ck_assert_uint_eq(d.count, 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(d.items[i].line, lines[i]);
	ck_assert_ptr_nonnull(strstr(d.items[3].message, "'health.healthy_threshold'"));
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_manifest__full_values)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	char *gdir = data_path("../../examples/greeter");
	char real[PATH_MAX];

	ck_assert_int_eq(load("good/full.yaml", &m, &d), 0);
	ck_assert_uint_eq(d.count, 0);
	ck_assert_ptr_nonnull(realpath(gdir, real));
	ck_assert_str_eq(m->service, "accounts");
	ck_assert_int_eq(m->runtime, SVC_RUNTIME_PROCESS);
	ck_assert_int_eq(m->replicas, 3);
	ck_assert_str_eq(m->version, "2.1.0");
	ck_assert(m->build.present);
	ck_assert_str_eq(m->build.context, real);
	ck_assert_str_eq(m->build.command[1], "greeter");
	ck_assert_uint_eq(m->build.ndeps, 1);
	ck_assert_str_eq(m->build.deps[0].into, "vendor/libgreet");
	ck_assert_str_eq(m->run.workdir, real);
	ck_assert_uint_eq(svc_strv_len(m->run.command), 5);
	ck_assert_uint_eq(m->run.nenv, 3);
	ck_assert_str_eq(m->run.env[0].key, "GREETING");  /* sorted */
	ck_assert_str_eq(m->run.env[2].key, "ZED");
	ck_assert_int_eq(m->run.stop_signal, SIGINT);
	ck_assert_str_eq(m->run.stop_signal_name, "INT");
	ck_assert_int_eq(m->run.stop_timeout_ms, 2500);
	ck_assert_uint_eq(m->nports, 1);
	ck_assert_str_eq(m->ports[0].name, "api");
	ck_assert_str_eq(m->ports[0].listen.text, "[::1]:9090");
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_HTTP);
	ck_assert_str_eq(m->health.http_path, "/healthz");
	ck_assert_int_eq(m->health.status_lo, 200);
	ck_assert_int_eq(m->health.status_hi, 204);
	ck_assert_int_eq(m->health.interval_ms, 250);
	ck_assert_int_eq(m->health.timeout_ms, 2000);
	ck_assert_int_eq(m->health.healthy_threshold, 3);
	ck_assert_int_eq(m->health.unhealthy_threshold, 4);
	ck_assert_int_eq(m->health.start_timeout_ms, 120000);
	ck_assert(m->rollout.manual);
	ck_assert(m->rollout.has_preview);
	ck_assert_str_eq(m->rollout.preview.text, "127.0.0.1:19090");
	ck_assert_int_eq(m->rollout.drain_timeout_ms, 5000);
	ck_assert_int_eq(m->rollout.keep_previous_ms, 3600000);
	ck_assert_int_eq(m->rollout.bake_ms, 30000);
	ck_assert_str_eq(m->api.provides[1], "v2");
	ck_assert_uint_eq(m->api.nrequires, 1);
	ck_assert_str_eq(m->api.requires[0].service, "greeter");
	svc_manifest_free(m);
	svc_diags_release(&d);
	free(gdir);
}
END_TEST

START_TEST(test_manifest__defaults)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	ck_assert_int_eq(load("good/minimal.yaml", &m, &d), 0);
	ck_assert_int_eq(m->replicas, 1);
	ck_assert_int_eq(m->health.kind, SVC_HEALTH_RUNNING);
	ck_assert_int_eq(m->health.interval_ms, 1000);
	ck_assert_int_eq(m->health.healthy_threshold, 2);
	ck_assert_int_eq(m->health.unhealthy_threshold, 3);
	ck_assert_int_eq(m->health.start_timeout_ms, 60000);
	ck_assert_int_eq(m->run.stop_signal, SIGTERM);
	ck_assert_int_eq(m->run.stop_timeout_ms, 10000);
	ck_assert_int_eq(m->rollout.drain_timeout_ms, 30000);
	ck_assert_int_eq(m->rollout.keep_previous_ms, 600000);
	ck_assert_int_eq(m->rollout.bake_ms, 0);
	ck_assert(!m->rollout.manual);
	ck_assert_str_eq(m->run.workdir, m->dir);
	svc_manifest_free(m);
	svc_diags_release(&d);
}
END_TEST

static void release_id_of(const char *rel, char out[65])
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	ck_assert_int_eq(load(rel, &m, &d), 0);
	svc_manifest_release_id(m, out);
	svc_manifest_free(m);
	svc_diags_release(&d);
}

START_TEST(test_manifest__release_id_ignores_form)
{
	char a[65], b[65];

	release_id_of("equiv/minimal.yaml", a);
	release_id_of("equiv/defaults_explicit.yaml", b);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), 64);
}
END_TEST

static void id_of_text(const char *text, char out[65])
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "t.yaml", "/srv", &d), 0);
	svc_manifest_release_id(m, out);
	svc_manifest_free(m);
	svc_diags_release(&d);
}

START_TEST(test_manifest__release_id_follows_values)
{
	static const char *const variants[] = {
		"service: a\nrun:\n  command: [x]\n",
		"service: a\nrun:\n  command: [y]\n",
		"service: a\nrun:\n  command: [x]\n  env: {A: b}\n",
		"service: a\nrun:\n  command: [x]\n  env: {A: c}\n",
		"service: a\nversion: 2\nrun:\n  command: [x]\n",
		"service: a\nreplicas: 2\nrun:\n  command: [x]\n",
		"service: a\nrun:\n  command: [x]\nrollout:\n  bake: 1s\n",
		"service: a\nrun:\n  command: [x]\n  workdir: sub\n",
	};
	char ids[8][65];

	for (size_t i = 0; i < 8; i++) {
		id_of_text(variants[i], ids[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(ids[i], ids[j]), "variants %zu and %zu share an id", i, j);
	}
}
END_TEST

START_TEST(test_manifest__base_dir_resolves_paths)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	const char *text = "service: a\nrun:\n  command: [x]\n  workdir: ../bin/./x/..\n";

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "t.yaml", "/srv/m", &d), 0);
	ck_assert_str_eq(m->dir, "/srv/m");
	ck_assert_str_eq(m->run.workdir, "/srv/bin");
	svc_manifest_free(m);
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_manifest__expand)
{
	struct svc_expand_vars v = { "8080", "1.2", "greeter", "3" };
	char *s;

	s = svc_manifest_expand("--port=${PORT} ${SERVICE}-${INSTANCE} v${VERSION} $$5 $x ${NOPE}", &v);
	ck_assert_str_eq(s, "--port=8080 greeter-3 v1.2 $5 $x ${NOPE}");
	free(s);
	s = svc_manifest_expand("${VERSION}", &(struct svc_expand_vars){ 0 });
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_manifest__oversized_file)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	size_t n = 2 * 1024 * 1024;
	char *big = svc_calloc(n + 1, 1);

	memset(big, '#', n);
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, big, n, "big.yaml", "/", &d), SVC_EMANIFEST);
	ck_assert_ptr_nonnull(strstr(d.items[0].message, "larger than"));
	svc_diags_release(&d);
	free(big);
}
END_TEST

static int load_set(const char *rel, struct svc_manifest_set *set, struct svc_diags *d)
{
	char *p = data_path(rel);
	char *paths[1] = { p };
	int rc;

	svc_diags_init(d);
	rc = svc_manifest_set_load(set, paths, 1, d);
	free(p);
	return rc;
}

START_TEST(test_manifest__set_duplicate_service)
{
	struct svc_manifest_set set;
	struct svc_diags d;

	ck_assert_int_eq(load_set("cross/dup", &set, &d), SVC_EMANIFEST);
	ck_assert_uint_eq(set.nfiles, 2);
	ck_assert_uint_eq(d.count, 1);
	ck_assert_ptr_nonnull(strstr(d.items[0].file, "cross/dup/b.yaml"));
	ck_assert_int_eq(d.items[0].line, 1);
	ck_assert_int_eq(d.items[0].column, 10);
	ck_assert_ptr_nonnull(strstr(d.items[0].message, "service 'one' is also defined in"));
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_manifest__set_shared_address)
{
	struct svc_manifest_set set;
	struct svc_diags d;

	ck_assert_int_eq(load_set("cross/addr", &set, &d), SVC_EMANIFEST);
	ck_assert_uint_eq(set.nfiles, 2);   /* .yml counts too */
	ck_assert_uint_eq(d.count, 2);      /* reported at both places */
	ck_assert_int_eq(d.items[0].line, 5);
	ck_assert_int_eq(d.items[1].line, 7);
	ck_assert_ptr_nonnull(strstr(d.items[0].message, "address 127.0.0.1:8000 is also used"));
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_manifest__set_api_versions)
{
	struct svc_manifest_set set;
	struct svc_diags d;

	ck_assert_int_eq(load_set("cross/api", &set, &d), SVC_EMANIFEST);
	ck_assert_uint_eq(set.nfiles, 2);   /* README.txt is not a manifest */
	ck_assert_uint_eq(d.count, 1);
	ck_assert_ptr_nonnull(strstr(d.items[0].message,
				     "service 'accounts' does not provide API version 'v1'"));
	ck_assert_ptr_nonnull(svc_manifest_set_find(&set, "billing"));
	ck_assert_ptr_null(svc_manifest_set_find(&set, "nosuch"));
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_manifest__set_good_and_example)
{
	struct svc_manifest_set set;
	struct svc_diags d;
	char *ex = data_path("../../manifests");
	char *paths[2];

	ck_assert_int_eq(load_set("good", &set, &d), 0);
	ck_assert_uint_eq(set.count, 2);
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	/* the shipped example manifest is valid */
	paths[0] = ex;
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), 0);
	ck_assert_ptr_nonnull(svc_manifest_set_find(&set, "greeter"));
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	free(ex);
	/* a missing path is an error, not silence */
	paths[0] = (char *)"/nonexistent/manifests";
	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_set_load(&set, paths, 1, &d), SVC_EMANIFEST);
	ck_assert_ptr_nonnull(strstr(d.items[0].message, "cannot read"));
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_manifest__bad_input, 0,
			    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_manifest__every_error_is_reported);
	tcase_add_test(tc, test_manifest__full_values);
	tcase_add_test(tc, test_manifest__defaults);
	tcase_add_test(tc, test_manifest__release_id_ignores_form);
	tcase_add_test(tc, test_manifest__release_id_follows_values);
	tcase_add_test(tc, test_manifest__base_dir_resolves_paths);
	tcase_add_test(tc, test_manifest__expand);
	tcase_add_test(tc, test_manifest__oversized_file);
	tcase_add_test(tc, test_manifest__set_duplicate_service);
	tcase_add_test(tc, test_manifest__set_shared_address);
	tcase_add_test(tc, test_manifest__set_api_versions);
	tcase_add_test(tc, test_manifest__set_good_and_example);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
