/*
 * rollout.c - the blue/green state machine that every deploy, promote and
 * rollback runs through, whatever the runtime.
 *
 * The order of a deploy, each step written to rollout.json before it is
 * taken:  starting -> health -> [awaiting-promotion] -> switching -> baking
 * -> draining -> (record cleared). Until "switching" nothing a client sees
 * has changed, so undoing means stopping green. From "switching" on, blue
 * still runs (it is only drained and kept warm afterwards), so undoing means
 * pointing the route back at blue. That is what makes a failed or killed
 * deploy safe: blue is never stopped before green has passed its bake.
 */
#include "rollout.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "health.h"
#include "router/client.h"
#include "router/plane.h"
#include "runtime/driver.h"
#include "state/state.h"
#include "util.h"
#include "hash.h"

#define SHORT(id) ((int)SVC_SHORT_ID_LEN), (id)

/* ---- small helpers ---- */

static const char *other_color(const char *color)
{
	return strcmp(color, "blue") ? "blue" : "green";
}

static int diags_to_error(const struct svc_diags *d, int rc, struct svc_error *err)
{
	char buf[2048];

	if (d->count) {
		svc_error_format(&d->items[0], buf, sizeof(buf));
		return svc_error_set(err, SVC_EMANIFEST, "%s%s", buf,
				     d->count > 1 ? " (and more; see svcctl validate)" : "");
	}
	return svc_error_set(err, rc ? rc : SVC_EMANIFEST, "invalid manifest");
}

/* The manifest release was deployed from, as stored with it. */
static int release_manifest(struct svc_manifest **out, struct svc_ctx *ctx,
			    const char *service, const char *release,
			    struct svc_error *err)
{
	char *text = NULL, *src = NULL, *base = NULL, *pin = NULL;
	struct svc_artifact_ref *art = NULL;
	size_t len = 0;
	struct svc_diags d;
	int rc;

	*out = NULL;
	svc_diags_init(&d);
	rc = svc_release_load(&text, &len, &src, &base, &art, &pin, ctx->state_dir, service,
			      release, err);
	if (rc)
		goto done;
	rc = svc_manifest_load_buffer(out, text, len, src, base, &d);
	if (rc) {
		char msg[1200];
		if (d.count)
			svc_error_format(&d.items[0], msg, sizeof(msg));
		rc = svc_error_set(err, SVC_ESTATE,
				   "%s/services/%s/releases/%s/manifest.yaml: invalid stored manifest: %s",
				   ctx->state_dir, service, release, d.count ? msg : "cannot be parsed");
		goto done;
	}
	(*out)->artifact = art;   /* the release runs what it was built as */
	art = NULL;
	(*out)->pinned_image = pin;   /* and the digest its image had then */
	pin = NULL;
done:
	free(pin);
	svc_artifact_ref_free(art);
	svc_diags_release(&d);
	free(text);
	free(src);
	free(base);
	return rc;
}

/* Instances of one release that are up (running or restarting). */
static int release_instances(struct svc_runtime *rt, const char *service,
			     const char *release, struct svc_instance_list *out,
			     struct svc_error *err)
{
	struct svc_instance_list all = { 0 };
	int rc;

	out->items = NULL;
	out->count = 0;
	if (!release || !release[0])
		return 0;
	if ((rc = rt->ops->list(rt, service, &all, err)))
		return rc;
	out->items = svc_calloc(all.count + 1, sizeof(*out->items));
	for (size_t i = 0; i < all.count; i++) {
		struct svc_instance *in = &all.items[i];
		if (!strcmp(in->release, release) &&
		    (in->state == SVC_INST_RUNNING || in->state == SVC_INST_STARTING))
			out->items[out->count++] = *in;
		else
			svc_instance_release(in);
	}
	free(all.items);
	return 0;
}

static void stop_list(struct svc_runtime *rt, struct svc_report *r,
		      const struct svc_instance_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		struct svc_error e = { 0 };
		char buf[1200];
		if (rt->ops->stop(rt, &l->items[i], &e))
			svc_report_warn(r, l->items[i].service, "cannot stop instance '%s': %s",
					l->items[i].id, svc_error_format(&e, buf, sizeof(buf)));
	}
}

static void expire_list(struct svc_runtime *rt, const struct svc_instance_list *l,
			int64_t at_ms)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i].expire_at_ms != at_ms)
			rt->ops->set_expiry(rt, &l->items[i], at_ms, NULL);
}

static char **backends_of(const struct svc_instance_list *l)
{
	char **v = svc_calloc(l->count + 1, sizeof(*v));

	for (size_t i = 0; i < l->count; i++) {
		char a[80];
		v[i] = svc_strdup(svc_instance_addr(&l->items[i], a, sizeof(a)));
	}
	return v;
}

/*
 * Point addr at l's instances (l NULL or empty: remove the route), on the
 * routers of rt's plane (router/plane.h). A switch in force but not on
 * every node is a warning.
 */
static int route_set(struct svc_ctx *ctx, struct svc_runtime *rt, const struct svc_manifest *m,
		     const struct svc_addr *addr, const struct svc_instance_list *l,
		     struct svc_error *err)
{
	char **b = l ? backends_of(l) : svc_calloc(1, sizeof(char *));
	char note[1200];
	int rc = svc_plane_set(svc_runtime_plane(rt), m->service, addr->text, b,
			       m->rollout.drain_timeout_ms, note, sizeof(note), err);

	if (!rc && note[0])
		svc_report_warn(ctx->report, m->service, "%s", note);
	svc_strv_free(b);
	return rc;
}

static bool has_route(const struct svc_manifest *m)
{
	return m->nports > 0;
}

/*
 * Whether the routers serve listen, listening, from exactly l's instances:
 * 1 they do; 0 one answers but does not (why says how); -1 none answers.
 */
static int route_serving(struct svc_runtime *rt, const struct svc_addr *listen,
			 const struct svc_instance_list *l, char *why, size_t why_len)
{
	char **want = backends_of(l);
	int s = svc_plane_serving(svc_runtime_plane(rt), listen->text, want, why, why_len);

	svc_strv_free(want);
	return s;
}

/*
 * After the switch: wait until the router serves listen from l's instances
 * (a supervised router killed after the switch comes back with the saved
 * table within a second or so), until deadline_mono, at least
 * ROUTER_BACK_MS from now. Returns the last route_serving answer.
 */
#define ROUTER_BACK_MS 10000   /* the supervisor's longest backoff, 5 s, and a start */
static int wait_serving(struct svc_runtime *rt, const struct svc_addr *listen,
			const struct svc_instance_list *l, int64_t deadline_mono,
			char *why, size_t why_len)
{
	int64_t min = svc_mono_ms() + ROUTER_BACK_MS;
	int s;

	if (deadline_mono < min)
		deadline_mono = min;
	while ((s = route_serving(rt, listen, l, why, why_len)) != 1 &&
	       svc_mono_ms() < deadline_mono)
		svc_sleep_ms(100);
	return s;
}

/* Remove the preview route, if the manifest has one. Errors are warnings. */
static void preview_off(struct svc_ctx *ctx, struct svc_runtime *rt, const struct svc_manifest *m)
{
	struct svc_error e = { 0 };
	char buf[1200];

	if (!m->rollout.has_preview)
		return;
	if (svc_plane_ping(svc_runtime_plane(rt), NULL))
		return;
	if (route_set(ctx, rt, m, &m->rollout.preview, NULL, &e))
		svc_report_warn(ctx->report, m->service, "cannot close preview %s: %s",
				m->rollout.preview.text, svc_error_format(&e, buf, sizeof(buf)));
}

/* ---- health ---- */

struct alive_ctx {
	struct svc_runtime *rt;
	const char *service;
	const char *id;
};

static bool instance_alive(void *p, struct svc_health_target *t)
{
	struct alive_ctx *a = p;
	struct svc_instance_list all = { 0 };
	bool alive = false;

	if (a->rt->ops->list(a->rt, a->service, &all, NULL))
		return false;
	for (size_t i = 0; i < all.count; i++) {
		const struct svc_instance *in = &all.items[i];
		if (strcmp(in->id, a->id))
			continue;
		alive = in->state == SVC_INST_RUNNING;
		if (!alive && in->why && in->node)
			snprintf(t->last_detail, sizeof(t->last_detail),
				 "instance not running (task %s on node %s): %s",
				 in->runtime_id ? in->runtime_id : "-", in->node, in->why);
		else if (!alive && in->why)
			snprintf(t->last_detail, sizeof(t->last_detail), "instance not running: %s",
				 in->why);
		/* a runtime that replaced it (a swarm task) may have moved it */
		if (alive && in->port && (in->port != t->port || strcmp(in->host, t->host))) {
			snprintf(t->host, sizeof(t->host), "%s", in->host);
			t->port = in->port;
		}
	}
	svc_instance_list_release(&all);
	return alive;
}

struct targets {
	struct svc_health_target *t;
	struct alive_ctx *a;
	size_t n;
};

static void targets_init(struct targets *ts, struct svc_runtime *rt,
			 const struct svc_instance_list *l)
{
	ts->n = l->count;
	ts->t = svc_calloc(l->count + 1, sizeof(*ts->t));
	ts->a = svc_calloc(l->count + 1, sizeof(*ts->a));
	for (size_t i = 0; i < l->count; i++) {
		const struct svc_instance *in = &l->items[i];
		svc_health_target_init(&ts->t[i], in->id, in->host, in->port);
		ts->a[i].rt = rt;
		ts->a[i].service = in->service;
		ts->a[i].id = in->id;
		ts->t[i].alive = instance_alive;
		ts->t[i].ctx = &ts->a[i];
	}
}

static void targets_release(struct targets *ts)
{
	free(ts->t);
	free(ts->a);
}

struct progress_arg {
	struct svc_report *r;
	const char *service;
	const char *color;
	size_t last;
	const struct svc_deploy_cancel *cancel;   /* may be NULL */
	const char *release;
	char *why;
	size_t why_len;
};

static bool health_progress(void *p, const struct svc_health_target *t, size_t n)
{
	struct progress_arg *a = p;
	size_t ok = 0;

	for (size_t i = 0; i < n; i++)
		ok += t[i].healthy;
	if (ok != a->last) {
		svc_report_step(a->r, a->service, "health", "%s healthy %zu/%zu", a->color, ok, n);
		a->last = ok;
	}
	return !(a->cancel && a->cancel->cancelled(a->cancel->arg, a->service, a->release,
						   a->why, a->why_len));
}

/*
 * Wait until every instance of l is healthy, within timeout_ms. With
 * cancel, SVC_ECANCELED when it says so, why saying why.
 */
static int wait_healthy_or_cancel(struct svc_ctx *ctx, struct svc_runtime *rt,
				  const struct svc_manifest *m,
				  const struct svc_instance_list *l, int64_t timeout_ms,
				  const struct svc_deploy_cancel *cancel, const char *release,
				  char *why, size_t why_len, struct svc_error *err)
{
	struct targets ts;
	struct progress_arg pa = { ctx->report, m->service,
				   l->count ? l->items[0].color : "new release", (size_t)-1,
				   cancel && cancel->cancelled ? cancel : NULL, release, why,
				   why_len };
	int rc;

	targets_init(&ts, rt, l);
	rc = svc_health_wait(&m->health, ts.t, ts.n, timeout_ms, health_progress, &pa, err);
	targets_release(&ts);
	return rc;
}

static int wait_healthy(struct svc_ctx *ctx, struct svc_runtime *rt,
			const struct svc_manifest *m, const struct svc_instance_list *l,
			int64_t timeout_ms, struct svc_error *err)
{
	return wait_healthy_or_cancel(ctx, rt, m, l, timeout_ms, NULL, NULL, NULL, 0, err);
}

