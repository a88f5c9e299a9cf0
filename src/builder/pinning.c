/*
 * pinning.c - lock files written from resolved refs, and the report of which
 * service uses which version of which dependency.
 */
#include "pinning.h"

#include <string.h>

#include "deps.h"
#include "lockfile.h"
#include "tree.h"
#include "util.h"

/* ---- svcctl lock ---- */

static const struct svc_lock_entry *still_matching(const struct svc_lockfile *old,
						   const struct svc_dependency *d)
{
	const struct svc_lock_entry *e = old ? svc_lockfile_find(old, d->name) : NULL;

	if (e && !strcmp(e->git, d->git) && !strcmp(e->ref, d->ref))
		return e;
	return NULL;
}

static int read_old_lock(struct svc_lockfile *old, bool *have, const char *path,
			 bool update, struct svc_error *err)
{
	struct svc_error e = { 0 };
	char buf[1200];
	int rc = svc_lockfile_load(old, path, &e);

	*have = rc == 0;
	if (rc == 0 || rc == SVC_ENOTFOUND)
		return 0;
	if (update)    /* it is about to be replaced as a whole */
		return 0;
	return svc_error_set(err, rc, "%s; fix it, delete it, or run 'svcctl lock --update'",
			     svc_error_format(&e, buf, sizeof(buf)));
}

int svc_pin_lock(const char *state_dir, const struct svc_manifest *m, bool update,
		 struct svc_report *r, json_t **out, struct svc_error *err)
{
	const struct svc_build *b = &m->build;
	struct svc_lockfile old = { 0 }, lf = { 0 };
	char *path = svc_lockfile_path(m);
	json_t *deps = json_array();
	bool have_old = false;
	int rc;

	*out = NULL;
	if (!b->present) {
		rc = svc_error_set(err, SVC_EUSAGE, "service '%s' has no build section: nothing "
				   "to lock", m->service);
		goto done;
	}
	if ((rc = read_old_lock(&old, &have_old, path, update, err)))
		goto done;
	lf.service = m->service;
	lf.deps = svc_calloc(b->ndeps + 1, sizeof(*lf.deps));
	for (size_t i = 0; i < b->ndeps; i++) {
		const struct svc_dependency *d = &b->deps[i];
		const struct svc_lock_entry *prev = have_old ? svc_lockfile_find(&old, d->name) : NULL;
		const struct svc_lock_entry *keep = update ? NULL
					: still_matching(have_old ? &old : NULL, d);
		struct svc_lock_entry *e = &lf.deps[lf.ndeps];
		const char *change;

		e->name = d->name;
		e->git = d->git;
		e->ref = d->ref;
		if (keep) {
			memcpy(e->commit, keep->commit, sizeof(e->commit));
			change = "kept";
		} else {
			char *loc = svc_dep_location(d->git, m->dir), *vdir = NULL, *warn = NULL;

			svc_report_step(r, m->service, "fetch", "dependency %s: resolving %s in %s",
					d->name, d->ref, loc);
			rc = svc_dep_pin(state_dir, loc, d->name, d->ref, NULL, e->commit, &vdir,
					 &warn, err);
			free(loc);
			free(vdir);
			if (warn)
				svc_report_warn(r, m->service, "%s", warn);
			free(warn);
			if (rc) {
				if (rc == SVC_EUNAVAIL || rc == SVC_ENOTFOUND)
					rc = SVC_EFAILED;   /* as a build would (exit 1) */
				goto done;
			}
			change = !prev ? "added" : strcmp(prev->commit, e->commit) ? "updated"
										: "unchanged";
		}
		lf.ndeps++;
		svc_report_step(r, m->service, "lock", "dependency %s: %s at %.12s (%s%s%.12s)",
				d->name, d->ref, e->commit, change,
				prev && strcmp(prev->commit, e->commit) ? " from " : "",
				prev && strcmp(prev->commit, e->commit) ? prev->commit : "");
		json_array_append_new(deps, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
			"name", d->name, "git", d->git, "ref", d->ref, "commit", e->commit,
			"change", change, "previous",
			prev ? json_string(prev->commit) : json_null()));
	}
	if ((rc = svc_lockfile_save(&lf, path, err)))
		goto done;
	svc_report_step(r, m->service, "lock", "wrote %s", path);
	*out = json_pack("{s:s, s:s, s:O}", "service", m->service, "path", path,
			 "dependencies", deps);
