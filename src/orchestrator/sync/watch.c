/*
 * sync/watch.c - the sync watcher (watch.h): the loop of passes, the
 * fetches that run beside a pass to find a newer commit, and the webhook
 * endpoint (base/httpd, sync/webhook).
 *
 * Threads: the loop (which runs each pass, whose services are applied by
 * sync.c's workers), a poller that lives as long as one pass and reads the
 * control and wake pipes meanwhile, and the HTTP server's own thread. They
 * share struct watch under its mutex; the HTTP thread only writes a byte to
 * the wake pipe.
 */
#include "sync/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/httpd.h"
#include "state/state.h"
#include "sync/webhook.h"
#include "util.h"

#define DEFAULT_INTERVAL_MS (60 * 1000)
#define DEFAULT_PEEK_MS 2000
#define WAKE_HOOK 'w'
#define WAKE_QUIT 'q'

struct watch {
	struct svc_ctx *ctx;
	const struct svc_sync_source *src;
	const struct svc_sync_watch_opts *w;
	int wake[2];                  /* the webhook (and the loop) -> loop or poller */
	char *secret;
	size_t secret_len;
	struct svc_httpd *httpd;
	pthread_mutex_t mu;
	/* under mu */
	bool stopping;
	char pass_commit[41];         /* the running pass's, once resolved */
	struct svc_sync_peek newer;   /* a newer commit seen while it runs */
	bool peek_now;
};

/* ---- control bytes ---- */

struct requests {
	bool pass, hook, stop, quit;
};

/* Read what is waiting on fd (non-blocking) into r. */
static void drain(int fd, struct requests *r)
{
	char buf[64];
	ssize_t n;

	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			r->pass |= buf[i] == SVC_WATCH_PASS;
			r->stop |= buf[i] == SVC_WATCH_STOP;
			r->hook |= buf[i] == WAKE_HOOK;
			r->quit |= buf[i] == WAKE_QUIT;
		}
	}
}

/* Wait up to timeout_ms (-1: no limit) for bytes on control_fd or the wake pipe. */
static struct requests wait_requests(struct watch *wt, int64_t timeout_ms)
{
	struct pollfd fds[2] = { { .fd = wt->w->control_fd, .events = POLLIN },
				 { .fd = wt->wake[0], .events = POLLIN } };
	struct requests r = { 0 };
	int t = timeout_ms < 0 ? -1 : timeout_ms > 1000000 ? 1000000 : (int)timeout_ms;

	if (poll(fds, 2, t) > 0) {
		if (fds[0].revents & (POLLIN | POLLHUP))
			drain(fds[0].fd, &r);
		if (fds[1].revents & POLLIN)
			drain(fds[1].fd, &r);
	}
	return r;
}

static void wake(struct watch *wt, char what)
{
	/* non-blocking: a full pipe already holds a wake-up */
	if (write(wt->wake[1], &what, 1) < 0 && errno != EAGAIN)
		return;
}

/* ---- the webhook endpoint ---- */

static void respond(struct svc_http_response *res, int status, const char *text)
{
	res->status = status;
	res->body = svc_strdup(text);
	res->body_len = strlen(text);
}

static void on_request(void *arg, const struct svc_http_request *req,
		       struct svc_http_response *res)
{
	struct watch *wt = arg;

	if (!strcmp(req->path, "/healthz")) {
		if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
			respond(res, 405, "GET /healthz\n");
		else
			respond(res, 200, "ok\n");
		return;
	}
	if (strcmp(req->path, "/hooks/git")) {
		respond(res, 404, "not found: POST /hooks/git, GET /healthz\n");
		return;
	}
	if (strcmp(req->method, "POST")) {
		respond(res, 405, "POST /hooks/git\n");
		return;
	}
	if (wt->secret &&
	    !svc_webhook_signature_ok(wt->secret, wt->secret_len, req->body, req->body_len,
				      svc_http_header(req, "X-Hub-Signature-256"))) {
		svc_report_warn(wt->ctx->report, NULL, "webhook refused: %s X-Hub-Signature-256",
				svc_http_header(req, "X-Hub-Signature-256") ? "a wrong" : "no");
		respond(res, 401, "missing or wrong X-Hub-Signature-256\n");
		return;
	}
	{
		const char *ev = svc_http_header(req, "X-GitHub-Event");
		if (ev && !strcmp(ev, "ping")) {
			respond(res, 200, "pong\n");
			return;
		}
	}
	wake(wt, WAKE_HOOK);
	respond(res, 202, "a pass is on its way\n");
}

static bool loopback(const struct svc_addr *a)
{
	return !strncmp(a->host, "127.", 4) || !strcmp(a->host, "::1");
}

