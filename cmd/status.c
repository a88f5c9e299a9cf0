/*
 * status.c - `svcctl status [SERVICE]`: per service the active release and
 * color, the warm previous release and until when, a rollout in progress,
 * instances (pid, port, health, restarts) and routes with live connections.
 */
#include "cmd.h"

#include "sync/sync.h"
#include "sync/watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util.h"

static const char usage[] = "svcctl status [SERVICE]";
static const char help[] =
	"Per service: the active release and its color, the warm previous\n"
	"release and until when it stays warm, a rollout in progress, every\n"
	"instance (pid, port, state, health, restarts) and the router's routes\n"
	"with live connections per backend. Finishes or undoes an interrupted\n"
	"rollout first.\n"
	"\n"
	"A state file that cannot be read is printed as an error naming it (exit\n"
	"3), beside what the runtime reports; nothing is changed then. See\n"
	"'svcctl repair'. An active release whose route does not serve (no\n"
	"router answers, or the router cannot listen on its address) is an\n"
	"error too (exit 5); status starts a router that is not running.\n";

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static void print_release(const char *label, json_t *r, const char *time_key,
			  const char *time_label)
{
	char t[32];

	if (!json_is_object(r)) {
		printf("  %-9s -\n", label);
		return;
	}
	printf("  %-9s %.12s  %-5s  version %s  %s %s", label, jstr(r, "release"),
	       jstr(r, "color"), jstr(r, "version"), time_label,
	       svc_time_format(t, sizeof(t), json_integer_value(json_object_get(r, time_key))));
	if (json_is_string(json_object_get(r, "artifact")))
		printf("  artifact %.12s", jstr(r, "artifact"));
	putchar('\n');
}

static void print_service(json_t *s)
{
	json_t *ro = json_object_get(s, "rollout"), *route, *in;
	size_t i;

	printf("%s\n", jstr(s, "service"));
	if (json_is_string(json_object_get(s, "state_error")))
		printf("  %-9s cannot be read: %s\n", "state", jstr(s, "state_error"));
	if (json_is_string(json_object_get(s, "recovered")))
		printf("  recovered %s\n", jstr(s, "recovered"));
	if (json_is_string(json_object_get(s, "inferred")))
		printf("  note      %s\n", jstr(s, "inferred"));
	print_release("active", json_object_get(s, "active"), "since_ms", "since");
	if (json_is_string(json_object_get(s, "sync")))
		printf("  %-9s %s\n", "sync", jstr(s, "sync"));
	print_release("warm", json_object_get(s, "previous"), "warm_until_ms", "until");
	if (json_is_object(ro))
		printf("  %-9s %s of %.12s (%s): %s\n", "rollout", jstr(ro, "kind"),
		       jstr(ro, "release"), jstr(ro, "color"), jstr(ro, "step"));
	if (json_is_string(json_object_get(s, "router_error")))
		printf("  %-9s ERROR: %s\n", "router", jstr(s, "router_error"));
	else if (!json_is_true(json_object_get(json_object_get(s, "router"), "running")))
		printf("  %-9s not running\n", "router");
	json_array_foreach(json_object_get(json_object_get(s, "router"), "nodes"), i, route) {
		/* a cluster's routers, one per node */
		const char *e = json_string_value(json_object_get(route, "error"));
		printf("  %-9s node %s (%s): %s, %s%s%s\n", "router", jstr(route, "node"),
		       jstr(route, "addr"), jstr(route, "state"),
		       json_is_true(json_object_get(route, "answers")) ? "router answers" :
		       "router does not answer", e ? ": " : "", e ? e : "");
	}
	json_array_foreach(json_object_get(s, "routes"), i, route) {
		json_t *b;
		size_t k;
		if (jstr(route, "node"))
			printf("  %-9s %s on node %s ->", "route", jstr(route, "listen"),
			       jstr(route, "node"));
		else
			printf("  %-9s %s ->", "route", jstr(route, "listen"));
		json_array_foreach(json_object_get(route, "backends"), k, b)
			printf("%s %s (%lld conn%s%s)", k ? "," : "", jstr(b, "address"),
			       (long long)json_integer_value(json_object_get(b, "connections")),
			       json_integer_value(json_object_get(b, "connections")) == 1 ? "" : "s",
			       json_is_false(json_object_get(b, "active")) ? ", draining" : "");
		printf("\n");
	}
	if (!json_array_size(json_object_get(s, "instances"))) {
		printf("  no instances\n");
		return;
	}
	printf("  %-30s %-12s %-5s %7s %5s  %-8s %-9s %s\n", "INSTANCE", "RELEASE", "COLOR",
	       "PID", "PORT", "STATE", "HEALTH", "RESTARTS");
	json_array_foreach(json_object_get(s, "instances"), i, in)
		printf("  %-30s %.12s %-5s %7lld %5lld  %-8s %-9s %lld\n", jstr(in, "id"),
		       jstr(in, "release"), jstr(in, "color"),
		       (long long)json_integer_value(json_object_get(in, "pid")),
		       (long long)json_integer_value(json_object_get(in, "port")),
		       jstr(in, "state"), jstr(in, "health"),
		       (long long)json_integer_value(json_object_get(in, "restarts")));
	json_array_foreach(json_object_get(s, "instances"), i, in) {
		/* where a runtime of several machines put it, and why it does not run */
		const char *why = json_string_value(json_object_get(in, "why"));
		if (json_object_get(in, "node"))
			printf("  %-30s task %s on node %s, at %s:%lld%s%s\n", jstr(in, "id"),
			       jstr(in, "runtime_id"), jstr(in, "node"), jstr(in, "host"),
			       (long long)json_integer_value(json_object_get(in, "port")),
			       why ? "; " : "", why ? why : "");
		else if (why)
			printf("  %-30s %s\n", jstr(in, "id"), why);
	}}

