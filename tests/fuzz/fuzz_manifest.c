/*
 * fuzz_manifest.c - libFuzzer harness for the manifest loader.
 *
 * Each input is one manifest file's bytes, given to svc_manifest_load_buffer
 * exactly as svc_manifest_load gives it a file it read (so the byte checks,
 * the BOM, libyaml and every field table run). Beyond "no crash, no leak,
 * no sanitizer report", it checks what manifest.h promises:
 * - failure: *out is NULL and at least one error was reported;
 * - success: no error reported, the required fields are set, paths are
 *   absolute, every run.command and run.env value expands, env names
 *   (run.env, build.env) are sorted, unique, [A-Za-z_][A-Za-z0-9_]* and
 *   none svcctl sets itself, and the canonical JSON and release id can be
 *   computed.
 * A broken promise aborts, which libFuzzer reports as a crash.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_manifest: broken promise: %s\n", what);
	abort();
}

static void check_env(const struct svc_kv *env, size_t n, const char *what)
{
	static const char *const reserved[] = {
		"PORT", "SVCCTL_SERVICE", "SVCCTL_ARTIFACT_ID", "SVCCTL_BUILD_DIR", NULL,
	};

	for (size_t i = 0; i < n; i++) {
		const char *k = env[i].key;

		if (!k || !env[i].value || !k[0] || (k[0] >= '0' && k[0] <= '9') ||
		    strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789") !=
		    strlen(k))
			broken(what);
		if (i && strcmp(env[i - 1].key, k) >= 0)
			broken(what);
		for (size_t r = 0; reserved[r]; r++)
			if (!strcmp(k, reserved[r]))
				broken(what);
	}
}

static void check_loaded(const struct svc_manifest *m)
{
	const struct svc_expand_vars vars = { "8080", "1.0.0", "svc", "svc-1" };
	char id[65], *s;
	json_t *j;

	if (!m->service || !m->dir || m->dir[0] != '/')
		broken("service or an absolute dir");
	if (m->build.present && (!m->build.context || m->build.context[0] != '/'))
		broken("build.context absolute");
	if (m->run.workdir && m->run.workdir[0] != '/')
		broken("run.workdir absolute");
	for (size_t i = 0; m->run.command && m->run.command[i]; i++) {
		if (!(s = svc_manifest_expand(m->run.command[i], &vars)))
			broken("run.command expands");
		free(s);
	}
	check_env(m->run.env, m->run.nenv, "run.env names: valid, sorted, unique, not reserved");
	check_env(m->build.env, m->build.nenv,
		  "build.env names: valid, sorted, unique, not reserved");
	for (size_t i = 0; i < m->run.nenv; i++) {
		if (!(s = svc_manifest_expand(m->run.env[i].value, &vars)))
			broken("run.env expands");
		free(s);
	}
	if (!(j = svc_manifest_to_json(m)))
		broken("canonical JSON");
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		broken("canonical JSON dumps");
	free(s);
	json_decref(j);
	svc_manifest_release_id(m, id);
	if (strlen(id) != 64)
		broken("release id of 64 hex");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svc_manifest *m = NULL;
	struct svc_diags diags;
	char line[2048];
	int rc;

	svc_diags_init(&diags);
	rc = svc_manifest_load_buffer(&m, (const char *)data, size, "fuzz.yaml", "/srv/fuzz",
				      &diags);
	if (rc == 0) {
		if (!m || diags.count)
			broken("success: a manifest and no errors");
		check_loaded(m);
	} else if (m || diags.count == 0) {
		broken("failure: no manifest and at least one error");
	}
	svc_diags_sort(&diags);
	for (size_t i = 0; i < diags.count; i++)
		svc_error_format(&diags.items[i], line, sizeof(line));
	svc_manifest_free(m);
	svc_diags_release(&diags);
	return 0;
}