done:
	free(lf.deps);            /* strings borrowed from m */
	if (have_old)
		svc_lockfile_release(&old);
	json_decref(deps);
	free(path);
	return rc;
}

/* ---- who uses what ---- */

/* One (location, version) a manifest uses. */
struct use {
	const char *service;
	const char *name;
	const char *ref;
	char *location;
	char commit[SVC_COMMIT_HEX_LEN + 1];   /* "" when unknown */
	bool locked;
};

/* The commit ref names in the cache as last fetched; "" when never fetched. */
static void cached_commit(const char *state_dir, const char *location, const char *name,
			  const char *ref, char out[SVC_COMMIT_HEX_LEN + 1])
{
	char *dir = svc_dep_cache_dir(state_dir, location);
	struct svc_dep_source *s = NULL;

	out[0] = '\0';
	if (svc_path_exists(dir) && svc_dep_open(&s, state_dir, location, name, NULL) == 0 &&
	    svc_dep_resolve(s, ref, out, NULL))
		out[0] = '\0';
	svc_dep_close(s);
	free(dir);
}

static struct use *collect_uses(const char *state_dir, struct svc_manifest *const *ms,
				size_t n, size_t *count)
{
	struct use *uses = NULL;
	size_t alloc = 0;

	*count = 0;
	for (size_t i = 0; i < n; i++) {
		const struct svc_manifest *m = ms[i];
		struct svc_lockfile lf = { 0 };
		char *path;
		bool loaded, locked;

		if (!m->build.present || !m->build.ndeps)
			continue;
		path = svc_lockfile_path(m);
		loaded = svc_lockfile_load(&lf, path, NULL) == 0;
		locked = loaded && svc_lockfile_check(&lf, m, path, NULL) == 0;
		for (size_t j = 0; j < m->build.ndeps; j++) {
			const struct svc_dependency *d = &m->build.deps[j];
			const struct svc_lock_entry *le = locked ? svc_lockfile_find(&lf, d->name) : NULL;
			struct use *u;

			if (*count + 1 > alloc) {
				alloc = alloc ? alloc * 2 : 16;
				uses = svc_realloc(uses, alloc, sizeof(*uses));
			}
			u = &uses[(*count)++];
			memset(u, 0, sizeof(*u));
			u->service = m->service;
			u->name = d->name;
			u->ref = d->ref;
			u->location = svc_dep_location(d->git, m->dir);
			u->locked = le != NULL;
			if (le)
				memcpy(u->commit, le->commit, sizeof(u->commit));
			else
				cached_commit(state_dir, u->location, d->name, d->ref, u->commit);
		}
		if (loaded)
			svc_lockfile_release(&lf);
		free(path);
	}
	return uses;
}

static void free_uses(struct use *uses, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(uses[i].location);
	free(uses);
}

static int cmp_use(const void *a, const void *b)
{
	const struct use *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (!c)
		c = strcmp(x->location, y->location);
	if (!c)
		c = strcmp(x->commit, y->commit);
	if (!c)
		c = strcmp(x->service, y->service);
	return c;
}

static void add_unique(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v), s))
			return;
	json_array_append_new(arr, json_string(s));
}

