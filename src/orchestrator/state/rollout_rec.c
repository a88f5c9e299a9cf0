/*
 * state/rollout_rec.c - rollout.json: the rollout in progress, written
 * before each step is taken, so that the next command can finish or undo
 * it. Steps have one name table, here.
 */
#include "state/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char *const step_names[] = {
	[SVC_STEP_STARTING] = "starting",
	[SVC_STEP_HEALTH] = "health",
	[SVC_STEP_AWAIT_PROMOTE] = "awaiting-promotion",
	[SVC_STEP_SWITCHING] = "switching",
	[SVC_STEP_BAKING] = "baking",
	[SVC_STEP_DRAINING] = "draining",
};

const char *svc_rollout_step_name(enum svc_rollout_step s)
{
	if ((size_t)s < sizeof(step_names) / sizeof(step_names[0]))
		return step_names[s];
	return "unknown";
}

int state_rollout_rec_from_json(struct svc_rollout_rec *out, const json_t *j,
				const char *path, struct svc_error *err)
{
	struct jr r;
	const char *kind, *step;
	int found = -1;

	memset(out, 0, sizeof(*out));
	jr_init(&r, path, err);
	kind = jr_str(&r, j, "kind");
	if (!r.rc && svc_release_kind_parse(kind) < 0)
		jr_fail(&r, "unknown kind '%s'", kind);
	out->kind = r.rc ? SVC_KIND_DEPLOY : (enum svc_release_kind)svc_release_kind_parse(kind);
	jr_release(&r, out->release, j, "release", false);
	jr_color(&r, out->color, j, "color", false);
	jr_release(&r, out->blue, j, "blue", true);
	jr_color(&r, out->blue_color, j, "blue_color", !out->blue[0]);
	out->history_seq = (int)jr_int(&r, j, "history_seq", 1, INT32_MAX);
	out->owner_pid = (pid_t)jr_int(&r, j, "owner_pid", 0, INT32_MAX);
	out->started_ms = jr_int(&r, j, "started_ms", 0, INT64_MAX);
	out->step_ms = jr_int(&r, j, "step_ms", 0, INT64_MAX);
	step = jr_str(&r, j, "step");
	for (size_t i = 0; !r.rc && i < sizeof(step_names) / sizeof(step_names[0]); i++)
		if (!strcmp(step, step_names[i]))
			found = (int)i;
	if (!r.rc && found < 0)
		jr_fail(&r, "unknown step '%s'", step);
	out->step = found < 0 ? SVC_STEP_STARTING : (enum svc_rollout_step)found;
	if (r.rc)
		memset(out, 0, sizeof(*out));
	return r.rc;
}

int svc_rollout_rec_load(struct svc_rollout_rec *out, const char *state_dir,
			 const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/rollout.json", state_dir, service);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = state_json_read(&j, path, err)))
		rc = state_rollout_rec_from_json(out, j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_rollout_rec_save(struct svc_rollout_rec *rec, const char *state_dir,
			 const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/rollout.json", state_dir, service);
	json_t *j = state_json_new();
	int rc;

	rec->step_ms = svc_now_ms();
	json_object_set_new(j, "kind", json_string(svc_release_kind_name(rec->kind)));
	json_object_set_new(j, "release", json_string(rec->release));
	json_object_set_new(j, "color", json_string(rec->color));
	json_object_set_new(j, "history_seq", json_integer(rec->history_seq));
	json_object_set_new(j, "step", json_string(svc_rollout_step_name(rec->step)));
	json_object_set_new(j, "blue", json_string(rec->blue));
	json_object_set_new(j, "blue_color", json_string(rec->blue_color));
	json_object_set_new(j, "owner_pid", json_integer(rec->owner_pid));
	json_object_set_new(j, "started_ms", json_integer(rec->started_ms));
	json_object_set_new(j, "step_ms", json_integer(rec->step_ms));
	rc = state_json_write(j, state_dir, service, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_rollout_rec_clear(const char *state_dir, const char *service,
			  struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/rollout.json", state_dir, service);
	int rc = 0;

	if (unlink(path) && errno != ENOENT)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove '%s'", path);
	free(path);
	return rc;
}
