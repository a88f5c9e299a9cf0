/*
 * base/git.h - the libgit2 operations svcctl needs on a bare repository,
 * shared by the builder's dependency cache (builder/deps.c) and, with
 * GitOps, the sync of manifests: fetch every branch and tag, resolve a ref
 * to a commit, and write a commit's tree out as files.
 *
 * Callers own the repository (git_repository_open / _init) and its
 * locking; messages here name the location and libgit2's reason, and
 * callers prefix what the repository is for ("dependency 'libgreet': ").
 * libgit2 is set up by svc_global_init (global.h), called from main.
 * (struct git_repository is libgit2's git_repository: this header does not
 * need git2.h.)
 */
#ifndef SVC_BASE_GIT_H
#define SVC_BASE_GIT_H

#include <stdbool.h>

#include "error.h"

#define SVC_COMMIT_HEX_LEN 40

struct git_repository;

/* libgit2's last error message, or a placeholder. */
const char *svc_git_reason(void);

/*
 * Open the bare repository at path, creating an empty one when there is
 * none (the caller holds whatever lock guards path). SVC_EGENERIC with
 * libgit2's reason.
 */
int svc_git_open_bare(struct git_repository **out, const char *path, struct svc_error *err);

/*
 * Fetch every branch and tag of location into repo, force-updating refs
 * that moved (a moved tag is followed) and deleting refs that are gone.
 * SVC_EUNAVAIL when the source cannot be read: "the repository 'PATH'
 * does not exist" or "cannot fetch from 'LOCATION': REASON".
 */
int svc_git_fetch_all(struct git_repository *repo, const char *location, struct svc_error *err);
/* The same; *head (may be NULL) gets the remote's HEAD branch name, NULL when it has none. */
int svc_git_fetch_all_head(struct git_repository *repo, const char *location, char **head,
			   struct svc_error *err);

/*
 * The commit ref names in repo: a tag, else a branch, else any revision
 * git understands (a commit id or prefix), peeled to a commit. Exact names
 * first: a branch called "beef" is not a commit prefix; a ref starting
 * with '-' is only ever a name. 0, or SVC_ENOTFOUND (err unset).
 */
int svc_git_resolve(struct git_repository *repo, const char *ref, char out[SVC_COMMIT_HEX_LEN + 1]);

/* Whether commit (40 lowercase hex) is a commit in repo. */
bool svc_git_has_commit(struct git_repository *repo, const char *commit);

/*
 * Write the tree of commit (40 lowercase hex) as files into dir, which must
 * not exist: built in a temporary sibling and renamed into place, so dir
 * is whole or absent. Read-only once written, since an export is an input
 * that no build or instance may change: folders 0555, files 0444 or 0555
 * (the executable bit), symlinks as symlinks; svc_rm_rf removes it. A submodule or an entry named
 * ".", ".." or with a '/' is refused (SVC_EFAILED, naming it).
 */
int svc_git_export(struct git_repository *repo, const char *commit, const char *dir,
		   struct svc_error *err);

#endif