/* One probe of each instance: are they all answering right now? */
static bool all_healthy_now(struct svc_runtime *rt, const struct svc_manifest *m,
			    const struct svc_instance_list *l)
{
	struct targets ts;
	bool ok = l->count > 0;

	targets_init(&ts, rt, l);
	for (size_t i = 0; ok && i < ts.n; i++) {
		/* l was listed just now: the probe alone decides */
		ts.t[i].alive = NULL;
		ok = l->items[i].state == SVC_INST_RUNNING && svc_health_probe(&m->health, &ts.t[i]);
	}
	targets_release(&ts);
	return ok;
}

/*
 * Which running instances of l fail their health check now. Each is probed
 * once; one that fails is probed again each interval until it passes or has
 * failed unhealthy_threshold times in a row, as a bake would judge it (one
 * bad answer is not yet unhealthy). A process started less than
 * start_timeout ago (restarted by its supervisor, say) is still starting
 * and not judged, as a rollout would not judge green before then. bad[i] is
 * set for those found unhealthy; returns how many. why (may be NULL) names
 * the first with its last probe result.
 */
static size_t unhealthy_now(struct svc_runtime *rt, const struct svc_manifest *m,
			    const struct svc_instance_list *l, bool *bad, char *why,
			    size_t why_len)
{
	int after = m->health.unhealthy_threshold > 0 ? m->health.unhealthy_threshold : 1;
	bool *open = svc_calloc(l->count + 1, sizeof(*open));
	size_t nbad = 0, pending = 0;
	int64_t now = svc_now_ms();
	struct targets ts;

	targets_init(&ts, rt, l);
	for (size_t i = 0; i < ts.n; i++) {
		ts.t[i].alive = NULL;    /* l was listed just now */
		bad[i] = false;
		open[i] = l->items[i].state == SVC_INST_RUNNING &&
			  !(l->items[i].started_ms > 0 &&
			    now - l->items[i].started_ms < m->health.start_timeout_ms);
		pending += open[i];
	}
	for (int round = 0; pending; round++) {
		if (round)
			svc_sleep_ms(m->health.interval_ms > 0 ? m->health.interval_ms : 1000);
		for (size_t i = 0; i < ts.n; i++) {
			if (!open[i])
				continue;
			if (svc_health_probe(&m->health, &ts.t[i])) {
				open[i] = false;
				pending--;
			} else if (ts.t[i].fail_streak >= after) {
				open[i] = false;
				pending--;
				bad[i] = true;
				if (!nbad++ && why)
					snprintf(why, why_len, "instance %s fails its health check (%s)",
						 ts.t[i].name, ts.t[i].last_detail);
			}
		}
	}
	targets_release(&ts);
	free(open);
	return nbad;
}

static int64_t health_timeout(const struct svc_manifest *m, int64_t deadline_mono)
{
	int64_t t = m->health.start_timeout_ms;

	if (deadline_mono) {
		int64_t left = deadline_mono - svc_mono_ms();
		if (left < 0)
			left = 0;
		if (left < t)
			t = left;
	}
	return t;
}
/* ---- the state, loaded once ---- */

static int open_runtime_for(struct svc_runtime **rt, struct svc_ctx *ctx,
			    enum svc_runtime_kind kind, struct svc_error *err)
{
	return svc_runtime_open(rt, kind, ctx->state_dir, ctx->self_exe, err);
}

int svc_rollout_runtime_with_instances(struct svc_runtime **out, struct svc_ctx *ctx,
				       const char *service, size_t *count)
{
	*out = NULL;
	*count = 0;
	for (size_t k = 0; svc_runtime_drivers[k]; k++) {
		struct svc_runtime *rt = NULL;
		struct svc_instance_list l = { 0 };
		if (open_runtime_for(&rt, ctx, svc_runtime_drivers[k]->kind, NULL))
			continue;
		if (rt->ops->list(rt, service, &l, NULL) == 0 && l.count) {
			*count = l.count;
			svc_instance_list_release(&l);
			*out = rt;
			return 0;
		}
		svc_instance_list_release(&l);
		svc_runtime_free(rt);
	}
	return 0;
}

/*
 * Load service's state (the caller holds its lock). Unreadable state is
 * SVC_ESTATE naming the file and the way out. A missing current.json means
 * "never deployed" only when no runtime runs instances of the service (or
 * the first rollout, recorded in rollout.json, is under way).
 */
int svc_rollout_load_state(struct svc_ctx *ctx, const char *service,
			   struct svc_service_state *st, struct svc_error *err)
{
	struct svc_error e;
	int rc;

	svc_error_clear(&e);
	rc = svc_service_state_load(st, ctx->state_dir, service, &e);
	if (!rc && !st->has_current && !st->in_rollout) {
		struct svc_runtime *rt = NULL;
		size_t n = 0;
		svc_rollout_runtime_with_instances(&rt, ctx, service, &n);
		svc_runtime_free(rt);
		if (n)
			rc = svc_error_set(&e, SVC_ESTATE,
				"%s/services/%s/current.json: missing, but %zu instance%s of '%s' "
				"run", ctx->state_dir, service, n, n == 1 ? "" : "s", service);
	}
	if (rc == SVC_ESTATE)
		return svc_error_set(err, rc, "%s; run 'svcctl repair %s' to rebuild the state "
				     "from what runs ('svcctl stop %s' still stops it)",
				     e.message, service, service);
	return rc ? svc_error_pass(err, &e, rc) : 0;
}

/*
 * The runtime the service's releases use: that of the active, in-rollout,
 * warm or newest release's manifest; with none recorded, one that runs
 * instances of it; else the process runtime.
 */
int svc_rollout_open_runtime(struct svc_runtime **out, struct svc_ctx *ctx,
			     const struct svc_service_state *st, struct svc_error *err)
{
	const char *cands[4];
	size_t n = 0;
	int rc;

	*out = NULL;
	cands[0] = st->cur.active;
	cands[1] = st->in_rollout ? st->rec.release : "";
	cands[2] = st->cur.previous;
	cands[3] = st->hist.count ? st->hist.items[st->hist.count - 1].release : "";
	for (size_t i = 0; i < 4; i++) {
		struct svc_manifest *m = NULL;
		struct svc_error e = { 0 };
		if (!cands[i][0])
			continue;
		/* a release whose manifest is not stored (repaired state): the next one */
		if ((rc = release_manifest(&m, ctx, st->service, cands[i], &e)) == SVC_ENOTFOUND)
			continue;
		if (rc)
			return svc_error_pass(err, &e, rc);
		rc = open_runtime_for(out, ctx, m->runtime, err);
		svc_manifest_free(m);
		return rc;
	}
	svc_rollout_runtime_with_instances(out, ctx, st->service, &n);
	if (*out)
		return 0;
	return open_runtime_for(out, ctx, SVC_RUNTIME_DEFAULT, err);
}


/* ---- the steps ---- */

struct run {
	struct svc_ctx *ctx;
	struct svc_service_state *st;    /* the service's state (borrowed) */
	struct svc_runtime *rt;
	struct svc_manifest *m;          /* green's manifest (borrowed) */
	struct svc_rollout_rec rec;
	struct svc_rollout_result *res;
	const char *op;                  /* the command, for fault points */
	int64_t deadline_mono;           /* 0 = none */
	const struct svc_origin *origin; /* the deploy's, for its history entry; may be NULL */
	const struct svc_deploy_cancel *cancel; /* the deploy's; may be NULL */
	bool switch_refused;             /* the switch changed no router (SVC_EFAILED) */
};

/* A fault point named "OP:WHAT" (fault injection builds only). */
static void run_fault(const struct run *r, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "%s:%s", r->op ? r->op : "recover", what);
	svc_fault_point(name);
	if (svc_fault_wanted("SVCCTL_FAULT_ROUTER", name)) {
		/* the router dies right here (SIGKILL), svcctl goes on */
		json_t *reply = NULL, *req = json_pack("{s:s}", "op", "ping");
		json_int_t pid = 0;
		if (svc_router_request(r->ctx->state_dir, req, &reply, NULL) == 0)
			pid = json_integer_value(json_object_get(reply, "pid"));
		if (pid > 1) {
			fprintf(stderr, "svcctl: fault point '%s': killing the router (pid %lld)\n",
				name, (long long)pid);
			kill((pid_t)pid, SIGKILL);
			while (svc_router_running(r->ctx->state_dir))
				svc_sleep_ms(5);
		}
		json_decref(reply);
		json_decref(req);
	}
}

static int save_step(struct run *r, enum svc_rollout_step step, struct svc_error *err)
{
	int rc;

	r->rec.step = step;
	r->st->rec = r->rec;
	rc = svc_service_state_save_rollout(r->st, err);
	r->rec = r->st->rec;
	if (!rc)
		run_fault(r, svc_rollout_step_name(step));
	return rc;
}

/* Record an outcome of the run's history entry. Failures are warnings. */
static void run_outcome(struct run *r, enum svc_outcome outcome, const char *reason)
{
	struct svc_error e = { 0 };
	char buf[1200];

	if (svc_service_state_set_outcome(r->st, r->rec.history_seq, outcome, reason, &e))
		svc_report_warn(r->ctx->report, r->m->service, "cannot record the outcome: %s",
				svc_error_format(&e, buf, sizeof(buf)));
}

/* A run over rec (NULL: an empty record, for run_begin to fill). */
static void run_init(struct run *r, struct svc_ctx *ctx, struct svc_service_state *st,
		     struct svc_runtime *rt, struct svc_manifest *m,
		     const struct svc_rollout_rec *rec, struct svc_rollout_result *res,
		     const char *op)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->st = st;
	r->rt = rt;
	r->m = m;
	r->res = res;
	r->op = op;
	if (rec)
		r->rec = *rec;
}

/*
 * Begin a new rollout of release rid: fill the record (kind, color, the
 * blue it replaces) and append its history entry, saved before any step.
 * current.json is written too when it does not exist yet, so that a
 * history with entries always has one beside it.
 */
static int run_begin(struct run *r, enum svc_release_kind kind, const char *rid,
		     const char *color, const char *blue, const char *blue_color,
		     struct svc_error *err)
{
	struct svc_history_entry e = { 0 }, *added;
	int rc;

	memset(&r->rec, 0, sizeof(r->rec));
	r->rec.kind = kind;
	snprintf(r->rec.release, sizeof(r->rec.release), "%s", rid);
	snprintf(r->rec.color, sizeof(r->rec.color), "%s", color);
	snprintf(r->rec.blue, sizeof(r->rec.blue), "%s", blue);
	snprintf(r->rec.blue_color, sizeof(r->rec.blue_color), "%s", blue_color);
	r->rec.owner_pid = getpid();
	r->rec.started_ms = svc_now_ms();
	if (!r->st->has_current && (rc = svc_service_state_save_current(r->st, err)))
		return rc;
	snprintf(e.release, sizeof(e.release), "%s", rid);
	snprintf(e.manifest_hash, sizeof(e.manifest_hash), "%s", rid);
	snprintf(e.color, sizeof(e.color), "%s", color);
	e.version = r->m->version;
	e.kind = kind;
	e.outcome = SVC_OUTCOME_IN_PROGRESS;
	e.artifact = r->m->artifact;   /* copied by svc_history_append */
	e.image = (char *)svc_manifest_pinned(r->m);   /* copied too */
	e.origin = (struct svc_origin *)r->origin;   /* copied too */
	e.started_ms = r->rec.started_ms;
	added = svc_history_append(&r->st->hist, &e);
	r->rec.history_seq = added->seq;
	rc = svc_service_state_save_history(r->st, err);
	if (r->res) {
		r->res->history_seq = r->rec.history_seq;
		snprintf(r->res->release, sizeof(r->res->release), "%s", rid);
		snprintf(r->res->color, sizeof(r->res->color), "%s", color);
		snprintf(r->res->previous, sizeof(r->res->previous), "%s", blue);
	}
	if (!rc)
		run_fault(r, "begun");
	return rc;
}

