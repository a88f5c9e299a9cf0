/*
 * validate.c - `svcctl validate [FILE|DIR...]`: every error of every
 * manifest as file:line:col: message, then the cross-file checks.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "svcctl validate [FILE|DIR...]";

int cmd_validate(struct cmd_global *g, int argc, char **argv)
{
	struct svc_manifest_set set;
	struct svc_diags d;
	char *def[1] = { (char *)g->manifests };
	char **paths = def;
	size_t npaths = 1;
	char buf[2048];
	json_t *errors;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\nCheck manifests (default: the manifests folder). Every\n"
			       "error is printed as file:line:col: message. Exit 3 when any is found.\n",
			       usage);
			return EXIT_OK;
		}
		if (argv[i][0] == '-' && strcmp(argv[i], "--"))
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
	}
	if (argc > 1) {
		paths = argv + 1;
		npaths = (size_t)argc - 1;
		if (!strcmp(paths[0], "--")) {
			paths++;
			npaths--;
		}
		if (!npaths) {
			paths = def;
			npaths = 1;
		}
	}
	svc_diags_init(&d);
	rc = svc_manifest_set_load(&set, paths, npaths, &d);
	errors = json_array();
	for (size_t i = 0; i < d.count; i++) {
		const struct svc_error *e = &d.items[i];
		if (g->json)
			json_array_append_new(errors, json_pack("{s:s, s:i, s:i, s:s}",
				"file", e->file, "line", e->line, "column", e->column,
				"message", e->message));
		else
			printf("%s\n", svc_error_format(e, buf, sizeof(buf)));
	}
	if (g->json) {
		json_t *services = json_array();
		for (size_t i = 0; i < set.count; i++)
			json_array_append_new(services, json_string(set.items[i]->service));
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:i, s:o, s:o}",
			"command", "validate", "ok", d.count == 0,
			"exit_code", d.count ? EXIT_MANIFEST : (rc ? cmd_exit_code(rc) : EXIT_OK),
			"files", (int)set.nfiles, "services", services, "errors", errors));
	} else {
		json_decref(errors);
		if (g->verbosity >= 0)
			fprintf(d.count ? stderr : stdout, "%zu file%s, %zu service%s, %zu error%s\n",
				set.nfiles, set.nfiles == 1 ? "" : "s", set.count,
				set.count == 1 ? "" : "s", d.count, d.count == 1 ? "" : "s");
	}
	svc_manifest_set_release(&set);
	svc_diags_release(&d);
	if (d.count || rc == SVC_EMANIFEST)
		return EXIT_MANIFEST;
	return rc ? cmd_exit_code(rc) : EXIT_OK;
}