/* The webhook options, checked (and the secret read) before anything starts. */
static int check_webhooks(struct watch *wt, struct svc_error *err)
{
	struct svc_error e = { 0 };
	struct svc_addr a;

	if (!wt->w->listen)
		return 0;
	if (svc_httpd_addr_parse(&a, wt->w->listen, &e))
		return svc_error_set(err, SVC_EUSAGE, "--listen: %s", e.message);
	if (!loopback(&a) && !wt->w->secret_file)
		return svc_error_set(err, SVC_EUSAGE, "--listen %s is not a loopback address: it "
				     "needs --secret-file (webhooks must be signed)", a.text);
	if (wt->w->secret_file &&
	    svc_webhook_secret_read(&wt->secret, &wt->secret_len, wt->w->secret_file, &e))
		return svc_error_set(err, SVC_EUSAGE, "--secret-file: %s", e.message);
	return 0;
}

static int start_webhooks(struct watch *wt, struct svc_error *err)
{
	int rc;

	if (!wt->w->listen)
		return 0;
	if ((rc = svc_httpd_start(&wt->httpd, wt->w->listen, SVC_WATCH_MAX_BODY, on_request, wt,
				  err)))
		return rc;
	svc_report_step(wt->ctx->report, NULL, "listen", "webhooks: POST http://%s/hooks/git%s; "
			"GET /healthz", wt->w->listen, wt->secret ? " (signed)" :
			" (unsigned: loopback)");
	return 0;
}

/* ---- beside a pass: newer commits ---- */

static bool cancelled(void *arg, const char *service, const char *release, char *why,
		      size_t why_len)
{
	struct watch *wt = arg;
	bool yes = false;

	pthread_mutex_lock(&wt->mu);
	if (wt->stopping) {
		snprintf(why, why_len, "the sync watcher is stopping");
		yes = true;
	} else if (wt->newer.commit[0]) {
		const char *r = svc_sync_peek_release_of(&wt->newer, service);
		if (r && strcmp(r, release)) {
			snprintf(why, why_len, "superseded by %.12s", wt->newer.commit);
			yes = true;
		}
	}
	pthread_mutex_unlock(&wt->mu);
	return yes;
}

static void resolved(void *arg, const char *commit)
{
	struct watch *wt = arg;

	pthread_mutex_lock(&wt->mu);
	snprintf(wt->pass_commit, sizeof(wt->pass_commit), "%s", commit);
	pthread_mutex_unlock(&wt->mu);
}

/* One fetch while the pass runs: remember a commit newer than the pass's. */
static void peek(struct watch *wt)
{
	struct svc_sync_peek pk;
	struct svc_error e = { 0 };
	char pass[41], known[41];

	pthread_mutex_lock(&wt->mu);
	memcpy(pass, wt->pass_commit, sizeof(pass));
	memcpy(known, wt->newer.commit, sizeof(known));
	pthread_mutex_unlock(&wt->mu);
	if (!pass[0])
		return;    /* the pass is still fetching: one fetch at a time */
	if (svc_sync_peek(wt->ctx, wt->src, pass, &pk, &e)) {
		svc_report_detail(wt->ctx->report, NULL, "watch", "fetch beside the pass: %s",
				  e.message);
		svc_sync_peek_release(&pk);
		return;
	}
	if (pk.commit[0] && strcmp(pk.commit, known)) {
		svc_report_step(wt->ctx->report, NULL, "watch", "commit %.12s is newer than the "
				"pass's %.12s: services it changes are not waited for", pk.commit,
				pass);
		pthread_mutex_lock(&wt->mu);
		svc_sync_peek_release(&wt->newer);
		wt->newer = pk;
		pthread_mutex_unlock(&wt->mu);
		return;
	}
	svc_sync_peek_release(&pk);
}

static void *poller(void *arg)
{
	struct watch *wt = arg;
	int64_t every = wt->w->peek_interval_ms > 0 ? wt->w->peek_interval_ms : DEFAULT_PEEK_MS;
	int64_t last = svc_mono_ms();

	for (;;) {
		int64_t left = every - (svc_mono_ms() - last);
		struct requests r = wait_requests(wt, left > 0 ? left : 0);

		if (r.stop) {
			svc_report_step(wt->ctx->report, NULL, "watch", "stopping: the rollout in "
					"flight is finished or undone first");
			pthread_mutex_lock(&wt->mu);
			wt->stopping = true;
			pthread_mutex_unlock(&wt->mu);
		}
		if (r.quit)
			break;
		if (r.pass || r.hook || svc_mono_ms() - last >= every) {
			bool stopping;
			pthread_mutex_lock(&wt->mu);
			stopping = wt->stopping;
			pthread_mutex_unlock(&wt->mu);
			if (!stopping)
				peek(wt);
			last = svc_mono_ms();
		}
	}
	return NULL;
}