/*
 * Wait until the router holds no connection to l's instances (those it
 * drains after a switch away from them), at most m's drain timeout: the
 * router closes what is left then anyway. Stopping them sooner would cut
 * requests in flight.
 */
static void wait_drained(struct svc_runtime *rt, const struct svc_manifest *m,
			 const struct svc_instance_list *l)
{
	int64_t until = svc_mono_ms() + m->rollout.drain_timeout_ms;
	char **addrs = backends_of(l);

	while (addrs[0] && svc_mono_ms() < until) {
		if (svc_plane_connections(svc_runtime_plane(rt), addrs) <= 0)
			break;
		svc_sleep_ms(100);
	}
	svc_strv_free(addrs);
}

/*
 * Undo a rollout that has not been promoted: route back to blue (if the
 * route may have moved), close the preview, stop green unless it is a warm
 * release kept for rollback, record the outcome and clear the record.
 */
static void undo(struct run *r, enum svc_outcome outcome, const char *reason)
{
	struct svc_ctx *ctx = r->ctx;
	const struct svc_current *cur = &r->st->cur;
	struct svc_instance_list blue = { 0 };
	struct svc_error e = { 0 };
	char buf[1200];
	const char *svc = r->m->service;

	if (has_route(r->m) && r->rec.step >= SVC_STEP_SWITCHING && !r->switch_refused) {
		release_instances(r->rt, svc, r->rec.blue, &blue, NULL);
		if (route_set(ctx, r->rt, r->m, &r->m->ports[0].listen, &blue, &e))
			svc_report_warn(ctx->report, svc, "cannot switch back to blue: %s",
					svc_error_format(&e, buf, sizeof(buf)));
		else if (blue.count)
			svc_report_step(ctx->report, svc, "switch-back",
					"traffic switched back to %s %.*s", r->rec.blue_color,
					SHORT(r->rec.blue));
		svc_instance_list_release(&blue);
	}
	preview_off(ctx, r->rt, r->m);
	if (strcmp(r->rec.release, cur->active) && strcmp(r->rec.release, cur->previous)) {
		struct svc_instance_list green = { 0 };
		release_instances(r->rt, svc, r->rec.release, &green, NULL);
		/* green had traffic (or a preview): its connections drain first */
		if (has_route(r->m) && (r->rec.step >= SVC_STEP_SWITCHING ||
					r->m->rollout.has_preview))
			wait_drained(r->rt, r->m, &green);
		svc_report_step(ctx->report, svc, "stop-new", "stopping %s %.*s", r->rec.color,
				SHORT(r->rec.release));
		stop_list(r->rt, ctx->report, &green);
		svc_instance_list_release(&green);
	}
	run_outcome(r, outcome, reason);
	svc_error_clear(&e);
	if (svc_service_state_clear_rollout(r->st, &e))
		svc_report_warn(ctx->report, svc, "%s", svc_error_format(&e, buf, sizeof(buf)));
}

/*
 * Stop instances of releases that are neither active, warm nor in rollout,
 * forget a warm release whose time is up, and clean up after instances
 * that stopped themselves (expired). Only ever called on state that was
 * read: an unreadable file never makes an instance an orphan.
 */
static void stop_orphans(struct svc_runtime *rt, struct svc_service_state *st,
			 char *what, size_t what_len)
{
	struct svc_current *cur = &st->cur;
	struct svc_instance_list all = { 0 };
	const char *svc = st->service;
	size_t stopped = 0;

	/*
	 * With no history at all (a state dir deleted), nothing says which
	 * instances are orphans: leave every one alone.
	 */
	if (!st->has_current || !st->hist.count)
		return;
	if (cur->previous[0] && cur->previous_until_ms && svc_now_ms() >= cur->previous_until_ms) {
		/* its warm period is over: its supervisors have stopped it */
		cur->previous[0] = cur->previous_color[0] = '\0';
		cur->previous_until_ms = 0;
		svc_service_state_save_current(st, NULL);
	}
	if (rt->ops->list(rt, svc, &all, NULL))
		return;
	for (size_t i = 0; i < all.count; i++) {
		struct svc_instance *in = &all.items[i];
		bool stopped_on_purpose = in->state == SVC_INST_STOPPED;
		if (!stopped_on_purpose &&
		    (!strcmp(in->release, cur->active) || !strcmp(in->release, cur->previous) ||
		     (st->in_rollout && !strcmp(in->release, st->rec.release))))
			continue;
		if (rt->ops->stop(rt, in, NULL) == 0 && in->state != SVC_INST_GONE &&
		    in->state != SVC_INST_STOPPED)
			stopped++;
	}
	svc_instance_list_release(&all);
	if (stopped) {
		char text[64];
		snprintf(text, sizeof(text), "stopped %zu orphaned instance%s", stopped,
			 stopped == 1 ? "" : "s");
		svc_text_add(what, what_len, text);
	}
}

/*
 * After the switch and the bake: green is the active release, blue becomes
 * the warm previous one (or is stopped after draining), the release warm
 * before that is stopped, and the record is cleared.
 */
static int finish(struct run *r, struct svc_error *err)
{
	struct svc_ctx *ctx = r->ctx;
	const char *svc = r->m->service;
	struct svc_current *cur = &r->st->cur;
	struct svc_instance_list green = { 0 }, blue = { 0 };
	char old_previous[65];
	int64_t now = svc_now_ms();
	int rc;

	if ((rc = save_step(r, SVC_STEP_DRAINING, err)))
		return rc;
	preview_off(ctx, r->rt, r->m);
	snprintf(old_previous, sizeof(old_previous), "%s", cur->previous);
	release_instances(r->rt, svc, r->rec.blue, &blue, NULL);
	snprintf(cur->active, sizeof(cur->active), "%s", r->rec.release);
	snprintf(cur->active_color, sizeof(cur->active_color), "%s", r->rec.color);
	cur->active_since_ms = now;
	cur->previous[0] = cur->previous_color[0] = '\0';
	cur->previous_until_ms = 0;
	if (blue.count && strcmp(r->rec.blue, r->rec.release) &&
	    r->m->rollout.keep_previous_ms > 0 && has_route(r->m)) {
		snprintf(cur->previous, sizeof(cur->previous), "%s", r->rec.blue);
		snprintf(cur->previous_color, sizeof(cur->previous_color), "%s", r->rec.blue_color);
		cur->previous_until_ms = now + r->m->rollout.keep_previous_ms;
	}
	if ((rc = svc_service_state_save_current(r->st, err)))
		goto done;
	run_fault(r, "current-saved");
	run_outcome(r, SVC_OUTCOME_PROMOTED, NULL);

	/* green may be a formerly warm release: it must not expire now */
	release_instances(r->rt, svc, r->rec.release, &green, NULL);
	expire_list(r->rt, &green, 0);

	if (old_previous[0] && strcmp(old_previous, r->rec.release) &&
	    strcmp(old_previous, r->rec.blue)) {
		struct svc_instance_list old = { 0 };
		release_instances(r->rt, svc, old_previous, &old, NULL);
		/* deploys closer together than the drain: it may still drain */
		if (has_route(r->m))
			wait_drained(r->rt, r->m, &old);
		svc_report_step(ctx->report, svc, "stop-old",
				"stopping release %.*s (no longer the rollback target)",
				SHORT(old_previous));
		stop_list(r->rt, ctx->report, &old);
		svc_instance_list_release(&old);
	}
	if (blue.count && strcmp(r->rec.blue, r->rec.release)) {
		if (cur->previous[0]) {
			char d[32];
			expire_list(r->rt, &blue, cur->previous_until_ms);
			svc_report_step(ctx->report, svc, "keep-warm",
					"%s %.*s kept warm for %s for instant rollback",
					r->rec.blue_color, SHORT(r->rec.blue),
					svc_duration_format(d, sizeof(d), r->m->rollout.keep_previous_ms));
		} else {
			/* keep_previous 0 (or no route): drain, then stop */
			svc_report_step(ctx->report, svc, "drain", "draining %s %.*s",
					r->rec.blue_color, SHORT(r->rec.blue));
			if (has_route(r->m))
				wait_drained(r->rt, r->m, &blue);
			svc_report_step(ctx->report, svc, "stop-old", "stopping %s %.*s",
					r->rec.blue_color, SHORT(r->rec.blue));
			stop_list(r->rt, ctx->report, &blue);
		}
	}
	rc = svc_service_state_clear_rollout(r->st, err);
	if (r->res) {
		snprintf(r->res->release, sizeof(r->res->release), "%s", r->rec.release);
		snprintf(r->res->color, sizeof(r->res->color), "%s", r->rec.color);
		snprintf(r->res->previous, sizeof(r->res->previous), "%s", r->rec.blue);
	}
done:
	svc_instance_list_release(&green);
	svc_instance_list_release(&blue);
	return rc;
}
/*
 * After the bake: the switch counts only when the router serves green,
 * listening. A router that answers but does not (the address taken while
 * it was down, say) is pointed at green once more; if it still does not,
 * the rollout is undone: SVC_EUNAVAIL, blue stays the active release. When
 * no router answers within ROUTER_BACK_MS, *lost is set: the rollout goes
 * on (the saved table has green) and fails after it.
 */
static int confirm_switch(struct run *r, const struct svc_instance_list *green, bool *lost,
			  char *why, size_t why_len, struct svc_error *err)
{
	const struct svc_addr *listen = &r->m->ports[0].listen;
	const char *svc = r->m->service;
	struct svc_error e = { 0 };
	char reason[1400];
	int s;

	*lost = false;
	if ((s = route_serving(r->rt, listen, green, why, why_len)) == 1)
		return 0;
	svc_report_step(r->ctx->report, svc, "router", "%s after the switch; waiting for it", why);
	s = wait_serving(r->rt, listen, green, 0, why, why_len);
	if (s == 0 && route_set(r->ctx, r->rt, r->m, listen, green, &e) == 0)
		s = route_serving(r->rt, listen, green, why, why_len);
	if (s == 1) {
		svc_report_step(r->ctx->report, svc, "router", "the router serves %s again",
				r->rec.color);
		return 0;
	}
	if (s < 0) {
		*lost = true;
		return 0;
	}
	snprintf(reason, sizeof(reason), "switch not in force: %.1000s", why);
	undo(r, SVC_OUTCOME_ABORTED, reason);
	return svc_error_set(err, SVC_EUNAVAIL, "%s; %s", reason,
			     r->rec.blue[0] ? "blue is still the active release" : "nothing was switched");
}

