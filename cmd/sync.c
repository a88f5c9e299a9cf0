/*
 * sync.c - `svcctl sync` (one GitOps pass, or --suspend / --unsuspend) and
 * `svcctl diff` (what a pass would do), over sync/sync.h.
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/sync.h"
#include "sync/watch.h"
#include "util.h"

static const char sync_usage[] =
	"svcctl sync --repo URL|PATH [--ref REF] [--path DIR] [--prune] [--retry] [--jobs N]\n"
	"                   [--verify-signatures KEYRING] [SERVICE...]\n"
	"       svcctl sync --watch [--interval DUR] [--listen ADDR [--secret-file FILE]]\n"
	"                   --repo URL|PATH [the options above]\n"
	"       svcctl sync --suspend SERVICE --reason TEXT | --unsuspend SERVICE";
static const char sync_help[] =
	"Apply the manifests of a git commit, per service. The repository is\n"
	"fetched into the state dir's cache; REF (a branch, tag or commit; default:\n"
	"the remote's HEAD branch) is resolved to a commit whose tree is exported\n"
	"read-only; every manifest under DIR (default 'manifests') is a service,\n"
	"deployed as 'svcctl deploy' does (build, health gate, switch, bake, keep\n"
	"the old release warm), providers (api.requires) before their consumers,\n"
	"up to N at a time (--jobs, default 2). One service's failure never blocks\n"
	"another: an invalid manifest skips that service, a failed gate leaves it on\n"
	"its old release. A release that failed is not tried again until a commit\n"
	"changes the service, or --retry. --prune stops services that are in the\n"
	"state but not in the commit (history kept). --verify-signatures requires\n"
	"the commit to be signed by a key of KEYRING (a file of OpenPGP public keys).\n"
	"SERVICE names limit the pass to those. --suspend leaves a service alone (a\n"
	"rollback made by hand stays) until --unsuspend.\n"
	"--watch runs passes until SIGTERM or SIGINT: at start, every --interval\n"
	"(default 1m), on SIGHUP, and on a push webhook (--listen ADDR: POST\n"
	"/hooks/git signed with X-Hub-Signature-256 under the secret in FILE;\n"
	"GET /healthz; an address other than loopback needs --secret-file). While\n"
	"a pass waits for a green, a newer commit that changes that service cancels\n"
	"the wait (blue keeps serving) and is applied next. SIGTERM lets the\n"
	"rollout in flight finish or be undone, then exits 0. 'svcctl status'\n"
	"shows the last pass.\n"
	"Environment: SVCCTL_SYNC_REPO, SVCCTL_SYNC_REF, SVCCTL_SYNC_PATH.\n"
	"Exit: 0 every service applied or in sync; 1 a service failed; 3 a manifest\n"
	"is invalid or the signature is refused; 4 another pass holds the state dir;\n"
	"5 the repository (or a runtime) cannot be reached. --watch: 0 when stopped\n"
	"by a signal; 2 bad options (a non-loopback --listen without a secret); 4\n"
	"another watcher runs on the state dir; 1 the address cannot be listened on.\n";

static const char diff_usage[] =
	"svcctl diff --repo URL|PATH [--ref REF] [--path DIR] [--retry]\n"
	"                   [--verify-signatures KEYRING] [SERVICE...]";
static const char diff_help[] =
	"What 'svcctl sync' would do with the same source, per service, changing\n"
	"nothing that runs: deploy (a new or changed release), heal (the right\n"
	"release, but instances missing or failing their health check, or the route\n"
	"pointing elsewhere), prune (in the state, not in the commit), in-sync,\n"
	"suspended, failed (this commit's release failed before and will not be\n"
	"retried), invalid (with its errors).\n"
	"Exit: 0 nothing would change; 1 something would; 3 a manifest is invalid;\n"
	"5 the repository cannot be reached.\n";

struct sync_args {
	struct svc_sync_source src;
	struct svc_sync_opts opts;
	struct svc_sync_watch_opts watch;
	bool watching;
	const char *suspend, *unsuspend, *reason;
	char **names;
};

static int parse(struct cmd_global *g, int argc, char **argv, bool diff, struct sync_args *a)
{
	const char *usage = diff ? diff_usage : sync_usage;
	long long jobs;

	a->names = svc_calloc((size_t)argc + 1, sizeof(*a->names));
	a->src.repo = getenv("SVCCTL_SYNC_REPO");
	a->src.ref = getenv("SVCCTL_SYNC_REF");
	a->src.path = getenv("SVCCTL_SYNC_PATH");
	a->opts.apply = !diff;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char **val = NULL;

		if (cmd_is_help(o)) {
			printf("usage: %s\n\n%s", usage, diff ? diff_help : sync_help);
			return EXIT_OK;
		}
		if (!strcmp(o, "--repo"))
			val = &a->src.repo;
		else if (!strcmp(o, "--ref"))
			val = &a->src.ref;
		else if (!strcmp(o, "--path"))
			val = &a->src.path;
		else if (!strcmp(o, "--verify-signatures"))
			val = &a->src.keyring;
		else if (!diff && !strcmp(o, "--suspend"))
			val = &a->suspend;
		else if (!diff && !strcmp(o, "--unsuspend"))
			val = &a->unsuspend;
		else if (!diff && !strcmp(o, "--reason"))
			val = &a->reason;
		else if (!diff && !strcmp(o, "--listen"))
			val = &a->watch.listen;
		else if (!diff && !strcmp(o, "--secret-file"))
			val = &a->watch.secret_file;
		if (val) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return cmd_usage_error(g, usage, "%s needs a value", o);
			*val = argv[++i];
		} else if (!diff && !strcmp(o, "--watch")) {
			a->watching = true;
		} else if (!diff && !strcmp(o, "--interval")) {
			struct svc_error e = { 0 };
			if (i + 1 >= argc || svc_duration_parse(&a->watch.interval_ms, argv[i + 1], &e) ||
			    a->watch.interval_ms < 1000)
				return cmd_usage_error(g, usage, "--interval needs a duration of at "
						       "least 1s (30s, 5m)");
			i++;
		} else if (!diff && !strcmp(o, "--prune")) {
			a->opts.prune = true;
		} else if (!strcmp(o, "--retry")) {
			a->opts.retry = true;
		} else if (!diff && (!strcmp(o, "--jobs") || !strcmp(o, "-j"))) {
			if (i + 1 >= argc || svc_parse_int(&jobs, argv[i + 1], 1, 64))
				return cmd_usage_error(g, usage, "--jobs needs a number from 1 to 64");
			a->opts.jobs = (int)jobs;
			i++;
		} else if (o[0] == '-') {
			return cmd_usage_error(g, usage, "unknown option '%s'", o);
		} else if (!svc_name_valid(o)) {
			return cmd_usage_error(g, usage, "invalid service name '%s'", o);
		} else {
			a->names[a->opts.nservices++] = argv[i];
		}
	}
	a->opts.services = a->names;
	if (a->suspend || a->unsuspend) {
		if (a->suspend && a->unsuspend)
			return cmd_usage_error(g, usage, "--suspend or --unsuspend, not both");
		if (a->suspend && !a->reason)
			return cmd_usage_error(g, usage, "--suspend needs --reason TEXT");
		if (!svc_name_valid(a->suspend ? a->suspend : a->unsuspend))
			return cmd_usage_error(g, usage, "invalid service name '%s'",
					       a->suspend ? a->suspend : a->unsuspend);
		return -1;
	}
	if (a->reason)
		return cmd_usage_error(g, usage, "--reason goes with --suspend");
	if (!a->watching && (a->watch.listen || a->watch.secret_file || a->watch.interval_ms))
		return cmd_usage_error(g, usage, "--interval, --listen and --secret-file go with "
				       "--watch");
	if (a->watch.secret_file && !a->watch.listen)
		return cmd_usage_error(g, usage, "--secret-file goes with --listen");
	if (!a->src.repo || !a->src.repo[0])
		return cmd_usage_error(g, usage, "which repository? (--repo, or SVCCTL_SYNC_REPO)");
	return -1;
}

static json_t *item_json(const struct svc_sync_item *it)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "service", it->service,
			      "action", svc_sync_action_name(it->action),
			      "outcome", svc_sync_done_name(it->done),
			      "detail", it->detail ? it->detail : "");
	json_t *errs = json_array();

	json_object_set_new(o, "release", it->release[0] ? json_string(it->release) : json_null());
	json_object_set_new(o, "active", it->active[0] ? json_string(it->active) : json_null());
	for (size_t k = 0; it->errors && it->errors[k]; k++)
		json_array_append_new(errs, json_string(it->errors[k]));
	json_object_set_new(o, "errors", errs);
	return o;
}

static void print_pass(struct cmd_global *g, const struct svc_sync_pass *p, int code,
		       bool watching)
{
	size_t counts[SVC_SYNC_ACT_INVALID + 1] = { 0 };

	for (size_t i = 0; i < p->count; i++)
		counts[p->items[i].action]++;
	if (g->json) {
		json_t *svcs = json_array(), *cnt = json_object();
		for (size_t i = 0; i < p->count; i++) {
			json_t *o = item_json(&p->items[i]);
			if (p->applied) {
				svc_report_event(&g->report, "service", json_deep_copy(o));
			}
			json_array_append_new(svcs, o);
		}
		for (int a = 0; a <= SVC_SYNC_ACT_INVALID; a++)
			json_object_set_new(cnt, svc_sync_action_name((enum svc_sync_action)a),
					    json_integer((json_int_t)counts[a]));
		svc_report_event(&g->report, watching ? "pass" : "result",
			json_pack("{s:s, s:b, s:i, s:s, s:s, s:s, s:o, s:o}",
			"command", g->command, "ok", code == 0, "exit_code", code,
			"commit", p->commit, "repo", p->repo, "path", p->path,
			"services", svcs, "counts", cnt));
		return;
	}
	for (size_t i = 0; i < p->count; i++) {
		const struct svc_sync_item *it = &p->items[i];
		const char *what = p->applied ? svc_sync_done_name(it->done)
					      : svc_sync_action_name(it->action);
		if (p->applied && it->done == SVC_SYNC_REPORTED)
			what = svc_sync_action_name(it->action);
		printf("%-20s %-10s %s\n", it->service, what, it->detail ? it->detail : "");
		for (size_t k = 1; it->errors && it->errors[k]; k++)
			printf("%-20s %-10s %s\n", "", "", it->errors[k]);
	}
	printf("%s: commit %.12s of %s (%s): %zu service%s", g->command, p->commit, p->repo,
	       p->path, p->count, p->count == 1 ? "" : "s");
	for (int a = 0; a <= SVC_SYNC_ACT_INVALID; a++)
		if (counts[a])
			printf(", %zu %s", counts[a], svc_sync_action_name((enum svc_sync_action)a));
	printf("\n");
}

/* ---- --watch ---- */