json_t *svc_pin_report(const char *state_dir, struct svc_manifest *const *ms, size_t n)
{
	size_t count;
	struct use *uses = collect_uses(state_dir, ms, n, &count);
	json_t *deps = json_array(), *dep = NULL, *ver = NULL;

	qsort(uses, count, sizeof(*uses), cmp_use);
	for (size_t i = 0; i < count; i++) {
		const struct use *u = &uses[i], *p = i ? &uses[i - 1] : NULL;
		bool same_dep = p && !strcmp(p->name, u->name) && !strcmp(p->location, u->location);

		if (!same_dep) {
			dep = json_pack("{s:s, s:s, s:[]}", "name", u->name, "git", u->location,
					"versions");
			json_array_append_new(deps, dep);
		}
		if (!same_dep || strcmp(p->commit, u->commit) || !u->commit[0]) {
			ver = json_pack("{s:o, s:[], s:b, s:[]}", "commit",
					u->commit[0] ? json_string(u->commit) : json_null(),
					"refs", "locked", u->locked, "services");
			json_array_append_new(json_object_get(dep, "versions"), ver);
		}
		add_unique(json_object_get(ver, "refs"), u->ref);
		add_unique(json_object_get(ver, "services"), u->service);
		if (!u->locked)   /* one unlocked user makes the version unpinned */
			json_object_set_new(ver, "locked", json_false());
	}
	free_uses(uses, count);
	return json_pack("{s:o}", "dependencies", deps);
}

static bool location_used(const struct use *uses, size_t n, const char *location)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(uses[i].location, location))
			return true;
	return false;
}

static bool version_used(const struct use *uses, size_t n, const char *location,
			 const char *commit)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(uses[i].location, location) && !strcmp(uses[i].commit, commit))
			return true;
	return false;
}

static void add_unused(json_t *arr, const struct svc_dep_cached *c, const char *commit,
		       const char *path, bool deleted)
{
	json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:I}",
		"name", c->name ? json_string(c->name) : json_null(),
		"git", c->location ? json_string(c->location) : json_null(),
		"commit", commit ? json_string(commit) : json_null(),
		"path", path, "bytes", (json_int_t)svc_tree_disk_usage(path));

	if (deleted)
		json_object_set_new(o, "deleted", json_true());
	json_array_append_new(arr, o);
}

/* Delete what is unused in one cache entry, under its lock. */
static void remove_unused(const char *state_dir, const struct svc_dep_cached *c,
			  bool whole, char **paths, size_t npaths)
{
	struct svc_dep_source *s = NULL;

	if (c->location)
		svc_dep_open(&s, state_dir, c->location, c->name ? c->name : "?", NULL);
	if (whole)
		svc_rm_rf(c->dir);
	else
		for (size_t i = 0; i < npaths; i++)
			svc_rm_rf(paths[i]);
	svc_dep_close(s);
}

int svc_pin_unused(const char *state_dir, struct svc_manifest *const *ms, size_t n,
		   bool delete, json_t **out, struct svc_error *err)
{
	struct svc_dep_cached *cache = NULL;
	size_t ncache = 0, nuses;
	struct use *uses;
	json_t *arr;
	int rc;

	*out = NULL;
	if ((rc = svc_dep_cache_list(state_dir, &cache, &ncache, err)))
		return rc;
	uses = collect_uses(state_dir, ms, n, &nuses);
	arr = json_array();
	for (size_t i = 0; i < ncache; i++) {
		const struct svc_dep_cached *c = &cache[i];
		bool whole = !c->location || !location_used(uses, nuses, c->location);
		char **paths = svc_calloc(c->nversions + 1, sizeof(*paths));
		size_t np = 0;

		if (whole) {
			add_unused(arr, c, NULL, c->dir, delete);
		} else {
			for (size_t j = 0; j < c->nversions; j++) {
				if (version_used(uses, nuses, c->location, c->versions[j]))
					continue;
				paths[np] = svc_strfmt("%s/versions/%s", c->dir, c->versions[j]);
				add_unused(arr, c, c->versions[j], paths[np], delete);
				np++;
			}
		}
		if (delete && (whole || np))
			remove_unused(state_dir, c, whole, paths, np);
		svc_strv_free(paths);
	}
	free_uses(uses, nuses);
	svc_dep_cached_free(cache, ncache);
	*out = json_pack("{s:o}", "unused", arr);
	return 0;
}
