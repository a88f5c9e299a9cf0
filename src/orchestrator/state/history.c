/*
 * state/history.c - history.json: every release attempt of a service,
 * oldest first, with how it ended. Kinds and outcomes are enums with one
 * name table each, here.
 */
#include "state/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const kind_names[] = {
	[SVC_KIND_DEPLOY] = "deploy",
	[SVC_KIND_ROLLBACK] = "rollback",
};

static const char *const outcome_names[] = {
	[SVC_OUTCOME_IN_PROGRESS] = "in-progress",
	[SVC_OUTCOME_AWAITING_PROMOTION] = "awaiting-promotion",
	[SVC_OUTCOME_PROMOTED] = "promoted",
	[SVC_OUTCOME_ABORTED] = "aborted",
	[SVC_OUTCOME_ROLLED_BACK] = "rolled-back",
	[SVC_OUTCOME_UNKNOWN] = "unknown",
};

#define NAMES(t) (sizeof(t) / sizeof((t)[0]))

static int name_parse(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(name, names[i]))
			return (int)i;
	return -1;
}

const char *svc_release_kind_name(enum svc_release_kind k)
{
	return (size_t)k < NAMES(kind_names) ? kind_names[k] : "unknown";
}

const char *svc_outcome_name(enum svc_outcome o)
{
	return (size_t)o < NAMES(outcome_names) ? outcome_names[o] : "unknown";
}

int svc_release_kind_parse(const char *name)
{
	return name_parse(kind_names, NAMES(kind_names), name);
}

int svc_outcome_parse(const char *name)
{
	return name_parse(outcome_names, NAMES(outcome_names), name);
}

struct svc_origin *svc_origin_dup(const struct svc_origin *o)
{
	struct svc_origin *n;

	if (!o)
		return NULL;
	n = svc_calloc(1, sizeof(*n));
	n->repo = svc_strdup(o->repo);
	n->path = svc_strdup(o->path);
	snprintf(n->commit, sizeof(n->commit), "%s", o->commit);
	return n;
}

void svc_origin_free(struct svc_origin *o)
{
	if (!o)
		return;
	free(o->repo);
	free(o->path);
	free(o);
}

static void entry_release(struct svc_history_entry *e)
{
	free(e->version);
	free(e->reason);
	svc_artifact_ref_free(e->artifact);
	free(e->image);
	svc_origin_free(e->origin);
}

void svc_history_release(struct svc_history *h)
{
	for (size_t i = 0; i < h->count; i++)
		entry_release(&h->items[i]);
	free(h->items);
	h->items = NULL;
	h->count = 0;
}

json_t *svc_history_entry_to_json(const struct svc_history_entry *e)
{
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
			      "seq", e->seq, "release", e->release,
			      "manifest_hash", e->manifest_hash,
			      "kind", svc_release_kind_name(e->kind),
			      "color", e->color,
			      "started_ms", (json_int_t)e->started_ms,
			      "finished_ms", (json_int_t)e->finished_ms,
			      "outcome", svc_outcome_name(e->outcome));

	json_object_set_new(j, "version", e->version ? json_string(e->version) : json_null());
	json_object_set_new(j, "reason", e->reason ? json_string(e->reason) : json_null());
	if (e->artifact)
		json_object_set_new(j, "artifact", svc_artifact_ref_to_json(e->artifact));
	if (e->image)
		json_object_set_new(j, "image", json_string(e->image));
	if (e->origin)
		json_object_set_new(j, "sync", json_pack("{s:s, s:s, s:s}", "repo", e->origin->repo,
							 "path", e->origin->path,
							 "commit", e->origin->commit));
	return j;
}

static void entry_from_json(struct jr *r, struct svc_history_entry *e, const json_t *item,
			    size_t i)
{
	const char *kind, *outcome, *s;
	const json_t *art, *sync;

	if (!json_is_object(item)) {
		jr_fail(r, "release %zu is not an object", i + 1);
		return;
	}
	e->seq = (int)jr_int(r, item, "seq", 1, INT32_MAX);
	jr_release(r, e->release, item, "release", false);
	jr_copy(r, e->manifest_hash, sizeof(e->manifest_hash), item, "manifest_hash");
	jr_color(r, e->color, item, "color", false);
	kind = jr_str(r, item, "kind");
	if (!r->rc && svc_release_kind_parse(kind) < 0)
		jr_fail(r, "release %zu: unknown kind '%s'", i + 1, kind);
	e->kind = r->rc ? SVC_KIND_DEPLOY : (enum svc_release_kind)svc_release_kind_parse(kind);
	outcome = jr_str(r, item, "outcome");
	if (!r->rc && svc_outcome_parse(outcome) < 0)
		jr_fail(r, "release %zu: unknown outcome '%s'", i + 1, outcome);
	e->outcome = r->rc ? SVC_OUTCOME_UNKNOWN : (enum svc_outcome)svc_outcome_parse(outcome);
	e->started_ms = jr_int(r, item, "started_ms", 0, INT64_MAX);
	e->finished_ms = jr_int(r, item, "finished_ms", 0, INT64_MAX);
	if ((s = jr_str_opt(r, item, "version")))
		e->version = svc_strdup(s);
	if ((s = jr_str_opt(r, item, "reason")))
		e->reason = svc_strdup(s);
	if ((s = jr_str_opt(r, item, "image")))
		e->image = svc_strdup(s);
	art = json_object_get(item, "artifact");
	if (!r->rc && art && !json_is_null(art) && !(e->artifact = svc_artifact_ref_from_json(art)))
		jr_fail(r, "release %zu: invalid 'artifact'", i + 1);
	sync = json_object_get(item, "sync");
	if (!r->rc && sync && !json_is_null(sync)) {
		const char *repo = jr_str(r, sync, "repo"), *path = jr_str(r, sync, "path");
		const char *commit = jr_str(r, sync, "commit");
		if (!r->rc && (strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40))
			jr_fail(r, "release %zu: 'sync.commit' is not a commit id", i + 1);
		if (!r->rc) {
			e->origin = svc_calloc(1, sizeof(*e->origin));
			e->origin->repo = svc_strdup(repo);
			e->origin->path = svc_strdup(path);
			snprintf(e->origin->commit, sizeof(e->origin->commit), "%s", commit);
		}
	}
}

