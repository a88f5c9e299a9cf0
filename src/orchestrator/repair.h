/*
 * repair.h - `svcctl repair SERVICE`: rebuild the state files of a service
 * that cannot be read from what actually runs.
 *
 * The runtime knows which instances run and of which release and color
 * (container labels, supervisor files); the router knows which of them take
 * traffic; the stored releases (releases/ID/) know what each release was.
 * From these, repair plans current.json (active: the routed release, else
 * the newest running one; warm: another running release that expires later),
 * history.json (one entry per stored or running release, oldest first) and
 * the removal of an unreadable rollout.json. Files that can be read are
 * kept. Nothing is written unless asked; every unreadable file replaced is
 * kept beside it as FILE.unreadable-TIME, so nothing is lost.
 */
#ifndef SVC_REPAIR_H
#define SVC_REPAIR_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "rollout.h"
#include "state/state.h"

/* What repair found for one state file, and what it does about it. */
struct svc_repair_file {
	char *path;
	char *problem;     /* why it cannot be read; NULL when it can (or is absent) */
	char *action;      /* what repair writes ("" when it is kept as it is) */
};

struct svc_repair_plan {
	char service[64];
	struct svc_repair_file *files;
	size_t nfiles;
	char **lost;       /* what could not be recovered, one sentence each */
	bool changes;      /* something would be written */
	bool written;      /* and was (svc_repair_run with write) */
	/* the plan itself */
	struct svc_current cur;
	struct svc_history hist;
	bool write_current, write_history, remove_rollout;
};

void svc_repair_plan_release(struct svc_repair_plan *p);

/*
 * Plan the repair of service and, with write, carry it out (under the
 * service's lock: SVC_ELOCKED when another operation holds it). Fills *out
 * on success; release it with svc_repair_plan_release.
 */
int svc_repair_run(struct svc_repair_plan *out, struct svc_ctx *ctx, const char *service,
		   bool write, struct svc_error *err);

#endif