/* switching -> baking -> finish. Green is healthy when this is called. */
static int promote_phase(struct run *r, struct svc_error *err)
{
	struct svc_ctx *ctx = r->ctx;
	const char *svc = r->m->service;
	struct svc_instance_list green = { 0 };
	struct svc_error e = { 0 };
	char reason[1400], buf[1200];
	bool lost = false;
	int64_t t0;
	int rc;

	if ((rc = release_instances(r->rt, svc, r->rec.release, &green, err)))
		goto done;
	if ((rc = save_step(r, SVC_STEP_SWITCHING, err)))
		goto done;
	if (has_route(r->m)) {
		t0 = svc_mono_ms();
		rc = route_set(ctx, r->rt, r->m, &r->m->ports[0].listen, &green, &e);
		if (r->res)
			r->res->switch_ms = svc_mono_ms() - t0;
		r->switch_refused = rc == SVC_EFAILED;   /* blue serves everywhere still */
		if (rc) {
			snprintf(reason, sizeof(reason), "switch failed: %s",
				 svc_error_format(&e, buf, sizeof(buf)));
			undo(r, SVC_OUTCOME_ABORTED, reason);
			rc = svc_error_set(err, rc == SVC_EUNAVAIL ? SVC_EUNAVAIL : SVC_EFAILED,
					   "%s", reason);
			goto done;
		}
		svc_report_step(ctx->report, svc, "switch", "traffic on %s switched to %s %.*s",
				r->m->ports[0].listen.text, r->rec.color, SHORT(r->rec.release));
	}
	if ((rc = save_step(r, SVC_STEP_BAKING, err)))
		goto done;
	if (r->m->rollout.bake_ms > 0) {
		struct targets ts;
		char d[32];
		svc_report_step(ctx->report, svc, "bake", "baking %s for %s", r->rec.color,
				svc_duration_format(d, sizeof(d), r->m->rollout.bake_ms));
		targets_init(&ts, r->rt, &green);
		rc = svc_health_watch(&r->m->health, ts.t, ts.n, r->m->rollout.bake_ms, &e);
		targets_release(&ts);
		if (rc) {
			snprintf(reason, sizeof(reason), "bake failed: %s",
				 svc_error_format(&e, buf, sizeof(buf)));
			svc_report_step(ctx->report, svc, "bake", "%s", reason);
			undo(r, SVC_OUTCOME_ROLLED_BACK, reason);
			rc = svc_error_set(err, SVC_EFAILED, "%s; traffic switched back to %s",
					   reason, r->rec.blue[0] ? "blue" : "nothing");
			goto done;
		}
	}
	if (has_route(r->m) && (rc = confirm_switch(r, &green, &lost, reason, sizeof(reason), err)))
		goto done;
	rc = finish(r, err);
	if (!rc && has_route(r->m) && !lost)
		/* the router may also die between the bake and here */
		lost = wait_serving(r->rt, &r->m->ports[0].listen, &green, 0, reason,
				    sizeof(reason)) != 1;
	if (!rc && lost) {
		svc_report_step(ctx->report, svc, "router", "%s", reason);
		rc = svc_error_set(err, SVC_EUNAVAIL,
				   "the router was lost after the switch and does not serve %s: %s; "
				   "release %.12s is active and in the router's saved table, so "
				   "clients reach it once the router runs again (see %s/router/router.log)",
				   r->m->ports[0].listen.text, reason, r->rec.release, ctx->state_dir);
	} else if (!rc) {
		svc_report_step(ctx->report, svc, "done", "release %.*s is active (%s)",
				SHORT(r->rec.release), r->rec.color);
	}
done:
	svc_instance_list_release(&green);
	return rc;
}

/*
 * What the runtime says of release's instances that failed (a swarm task's
 * exit), as "; ID (task T on node N): WHY" each, into buf ("" when nothing).
 */
static void runtime_says(struct svc_runtime *rt, const char *service, const char *release,
			 char *buf, size_t len)
{
	struct svc_instance_list l = { 0 };

	buf[0] = '\0';
	if (release_instances(rt, service, release, &l, NULL))
		return;
	for (size_t i = 0; i < l.count; i++) {
		const struct svc_instance *in = &l.items[i];
		size_t n = strlen(buf);
		if (!in->why || n + 1 >= len)
			continue;
		if (in->node)
			snprintf(buf + n, len - n, "; %s (task %s on node %s): %s", in->id,
				 in->runtime_id ? in->runtime_id : "-", in->node, in->why);
		else
			snprintf(buf + n, len - n, "; %s: %s", in->id, in->why);
	}
	svc_instance_list_release(&l);
}

/*
 * The routers of rt's plane run: svcctl's router here started when none
 * answers, or a cluster's routers put up when none run there.
 */
static int routers_ensure(struct svc_ctx *ctx, struct svc_runtime *rt, const char *service,
			  struct svc_error *err)
{
	struct svc_plane *p = svc_runtime_plane(rt);

	if (!svc_plane_is_local(p) && svc_plane_ping(p, NULL))
		svc_report_step(ctx->report, service, "router", "not every node's router answers: "
				"making sure a router runs on every node");
	return svc_plane_ensure(p, err);
}

/* starting -> health -> (awaiting-promotion | promote_phase) */
static int run_rollout(struct run *r, struct svc_error *err)
{
	struct svc_ctx *ctx = r->ctx;
	struct svc_manifest *m = r->m;
	struct svc_instance_list green = { 0 };
	struct svc_error e = { 0 };
	char reason[1400], buf[1200], why[512] = "";
	bool *have = NULL;
	int rc;

	if (has_route(m) && (rc = routers_ensure(ctx, r->rt, m->service, &e))) {
		snprintf(reason, sizeof(reason), "router unavailable: %s",
			 svc_error_format(&e, buf, sizeof(buf)));
		undo(r, SVC_OUTCOME_ABORTED, reason);
		rc = svc_error_set(err, SVC_EUNAVAIL, "%s", reason);
		goto done;
	}
	if ((rc = release_instances(r->rt, m->service, r->rec.release, &green, err)))
		goto done;
	have = svc_calloc((size_t)m->replicas + 1, sizeof(*have));
	for (size_t i = 0; i < green.count; i++)
		if (green.items[i].index >= 0 && green.items[i].index < m->replicas)
			have[green.items[i].index] = true;
	svc_report_step(ctx->report, m->service, "start",
			"starting %.*s as %s (%d replica%s, version %s)",
			SHORT(r->rec.release), r->rec.color, m->replicas, m->replicas == 1 ? "" : "s",
			m->version ? m->version : "-");
	for (int i = 0; i < m->replicas; i++) {
		struct svc_instance in = { 0 };
		if (have[i])
			continue;
		rc = r->rt->ops->start(r->rt, m, r->rec.release, r->rec.color, i, &in, &e);
		if (rc) {
			snprintf(reason, sizeof(reason), "instance %d did not start: %s", i,
				 svc_error_format(&e, buf, sizeof(buf)));
			undo(r, SVC_OUTCOME_ABORTED, reason);
			rc = svc_error_set(err, rc == SVC_EUNAVAIL ? SVC_EUNAVAIL : SVC_EFAILED,
					   "%s; blue still serves", reason);
			goto done;
		}
		if (in.node)
			svc_report_detail(ctx->report, m->service, "start",
					  "instance %s: task %s on node %s, at %s:%d", in.id,
					  in.runtime_id ? in.runtime_id : "-", in.node, in.host, in.port);
		else
			svc_report_detail(ctx->report, m->service, "start",
					  "instance %s: pid %ld, port %d", in.id, (long)in.pid, in.port);
		svc_instance_release(&in);
	}
	svc_instance_list_release(&green);
	if ((rc = save_step(r, SVC_STEP_HEALTH, err)))
		goto done;
	if ((rc = release_instances(r->rt, m->service, r->rec.release, &green, err)))
		goto done;
	rc = wait_healthy_or_cancel(ctx, r->rt, m, &green, health_timeout(m, r->deadline_mono),
				    r->cancel, r->rec.release, why, sizeof(why), &e);
	if (rc == SVC_ECANCELED) {
		snprintf(reason, sizeof(reason), "%s", why[0] ? why : "cancelled");
		svc_report_step(ctx->report, m->service, "health", "the wait for %s %.*s is "
				"cancelled: %s", r->rec.color, SHORT(r->rec.release), reason);
		undo(r, SVC_OUTCOME_ABORTED, reason);
		if (r->res)
			r->res->cancelled = true;
		rc = svc_error_set(err, SVC_EFAILED, "%s; %s", reason,
				   r->rec.blue[0] ? "blue still serves" : "nothing was switched");
		goto done;
	}
	if (rc) {
		char said[600] = "";
		runtime_says(r->rt, m->service, r->rec.release, said, sizeof(said));
		snprintf(reason, sizeof(reason), "health check failed: %s%s",
			 svc_error_format(&e, buf, sizeof(buf)), said);
		svc_report_step(ctx->report, m->service, "health", "%s", reason);
		undo(r, SVC_OUTCOME_ABORTED, reason);
		rc = svc_error_set(err, SVC_EFAILED, "%s; %s", reason,
				   r->rec.blue[0] ? "blue still serves" : "nothing was switched");
		goto done;
	}
	if (m->rollout.has_preview) {
		if ((rc = route_set(ctx, r->rt, m, &m->rollout.preview, &green, &e))) {
			snprintf(reason, sizeof(reason), "cannot open preview %s: %s",
				 m->rollout.preview.text, svc_error_format(&e, buf, sizeof(buf)));
			undo(r, SVC_OUTCOME_ABORTED, reason);
			rc = svc_error_set(err, SVC_EFAILED, "%s", reason);
			goto done;
		}
		svc_report_step(ctx->report, m->service, "preview", "%s answers on preview %s",
				r->rec.color, m->rollout.preview.text);
	}
	if (m->rollout.manual) {
		if ((rc = save_step(r, SVC_STEP_AWAIT_PROMOTE, err)))
			goto done;
		run_outcome(r, SVC_OUTCOME_AWAITING_PROMOTION, NULL);
		svc_report_step(ctx->report, m->service, "await-promotion",
				"%s %.*s is healthy; run 'svcctl promote %s' to switch traffic",
				r->rec.color, SHORT(r->rec.release), m->service);
		if (r->res) {
			r->res->awaiting_promotion = true;
			snprintf(r->res->release, sizeof(r->res->release), "%s", r->rec.release);
			snprintf(r->res->color, sizeof(r->res->color), "%s", r->rec.color);
		}
		goto done;
	}
	rc = promote_phase(r, err);
done:
	free(have);
	svc_instance_list_release(&green);
	return rc;
}


/*
 * Point the route back at the active release's instances when they moved
 * (a runtime that restarted them on other ports, such as a restarted
 * Docker engine). Nothing to do without a router or a stable state.
 */
static void reconcile_route(struct svc_ctx *ctx, struct svc_runtime *rt,
			    const struct svc_service_state *st, bool start_router,
			    char *what, size_t what_len)
{
	const struct svc_current *cur = &st->cur;
	const char *service = st->service;
	struct svc_manifest *m = NULL;
	struct svc_instance_list l = { 0 };
	char why[600];

	if (!cur->active[0] || release_manifest(&m, ctx, service, cur->active, NULL) ||
	    !has_route(m))
		goto done;
	if (start_router && svc_plane_is_local(svc_runtime_plane(rt)) &&
	    svc_router_ping(ctx->state_dir, NULL)) {
		/* clients of the active release need one (its supervisor, killed
		 * too, would otherwise only come back with the next deploy); a
		 * cluster's routers are their engine's to restart */
		struct svc_error e = { 0 };
		char text[1200];
		if (svc_router_ensure(ctx->state_dir, ctx->self_exe, &e) == 0)
			snprintf(text, sizeof(text), "started the router again (none answered)");
		else
			snprintf(text, sizeof(text), "the router is not running: %.1100s", e.message);
		svc_text_add(what, what_len, text);
	}
	release_instances(rt, service, cur->active, &l, NULL);
	for (size_t i = 0; i < l.count; i++)
		if (l.items[i].state != SVC_INST_RUNNING || !l.items[i].port)
			goto done;   /* not settled yet: leave the route alone */
	/* a router that answers, serving something else (or not listening) */
	if (l.count && route_serving(rt, &m->ports[0].listen, &l, why, sizeof(why)) == 0 &&
	    route_set(ctx, rt, m, &m->ports[0].listen, &l, NULL) == 0) {
		char text[160];
		snprintf(text, sizeof(text), "pointed %s at the active release's instances again",
			 m->ports[0].listen.text);
		svc_text_add(what, what_len, text);
	}
done:
	svc_instance_list_release(&l);
	svc_manifest_free(m);
}

