/*
 * router.c - `svcctl router run|stop|status`: the router daemon that owns
 * every service's stable listen address. `deploy` starts it on demand;
 * `router run` runs it in the foreground (for a service manager).
 */
#include "cmd.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "rollout.h"
#include "router/router.h"
#include "router/client.h"
#include "router/peer.h"
#include "runtime/docker_api.h"
#include "runtime/swarm/swarm.h"
#include "util.h"

static const char usage[] =
	"svcctl router run [OPTION...] | stop | status | image | swarm [--push REGISTRY/REPO] [--peer-port N]\n"
	"       svcctl router swarm --remove\n"
	"       svcctl router swarm-watch --owner STATE --secret-file PATH [--peer-port N] [--interval DUR]";

/* The router's hook for a routes.json it cannot parse (router.h). */
static int rebuild_table(void *arg, char **table, struct svc_error *err)
{
	return svc_rollout_route_table(arg, table, err);
}

static int router_run(struct cmd_global *g, int argc, char **argv)
{
	struct svc_router_options opts;
	struct svc_error err = { 0 };
	const char *secret_file = NULL;
	char *secret = NULL, **join = NULL, *join_text = NULL;
	size_t secret_len = 0;
	int rc;
	struct {
		const char *name;
		int64_t *ms;
		bool zero_ok;     /* 0 turns it off */
	} durations[] = {
		{ "--idle-timeout", &opts.idle_timeout_ms, false },
		{ "--connect-timeout", &opts.connect_timeout_ms, false },
		{ "--first-byte-timeout", &opts.first_byte_timeout_ms, true },
		{ "--fin-timeout", &opts.fin_timeout_ms, false },
	};

	svc_router_options_init(&opts);
	for (int i = 2; i < argc; i++) {
		size_t d;

		for (d = 0; d < sizeof(durations) / sizeof(durations[0]); d++)
			if (!strcmp(argv[i], durations[d].name))
				break;
		if (d < sizeof(durations) / sizeof(durations[0]) && i + 1 < argc) {
			if (svc_duration_parse(durations[d].ms, argv[++i], &err) ||
			    (!*durations[d].ms && !durations[d].zero_ok))
				return cmd_usage_error(g, usage, "%s: %s", durations[d].name,
						       err.code ? err.message : "must be more than 0");
		} else if (!strcmp(argv[i], "--max-conns") && i + 1 < argc) {
			long long n;
			if (svc_parse_int(&n, argv[++i], 1, 1000000))
				return cmd_usage_error(g, usage, "--max-conns: expected 1-1000000");
			opts.max_conns = (int)n;
		} else if (!strcmp(argv[i], "--max-conns-per-route") && i + 1 < argc) {
			long long n;
			if (svc_parse_int(&n, argv[++i], 1, 1000000))
				return cmd_usage_error(g, usage,
						       "--max-conns-per-route: expected 1-1000000");
			opts.max_conns_per_route = (int)n;
		} else if (!strcmp(argv[i], "--supervised")) {
			opts.supervised = true;   /* from __router-supervise; not in the help */
		} else if (!strcmp(argv[i], "--peer-listen") && i + 1 < argc) {
			struct svc_addr a;
			if (svc_addr_parse(&a, argv[++i], false, &err))
				return cmd_usage_error(g, usage, "--peer-listen: %s", err.message);
			opts.peer_listen = argv[i];
		} else if (!strcmp(argv[i], "--peer-secret-file") && i + 1 < argc) {
			secret_file = argv[++i];
		} else if (!strcmp(argv[i], "--peer-join") && i + 1 < argc) {
			char *save = NULL, *a;
			svc_strv_free(join);
			join = NULL;
			free(join_text);
			join_text = svc_strdup(argv[++i]);
			for (a = strtok_r(join_text, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
				struct svc_addr addr;
				if (svc_addr_parse(&addr, a, false, &err)) {
					svc_strv_free(join);
					free(join_text);
					return cmd_usage_error(g, usage, "--peer-join: %s", err.message);
				}
				join = svc_strv_add_unique(join, a);
			}
		} else {
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		}
	}
	if (!opts.peer_listen != !secret_file || (join && !opts.peer_listen)) {
		svc_strv_free(join);
		free(join_text);
		return cmd_usage_error(g, usage, "--peer-listen and --peer-secret-file go together "
				       "(and --peer-join needs them)");
	}
	opts.peer_join = join;
	if (secret_file && (rc = svc_secret_read(&secret, &secret_len, secret_file,
						 SVC_PEER_SECRET_MAX, "peer secret", &err)))
		return cmd_fail(g, rc, &err);
	opts.peer_secret = secret;
	opts.peer_secret_len = secret_len;
	opts.rebuild = rebuild_table;
	opts.rebuild_arg = &g->ctx;
	rc = svc_router_run(g->state_dir, &opts, &err);
	svc_strv_free(join);
	free(join_text);
	if (secret) {
		explicit_bzero(secret, secret_len);
		free(secret);
	}
	return rc ? cmd_fail(g, rc, &err) : EXIT_OK;
}

static int router_status(struct cmd_global *g)
{
	struct svc_error err = { 0 };
	json_t *st = NULL, *route;
	size_t i;
	int rc = svc_router_status(g->state_dir, &st, &err);

	if (rc)
		return cmd_fail(g, rc, &err);
	if (g->json) {
		json_object_set_new(st, "command", json_string("router status"));
		json_object_set_new(st, "exit_code", json_integer(0));
		svc_report_result(&g->report, st);
		return EXIT_OK;
	}
	printf("router pid %lld%s, %lld connection%s (at most %lld)\n",
	       (long long)json_integer_value(json_object_get(st, "pid")),
	       json_is_true(json_object_get(st, "supervised")) ? " (supervised by svcctl)"
							      : " (run by a service manager)",
	       (long long)json_integer_value(json_object_get(st, "connections")),
	       json_integer_value(json_object_get(st, "connections")) == 1 ? "" : "s",
	       (long long)json_integer_value(json_object_get(st, "max_conns")));
	json_array_foreach(json_object_get(st, "routes"), i, route) {
		json_t *b;
		size_t k;
		printf("  %s (%s, %lld of %lld connections%s) ->",
		       json_string_value(json_object_get(route, "listen")),
		       json_string_value(json_object_get(route, "service")),
		       (long long)json_integer_value(json_object_get(route, "connections")),
		       (long long)json_integer_value(json_object_get(route, "max_conns")),
		       json_is_false(json_object_get(route, "listening")) ? ", NOT LISTENING" : "");
		json_array_foreach(json_object_get(route, "backends"), k, b)
			printf("%s %s (%lld%s)", k ? "," : "",
			       json_string_value(json_object_get(b, "address")),
			       (long long)json_integer_value(json_object_get(b, "connections")),
			       json_is_false(json_object_get(b, "active")) ? ", draining" : "");
		printf("\n");
	}
	json_decref(st);
	return EXIT_OK;
}

/* `router image`: the image of this svcctl for the routers on swarm nodes */
static int router_image(struct cmd_global *g)
{
	struct svc_error err = { 0 };
	struct svc_docker *d = NULL;
	char self[PATH_MAX], *tag = NULL, *work = NULL;
	int rc;

	if ((rc = svc_self_exe(self, sizeof(self), &err)))
		return cmd_fail(g, rc, &err);
	work = svc_strfmt("%s/tmp", g->state_dir);
	if (!(rc = svc_mkdir_p(work, 0700, &err)) && !(rc = svc_docker_open(&d, NULL, &err)))
		rc = svc_swarm_router_image(d, self, work, &tag, &err);
	svc_docker_free(d);
	free(work);
	if (rc)
		return cmd_fail(g, rc, &err);
	if (g->json) {
		json_t *res = json_pack("{s:s, s:s, s:i}", "command", "router image", "image", tag,
					"exit_code", 0);
		svc_report_result(&g->report, res);
	} else {
		printf("%s\n", tag);
	}
	free(tag);
	return EXIT_OK;
}

/* `router swarm [--push REGISTRY/REPO] [--peer-port N]`: a router on every node */
static int router_swarm(struct cmd_global *g, int argc, char **argv)
{
	struct svc_error err = { 0 };
	struct svc_swarm_router *r = NULL;
	const char *push = NULL;
	char self[PATH_MAX], *last_push = NULL;
	size_t n = 0;
	bool rotated = false, port_given = false;
	long long port = SVC_SWARM_PEER_PORT;
	int last_port, rc;

	if (argc == 3 && !strcmp(argv[2], "--remove")) {
		bool removed = false;
		rc = svc_swarm_routers_remove(g->state_dir, &removed, &err);
		if (rc)
			return cmd_fail(g, rc, &err);
		if (g->json)
			svc_report_result(&g->report, json_pack("{s:s, s:b, s:i}", "command",
				"router swarm", "removed", removed, "exit_code", 0));
		else if (g->verbosity >= 0)
			printf("%s\n", removed ? "removed the routers and their watcher from the swarm"
						: "no routers of this state dir run on the swarm");
		return EXIT_OK;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--push") && i + 1 < argc) {
			char why[256];
			push = argv[++i];
			if (svc_docker_push_repo_check(push, why, sizeof(why)))
				return cmd_usage_error(g, usage, "--push: %s", why);
		} else if (!strcmp(argv[i], "--peer-port") && i + 1 < argc) {
			if (svc_parse_int(&port, argv[++i], 1, 65535))
				return cmd_usage_error(g, usage, "--peer-port: expected 1-65535");
			port_given = true;
		} else {
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		}
	}
	if ((rc = svc_self_exe(self, sizeof(self), &err)))
		return cmd_fail(g, rc, &err);
	/* what was not given is what the routers were last put up with */
	rc = svc_swarm_routers_config(g->state_dir, &last_push, &last_port, &err);
	if (rc && rc != SVC_ENOTFOUND)
		return cmd_fail(g, rc, &err);
	svc_error_clear(&err);
	if (!push)
		push = last_push;
	if (!port_given)
		port = last_port;
	rc = svc_swarm_routers_up(g->state_dir, self, push, (int)port, &r, &n, &rotated, &err);
	free(last_push);
	if (g->json) {
		json_t *nodes = json_array(), *res;
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I}", "node", r[i].node, "state",
					      r[i].state, "peer", r[i].addr, "answers", r[i].answers,
					      "epoch", (json_int_t)r[i].epoch);
			if (r[i].error[0])
				json_object_set_new(o, "error", json_string(r[i].error));
			json_array_append_new(nodes, o);
		}
		res = json_pack("{s:s, s:o, s:b}", "command", "router swarm", "nodes", nodes,
				"secret_rotated", rotated);
		if (rc) {
			json_object_set_new(res, "error", json_string(err.message));
			json_object_set_new(res, "exit_code", json_integer(cmd_exit_code(rc)));
		} else {
			json_object_set_new(res, "exit_code", json_integer(0));
		}
		svc_report_result(&g->report, res);
		svc_swarm_routers_free(r, n);
		return rc ? cmd_exit_code(rc) : EXIT_OK;
	}
	if (rotated && g->verbosity >= 0)
		printf("a new secret for the routers (STATE/router/peer.secret was missing)\n");
	for (size_t i = 0; i < n; i++)
		printf("%-24s %-8s %-22s %s\n", r[i].node, r[i].state, r[i].addr,
		       r[i].answers ? "router answers" : r[i].error[0] ? r[i].error : "-");
	svc_swarm_routers_free(r, n);
	return rc ? cmd_fail(g, rc, &err) : EXIT_OK;
}

