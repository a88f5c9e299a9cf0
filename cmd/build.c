/*
 * build.c - `svcctl build SERVICE...|--all [--jobs N]`: each service's
 * separate build, pinned to its locked dependency commits (builder.h).
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "util.h"

static const char usage[] = "svcctl build SERVICE...|--all [--jobs N]";
static const char help[] =
	"Build each service in a fresh folder of its own: a copy of its build\n"
	"context with its dependencies at their pinned commits (SERVICE.lock beside\n"
	"the manifest; without one, refs are resolved now). The artifact id is a\n"
	"hash of every input; an artifact already built is not built again. Output\n"
	"is shown as it comes and kept in a log per build under the state dir; a\n"
	"failed build shows the last lines of its log. --all builds every service\n"
	"that has a build section; --jobs N runs up to N builds at once (default 1).\n"
	"Exit 1 when any build failed.\n";

struct build_args {
	char **names;
	size_t n;
	bool all;
	long long jobs;
};

static int parse(struct cmd_global *g, int argc, char **argv, struct build_args *a)
{
	a->names = svc_calloc((size_t)argc + 1, sizeof(*a->names));
	a->jobs = 1;
	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n%s", usage, help);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--all")) {
			a->all = true;
		} else if (!strcmp(argv[i], "--jobs") || !strcmp(argv[i], "-j")) {
			if (i + 1 >= argc || svc_parse_int(&a->jobs, argv[i + 1], 1, 64))
				return cmd_usage_error(g, usage, "--jobs needs a number from 1 to 64");
			i++;
		} else if (argv[i][0] == '-') {
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		} else if (!svc_name_valid(argv[i])) {
			return cmd_usage_error(g, usage, "invalid service name '%s'", argv[i]);
		} else {
			a->names[a->n++] = argv[i];
		}
	}
	if (!a->all && !a->n)
		return cmd_usage_error(g, usage, "which services? (name them, or --all)");
	if (a->all && a->n)
		return cmd_usage_error(g, usage, "name services or give --all, not both");
	return -1;
}

static json_t *result_json(const struct svc_manifest *m, const struct svc_build_result *res,
			   const struct svc_error *err)
{
	json_t *o = json_pack("{s:s, s:b, s:b, s:I}", "service", m->service,
			      "ok", res->artifact != NULL, "cached", res->cached,
			      "elapsed_ms", (json_int_t)res->elapsed_ms);

	json_object_set_new(o, "artifact", res->artifact ? svc_artifact_ref_to_json(res->artifact)
							  : json_null());
	json_object_set_new(o, "log", res->log_path ? json_string(res->log_path) : json_null());
	if (!res->artifact)
		json_object_set_new(o, "error", json_string(err->message));
	return o;
}

int cmd_build(struct cmd_global *g, int argc, char **argv)
{
	struct build_args a = { 0 };
	struct svc_manifest_set set = { 0 };
	struct svc_manifest **ms = NULL, **with = NULL;
	struct svc_build_result *res = NULL;
	struct svc_error *errs = NULL;
	size_t count = 0, n = 0, failed;
	int code, worst = 0;

	if ((code = parse(g, argc, argv, &a)) >= 0)
		goto done;
	if ((code = cmd_load_services(g, &set, a.names, a.n, a.all, a.n == 0, &ms, &count)))
		goto done;
	with = svc_calloc(count + 1, sizeof(*with));
	for (size_t i = 0; i < count; i++) {
		if (ms[i]->build.present) {
			with[n++] = ms[i];
		} else if (!a.all) {
			struct svc_error e = { 0 };
			svc_error_set(&e, SVC_EUSAGE, "service '%s' has no build section in %s",
				      ms[i]->service, ms[i]->path);
			code = cmd_fail(g, SVC_EUSAGE, &e);
			goto done;
		}
	}
	if (!n && !g->json)
		printf("no service under '%s' has a build section\n", g->manifests);
	res = svc_calloc(n + 1, sizeof(*res));
	errs = svc_calloc(n + 1, sizeof(*errs));
	failed = svc_build_many(g->state_dir, with, n, (int)a.jobs, &g->report, res, errs);
	for (size_t i = 0; i < n; i++) {
		if (res[i].artifact)
			continue;
		if (!g->json)
			fprintf(stderr, "svcctl: %s\n", errs[i].message);
		/* the most telling exit code: unavailable or locked over failed */
		if (cmd_exit_code(errs[i].code) > worst)
			worst = cmd_exit_code(errs[i].code);
	}
	code = failed ? (worst ? worst : EXIT_FAILED) : EXIT_OK;
	if (g->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, result_json(with[i], &res[i], &errs[i]));
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:o}", "command", "build",
							"ok", !failed, "exit_code", code,
							"builds", arr));
	} else if (n && g->verbosity >= 0) {
		size_t cached = 0;
		for (size_t i = 0; i < n; i++)
			cached += res[i].cached;
		printf("build: %zu built, %zu already built, %zu failed\n", n - failed - cached,
		       cached, failed);
	}
done:
	for (size_t i = 0; res && i < n; i++)
		svc_build_result_release(&res[i]);
	free(res);
	free(errs);
	free(with);
	free(ms);
	free(a.names);
	svc_manifest_set_release(&set);
	return code;
}
