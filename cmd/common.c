/*
 * common.c - the pieces every subcommand shares: exit codes, error output
 * (human or JSON), state-dir set-up and finding one service's manifest.
 */
#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util.h"

int cmd_exit_code(int rc)
{
	switch (rc) {
	case SVC_OK:
		return EXIT_OK;
	case SVC_EUSAGE:
		return EXIT_USAGE;
	case SVC_EMANIFEST:
	case SVC_ESTATE:
		return EXIT_MANIFEST;
	case SVC_ELOCKED:
		return EXIT_LOCKED;
	case SVC_EUNAVAIL:
		return EXIT_UNAVAIL;
	default:
		return EXIT_FAILED;
	}
}

static json_t *error_json(int rc, const struct svc_error *err)
{
	json_t *e = json_pack("{s:s}", "message", err && err->message[0] ? err->message
							   : "unknown error");

	(void)rc;
	if (err && err->file[0]) {
		json_object_set_new(e, "file", json_string(err->file));
		json_object_set_new(e, "line", json_integer(err->line));
		json_object_set_new(e, "column", json_integer(err->column));
	}
	return e;
}

int cmd_fail(struct cmd_global *g, int rc, const struct svc_error *err)
{
	int code = cmd_exit_code(rc);
	char buf[2048];

	if (g->json) {
		json_t *r = json_pack("{s:s, s:b, s:i, s:o}", "command", g->command,
				      "ok", 0, "exit_code", code, "error", error_json(rc, err));
		svc_report_result(&g->report, r);
	} else {
		fprintf(stderr, "svcctl: %s\n",
			err && err->message[0] ? svc_error_format(err, buf, sizeof(buf))
					       : "unknown error");
	}
	return code;
}

int cmd_usage_error(struct cmd_global *g, const char *usage, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (g->json) {
		struct svc_error e = { 0 };
		svc_error_set(&e, SVC_EUSAGE, "%s", msg);
		return cmd_fail(g, SVC_EUSAGE, &e);
	}
	fprintf(stderr, "svcctl %s: %s\nusage: %s\n", g->command, msg, usage);
	return EXIT_USAGE;
}

bool cmd_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cmd_parse_service_args(struct cmd_global *g, int argc, char **argv,
			   unsigned flags, const char *usage, const char *help,
			   struct cmd_args *out)
{
	struct svc_error err = { 0 };

	memset(out, 0, sizeof(*out));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (cmd_is_help(a)) {
			printf("usage: %s\n\n%s", usage, help);
			return EXIT_OK;
		}
		if ((flags & CMD_OPT_TIMEOUT) && !strcmp(a, "--timeout")) {
			if (i + 1 >= argc)
				return cmd_usage_error(g, usage, "--timeout needs a duration");
			if (svc_duration_parse(&out->timeout_ms, argv[++i], &err) || !out->timeout_ms)
				return cmd_usage_error(g, usage, "--timeout: %s",
						       err.code ? err.message : "must be more than 0");
		} else if ((flags & CMD_OPT_TO) && !strcmp(a, "--to")) {
			if (i + 1 >= argc)
				return cmd_usage_error(g, usage, "--to needs a release");
			out->to = argv[++i];
		} else if ((flags & CMD_OPT_FOLLOW) && (!strcmp(a, "-f") || !strcmp(a, "--follow"))) {
			out->follow = true;
		} else if ((flags & CMD_OPT_ALL) && !strcmp(a, "--all")) {
			out->all = true;
		} else if ((flags & CMD_OPT_YES) && !strcmp(a, "--yes")) {
			out->yes = true;
		} else if (a[0] == '-') {
			return cmd_usage_error(g, usage, "unknown option '%s'", a);
		} else if (out->service) {
			return cmd_usage_error(g, usage, "one service at a time");
		} else {
			out->service = a;
		}
	}
	if (!out->service && !(flags & CMD_SERVICE_OPTIONAL))
		return cmd_usage_error(g, usage, "which service?");
	if (out->service && !svc_name_valid(out->service))
		return cmd_usage_error(g, usage, "invalid service name '%s'", out->service);
	return -1;
}

int cmd_open_state(struct cmd_global *g)
{
	struct svc_error err = { 0 };
	char *def = NULL;
	const char *dir = g->state_arg;
	int rc;

	if (!dir)
		dir = getenv("SVCCTL_STATE_DIR");
	if (!dir || !*dir)
		dir = def = svc_state_default_dir();
	rc = svc_state_open(&g->state_dir, dir, &err);
	free(def);
	if (rc)
		return cmd_fail(g, rc, &err);
	if (svc_self_exe(g->self_exe, sizeof(g->self_exe), &err))
		return cmd_fail(g, SVC_EGENERIC, &err);
	g->ctx.state_dir = g->state_dir;
	g->ctx.self_exe = g->self_exe;
	g->ctx.report = &g->report;
	return EXIT_OK;
}