/* Append {listen, service, backends, drain} for release's running instances. */
static void table_add(json_t *routes, struct svc_runtime *rt, const struct svc_manifest *m,
		      const struct svc_addr *listen, const char *release)
{
	struct svc_instance_list l = { 0 };
	json_t *bs = json_array();

	if (release_instances(rt, m->service, release, &l, NULL) == 0)
		for (size_t i = 0; i < l.count; i++) {
			char a[80];
			if (l.items[i].state == SVC_INST_RUNNING && l.items[i].port)
				json_array_append_new(bs, json_string(svc_instance_addr(&l.items[i],
											a, sizeof(a))));
		}
	if (json_array_size(bs))
		json_array_append_new(routes, json_pack("{s:s, s:s, s:O, s:I}", "listen",
			listen->text, "service", m->service, "backends", bs,
			"drain_timeout_ms", (json_int_t)m->rollout.drain_timeout_ms));
	json_decref(bs);
	svc_instance_list_release(&l);
}

int svc_rollout_route_table(struct svc_ctx *ctx, char **out, struct svc_error *err)
{
	char **services = svc_rollout_services(ctx);
	json_t *routes = json_array(), *table;
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; services[i]; i++) {
		struct svc_service_state st = { 0 };
		struct svc_manifest *m = NULL, *mrec = NULL;
		struct svc_runtime *rt = NULL;

		/* read only, without the lock: a service whose state cannot be
		 * read gets no route (its own commands say why) */
		if (svc_rollout_load_state(ctx, services[i], &st, NULL) == 0 && st.cur.active[0] &&
		    release_manifest(&m, ctx, services[i], st.cur.active, NULL) == 0 &&
		    has_route(m) && svc_rollout_open_runtime(&rt, ctx, &st, NULL) == 0) {
			table_add(routes, rt, m, &m->ports[0].listen, st.cur.active);
			/* a green awaiting promotion answers on its preview */
			if (st.in_rollout && st.rec.step == SVC_STEP_AWAIT_PROMOTE &&
			    release_manifest(&mrec, ctx, services[i], st.rec.release, NULL) == 0 &&
			    mrec->rollout.has_preview)
				table_add(routes, rt, mrec, &mrec->rollout.preview, st.rec.release);
		}
		svc_runtime_free(rt);
		svc_manifest_free(m);
		svc_manifest_free(mrec);
		svc_service_state_release(&st);
	}
	table = json_pack("{s:i, s:o}", "version", 1, "routes", routes);
	*out = json_dumps(table, JSON_COMPACT);
	if (!*out)
		rc = svc_error_set(err, SVC_EGENERIC, "cannot encode the rebuilt routing table");
	json_decref(table);
	svc_strv_free(services);
	return rc;
}

char **svc_rollout_services(struct svc_ctx *ctx)
{
	char **v = svc_state_list_services(ctx->state_dir);

	/* and those a runtime finds by itself (containers by label) */
	for (size_t d = 0; svc_runtime_drivers[d]; d++) {
		struct svc_runtime *rt = NULL;
		char **more = NULL;

		if (!svc_runtime_drivers[d]->ops->list_services ||
		    open_runtime_for(&rt, ctx, svc_runtime_drivers[d]->kind, NULL))
			continue;
		if (rt->ops->list_services(rt, &more, NULL) == 0) {
			for (size_t i = 0; more[i]; i++)
				v = svc_strv_add_unique(v, more[i]);
			svc_strv_sort(v);
		}
		svc_strv_free(more);
		svc_runtime_free(rt);
	}
	return v;
}

/*
 * An instance whose record the runtime cannot read (a cut spec.json) makes
 * the service's state unreadable: SVC_ESTATE naming the file.
 */
static int instance_problems(struct svc_runtime *rt, const char *service,
			     struct svc_error *err)
{
	struct svc_instance_list all = { 0 };
	int rc = 0;

	if (rt->ops->list(rt, service, &all, NULL))
		return 0;   /* the caller's own list reports that */
	for (size_t i = 0; !rc && i < all.count; i++)
		if (all.items[i].problem)
			rc = svc_error_set(err, SVC_ESTATE, "%s; 'svcctl stop %s' still stops it",
					   all.items[i].problem, service);
	svc_instance_list_release(&all);
	return rc;
}

/* Caller holds the lock and loaded st. */
static int recover_locked(struct svc_ctx *ctx, struct svc_service_state *st,
			  bool start_router, char *what, size_t what_len, struct svc_error *err)
{
	struct svc_manifest *m = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_instance_list blue = { 0 };
	struct svc_rollout_rec rec = st->rec;
	const char *service = st->service;
	struct run r;
	char reason[256], adopted[512] = "";
	int rc = 0;

	if (what && what_len)
		what[0] = '\0';
	if (!st->in_rollout && st->hist.count &&
	    st->hist.items[st->hist.count - 1].outcome == SVC_OUTCOME_IN_PROGRESS) {
		/* killed after the history entry, before the record: nothing started */
		struct svc_history_entry *e = &st->hist.items[st->hist.count - 1];
		char text[160];
		if ((rc = svc_service_state_set_outcome(st, e->seq, SVC_OUTCOME_ABORTED,
				"interrupted before it started (svcctl exited)", err)))
			goto done;
		snprintf(text, sizeof(text), "marked the interrupted %s of release %.*s as aborted "
			 "(nothing had started)", svc_release_kind_name(e->kind), SHORT(e->release));
		svc_text_add(what, what_len, text);
	}
	if (!st->in_rollout) {
		/* orphans: instances of releases nobody refers to */
		if ((rc = svc_rollout_open_runtime(&rt, ctx, st, err)) ||
		    (rc = instance_problems(rt, service, err)))
			goto done;
		/* instances that lost their supervisor: adopted or replaced */
		if (rt->ops->reconcile)
			rt->ops->reconcile(rt, st->service, what, what_len, NULL);
		stop_orphans(rt, st, what, what_len);
		reconcile_route(ctx, rt, st, start_router, what, what_len);
		goto done;
	}
	if ((rc = release_manifest(&m, ctx, service, rec.release, err)))
		goto done;
	if ((rc = open_runtime_for(&rt, ctx, m->runtime, err)) ||
	    (rc = instance_problems(rt, service, err)))
		goto done;
	/* first, so that blue and green are seen as they run (said after the rest) */
	if (rt->ops->reconcile)
		rt->ops->reconcile(rt, service, adopted, sizeof(adopted), NULL);
	run_init(&r, ctx, st, rt, m, &rec, NULL, "recover");
	switch (rec.step) {
	case SVC_STEP_AWAIT_PROMOTE:
		break;
	case SVC_STEP_STARTING:
	case SVC_STEP_HEALTH:
		snprintf(reason, sizeof(reason), "interrupted while %s (svcctl exited)",
			 svc_rollout_step_name(rec.step));
		undo(&r, SVC_OUTCOME_ABORTED, reason);
		snprintf(what, what_len, "undid the interrupted %s of release %.*s (it was %s); %s",
			 svc_release_kind_name(rec.kind), SHORT(rec.release),
			 svc_rollout_step_name(rec.step),
			 rec.blue[0] ? "blue still serves" : "nothing was switched");
		break;
	case SVC_STEP_SWITCHING:
	case SVC_STEP_BAKING:
		release_instances(rt, service, rec.blue, &blue, NULL);
		if (blue.count) {
			snprintf(reason, sizeof(reason), "interrupted while %s (svcctl exited); "
				 "switched back to blue", svc_rollout_step_name(rec.step));
			undo(&r, SVC_OUTCOME_ABORTED, reason);
			snprintf(what, what_len, "undid the interrupted %s of release %.*s: "
				 "traffic switched back to blue %.*s", svc_release_kind_name(rec.kind),
				 SHORT(rec.release), SHORT(rec.blue));
			break;
		}
		/* no blue to go back to: finish if green is healthy */
		{
			struct svc_instance_list green = { 0 };
			bool ok;
			release_instances(rt, service, rec.release, &green, NULL);
			ok = all_healthy_now(rt, m, &green);
			svc_instance_list_release(&green);
			if (!ok) {
				undo(&r, SVC_OUTCOME_ABORTED,
				     "interrupted while switching; green not healthy");
				snprintf(what, what_len, "undid the interrupted %s of release %.*s "
					 "(green not healthy, no blue to return to)",
					 svc_release_kind_name(rec.kind), SHORT(rec.release));
				break;
			}
		}
		__attribute__((fallthrough));
	case SVC_STEP_DRAINING:
		if ((rc = finish(&r, err)))
			goto done;
		snprintf(what, what_len, "finished the interrupted %s: release %.*s is active",
			 svc_release_kind_name(rec.kind), SHORT(rec.release));
		break;
	}
	if (adopted[0])
		svc_text_add(what, what_len, adopted);
	stop_orphans(rt, st, what, what_len);
done:
	svc_instance_list_release(&blue);
	svc_runtime_free(rt);
	svc_manifest_free(m);
	return rc;
}

/* Take service's lock, load its state and recover: what every command does first. */
static int begin_op(struct svc_ctx *ctx, const char *service, const char *op,
		    struct svc_lock *lock, struct svc_service_state *st,
		    char *what, size_t what_len, struct svc_error *err)
{
	int rc;

	memset(st, 0, sizeof(*st));
	lock->fd = -1;
	if (what && what_len)
		what[0] = '\0';
	if ((rc = svc_lock_take(lock, ctx->state_dir, service, op, err)))
		return rc;
	if ((rc = svc_rollout_load_state(ctx, service, st, err)))
		return rc;
	/* stop takes the routes away: it needs no router started */
	return recover_locked(ctx, st, strcmp(op, "stop") != 0, what, what_len, err);
}

int svc_rollout_recover(struct svc_ctx *ctx, const char *service,
			char *what, size_t what_len, struct svc_error *err)
{
	struct svc_lock lock;
	struct svc_service_state st;
	int rc;

	rc = begin_op(ctx, service, "recover", &lock, &st, what, what_len, err);
	svc_service_state_release(&st);
	svc_lock_release(&lock);
	return rc;
}

static void report_recovered(struct svc_ctx *ctx, const char *service, const char *what,
			     struct svc_rollout_result *res)
{
	if (!what[0])
		return;
	svc_report_step(ctx->report, service, "recover", "recovered: %s", what);
	if (res)
		snprintf(res->recovered, sizeof(res->recovered), "%s", what);
}

/* Abort a rollout waiting for manual promotion (superseded). */
static int abort_pending(struct svc_ctx *ctx, struct svc_service_state *st, const char *why,
			 struct svc_error *err)
{
	struct svc_manifest *m = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_rollout_rec rec = st->rec;
	struct run r;
	int rc;

	if (!st->in_rollout)
		return 0;
	if ((rc = release_manifest(&m, ctx, st->service, rec.release, err)) ||
	    (rc = open_runtime_for(&rt, ctx, m->runtime, err)))
		goto done;
	run_init(&r, ctx, st, rt, m, &rec, NULL, "supersede");
	svc_report_step(ctx->report, st->service, "supersede",
			"release %.*s was awaiting promotion: %s", SHORT(rec.release), why);
	undo(&r, SVC_OUTCOME_ABORTED, why);
done:
	svc_runtime_free(rt);
	svc_manifest_free(m);
	return rc;
}

/* ---- deploy ---- */

static void result_init(struct svc_rollout_result *res, const char *service)
{
	if (!res)
		return;
	memset(res, 0, sizeof(*res));
	snprintf(res->service, sizeof(res->service), "%s", service);
	res->switch_ms = -1;
	res->runtime_ms = -1;
}

/* Start a rollout of manifest m (release id rid) as a new history entry. */
static int start_rollout(struct svc_ctx *ctx, struct svc_service_state *st,
			 struct svc_runtime *rt, struct svc_manifest *m, const char *rid,
			 enum svc_release_kind kind, const char *op,
			 const struct svc_deploy_opts *opts,
			 struct svc_rollout_result *res, struct svc_error *err)
{
	const struct svc_current *cur = &st->cur;
	struct svc_instance_list mine = { 0 }, active = { 0 };
	const char *blue = "", *blue_color = "", *color;
	struct run r;
	int rc;

