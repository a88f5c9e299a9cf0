/*
 * gc.c - `svcctl gc [--keep N] [--dry-run]`: delete artifacts no kept
 * release runs and dependency versions no manifest uses (gc.h).
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "gc.h"
#include "sync/sync.h"
#include "util.h"

static const char usage[] = "svcctl gc [--keep N] [--dry-run]";
static const char help[] =
	"Delete the artifacts (folders or images) of releases that are neither\n"
	"among the last N of their service (--keep, default 5) nor active, warm or\n"
	"in a rollout; folders of failed builds; old build logs; and cached\n"
	"dependency versions that no manifest uses ('svcctl deps unused').\n"
	"Every manifest must be valid. --dry-run lists what would be deleted.\n"
	"History is kept: a release whose artifact is gone cannot be rolled back to.\n";

int cmd_gc(struct cmd_global *g, int argc, char **argv)
{
	struct svc_gc_opts o = { .keep = SVC_GC_KEEP_DEFAULT };
	struct svc_manifest_set set = { 0 };
	struct svc_manifest **ms = NULL;
	struct svc_error err = { 0 };
	json_t *out = NULL;
	size_t count = 0;
	long long keep;
	int code, rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n%s", usage, help);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--dry-run")) {
			o.dry_run = true;
		} else if (!strcmp(argv[i], "--keep")) {
			if (i + 1 >= argc || svc_parse_int(&keep, argv[i + 1], 1, 1000))
				return cmd_usage_error(g, usage, "--keep needs a number from 1 to 1000");
			o.keep = (int)keep;
			i++;
		} else {
			return cmd_usage_error(g, usage, "unexpected argument '%s'", argv[i]);
		}
	}
	/* an invalid manifest would make its dependencies look unused */
	if ((code = cmd_load_services(g, &set, NULL, 0, true, true, &ms, &count)))
		goto done;
	if ((rc = svc_gc(g->state_dir, ms, count, &o, &g->report, &out, &err))) {
		code = cmd_fail(g, rc, &err);
		goto done;
	}
	svc_sync_gc(&g->ctx, o.keep, o.dry_run, out);
	if (g->json) {
		json_object_set_new(out, "command", json_string("gc"));
		json_object_set_new(out, "ok", json_true());
		json_object_set_new(out, "exit_code", json_integer(0));
		svc_report_result(&g->report, out);
		out = NULL;
	} else if (g->verbosity >= 0) {
		char size[32];
		double b = (double)json_integer_value(json_object_get(out, "freed_bytes"));

		snprintf(size, sizeof(size), "%.1f MiB", b / (1024.0 * 1024.0));
		printf("gc: %s %zu item%s (%s), kept %zu artifact%s\n",
		       o.dry_run ? "would delete" : "deleted",
		       json_array_size(json_object_get(out, "deleted")),
		       json_array_size(json_object_get(out, "deleted")) == 1 ? "" : "s", size,
		       json_array_size(json_object_get(out, "kept")),
		       json_array_size(json_object_get(out, "kept")) == 1 ? "" : "s");
	}
	code = EXIT_OK;
done:
	json_decref(out);
	free(ms);
	svc_manifest_set_release(&set);
	return code;
}
