/*
 * sync/sync.c - one GitOps pass (sync.h): fetch, verify, export, load,
 * plan, apply per service, record.
 */
#include "sync/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/git.h"
#include "builder.h"
#include "deps.h"
#include "gc.h"
#include "hash.h"
#include "runtime/driver.h"
#include "state/state.h"
#include "sync/verify.h"
#include "tree.h"
#include "util.h"

#define DEFAULT_PATH "manifests"
#define DEFAULT_JOBS 2

/* ---- the pass lock ---- */

static int take_pass_lock(struct svc_lock *out, const char *state_dir, const char *what,
			  struct svc_error *err)
{
	char *dir = svc_strfmt("%s/sync", state_dir), *path = svc_strfmt("%s/pass.lock", dir);
	char holder[256] = "";
	int rc;

	out->fd = -1;
	if (!(rc = svc_mkdir_p(dir, 0700, err)) &&
	    (rc = svc_lock_take_path(out, path, what, holder, sizeof(holder), err)) == SVC_ELOCKED)
		svc_error_set(err, SVC_ELOCKED, "another sync pass of state dir '%s' is running%s%s%s",
			      state_dir, holder[0] ? " (" : "", holder, holder[0] ? ")" : "");
	free(path);
	free(dir);
	return rc;
}

/* ---- source: fetch, resolve, verify, export ---- */

struct source {
	char *location;      /* absolute path or URL */
	char *cache;         /* STATE/sync/repos/KEY.git */
	char *tree;          /* STATE/sync/trees/COMMIT */
	char *mdir;          /* tree/PATH */
	char commit[41];
	char c12[13];
};

static void source_release(struct source *s)
{
	free(s->location);
	free(s->cache);
	free(s->tree);
	free(s->mdir);
}

static bool path_ok(const char *p)
{
	if (!p[0] || p[0] == '/')
		return false;
	for (const char *c = p; *c;) {
		size_t seg = strcspn(c, "/");
		if (seg == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c += seg;
		while (*c == '/')
			c++;
	}
	return true;
}

static int open_source(struct source *s, struct svc_ctx *ctx, const struct svc_sync_source *src,
		       const char *path, struct svc_error *err)
{
	git_repository *repo = NULL;
	char key[SVC_HASH_HEX_LEN + 1], *cwd = getcwd(NULL, 0), *head = NULL;
	const char *ref = src->ref;
	int rc;

	s->location = svc_dep_location(src->repo, cwd ? cwd : "/");
	free(cwd);
	svc_sha256_hex(key, s->location, strlen(s->location));
	s->cache = svc_strfmt("%s/sync/repos/%.16s.git", ctx->state_dir, key);
	{
		char *parent = svc_strfmt("%s/sync/repos", ctx->state_dir);
		rc = svc_mkdir_p(parent, 0700, err);
		free(parent);
	}
	if (rc || (rc = svc_git_open_bare(&repo, s->cache, err)))
		goto done;
	svc_report_step(ctx->report, NULL, "fetch", "fetching %s", src->repo);
	if ((rc = svc_git_fetch_all_head(repo, s->location, ref ? NULL : &head, err)))
		goto done;
	if (!ref)
		ref = head;
	if (!ref) {
		/* a remote without a HEAD branch: the usual names */
		if (svc_git_resolve(repo, "main", s->commit) == 0)
			ref = "main";
		else if (svc_git_resolve(repo, "master", s->commit) == 0)
			ref = "master";
	}
	if (!ref || svc_git_resolve(repo, ref, s->commit)) {
		rc = svc_error_set(err, SVC_ENOTFOUND, "%s: no branch, tag or commit '%s'",
				   src->repo, ref ? ref : "HEAD");
		goto done;
	}
	snprintf(s->c12, sizeof(s->c12), "%.12s", s->commit);
	svc_report_step(ctx->report, NULL, "commit", "%s at %s is commit %s", src->repo, ref,
			s->c12);
	if (src->keyring) {
		char fpr[41];
		if ((rc = svc_sync_verify_commit(repo, s->commit, src->keyring, fpr, err)))
			goto done;
		svc_report_step(ctx->report, NULL, "verify", "commit %s is signed by key %s",
				s->c12, fpr);
	}
	s->tree = svc_strfmt("%s/sync/trees/%s", ctx->state_dir, s->commit);
	if (!svc_path_exists(s->tree)) {
		char *parent = svc_strfmt("%s/sync/trees", ctx->state_dir);
		rc = svc_mkdir_p(parent, 0700, err);
		free(parent);
		if (rc || (rc = svc_git_export(repo, s->commit, s->tree, err)))
			goto done;
	}
	s->mdir = svc_strfmt("%s/%s", s->tree, path);
	{
		struct stat st;
		if (lstat(s->mdir, &st) || !S_ISDIR(st.st_mode)) {
			rc = svc_error_set(err, SVC_ENOTFOUND, "commit %s of %s has no folder '%s'",
					   s->c12, src->repo, path);
			goto done;
		}
	}
done:
	free(head);
	git_repository_free(repo);
	return rc;
}

/* ---- loading the commit's manifests ---- */

static bool under(const char *root, const char *p)
{
	size_t n = strlen(root);
	return !strncmp(p, root, n) && (p[n] == '\0' || p[n] == '/');
}

/* "PATH/x.yaml@COMMIT12" for a file in the export. */
static char *display_name(const struct source *s, const char *file)
{
	size_t n = strlen(s->tree);

	if (!strncmp(file, s->tree, n) && file[n] == '/')
		return svc_strfmt("%s@%s", file + n + 1, s->c12);
	return svc_strfmt("%s@%s", file, s->c12);
}

/* The value of a top-level "service:" line, for naming an invalid file's service. */
static char *guess_service(const char *file)
{
	char *text = NULL, *name = NULL;
	size_t len = 0;

	if (svc_file_read(&text, &len, file, 1 << 20, NULL))
		return NULL;
	for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, "service:", 8)) {
			char *v = line + 8;
			size_t k;
			v += strspn(v, " \t\"'");
			k = strcspn(v, " \t\r\n\"'#");
			if (k && k < 64) {
				name = svc_strfmt("%.*s", (int)k, v);
				if (!svc_name_valid(name)) {
					free(name);
					name = NULL;
				}
			}
			break;
		}
	}
	free(text);
	return name;
}