static void print_diag(struct cmd_global *g, const struct svc_error *e, bool warning)
{
	char buf[2048];

	svc_error_format(e, buf, sizeof(buf));
	if (g->json)
		svc_report_warn(&g->report, NULL, "%s%s", warning ? "other manifest: " : "", buf);
	else
		fprintf(stderr, "%s%s\n", warning ? "svcctl: warning: " : "", buf);
}

int cmd_load_service(struct cmd_global *g, struct svc_manifest_set *set,
		     const char *service, struct svc_manifest **out)
{
	struct svc_diags d;
	char *paths[1] = { (char *)g->manifests };
	struct svc_manifest *m;
	struct svc_error err = { 0 };
	size_t own = 0;
	int code = EXIT_OK;

	*out = NULL;
	svc_diags_init(&d);
	memset(set, 0, sizeof(*set));
	svc_manifest_set_load(set, paths, 1, &d);
	m = svc_manifest_set_find(set, service);
	for (size_t i = 0; i < d.count; i++) {
		/* errors in the service's own file, or naming it, are its own */
		/* when no valid manifest names the service, its own may be
		 * among the invalid ones: then every error counts */
		bool mine = !m || !strcmp(d.items[i].file, m->path);
		if (mine)
			own++;
		print_diag(g, &d.items[i], !mine);
	}
	if (own) {
		if (m)
			svc_error_set(&err, SVC_EMANIFEST, "%zu error%s in the manifest of '%s'",
				      own, own == 1 ? "" : "s", service);
		else
			svc_error_set(&err, SVC_EMANIFEST, "no valid manifest in '%s' names "
				      "service '%s' (%zu error%s above)", g->manifests, service,
				      own, own == 1 ? "" : "s");
		code = cmd_fail(g, SVC_EMANIFEST, &err);
	} else if (!m) {
		svc_error_set(&err, SVC_EUSAGE, "no manifest in '%s' names service '%s'",
			      g->manifests, service);
		code = cmd_fail(g, SVC_EUSAGE, &err);
	} else {
		*out = m;
	}
	svc_diags_release(&d);
	return code;
}

int cmd_load_services(struct cmd_global *g, struct svc_manifest_set *set,
		      char *const *names, size_t n, bool all, bool strict,
		      struct svc_manifest ***out, size_t *count)
{
	char *paths[1] = { (char *)g->manifests };
	struct svc_error err = { 0 };
	struct svc_diags d;
	int code = EXIT_OK;

	*out = NULL;
	*count = 0;
	svc_diags_init(&d);
	memset(set, 0, sizeof(*set));
	svc_manifest_set_load(set, paths, 1, &d);
	for (size_t i = 0; i < d.count; i++)
		print_diag(g, &d.items[i], !strict);
	if (strict && d.count) {
		svc_error_set(&err, SVC_EMANIFEST, "%zu error%s in the manifests under '%s'; "
			      "nothing done", d.count, d.count == 1 ? "" : "s", g->manifests);
		code = cmd_fail(g, SVC_EMANIFEST, &err);
		goto done;
	}
	*out = svc_calloc((all ? set->count : n) + 1, sizeof(**out));
	if (all) {
		for (size_t i = 0; i < set->count; i++)
			(*out)[(*count)++] = set->items[i];
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct svc_manifest *m = svc_manifest_set_find(set, names[i]);

		if (!m) {
			svc_error_set(&err, SVC_EUSAGE, "no valid manifest in '%s' names service '%s'",
				      g->manifests, names[i]);
			code = cmd_fail(g, SVC_EUSAGE, &err);
			free(*out);
			*out = NULL;
			*count = 0;
			goto done;
		}
		for (size_t j = 0; j < *count && m; j++)
			if ((*out)[j] == m)
				m = NULL;       /* named twice: once is enough */
		if (m)
			(*out)[(*count)++] = m;
	}
done:
	svc_diags_release(&d);
	return code;
}

void cmd_result_rollout(struct cmd_global *g, const struct svc_rollout_result *res,
			int rc, const struct svc_error *err)
{
	json_t *r;

	if (!g->json)
		return;
	r = json_pack("{s:s, s:b, s:i, s:s, s:s, s:s, s:b, s:b, s:b, s:i}",
		      "command", g->command, "ok", rc == 0, "exit_code", cmd_exit_code(rc),
		      "service", res->service, "release", res->release, "color", res->color,
		      "noop", res->noop, "awaiting_promotion", res->awaiting_promotion,
		      "instant", res->instant, "history_seq", res->history_seq);
	json_object_set_new(r, "previous", res->previous[0] ? json_string(res->previous)
							    : json_null());
	json_object_set_new(r, "artifact", res->artifact[0] ? json_string(res->artifact)
							    : json_null());
	json_object_set_new(r, "switch_ms", res->switch_ms >= 0
				? json_integer(res->switch_ms) : json_null());
	json_object_set_new(r, "runtime_ms", res->runtime_ms >= 0
				? json_integer(res->runtime_ms) : json_null());
	if (res->recovered[0])
		json_object_set_new(r, "recovered", json_string(res->recovered));
	if (rc)
		json_object_set_new(r, "error", error_json(rc, err));
	svc_report_result(&g->report, r);
}
