/*
 * promote.c - `svcctl promote SERVICE`: switch traffic to the release that
 * waits for manual promotion (rollout.promote: manual).
 */
#include "cmd.h"

#include <string.h>

static const char usage[] = "svcctl promote SERVICE";
static const char help[] =
	"For rollout.promote: manual. Checks that the waiting release is still\n"
	"healthy, then switches traffic to it, bakes, and keeps the old one warm.\n";

int cmd_promote(struct cmd_global *g, int argc, char **argv)
{
	struct svc_rollout_result res;
	struct svc_error err = { 0 };
	struct cmd_args a;
	int rc;

	if ((rc = cmd_parse_service_args(g, argc, argv, 0, usage, help, &a)) >= 0)
		return rc;
	memset(&res, 0, sizeof(res));
	rc = svc_rollout_promote(&g->ctx, a.service, &res, &err);
	if (g->json)
		cmd_result_rollout(g, &res, rc, &err);
	else if (rc)
		cmd_fail(g, rc, &err);
	return cmd_exit_code(rc);
}
