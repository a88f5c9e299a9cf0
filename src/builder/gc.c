/*
 * gc.c - delete artifacts no kept release runs, failed build folders, old
 * build logs and unused dependency versions (see gc.h for what is kept).
 */
#include "gc.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "runtime/docker_api.h"
#include "pinning.h"
#include "state/state.h"
#include "tree.h"
#include "util.h"

struct gc {
	const char *state_dir;
	const struct svc_gc_opts *o;
	struct svc_report *r;
	json_t *deleted, *kept, *skipped;
	uint64_t freed;
	struct svc_docker *docker;   /* opened when an image is to be removed */
	bool docker_failed;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Why an artifact stays; NULL when it can go. */
struct keep {
	char id[65];
	const char *why;
};

struct keeps {
	struct keep *items;
	size_t count, alloc;
};

static void keep_add(struct keeps *k, const char *id, const char *why)
{
	for (size_t i = 0; i < k->count; i++)
		if (!strcmp(k->items[i].id, id))
			return;
	if (k->count == k->alloc) {
		k->alloc = k->alloc ? k->alloc * 2 : 16;
		k->items = svc_realloc(k->items, k->alloc, sizeof(*k->items));
	}
	snprintf(k->items[k->count].id, sizeof(k->items[k->count].id), "%s", id);
	k->items[k->count++].why = why;
}

static const char *keep_why(const struct keeps *k, const char *id)
{
	for (size_t i = 0; i < k->count; i++)
		if (!strcmp(k->items[i].id, id))
			return k->items[i].why;
	return NULL;
}

/* The artifact release ran, from its newest history entry that says. */
static const struct svc_artifact_ref *release_artifact(const struct svc_history *h,
						       const char *release)
{
	for (size_t i = h->count; i-- > 0;)
		if (!strcmp(h->items[i].release, release) && h->items[i].artifact)
			return h->items[i].artifact;
	return NULL;
}

static void keep_release(struct keeps *k, const struct svc_history *h, const char *release,
			 const char *why)
{
	const struct svc_artifact_ref *a;

	if (release[0] && (a = release_artifact(h, release)))
		keep_add(k, a->id, why);
}

char **svc_gc_kept_releases(const struct svc_service_state *st, int keep)
{
	const struct svc_history *h = &st->hist;
	const char *fixed[4] = { st->cur.active, st->cur.previous,
				 st->in_rollout ? st->rec.release : "",
				 st->in_rollout ? st->rec.blue : "" };
	char **out = svc_calloc(h->count + 5, sizeof(*out));
	size_t n = 0;
	int distinct = 0;

	for (int i = 0; i < 4; i++)
		if (fixed[i][0])
			out[n++] = svc_strdup(fixed[i]);
	for (size_t i = h->count; i-- > 0 && distinct < keep;) {
		bool seen = false;

		for (size_t j = i + 1; j < h->count; j++)
			if (!strcmp(h->items[j].release, h->items[i].release))
				seen = true;
		if (seen)
			continue;
		distinct++;
		out[n++] = svc_strdup(h->items[i].release);
	}
	out[n] = NULL;
	return out;
}

/* What the service's releases still need: see gc.h. */
static void find_keeps(struct gc *g, const struct svc_service_state *st, struct keeps *k)
{
	static const char *const why[4] = { "active", "warm", "rollout in progress",
					     "rollout in progress" };
	const char *fixed[4] = { st->cur.active, st->cur.previous,
				 st->in_rollout ? st->rec.release : "",
				 st->in_rollout ? st->rec.blue : "" };
	char **kept = svc_gc_kept_releases(st, g->o->keep);

	/* the reason of the first that applies: active, warm, rollout, recent */
	for (size_t i = 0; kept[i]; i++) {
		const char *w = "recent";
		for (int f = 0; f < 4; f++)
			if (fixed[f][0] && !strcmp(fixed[f], kept[i])) {
				w = why[f];
				break;
			}
		keep_release(k, &st->hist, kept[i], w);
	}
	svc_strv_free(kept);
}

static void note_deleted(struct gc *g, json_t *what, uint64_t bytes)
{
	json_object_set_new(what, "bytes", json_integer((json_int_t)bytes));
	json_array_append_new(g->deleted, what);
	g->freed += bytes;
}

/* Remove an image artifact through the engine; false when it could not be. */
static bool remove_image(struct gc *g, const char *svc, const char *image)
{
	struct svc_error e = { 0 };
	char buf[1200];

	if (!g->docker && !g->docker_failed && svc_docker_open(&g->docker, NULL, &e))
		g->docker_failed = true;
	if (g->docker && !svc_docker_image_remove(g->docker, image, &e))
		return true;
	svc_report_warn(g->r, svc, "image %s kept: %s", image,
			e.code ? svc_error_format(&e, buf, sizeof(buf)) : "no Docker engine");
	return false;
}

/* One artifact (its record at meta) that no kept release runs. */
static void drop_artifact(struct gc *g, const char *svc, const char *store, const char *id)
{
	char *meta = svc_strfmt("%s/%s.json", store, id), *dir = svc_strfmt("%s/%s", store, id);
	json_t *j = NULL;
	const char *image = NULL;
	uint64_t bytes = svc_tree_disk_usage(dir) + svc_tree_disk_usage(meta);

	if (svc_json_file_read(&j, meta, 1 << 20, NULL) == 0)
		image = json_string_value(json_object_get(j, "image"));
	svc_report_step(g->r, svc, "gc", "%s artifact %.12s%s%s", g->o->dry_run ? "would delete"
			: "deleting", id, image ? ": image " : "", image ? image : "");
	if (!g->o->dry_run) {
		if (image && !remove_image(g, svc, image))
			goto done;
		svc_rm_rf(dir);
		unlink(meta);
	}
	note_deleted(g, json_pack("{s:s, s:s, s:s, s:o}", "kind", "artifact", "service", svc,
				  "id", id, "image", image ? json_string(image) : json_null()),
		     bytes);
done:
	json_decref(j);
	free(meta);
	free(dir);
}

static int64_t meta_created(const char *store, const char *id)
{
	char *meta = svc_strfmt("%s/%s.json", store, id);
	json_t *j = NULL;
	int64_t t = 0;

	if (svc_json_file_read(&j, meta, 1 << 20, NULL) == 0)
		t = json_integer_value(json_object_get(j, "created_ms"));
	json_decref(j);
	free(meta);
	return t;
}

/*
 * The newest artifact built since the service's newest release started and
 * run by no release: a build waiting to be deployed. "" when none.
 */
static void pending_build(const char *store, char *const *ids, int64_t newest,
			  const struct svc_history *h, char out[65])
{
	int64_t best = newest;

	out[0] = '\0';
	for (size_t i = 0; ids[i]; i++) {
		int64_t t = meta_created(store, ids[i]);
		bool released = false;

		for (size_t j = 0; j < h->count && !released; j++)
			released = h->items[j].artifact && !strcmp(h->items[j].artifact->id, ids[i]);
		if (!released && t > best) {
			best = t;
			snprintf(out, 65, "%s", ids[i]);
		}
	}
}

/* Artifact ids with a record in store, sorted; .staged-* leftovers removed. */
static char **list_artifacts(struct gc *g, const char *store)
{
	DIR *d = opendir(store);
	struct dirent *de;
	char **ids = svc_calloc(1, sizeof(*ids));
	size_t n = 0;

	while (d && (de = readdir(d))) {
		const char *name = de->d_name;

		if (!strncmp(name, ".staged-", 8)) {      /* an interrupted build's */
			char *p = svc_strfmt("%s/%s", store, name);
			if (!g->o->dry_run)
				svc_rm_rf(p);
			free(p);
			continue;
		}
		if (svc_hex_span(name) != 64 || strcmp(name + 64, ".json"))
			continue;
		ids = svc_realloc(ids, n + 2, sizeof(*ids));
		ids[n++] = svc_strfmt("%.64s", name);
		ids[n] = NULL;
	}
	if (d)
		closedir(d);
	qsort(ids, n, sizeof(*ids), cmp_str);
	return ids;
}

static void gc_artifacts(struct gc *g, const char *svc, const struct svc_history *h,
			 const struct keeps *k)
{
	char *store = svc_artifact_store_dir(g->state_dir, svc);
	char **ids = list_artifacts(g, store), pending[65];

	pending_build(store, ids, h->count ? h->items[h->count - 1].started_ms : 0, h, pending);
	for (size_t i = 0; ids[i]; i++) {
		const char *why = keep_why(k, ids[i]);

		if (!why && !strcmp(ids[i], pending))
			why = "built since the last deploy";
		if (why) {
			json_array_append_new(g->kept, json_pack("{s:s, s:s, s:s}", "service", svc,
								 "artifact", ids[i], "why", why));
			svc_report_detail(g->r, svc, "gc", "keeping artifact %.12s (%s)", ids[i], why);
			continue;
		}
		drop_artifact(g, svc, store, ids[i]);
	}
	svc_strv_free(ids);
	free(store);
}

/* "SERVICE-<12 hex>-XXXXXX" or the same with ".tar": a build of svc. */
static bool is_build_of(const char *name, const char *svc)
{
	size_t n = strlen(svc);
	const char *rest = name + n + 1;

	if (strncmp(name, svc, n) || name[n] != '-' || svc_hex_span(rest) < 12 || rest[12] != '-')
		return false;
	rest += 13;
	return strlen(rest) == 6 || (strlen(rest) == 10 && !strcmp(rest + 6, ".tar"));
}

/* Folders left by failed builds (no build of svc runs: we hold its build lock). */
static void gc_build_dirs(struct gc *g, const char *svc)
{
	char *parent = svc_strfmt("%s/builds", g->state_dir);
	DIR *d = opendir(parent);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *p;
		uint64_t bytes;

		if (!is_build_of(de->d_name, svc))
			continue;
		p = svc_strfmt("%s/%s", parent, de->d_name);
		bytes = svc_tree_disk_usage(p);
		svc_report_step(g->r, svc, "gc", "%s build folder %s",
				g->o->dry_run ? "would delete" : "deleting", p);
		if (!g->o->dry_run)
			svc_rm_rf(p);
		note_deleted(g, json_pack("{s:s, s:s, s:s}", "kind", "build-folder",
					  "service", svc, "path", p), bytes);
		free(p);
	}
	if (d)
		closedir(d);
	free(parent);
}