struct loaded {
	struct svc_manifest_set set;
	struct svc_diags diags;      /* naming the export's files; shown as PATH@C12 */
	char **bad_files;            /* files no manifest came from */
	char **bad_services;         /* their guessed service (NULL entries: unknown) */
	size_t nbad;
	bool unknown_bad;            /* an invalid file whose service is not known */
};

static void loaded_release(struct loaded *l)
{
	svc_manifest_set_release(&l->set);
	svc_diags_release(&l->diags);
	for (size_t i = 0; i < l->nbad; i++) {
		free(l->bad_files[i]);
		free(l->bad_services[i]);
	}
	free(l->bad_files);
	free(l->bad_services);
}

static bool is_bad(const struct loaded *l, const char *file)
{
	for (size_t i = 0; i < l->nbad; i++)
		if (!strcmp(l->bad_files[i], file))
			return true;
	return false;
}

static void add_bad(struct loaded *l, const char *file, const char *guess)
{
	l->bad_files = svc_realloc(l->bad_files, l->nbad + 1, sizeof(*l->bad_files));
	l->bad_services = svc_realloc(l->bad_services, l->nbad + 1, sizeof(*l->bad_services));
	l->bad_files[l->nbad] = svc_strdup(file);
	l->bad_services[l->nbad] = guess ? svc_strdup(guess) : NULL;
	if (!guess)
		l->unknown_bad = true;
	l->nbad++;
}

/* The manifest that came from file; NULL when none did. */
static const struct svc_manifest *manifest_of_file(const struct loaded *l, const char *file)
{
	for (size_t k = 0; k < l->set.count; k++)
		if (!strcmp(l->set.items[k]->path, file))
			return l->set.items[k];
	return NULL;
}

/* The service a diagnostic's file belongs to; NULL when not known. */
static const char *service_of_file(const struct loaded *l, const char *file)
{
	const struct svc_manifest *m = manifest_of_file(l, file);

	if (m)
		return m->service;
	for (size_t b = 0; b < l->nbad; b++)
		if (!strcmp(l->bad_files[b], file))
			return l->bad_services[b];
	return NULL;
}

static void load_commit(struct loaded *l, const struct source *s)
{
	char *root = realpath(s->tree, NULL);

	memset(l, 0, sizeof(*l));
	svc_diags_init(&l->diags);
	/* a symlink leaving the repository is refused unread */
	svc_manifest_set_load_confined(&l->set, s->mdir, s->tree, "the repository", &l->diags);
	/* files that gave no manifest: read ones by the service they name */
	for (size_t i = 0; i < l->set.nfiles; i++) {
		const char *file = l->set.files[i];
		char *g;

		if (manifest_of_file(l, file) || is_bad(l, file))
			continue;
		g = guess_service(file);
		add_bad(l, file, g);
		free(g);
	}
	for (size_t i = 0; i < l->diags.count; i++) {
		const char *file = l->diags.items[i].file;

		if (file[0] && !manifest_of_file(l, file) && !is_bad(l, file))
			add_bad(l, file, NULL);
	}
	/* paths in manifests that leave the repository */
	for (size_t k = 0; root && k < l->set.count; k++) {
		struct svc_manifest *m = l->set.items[k];
		/* relative ones: an absolute path names the machine's folder, on purpose */
		const char *what[2] = {
			m->build.present && !m->build.context_absolute ? m->build.context : NULL,
			svc_runtime_has(m->runtime, SVC_RT_HOST_FOLDER) && !m->build.present &&
				!m->run.workdir_absolute ? m->run.workdir : NULL };
		const char *key[2] = { "build.context", "run.workdir" };
		for (int w = 0; w < 2; w++) {
			char *real;
			if (!what[w])
				continue;
			real = realpath(what[w], NULL);
			if (!real || !under(root, real))
				svc_diags_addf(&l->diags, m->path, 0, 0, "%s '%s' %s", key[w], what[w],
					       real ? "leaves the repository: refused"
						    : "does not exist in the commit");
			free(real);
		}
	}
	free(root);
}

