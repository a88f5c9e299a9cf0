/*
 * stop.c - `svcctl stop SERVICE`: every instance stopped, routes removed,
 * history kept.
 */
#include "cmd.h"

static const char usage[] = "svcctl stop SERVICE";
static const char help[] =
	"Stop every instance of SERVICE (all releases) and remove its routes.\n"
	"Its history is kept; 'svcctl deploy' starts it again.\n";

int cmd_stop(struct cmd_global *g, int argc, char **argv)
{
	struct svc_error err = { 0 };
	struct cmd_args a;
	int rc;

	if ((rc = cmd_parse_service_args(g, argc, argv, 0, usage, help, &a)) >= 0)
		return rc;
	rc = svc_rollout_stop(&g->ctx, a.service, &err);
	if (rc)
		return cmd_fail(g, rc, &err);
	if (g->json)
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s}", "command", "stop",
							"ok", 1, "exit_code", 0, "service", a.service));
	return EXIT_OK;
}
