/*
 * repair.c - rebuild a service's unreadable state from what runs (see
 * repair.h for what is rebuilt from where).
 *
 * Why a plan first: a repair guesses (which release was active is read off
 * the router's table, which was warm off the instances' expiry), so it shows
 * what it would write and what it could not recover, and writes only when
 * told to. It never starts or stops an instance: the next command does
 * that, on state that can be read again.
 */
#include "repair.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/client.h"
#include "runtime/driver.h"
#include "state/state.h"
#include "util.h"

/* A release seen in the runtime or among the stored releases. */
struct seen {
	char release[65];
	char color[8];
	char *version;           /* from its stored manifest; may be NULL */
	struct svc_artifact_ref *artifact;
	char *image;             /* the image it runs by digest; may be NULL */
	bool stored;             /* releases/ID/ read back */
	int64_t created_ms;      /* stored: when; else its oldest instance's start */
	size_t running;          /* running or starting instances */
	int64_t newest_start;
	int64_t expire_at;       /* latest expiry of its instances (0: none) */
	bool routed;             /* the router sends the service's traffic there */
};

struct seen_list {
	struct seen *v;
	size_t n;
};

static struct seen *seen_get(struct seen_list *l, const char *release)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].release, release))
			return &l->v[i];
	l->v = svc_realloc(l->v, l->n + 1, sizeof(*l->v));
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	snprintf(l->v[l->n].release, sizeof(l->v[l->n].release), "%s", release);
	return &l->v[l->n++];
}

static void seen_release(struct seen_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].version);
		free(l->v[i].image);
		svc_artifact_ref_free(l->v[i].artifact);
	}
	free(l->v);
}

static void file_add(struct svc_repair_plan *p, const char *path, const char *problem,
		     const char *action)
{
	struct svc_repair_file *f;

	p->files = svc_realloc(p->files, p->nfiles + 1, sizeof(*p->files));
	f = &p->files[p->nfiles++];
	f->path = svc_strdup(path);
	f->problem = problem ? svc_strdup(problem) : NULL;
	f->action = svc_strdup(action ? action : "");
}