/* ---- the items ---- */

static struct svc_sync_item *item_for(struct svc_sync_pass *p, const char *service)
{
	for (size_t i = 0; i < p->count; i++)
		if (!strcmp(p->items[i].service, service))
			return &p->items[i];
	p->items = svc_realloc(p->items, p->count + 1, sizeof(*p->items));
	memset(&p->items[p->count], 0, sizeof(p->items[0]));
	snprintf(p->items[p->count].service, sizeof(p->items[0].service), "%s", service);
	return &p->items[p->count++];
}

static void item_error(struct svc_sync_item *it, const char *text)
{
	size_t n = svc_strv_len(it->errors);

	it->errors = svc_realloc(it->errors, n + 2, sizeof(*it->errors));
	it->errors[n] = svc_strdup(text);
	it->errors[n + 1] = NULL;
}

static void item_detail(struct svc_sync_item *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void item_detail(struct svc_sync_item *it, const char *fmt, ...)
{
	char buf[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(it->detail);
	it->detail = svc_strdup(buf);
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct svc_sync_item *)a)->service,
		      ((const struct svc_sync_item *)b)->service);
}

static bool wanted(const struct svc_sync_opts *o, const char *service)
{
	if (!o->services || !o->nservices)
		return true;
	for (size_t i = 0; i < o->nservices; i++)
		if (!strcmp(o->services[i], service))
			return true;
	return false;
}

/* The release the commit's manifest makes: built services identified as a build would. */
static int commit_release(struct svc_ctx *ctx, struct svc_manifest *m, char rid[65],
			  struct svc_error *err)
{
	int rc;

	if (m->build.present) {
		struct svc_artifact_ref *art = NULL;
		if ((rc = svc_build_identify(ctx->state_dir, m, NULL, &art, err)))
			return rc;
		svc_manifest_set_artifact(m, art);
		svc_artifact_ref_free(art);
	}
	return svc_rollout_release_id(m, rid, err);
}

/* ---- applying ---- */