static int control_w = -1;

/* SIGHUP: a pass now; SIGTERM, SIGINT: stop (async-signal-safe: one write) */
static void on_watch_signal(int sig)
{
	char c = sig == SIGHUP ? SVC_WATCH_PASS : SVC_WATCH_STOP;
	int saved = errno;

	if (write(control_w, &c, 1) < 0)
		errno = saved;
	errno = saved;
}

static int on_pass(void *arg, const struct svc_sync_pass *p, int rc, const struct svc_error *err)
{
	struct cmd_global *g = arg;
	int code;

	if (rc) {
		/* the watcher goes on: a warning, not the command's result */
		code = cmd_exit_code(rc);
		if (g->json)
			svc_report_event(&g->report, "pass", json_pack("{s:s, s:b, s:i, s:s, s:s, s:{s:s}}",
				"command", g->command, "ok", 0, "exit_code", code,
				"commit", p->commit, "repo", p->repo ? p->repo : "",
				"error", "message", err->message));
		else
			svc_report_warn(&g->report, NULL, "pass failed (exit %d): %s", code,
					err->message);
		return code;
	}
	code = cmd_exit_code(svc_sync_exit(p));
	print_pass(g, p, code, true);
	fflush(stdout);
	return code;
}

static int watch(struct cmd_global *g, struct sync_args *a)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };
	struct svc_error err = { 0 };
	struct sigaction sa;
	int fds[2], rc, code;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK)) {
		svc_error_set_errno(&err, SVC_EGENERIC, errno, "cannot make a pipe");
		return cmd_fail(g, SVC_EGENERIC, &err);
	}
	control_w = fds[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watch_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	a->watch.control_fd = fds[0];
	rc = svc_sync_watch(&g->ctx, &a->src, &a->opts, &a->watch, on_pass, g, &err);
	if (rc) {
		code = cmd_fail(g, rc, &err);
	} else {
		code = EXIT_OK;
		if (g->json)
			svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:b}", "command",
				g->command, "ok", 1, "exit_code", 0, "watch", 1));
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	control_w = -1;
	close(fds[0]);
	close(fds[1]);
	return code;
}

