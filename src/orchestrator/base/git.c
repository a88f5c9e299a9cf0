/*
 * base/git.c - fetch, resolve and export with libgit2 (see base/git.h).
 */
#include "base/git.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

const char *svc_git_reason(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

static int peel_commit(git_repository *repo, const char *spec, git_oid *out)
{
	git_object *obj = NULL, *commit = NULL;
	int rc = -1;

	if (git_revparse_single(&obj, repo, spec) == 0 &&
	    git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) == 0) {
		git_oid_cpy(out, git_object_id(commit));
		rc = 0;
	}
	git_object_free(commit);
	git_object_free(obj);
	return rc;
}

int svc_git_open_bare(struct git_repository **out, const char *path, struct svc_error *err)
{
	*out = NULL;
	if (svc_path_exists(path) ? git_repository_open_bare(out, path)
				  : git_repository_init(out, path, 1))
		return svc_error_set(err, SVC_EGENERIC, "cannot open the repository '%s': %s", path,
				     svc_git_reason());
	return 0;
}

int svc_git_fetch_all(struct git_repository *repo, const char *location, struct svc_error *err)
{
	return svc_git_fetch_all_head(repo, location, NULL, err);
}

int svc_git_fetch_all_head(struct git_repository *repo, const char *location, char **head,
			   struct svc_error *err)
{
	static char heads[] = "+refs/heads/*:refs/heads/*", tags[] = "+refs/tags/*:refs/tags/*";
	char *specs[] = { heads, tags };
	git_strarray refspecs = { specs, 2 };
	git_fetch_options opts;
	git_remote *remote = NULL;
	int rc = 0;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	if (location[0] == '/' && !svc_path_exists(location))
		return svc_error_set(err, SVC_EUNAVAIL, "the repository '%s' does not exist",
				     location);
	/*
	 * Tags come from the forced refspec, so a moved tag is followed. With
	 * libgit2 1.5's default (AUTO) a moved tag stays where it was;
	 * check_deps' moved-tag tests fail then.
	 */
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.prune = GIT_FETCH_PRUNE;
	if (head)
		*head = NULL;
	if (git_remote_create_anonymous(&remote, repo, location) ||
	    git_remote_connect(remote, GIT_DIRECTION_FETCH, &opts.callbacks, &opts.proxy_opts,
			       &opts.custom_headers)) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "cannot fetch from '%s': %s", location,
				   svc_git_reason());
		goto done;
	}
	if (head) {
		git_buf b = { 0 };
		const char *pre = "refs/heads/";
		if (git_remote_default_branch(&b, remote) == 0 && b.ptr &&
		    !strncmp(b.ptr, pre, strlen(pre)))
			*head = svc_strdup(b.ptr + strlen(pre));
		git_buf_dispose(&b);
	}
	if (git_remote_fetch(remote, &refspecs, &opts, NULL))
		rc = svc_error_set(err, SVC_EUNAVAIL, "cannot fetch from '%s': %s", location,
				   svc_git_reason());
done:
	git_remote_free(remote);
	return rc;
}

int svc_git_resolve(struct git_repository *repo, const char *ref,
		    char out[SVC_COMMIT_HEX_LEN + 1])
{
	char *tag = svc_strfmt("refs/tags/%s", ref), *head = svc_strfmt("refs/heads/%s", ref);
	git_oid oid;
	int found = peel_commit(repo, tag, &oid) == 0 ||
		    peel_commit(repo, head, &oid) == 0 ||
		    (ref[0] != '-' && peel_commit(repo, ref, &oid) == 0);

	free(tag);
	free(head);
	if (!found)
		return SVC_ENOTFOUND;
	git_oid_tostr(out, SVC_COMMIT_HEX_LEN + 1, &oid);
	return 0;
}

bool svc_git_has_commit(struct git_repository *repo, const char *commit)
{
	git_commit *c = NULL;
	git_oid oid;
	bool ok = svc_hex_is(commit, SVC_COMMIT_HEX_LEN) && git_oid_fromstr(&oid, commit) == 0 &&
		  git_commit_lookup(&c, repo, &oid) == 0;

	git_commit_free(c);
	return ok;
}

