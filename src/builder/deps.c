/*
 * deps.c - the dependency cache: one bare repository per source, fetched
 * with libgit2, and the exact commits builds use written out as folders
 * (see deps.h for the layout).
 */
#include "deps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "util.h"

struct svc_dep_source {
	char *dir;               /* STATE/deps/KEY */
	char *location;
	char *name;
	git_repository *repo;
	int lock_fd;
};

static const char *git_reason(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

/* ---- locations and keys ---- */

static bool is_url(const char *git)
{
	const char *colon = strchr(git, ':'), *slash = strchr(git, '/');

	if (strstr(git, "://"))
		return true;
	/* scp-like user@host:path: a colon before any slash, and an '@' before it */
	return colon && (!slash || colon < slash) && memchr(git, '@', (size_t)(colon - git));
}

char *svc_dep_location(const char *git, const char *base_dir)
{
	return is_url(git) ? svc_strdup(git) : svc_path_resolve(base_dir, git);
}

char *svc_dep_cache_dir(const char *state_dir, const char *location)
{
	char hex[SVC_HASH_HEX_LEN + 1], base[64];
	const char *last = location, *p;
	size_t n = 0;

	svc_sha256_hex(hex, location, strlen(location));
	for (p = location; *p; p++)
		if ((*p == '/' || *p == ':') && p[1])
			last = p + 1;
	for (p = last; *p && *p != '/' && n < 40; p++)
		base[n++] = (strchr("-._", *p) || (*p >= 'a' && *p <= 'z') ||
			     (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ? *p : '_';
	base[n] = '\0';
	if (n > 4 && !strcmp(base + n - 4, ".git"))
		base[n - 4] = '\0';
	return svc_strfmt("%s/deps/%s-%.12s", state_dir, base[0] ? base : "dep", hex);
}

/* ---- open, lock, fetch ---- */

void svc_dep_close(struct svc_dep_source *s)
{
	if (!s)
		return;
	git_repository_free(s->repo);
	if (s->lock_fd >= 0)
		close(s->lock_fd);     /* releases the flock */
	free(s->dir);
	free(s->location);
	free(s->name);
	free(s);
}

static int write_source_json(const struct svc_dep_source *s, struct svc_error *err)
{
	char *path = svc_strfmt("%s/source.json", s->dir);
	json_t *j;
	int rc = 0;

	if (!svc_path_exists(path)) {
		j = json_pack("{s:s, s:s}", "location", s->location, "name", s->name);
		rc = svc_json_file_write(j, path, err);
		json_decref(j);
	}
	free(path);
	return rc;
}

int svc_dep_open(struct svc_dep_source **out, const char *state_dir,
		 const char *location, const char *name, struct svc_error *err)
{
	struct svc_dep_source *s = svc_calloc(1, sizeof(*s));
	char *path = NULL;
	int rc;

	*out = NULL;
	s->lock_fd = -1;
	s->dir = svc_dep_cache_dir(state_dir, location);
	s->location = svc_strdup(location);
	s->name = svc_strdup(name);
	if ((rc = svc_mkdir_p(s->dir, 0700, err)))
		goto fail;
	path = svc_strfmt("%s/lock", s->dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	while (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_EX) && errno == EINTR)
		;
	if (s->lock_fd < 0) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot lock '%s'", path);
		goto fail;
	}
	free(path);
	path = svc_strfmt("%s/repo.git", s->dir);
	if (svc_path_exists(path) ? git_repository_open_bare(&s->repo, path)
				  : git_repository_init(&s->repo, path, 1)) {
		rc = svc_error_set(err, SVC_EGENERIC, "dependency '%s': cannot open the cache "
				   "'%s': %s", name, path, git_reason());
		goto fail;
	}
	if ((rc = write_source_json(s, err)))
		goto fail;
	free(path);
	*out = s;
	return 0;
fail:
	free(path);
	svc_dep_close(s);
	return rc;
}

int svc_dep_fetch(struct svc_dep_source *s, struct svc_error *err)
{
	static char heads[] = "+refs/heads/*:refs/heads/*", tags[] = "+refs/tags/*:refs/tags/*";
	char *specs[] = { heads, tags };
	git_strarray refspecs = { specs, 2 };
	git_fetch_options opts;
	git_remote *remote = NULL;
	int rc = 0;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	if (s->location[0] == '/' && !svc_path_exists(s->location))
		return svc_error_set(err, SVC_EUNAVAIL, "dependency '%s': the repository '%s' "
				     "does not exist", s->name, s->location);
	/*
	 * Tags come from the forced refspec, so a moved tag is followed. With
	 * libgit2 1.5's default (AUTO) a moved tag stays where it was;
	 * check_deps' moved-tag tests fail then.
	 */
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.prune = GIT_FETCH_PRUNE;
	if (git_remote_create_anonymous(&remote, s->repo, s->location) ||
	    git_remote_fetch(remote, &refspecs, &opts, NULL))
		rc = svc_error_set(err, SVC_EUNAVAIL, "dependency '%s': cannot fetch from '%s': %s",
				   s->name, s->location, git_reason());
	git_remote_free(remote);
	return rc;
}

/* ---- refs and commits ---- */

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

int svc_dep_resolve(struct svc_dep_source *s, const char *ref,
		    char out[SVC_COMMIT_HEX_LEN + 1], struct svc_error *err)
{
	/* exact names first: a branch called "beef" is not a commit prefix */
	char *tag = svc_strfmt("refs/tags/%s", ref), *head = svc_strfmt("refs/heads/%s", ref);
	git_oid oid;
	int found = peel_commit(s->repo, tag, &oid) == 0 ||
		    peel_commit(s->repo, head, &oid) == 0 ||
		    (ref[0] != '-' && peel_commit(s->repo, ref, &oid) == 0);

	free(tag);
	free(head);
	if (!found)
		return svc_error_set(err, SVC_ENOTFOUND, "dependency '%s': ref '%s' not found in '%s'",
				     s->name, ref, s->location);
	git_oid_tostr(out, SVC_COMMIT_HEX_LEN + 1, &oid);
	return 0;
}

bool svc_dep_has_commit(struct svc_dep_source *s, const char *commit)
{
	git_commit *c = NULL;
	git_oid oid;
	bool ok = svc_hex_is(commit, SVC_COMMIT_HEX_LEN) && git_oid_fromstr(&oid, commit) == 0 &&
		  git_commit_lookup(&c, s->repo, &oid) == 0;

	git_commit_free(c);
	return ok;
}

/* ---- checkout ---- */

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
		return svc_error_set(err, SVC_EGENERIC, "cannot read '%s': %s", rel, git_reason());
	if (mode == GIT_FILEMODE_LINK) {
		char *target = svc_calloc((size_t)git_blob_rawsize(blob) + 1, 1);

		memcpy(target, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
		if (symlinkat(target, dirfd, name))
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", rel);
		free(target);
		goto done;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644) ||
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
					   "are not supported in dependencies", rel);
		} else if (git_tree_entry_filemode(te) == GIT_FILEMODE_TREE) {
			if (mkdirat(dirfd, name, 0755) ||
			    (subfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			    fchmod(subfd, 0755))
				rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'",
							 rel);
			else if (git_tree_lookup(&sub, repo, git_tree_entry_id(te)))
				rc = svc_error_set(err, SVC_EGENERIC, "cannot read '%s': %s", rel,
						   git_reason());
			else
				rc = write_tree(repo, sub, subfd, rel, err);
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

int svc_dep_checkout(struct svc_dep_source *s, const char *commit, char **path,
		     struct svc_error *err)
{
	char *versions = svc_strfmt("%s/versions", s->dir);
	char *final = svc_strfmt("%s/%s", versions, commit), *tmp = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	int rc, fd = -1;

	*path = NULL;
	/* git would take "ABC..." too, and the commit becomes a path below */
	if (!svc_hex_is(commit, SVC_COMMIT_HEX_LEN)) {
		rc = svc_error_set(err, SVC_EFAILED, "dependency '%s': '%s' is not a commit id (40 "
				   "lowercase hex)", s->name, commit);
		goto done;
	}
	if (svc_path_exists(final)) {
		rc = 0;
		goto done;
	}
	if ((rc = svc_mkdir_p(versions, 0700, err)))
		goto done;
	if (git_oid_fromstr(&oid, commit) || git_commit_lookup(&c, s->repo, &oid) ||
	    git_commit_tree(&tree, c)) {
		rc = svc_error_set(err, SVC_EFAILED, "dependency '%s': cannot read commit %.12s: %s",
				   s->name, commit, git_reason());
		goto done;
	}
	tmp = svc_strfmt("%s/.tmp-%.12s-XXXXXX", versions, commit);
	if (!mkdtemp(tmp) || (fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchmod(fd, 0755)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", tmp);
		goto done;
	}
	if ((rc = write_tree(s->repo, tree, fd, "", err))) {
		char buf[1200];
		svc_error_format(err, buf, sizeof(buf));
		svc_error_clear(err);
		rc = svc_error_set(err, rc, "dependency '%s' at %.12s: %s", s->name, commit, buf);
		goto done;
	}
	if (rename(tmp, final))
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", final);
done:
	if (fd >= 0)
		close(fd);
	if (tmp && rc)
		svc_rm_rf(tmp);
	if (!rc) {
		*path = final;
		final = NULL;
	}
	git_tree_free(tree);
	git_commit_free(c);
	free(tmp);
	free(final);
	free(versions);
	return rc;
}

int svc_dep_pin(const char *state_dir, const char *location, const char *name,
		const char *ref, const char *locked,
		char commit_out[SVC_COMMIT_HEX_LEN + 1], char **version_dir,
		char **warning, struct svc_error *err)
{
	struct svc_dep_source *s = NULL;
	int rc;

	*version_dir = NULL;
	*warning = NULL;
	/* a path that is not there and never was: leave no cache entry for it */
	if (location[0] == '/' && !svc_path_exists(location)) {
		char *dir = svc_dep_cache_dir(state_dir, location);
		bool cached = svc_path_exists(dir);

		free(dir);
		if (!cached)
			return svc_error_set(err, SVC_EUNAVAIL, "dependency '%s': the repository "
					     "'%s' does not exist", name, location);
	}
	if ((rc = svc_dep_open(&s, state_dir, location, name, err)))
		return rc;
	if (locked) {
		/* offline when the cache has it */
		if (!svc_dep_has_commit(s, locked) && (rc = svc_dep_fetch(s, err)))
			goto done;
		if (!svc_dep_has_commit(s, locked)) {
			rc = svc_error_set(err, SVC_EFAILED, "dependency '%s': locked commit %.12s is "
					   "not in '%s'", name, locked, location);
			goto done;
		}
		snprintf(commit_out, SVC_COMMIT_HEX_LEN + 1, "%s", locked);
	} else {
		struct svc_error fetch_err = { 0 };
		char buf[1200];

		if (svc_dep_fetch(s, &fetch_err)) {
			if (svc_dep_resolve(s, ref, commit_out, NULL)) {
				rc = svc_error_set(err, fetch_err.code, "%s", fetch_err.message);
				goto done;
			}
			*warning = svc_strfmt("%s; using the cached %s (%.12s)",
					      svc_error_format(&fetch_err, buf, sizeof(buf)), ref,
					      commit_out);
		} else if ((rc = svc_dep_resolve(s, ref, commit_out, err))) {
			goto done;
		}
	}
	rc = svc_dep_checkout(s, commit_out, version_dir, err);
done:
	svc_dep_close(s);
	return rc;
}

/* ---- listing ---- */

void svc_dep_cached_free(struct svc_dep_cached *list, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(list[i].dir);
		free(list[i].location);
		free(list[i].name);
		svc_strv_free(list[i].versions);
	}
	free(list);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_versions(const char *dir, size_t *n)
{
	char *vdir = svc_strfmt("%s/versions", dir);
	DIR *d = opendir(vdir);
	char **v = svc_calloc(1, sizeof(*v));
	struct dirent *de;

	*n = 0;
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != SVC_COMMIT_HEX_LEN)
			continue;
		v = svc_realloc(v, *n + 2, sizeof(*v));
		v[(*n)++] = svc_strdup(de->d_name);
		v[*n] = NULL;
	}
	if (d)
		closedir(d);
	qsort(v, *n, sizeof(*v), cmp_str);
	free(vdir);
	return v;
}

int svc_dep_cache_list(const char *state_dir, struct svc_dep_cached **out,
		       size_t *count, struct svc_error *err)
{
	char *root = svc_strfmt("%s/deps", state_dir);
	DIR *d = opendir(root);
	struct svc_dep_cached *list = svc_calloc(1, sizeof(*list));
	struct dirent *de;
	size_t n = 0;

	(void)err;
	while (d && (de = readdir(d))) {
		struct svc_dep_cached *c;
		char *meta;
		json_t *j = NULL;

		if (de->d_name[0] == '.')
			continue;
		list = svc_realloc(list, n + 2, sizeof(*list));
		c = &list[n++];
		memset(c, 0, sizeof(*c));
		c->dir = svc_strfmt("%s/%s", root, de->d_name);
		meta = svc_strfmt("%s/source.json", c->dir);
		if (svc_json_file_read(&j, meta, 1 << 16, NULL) == 0) {
			const char *loc = json_string_value(json_object_get(j, "location"));
			const char *name = json_string_value(json_object_get(j, "name"));
			c->location = loc ? svc_strdup(loc) : NULL;
			c->name = name ? svc_strdup(name) : NULL;
		}
		json_decref(j);
		free(meta);
		c->versions = list_versions(c->dir, &c->nversions);
	}
	if (d)
		closedir(d);
	free(root);
	/* sorted by dir */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && strcmp(list[k - 1].dir, list[k].dir) > 0; k--) {
			struct svc_dep_cached t = list[k];
			list[k] = list[k - 1];
			list[k - 1] = t;
		}
	*out = list;
	*count = n;
	return 0;
}
