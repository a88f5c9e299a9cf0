/*
 * lockfile.h - `<service>.lock`, beside the manifest: the exact commit each
 * dependency of a service's build is pinned to. Meant to be committed.
 *
 * Format (JSON, 2-space indent, keys sorted, final newline; written by
 * svcctl, read strictly):
 *   {
 *     "dependencies": [
 *       {"commit": "<40 hex>", "git": "../deps/libgreet.git", "name": "libgreet", "ref": "v1"}
 *     ],
 *     "service": "greeter",
 *     "version": 1
 *   }
 * Dependencies appear in the manifest's order; git and ref are copied as
 * written in the manifest, so a lock matches a manifest when both list the
 * same names with the same git and ref, in any order.
 */
#ifndef SVC_LOCKFILE_H
#define SVC_LOCKFILE_H

#include <stddef.h>

#include "error.h"
#include "manifest.h"

struct svc_lock_entry {
	char *name;
	char *git;
	char *ref;
	char commit[41];
};

struct svc_lockfile {
	char *service;
	struct svc_lock_entry *deps;
	size_t ndeps;
};

/* MANIFEST_DIR/SERVICE.lock. Caller frees. */
char *svc_lockfile_path(const struct svc_manifest *m);

/*
 * Read a lock file. SVC_ENOTFOUND (no message needed by callers, but one is
 * set) when it does not exist. Anything else wrong (not JSON, unknown or
 * missing key, wrong type, a commit that is not 40 lowercase hex, a
 * duplicate name, version other than 1) is SVC_EMANIFEST with
 * "PATH:LINE:COL: message" positions where jansson gives them. Caller
 * releases *out with svc_lockfile_release.
 */
int svc_lockfile_load(struct svc_lockfile *out, const char *path,
		      struct svc_error *err);

/*
 * The same parser over len bytes of buf (need not be NUL-terminated; the
 * loader above reads the file and calls this): path only names the file in
 * messages. Never SVC_ENOTFOUND; more than 1 MiB is SVC_EMANIFEST.
 */
int svc_lockfile_load_buffer(struct svc_lockfile *out, const char *buf, size_t len,
			     const char *path, struct svc_error *err);

/* Write atomically (mode 0644: it is meant to be committed). */
int svc_lockfile_save(const struct svc_lockfile *lf, const char *path,
		      struct svc_error *err);

void svc_lockfile_release(struct svc_lockfile *lf);

/*
 * Whether lf matches m's build.dependencies (and service name): SVC_EMANIFEST
 * "PATH: does not match the manifest's build.dependencies: <what differs,
 * e.g. 'libgreet: ref v2 in the manifest, v1 in the lock', 'libfoo: not in
 * the lock', 'libbar: not in the manifest'>; run 'svcctl lock SERVICE'".
 */
int svc_lockfile_check(const struct svc_lockfile *lf, const struct svc_manifest *m,
		       const char *path, struct svc_error *err);

/* The entry for dependency name, or NULL (borrowed). */
const struct svc_lock_entry *svc_lockfile_find(const struct svc_lockfile *lf,
					       const char *name);

#endif