static volatile sig_atomic_t watch_stop;

static void on_watch_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/* `router swarm-watch`: the routers' watcher, run by router swarm on a manager */
static int router_swarm_watch(struct cmd_global *g, int argc, char **argv)
{
	struct svc_error err = { 0 };
	const char *owner = NULL, *secret = NULL;
	long long port = SVC_SWARM_PEER_PORT;
	int64_t interval = 1000;
	struct sigaction sa;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--owner") && i + 1 < argc) {
			owner = argv[++i];
		} else if (!strcmp(argv[i], "--secret-file") && i + 1 < argc) {
			secret = argv[++i];
		} else if (!strcmp(argv[i], "--peer-port") && i + 1 < argc) {
			if (svc_parse_int(&port, argv[++i], 1, 65535))
				return cmd_usage_error(g, usage, "--peer-port: expected 1-65535");
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			if (svc_duration_parse(&interval, argv[++i], &err) || interval < 100)
				return cmd_usage_error(g, usage, "--interval: expected a duration of "
						       "at least 100ms");
		} else {
			return cmd_usage_error(g, usage, "unknown option '%s'", argv[i]);
		}
	}
	if (!owner || !secret)
		return cmd_usage_error(g, usage, "swarm-watch needs --owner and --secret-file");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watch_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rc = svc_swarm_watch(owner, secret, (int)port, interval, &watch_stop, &err);
	return rc ? cmd_fail(g, rc, &err) : EXIT_OK;
}

