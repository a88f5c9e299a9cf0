/*
 * routerctl - a bench driver for the router, independent of the svcctl
 * command line: it runs svc_router_run in the foreground and talks to a
 * running router through router/client.c, so the benchmarks measure the
 * library code itself with nothing else in between.
 *
 *   routerctl run STATE [--max-conns N] [--buf-size BYTES]
 *   routerctl set STATE LISTEN [BACKEND...]    (no backend: remove the route)
 *   routerctl status STATE                     (the status object as JSON)
 *   routerctl connections STATE                (client connections held)
 *   routerctl stop STATE
 *
 * Exit status: 0 on success, 1 on failure, 2 on bad usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/router.h"
#include "router/client.h"
#include "util.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: routerctl run STATE [--max-conns N] [--buf-size BYTES]\n"
		"       routerctl set STATE LISTEN [BACKEND...]\n"
		"       routerctl status STATE\n"
		"       routerctl connections STATE\n"
		"       routerctl stop STATE\n");
	return 2;
}

static int cmd_run(const char *state, int argc, char **argv, struct svc_error *err)
{
	struct svc_router_options opts;
	long long v;

	svc_router_options_init(&opts);
	for (int i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--max-conns") && !svc_parse_int(&v, argv[i + 1], 1, 1000000))
			opts.max_conns = (int)v;
		else if (!strcmp(argv[i], "--buf-size") &&
			 !svc_parse_int(&v, argv[i + 1], 1024, 16 << 20))
			opts.buf_size = (size_t)v;
		else
			return usage();
	}
	return svc_router_run(state, &opts, err) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct svc_error err;
	json_t *st = NULL;
	char *text;
	int rc = 1;

	svc_error_clear(&err);
	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "run")) {
		rc = cmd_run(argv[2], argc - 3, argv + 3, &err);
	} else if (!strcmp(argv[1], "set") && argc >= 4) {
		rc = svc_router_set(argv[2], "bench", argv[3], argv + 4, (size_t)(argc - 4), 0,
				    &err) ? 1 : 0;
	} else if (!strcmp(argv[1], "status") && argc == 3) {
		if (svc_router_status(argv[2], &st, &err) == 0) {
			text = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			if (text)
				puts(text);
			free(text);
			rc = 0;
		}
	} else if (!strcmp(argv[1], "connections") && argc == 3) {
		if (svc_router_status(argv[2], &st, &err) == 0) {
			printf("%lld\n", (long long)json_integer_value(
				json_object_get(st, "connections")));
			rc = 0;
		}
	} else if (!strcmp(argv[1], "stop") && argc == 3) {
		bool was_running;
		rc = svc_router_stop(argv[2], &was_running, &err) ? 1 : 0;
	} else {
		return usage();
	}
	json_decref(st);
	if (rc == 1 && err.code)
		fprintf(stderr, "routerctl: %s\n", err.message);
	return rc;
}