struct apply {
	struct svc_ctx *ctx;
	const struct svc_sync_opts *o;
	struct svc_sync_pass *p;
	const struct source *s;
	struct svc_origin origin;
	size_t *order;           /* indexes into p->items, providers first */
	size_t n;
	bool *started, *finished;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static bool needs_apply(const struct svc_sync_item *it, bool prune)
{
	return it->action == SVC_SYNC_ACT_DEPLOY || it->action == SVC_SYNC_ACT_HEAL ||
	       (prune && it->action == SVC_SYNC_ACT_PRUNE && !it->held);
}

/* Whether every provider of item i (in this pass) has finished. */
static bool ready(struct apply *a, size_t i)
{
	const struct svc_sync_item *it = &a->p->items[i];

	for (size_t k = 0; it->m && k < it->m->api.nrequires; k++)
		for (size_t j = 0; j < a->p->count; j++)
			if (j != i && !strcmp(a->p->items[j].service, it->m->api.requires[k].service) &&
			    !a->finished[j])
				return false;
	return true;
}

static void record(struct apply *a, struct svc_sync_item *it, enum svc_sync_outcome outcome,
		   bool failed_release, const char *message)
{
	struct svc_sync_rec rec = { 0 };
	struct svc_error e = { 0 };

	/* what failed before is kept until a release is synced */
	snprintf(rec.failed_release, sizeof(rec.failed_release), "%s", it->rec_failed_release);
	snprintf(rec.failed_commit, sizeof(rec.failed_commit), "%s", it->rec_failed_commit);
	rec.repo = a->p->repo;
	rec.path = a->p->path;
	snprintf(rec.commit, sizeof(rec.commit), "%s", a->p->commit);
	snprintf(rec.release, sizeof(rec.release), "%s", it->release);
	rec.outcome = outcome;
	if (outcome == SVC_SYNC_SYNCED) {
		rec.failed_release[0] = rec.failed_commit[0] = '\0';
	} else if (failed_release) {
		snprintf(rec.failed_release, sizeof(rec.failed_release), "%s", it->release);
		snprintf(rec.failed_commit, sizeof(rec.failed_commit), "%s", a->p->commit);
	}
	rec.message = (char *)message;
	rec.time_ms = svc_now_ms();
	if (svc_sync_rec_save(&rec, a->ctx->state_dir, it->service, &e))
		svc_report_warn(a->ctx->report, it->service, "%s", e.message);
	rec.repo = rec.path = rec.message = NULL;
}

static void apply_one(struct apply *a, struct svc_sync_item *it)
{
	const struct svc_deploy_cancel *cancel = a->o->cancel;
	struct svc_deploy_opts opts = { .origin = &a->origin, .cancel = cancel };
	struct svc_rollout_result res;
	struct svc_error err = { 0 };
	char why[512] = "";

	memset(&res, 0, sizeof(res));
	if (cancel && cancel->cancelled &&
	    cancel->cancelled(cancel->arg, it->service, it->release, why, sizeof(why))) {
		it->done = SVC_SYNC_SUPERSEDED;
		item_detail(it, "not applied: %s", why[0] ? why : "cancelled");
		return;
	}
	if (it->action == SVC_SYNC_ACT_PRUNE) {
		it->rc = svc_rollout_stop(a->ctx, it->service, &err);
		if (it->rc == 0) {
			it->done = SVC_SYNC_DONE_PRUNED;
			item_detail(it, "stopped: not in commit %s (history kept)", a->s->c12);
			record(a, it, SVC_SYNC_PRUNED, false, NULL);
		} else {
			it->done = SVC_SYNC_DONE_FAILED;
			item_detail(it, "cannot prune: %s", err.message);
		}
		return;
	}
	svc_report_step(a->ctx->report, it->service, "sync", "%s release %.12s from commit %s",
			it->action == SVC_SYNC_ACT_HEAL ? "healing" : "deploying", it->release,
			a->s->c12);
	it->rc = svc_rollout_deploy(a->ctx, it->m->path, NULL, &opts, &res, &err);
	if (it->rc == 0) {
		it->done = it->action == SVC_SYNC_ACT_HEAL ? SVC_SYNC_HEALED : SVC_SYNC_DEPLOYED;
		if (res.release[0] && strcmp(res.release, it->release))
			snprintf(it->release, sizeof(it->release), "%s", res.release);
		{
			char was[40] = "";
			if (it->active[0] && strcmp(it->active, it->release))
				snprintf(was, sizeof(was), " (was %.12s)", it->active);
			item_detail(it, "%s release %.12s%s%s%s",
				    res.awaiting_promotion ? "awaiting promotion:" :
				    it->done == SVC_SYNC_HEALED ? "healed" : "deployed", it->release,
				    was, res.recovered[0] ? "; recovered first: " : "",
				    res.recovered);
		}
		record(a, it, SVC_SYNC_SYNCED, false, NULL);
		return;
	}
	if (res.cancelled) {
		/* no verdict on the release: the newer commit decides */
		it->done = SVC_SYNC_SUPERSEDED;
		item_detail(it, "%s", err.message);
		return;
	}
	it->done = SVC_SYNC_DONE_FAILED;
	item_detail(it, "%s", err.message);
	/* a release that failed its build or gate is not tried again; a busy
	 * lock or an unreachable runtime is no verdict on the release */
	record(a, it, SVC_SYNC_FAILED, it->rc == SVC_EFAILED || it->rc == SVC_EMANIFEST,
	       err.message);
}

static void *apply_worker(void *arg)
{
	struct apply *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		ptrdiff_t pick = -1;
		bool left = false;
		for (size_t k = 0; k < a->n; k++) {
			size_t i = a->order[k];
			if (a->started[i])
				continue;
			left = true;
			if (ready(a, i)) {
				pick = (ptrdiff_t)i;
				break;
			}
		}
		if (!left)
			break;
		if (pick < 0) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		a->started[pick] = true;
		pthread_mutex_unlock(&a->mu);
		apply_one(a, &a->p->items[pick]);
		pthread_mutex_lock(&a->mu);
		a->finished[pick] = true;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void apply_all(struct svc_ctx *ctx, struct svc_sync_pass *p, const struct source *s,
		      const struct svc_sync_opts *o)
{
	struct apply a = { .ctx = ctx, .o = o, .p = p, .s = s };
	struct svc_manifest **ms = svc_calloc(p->count + 1, sizeof(*ms));
	size_t *idx = svc_calloc(p->count + 1, sizeof(*idx)), *ord;
	bool *cyc;
	size_t nm = 0;
	int jobs = o->jobs > 0 ? o->jobs : DEFAULT_JOBS;
	pthread_t *th;

	a.origin.repo = p->repo;
	a.origin.path = p->path;
	snprintf(a.origin.commit, sizeof(a.origin.commit), "%s", p->commit);
	a.started = svc_calloc(p->count + 1, sizeof(bool));
	a.finished = svc_calloc(p->count + 1, sizeof(bool));
	a.order = svc_calloc(p->count + 1, sizeof(size_t));
	/* services not applied count as finished for those that require them */
	for (size_t i = 0; i < p->count; i++) {
		if (needs_apply(&p->items[i], o->prune)) {
			a.order[a.n++] = i;
		} else {
			a.started[i] = a.finished[i] = true;
		}
		if (p->items[i].m) {
			ms[nm] = p->items[i].m;
			idx[nm++] = i;
		}
	}
	/* providers first: the applied ones in the order of every valid service */
	ord = svc_calloc(nm + 1, sizeof(*ord));
	cyc = svc_calloc(nm + 1, sizeof(*cyc));
	svc_sync_order(ms, nm, ord, cyc, NULL, 0);   /* cycles were made invalid already */
	{
		size_t k = 0;
		for (size_t j = 0; j < nm; j++)
			if (!a.started[idx[ord[j]]])
				a.order[k++] = idx[ord[j]];
		for (size_t i = 0; i < p->count; i++)   /* prunes: last */
			if (!a.started[i] && !p->items[i].m)
				a.order[k++] = i;
	}
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	if ((size_t)jobs > a.n)
		jobs = (int)(a.n ? a.n : 1);
	th = svc_calloc((size_t)jobs + 1, sizeof(*th));
	for (int i = 0; i < jobs; i++)
		if (pthread_create(&th[i], NULL, apply_worker, &a)) {
			apply_worker(&a);   /* no thread: do it here */
			jobs = i;
			break;
		}
	for (int i = 0; i < jobs; i++)
		pthread_join(th[i], NULL);
	pthread_cond_destroy(&a.cv);
	pthread_mutex_destroy(&a.mu);
	free(th);
	free(ord);
	free(cyc);
	free(ms);
	free(idx);
	free(a.order);
	free(a.started);
	free(a.finished);
}

/* ---- the pass ---- */

void svc_sync_pass_release(struct svc_sync_pass *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].detail);
		svc_strv_free(p->items[i].errors);
	}
	free(p->items);
	free(p->repo);
	free(p->path);
	svc_manifest_set_release(&p->set);
	memset(p, 0, sizeof(*p));
}

