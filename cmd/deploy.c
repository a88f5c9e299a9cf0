/*
 * deploy.c - `svcctl deploy SERVICE [--timeout DUR]`: blue/green rollout
 * of the release the manifest describes now.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const char usage[] = "svcctl deploy SERVICE [--timeout DUR]";

int cmd_deploy(struct cmd_global *g, int argc, char **argv)
{
	struct svc_manifest_set set;
	struct svc_manifest *m = NULL;
	struct svc_deploy_opts opts = { 0 };
	struct svc_rollout_result res;
	struct svc_error err = { 0 };
	const char *service = NULL;
	char rid[65];
	int rc, code;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n"
			       "Start the release the manifest describes beside the serving one, wait\n"
			       "until every replica is healthy, switch traffic, bake, and keep the old\n"
			       "release warm for instant rollback. Deploying the active release is a\n"
			       "no-op. --timeout limits the wait for health (default: the manifest's\n"
			       "health.start_timeout).\n", usage);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--timeout")) {
			if (i + 1 >= argc)
				return cmd_usage_error(g, usage, "--timeout needs a duration");
			if (svc_duration_parse(&opts.timeout_ms, argv[++i], &err) || !opts.timeout_ms)
				return cmd_usage_error(g, usage, "--timeout: %s",
						       err.code ? err.message : "must be more than 0");
		} else if (argv[i][0] == '-') {
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		} else if (service) {
			return cmd_usage_error(g, usage, "one service at a time");
		} else {
			service = argv[i];
		}
	}
	if (!service)
		return cmd_usage_error(g, usage, "which service?");
	if ((code = cmd_load_service(g, &set, service, &m)))
		goto done;
	svc_manifest_release_id(m, rid);
	memset(&res, 0, sizeof(res));
	rc = svc_rollout_deploy(&g->ctx, m->path, rid, &opts, &res, &err);
	if (g->json)
		cmd_result_rollout(g, &res, rc, &err);
	else if (rc)
		cmd_fail(g, rc, &err);
	code = cmd_exit_code(rc);
done:
	svc_manifest_set_release(&set);
	return code;
}