/* Build logs beyond the newest SVC_GC_KEEP_LOGS (names start with the time). */
static void gc_logs(struct gc *g, const char *svc)
{
	char *dir = svc_strfmt("%s/services/%s/builds", g->state_dir, svc);
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".log"))
			continue;
		names = svc_realloc(names, n + 2, sizeof(*names));
		names[n++] = svc_strdup(de->d_name);
		names[n] = NULL;
	}
	if (d)
		closedir(d);
	if (n > SVC_GC_KEEP_LOGS)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; n > SVC_GC_KEEP_LOGS && i < n - SVC_GC_KEEP_LOGS; i++) {
		char *p = svc_strfmt("%s/%s", dir, names[i]);
		uint64_t bytes = svc_tree_disk_usage(p);

		if (!g->o->dry_run)
			unlink(p);
		note_deleted(g, json_pack("{s:s, s:s, s:s}", "kind", "build-log", "service", svc,
					  "path", p), bytes);
		free(p);
	}
	svc_strv_free(names);
	free(dir);
}

static void gc_service(struct gc *g, const char *svc)
{
	struct svc_lock lock = { -1 }, build = { -1 };
	struct svc_service_state st = { 0 };
	struct keeps k = { 0 };
	struct svc_error e = { 0 };
	char buf[1200];

	/* nothing of a service whose state cannot be read is deleted */
	if (svc_lock_take(&lock, g->state_dir, svc, "gc", &e) ||
	    svc_lock_take_file(&build, g->state_dir, svc, "build.lock", "build lock", "gc", &e) ||
	    svc_service_state_load(&st, g->state_dir, svc, &e)) {
		svc_report_warn(g->r, svc, "skipped: %s", svc_error_format(&e, buf, sizeof(buf)));
		json_array_append_new(g->skipped, json_string(svc));
		goto done;
	}
	find_keeps(g, &st, &k);
	gc_artifacts(g, svc, &st.hist, &k);
	gc_build_dirs(g, svc);
	gc_logs(g, svc);
done:
	free(k.items);
	svc_service_state_release(&st);
	svc_lock_release(&build);
	svc_lock_release(&lock);
}

