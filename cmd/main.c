/*
 * main.c - svcctl's entry point: global options, the sorted command table
 * and the one place the process exits.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "cmd.h"
#include "global.h"
#include "state_files.h"

enum {
	NEEDS_STATE = 1 << 0,   /* open the state dir and fill g->ctx first */
	/*
	 * What it prints is its result (status, history, ...): a write error
	 * on standard output fails it. For the others the exit code tells
	 * what the operation did, and an output error never changes it.
	 */
	OUTPUT_IS_RESULT = 1 << 1,
};

struct cmd_entry {
	const char *name;
	int (*fn)(struct cmd_global *, int, char **);
	unsigned flags;
	const char *summary;
};

static int cmd_help(struct cmd_global *g, int argc, char **argv);

/* Sorted by name. */
static const struct cmd_entry commands[] = {
#define RESULT (NEEDS_STATE | OUTPUT_IS_RESULT)
	{ "build",    cmd_build,    NEEDS_STATE, "build services from pinned inputs (cached by artifact id)" },
	{ "deploy",   cmd_deploy,   NEEDS_STATE, "build, then blue/green rollout of what the manifest says now" },
	{ "deps",     cmd_deps,     RESULT,      "which service uses which version of each dependency" },
	{ "diff",     cmd_diff,     NEEDS_STATE | OUTPUT_IS_RESULT, "what 'sync' would do with a commit, per service" },
	{ "gc",       cmd_gc,       NEEDS_STATE, "delete artifacts and dependency versions nothing needs" },
	{ "help",     cmd_help,     OUTPUT_IS_RESULT, "show this help" },
	{ "history",  cmd_history,  RESULT,      "every release of a service and its outcome" },
	{ "lock",     cmd_lock,     NEEDS_STATE, "pin dependency refs to commits in SERVICE.lock" },
	{ "logs",     cmd_logs,     RESULT,      "output of a service's instances (-f to follow)" },
	{ "promote",  cmd_promote,  NEEDS_STATE, "switch traffic to a release awaiting manual promotion" },
	{ "repair",   cmd_repair,   NEEDS_STATE, "rebuild a service's unreadable state from what runs" },
	{ "rollback", cmd_rollback, NEEDS_STATE, "go back to the previous (or a named) release" },
	{ "router",   cmd_router,   NEEDS_STATE, "run, stop or inspect the router daemon" },
	{ "status",   cmd_status,   RESULT,      "active and warm releases, instances, routes" },
	{ "stop",     cmd_stop,     NEEDS_STATE, "stop every instance of a service, remove its routes" },
	{ "sync",     cmd_sync,     NEEDS_STATE, "apply a git commit's manifests, per service (GitOps)" },
	{ "validate", cmd_validate, OUTPUT_IS_RESULT, "check manifests; every error as file:line:col" },
#undef RESULT
};

static void print_help(FILE *f)
{
	fputs("usage: svcctl [--manifests DIR] [--state-dir DIR] [--json] [-q|-v] COMMAND [ARGS]\n"
	      "\n"
	      "Blue/green deploys of services, one YAML manifest per service.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Global options:\n"
	      "  --manifests DIR   manifests folder (env SVCCTL_MANIFESTS; default ./manifests)\n"
	      "  --state-dir DIR   state folder (env SVCCTL_STATE_DIR; default /var/lib/svcctl\n"
	      "                    for root, else $XDG_STATE_HOME/svcctl)\n"
	      "  --json            JSON lines: one event per step, then a result object\n"
	      "  -q, --quiet       only errors and warnings\n"
	      "  -v, --verbose     more detail\n"
	      "  --version         print the version\n"
	      "  -h, --help        help (also after any command)\n"
	      "\n"
	      "Exit codes:\n"
	      "  0  success\n"
	      "  1  the operation failed and the previous release still serves\n"
	      "     (a build failed, health gate failed, bake failed and traffic\n"
	      "     switched back, ...)\n"
	      "  2  usage error\n"
	      "  3  invalid manifests, or a state file that cannot be read\n"
	      "     (the message names it; see 'svcctl repair')\n"
	      "  4  another operation holds this service's lock (or build lock)\n"
	      "  5  runtime or router unavailable\n", f);
}

static int cmd_help(struct cmd_global *g, int argc, char **argv)
{
	(void)g;
	(void)argc;
	(void)argv;
	print_help(stdout);
	return EXIT_OK;
}

