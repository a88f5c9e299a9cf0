/*
 * state/sync_rec.c - what `svcctl sync` records per service: sync.json, the
 * last pass's commit and outcome (written only by a pass, under the state
 * dir's pass lock), and suspend.json, an operator's suspension (written only
 * by `sync --suspend` / `--unsuspend`). Two files, so that neither writer
 * ever rewrites what the other wrote.
 */
#include "state/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char *const sync_outcome_names[] = {
	[SVC_SYNC_SYNCED] = "synced",
	[SVC_SYNC_FAILED] = "failed",
	[SVC_SYNC_INVALID] = "invalid",
	[SVC_SYNC_PRUNED] = "pruned",
};

const char *svc_sync_outcome_name(enum svc_sync_outcome o)
{
	return (size_t)o < sizeof(sync_outcome_names) / sizeof(sync_outcome_names[0])
		? sync_outcome_names[o] : "unknown";
}

static bool is_commit(const char *s)
{
	return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

static void jr_commit(struct jr *r, char dst[41], const json_t *o, const char *key,
		      bool empty_ok)
{
	const char *s = jr_str(r, o, key);

	if (r->rc)
		return;
	if (!(empty_ok && !s[0]) && !is_commit(s)) {
		jr_fail(r, "'%s' is not a commit id", key);
		return;
	}
	snprintf(dst, 41, "%s", s);
}

void svc_sync_rec_release(struct svc_sync_rec *rec)
{
	free(rec->repo);
	free(rec->path);
	free(rec->message);
	memset(rec, 0, sizeof(*rec));
}

int state_sync_rec_from_json(struct svc_sync_rec *out, const json_t *j, const char *path,
			     struct svc_error *err)
{
	struct jr r;
	const char *outcome, *repo, *p, *msg;

	memset(out, 0, sizeof(*out));
	jr_init(&r, path, err);
	repo = jr_str(&r, j, "repo");
	p = jr_str(&r, j, "path");
	jr_commit(&r, out->commit, j, "commit", false);
	jr_release(&r, out->release, j, "release", true);
	outcome = jr_str(&r, j, "outcome");
	if (!r.rc) {
		int o = -1;
		for (size_t i = 0; i < sizeof(sync_outcome_names) / sizeof(sync_outcome_names[0]); i++)
			if (!strcmp(outcome, sync_outcome_names[i]))
				o = (int)i;
		if (o < 0)
			jr_fail(&r, "unknown outcome '%s'", outcome);
		else
			out->outcome = (enum svc_sync_outcome)o;
	}
	jr_release(&r, out->failed_release, j, "failed_release", true);
	jr_commit(&r, out->failed_commit, j, "failed_commit", true);
	msg = jr_str_opt(&r, j, "message");
	out->time_ms = jr_int(&r, j, "time_ms", 0, INT64_MAX);
	if (r.rc) {
		memset(out, 0, sizeof(*out));
		return r.rc;
	}
	out->repo = svc_strdup(repo);
	out->path = svc_strdup(p);
	out->message = msg ? svc_strdup(msg) : NULL;
	return 0;
}

int svc_sync_rec_load(struct svc_sync_rec *out, const char *state_dir, const char *service,
		      struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/sync.json", state_dir, service);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = state_json_read(&j, path, err)))
		rc = state_sync_rec_from_json(out, j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_sync_rec_save(const struct svc_sync_rec *rec, const char *state_dir,
		      const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/sync.json", state_dir, service);
	json_t *j = state_json_new();
	int rc;

	json_object_set_new(j, "repo", json_string(rec->repo ? rec->repo : ""));
	json_object_set_new(j, "path", json_string(rec->path ? rec->path : ""));
	json_object_set_new(j, "commit", json_string(rec->commit));
	json_object_set_new(j, "release", json_string(rec->release));
	json_object_set_new(j, "outcome", json_string(svc_sync_outcome_name(rec->outcome)));
	json_object_set_new(j, "failed_release", json_string(rec->failed_release));
	json_object_set_new(j, "failed_commit", json_string(rec->failed_commit));
	json_object_set_new(j, "message", rec->message ? json_string(rec->message) : json_null());
	json_object_set_new(j, "time_ms", json_integer(rec->time_ms));
	rc = state_json_write(j, state_dir, service, path, err);
	json_decref(j);
	free(path);
	return rc;
}

void svc_suspension_release(struct svc_suspension *s)
{
	free(s->reason);
	free(s->user);
	memset(s, 0, sizeof(*s));
}

int state_suspension_from_json(struct svc_suspension *out, const json_t *j, const char *path,
			       struct svc_error *err)
{
	struct jr r;
	const char *reason, *user;

	memset(out, 0, sizeof(*out));
	jr_init(&r, path, err);
	reason = jr_str(&r, j, "reason");
	user = jr_str(&r, j, "user");
	out->since_ms = jr_int(&r, j, "since_ms", 0, INT64_MAX);
	if (r.rc) {
		memset(out, 0, sizeof(*out));
		return r.rc;
	}
	out->reason = svc_strdup(reason);
	out->user = svc_strdup(user);
	return 0;
}

int svc_suspension_load(struct svc_suspension *out, const char *state_dir,
			const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/suspend.json", state_dir, service);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = state_json_read(&j, path, err)))
		rc = state_suspension_from_json(out, j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_suspension_save(const struct svc_suspension *s, const char *state_dir,
			const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/suspend.json", state_dir, service);
	json_t *j = state_json_new();
	int rc;

	json_object_set_new(j, "reason", json_string(s->reason ? s->reason : ""));
	json_object_set_new(j, "user", json_string(s->user ? s->user : ""));
	json_object_set_new(j, "since_ms", json_integer(s->since_ms));
	rc = state_json_write(j, state_dir, service, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_suspension_clear(const char *state_dir, const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/suspend.json", state_dir, service);
	int rc = 0;

	if (unlink(path) == 0)
		rc = 0;
	else if (errno == ENOENT)
		rc = SVC_ENOTFOUND;
	else
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove '%s'", path);
	free(path);
	return rc;
}