int state_history_from_json(struct svc_history *out, const json_t *j, const char *path,
			    struct svc_error *err)
{
	const json_t *arr = json_object_get(j, "releases");
	struct jr r;
	json_t *item;
	size_t i;

	memset(out, 0, sizeof(*out));
	jr_init(&r, path, err);
	jr_str(&r, j, "service");
	if (!r.rc && !json_is_array(arr))
		jr_fail(&r, "no 'releases' list");
	if (r.rc)
		return r.rc;
	out->items = svc_calloc(json_array_size(arr) + 1, sizeof(*out->items));
	json_array_foreach(arr, i, item) {
		struct svc_history_entry *e = &out->items[out->count++];
		entry_from_json(&r, e, item, i);
		if (!r.rc && out->count > 1 && e->seq <= out->items[out->count - 2].seq)
			jr_fail(&r, "release %zu: seq %d does not follow %d", i + 1, e->seq,
				out->items[out->count - 2].seq);
		if (r.rc)
			break;
	}
	if (r.rc)
		svc_history_release(out);
	return r.rc;
}

int svc_history_load(struct svc_history *out, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/history.json", state_dir, service);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = state_json_read(&j, path, err)))
		rc = state_history_from_json(out, j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_history_save(const struct svc_history *h, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/history.json", state_dir, service);
	json_t *arr = json_array(), *j = state_json_new();
	int rc;

	for (size_t i = 0; i < h->count; i++)
		json_array_append_new(arr, svc_history_entry_to_json(&h->items[i]));
	json_object_set_new(j, "service", json_string(service));
	json_object_set_new(j, "releases", arr);
	rc = state_json_write(j, state_dir, service, path, err);
	json_decref(j);
	free(path);
	return rc;
}

struct svc_history_entry *svc_history_append(struct svc_history *h,
					     const struct svc_history_entry *e)
{
	struct svc_history_entry *n;

	h->items = svc_realloc(h->items, h->count + 1, sizeof(*h->items));
	n = &h->items[h->count];
	*n = *e;
	n->seq = h->count ? h->items[h->count - 1].seq + 1 : 1;
	n->version = svc_strdup(e->version);
	n->reason = svc_strdup(e->reason);
	n->artifact = svc_artifact_ref_dup(e->artifact);
	n->image = e->image ? svc_strdup(e->image) : NULL;
	n->origin = svc_origin_dup(e->origin);
	h->count++;
	return n;
}

struct svc_history_entry *svc_history_find(struct svc_history *h, int seq)
{
	for (size_t i = 0; i < h->count; i++)
		if (h->items[i].seq == seq)
			return &h->items[i];
	return NULL;
}

void svc_history_set_outcome(struct svc_history *h, int seq, enum svc_outcome outcome,
			     const char *reason)
{
	struct svc_history_entry *e = svc_history_find(h, seq);

	if (!e)
		return;
	e->outcome = outcome;
	free(e->reason);
	e->reason = svc_strdup(reason);
	e->finished_ms = svc_now_ms();
}

int svc_history_resolve(char out[65], const struct svc_history *h,
			const char *text, struct svc_error *err)
{
	const char *found = NULL;
	size_t len = strlen(text);

	if (text[0] == '#') {
		long long seq;
		if (svc_parse_int(&seq, text + 1, 1, INT32_MAX))
			return svc_error_set(err, SVC_EUSAGE, "invalid release '%s'", text);
		for (size_t i = 0; i < h->count; i++)
			if (h->items[i].seq == seq)
				found = h->items[i].release;
		if (!found)
			return svc_error_set(err, SVC_ENOTFOUND, "no release '%s' in the history", text);
		snprintf(out, 65, "%s", found);
		return 0;
	}
	if (len < 4 || len > 64)
		return svc_error_set(err, SVC_EUSAGE,
			"invalid release '%s' (give at least 4 characters of its id, or #SEQ)", text);
	for (size_t i = 0; i < h->count; i++) {
		const char *r = h->items[i].release;
		if (strncmp(r, text, len))
			continue;
		if (found && strcmp(found, r))
			return svc_error_set(err, SVC_EUSAGE,
				"release '%s' is ambiguous (matches %.12s and %.12s)", text, found, r);
		found = r;
	}
	if (!found)
		return svc_error_set(err, SVC_ENOTFOUND, "no release '%s' in the history", text);
	snprintf(out, 65, "%s", found);
	return 0;
}
