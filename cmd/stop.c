/*
 * stop.c - `svcctl stop SERVICE`: every instance stopped, routes removed,
 * history kept.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const char usage[] = "svcctl stop SERVICE";

int cmd_stop(struct cmd_global *g, int argc, char **argv)
{
	struct svc_error err = { 0 };
	const char *service = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\nStop every instance of SERVICE (all releases) and remove\n"
			       "its routes. Its history is kept; 'svcctl deploy' starts it again.\n",
			       usage);
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
	rc = svc_rollout_stop(&g->ctx, service, &err);
	if (rc)
		return cmd_fail(g, rc, &err);
	if (g->json)
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s}", "command", "stop",
							"ok", 1, "exit_code", 0, "service", service));
	return EXIT_OK;
}