int cmd_router(struct cmd_global *g, int argc, char **argv)
{
	struct svc_error err = { 0 };
	int rc;

	if (argc < 2)
		return cmd_usage_error(g, usage, "run, stop, status, image or swarm?");
	if (cmd_is_help(argv[1]) || (argc > 2 && cmd_is_help(argv[2]))) {
		printf("usage: %s\n\n"
		       "run     run the router in the foreground, for a service manager, which\n"
		       "        then owns it (deploy starts one on demand, under a supervisor)\n"
		       "        --idle-timeout DUR        close connections idle this long (default 10m)\n"
		       "        --max-conns N             client connections at once (default 20000)\n"
		       "        --max-conns-per-route N   client connections at once per route (default:\n"
		       "                                  max-conns shared equally by the routes)\n"
		       "        --connect-timeout DUR     per backend connect attempt (default 5s)\n"
		       "        --first-byte-timeout DUR  reset a client whose backend has sent nothing\n"
		       "                                  this long after connecting (default 0: off)\n"
		       "        --fin-timeout DUR         after a client's FIN, close its connection once\n"
		       "                                  nothing was sent to it this long (default 5s)\n"
		       "        --peer-listen ADDR:PORT   also take switches from svcctl on other machines\n"
		       "                                  over TCP (prepare, commit, abort), every line\n"
		       "                                  authenticated with the secret of\n"
		       "        --peer-secret-file PATH   (HMAC-SHA256; both options or neither)\n"
		       "        --peer-join ADDR[,ADDR]   the other routers' peer channels: at start, take\n"
		       "                                  their newest table before serving\n"
		       "stop    stop the router (and its supervisor); exit 5 when one runs but\n"
		       "        does not answer\n"
		       "status  routes, backends and live connections\n"
		       "image   build the image of this svcctl that the routers on swarm nodes\n"
		       "        run (FROM scratch: the binary, its shared libraries and loader),\n"
		       "        through the Docker engine of DOCKER_HOST; prints its tag\n"
		       "swarm   run a router on every node of the swarm at DOCKER_HOST (a global\n"
		       "        service from that image, on each node's network, its table in a\n"
		       "        node-local volume), its peer channel on --peer-port (default 7950)\n"
		       "        with a secret svcctl keeps in STATE/router/peer.secret (a new one,\n"
		       "        and a new Swarm secret, when that file is missing); on more than one\n"
		       "        node the image is pushed to --push REGISTRY/REPO; waits until every\n"
		       "        ready node's router answers, and lists them. Both options are\n"
		       "        remembered (STATE/router/swarm.json); a deploy on swarm puts the\n"
		       "        routers up itself when none run, with what was remembered or, on\n"
		       "        more than one node, --push REGISTRY/svcctl-router of the service's\n"
		       "        image's registry. Beside the routers it runs their watcher\n"
		       "        (swarm-watch) on a manager. --remove takes both off the swarm\n"
		       "        (services and Swarm secrets)\n"
		       "swarm-watch  the routers' watcher, as router swarm runs it on a manager (its\n"
		       "        engine at DOCKER_HOST): every --interval (default 1s), the routes\n"
		       "        of the routers of --owner's state dir are switched off the tasks of\n"
		       "        nodes that are not ready, and onto the tasks Swarm starts in their\n"
		       "        place once those pass their health check\n", usage);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "run"))
		return router_run(g, argc, argv);
	if (!strcmp(argv[1], "swarm"))
		return router_swarm(g, argc, argv);
	if (!strcmp(argv[1], "swarm-watch"))
		return router_swarm_watch(g, argc, argv);
	if (argc > 2)
		return cmd_usage_error(g, usage, "unexpected '%s'", argv[2]);
	if (!strcmp(argv[1], "status"))
		return router_status(g);
	if (!strcmp(argv[1], "image"))
		return router_image(g);
	if (!strcmp(argv[1], "stop")) {
		bool was_running;
		if ((rc = svc_router_stop(g->state_dir, &was_running, &err)))
			return cmd_fail(g, rc, &err);
		if (g->json)
			svc_report_result(&g->report, json_pack("{s:s, s:b, s:b, s:i}", "command",
								"router stop", "ok", 1, "was_running",
								was_running, "exit_code", 0));
		else if (g->verbosity >= 0)
			printf("%s\n", was_running ? "router stopped" : "no router was running");
		return EXIT_OK;
	}
	return cmd_usage_error(g, usage, "unknown router command '%s'", argv[1]);
}

/*
 * `svcctl __router-supervise ABSOLUTE-STATE-DIR`: the router's supervisor,
 * started by svc_router_ensure (router/client.h); users never type it.
 */
int cmd_router_supervise(int argc, char **argv)
{
	struct svc_error err = { 0 };
	char self[4096];

	if (argc != 2 || argv[1][0] != '/') {
		fputs("usage: svcctl __router-supervise ABSOLUTE-STATE-DIR\n", stderr);
		return EXIT_USAGE;
	}
	if (svc_self_exe(self, sizeof(self), &err)) {
		fprintf(stderr, "svcctl: %s\n", err.message);
		return EXIT_FAILED;
	}
	return svc_router_supervise(argv[1], self);
}