static int run(struct cmd_global *g, int argc, char **argv, bool diff)
{
	struct sync_args a = { 0 };
	struct svc_sync_pass p;
	struct svc_error err = { 0 };
	int code, rc;

	memset(&p, 0, sizeof(p));
	if ((code = parse(g, argc, argv, diff, &a)) >= 0)
		goto done;
	if (a.suspend || a.unsuspend) {
		rc = a.suspend ? svc_sync_suspend(&g->ctx, a.suspend, a.reason, &err)
			       : svc_sync_unsuspend(&g->ctx, a.unsuspend, &err);
		if (rc)
			code = cmd_fail(g, rc, &err);
		else if (g->json)
			svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s, s:b}",
				"command", g->command, "ok", 1, "exit_code", 0, "service",
				a.suspend ? a.suspend : a.unsuspend, "suspended", a.suspend != NULL));
		else
			code = EXIT_OK;
		if (!rc)
			code = EXIT_OK;
		goto done;
	}
	if (a.watching) {
		code = watch(g, &a);
		goto done;
	}
	rc = svc_sync_run(&g->ctx, &a.src, &a.opts, &p, &err);
	if (rc && g->json && p.commit[0]) {
		/* refused after the ref resolved (a signature): the result names the commit */
		code = cmd_exit_code(rc);
		svc_report_result(&g->report, json_pack("{s:s, s:b, s:i, s:s, s:s, s:s, s:{s:s}}",
			"command", g->command, "ok", 0, "exit_code", code, "commit", p.commit,
			"repo", p.repo, "path", p.path, "error", "message", err.message));
		goto done;
	}
	if (rc) {
		code = cmd_fail(g, rc, &err);
		goto done;
	}
	code = cmd_exit_code(svc_sync_exit(&p));
	print_pass(g, &p, code, false);
done:
	svc_sync_pass_release(&p);
	free(a.names);
	return code;
}

int cmd_sync(struct cmd_global *g, int argc, char **argv)
{
	return run(g, argc, argv, false);
}

int cmd_diff(struct cmd_global *g, int argc, char **argv)
{
	return run(g, argc, argv, true);
}
