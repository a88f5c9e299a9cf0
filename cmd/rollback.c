/*
 * rollback.c - `svcctl rollback SERVICE [--to RELEASE]`: back to the last
 * promoted release (or the one named), by a route switch while it is warm.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const char usage[] = "svcctl rollback SERVICE [--to RELEASE] [--timeout DUR]";

int cmd_rollback(struct cmd_global *g, int argc, char **argv)
{
	struct svc_rollout_result res;
	struct svc_deploy_opts opts = { 0 };
	struct svc_error err = { 0 };
	const char *service = NULL, *to = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n"
			       "Go back to the last release that was promoted before the active one,\n"
			       "or to RELEASE (an id prefix of at least 4 characters, or #SEQ from\n"
			       "'svcctl history'). While that release is warm this is a route switch:\n"
			       "nothing restarts and there is no health wait. Otherwise it is started\n"
			       "again behind the same health gate as a deploy. Its whole manifest is\n"
			       "restored, not only its binary.\n", usage);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--to")) {
			if (i + 1 >= argc)
				return cmd_usage_error(g, usage, "--to needs a release");
			to = argv[++i];
		} else if (!strcmp(argv[i], "--timeout")) {
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
	if (!svc_name_valid(service))
		return cmd_usage_error(g, usage, "invalid service name '%s'", service);
	memset(&res, 0, sizeof(res));
	rc = svc_rollout_rollback(&g->ctx, service, to, &opts, &res, &err);
	if (g->json)
		cmd_result_rollout(g, &res, rc, &err);
	else if (rc)
		cmd_fail(g, rc, &err);
	return cmd_exit_code(rc);
}
