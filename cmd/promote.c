/*
 * promote.c - `svcctl promote SERVICE`: switch traffic to the release that
 * waits for manual promotion (rollout.promote: manual).
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "svcctl promote SERVICE";

int cmd_promote(struct cmd_global *g, int argc, char **argv)
{
	struct svc_rollout_result res;
	struct svc_error err = { 0 };
	const char *service = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n"
			       "For rollout.promote: manual. Checks that green is still healthy, then\n"
			       "switches traffic to it, bakes, and keeps blue warm.\n", usage);
			return EXIT_OK;
		}
		if (argv[i][0] == '-')
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		if (service)
			return cmd_usage_error(g, usage, "one service at a time");
		service = argv[i];
	}
	if (!service)
		return cmd_usage_error(g, usage, "which service?");
	if (!svc_name_valid(service))
		return cmd_usage_error(g, usage, "invalid service name '%s'", service);
	memset(&res, 0, sizeof(res));
	rc = svc_rollout_promote(&g->ctx, service, &res, &err);
	if (g->json)
		cmd_result_rollout(g, &res, rc, &err);
	else if (rc)
		cmd_fail(g, rc, &err);
	return cmd_exit_code(rc);
}