/* ---- export ---- */

static bool safe_name(const char *name)
{
	return name[0] && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/');
}

static int write_blob(git_repository *repo, const git_tree_entry *te, int dirfd,
		      const char *rel, struct svc_error *err)
{
	git_filemode_t mode = git_tree_entry_filemode(te);
	const char *name = git_tree_entry_name(te);
	git_blob *blob = NULL;
	int fd = -1, rc = 0;

	if (git_blob_lookup(&blob, repo, git_tree_entry_id(te)))
		return svc_error_set(err, SVC_EGENERIC, "cannot read '%s': %s", rel, svc_git_reason());
	if (mode == GIT_FILEMODE_LINK) {
		char *target = svc_calloc((size_t)git_blob_rawsize(blob) + 1, 1);

		memcpy(target, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
		if (symlinkat(target, dirfd, name))
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", rel);
		free(target);
		goto done;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0555 : 0444) ||
	    svc_write_all(fd, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob)))
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", rel);
done:
	if (fd >= 0 && close(fd) && !rc)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", rel);
	git_blob_free(blob);
	return rc;
}

static int write_tree(git_repository *repo, const git_tree *tree, int dirfd,
		      const char *prefix, struct svc_error *err)
{
	size_t n = git_tree_entrycount(tree);
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(te);
		char *rel = svc_strfmt("%s%s%s", prefix, prefix[0] ? "/" : "", name);
		git_tree *sub = NULL;
		int subfd = -1;

		if (!safe_name(name)) {
			rc = svc_error_set(err, SVC_EFAILED, "a tree entry named '%s' in '%s' is "
					   "refused", name, prefix[0] ? prefix : "/");
		} else if (git_tree_entry_filemode(te) == GIT_FILEMODE_COMMIT) {
			rc = svc_error_set(err, SVC_EFAILED, "'%s' is a git submodule: submodules "
					   "are not supported", rel);
		} else if (git_tree_entry_filemode(te) == GIT_FILEMODE_TREE) {
			if (mkdirat(dirfd, name, 0755) ||
			    (subfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			    fchmod(subfd, 0755))
				rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'",
							 rel);
			else if (git_tree_lookup(&sub, repo, git_tree_entry_id(te)))
				rc = svc_error_set(err, SVC_EGENERIC, "cannot read '%s': %s", rel,
						   svc_git_reason());
			else if (!(rc = write_tree(repo, sub, subfd, rel, err)) && fchmod(subfd, 0555))
				rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'",
							 rel);
		} else {
			rc = write_blob(repo, te, dirfd, rel, err);
		}
		git_tree_free(sub);
		if (subfd >= 0)
			close(subfd);
		free(rel);
	}
	return rc;
}

int svc_git_export(struct git_repository *repo, const char *commit, const char *dir,
		   struct svc_error *err)
{
	char *tmp = svc_strfmt("%s.tmp-XXXXXX", dir);
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	int rc = SVC_EGENERIC, fd = -1;

	if (!svc_hex_is(commit, SVC_COMMIT_HEX_LEN) || git_oid_fromstr(&oid, commit) ||
	    git_commit_lookup(&c, repo, &oid) || git_commit_tree(&tree, c)) {
		rc = svc_error_set(err, SVC_EFAILED, "cannot read commit %.12s: %s", commit,
				   svc_git_reason());
		goto done;
	}
	if (!mkdtemp(tmp) || (fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchmod(fd, 0755)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", tmp);
		goto done;
	}
	if ((rc = write_tree(repo, tree, fd, "", err)))
		goto done;
	if (fchmod(fd, 0555)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", tmp);
		goto done;
	}
	if (rename(tmp, dir))
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", dir);
done:
	if (fd >= 0)
		close(fd);
	if (rc)
		svc_rm_rf(tmp);
	git_tree_free(tree);
	git_commit_free(c);
	free(tmp);
	return rc;
}
