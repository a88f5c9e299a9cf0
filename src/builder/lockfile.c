/*
 * lockfile.c - SERVICE.lock: read strictly, written canonically (see
 * lockfile.h for the format).
 */
#include "lockfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LOCKFILE_MAX (1 << 20)

char *svc_lockfile_path(const struct svc_manifest *m)
{
	return svc_strfmt("%s/%s.lock", m->dir, m->service);
}

void svc_lockfile_release(struct svc_lockfile *lf)
{
	for (size_t i = 0; i < lf->ndeps; i++) {
		free(lf->deps[i].name);
		free(lf->deps[i].git);
		free(lf->deps[i].ref);
	}
	free(lf->deps);
	free(lf->service);
	memset(lf, 0, sizeof(*lf));
}

/* Only the keys in allowed (NULL-terminated); the first other one is named. */
static const char *unknown_key(const json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		(void)v;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(key, allowed[i]);
		if (!ok)
			return key;
	}
	return NULL;
}

static int bad(struct svc_error *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct svc_error *err, const char *path, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return svc_error_set(err, SVC_EMANIFEST, "%s: %s", path, msg);
}

/*
 * key of obj as a string, or an error naming the key that is missing or not
 * a string; where ("" or "dependencies[N]: ") says whose key it is.
 */
static int get_string(const char **out, const json_t *obj, const char *key, const char *where,
		      const char *path, struct svc_error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = json_string_value(v);
	if (!v)
		return bad(err, path, "%smissing key '%s'", where, key);
	if (!*out)
		return bad(err, path, "%s'%s' must be a string", where, key);
	return 0;
}

static int load_entry(struct svc_lock_entry *e, const json_t *j, size_t i, const char *path,
		      struct svc_error *err)
{
	static const char *const keys[] = { "name", "git", "ref", "commit", NULL };
	const char *name, *git, *ref, *commit, *extra;
	char where[48];
	int rc;

	snprintf(where, sizeof(where), "dependencies[%zu]: ", i);
	if (!json_is_object(j))
		return bad(err, path, "%sexpected an object", where);
	if ((extra = unknown_key(j, keys)))
		return bad(err, path, "%sunknown key '%s'", where, extra);
	if ((rc = get_string(&name, j, "name", where, path, err)) ||
	    (rc = get_string(&git, j, "git", where, path, err)) ||
	    (rc = get_string(&ref, j, "ref", where, path, err)) ||
	    (rc = get_string(&commit, j, "commit", where, path, err)))
		return rc;
	if (!svc_hex_is(commit, 40))
		return bad(err, path, "dependencies[%zu].commit: '%s' is not a commit id (40 "
			   "lowercase hex)", i, commit);
	e->name = svc_strdup(name);
	e->git = svc_strdup(git);
	e->ref = svc_strdup(ref);
	memcpy(e->commit, commit, sizeof(e->commit));
	return 0;
}

static int load_json(struct svc_lockfile *out, const json_t *j, const char *path,
		     struct svc_error *err)
{
	static const char *const keys[] = { "version", "service", "dependencies", NULL };
	const json_t *version = json_object_get(j, "version");
	const json_t *deps = json_object_get(j, "dependencies");
	const char *extra, *service;
	size_t i;
	json_t *d;
	int rc;

	if (!json_is_object(j))
		return bad(err, path, "expected a JSON object");
	if ((extra = unknown_key(j, keys)))
		return bad(err, path, "unknown key '%s'", extra);
	if (!version)
		return bad(err, path, "missing key 'version'");
	if (!json_is_integer(version) || json_integer_value(version) != 1)
		return bad(err, path, "'version' must be 1 (a lock file of another svcctl?)");
	if ((rc = get_string(&service, j, "service", "", path, err)))
		return rc;
	if (!deps)
		return bad(err, path, "missing key 'dependencies'");
	if (!json_is_array(deps))
		return bad(err, path, "'dependencies' must be a list");
	out->service = svc_strdup(service);
	out->deps = svc_calloc(json_array_size(deps) + 1, sizeof(*out->deps));
	json_array_foreach(deps, i, d) {
		if ((rc = load_entry(&out->deps[i], d, i, path, err)))
			return rc;
		out->ndeps++;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(out->deps[k].name, out->deps[i].name))
				return bad(err, path, "dependency '%s' is listed twice",
					   out->deps[i].name);
	}
	return 0;
}