	/* what cannot start (a missing image or artifact) fails before anything changes */
	if (m->artifact && (rc = svc_artifact_check(ctx->state_dir, m->service, m->artifact, err)))
		return rc == SVC_ENOTFOUND ? SVC_EFAILED : rc;
	if (rt->ops->prepare && (rc = rt->ops->prepare(rt, m, err)))
		return rc;
	run_init(&r, ctx, st, rt, m, NULL, res, op);
	if (opts && opts->timeout_ms > 0)
		r.deadline_mono = svc_mono_ms() + opts->timeout_ms;
	if (opts) {
		r.origin = opts->origin;
		r.cancel = opts->cancel;
	}
	/* blue: the active release, if it still runs */
	release_instances(rt, m->service, cur->active, &active, NULL);
	if (active.count && strcmp(cur->active, rid)) {
		blue = cur->active;
		blue_color = cur->active_color;
	}
	/* color: a release that still runs keeps its color, else the other one */
	release_instances(rt, m->service, rid, &mine, NULL);
	if (mine.count)
		color = mine.items[0].color;
	else
		color = cur->active_color[0] ? other_color(cur->active_color) : "blue";
	if ((rc = run_begin(&r, kind, rid, color, blue, blue_color, err)))
		goto done;
	if ((rc = save_step(&r, SVC_STEP_STARTING, err)))
		goto done;
	rc = run_rollout(&r, err);
done:
	svc_instance_list_release(&mine);
	svc_instance_list_release(&active);
	return rc;
}

/*
 * Build m (or find it built) and attach the artifact: rid becomes the id of
 * the release that runs it. A build that fails is a failed deploy (exit 1)
 * that changed nothing.
 */
static int build_for_deploy(struct svc_ctx *ctx, struct svc_manifest *m, char rid[65],
			    struct svc_error *err)
{
	struct svc_build_result br;
	int rc = svc_build_service(ctx->state_dir, m, ctx->report, &br, err);

	if (rc == 0) {
		svc_manifest_set_artifact(m, br.artifact);
		svc_manifest_release_id(m, rid);
	} else if (rc == SVC_EGENERIC || rc == SVC_ENOTFOUND) {
		rc = SVC_EFAILED;
	}
	svc_build_result_release(&br);
	return rc;
}

/*
 * What release rid's instances run by digest, fixed once, before the
 * release is stored (which records it): the pin its stored release has,
 * so that a release id names one image whatever its tag names since;
 * else the runtime's (swarm: run.image of a registry resolved to the
 * digest its tag names now). Nothing to do for a runtime that pins
 * nothing or an image by digest already (a pushed build).
 */
static int pin_image(struct svc_ctx *ctx, struct svc_runtime *rt, struct svc_manifest *m,
		     const char *rid, struct svc_error *err)
{
	char *text = NULL, *src = NULL, *base = NULL, *pin = NULL;
	struct svc_artifact_ref *art = NULL;
	struct svc_error e = { 0 };
	size_t len = 0;
	int rc;

	if (!rt->ops->pin || svc_manifest_pinned(m))
		return 0;
	rc = svc_release_load(&text, &len, &src, &base, &art, &pin, ctx->state_dir, m->service,
			      rid, &e);
	if (rc && rc != SVC_ENOTFOUND) {
		rc = svc_error_set(err, e.code, "%s", e.message);
		goto done;
	}
	if (!rc && pin) {
		svc_manifest_set_pinned(m, pin);
		svc_report_step(ctx->report, m->service, "pinned",
				"release %.*s runs %s (the digest it was first deployed with)",
				SHORT(rid), pin);
		goto done;
	}
	if ((rc = rt->ops->pin(rt, m, err)))
		goto done;
	if (m->pinned_image)
		svc_report_step(ctx->report, m->service, "pinned", "image %s is %s in its registry",
				m->run.image, m->pinned_image);
done:
	svc_artifact_ref_free(art);
	free(pin);
	free(text);
	free(src);
	free(base);
	return rc;
}

int svc_rollout_release_id(struct svc_manifest *m, char rid[65], struct svc_error *err)
{
	int rc = svc_workdir_identify(m, err);

	if (rc == 0)
		svc_manifest_release_id(m, rid);
	return rc;
}

int svc_rollout_deploy(struct svc_ctx *ctx, const char *path,
		       const char *expect_release,
		       const struct svc_deploy_opts *opts,
		       struct svc_rollout_result *res, struct svc_error *err)
{
	struct svc_manifest *m = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_diags d;
	struct svc_lock lock = { -1 };
	struct svc_service_state st = { 0 };
	struct svc_instance_list act = { 0 };
	char *text = NULL, rid[65], what[512];
	size_t len = 0;
	int rc;

	svc_diags_init(&d);
	if ((rc = svc_file_read(&text, &len, path, 1 << 20, err)))
		goto done;
	{
		char *dir = svc_strdup(path), *slash = strrchr(dir, '/');
		char *abs;
		if (slash)
			*slash = '\0';
		abs = realpath(slash ? dir : ".", NULL);
		free(dir);
		if (!abs) {
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot resolve '%s'", path);
			goto done;
		}
		rc = svc_manifest_load_buffer(&m, text, len, path, abs, &d);
		free(abs);
	}
	if (rc) {
		rc = diags_to_error(&d, rc, err);
		goto done;
	}
	if ((rc = svc_rollout_release_id(m, rid, err)))
		goto done;
	if (expect_release && strcmp(expect_release, rid)) {
		rc = svc_error_set(err, SVC_EMANIFEST,
				   "%s: the manifest changed while svcctl read it; run the command again",
				   path);
		goto done;
	}
	result_init(res, m->service);
	if ((rc = begin_op(ctx, m->service, "deploy", &lock, &st, what, sizeof(what), err)))
		goto done;
	report_recovered(ctx, m->service, what, res);
	if ((rc = open_runtime_for(&rt, ctx, m->runtime, err)))
		goto done;
	/* a failed build stops the deploy here: nothing has been started */
	if (m->build.present && (rc = build_for_deploy(ctx, m, rid, err)))
		goto done;
	if (res && m->artifact)
		snprintf(res->artifact, sizeof(res->artifact), "%s", m->artifact->id);

	if (st.in_rollout) {
		char why[128];
		if (!strcmp(st.rec.release, rid)) {
			svc_report_step(ctx->report, m->service, "noop",
					"release %.*s is already awaiting promotion; run 'svcctl promote %s'",
					SHORT(rid), m->service);
			if (res) {
				res->noop = res->awaiting_promotion = true;
				snprintf(res->release, sizeof(res->release), "%s", rid);
			}
			goto done;
		}
		snprintf(why, sizeof(why), "superseded by release %.*s", SHORT(rid));
		if ((rc = abort_pending(ctx, &st, why, err)))
			goto done;
	}
	if (!strcmp(st.cur.active, rid)) {
		bool *bad;
		size_t nbad;

		release_instances(rt, m->service, rid, &act, NULL);
		bad = svc_calloc(act.count + 1, sizeof(*bad));
		nbad = unhealthy_now(rt, m, &act, bad, NULL, 0);
		if (act.count >= (size_t)m->replicas && !nbad) {
			svc_report_step(ctx->report, m->service, "noop",
					"release %.*s (version %s) is already active; nothing to do",
					SHORT(rid), m->version ? m->version : "-");
			if (res) {
				res->noop = true;
				snprintf(res->release, sizeof(res->release), "%s", rid);
				snprintf(res->color, sizeof(res->color), "%s", st.cur.active_color);
			}
			free(bad);
			goto done;
		}
		/* an instance that fails its health check is replaced: it gives way
		 * (the router tries the next backend) and is started again below */
		for (size_t i = 0; i < act.count && !rc; i++) {
			struct svc_error e = { 0 };

			if (!bad[i])
				continue;
			svc_report_step(ctx->report, m->service, "heal",
					"instance %s of the active release fails its health check: "
					"replacing it", act.items[i].id);
			if (rt->ops->stop(rt, &act.items[i], &e))
				rc = svc_error_set(err, e.code ? e.code : SVC_EGENERIC,
						   "cannot stop unhealthy instance %s: %s",
						   act.items[i].id, e.message);
		}
		free(bad);
		if (rc)
			goto done;
	}
	if ((rc = pin_image(ctx, rt, m, rid, err)))
		goto done;
	if ((rc = svc_release_store(ctx->state_dir, m->service, rid, text, len,
				    m->path, m->dir, m->artifact, m->pinned_image, err)))
		goto done;
	rc = start_rollout(ctx, &st, rt, m, rid, SVC_KIND_DEPLOY, "deploy", opts, res, err);
	if (res && rt->ops->busy_ms)
		res->runtime_ms = rt->ops->busy_ms(rt);
done:
	svc_instance_list_release(&act);
	svc_service_state_release(&st);
	svc_lock_release(&lock);
	svc_runtime_free(rt);
	svc_manifest_free(m);
	svc_diags_release(&d);
	free(text);
	return rc;
}

/* ---- inspect (for sync's plan) ---- */

int svc_rollout_inspect(struct svc_ctx *ctx, const char *service,
			struct svc_rollout_view *out, struct svc_error *err)
{
	struct svc_service_state st = { 0 };
	struct svc_manifest *m = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_instance_list l = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	out->route_ok = true;
	if ((rc = svc_rollout_load_state(ctx, service, &st, err)))
		goto done;
	snprintf(out->active, sizeof(out->active), "%s", st.cur.active);
	out->in_rollout = st.in_rollout;
	out->awaiting_promotion = st.in_rollout && st.rec.step == SVC_STEP_AWAIT_PROMOTE;
	if (st.in_rollout)
		snprintf(out->rollout_release, sizeof(out->rollout_release), "%s", st.rec.release);
	if (!st.cur.active[0])
		goto done;
	if ((rc = release_manifest(&m, ctx, service, st.cur.active, err)) ||
	    (rc = open_runtime_for(&rt, ctx, m->runtime, err)) ||
	    (rc = release_instances(rt, service, st.cur.active, &l, err)))
		goto done;
	out->replicas = m->replicas;
	for (size_t i = 0; i < l.count; i++)
		out->up += l.items[i].state == SVC_INST_RUNNING;
	if (out->up < (size_t)m->replicas)
		snprintf(out->why, sizeof(out->why), "%zu of %d instances run", out->up,
			 m->replicas);
	{
		bool *bad = svc_calloc(l.count + 1, sizeof(*bad));
		char why[sizeof(out->why)];

		out->unhealthy = unhealthy_now(rt, m, &l, bad, why, sizeof(why));
		if (out->unhealthy && !out->why[0])
			snprintf(out->why, sizeof(out->why), "%s", why);
		free(bad);
	}
	if (has_route(m) && out->up) {
		char why[600];
		out->has_route = true;
		out->route_ok = route_serving(rt, &m->ports[0].listen, &l, why, sizeof(why)) == 1;
		if (!out->route_ok && !out->why[0])
			snprintf(out->why, sizeof(out->why), "%s", why);
	}
done:
	svc_instance_list_release(&l);
	svc_runtime_free(rt);
	svc_manifest_free(m);
	svc_service_state_release(&st);
	return rc;
}

/* ---- promote ---- */

int svc_rollout_promote(struct svc_ctx *ctx, const char *service,
			struct svc_rollout_result *res, struct svc_error *err)
{
	struct svc_lock lock = { -1 };
	struct svc_service_state st = { 0 };
	struct svc_rollout_rec rec;
	struct svc_manifest *m = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_instance_list green = { 0 };
	struct svc_error e = { 0 };
	struct run r;
	char what[512], reason[1400], buf[1200];
	int rc;