int svc_gc(const char *state_dir, struct svc_manifest *const *ms, size_t n,
	   const struct svc_gc_opts *o, struct svc_report *r, json_t **out,
	   struct svc_error *err)
{
	struct gc g = { .state_dir = state_dir, .o = o, .r = r };
	char **services = svc_state_list_services(state_dir);
	json_t *unused = NULL, *item;
	size_t i;
	int rc;

	*out = NULL;
	g.deleted = json_array();
	g.kept = json_array();
	g.skipped = json_array();
	for (i = 0; services && services[i]; i++)
		gc_service(&g, services[i]);
	svc_strv_free(services);
	if ((rc = svc_pin_unused(state_dir, ms, n, !o->dry_run, &unused, err)))
		goto done;
	json_array_foreach(json_object_get(unused, "unused"), i, item) {
		const char *commit = json_string_value(json_object_get(item, "commit"));
		const char *name = json_string_value(json_object_get(item, "name"));

		svc_report_step(r, NULL, "gc", "%s dependency %s%s%.12s",
				o->dry_run ? "would delete" : "deleting", name ? name : "?",
				commit ? " version " : " (whole cache: no manifest uses it)",
				commit ? commit : "");
		json_object_set_new(item, "kind", json_string("dependency"));
		g.freed += (uint64_t)json_integer_value(json_object_get(item, "bytes"));
		json_array_append(g.deleted, item);
	}
	*out = json_pack("{s:b, s:O, s:O, s:O, s:I}", "dry_run", o->dry_run, "deleted",
			 g.deleted, "kept", g.kept, "skipped", g.skipped,
			 "freed_bytes", (json_int_t)g.freed);
done:
	json_decref(unused);
	json_decref(g.deleted);
	json_decref(g.kept);
	json_decref(g.skipped);
	svc_docker_free(g.docker);
	return rc;
}
