/*
 * deps.c - `svcctl deps [unused]`: which service uses which version of which
 * dependency, from the manifests and their lock files; and the cached
 * versions no manifest uses (pinning.h).
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "pinning.h"
#include "util.h"

static const char usage[] = "svcctl deps [unused]";
static const char help[] =
	"Every dependency of every manifest: each version in use (the locked\n"
	"commit, or for a service without a lock the commit its ref names in the\n"
	"cache; '-' when never fetched), the refs that name it and the services\n"
	"using it. 'unused' lists the cached versions (and whole cached\n"
	"repositories) that no manifest uses: what 'svcctl gc' deletes.\n";

static void print_report(const json_t *rep)
{
	const json_t *dep, *ver;
	size_t i, j;

	if (!json_array_size(json_object_get(rep, "dependencies"))) {
		printf("no manifest has build dependencies\n");
		return;
	}
	printf("%-16s %-12s %-6s %-16s %-24s %s\n", "DEPENDENCY", "COMMIT", "LOCKED", "REFS",
	       "SERVICES", "GIT");
	json_array_foreach(json_object_get(rep, "dependencies"), i, dep) {
		json_array_foreach(json_object_get(dep, "versions"), j, ver) {
			const char *commit = json_string_value(json_object_get(ver, "commit"));
			char refs[256] = "", services[512] = "";
			const json_t *v;
			size_t k;

			json_array_foreach(json_object_get(ver, "refs"), k, v)
				snprintf(refs + strlen(refs), sizeof(refs) - strlen(refs), "%s%s",
					 k ? "," : "", json_string_value(v));
			json_array_foreach(json_object_get(ver, "services"), k, v)
				snprintf(services + strlen(services), sizeof(services) - strlen(services),
					 "%s%s", k ? "," : "", json_string_value(v));
			printf("%-16s %-12.12s %-6s %-16s %-24s %s\n",
			       json_string_value(json_object_get(dep, "name")), commit ? commit : "-",
			       json_is_true(json_object_get(ver, "locked")) ? "yes" : "no", refs,
			       services, json_string_value(json_object_get(dep, "git")));
		}
	}
}

static void print_unused(const json_t *rep)
{
	const json_t *u;
	size_t i;

	if (!json_array_size(json_object_get(rep, "unused"))) {
		printf("every cached dependency version is used by a manifest\n");
		return;
	}
	printf("%-16s %-12s %10s  %s\n", "DEPENDENCY", "COMMIT", "BYTES", "GIT");
	json_array_foreach(json_object_get(rep, "unused"), i, u) {
		const char *name = json_string_value(json_object_get(u, "name"));
		const char *commit = json_string_value(json_object_get(u, "commit"));
		const char *git = json_string_value(json_object_get(u, "git"));

		printf("%-16s %-12.12s %10lld  %s\n", name ? name : "?",
		       commit ? commit : "(all)",
		       (long long)json_integer_value(json_object_get(u, "bytes")), git ? git : "?");
	}
}

int cmd_deps(struct cmd_global *g, int argc, char **argv)
{
	struct svc_manifest_set set = { 0 };
	struct svc_manifest **ms = NULL;
	struct svc_error err = { 0 };
	bool unused = false;
	json_t *rep = NULL;
	size_t count = 0;
	int code, rc;

	for (int i = 1; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			printf("usage: %s\n\n%s", usage, help);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "unused") && !unused) {
			unused = true;
		} else {
			return cmd_usage_error(g, usage, "unexpected argument '%s'", argv[i]);
		}
	}
	/* a report: manifests with errors are left out, with a warning */
	if ((code = cmd_load_services(g, &set, NULL, 0, true, false, &ms, &count)))
		goto done;
	if (unused) {
		if ((rc = svc_pin_unused(g->state_dir, ms, count, false, &rep, &err))) {
			code = cmd_fail(g, rc, &err);
			goto done;
		}
	} else {
		rep = svc_pin_report(g->state_dir, ms, count);
	}
	if (g->json) {
		json_object_set_new(rep, "command", json_string(unused ? "deps unused" : "deps"));
		json_object_set_new(rep, "ok", json_true());
		json_object_set_new(rep, "exit_code", json_integer(0));
		svc_report_result(&g->report, rep);
		rep = NULL;
	} else if (unused) {
		print_unused(rep);
	} else {
		print_report(rep);
	}
done:
	json_decref(rep);
	free(ms);
	svc_manifest_set_release(&set);
	return code;
}