	result_init(res, service);
	if ((rc = begin_op(ctx, service, "promote", &lock, &st, what, sizeof(what), err)))
		goto done;
	report_recovered(ctx, service, what, res);
	if (!st.in_rollout || st.rec.step != SVC_STEP_AWAIT_PROMOTE) {
		rc = svc_error_set(err, SVC_ENOTFOUND,
				   "no release of service '%s' is awaiting promotion", service);
		goto done;
	}
	rec = st.rec;
	if ((rc = release_manifest(&m, ctx, service, rec.release, err)))
		goto done;
	if ((rc = open_runtime_for(&rt, ctx, m->runtime, err)))
		goto done;
	run_init(&r, ctx, &st, rt, m, &rec, res, "promote");
	if (res) {
		snprintf(res->release, sizeof(res->release), "%s", rec.release);
		snprintf(res->color, sizeof(res->color), "%s", rec.color);
		snprintf(res->previous, sizeof(res->previous), "%s", rec.blue);
		res->history_seq = rec.history_seq;
	}
	/* green has been waiting: it must still be healthy */
	release_instances(rt, service, rec.release, &green, NULL);
	svc_report_step(ctx->report, service, "health", "checking green %.*s before promotion",
			SHORT(rec.release));
	if (green.count < (size_t)m->replicas ||
	    wait_healthy(ctx, rt, m, &green, m->health.start_timeout_ms, &e)) {
		snprintf(reason, sizeof(reason), "green is not healthy any more: %s",
			 e.code ? svc_error_format(&e, buf, sizeof(buf)) : "instances missing");
		undo(&r, SVC_OUTCOME_ABORTED, reason);
		rc = svc_error_set(err, SVC_EFAILED, "%s; blue still serves", reason);
		goto done;
	}
	if (has_route(m) && (rc = routers_ensure(ctx, rt, service, err)))
		goto done;
	rc = promote_phase(&r, err);
done:
	svc_instance_list_release(&green);
	svc_runtime_free(rt);
	svc_manifest_free(m);
	svc_service_state_release(&st);
	svc_lock_release(&lock);
	return rc;
}

/* ---- rollback ---- */

/* The release to go back to when the user names none. */
static int rollback_target(char out[65], const struct svc_service_state *st,
			   struct svc_error *err)
{
	const struct svc_current *cur = &st->cur;
	const struct svc_history *h = &st->hist;

	if (cur->previous[0]) {
		snprintf(out, 65, "%s", cur->previous);
		return 0;
	}
	for (size_t i = h->count; i-- > 0;) {
		const struct svc_history_entry *e = &h->items[i];
		if (!strcmp(e->release, cur->active))
			continue;
		if (e->outcome == SVC_OUTCOME_PROMOTED ||
		    (e->outcome == SVC_OUTCOME_ROLLED_BACK &&
		     /* rolled back by a later rollback: it was active once; by its bake: never */
		     !(e->reason && !strncmp(e->reason, "bake failed", 11)))) {
			snprintf(out, 65, "%s", e->release);
			return 0;
		}
	}
	return svc_error_set(err, SVC_ENOTFOUND,
			     "service '%s' has no earlier promoted release to roll back to",
			     st->service);
}

/* Mark the history entry that made `release` active as rolled back. */
static void mark_replaced(struct svc_ctx *ctx, struct svc_service_state *st,
			  const char *release, const char *reason)
{
	struct svc_error e = { 0 };
	char buf[1200];

	for (size_t i = st->hist.count; i-- > 0;) {
		struct svc_history_entry *h = &st->hist.items[i];
		if (!strcmp(h->release, release) && h->outcome == SVC_OUTCOME_PROMOTED) {
			if (svc_service_state_set_outcome(st, h->seq, SVC_OUTCOME_ROLLED_BACK,
							  reason, &e))
				svc_report_warn(ctx->report, st->service, "%s",
						svc_error_format(&e, buf, sizeof(buf)));
			return;
		}
	}
}

int svc_rollout_rollback(struct svc_ctx *ctx, const char *service,
			 const char *to, const struct svc_deploy_opts *opts,
			 struct svc_rollout_result *res, struct svc_error *err)
{
	struct svc_lock lock = { -1 };
	struct svc_service_state st = { 0 };
	struct svc_manifest *m = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_instance_list target = { 0 };
	char tid[65], from[65], what[512], reason[256];
	int rc;

	result_init(res, service);
	if ((rc = begin_op(ctx, service, "rollback", &lock, &st, what, sizeof(what), err)))
		goto done;
	report_recovered(ctx, service, what, res);
	if (!st.hist.count) {
		rc = svc_error_set(err, SVC_ENOTFOUND, "service '%s' has never been deployed", service);
		goto done;
	}
	rc = to ? svc_history_resolve(tid, &st.hist, to, err) : rollback_target(tid, &st, err);
	if (rc)
		goto done;
	if (!strcmp(tid, st.cur.active)) {
		svc_report_step(ctx->report, service, "noop", "release %.*s is already active",
				SHORT(tid));
		if (res) {
			res->noop = true;
			snprintf(res->release, sizeof(res->release), "%s", tid);
		}
		goto done;
	}
	if ((rc = release_manifest(&m, ctx, service, tid, err)))
		goto done;
	if (res && m->artifact)
		snprintf(res->artifact, sizeof(res->artifact), "%s", m->artifact->id);
	if ((rc = open_runtime_for(&rt, ctx, m->runtime, err)))
		goto done;
	snprintf(reason, sizeof(reason), "superseded by rollback to %.*s", SHORT(tid));
	if ((rc = abort_pending(ctx, &st, reason, err)))
		goto done;
	snprintf(from, sizeof(from), "%s", st.cur.active);
	snprintf(reason, sizeof(reason), "rolled back to %.*s", SHORT(tid));

	release_instances(rt, service, tid, &target, NULL);
	if (target.count >= (size_t)m->replicas && all_healthy_now(rt, m, &target) &&
	    (!has_route(m) || svc_plane_ping(svc_runtime_plane(rt), NULL) == 0)) {
		/* warm: a route switch, nothing started, no health wait */
		struct run r;
		int64_t t0;

		run_init(&r, ctx, &st, rt, m, NULL, res, "rollback-warm");
		if ((rc = run_begin(&r, SVC_KIND_ROLLBACK, tid, target.items[0].color,
				    st.cur.active, st.cur.active_color, err)))
			goto done;
		if (res)
			res->instant = true;
		svc_report_step(ctx->report, service, "rollback",
				"release %.*s is warm: switching traffic back", SHORT(tid));
		t0 = svc_mono_ms();
		if ((rc = save_step(&r, SVC_STEP_SWITCHING, err)))
			goto done;
		if (has_route(m)) {
			struct svc_error e2 = { 0 };
			char buf[1200];
			if ((rc = route_set(ctx, rt, m, &m->ports[0].listen, &target, &e2))) {
				char why[1400];
				r.switch_refused = rc == SVC_EFAILED;
				snprintf(why, sizeof(why), "switch failed: %s",
					 svc_error_format(&e2, buf, sizeof(buf)));
				undo(&r, SVC_OUTCOME_ABORTED, why);
				rc = svc_error_set(err, rc == SVC_EUNAVAIL ? SVC_EUNAVAIL : SVC_EFAILED,
						   "%s", why);
				goto done;
			}
		}
		if (res)
			res->switch_ms = svc_mono_ms() - t0;
		svc_report_step(ctx->report, service, "switch",
				"traffic switched to %.*s in %lld ms", SHORT(tid),
				(long long)(svc_mono_ms() - t0));
		if ((rc = finish(&r, err)))
			goto done;
		svc_report_step(ctx->report, service, "done", "release %.*s (version %s) is active",
				SHORT(tid), m->version ? m->version : "-");
	} else {
		svc_report_step(ctx->report, service, "rollback",
				"release %.*s is not warm: starting it again behind the health gate",
				SHORT(tid));
		rc = start_rollout(ctx, &st, rt, m, tid, SVC_KIND_ROLLBACK, "rollback-cold", opts,
				   res, err);
		if (rc)
			goto done;
	}
	if (from[0])
		mark_replaced(ctx, &st, from, reason);
done:
	svc_instance_list_release(&target);
	svc_service_state_release(&st);
	svc_runtime_free(rt);
	svc_manifest_free(m);
	svc_lock_release(&lock);
	return rc;
}

/* ---- stop ---- */

/* Remove every route the router holds for service (any listen address). */
static void routes_remove_all(struct svc_ctx *ctx, const char *service)
{
	json_t *rs = NULL, *route;
	size_t i;

	if (svc_router_status(ctx->state_dir, &rs, NULL))
		return;
	json_array_foreach(json_object_get(rs, "routes"), i, route) {
		const char *s = json_string_value(json_object_get(route, "service"));
		const char *listen = json_string_value(json_object_get(route, "listen"));
		struct svc_error e = { 0 };
		char buf[1200];
		char *none[1] = { NULL };
		if (!s || !listen || strcmp(s, service))
			continue;
		if (svc_router_set(ctx->state_dir, service, listen, none, 0, 0, &e))
			svc_report_warn(ctx->report, service, "cannot remove route %s: %s", listen,
					svc_error_format(&e, buf, sizeof(buf)));
	}
	json_decref(rs);
}

/*
 * Stop with state that cannot be read: every route the router holds for the
 * service and every instance a runtime reports for it, whatever the files
 * say. The files are left as they are, for `svcctl repair` to look at.
 */
static int stop_unrecorded(struct svc_ctx *ctx, const char *service,
			   const struct svc_error *why)
{
	size_t stopped = 0;
	char buf[1200];

	svc_report_warn(ctx->report, service, "%s", svc_error_format(why, buf, sizeof(buf)));
	routes_remove_all(ctx, service);
	for (size_t k = 0; svc_runtime_drivers[k]; k++) {
		struct svc_runtime *rt = NULL;
		struct svc_instance_list l = { 0 };
		if (open_runtime_for(&rt, ctx, svc_runtime_drivers[k]->kind, NULL))
			continue;
		if (rt->ops->list(rt, service, &l, NULL) == 0) {
			stop_list(rt, ctx->report, &l);
			stopped += l.count;
		}
		svc_instance_list_release(&l);
		svc_runtime_free(rt);
	}
	svc_report_step(ctx->report, service, "done",
			"stopped %zu instance%s the runtime reports; the state files are left "
			"as they are", stopped, stopped == 1 ? "" : "s");
	return 0;
}

int svc_rollout_stop(struct svc_ctx *ctx, const char *service, struct svc_error *err)
{
	struct svc_lock lock = { -1 };
	struct svc_service_state st = { 0 };
	struct svc_runtime *rt = NULL;
	struct svc_instance_list all = { 0 };
	struct svc_error e;
	const char *rels[3];
	char what[512];
	int rc;

	svc_error_clear(&e);
	rc = begin_op(ctx, service, "stop", &lock, &st, what, sizeof(what), &e);
	if (rc == SVC_ESTATE && lock.fd >= 0) {
		rc = stop_unrecorded(ctx, service, &e);
		goto done;
	}
	if (rc) {
		rc = svc_error_pass(err, &e, rc);
		goto done;
	}
	report_recovered(ctx, service, what, NULL);
	rels[0] = st.cur.active;
	rels[1] = st.cur.previous;
	rels[2] = st.in_rollout ? st.rec.release : "";
	/* the runtime answers before anything changes */
	if ((rc = svc_rollout_open_runtime(&rt, ctx, &st, err)))
		goto done;
	/* routes first, so that no client is sent to a stopping instance */
	for (size_t i = 0; i < 3; i++) {
		struct svc_manifest *m = NULL;
		if (!rels[i][0] || release_manifest(&m, ctx, service, rels[i], NULL))
			continue;
		if (has_route(m) && svc_plane_ping(svc_runtime_plane(rt), NULL) == 0) {
			struct svc_error e2 = { 0 };
			char buf[1200];
			if (route_set(ctx, rt, m, &m->ports[0].listen, NULL, &e2))
				svc_report_warn(ctx->report, service, "cannot remove route %s: %s",
						m->ports[0].listen.text,
						svc_error_format(&e2, buf, sizeof(buf)));
			preview_off(ctx, rt, m);
		}
		svc_manifest_free(m);
	}
	routes_remove_all(ctx, service);
	svc_fault_point("stop:routes-removed");
	if ((rc = rt->ops->list(rt, service, &all, err)))
		goto done;
	svc_report_step(ctx->report, service, "stop", "stopping %zu instance%s", all.count,
			all.count == 1 ? "" : "s");
	stop_list(rt, ctx->report, &all);
	svc_fault_point("stop:instances-stopped");
	if (st.in_rollout) {
		svc_service_state_set_outcome(&st, st.rec.history_seq, SVC_OUTCOME_ABORTED,
					      "service stopped", NULL);
		svc_service_state_clear_rollout(&st, NULL);
	}
	memset(&st.cur, 0, sizeof(st.cur));
	rc = svc_service_state_save_current(&st, err);
	if (!rc)
		svc_report_step(ctx->report, service, "done", "stopped; history kept");
done:
	svc_instance_list_release(&all);
	svc_runtime_free(rt);
	svc_service_state_release(&st);
	svc_lock_release(&lock);
	return rc;
}

