/*
 * history.c - `svcctl history SERVICE`: every release attempt with its id,
 * version, artifact and pinned dependencies, the image it ran by digest,
 * time and outcome (and why it failed).
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "state/state.h"
#include "util.h"

static const char usage[] = "svcctl history SERVICE";
static const char help[] =
	"Every release of SERVICE, oldest first: sequence number, release id,\n"
	"version, artifact id, kind (deploy or rollback), start time and\n"
	"outcome (promoted, awaiting-promotion, aborted and why, rolled-back and\n"
	"why). '*' marks the entry that made the active release active. For a\n"
	"service with a build, the artifact id and, below it, each dependency's\n"
	"ref and pinned commit. Below a release that ran an image by digest (a\n"
	"registry's image, pushed by build.push or resolved from run.image's tag\n"
	"when it was first deployed), that image.\n";

int cmd_history(struct cmd_global *g, int argc, char **argv)
{
	struct svc_service_state st;
	struct svc_history *hp = &st.hist;
	struct svc_error err = { 0 };
	const char *service;
	struct cmd_args a;
	json_t *arr;
	long active = -1;
	int rc;

	if ((rc = cmd_parse_service_args(g, argc, argv, 0, usage, help, &a)) >= 0)
		return rc;
	service = a.service;
	if ((rc = svc_rollout_load_state(&g->ctx, service, &st, &err))) {
		svc_service_state_release(&st);
		return cmd_fail(g, rc, &err);
	}
	/* the entry that made the active release active: its newest one */
	for (size_t i = 0; i < hp->count; i++)
		if (!strcmp(hp->items[i].release, st.cur.active))
			active = (long)i;
	if (g->json) {
		arr = json_array();
		for (size_t i = 0; i < hp->count; i++) {
			json_t *e = svc_history_entry_to_json(&hp->items[i]);
			json_object_set_new(e, "active", json_boolean((long)i == active));
			json_array_append_new(arr, e);
		}
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s, s:o}",
			"command", "history", "ok", 1, "exit_code", 0, "service", service,
			"releases", arr));
	} else if (!hp->count) {
		printf("service '%s' has no releases\n", service);
	} else {
		printf("  %4s %-12s %-10s %-12s %-8s %-20s %s\n", "SEQ", "RELEASE", "VERSION",
		       "ARTIFACT", "KIND", "STARTED", "OUTCOME");
		for (size_t i = 0; i < hp->count; i++) {
			const struct svc_history_entry *e = &hp->items[i];
			char t[32];
			printf("%c %4d %.12s %-10s %-12.12s %-8s %-20s %s%s%s\n",
			       (long)i == active ? '*' : ' ', e->seq, e->release,
			       e->version ? e->version : "-", e->artifact ? e->artifact->id : "-",
			       svc_release_kind_name(e->kind),
			       svc_time_format(t, sizeof(t), e->started_ms),
			       svc_outcome_name(e->outcome), e->reason ? ": " : "",
			       e->reason ? e->reason : "");
			if (e->origin)
				printf("%7s sync %.12s (%s, %s)\n", "", e->origin->commit,
				       e->origin->repo, e->origin->path);
			if (e->image)
				printf("%7s image %s\n", "", e->image);
			for (size_t k = 0; e->artifact && k < e->artifact->ndeps; k++)
				printf("%7s dependency %s %s at %.12s\n", "",
				       e->artifact->deps[k].name, e->artifact->deps[k].ref,
				       e->artifact->deps[k].commit);
		}
	}
	svc_service_state_release(&st);
	return EXIT_OK;
}