int cmd_status(struct cmd_global *g, int argc, char **argv)
{
	const char *service;
	struct cmd_args a;
	char **services = NULL;
	json_t *all = json_array();
	struct svc_error err = { 0 }, state_err = { 0 }, route_err = { 0 };
	int code = EXIT_OK;

	if ((code = cmd_parse_service_args(g, argc, argv, CMD_SERVICE_OPTIONAL, usage, help,
					   &a)) >= 0) {
		json_decref(all);
		return code;
	}
	code = EXIT_OK;
	service = a.service;
	if (service) {
		services = svc_calloc(2, sizeof(*services));
		services[0] = svc_strdup(service);
	} else {
		services = svc_rollout_services(&g->ctx);
	}
	for (size_t i = 0; services[i]; i++) {
		json_t *s = NULL;
		int rc = svc_rollout_status(&g->ctx, services[i], &s, &err);
		if (rc == SVC_ESTATE && s) {
			/* shown with what runs; the other services go on */
			if (!g->json)
				fprintf(stderr, "svcctl: %s\n", err.message);
			if (!state_err.code)
				state_err = err;
			svc_error_clear(&err);
		} else if (rc) {
			json_decref(s);
			code = cmd_fail(g, rc, &err);
			goto done;
		}
		{
			/* GitOps: synced COMMIT12, out-of-sync, failed at COMMIT12, suspended */
			char sync[1400];
			const char *act = json_string_value(json_object_get(
				json_object_get(s, "active"), "release"));
			svc_sync_status_text(&g->ctx, services[i], act ? act : "", sync, sizeof(sync));
			if (sync[0])
				json_object_set_new(s, "sync", json_string(sync));
		}
		if (!g->json)
			print_service(s);
		if (json_is_string(json_object_get(s, "router_error")) && !route_err.code)
			svc_error_set(&route_err, SVC_EUNAVAIL, "%s: %s", services[i],
				      json_string_value(json_object_get(s, "router_error")));
		json_array_append_new(all, s);
	}
	if (!g->json && !services[0])
		printf("no services deployed (state dir %s)\n", g->state_dir);
	if (!service && !g->json) {
		/* the sync watcher's last pass, when one ever ran */
		char w[1600];
		svc_sync_watch_status_text(&g->ctx, w, sizeof(w));
		if (w[0])
			printf("sync watcher: %s\n", w);
	}
	if (state_err.code) {
		code = cmd_exit_code(SVC_ESTATE);
	} else if (route_err.code) {
		/* a route that does not serve is an outage: status says so */
		code = cmd_exit_code(SVC_EUNAVAIL);
		state_err = route_err;
		if (!g->json)
			fprintf(stderr, "svcctl: %s\n", route_err.message);
	}
	if (g->json) {
		json_t *r = json_pack("{s:s, s:b, s:i, s:O}", "command", "status", "ok", !code,
				      "exit_code", code, "services", all);
		json_t *w = svc_sync_watch_status_json(&g->ctx);
		if (w)
			json_object_set_new(r, "sync_watcher", w);
		if (code)
			json_object_set_new(r, "error", json_pack("{s:s}", "message",
								  state_err.message));
		svc_report_result(&g->report, r);
	}
done:
	json_decref(all);
	svc_strv_free(services);
	return code;
}