static void lost_add(struct svc_repair_plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void lost_add(struct svc_repair_plan *p, const char *fmt, ...)
{
	size_t n = svc_strv_len(p->lost);
	char buf[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->lost = svc_realloc(p->lost, n + 2, sizeof(*p->lost));
	p->lost[n] = svc_strdup(buf);
	p->lost[n + 1] = NULL;
}

void svc_repair_plan_release(struct svc_repair_plan *p)
{
	for (size_t i = 0; i < p->nfiles; i++) {
		free(p->files[i].path);
		free(p->files[i].problem);
		free(p->files[i].action);
	}
	free(p->files);
	svc_strv_free(p->lost);
	svc_history_release(&p->hist);
	memset(p, 0, sizeof(*p));
}

/* The stored releases, read back one by one; what cannot be read is lost. */
static void read_stored(struct svc_repair_plan *p, struct seen_list *l, struct svc_ctx *ctx)
{
	char **ids = svc_release_list(ctx->state_dir, p->service);

	for (size_t i = 0; ids[i]; i++) {
		char *text = NULL, *src = NULL, *base = NULL, *pin = NULL;
		struct svc_artifact_ref *art = NULL;
		struct svc_manifest *m = NULL;
		struct svc_error e = { 0 };
		struct svc_diags d;
		size_t len = 0;
		struct seen *s;
		char *meta;
		json_t *j;

		svc_diags_init(&d);
		if (svc_release_load(&text, &len, &src, &base, &art, &pin, ctx->state_dir, p->service,
				     ids[i], &e) ||
		    svc_manifest_load_buffer(&m, text, len, src, base, &d)) {
			char path[700];
			snprintf(path, sizeof(path), "%s/services/%s/releases/%s", ctx->state_dir,
				 p->service, ids[i]);
			file_add(p, path, e.code ? e.message : "its manifest.yaml does not load", "");
			lost_add(p, "release %.12s: %s: rolling back to it will fail", ids[i],
				 e.code ? e.message : "the stored manifest does not load");
		} else {
			s = seen_get(l, ids[i]);
			s->stored = true;
			s->version = m->version ? svc_strdup(m->version) : NULL;
			svc_manifest_set_artifact(m, art);
			svc_manifest_set_pinned(m, pin);
			s->image = svc_manifest_pinned(m) ? svc_strdup(svc_manifest_pinned(m)) : NULL;
			s->artifact = art;
			art = NULL;
			meta = svc_strfmt("%s/services/%s/releases/%s/release.json", ctx->state_dir,
					  p->service, ids[i]);
			if (svc_json_file_read(&j, meta, 1 << 20, NULL) == 0) {
				s->created_ms = json_integer_value(json_object_get(j, "created_ms"));
				json_decref(j);
			}
			free(meta);
		}
		svc_manifest_free(m);
		svc_artifact_ref_free(art);
		svc_diags_release(&d);
		free(pin);
		free(text);
		free(src);
		free(base);
	}
	svc_strv_free(ids);
}

/* What runs, by release, and which release the router sends traffic to. */
static void read_runtime(struct svc_repair_plan *p, struct seen_list *l, struct svc_ctx *ctx)
{
	struct svc_runtime *rt = NULL;
	struct svc_instance_list all = { 0 };
	json_t *rs = NULL, *route;
	size_t n = 0, i;

	svc_rollout_runtime_with_instances(&rt, ctx, p->service, &n);
	if (!rt || rt->ops->list(rt, p->service, &all, NULL))
		goto done;
	for (i = 0; i < all.count; i++) {
		const struct svc_instance *in = &all.items[i];
		struct seen *s;
		if (in->state != SVC_INST_RUNNING && in->state != SVC_INST_STARTING)
			continue;
		s = seen_get(l, in->release);
		snprintf(s->color, sizeof(s->color), "%s", in->color);
		s->running++;
		if (in->started_ms > s->newest_start)
			s->newest_start = in->started_ms;
		if (!s->stored && (!s->created_ms || in->started_ms < s->created_ms))
			s->created_ms = in->started_ms;
		if (in->expire_at_ms > s->expire_at)
			s->expire_at = in->expire_at_ms;
	}
	if (svc_router_status(ctx->state_dir, &rs, NULL))
		goto done;
	json_array_foreach(json_object_get(rs, "routes"), i, route) {
		const char *svc = json_string_value(json_object_get(route, "service"));
		json_t *b;
		size_t k;
		if (!svc || strcmp(svc, p->service))
			continue;
		json_array_foreach(json_object_get(route, "backends"), k, b) {
			const char *addr = json_string_value(json_object_get(b, "address"));
			if (!addr || json_is_false(json_object_get(b, "active")))
				continue;
			for (size_t x = 0; x < all.count; x++) {
				char a[80];
				if (!strcmp(svc_instance_addr(&all.items[x], a, sizeof(a)), addr))
					seen_get(l, all.items[x].release)->routed = true;
			}
		}
	}
done:
	json_decref(rs);
	svc_instance_list_release(&all);
	svc_runtime_free(rt);
}

/* current.json from what runs: the routed release, else the newest running one. */
static void plan_current(struct svc_repair_plan *p, const struct seen_list *l)
{
	const struct seen *act = NULL, *warm = NULL;
	int64_t now = svc_now_ms();

	memset(&p->cur, 0, sizeof(p->cur));
	for (size_t i = 0; i < l->n; i++) {
		const struct seen *s = &l->v[i];
		if (!s->running)
			continue;
		if (!act || (s->routed && !act->routed) ||
		    (s->routed == act->routed && s->newest_start > act->newest_start))
			act = s;
	}
	for (size_t i = 0; act && i < l->n; i++) {
		const struct seen *s = &l->v[i];
		if (s == act || !s->running || s->routed)
			continue;
		if (!warm || s->expire_at > warm->expire_at)
			warm = s;
	}
	if (act) {
		snprintf(p->cur.active, sizeof(p->cur.active), "%s", act->release);
		snprintf(p->cur.active_color, sizeof(p->cur.active_color), "%s", act->color);
		p->cur.active_since_ms = act->newest_start;
	}
	if (warm) {
		snprintf(p->cur.previous, sizeof(p->cur.previous), "%s", warm->release);
		snprintf(p->cur.previous_color, sizeof(p->cur.previous_color), "%s", warm->color);
		p->cur.previous_until_ms = warm->expire_at > now ? warm->expire_at : 0;
	}
}

static int seen_by_created(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->release, y->release);
}

/* history.json from the stored and running releases, oldest first. */
static void plan_history(struct svc_repair_plan *p, struct seen_list *l)
{
	qsort(l->v, l->n, sizeof(*l->v), seen_by_created);
	svc_history_release(&p->hist);
	for (size_t i = 0; i < l->n; i++) {
		const struct seen *s = &l->v[i];
		struct svc_history_entry e = { 0 };
		bool was_active = !strcmp(s->release, p->cur.active) ||
				  !strcmp(s->release, p->cur.previous);
		snprintf(e.release, sizeof(e.release), "%s", s->release);
		snprintf(e.manifest_hash, sizeof(e.manifest_hash), "%s", s->release);
		snprintf(e.color, sizeof(e.color), "%s", s->color[0] ? s->color : "blue");
		e.version = s->version;
		e.kind = SVC_KIND_DEPLOY;
		e.outcome = was_active ? SVC_OUTCOME_PROMOTED : SVC_OUTCOME_UNKNOWN;
		e.reason = (char *)"rebuilt by svcctl repair";
		e.artifact = s->artifact;
		e.image = s->image;
		e.started_ms = e.finished_ms = s->created_ms;
		svc_history_append(&p->hist, &e);
	}
}

static void describe_current(char *buf, size_t len, const struct svc_current *c)
{
	if (!c->active[0]) {
		snprintf(buf, len, "write: no active release (nothing runs)");
		return;
	}
	snprintf(buf, len, "write: active %.12s (%s)%s%.12s%s%s%s", c->active, c->active_color,
		 c->previous[0] ? ", warm " : "", c->previous,
		 c->previous[0] ? " (" : "", c->previous_color, c->previous[0] ? ")" : "");
}

/* Keep an unreadable file beside its replacement. */
static int keep_aside(const char *path, struct svc_error *err)
{
	char *to = svc_strfmt("%s.unreadable-%lld", path, (long long)svc_now_ms());
	int rc = 0;

	if (rename(path, to) && errno != ENOENT)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot move '%s' aside", path);
	free(to);
	return rc;
}

int svc_repair_run(struct svc_repair_plan *out, struct svc_ctx *ctx, const char *service,
		   bool write, struct svc_error *err)
{
	struct svc_lock lock = { -1 };
	struct svc_current cur;
	struct svc_history hist = { 0 };
	struct svc_rollout_rec rec;
	struct svc_error ecur = { 0 }, ehist = { 0 }, erec = { 0 };
	struct seen_list seen = { 0 };
	char *pcur, *phist, *prec, what[300];
	bool any_promoted = false, rec_orphan = false;
	int rc, rc_cur, rc_hist, rc_rec;

	memset(out, 0, sizeof(*out));
	snprintf(out->service, sizeof(out->service), "%s", service);
	pcur = svc_strfmt("%s/services/%s/current.json", ctx->state_dir, service);
	phist = svc_strfmt("%s/services/%s/history.json", ctx->state_dir, service);
	prec = svc_strfmt("%s/services/%s/rollout.json", ctx->state_dir, service);
	if ((rc = svc_lock_take(&lock, ctx->state_dir, service, "repair", err)))
		goto done;
	rc_cur = svc_current_load(&cur, ctx->state_dir, service, &ecur);
	rc_hist = svc_history_load(&hist, ctx->state_dir, service, &ehist);
	rc_rec = svc_rollout_rec_load(&rec, ctx->state_dir, service, &erec);
	read_stored(out, &seen, ctx);
	read_runtime(out, &seen, ctx);
	for (size_t i = 0; i < hist.count; i++)
		any_promoted |= hist.items[i].outcome == SVC_OUTCOME_PROMOTED ||
				hist.items[i].outcome == SVC_OUTCOME_ROLLED_BACK;

	/* current.json */
	if (rc_cur == 0) {
		out->cur = cur;
		file_add(out, pcur, NULL, "");
	} else {
		size_t running = 0;
		for (size_t i = 0; i < seen.n; i++)
			running += seen.v[i].running;
		if (rc_cur != SVC_ENOTFOUND || running || any_promoted) {
			plan_current(out, &seen);
			describe_current(what, sizeof(what), &out->cur);
			out->write_current = true;
			file_add(out, pcur, rc_cur == SVC_ENOTFOUND ? "missing" : ecur.message, what);
		}
	}
	/* history.json */
	if (rc_hist == 0) {
		out->hist = hist;
		memset(&hist, 0, sizeof(hist));
		file_add(out, phist, NULL, "");
	} else if (rc_hist != SVC_ENOTFOUND || out->cur.active[0] || out->cur.previous[0] ||
		   rc_rec == 0) {
		plan_history(out, &seen);
		snprintf(what, sizeof(what), "write: %zu release%s rebuilt from the stored releases "
			 "and what runs (outcomes unknown, but for the active and warm ones)",
			 out->hist.count, out->hist.count == 1 ? "" : "s");
		out->write_history = true;
		file_add(out, phist, rc_hist == SVC_ENOTFOUND ? "missing" : ehist.message, what);
		if (rc_hist != SVC_ENOTFOUND)
			lost_add(out, "the history's outcomes, reasons and times (kept in %s.unreadable-*)",
				 phist);
	}
	/* rollout.json: a record that cannot be read, or whose entry is gone */
	rec_orphan = rc_rec == 0 && !svc_history_find(&out->hist, rec.history_seq);
	if (rc_rec == SVC_ESTATE || (rc_rec && rc_rec != SVC_ENOTFOUND) || rec_orphan) {
		out->remove_rollout = true;
		file_add(out, prec, rec_orphan ? "its history entry is gone" : erec.message,
			 "remove: the interrupted rollout is forgotten; instances of a release "
			 "neither active nor warm are stopped by the next command");
		lost_add(out, "the interrupted rollout (what step it was at)");
	} else if (rc_rec == 0) {
		file_add(out, prec, NULL, "");
	}
	/* current names releases history must know */
	if (!out->write_history && (out->cur.active[0] || out->cur.previous[0]) && rc_hist) {
		plan_history(out, &seen);
		out->write_history = true;
	}
	for (size_t i = 0; i < seen.n; i++)
		if (seen.v[i].running && !seen.v[i].stored)
			lost_add(out, "release %.12s runs but its manifest is not stored: rolling back "
				 "to it will fail once it stops", seen.v[i].release);
	out->changes = out->write_current || out->write_history || out->remove_rollout;
	if (!write || !out->changes)
		goto done;

	/* history before current: current names releases the history must know */
	if (out->write_history &&
	    ((rc = keep_aside(phist, err)) ||
	     (rc = svc_history_save(&out->hist, ctx->state_dir, service, err))))
		goto done;
	if (out->write_current &&
	    ((rc = keep_aside(pcur, err)) ||
	     (rc = svc_current_save(&out->cur, ctx->state_dir, service, err))))
		goto done;
	if (out->remove_rollout && (rc = keep_aside(prec, err)))
		goto done;
	out->written = true;
done:
	svc_lock_release(&lock);
	svc_history_release(&hist);
	seen_release(&seen);
	free(pcur);
	free(phist);
	free(prec);
	if (rc)
		svc_repair_plan_release(out);
	return rc;
}
