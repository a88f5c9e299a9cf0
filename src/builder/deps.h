/*
 * deps.h - the sources of pinned dependencies: a cache of bare git
 * repositories under the state dir, fetched with libgit2, and checked-out
 * trees of the exact commits builds use.
 *
 * Layout (folders 0700):
 *   STATE/deps/KEY/source.json       {"location": ..., "name": ...} (first user's name)
 *   STATE/deps/KEY/repo.git/         bare repository: every branch and tag of the source
 *   STATE/deps/KEY/versions/COMMIT/  the commit's tree as files (read by builds, never changed)
 *   STATE/deps/KEY/lock              flock(2): one svcctl process or thread at a time
 * KEY is the last path component of the location without ".git", reduced
 * to [A-Za-z0-9._-], a '-', and the first 12 hex of sha256(location).
 *
 * After the first fetch everything works offline: a locked commit already
 * in the cache is used without asking the source.
 */
#ifndef SVC_DEPS_H
#define SVC_DEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/git.h"   /* SVC_COMMIT_HEX_LEN */
#include "error.h"

/* libgit2 is set up by svc_global_init (global.h), called from main. */

/*
 * The canonical location of a dependency's `git:` value: a URL is kept as
 * written (contains "://", or is scp-like "user@host:path"); anything else
 * is a path, resolved against base_dir (the manifest's folder) and
 * normalized ("." and ".." segments, repeated slashes), absolute, without a
 * trailing slash. Caller frees.
 */
char *svc_dep_location(const char *git, const char *base_dir);

/* STATE/deps/KEY for location. Caller frees. */
char *svc_dep_cache_dir(const char *state_dir, const char *location);

/* An open cache entry; holds its lock until closed. */
struct svc_dep_source;

/*
 * Open the cache entry for location, creating it (and an empty bare
 * repository) when missing, and take its lock, waiting for other holders
 * (threads of this process included). name is the dependency's name, used
 * in messages ("dependency 'libgreet'") and in source.json.
 */
int svc_dep_open(struct svc_dep_source **out, const char *state_dir,
		 const char *location, const char *name, struct svc_error *err);
/* Release the lock and free; NULL is a no-op. */
void svc_dep_close(struct svc_dep_source *s);

/*
 * Fetch every branch and tag of the location into the cache, force-updating
 * refs that moved (a moved tag is followed) and deleting refs that are gone.
 * SVC_EUNAVAIL when the source cannot be read, with a message naming the
 * dependency, the location and libgit2's reason.
 */
int svc_dep_fetch(struct svc_dep_source *s, struct svc_error *err);

/*
 * Resolve ref against the cache (no fetch): a full commit id, an
 * abbreviated one (at least 4 hex), a tag, a branch, or anything
 * git_revparse_single accepts; annotated tags are peeled to their commit.
 * out gets the commit's 40 hex. SVC_ENOTFOUND: "dependency 'libgreet':
 * ref 'v9' not found in '/x/libgreet.git'".
 */
int svc_dep_resolve(struct svc_dep_source *s, const char *ref,
		    char out[SVC_COMMIT_HEX_LEN + 1], struct svc_error *err);

/* True when the cache holds commit (40 hex) as a commit object. */
bool svc_dep_has_commit(struct svc_dep_source *s, const char *commit);

/*
 * Make sure STATE/deps/KEY/versions/COMMIT holds the commit's tree: regular
 * files (0755 when the git mode is executable, else 0644), folders,
 * symlinks; submodule entries are refused with an error. Written into a
 * temporary folder beside it and renamed, so a version folder is complete
 * or absent. *path (caller frees) is the version folder.
 */
int svc_dep_checkout(struct svc_dep_source *s, const char *commit, char **path,
		     struct svc_error *err);

/*
 * The common case, under one lock: give the commit to build with and its
 * version folder.
 *  - locked (40 hex, not NULL): used as is; the source is fetched only when
 *    the cache does not hold it; still missing afterwards: SVC_EFAILED
 *    "dependency 'libgreet': locked commit 1a2b3c4d5e6f is not in
 *    '/x/libgreet.git'".
 *  - locked NULL: fetch, then resolve ref. When the fetch fails but the cache
 *    resolves ref, that commit is used and *warning (caller frees, else NULL)
 *    says the source could not be reached.
 * commit_out gets 40 hex; *version_dir (caller frees) the folder.
 */
int svc_dep_pin(const char *state_dir, const char *location, const char *name,
		const char *ref, const char *locked,
		char commit_out[SVC_COMMIT_HEX_LEN + 1], char **version_dir,
		char **warning, struct svc_error *err);

/* One cache entry, as listed. */
struct svc_dep_cached {
	char *dir;           /* STATE/deps/KEY */
	char *location;      /* from source.json; NULL when unreadable */
	char *name;          /* from source.json; may be NULL */
	char **versions;     /* commits with a version folder, sorted, NULL-terminated */
	size_t nversions;
};

/* Every cache entry, sorted by dir. Caller frees with svc_dep_cached_free. */
int svc_dep_cache_list(const char *state_dir, struct svc_dep_cached **out,
		       size_t *count, struct svc_error *err);
void svc_dep_cached_free(struct svc_dep_cached *list, size_t count);

#endif