static const struct cmd_entry *find_command(const char *name)
{
	size_t lo = 0, hi = sizeof(commands) / sizeof(commands[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, commands[mid].name);
		if (!c)
			return &commands[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Take the global options out of argv, wherever they stand (before "--").
 * Returns -1 and prints a message on a bad option.
 */
static int parse_globals(struct cmd_global *g, int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		size_t n;

		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--json")) {
			g->json = true;
			continue;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			g->verbosity = -1;
			continue;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			g->verbosity = 1;
			continue;
		}
		if (!strncmp(a, "--manifests", n = strlen("--manifests")))
			slot = &g->manifests;
		else if (!strncmp(a, "--state-dir", n = strlen("--state-dir")))
			slot = &g->state_arg;
		if (slot && (a[n] == '=' || a[n] == '\0')) {
			if (a[n] == '=') {
				*slot = a + n + 1;
			} else if (i + 1 < *argc) {
				*slot = argv[++i];
			} else {
				fprintf(stderr, "svcctl: option '%s' needs a value\n", a);
				return -1;
			}
			if (!**slot) {
				fprintf(stderr, "svcctl: option '%.*s' needs a value\n", (int)n, a);
				return -1;
			}
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* A fatal signal takes running build commands with it, then svcctl dies of it. */
static void on_fatal_signal(int sig)
{
	svc_build_signal_groups();
	signal(sig, SIG_DFL);
	raise(sig);             /* delivered when this handler returns */
}

/*
 * Process-wide set-up, done here and nowhere in the library: SIGPIPE
 * ignored (a closed pipe on stdout becomes a write error, which never
 * aborts a rollout halfway), and SIGINT/SIGTERM/SIGHUP passed on to build
 * commands, which run in process groups of their own. A signal that was
 * ignored when svcctl started stays ignored.
 */
static void install_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
}

/* `svcctl __state-files`: the table of state files, for the tests. */
static int cmd_state_files(void)
{
	for (const struct svc_state_file *f = svc_state_files; f->pattern; f++)
		printf("%s\t%s\n", f->pattern, f->owner);
	return fflush(stdout) || ferror(stdout) ? EXIT_FAILED : EXIT_OK;
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
	struct svc_error err = { 0 };
	int status;

	install_signals();
	if (svc_global_init(&err)) {
		fprintf(stderr, "svcctl: %s\n", err.message);
		return EXIT_FAILED;
	}
	status = run(argc, argv);
	svc_global_cleanup();
	return status;
}

static int run(int argc, char **argv)
{
	struct cmd_global g;
	const struct cmd_entry *c;
	const char *env;
	int status;

	/* hidden helpers: the process runtime's supervisor, the docker
	 * runtime's expiry waiter, the state-file table, the router's
	 * supervisor */
	if (argc >= 2 && !strcmp(argv[1], "__supervise"))
		return cmd_supervise(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "__expire"))
		return cmd_expire(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "__state-files"))
		return cmd_state_files();
	if (argc >= 2 && !strcmp(argv[1], "__router-supervise"))
		return cmd_router_supervise(argc - 1, argv + 1);

	memset(&g, 0, sizeof(g));
	env = getenv("SVCCTL_MANIFESTS");
	g.manifests = env && *env ? env : "manifests";
	if (parse_globals(&g, &argc, argv))
		return EXIT_USAGE;
	svc_report_init(&g.report, g.json, g.verbosity, stdout);
	if (argc < 2) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("svcctl %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	if (cmd_is_help(argv[1])) {
		print_help(stdout);
		return EXIT_OK;
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "svcctl: unknown command '%s' (see 'svcctl help')\n", argv[1]);
		return EXIT_USAGE;
	}
	g.command = c->name;
	if ((c->flags & NEEDS_STATE) && !(argc > 2 && cmd_is_help(argv[2]))) {
		status = cmd_open_state(&g);
		if (status)
			goto done;
	}
	status = c->fn(&g, argc - 1, argv + 1);
done:
	free(g.state_dir);
	if (fflush(stdout) || ferror(stdout)) {
		if (c->flags & OUTPUT_IS_RESULT) {
			fprintf(stderr, "svcctl: cannot write to standard output\n");
			if (!status)
				status = EXIT_FAILED;
		} else {
			fprintf(stderr, "svcctl: %s: cannot write to standard output; "
				"the %s itself went on (exit %d)\n", c->name, c->name, status);
		}
	}
	return status;
}