/* ---- the record for status ---- */

static char *watch_path(struct svc_ctx *ctx)
{
	return svc_strfmt("%s/sync/watch.json", ctx->state_dir);
}

static void save_last(struct watch *wt, const struct svc_sync_pass *p, int rc,
		      const struct svc_error *err, int status)
{
	char *path = watch_path(wt->ctx);
	json_t *counts = json_object(), *j;
	struct svc_error e = { 0 };
	size_t n[SVC_SYNC_SUPERSEDED + 1] = { 0 };

	for (size_t i = 0; i < p->count; i++)
		n[p->items[i].done]++;
	for (int d = 0; d <= SVC_SYNC_SUPERSEDED; d++)
		if (n[d])
			json_object_set_new(counts, svc_sync_done_name((enum svc_sync_done)d),
					    json_integer((json_int_t)n[d]));
	j = json_pack("{s:i, s:I, s:I, s:s, s:s, s:s, s:i, s:o}", "format", 1,
		      "pid", (json_int_t)getpid(),
		      "pid_start", (json_int_t)svc_pid_starttime(getpid()),
		      "repo", wt->src->repo, "path", p->path ? p->path : "",
		      "commit", p->commit, "exit_code", status, "counts", counts);
	json_object_set_new(j, "time_ms", json_integer((json_int_t)svc_now_ms()));
	if (rc && err)
		json_object_set_new(j, "message", json_string(err->message));
	if (svc_json_file_write(j, path, &e))
		svc_report_warn(wt->ctx->report, NULL, "%s", e.message);
	json_decref(j);
	free(path);
}

json_t *svc_sync_watch_status_json(struct svc_ctx *ctx)
{
	char *path = watch_path(ctx);
	struct svc_error e = { 0 };
	json_t *j = NULL;
	int rc = svc_json_file_read(&j, path, 1 << 20, &e);

	free(path);
	if (rc == SVC_ENOTFOUND)
		return NULL;
	if (rc)
		return json_pack("{s:s}", "error", e.message);
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "format")) != 1) {
		char *text;

		json_decref(j);
		path = watch_path(ctx);
		text = svc_strfmt("%s: not a watcher record of format 1", path);
		j = json_pack("{s:s}", "error", text);
		free(text);
		free(path);
		return j;
	}
	{
		pid_t pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
		unsigned long long st =
			(unsigned long long)json_integer_value(json_object_get(j, "pid_start"));
		json_object_set_new(j, "running", json_boolean(pid > 0 && svc_pid_alive(pid, st)));
	}
	return j;
}

void svc_sync_watch_status_text(struct svc_ctx *ctx, char *out, size_t len)
{
	json_t *j = svc_sync_watch_status_json(ctx), *counts, *v;
	const char *key, *err;
	char t[32], c[256] = "";

	out[0] = '\0';
	if (!j)
		return;
	if ((err = json_string_value(json_object_get(j, "error")))) {
		snprintf(out, len, "unknown: %s", err);
		json_decref(j);
		return;
	}
	counts = json_object_get(j, "counts");
	json_object_foreach(counts, key, v) {
		char one[64];
		snprintf(one, sizeof(one), "%s%lld %s", c[0] ? ", " : "",
			 (long long)json_integer_value(v), key);
		if (strlen(c) + strlen(one) < sizeof(c))
			strcat(c, one);
	}
	snprintf(out, len, "last pass %s: commit %.12s, exit %lld%s%s%s%s%s",
		 svc_time_format(t, sizeof(t), json_integer_value(json_object_get(j, "time_ms"))),
		 json_string_value(json_object_get(j, "commit")) ?
			 json_string_value(json_object_get(j, "commit")) : "",
		 (long long)json_integer_value(json_object_get(j, "exit_code")),
		 c[0] ? " (" : "", c, c[0] ? ")" : "",
		 json_string_value(json_object_get(j, "message")) ? ": " : "",
		 json_string_value(json_object_get(j, "message")) ?
			 json_string_value(json_object_get(j, "message")) : "");
	if (!json_is_true(json_object_get(j, "running"))) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "; watcher pid %lld not running",
			 (long long)json_integer_value(json_object_get(j, "pid")));
	}
	json_decref(j);
}

/* ---- the loop ---- */

