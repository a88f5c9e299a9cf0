/*
 * rollback.c - `svcctl rollback SERVICE [--to RELEASE]`: back to the last
 * promoted release (or the one named), by a route switch while it is warm.
 */
#include "cmd.h"

#include <string.h>

static const char usage[] = "svcctl rollback SERVICE [--to RELEASE] [--timeout DUR]";
static const char help[] =
	"Go back to the last release that was promoted before the active one,\n"
	"or to RELEASE (an id prefix of at least 4 characters, or #SEQ from\n"
	"'svcctl history'). While that release is warm this is a route switch:\n"
	"nothing restarts and there is no health wait. Otherwise it is started\n"
	"again behind the same health gate as a deploy (--timeout limits that\n"
	"wait). Its whole manifest is restored, not only its binary.\n";

int cmd_rollback(struct cmd_global *g, int argc, char **argv)
{
	struct svc_rollout_result res;
	struct svc_deploy_opts opts = { 0 };
	struct svc_error err = { 0 };
	struct cmd_args a;
	int rc;

	if ((rc = cmd_parse_service_args(g, argc, argv, CMD_OPT_TO | CMD_OPT_TIMEOUT, usage,
					 help, &a)) >= 0)
		return rc;
	opts.timeout_ms = a.timeout_ms;
	memset(&res, 0, sizeof(res));
	rc = svc_rollout_rollback(&g->ctx, a.service, a.to, &opts, &res, &err);
	if (g->json)
		cmd_result_rollout(g, &res, rc, &err);
	else if (rc)
		cmd_fail(g, rc, &err);
	return cmd_exit_code(rc);
}