static void plan_all(struct svc_ctx *ctx, struct svc_sync_pass *p, struct loaded *l,
		     const struct source *s, const struct svc_sync_opts *o)
{
	char **known = svc_rollout_services(ctx);
	struct svc_manifest **ms = svc_calloc(l->set.count + 1, sizeof(*ms));
	size_t *ord = svc_calloc(l->set.count + 1, sizeof(*ord));
	bool *cyc = svc_calloc(l->set.count + 1, sizeof(*cyc));
	char cycle[512] = "";

	/* valid manifests; cross-file errors make the services they name invalid */
	for (size_t k = 0; k < l->set.count; k++) {
		struct svc_manifest *m = l->set.items[k];
		struct svc_sync_item *it;

		ms[k] = m;
		if (!wanted(o, m->service))
			continue;
		it = item_for(p, m->service);
		it->m = m;
	}
	if (svc_sync_order(ms, l->set.count, ord, cyc, cycle, sizeof(cycle)))
		for (size_t k = 0; k < l->set.count; k++)
			if (cyc[k] && wanted(o, ms[k]->service)) {
				struct svc_sync_item *it = item_for(p, ms[k]->service);
				char text[700];
				snprintf(text, sizeof(text), "api.requires: a cycle (%s)", cycle);
				item_error(it, text);
			}
	for (size_t i = 0; i < l->diags.count; i++) {
		struct svc_error e = l->diags.items[i];
		const char *svc = e.file[0] ? service_of_file(l, e.file) : NULL;
		struct svc_sync_item *it;
		char buf[2048];

		if (e.file[0]) {
			char *dn = display_name(s, e.file);
			snprintf(e.file, sizeof(e.file), "%s", dn);
			free(dn);
		}
		svc_error_format(&e, buf, sizeof(buf));
		if (svc) {
			if (wanted(o, svc))
				item_error(item_for(p, svc), buf);
		} else if (!o->nservices) {
			/* an invalid file whose service is not known: under its file's name */
			char label[64];
			const char *base = strrchr(l->diags.items[i].file, '/');
			base = base ? base + 1 : l->diags.items[i].file;
			snprintf(label, sizeof(label), "%.*s", (int)strcspn(base, "."), base);
			it = item_for(p, label[0] ? label : "?");
			it->unnamed = !it->m;
			item_error(it, buf);
		}
	}
	/* services of the state that the commit does not have */
	for (size_t i = 0; known && known[i]; i++)
		if (wanted(o, known[i]))
			(void)item_for(p, known[i]);

	for (size_t i = 0; i < p->count; i++) {
		struct svc_sync_item *it = &p->items[i];
		struct svc_rollout_view view;
		struct svc_sync_rec rec = { 0 };
		struct svc_suspension sus = { 0 };
		struct svc_sync_plan_in in = { .retry = o->retry };
		struct svc_error e = { 0 };
		char why[800];
		bool have_view, is_bad_name = false;
		int rc;

		for (size_t b = 0; b < l->nbad; b++)
			is_bad_name |= l->bad_services[b] && !strcmp(l->bad_services[b], it->service);
		in.in_commit = it->m || it->errors || is_bad_name;
		in.valid = it->m && !it->errors;
		rc = svc_rollout_inspect(ctx, it->service, &view, &e);
		have_view = rc == 0;
		if (rc && rc != SVC_ENOTFOUND) {
			/* unreadable state: never acted on */
			it->action = SVC_SYNC_ACT_FAILED;
			it->rc = rc;
			item_detail(it, "%s", e.message);
			continue;
		}
		if (have_view)
			snprintf(it->active, sizeof(it->active), "%s", view.active);
		in.view = have_view ? &view : NULL;
		if (in.valid) {
			svc_error_clear(&e);
			if ((rc = commit_release(ctx, it->m, it->release, &e))) {
				it->action = SVC_SYNC_ACT_FAILED;
				it->rc = rc == SVC_EMANIFEST ? SVC_EMANIFEST : SVC_EFAILED;
				item_detail(it, "cannot tell its release: %s", e.message);
				continue;
			}
		}
		in.release = it->release;
		/* sync's own records: one that cannot be read is never acted on */
		svc_error_clear(&e);
		rc = svc_sync_rec_load(&rec, ctx->state_dir, it->service, &e);
		if (rc == 0) {
			in.failed_release = rec.failed_release;
			snprintf(it->rec_failed_release, sizeof(it->rec_failed_release), "%s",
				 rec.failed_release);
			snprintf(it->rec_failed_commit, sizeof(it->rec_failed_commit), "%s",
				 rec.failed_commit);
			it->rec_synced = rec.outcome == SVC_SYNC_SYNCED && !rec.failed_release[0] &&
					 !strcmp(rec.release, it->release);
		}
		if (rc == 0 || rc == SVC_ENOTFOUND)
			rc = svc_suspension_load(&sus, ctx->state_dir, it->service, &e);
		in.suspended = rc == 0;
		if (rc && rc != SVC_ENOTFOUND) {
			it->action = SVC_SYNC_ACT_FAILED;
			it->rc = rc;
			item_detail(it, "%s; the service is left alone", e.message);
			svc_sync_rec_release(&rec);
			continue;
		}
		it->action = svc_sync_plan_one(&in, why, sizeof(why));
		if (it->action == SVC_SYNC_ACT_PRUNE && (!view.active[0] && !view.up) && have_view &&
		    !view.in_rollout) {
			/* in the state only as history: nothing runs, nothing to prune */
			it->action = SVC_SYNC_ACT_IN_SYNC;
			snprintf(why, sizeof(why), "not in the commit; nothing runs");
		}
		if (it->action == SVC_SYNC_ACT_PRUNE && l->unknown_bad) {
			/* it may be the service of that manifest */
			it->held = true;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "; not pruned while a manifest of the commit is unreadable");
		}
		if (it->action == SVC_SYNC_ACT_SUSPENDED)
			snprintf(why, sizeof(why), "suspended by %s: %s", sus.user, sus.reason);
		if (it->action == SVC_SYNC_ACT_INVALID)
			snprintf(why, sizeof(why), "%s", it->errors ? it->errors[0] : "invalid");
		item_detail(it, "%s", why);
		svc_sync_rec_release(&rec);
		svc_suspension_release(&sus);
	}
	qsort(p->items, p->count, sizeof(*p->items), cmp_item);
	svc_strv_free(known);
	free(ms);
	free(ord);
	free(cyc);
}

