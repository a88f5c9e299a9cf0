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

#include "base/git.h"
#include "hash.h"
#include "util.h"

struct svc_dep_source {
	char *dir;               /* STATE/deps/KEY */
	char *location;
	char *name;
	git_repository *repo;
	int lock_fd;
};

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
	struct svc_error e = { 0 };
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
	if ((rc = svc_git_open_bare(&s->repo, path, &e))) {
		svc_error_set(err, rc, "dependency '%s': %s", name, e.message);
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
	struct svc_error e;
	int rc;

	svc_error_clear(&e);
	if ((rc = svc_git_fetch_all(s->repo, s->location, &e)))
		svc_error_set(err, rc, "dependency '%s': %s", s->name, e.message);
	return rc;
}

/* ---- refs and commits ---- */

int svc_dep_resolve(struct svc_dep_source *s, const char *ref,
		    char out[SVC_COMMIT_HEX_LEN + 1], struct svc_error *err)
{
	if (svc_git_resolve(s->repo, ref, out))
		return svc_error_set(err, SVC_ENOTFOUND, "dependency '%s': ref '%s' not found in '%s'",
				     s->name, ref, s->location);
	return 0;
}

bool svc_dep_has_commit(struct svc_dep_source *s, const char *commit)
{
	return svc_git_has_commit(s->repo, commit);
}

/* ---- checkout ---- */

int svc_dep_checkout(struct svc_dep_source *s, const char *commit, char **path,
		     struct svc_error *err)
{
	char *versions = svc_strfmt("%s/versions", s->dir);
	char *final = svc_strfmt("%s/%s", versions, commit);
	struct svc_error e;
	int rc;

	*path = NULL;
	svc_error_clear(&e);
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
	if ((rc = svc_git_export(s->repo, commit, final, &e)))
		svc_error_set(err, rc, "dependency '%s' at %.12s: %s", s->name, commit, e.message);
done:
	if (!rc) {
		*path = final;
		final = NULL;
	}
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
