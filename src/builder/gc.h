/*
 * gc.h - deleting what no release needs any more (`svcctl gc`).
 *
 * Per service (under its lock and build lock; a service whose lock is held
 * is skipped with a warning):
 *  - artifacts (folders, or images through the Docker engine) except those
 *    of its last `keep` releases, its active and warm releases, a rollout in
 *    progress, and the newest artifact built since its newest release
 *    started that no release runs (a build waiting to be deployed);
 *  - folders of failed builds, and build logs beyond the newest 20.
 * Then, across services: cached dependency versions and repositories that no
 * manifest uses (pinning.h).
 * Stored release manifests and history are never deleted: a release whose
 * artifact is gone can no longer be rolled back to, and says so.
 */
#ifndef SVC_GC_H
#define SVC_GC_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"
#include "manifest.h"
#include "report.h"

#define SVC_GC_KEEP_DEFAULT 5
#define SVC_GC_KEEP_LOGS 20

struct svc_service_state;
/*
 * The releases of a service gc keeps what they need for: active, warm, a
 * rollout in progress (both sides), and its last keep distinct releases.
 * NULL-terminated; caller frees with svc_strv_free.
 */
char **svc_gc_kept_releases(const struct svc_service_state *st, int keep);

struct svc_gc_opts {
	int keep;          /* releases kept per service (>= 1) */
	bool dry_run;      /* list, delete nothing */
};

/*
 * *out (caller owns): {"dry_run", "deleted": [{"kind": "artifact" |
 * "build-folder" | "build-log" | "dependency", ...}], "kept": [{"service",
 * "artifact", "why"}], "skipped": [service...], "freed_bytes"}.
 */
int svc_gc(const char *state_dir, struct svc_manifest *const *ms, size_t n,
	   const struct svc_gc_opts *o, struct svc_report *r, json_t **out,
	   struct svc_error *err);

#endif