int svc_sync_run(struct svc_ctx *ctx, const struct svc_sync_source *src,
		 const struct svc_sync_opts *opts, struct svc_sync_pass *out,
		 struct svc_error *err)
{
	const char *path = src->path && src->path[0] ? src->path : DEFAULT_PATH;
	struct source s = { 0 };
	struct loaded l;
	struct svc_lock lock = { -1 };
	int rc;
	bool loaded = false;

	memset(out, 0, sizeof(*out));
	out->applied = opts->apply;
	if (!src->repo || !src->repo[0])
		return svc_error_set(err, SVC_EUSAGE, "no repository: give --repo or SVCCTL_SYNC_REPO");
	if (!path_ok(path))
		return svc_error_set(err, SVC_EUSAGE, "--path '%s' is not a folder inside the "
				     "repository", path);
	for (size_t i = 0; i < opts->nservices; i++)
		if (!svc_name_valid(opts->services[i]))
			return svc_error_set(err, SVC_EUSAGE, "'%s' is not a valid service name",
					     opts->services[i]);
	if ((rc = take_pass_lock(&lock, ctx->state_dir, opts->apply ? "sync" : "diff", err)))
		return rc;
	out->repo = svc_strdup(src->repo);
	out->path = svc_strdup(path);
	rc = open_source(&s, ctx, src, path, err);
	memcpy(out->commit, s.commit, sizeof(out->commit));   /* "" until resolved */
	if (rc)
		goto done;
	if (opts->resolved)
		opts->resolved(opts->hook_arg, s.commit);
	load_commit(&l, &s);
	loaded = true;
	plan_all(ctx, out, &l, &s, opts);
	if (opts->apply) {
		struct apply a0 = { .ctx = ctx, .o = opts, .p = out, .s = &s };
		for (size_t i = 0; i < out->count; i++) {
			struct svc_sync_item *it = &out->items[i];
			switch (it->action) {
			case SVC_SYNC_ACT_IN_SYNC:
				it->done = SVC_SYNC_LEFT_IN_SYNC;
				/* written when it changes only: a no-op pass over many
				 * services writes (and fsyncs) nothing */
				if (it->m && !it->rec_synced)
					record(&a0, it, SVC_SYNC_SYNCED, false, NULL);
				break;
			case SVC_SYNC_ACT_SUSPENDED:
				it->done = SVC_SYNC_LEFT_SUSPENDED;
				break;
			case SVC_SYNC_ACT_INVALID:
				it->done = SVC_SYNC_DONE_INVALID;
				/* a record would make a service of a file's name */
				if (!it->unnamed)
					record(&a0, it, SVC_SYNC_INVALID, false, it->detail);
				break;
			case SVC_SYNC_ACT_FAILED:
				it->done = SVC_SYNC_DONE_FAILED;
				break;
			case SVC_SYNC_ACT_PRUNE:
				if (!opts->prune || it->held)
					it->done = SVC_SYNC_REPORTED;
				break;
			default:
				break;
			}
		}
		apply_all(ctx, out, &s, opts);
	}
	/* the manifests stay loaded: items point into them */
	out->set = l.set;
	memset(&l.set, 0, sizeof(l.set));
done:
	if (loaded)
		loaded_release(&l);
	source_release(&s);
	svc_lock_release(&lock);
	return rc;
}

