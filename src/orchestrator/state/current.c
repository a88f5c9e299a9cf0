/*
 * state/current.c - current.json: the active release and the warm previous
 * one, the file every command reads first.
 */
#include "state/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int state_current_from_json(struct svc_current *out, const json_t *j, const char *path,
			    struct svc_error *err)
{
	struct jr r;

	memset(out, 0, sizeof(*out));
	jr_init(&r, path, err);
	jr_release(&r, out->active, j, "active", true);
	jr_color(&r, out->active_color, j, "active_color", !out->active[0]);
	out->active_since_ms = jr_int(&r, j, "active_since_ms", 0, INT64_MAX);
	jr_release(&r, out->previous, j, "previous", true);
	jr_color(&r, out->previous_color, j, "previous_color", !out->previous[0]);
	out->previous_until_ms = jr_int(&r, j, "previous_until_ms", 0, INT64_MAX);
	if (!r.rc && out->active[0] && !strcmp(out->active, out->previous))
		jr_fail(&r, "the active release is also the warm one");
	if (r.rc)
		memset(out, 0, sizeof(*out));
	return r.rc;
}

int svc_current_load(struct svc_current *out, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/current.json", state_dir, service);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = state_json_read(&j, path, err)))
		rc = state_current_from_json(out, j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_current_save(const struct svc_current *cur, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/current.json", state_dir, service);
	json_t *j = state_json_new();
	int rc;

	json_object_set_new(j, "active", json_string(cur->active));
	json_object_set_new(j, "active_color", json_string(cur->active_color));
	json_object_set_new(j, "active_since_ms", json_integer(cur->active_since_ms));
	json_object_set_new(j, "previous", json_string(cur->previous));
	json_object_set_new(j, "previous_color", json_string(cur->previous_color));
	json_object_set_new(j, "previous_until_ms", json_integer(cur->previous_until_ms));
	rc = state_json_write(j, state_dir, service, path, err);
	json_decref(j);
	free(path);
	return rc;
}
