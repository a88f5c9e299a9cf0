/*
 * state_files.c - every file under the state dir that a state loader
 * reads, with the parser that loader runs.
 *
 * The files belong to modules of every layer (state, sync, the runtimes,
 * the router; a stored manifest is read by the manifest loader), so the
 * table sits above all of them, beside rollout, and none of them includes
 * it: state/ looks only down.
 *
 * Tests and fuzzers iterate this table (svcctl __state-files prints it), so
 * a new state file is covered by the corruption test and the fuzzer by
 * adding a row here, without touching either.
 */
#include "state_files.h"

#include <stdlib.h>

#include "manifest.h"
#include "runtime/proc/proc.h"           /* an instance's files: their parsers are the runtime's */
#include "router/router.h"         /* the router's saved table: its parser is the router's */
#include "state/internal.h"
#include "util.h"

static int check_current(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_current cur;
	json_t *j = NULL;
	int rc;

	if (!(rc = state_json_parse(&j, buf, len, path, err)))
		rc = state_current_from_json(&cur, j, path, err);
	json_decref(j);
	return rc;
}

static int check_history(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_history h = { 0 };
	json_t *j = NULL;
	int rc;

	if (!(rc = state_json_parse(&j, buf, len, path, err)))
		rc = state_history_from_json(&h, j, path, err);
	svc_history_release(&h);
	json_decref(j);
	return rc;
}

static int check_rollout(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_rollout_rec rec;
	json_t *j = NULL;
	int rc;

	if (!(rc = state_json_parse(&j, buf, len, path, err)))
		rc = state_rollout_rec_from_json(&rec, j, path, err);
	json_decref(j);
	return rc;
}

static int check_release_meta(const char *buf, size_t len, const char *path,
			      struct svc_error *err)
{
	char *src = NULL, *base = NULL, *pin = NULL;
	struct svc_artifact_ref *art = NULL;
	json_t *j = NULL;
	int rc;

	if (!(rc = state_json_parse(&j, buf, len, path, err)))
		rc = state_release_meta_from_json(&src, &base, &pin, &art, j, path, err);
	free(src);
	free(base);
	free(pin);
	svc_artifact_ref_free(art);
	json_decref(j);
	return rc;
}

static int check_sync_rec(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_sync_rec rec;
	json_t *j = NULL;
	int rc;

	if (!(rc = state_json_parse(&j, buf, len, path, err)))
		rc = state_sync_rec_from_json(&rec, j, path, err);
	if (!rc)
		svc_sync_rec_release(&rec);
	json_decref(j);
	return rc;
}

static int check_suspension(const char *buf, size_t len, const char *path,
			    struct svc_error *err)
{
	struct svc_suspension s;
	json_t *j = NULL;
	int rc;

	if (!(rc = state_json_parse(&j, buf, len, path, err)))
		rc = state_suspension_from_json(&s, j, path, err);
	if (!rc)
		svc_suspension_release(&s);
	json_decref(j);
	return rc;
}

/* A stored manifest is read back by the manifest loader, as the release's. */
static int check_stored_manifest(const char *buf, size_t len, const char *path,
				 struct svc_error *err)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	int rc;

	svc_diags_init(&d);
	rc = svc_manifest_load_buffer(&m, buf, len, path, "/", &d);
	if (rc) {
		char msg[1200];
		if (d.count)
			svc_error_format(&d.items[0], msg, sizeof(msg));
		rc = svc_error_set(err, SVC_ESTATE, "%s: invalid stored manifest: %s", path,
				   d.count ? msg : "cannot be parsed");
	}
	svc_manifest_free(m);
	svc_diags_release(&d);
	return rc;
}

const struct svc_state_file svc_state_files[] = {
	{ "services/*/current.json", "state", check_current },
	{ "services/*/history.json", "state", check_history },
	{ "services/*/rollout.json", "state", check_rollout },
	{ "services/*/sync.json", "sync", check_sync_rec },
	{ "services/*/suspend.json", "sync", check_suspension },
	{ "services/*/releases/*/release.json", "state", check_release_meta },
	{ "services/*/releases/*/manifest.yaml", "state", check_stored_manifest },
	{ "services/*/instances/*/spec.json", "proc", svc_proc_spec_check },
	{ "services/*/instances/*/status.json", "proc", svc_proc_status_check },
	{ "services/*/instances/*/expire_at", "proc", svc_proc_expire_check },
	{ "router/routes.json", "router", svc_router_table_check },
	{ NULL, NULL, NULL },
};