int svc_sync_peek(struct svc_ctx *ctx, const struct svc_sync_source *src, const char *skip,
		  struct svc_sync_peek *out, struct svc_error *err)
{
	const char *path = src->path && src->path[0] ? src->path : DEFAULT_PATH;
	struct svc_ctx quiet = *ctx;
	struct source s = { 0 };
	struct loaded l;
	int rc;

	memset(out, 0, sizeof(*out));
	quiet.report = NULL;
	if (!path_ok(path))
		return svc_error_set(err, SVC_EUSAGE, "--path '%s' is not a folder inside the "
				     "repository", path);
	if ((rc = open_source(&s, &quiet, src, path, err)))
		goto done;
	if (skip && !strcmp(skip, s.commit))
		goto done;
	memcpy(out->commit, s.commit, sizeof(out->commit));
	load_commit(&l, &s);
	out->services = svc_calloc(l.set.count + 1, sizeof(*out->services));
	out->releases = svc_calloc(l.set.count + 1, sizeof(*out->releases));
	for (size_t k = 0; k < l.set.count; k++) {
		struct svc_manifest *m = l.set.items[k];
		char rid[65];
		bool bad = false;

		/* a service with errors (its own or a cross-file one) is not planned */
		for (size_t i = 0; i < l.diags.count && !bad; i++)
			bad = !strcmp(l.diags.items[i].file, m->path);
		if (bad || commit_release(&quiet, m, rid, NULL))
			continue;
		snprintf(out->services[out->count], sizeof(out->services[0]), "%s", m->service);
		memcpy(out->releases[out->count++], rid, sizeof(rid));
	}
	loaded_release(&l);
done:
	source_release(&s);
	return rc;
}

const char *svc_sync_peek_release_of(const struct svc_sync_peek *p, const char *service)
{
	for (size_t i = 0; i < p->count; i++)
		if (!strcmp(p->services[i], service))
			return p->releases[i];
	return NULL;
}

void svc_sync_peek_release(struct svc_sync_peek *p)
{
	free(p->services);
	free(p->releases);
	memset(p, 0, sizeof(*p));
}

static int severity(int rc)
{
	switch (rc) {
	case 0: return 0;
	case SVC_EUNAVAIL: return 5;
	case SVC_ELOCKED: return 4;
	case SVC_EMANIFEST:
	case SVC_ESTATE: return 3;
	default: return 1;
	}
}

int svc_sync_exit(const struct svc_sync_pass *p)
{
	int worst = 0, code = 0;

	for (size_t i = 0; i < p->count; i++) {
		const struct svc_sync_item *it = &p->items[i];
		int rc = 0;

		if (it->action == SVC_SYNC_ACT_INVALID)
			rc = SVC_EMANIFEST;
		else if (!p->applied)
			rc = it->rc ? it->rc :
			     (it->action == SVC_SYNC_ACT_DEPLOY || it->action == SVC_SYNC_ACT_HEAL ||
			      it->action == SVC_SYNC_ACT_PRUNE) ? SVC_EFAILED : 0;
		else if (it->done == SVC_SYNC_DONE_FAILED)
			rc = it->rc ? it->rc : SVC_EFAILED;
		if (severity(rc) > worst) {
			worst = severity(rc);
			code = rc;
		}
	}
	return code;
}

/* ---- suspend ---- */

static const char *user_name(void)
{
	const char *u = getenv("SUDO_USER");
	struct passwd *pw;

	if (u && u[0])
		return u;
	pw = getpwuid(geteuid());
	return pw ? pw->pw_name : "unknown";
}

int svc_sync_suspend(struct svc_ctx *ctx, const char *service, const char *reason,
		     struct svc_error *err)
{
	struct svc_suspension s = { .reason = (char *)reason, .user = (char *)user_name(),
				    .since_ms = svc_now_ms() };

	if (!svc_name_valid(service))
		return svc_error_set(err, SVC_EUSAGE, "'%s' is not a valid service name", service);
	if (!reason || !reason[0])
		return svc_error_set(err, SVC_EUSAGE, "--suspend needs --reason TEXT");
	svc_report_step(ctx->report, service, "suspend", "sync passes leave '%s' alone until "
			"'svcctl sync --unsuspend %s'", service, service);
	return svc_suspension_save(&s, ctx->state_dir, service, err);
}

int svc_sync_unsuspend(struct svc_ctx *ctx, const char *service, struct svc_error *err)
{
	int rc;

	if (!svc_name_valid(service))
		return svc_error_set(err, SVC_EUSAGE, "'%s' is not a valid service name", service);
	rc = svc_suspension_clear(ctx->state_dir, service, err);
	if (rc == SVC_ENOTFOUND)
		return svc_error_set(err, SVC_ENOTFOUND, "service '%s' is not suspended", service);
	if (rc == 0)
		svc_report_step(ctx->report, service, "unsuspend", "the next sync pass applies "
				"'%s' again", service);
	return rc;
}

