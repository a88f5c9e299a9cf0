/*
 * history.c - `svcctl history SERVICE`: every release attempt with its id,
 * version, manifest hash, time and outcome (and why it failed).
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "state.h"
#include "util.h"

static const char usage[] = "svcctl history SERVICE";

int cmd_history(struct cmd_global *g, int argc, char **argv)
{
	struct svc_history h;
	struct svc_current cur;
	struct svc_error err = { 0 };
	const char *service = NULL;
	json_t *arr;
	long active = -1;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\nEvery release of SERVICE, oldest first: sequence number,\n"
			       "release id, version, manifest hash, kind (deploy or rollback), start\n"
			       "time and outcome (promoted, awaiting-promotion, aborted and why,\n"
			       "rolled-back and why). '*' marks the active release.\n", usage);
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
	if ((rc = svc_history_load(&h, g->state_dir, service, &err)))
		return cmd_fail(g, rc, &err);
	svc_current_load(&cur, g->state_dir, service, NULL);
	/* the entry that made the active release active: its newest one */
	for (size_t i = 0; i < h.count; i++)
		if (!strcmp(h.items[i].release, cur.active))
			active = (long)i;
	if (g->json) {
		arr = json_array();
		for (size_t i = 0; i < h.count; i++) {
			json_t *e = svc_history_entry_to_json(&h.items[i]);
			json_object_set_new(e, "active", json_boolean((long)i == active));
			json_array_append_new(arr, e);
		}
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s, s:o}",
			"command", "history", "ok", 1, "exit_code", 0, "service", service,
			"releases", arr));
	} else if (!h.count) {
		printf("service '%s' has no releases\n", service);
	} else {
		printf("  %4s %-12s %-10s %-12s %-8s %-20s %s\n", "SEQ", "RELEASE", "VERSION",
		       "MANIFEST", "KIND", "STARTED", "OUTCOME");
		for (size_t i = 0; i < h.count; i++) {
			const struct svc_history_entry *e = &h.items[i];
			char t[32];
			printf("%c %4d %.12s %-10s %.12s %-8s %-20s %s%s%s\n",
			       (long)i == active ? '*' : ' ', e->seq, e->release,
			       e->version ? e->version : "-", e->manifest_hash,
			       e->kind ? e->kind : "deploy",
			       svc_time_format(t, sizeof(t), e->started_ms),
			       e->outcome ? e->outcome : "-", e->reason ? ": " : "",
			       e->reason ? e->reason : "");
		}
	}
	svc_history_release(&h);
	return EXIT_OK;
}
