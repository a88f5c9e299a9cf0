/*
 * logs.c - `svcctl logs SERVICE [-f]`: the output of the service's
 * instances (the active release's, or every running one when none is
 * active), read through the runtime driver.
 */
#include "cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/driver.h"
#include "state/state.h"
#include "util.h"

static const char usage[] = "svcctl logs SERVICE [-f|--follow] [--all]";
static const char help[] =
	"Print the output (stdout and stderr) of SERVICE's instances: those of\n"
	"the active release, or with --all those of every release that runs.\n"
	"-f keeps following until interrupted.\n";

int cmd_logs(struct cmd_global *g, int argc, char **argv)
{
	struct svc_runtime *rt = NULL;
	struct svc_instance_list all = { 0 };
	struct svc_service_state st = { 0 };
	struct svc_current cur;
	struct svc_error err = { 0 };
	const char *service;
	struct cmd_args a;
	bool follow, every;
	size_t shown = 0;
	pid_t *kids = NULL;
	int rc, code = EXIT_OK;

	if ((code = cmd_parse_service_args(g, argc, argv, CMD_OPT_FOLLOW | CMD_OPT_ALL, usage,
					   help, &a)) >= 0)
		return code;
	code = EXIT_OK;
	service = a.service;
	follow = a.follow;
	every = a.all;
	if ((rc = svc_rollout_load_state(&g->ctx, service, &st, &err))) {
		code = cmd_fail(g, rc, &err);
		goto done;
	}
	cur = st.cur;
	if ((rc = svc_rollout_open_runtime(&rt, &g->ctx, &st, &err)) ||
	    (rc = rt->ops->list(rt, service, &all, &err))) {
		code = cmd_fail(g, rc, &err);
		goto done;
	}
	kids = svc_calloc(all.count + 1, sizeof(*kids));
	for (size_t i = 0; i < all.count; i++) {
		const struct svc_instance *in = &all.items[i];
		if (!every && cur.active[0] && strcmp(in->release, cur.active))
			continue;
		if (in->state == SVC_INST_GONE || in->state == SVC_INST_STOPPED)
			continue;
		shown++;
		if (!follow) {
			if (!g->json && g->verbosity >= 0)
				printf("==> %s (release %.12s, %s) <==\n", in->id, in->release, in->color);
			fflush(stdout);
			if ((rc = rt->ops->logs(rt, in, false, STDOUT_FILENO, &err))) {
				code = cmd_fail(g, rc, &err);
				goto done;
			}
			continue;
		}
		/* follow every instance at once: one child each */
		fflush(stdout);
		kids[i] = fork();
		if (kids[i] == 0) {
			int r = rt->ops->logs(rt, in, true, STDOUT_FILENO, NULL);
			_exit(r ? 1 : 0);
		}
	}
	if (!shown) {
		svc_error_set(&err, SVC_ENOTFOUND, "service '%s' has no running instances", service);
		code = cmd_fail(g, SVC_ENOTFOUND, &err);
		goto done;
	}
	if (follow) {
		for (size_t i = 0; i < all.count; i++)
			if (kids[i] > 0)
				waitpid(kids[i], NULL, 0);
	}
done:
	free(kids);
	svc_service_state_release(&st);
	svc_instance_list_release(&all);
	svc_runtime_free(rt);
	return code;
}
