/*
 * lock.c - `svcctl lock SERVICE...|--all [--update]`: pin each dependency's
 * ref to a commit in SERVICE.lock beside the manifest (pinning.h).
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinning.h"
#include "util.h"

static const char usage[] = "svcctl lock SERVICE...|--all [--update]";
static const char help[] =
	"Resolve each dependency's ref (tag, branch or commit) to a commit and\n"
	"write it to SERVICE.lock beside the manifest, to be committed with it.\n"
	"Builds then use the locked commits even when a ref moves. Entries still\n"
	"matching the manifest keep their commit; --update resolves every ref\n"
	"again. --all locks every service that has a build section.\n";

int cmd_lock(struct cmd_global *g, int argc, char **argv)
{
	struct svc_manifest_set set = { 0 };
	struct svc_manifest **ms = NULL;
	char **names = svc_calloc((size_t)argc + 1, sizeof(*names));
	json_t *results = json_array();
	size_t n = 0, count = 0;
	bool all = false, update = false;
	int code = -1;

	for (int i = 1; i < argc && code < 0; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n%s", usage, help);
			code = EXIT_OK;
		} else if (!strcmp(argv[i], "--all")) {
			all = true;
		} else if (!strcmp(argv[i], "--update")) {
			update = true;
		} else if (argv[i][0] == '-') {
			code = cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		} else if (!svc_name_valid(argv[i])) {
			code = cmd_usage_error(g, usage, "invalid service name '%s'", argv[i]);
		} else {
			names[n++] = argv[i];
		}
	}
	if (code < 0 && !all && !n)
		code = cmd_usage_error(g, usage, "which services? (name them, or --all)");
	if (code >= 0 || (code = cmd_load_services(g, &set, names, n, all, all, &ms, &count)))
		goto done;
	for (size_t i = 0; i < count; i++) {
		struct svc_error err = { 0 };
		json_t *res = NULL;
		int rc;

		if (all && !ms[i]->build.present)
			continue;
		rc = svc_pin_lock(g->state_dir, ms[i], update, &g->report, &res, &err);
		if (rc) {
			code = cmd_fail(g, rc, &err);   /* the lock files written so far stay */
			goto done;
		}
		json_array_append_new(results, res);
	}
	code = EXIT_OK;
	if (g->json)
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:O}", "command", "lock",
							"ok", 1, "exit_code", 0, "locks", results));
done:
	json_decref(results);
	free(ms);
	free(names);
	svc_manifest_set_release(&set);
	return code;
}
