/*
 * cmd.h - what the subcommands share: the global options, the library
 * context, error printing and the mapping of library errors to exit codes.
 *
 * Each subcommand lives in its own file as `int cmd_NAME(struct cmd_global *,
 * int argc, char **argv)` (argv[0] is the subcommand's name) and returns the
 * process exit status. Only main() exits.
 */
#ifndef SVC_CMD_H
#define SVC_CMD_H

#include <limits.h>
#include <stdbool.h>

#include "error.h"
#include "manifest.h"
#include "report.h"
#include "rollout.h"

/* Exit codes (README, `svcctl help`). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,     /* the operation failed; the previous release still serves */
	EXIT_USAGE = 2,
	EXIT_MANIFEST = 3,
	EXIT_LOCKED = 4,
	EXIT_UNAVAIL = 5,
};

struct cmd_global {
	const char *manifests;   /* --manifests / SVCCTL_MANIFESTS / ./manifests */
	const char *state_arg;   /* --state-dir as given, or NULL */
	char *state_dir;         /* absolute, created (after cmd_open_state) */
	bool json;
	int verbosity;
	const char *command;
	char self_exe[PATH_MAX];
	struct svc_report report;
	struct svc_ctx ctx;
};

/* Map a library return code to an exit status. */
int cmd_exit_code(int rc);

/*
 * Print err (stderr, "svcctl: ..."; or a JSON result object with --json)
 * and return the exit status for rc.
 */
int cmd_fail(struct cmd_global *g, int rc, const struct svc_error *err);

/* Usage error: print "svcctl CMD: message" and the usage line; return 2. */
int cmd_usage_error(struct cmd_global *g, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Create/open the state dir and fill g->ctx. Returns an exit status (0 ok). */
int cmd_open_state(struct cmd_global *g);

/* True when arg is -h or --help. */
bool cmd_is_help(const char *arg);

/* What the service commands take: SERVICE and some of these options. */
enum {
	CMD_OPT_TIMEOUT = 1 << 0,   /* --timeout DUR */
	CMD_OPT_TO = 1 << 1,        /* --to RELEASE */
	CMD_OPT_FOLLOW = 1 << 2,    /* -f, --follow */
	CMD_OPT_ALL = 1 << 3,       /* --all */
	CMD_SERVICE_OPTIONAL = 1 << 4,
	CMD_OPT_YES = 1 << 5,       /* --yes */
};

struct cmd_args {
	const char *service;     /* borrowed from argv; NULL when optional and absent */
	int64_t timeout_ms;      /* 0 when not given */
	const char *to;
	bool follow;
	bool all;
	bool yes;
};

/*
 * Parse "SERVICE [options]" (argv[0] is the command): the options allowed
 * by flags, at most one service, a valid service name. --help prints usage
 * and help. Returns -1 to go on, else the exit status to return at once.
 */
int cmd_parse_service_args(struct cmd_global *g, int argc, char **argv,
			   unsigned flags, const char *usage, const char *help,
			   struct cmd_args *out);

/*
 * Load every manifest under g->manifests and find service. Errors in the
 * service's own file (or cross-file conflicts naming it) are printed and
 * give EXIT_MANIFEST; errors in other files are printed as warnings.
 * On success *out is borrowed from set (release the set with
 * svc_manifest_set_release). Returns an exit status.
 */
int cmd_load_service(struct cmd_global *g, struct svc_manifest_set *set,
		     const char *service, struct svc_manifest **out);

/*
 * Load every manifest under g->manifests and pick the services a
 * multi-service command acts on: names[0..n) or, with all, every one. With
 * strict, an error in any manifest fails (EXIT_MANIFEST), since leaving a
 * service out would change what the command does; else those errors are
 * warnings. A name no manifest has is EXIT_USAGE. *out (caller frees the
 * array only) points into set. Returns an exit status.
 */
int cmd_load_services(struct cmd_global *g, struct svc_manifest_set *set,
		      char *const *names, size_t n, bool all, bool strict,
		      struct svc_manifest ***out, size_t *count);

/* Emit the final JSON result for a rollout operation (no-op without --json). */
void cmd_result_rollout(struct cmd_global *g, const struct svc_rollout_result *res,
			int rc, const struct svc_error *err);

int cmd_validate(struct cmd_global *g, int argc, char **argv);
int cmd_deploy(struct cmd_global *g, int argc, char **argv);
int cmd_build(struct cmd_global *g, int argc, char **argv);
int cmd_lock(struct cmd_global *g, int argc, char **argv);
int cmd_deps(struct cmd_global *g, int argc, char **argv);
int cmd_gc(struct cmd_global *g, int argc, char **argv);
int cmd_promote(struct cmd_global *g, int argc, char **argv);
int cmd_rollback(struct cmd_global *g, int argc, char **argv);
int cmd_status(struct cmd_global *g, int argc, char **argv);
int cmd_history(struct cmd_global *g, int argc, char **argv);
int cmd_logs(struct cmd_global *g, int argc, char **argv);
int cmd_stop(struct cmd_global *g, int argc, char **argv);
int cmd_repair(struct cmd_global *g, int argc, char **argv);
int cmd_router(struct cmd_global *g, int argc, char **argv);
int cmd_sync(struct cmd_global *g, int argc, char **argv);
int cmd_diff(struct cmd_global *g, int argc, char **argv);
int cmd_supervise(int argc, char **argv);
int cmd_expire(int argc, char **argv);
int cmd_router_supervise(int argc, char **argv);

#endif
