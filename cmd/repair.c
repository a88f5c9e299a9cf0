/*
 * repair.c - `svcctl repair SERVICE [--yes]`: the way out when a state file
 * of SERVICE cannot be read. Shows what would be rebuilt from what runs
 * and what could not be recovered; writes only with --yes.
 */
#include "cmd.h"

#include <stdio.h>

#include "repair.h"

static const char usage[] = "svcctl repair SERVICE [--yes]";
static const char help[] =
	"Rebuild the state files of SERVICE that cannot be read (or are missing\n"
	"while instances run) from what runs: the instances the runtime reports\n"
	"(container labels, supervisor files), the router's table and the stored\n"
	"releases. Files that can be read are kept. Prints what it would write\n"
	"and what it could not recover; writes only with --yes, keeping each\n"
	"replaced file as FILE.unreadable-TIME. Starts and stops nothing.\n"
	"\n"
	"  --yes   write the plan\n";

int cmd_repair(struct cmd_global *g, int argc, char **argv)
{
	struct svc_error err = { 0 };
	struct svc_repair_plan p;
	struct cmd_args a;
	json_t *files, *lost;
	int rc;

	if ((rc = cmd_parse_service_args(g, argc, argv, CMD_OPT_YES, usage, help, &a)) >= 0)
		return rc;
	if ((rc = svc_repair_run(&p, &g->ctx, a.service, a.yes, &err)))
		return cmd_fail(g, rc, &err);
	files = json_array();
	lost = json_array();
	for (size_t i = 0; i < p.nfiles; i++) {
		const struct svc_repair_file *f = &p.files[i];
		json_array_append_new(files, json_pack("{s:s, s:b, s:s?, s:s}", "path", f->path,
			"readable", f->problem == NULL, "problem", f->problem, "action", f->action));
		if (!g->json && (f->problem || f->action[0]))
			printf("%s\n  problem: %s\n  %s%s\n", f->path,
			       f->problem ? f->problem : "none",
			       f->action[0] ? f->action : "kept as it is",
			       f->action[0] && p.written ? " (done)" : "");
	}
	for (size_t i = 0; p.lost && p.lost[i]; i++) {
		json_array_append_new(lost, json_string(p.lost[i]));
		if (!g->json)
			printf("could not recover: %s\n", p.lost[i]);
	}
	if (!g->json) {
		if (!p.changes)
			printf("%s: nothing to repair\n", a.service);
		else if (!p.written)
			printf("%s: nothing written; run 'svcctl repair %s --yes' to write this\n",
			       a.service, a.service);
		else
			printf("%s: repaired\n", a.service);
	}
	svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s, s:b, s:b, s:o, s:o}",
		"command", "repair", "ok", 1, "exit_code", 0, "service", a.service,
		"changes", p.changes, "written", p.written, "files", files, "lost", lost));
	svc_repair_plan_release(&p);
	return EXIT_OK;
}