static void watch_release(struct watch *wt)
{
	svc_httpd_stop(wt->httpd);
	if (wt->wake[0] >= 0)
		close(wt->wake[0]);
	if (wt->wake[1] >= 0)
		close(wt->wake[1]);
	if (wt->secret) {
		memset(wt->secret, 0, wt->secret_len);
		free(wt->secret);
	}
	svc_sync_peek_release(&wt->newer);
	pthread_mutex_destroy(&wt->mu);
}

/* One pass, with the poller beside it. Returns whether a newer commit waits. */
static bool one_pass(struct watch *wt, const struct svc_sync_opts *o,
		     svc_sync_watch_pass_fn on_pass, void *arg)
{
	struct svc_deploy_cancel cancel = { cancelled, wt };
	struct svc_sync_opts opts = *o;
	struct svc_sync_pass p;
	struct svc_error e = { 0 };
	pthread_t th;
	bool have_poller, again;
	int rc, status;

	opts.apply = true;
	opts.cancel = &cancel;
	opts.resolved = resolved;
	opts.hook_arg = wt;
	pthread_mutex_lock(&wt->mu);
	wt->pass_commit[0] = '\0';
	svc_sync_peek_release(&wt->newer);
	pthread_mutex_unlock(&wt->mu);
	have_poller = pthread_create(&th, NULL, poller, wt) == 0;
	rc = svc_sync_run(wt->ctx, wt->src, &opts, &p, &e);
	if (have_poller) {
		wake(wt, WAKE_QUIT);
		pthread_join(th, NULL);
	}
	status = on_pass(arg, &p, rc, &e);
	save_last(wt, &p, rc, &e, status);
	pthread_mutex_lock(&wt->mu);
	again = !wt->stopping && wt->newer.commit[0] && strcmp(wt->newer.commit, p.commit);
	pthread_mutex_unlock(&wt->mu);
	svc_sync_pass_release(&p);
	return again;
}

int svc_sync_watch(struct svc_ctx *ctx, const struct svc_sync_source *src,
		   const struct svc_sync_opts *o, const struct svc_sync_watch_opts *w,
		   svc_sync_watch_pass_fn on_pass, void *arg, struct svc_error *err)
{
	struct watch wt = { .ctx = ctx, .src = src, .w = w, .wake = { -1, -1 } };
	int64_t every = w->interval_ms > 0 ? w->interval_ms : DEFAULT_INTERVAL_MS;
	struct svc_lock lock = { -1 };
	char *dir = svc_strfmt("%s/sync", ctx->state_dir);
	char *path = svc_strfmt("%s/watch.lock", dir), holder[128] = "";
	int64_t next;
	bool pending = true;
	int rc;

	pthread_mutex_init(&wt.mu, NULL);
	if ((rc = check_webhooks(&wt, err)) || (rc = svc_mkdir_p(dir, 0700, err)))
		goto done;
	if ((rc = svc_lock_take_path(&lock, path, "sync --watch", holder, sizeof(holder), err))) {
		if (rc == SVC_ELOCKED)
			svc_error_set(err, SVC_ELOCKED, "a sync watcher of state dir '%s' is "
				      "running already%s%s%s", ctx->state_dir, holder[0] ? " (" : "",
				      holder, holder[0] ? ")" : "");
		goto done;
	}
	if (pipe2(wt.wake, O_CLOEXEC | O_NONBLOCK)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot make a pipe");
		goto done;
	}
	if ((rc = start_webhooks(&wt, err)))
		goto done;
	{
		char d[32];
		svc_duration_format(d, sizeof(d), every);
		svc_report_step(ctx->report, NULL, "watch", "watching %s every %s (SIGHUP: a pass "
				"now; SIGTERM: stop)", src->repo, d);
	}
	next = svc_mono_ms();
	for (;;) {
		struct requests r = { 0 };
		int64_t left = next - svc_mono_ms();

		if (!pending)
			r = wait_requests(&wt, left > 0 ? left : 0);
		if (r.stop)
			break;
		if (r.pass || r.hook) {
			svc_report_step(ctx->report, NULL, "watch", "a pass now (%s)",
					r.hook ? "webhook" : "requested");
			pending = true;
		}
		if (!pending && svc_mono_ms() < next)
			continue;
		pending = one_pass(&wt, o, on_pass, arg);
		pthread_mutex_lock(&wt.mu);
		if (wt.stopping) {
			pthread_mutex_unlock(&wt.mu);
			break;
		}
		pthread_mutex_unlock(&wt.mu);
		next = svc_mono_ms() + every;
	}
	svc_report_step(ctx->report, NULL, "watch", "stopped");
	rc = 0;
done:
	watch_release(&wt);
	svc_lock_release(&lock);
	free(path);
	free(dir);
	return rc;
}
