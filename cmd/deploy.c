/*
 * deploy.c - `svcctl deploy SERVICE [--timeout DUR]`: blue/green rollout
 * of the release the manifest describes now.
 */
#include "cmd.h"

#include <string.h>

static const char usage[] = "svcctl deploy SERVICE [--timeout DUR]";
static const char help[] =
	"Build the service first when its manifest has a build section (as\n"
	"'svcctl build' does; a failed build changes nothing). Then start the\n"
	"release beside the serving one, wait until every replica is healthy,\n"
	"switch traffic, bake, and keep the old release warm for instant\n"
	"rollback. Deploying the active release is a no-op. --timeout limits the wait for health (default: the manifest's\n"
	"health.start_timeout).\n";

int cmd_deploy(struct cmd_global *g, int argc, char **argv)
{
	struct svc_manifest_set set;
	struct svc_manifest *m = NULL;
	struct svc_deploy_opts opts = { 0 };
	struct svc_rollout_result res;
	struct svc_error err = { 0 };
	struct cmd_args a;
	char rid[65];
	int rc, code;

	if ((code = cmd_parse_service_args(g, argc, argv, CMD_OPT_TIMEOUT, usage, help, &a)) >= 0)
		return code;
	opts.timeout_ms = a.timeout_ms;
	if ((code = cmd_load_service(g, &set, a.service, &m)))
		goto done;
	memset(&res, 0, sizeof(res));
	rc = svc_rollout_release_id(m, rid, &err);
	if (rc == 0)
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
