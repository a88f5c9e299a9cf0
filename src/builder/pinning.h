/*
 * pinning.h - which exact version of each dependency each service builds
 * with: writing lock files (`svcctl lock`), and the who-uses-what report
 * (`svcctl deps`, `svcctl deps unused`).
 *
 * The version a manifest uses is its lock file's commit when it has a lock
 * that matches it; without one, the commit its ref names in the dependency
 * cache as last fetched (nothing is fetched for a report), or unknown when
 * it was never fetched.
 */
#ifndef SVC_PINNING_H
#define SVC_PINNING_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"
#include "manifest.h"
#include "report.h"

/*
 * Write m's lock file (MANIFEST_DIR/SERVICE.lock). Without update, entries
 * of an existing lock whose name, git and ref still match the manifest keep
 * their commit; everything else is resolved now (fetched through the
 * cache). With update, every ref is resolved again. *out (caller owns) is
 * {"service", "path", "dependencies": [{"name","git","ref","commit",
 * "change": "kept"|"added"|"updated"|"unchanged", "previous": commit|null}]}.
 * A ref that cannot be resolved: SVC_EFAILED and the lock file is untouched.
 */
int svc_pin_lock(const char *state_dir, const struct svc_manifest *m, bool update,
		 struct svc_report *r, json_t **out, struct svc_error *err);

/*
 * Every dependency of ms (locations merged across manifests) with each
 * version in use and who uses it:
 * {"dependencies": [{"name", "git" (canonical location), "versions":
 *   [{"commit" (null when unknown), "refs": [...], "locked": bool,
 *     "services": [...]}]}]}
 * sorted by name, then location; versions by commit.
 */
json_t *svc_pin_report(const char *state_dir, struct svc_manifest *const *ms, size_t n);

/*
 * Cached versions (and whole cached repositories) that no manifest in ms
 * uses: {"unused": [{"name", "git", "commit" (null: the whole repository),
 * "path", "bytes"}]}. For gc, with delete true they are removed (taking each
 * cache entry's lock) and "deleted" is set on each.
 */
int svc_pin_unused(const char *state_dir, struct svc_manifest *const *ms, size_t n,
		   bool delete, json_t **out, struct svc_error *err);

#endif