int svc_lockfile_load(struct svc_lockfile *out, const char *path, struct svc_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = svc_file_read(&text, &len, path, LOCKFILE_MAX, err)))
		return rc;
	rc = svc_lockfile_load_buffer(out, text, len, path, err);
	free(text);
	return rc;
}

int svc_lockfile_load_buffer(struct svc_lockfile *out, const char *buf, size_t len,
			     const char *path, struct svc_error *err)
{
	json_error_t jerr;
	json_t *j;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > LOCKFILE_MAX)
		return svc_error_set(err, SVC_EMANIFEST, "%s: larger than %d bytes", path,
				     LOCKFILE_MAX);
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return svc_error_set_at(err, SVC_EMANIFEST, path, jerr.line, jerr.column,
					"invalid lock file: %s", jerr.text);
	rc = load_json(out, j, path, err);
	json_decref(j);
	if (rc)
		svc_lockfile_release(out);
	return rc;
}

int svc_lockfile_save(const struct svc_lockfile *lf, const char *path, struct svc_error *err)
{
	json_t *deps = json_array(), *j;
	char *text, *with_nl;
	int rc;

	for (size_t i = 0; i < lf->ndeps; i++)
		json_array_append_new(deps, json_pack("{s:s, s:s, s:s, s:s}",
			"name", lf->deps[i].name, "git", lf->deps[i].git,
			"ref", lf->deps[i].ref, "commit", lf->deps[i].commit));
	j = json_pack("{s:i, s:s, s:o}", "version", 1, "service", lf->service,
		      "dependencies", deps);
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (!text)
		return svc_error_set(err, SVC_EGENERIC, "cannot encode '%s'", path);
	with_nl = svc_strfmt("%s\n", text);
	free(text);
	rc = svc_file_write_atomic(path, with_nl, strlen(with_nl), 0644, err);
	free(with_nl);
	return rc;
}

const struct svc_lock_entry *svc_lockfile_find(const struct svc_lockfile *lf,
					       const char *name)
{
	for (size_t i = 0; i < lf->ndeps; i++)
		if (!strcmp(lf->deps[i].name, name))
			return &lf->deps[i];
	return NULL;
}

/* Append "; what" (or "what" first) to the list of differences. */
static void differs(char **list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differs(char **list, const char *fmt, ...)
{
	char item[600], *n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(item, sizeof(item), fmt, ap);
	va_end(ap);
	n = svc_strfmt("%s%s%s", *list ? *list : "", *list ? "; " : "", item);
	free(*list);
	*list = n;
}

int svc_lockfile_check(const struct svc_lockfile *lf, const struct svc_manifest *m,
		       const char *path, struct svc_error *err)
{
	char *list = NULL;
	int rc = 0;

	if (strcmp(lf->service, m->service))
		differs(&list, "it is the lock of service '%s', not '%s'", lf->service,
			m->service);
	for (size_t i = 0; i < m->build.ndeps; i++) {
		const struct svc_dependency *d = &m->build.deps[i];
		const struct svc_lock_entry *e = svc_lockfile_find(lf, d->name);

		if (!e) {
			differs(&list, "%s: not in the lock", d->name);
			continue;
		}
		if (strcmp(e->git, d->git))
			differs(&list, "%s: git %s in the manifest, %s in the lock", d->name,
				d->git, e->git);
		if (strcmp(e->ref, d->ref))
			differs(&list, "%s: ref %s in the manifest, %s in the lock", d->name,
				d->ref, e->ref);
	}
	for (size_t i = 0; i < lf->ndeps; i++) {
		bool found = false;

		for (size_t k = 0; k < m->build.ndeps && !found; k++)
			found = !strcmp(m->build.deps[k].name, lf->deps[i].name);
		if (!found)
			differs(&list, "%s: not in the manifest", lf->deps[i].name);
	}
	if (list)
		rc = svc_error_set(err, SVC_EMANIFEST,
				   "%s: does not match the manifest's build.dependencies: %s; run "
				   "'svcctl lock %s'", path, list, m->service);
	free(list);
	return rc;
}