void svc_sync_status_text(struct svc_ctx *ctx, const char *service, const char *active,
			  char *out, size_t len)
{
	struct svc_sync_rec rec = { 0 };
	struct svc_suspension sus = { 0 };
	struct svc_error e = { 0 };
	int rc;

	out[0] = '\0';
	if (svc_suspension_load(&sus, ctx->state_dir, service, NULL) == 0) {
		char t[32];
		snprintf(out, len, "suspended: %s (%s, %s)", sus.reason, sus.user,
			 svc_time_format(t, sizeof(t), sus.since_ms));
		svc_suspension_release(&sus);
		return;
	}
	rc = svc_sync_rec_load(&rec, ctx->state_dir, service, &e);
	if (rc == SVC_ENOTFOUND)
		return;
	if (rc) {
		snprintf(out, len, "unknown: %s", e.message);
		return;
	}
	if (rec.outcome == SVC_SYNC_FAILED || rec.outcome == SVC_SYNC_INVALID)
		snprintf(out, len, "%s at %.12s%s%s", rec.outcome == SVC_SYNC_FAILED ? "failed"
			 : "invalid", rec.commit, rec.message ? ": " : "",
			 rec.message ? rec.message : "");
	else if (rec.outcome == SVC_SYNC_PRUNED)
		snprintf(out, len, "pruned at %.12s", rec.commit);
	else if (active && rec.release[0] && !strcmp(active, rec.release))
		snprintf(out, len, "synced %.12s", rec.commit);
	else
		snprintf(out, len, "out-of-sync (synced %.12s, then changed by hand)", rec.commit);
	svc_sync_rec_release(&rec);
}

/* ---- gc of exported trees ---- */

int svc_sync_gc(struct svc_ctx *ctx, int keep, bool dry_run, json_t *result)
{
	char *trees = svc_strfmt("%s/sync/trees", ctx->state_dir);
	char **services = NULL, **needed = NULL;
	size_t nneeded = 0;
	DIR *d = NULL;
	struct dirent *de;
	struct svc_error e = { 0 };
	struct svc_lock lock = { -1 };

	if (!svc_path_exists(trees))
		goto done;
	/* a pass exports before it stores the releases that use the export */
	if (take_pass_lock(&lock, ctx->state_dir, "gc", &e)) {
		svc_report_warn(ctx->report, NULL, "synced commits' trees kept: %s", e.message);
		goto done;
	}
	services = svc_state_list_services(ctx->state_dir);
	for (size_t i = 0; services && services[i]; i++) {
		struct svc_service_state st = { 0 };
		char **kept;

		svc_error_clear(&e);
		if (svc_service_state_load(&st, ctx->state_dir, services[i], &e)) {
			/* what it needs cannot be told: nothing is deleted */
			svc_report_warn(ctx->report, services[i], "synced commits' trees kept: %s",
					e.message);
			svc_service_state_release(&st);
			goto done;
		}
		kept = svc_gc_kept_releases(&st, keep);
		for (size_t k = 0; kept[k]; k++) {
			char *text = NULL, *src = NULL, *base = NULL;
			struct svc_artifact_ref *art = NULL;
			size_t len = 0, n = strlen(trees);

			if (svc_release_load(&text, &len, &src, &base, &art, NULL, ctx->state_dir,
					     services[i], kept[k], NULL) == 0 &&
			    !strncmp(base, trees, n) && base[n] == '/') {
				needed = svc_realloc(needed, nneeded + 1, sizeof(*needed));
				needed[nneeded++] = svc_strfmt("%.40s", base + n + 1);
			}
			free(text);
			free(src);
			free(base);
			svc_artifact_ref_free(art);
		}
		svc_strv_free(kept);
		svc_service_state_release(&st);
	}
	if (!(d = opendir(trees)))
		goto done;
	while ((de = readdir(d))) {
		bool need = false;
		char *path;
		uint64_t bytes;

		if (strlen(de->d_name) != 40 || strspn(de->d_name, "0123456789abcdef") != 40)
			continue;
		for (size_t k = 0; k < nneeded && !need; k++)
			need = !strcmp(needed[k], de->d_name);
		if (need)
			continue;
		path = svc_strfmt("%s/%s", trees, de->d_name);
		bytes = svc_tree_disk_usage(path);
		svc_report_step(ctx->report, NULL, "gc", "%s the tree of commit %.12s (no kept "
				"release runs from it)", dry_run ? "would delete" : "deleting",
				de->d_name);
		if (!dry_run && svc_rm_rf(path)) {
			svc_report_warn(ctx->report, NULL, "cannot delete '%s'", path);
		} else {
			json_array_append_new(json_object_get(result, "deleted"),
				json_pack("{s:s, s:s, s:I}", "kind", "sync-tree", "commit", de->d_name,
					  "bytes", (json_int_t)bytes));
			json_object_set_new(result, "freed_bytes", json_integer(
				json_integer_value(json_object_get(result, "freed_bytes")) +
				(json_int_t)bytes));
		}
		free(path);
	}
done:
	if (d)
		closedir(d);
	for (size_t k = 0; k < nneeded; k++)
		free(needed[k]);
	free(needed);
	svc_strv_free(services);
	svc_lock_release(&lock);
	free(trees);
	return 0;
}