/* ---- status ---- */

static json_t *instance_json(struct svc_runtime *rt, const struct svc_instance *in,
			     const struct svc_manifest *m)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:I, s:i, s:s}",
			      "id", in->id, "release", in->release, "color", in->color,
			      "index", in->index, "host", in->host, "port", in->port,
			      "pid", (json_int_t)in->pid, "restarts", in->restarts,
			      "state", svc_instance_state_name(in->state));

	json_object_set_new(j, "started_ms", json_integer(in->started_ms));
	json_object_set_new(j, "expire_at_ms", json_integer(in->expire_at_ms));
	if (in->problem)
		json_object_set_new(j, "problem", json_string(in->problem));
	if (in->runtime_id)
		json_object_set_new(j, "runtime_id", json_string(in->runtime_id));
	if (in->node)
		json_object_set_new(j, "node", json_string(in->node));
	if (in->why)
		json_object_set_new(j, "why", json_string(in->why));
	if (m && in->state == SVC_INST_RUNNING) {
		struct svc_health_target t;
		struct alive_ctx a = { rt, in->service, in->id };
		bool ok;
		svc_health_target_init(&t, in->id, in->host, in->port);
		t.alive = instance_alive;
		t.ctx = &a;
		ok = svc_health_probe(&m->health, &t);
		json_object_set_new(j, "health", json_string(ok ? "healthy" : "unhealthy"));
		if (!ok)
			json_object_set_new(j, "health_detail", json_string(t.last_detail));
	} else {
		json_object_set_new(j, "health", json_string("unknown"));
	}
	return j;
}

/*
 * The status JSON of one service from state that was read (st) or could not
 * be (st NULL: only what the runtime reports, the active release inferred).
 */
/*
 * A route of the active release that does not serve (no router, or the
 * router not listening on it) is an error of status: "router_error" in j.
 */
static void route_problem(json_t *j, json_t *routes, bool router_answers,
			  const struct svc_manifest *mact)
{
	json_t *route;
	size_t i;

	if (!mact || !has_route(mact))
		return;
	if (!router_answers) {
		json_object_set_new(j, "router_error", json_string(
			"no router answers: clients of the active release are not served"));
		return;
	}
	json_array_foreach(json_object_get(json_object_get(j, "router"), "nodes"), i, route) {
		/* a cluster: a ready node whose router does not answer serves nobody */
		const char *state = json_string_value(json_object_get(route, "state"));
		const char *e = json_string_value(json_object_get(route, "error"));
		char text[800];
		if (!state || strcmp(state, "ready") || json_is_true(json_object_get(route, "answers")))
			continue;
		snprintf(text, sizeof(text), "the router of node %.100s (%.80s) does not answer: %.500s",
			 json_string_value(json_object_get(route, "node")),
			 json_string_value(json_object_get(route, "addr")), e ? e : "unknown reason");
		json_object_set_new(j, "router_error", json_string(text));
		return;
	}
	json_array_foreach(routes, i, route) {
		const char *listen = json_string_value(json_object_get(route, "listen"));
		const char *e = json_string_value(json_object_get(route, "listen_error"));
		char text[600];
		if (!listen || json_is_true(json_object_get(route, "listening")) ||
		    !json_array_size(json_object_get(route, "backends")))
			continue;
		snprintf(text, sizeof(text), "the router is not listening on %.80s: %.400s", listen,
			 e ? e : "unknown reason");
		json_object_set_new(j, "router_error", json_string(text));
		return;
	}
}

static int status_json(json_t **out, struct svc_ctx *ctx, const char *service,
		       const struct svc_service_state *st, struct svc_runtime *rt,
		       const char *what)
{
	struct svc_current cur = { 0 };
	struct svc_rollout_rec rec = { 0 };
	struct svc_instance_list all = { 0 };
	struct svc_manifest *mact = NULL, *mprev = NULL, *mrec = NULL;
	json_t *j = NULL, *insts, *routes, *rs = NULL;
	bool inferred = false;
	int rc;

	*out = NULL;
	if (st) {
		cur = st->cur;
		if (st->in_rollout)
			rec = st->rec;
	}
	if (cur.active[0])
		release_manifest(&mact, ctx, service, cur.active, NULL);
	if (cur.previous[0])
		release_manifest(&mprev, ctx, service, cur.previous, NULL);
	if (rec.release[0])
		release_manifest(&mrec, ctx, service, rec.release, NULL);
	if ((rc = rt->ops->list(rt, service, &all, NULL)))
		goto done;

	if (!cur.active[0] && !rec.release[0] && all.count) {
		/*
		 * No record of the active release (a state dir deleted): the
		 * release with the most recently started running instance is the
		 * best guess; say that it is one.
		 */
		int64_t best = -1;
		for (size_t i = 0; i < all.count; i++)
			if (all.items[i].state == SVC_INST_RUNNING && all.items[i].started_ms > best) {
				best = all.items[i].started_ms;
				snprintf(cur.active, sizeof(cur.active), "%s", all.items[i].release);
				snprintf(cur.active_color, sizeof(cur.active_color), "%s",
					 all.items[i].color);
				cur.active_since_ms = best;
			}
		inferred = cur.active[0] != '\0';
		if (inferred)
			release_manifest(&mact, ctx, service, cur.active, NULL);
	}
	j = json_pack("{s:s}", "service", service);
	if (inferred)
		json_object_set_new(j, "inferred", json_string(
			"no state recorded: the active release is inferred from the runtime "
			"(the newest running instance)"));
	if (what && what[0])
		json_object_set_new(j, "recovered", json_string(what));
	if (cur.active[0]) {
		json_object_set_new(j, "active", json_pack("{s:s, s:s, s:I, s:o}",
			"release", cur.active, "color", cur.active_color,
			"since_ms", (json_int_t)cur.active_since_ms,
			"version", mact && mact->version ? json_string(mact->version) : json_null()));
		if (mact && mact->artifact)
			json_object_set_new(json_object_get(j, "active"), "artifact",
					    json_string(mact->artifact->id));
	} else {
		json_object_set_new(j, "active", json_null());
	}
	if (cur.previous[0]) {
		json_object_set_new(j, "previous", json_pack("{s:s, s:s, s:I, s:o}",
			"release", cur.previous, "color", cur.previous_color,
			"warm_until_ms", (json_int_t)cur.previous_until_ms,
			"version", mprev && mprev->version ? json_string(mprev->version) : json_null()));
		if (mprev && mprev->artifact)
			json_object_set_new(json_object_get(j, "previous"), "artifact",
					    json_string(mprev->artifact->id));
	} else {
		json_object_set_new(j, "previous", json_null());
	}
	if (rec.release[0])
		json_object_set_new(j, "rollout", json_pack("{s:s, s:s, s:s, s:s, s:I}",
			"kind", svc_release_kind_name(rec.kind), "release", rec.release, "color", rec.color,
			"step", svc_rollout_step_name(rec.step), "since_ms", (json_int_t)rec.step_ms));
	else
		json_object_set_new(j, "rollout", json_null());
	insts = json_array();
	for (size_t i = 0; i < all.count; i++) {
		const struct svc_instance *in = &all.items[i];
		const struct svc_manifest *m = !strcmp(in->release, cur.active) ? mact
			: !strcmp(in->release, cur.previous) ? mprev
			: !strcmp(in->release, rec.release) ? mrec : NULL;
		json_array_append_new(insts, instance_json(rt, in, m));
	}
	json_object_set_new(j, "instances", insts);
	routes = json_array();
	if (svc_plane_status(svc_runtime_plane(rt), &rs, NULL) == 0) {
		size_t i;
		json_t *route, *router = json_pack("{s:b}", "running", 1);
		json_array_foreach(json_object_get(rs, "routes"), i, route) {
			const char *s = json_string_value(json_object_get(route, "service"));
			if (s && !strcmp(s, service))
				json_array_append(routes, route);
		}
		if (json_object_get(rs, "pid"))
			json_object_set(router, "pid", json_object_get(rs, "pid"));
		if (json_object_get(rs, "routers"))   /* a cluster's, one per node */
			json_object_set(router, "nodes", json_object_get(rs, "routers"));
		json_object_set_new(j, "router", router);
	} else {
		json_object_set_new(j, "router", json_pack("{s:b}", "running", 0));
	}
	route_problem(j, routes, rs != NULL, mact);
	json_object_set_new(j, "routes", routes);
	*out = j;
	j = NULL;
done:
	json_decref(rs);
	json_decref(j);
	svc_instance_list_release(&all);
	svc_manifest_free(mact);
	svc_manifest_free(mprev);
	svc_manifest_free(mrec);
	return rc;
}

int svc_rollout_status(struct svc_ctx *ctx, const char *service, json_t **out,
		       struct svc_error *err)
{
	struct svc_lock lock = { -1 };
	struct svc_service_state st = { 0 };
	struct svc_runtime *rt = NULL;
	struct svc_error e;
	char what[512] = "";
	size_t n;
	int rc;

	*out = NULL;
	svc_error_clear(&e);
	/* the next svcctl command finishes an interrupted rollout: this one too,
	 * unless another command holds the lock (then it only reads) */
	svc_lock_take(&lock, ctx->state_dir, service, "status", NULL);
	rc = svc_rollout_load_state(ctx, service, &st, &e);
	if (!rc && lock.fd >= 0) {
		struct svc_error e2;
		svc_error_clear(&e2);
		if (recover_locked(ctx, &st, true, what, sizeof(what), &e2) == SVC_ESTATE)
			rc = svc_error_pass(&e, &e2, SVC_ESTATE);
	}
	svc_lock_release(&lock);
	if (rc == SVC_ESTATE) {
		/* what runs, as the runtime reports it, beside the error */
		svc_rollout_runtime_with_instances(&rt, ctx, service, &n);
		if (rt || open_runtime_for(&rt, ctx, SVC_RUNTIME_DEFAULT, NULL) == 0)
			status_json(out, ctx, service, NULL, rt, NULL);
		if (*out)
			json_object_set_new(*out, "state_error", json_string(e.message));
		rc = svc_error_pass(err, &e, rc);
		goto done;
	}
	if (rc) {
		rc = svc_error_pass(err, &e, rc);
		goto done;
	}
	if ((rc = svc_rollout_open_runtime(&rt, ctx, &st, err)))
		goto done;
	if ((rc = status_json(out, ctx, service, &st, rt, what)))
		svc_error_set(err, rc, "cannot list the instances of '%s'", service);
done:
	svc_runtime_free(rt);
	svc_service_state_release(&st);
	return rc;
}
