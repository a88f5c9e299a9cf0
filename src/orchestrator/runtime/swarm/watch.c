/*
 * runtime/swarm/watch.c - the routers' watcher (swarm.h): on a manager,
 * with no svcctl command running, keep every node's routing table off the
 * tasks of nodes Swarm marks down, and on the tasks Swarm starts in their
 * place once they pass the release's health check.
 *
 * Each round (every interval): the nodes and their states, the table in
 * force (the highest epoch among the ready nodes' routers), and the tasks
 * of the owner's releases. A route's release is the one whose tasks its
 * backends are; its wanted backends are that release's running tasks on
 * ready nodes, a task not yet in the table only once it passes the health
 * check its service's "svcctl.health" label describes. A route whose
 * backends differ is switched on the ready nodes' routers with the same
 * two-phase switch as a deploy (peer.h). A route is never emptied, nor
 * touched when its backends name no release's tasks (svcctl itself may be
 * mid-switch), nor changed while a ready node's router does not answer.
 */
#include "runtime/swarm/swarm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "health.h"
#include "router/peer.h"
#include "runtime/docker_api.h"
#include "util.h"

#define WHO "svcctl-watch"

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

struct node {
	const char *id, *name, *addr;
	bool ready;
};

static const struct node *node_by_id(const struct node *nodes, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (!strcmp(nodes[i].id, id))
			return &nodes[i];
	return NULL;
}

static bool addr_is_ready(const struct node *nodes, size_t n, const char *backend)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(nodes[i].addr);
		if (!strncmp(backend, nodes[i].addr, l) && backend[l] == ':')
			return nodes[i].ready;
	}
	return false;   /* an address of no node: not a task of ours */
}

/* "ADDR:PORT" of a running task, or NULL */
static char *task_backend(json_t *t, const struct node *nodes, size_t n)
{
	const struct node *nd = node_by_id(nodes, n, jstr(t, "NodeID"));
	json_t *ports = json_object_get(json_object_get(json_object_get(t, "Status"), "PortStatus"),
					"Ports");
	json_int_t pub = json_integer_value(json_object_get(json_array_get(ports, 0),
							    "PublishedPort"));

	if (!nd || pub <= 0 || pub > 65535 ||
	    strcmp(jstr(json_object_get(t, "Status"), "State") ?
		   jstr(json_object_get(t, "Status"), "State") : "", "running") ||
	    strcmp(jstr(t, "DesiredState") ? jstr(t, "DesiredState") : "", "running"))
		return NULL;
	return svc_strfmt("%s:%lld", nd->addr, (long long)pub);
}

/* The health check a service's label describes (a TCP connect without one). */
static bool task_healthy(json_t *svc, const char *backend)
{
	const char *label = jstr(json_object_get(json_object_get(svc, "Spec"), "Labels"),
				 "svcctl.health");
	json_t *h = label ? json_loads(label, 0, NULL) : NULL;
	struct svc_health hc = { .kind = SVC_HEALTH_TCP, .status_lo = 200, .status_hi = 399,
				 .timeout_ms = 1000 };
	struct svc_health_target t;
	const char *colon = strrchr(backend, ':');
	char host[64];
	bool ok;

	if (h) {
		if (jstr(h, "kind") && !strcmp(jstr(h, "kind"), "http") && jstr(h, "path")) {
			hc.kind = SVC_HEALTH_HTTP;
			hc.http_path = (char *)jstr(h, "path");
		}
		if (json_integer_value(json_object_get(h, "lo")) > 0)
			hc.status_lo = (int)json_integer_value(json_object_get(h, "lo"));
		if (json_integer_value(json_object_get(h, "hi")) > 0)
			hc.status_hi = (int)json_integer_value(json_object_get(h, "hi"));
		if (json_integer_value(json_object_get(h, "timeout_ms")) > 0)
			hc.timeout_ms = json_integer_value(json_object_get(h, "timeout_ms"));
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - backend), backend);
	svc_health_target_init(&t, backend, host, atoi(colon + 1));
	ok = svc_health_probe(&hc, &t);
	if (!ok)
		svc_daemon_log(WHO, "task at %s not healthy yet: %s", backend, t.last_detail);
	json_decref(h);
	return ok;
}

static bool strv_has(char **v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static bool same_set(char **a, char **b)
{
	size_t na = svc_strv_len(a), nb = svc_strv_len(b);

	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!strv_has(b, a[i]))
			return false;
	return true;
}

/* One route: switch it when its release's wanted backends differ. */
static void route_round(json_t *route, json_t *services, json_t **tasks, const struct node *nodes,
			size_t nn, struct svc_peer *peers, size_t np, const char *secret,
			size_t len)
{
	json_t *have_j = json_object_get(route, "backends"), *b;
	char **have = NULL, **want = NULL, **best_tasks = NULL;
	size_t i, best = (size_t)-1, best_hits = 0;

	json_array_foreach(have_j, i, b)
		if (json_is_string(b))
			have = svc_strv_add_unique(have, json_string_value(b));
	if (!have)
		return;
	/* the release whose tasks the route's backends are */
	for (size_t s = 0; s < json_array_size(services); s++) {
		char **mine = NULL;
		size_t hits = 0;
		for (size_t k = 0; k < json_array_size(tasks[s]); k++) {
			char *tb = task_backend(json_array_get(tasks[s], k), nodes, nn);
			if (tb) {
				mine = svc_strv_add_unique(mine, tb);
				free(tb);
			}
		}
		for (size_t k = 0; have[k]; k++)
			hits += strv_has(mine, have[k]);
		if (hits > best_hits) {
			svc_strv_free(best_tasks);
			best_tasks = mine;
			best_hits = hits;
			best = s;
		} else {
			svc_strv_free(mine);
		}
	}
	if (best == (size_t)-1)
		goto done;
	for (size_t k = 0; best_tasks[k]; k++) {
		if (!addr_is_ready(nodes, nn, best_tasks[k]))
			continue;
		if (strv_has(have, best_tasks[k]) ||
		    task_healthy(json_array_get(services, best), best_tasks[k]))
			want = svc_strv_add_unique(want, best_tasks[k]);
	}
	if (!want || same_set(have, want))
		goto done;
	{
		struct svc_peer_route r = { jstr(route, "listen"), jstr(route, "service"), want,
					    json_integer_value(json_object_get(route,
									       "drain_timeout_ms")) };
		struct svc_error e = { 0 };
		int rc = svc_peer_switch(peers, np, secret, len, &r, 0, NULL, &e);
		svc_daemon_log(WHO, "route %s (%s): %zu backend(s) -> %zu on ready nodes: %s",
			       r.listen, r.service ? r.service : "-", svc_strv_len(have),
			       svc_strv_len(want), rc ? e.message : "switched");
	}
done:
	svc_strv_free(best_tasks);
	svc_strv_free(want);
	svc_strv_free(have);
}

static void watch_round(struct svc_docker *d, const char *owner, int peer_port,
			const char *secret, size_t len)
{
	json_t *nodes_j = NULL, *services = NULL, **tasks = NULL, **tables = NULL, *top = NULL;
	struct node *nodes = NULL;
	struct svc_peer *peers = NULL;
	char **addrs = NULL, *label = svc_strfmt("svcctl.state_dir=%s", owner);
	size_t nn = 0, np = 0, answered, i;
	json_int_t epoch = -1;

	if (svc_docker_node_list(d, &nodes_j, NULL) ||
	    svc_docker_service_list(d, label, &services, NULL))
		goto done;
	nodes = svc_calloc(json_array_size(nodes_j) + 1, sizeof(*nodes));
	peers = svc_calloc(json_array_size(nodes_j) + 1, sizeof(*peers));
	addrs = svc_calloc(json_array_size(nodes_j) + 1, sizeof(*addrs));
	for (i = 0; i < json_array_size(nodes_j); i++) {
		json_t *n = json_array_get(nodes_j, i), *st = json_object_get(n, "Status");
		struct node *nd = &nodes[nn];
		nd->id = jstr(n, "ID");
		nd->name = jstr(json_object_get(n, "Description"), "Hostname");
		nd->addr = jstr(st, "Addr");
		if (!nd->id || !nd->addr)
			continue;
		nd->ready = jstr(st, "State") && !strcmp(jstr(st, "State"), "ready");
		nn++;
		if (!nd->ready)
			continue;
		addrs[np] = svc_strfmt(strchr(nd->addr, ':') ? "[%s]:%d" : "%s:%d", nd->addr,
				       peer_port);
		peers[np].name = nd->name ? nd->name : nd->addr;
		peers[np].addr = addrs[np];
		np++;
	}
	if (!np)
		goto done;
	tables = svc_calloc(np + 1, sizeof(*tables));
	answered = svc_peer_ask(peers, np, secret, len, "table", 0, tables);
	if (answered < np)
		goto done;   /* not while a ready node's router cannot take the switch */
	for (i = 0; i < np; i++) {
		json_int_t e = json_integer_value(json_object_get(tables[i], "epoch"));
		if (e > epoch) {
			epoch = e;
			top = tables[i];
		}
	}
	/* the tasks of each release (the routers' own service has no svcctl.service) */
	tasks = svc_calloc(json_array_size(services) + 1, sizeof(*tasks));
	for (i = 0; i < json_array_size(services); i++) {
		json_t *s = json_array_get(services, i);
		if (!jstr(json_object_get(json_object_get(s, "Spec"), "Labels"), "svcctl.service") ||
		    svc_docker_task_list(d, jstr(s, "ID"), &tasks[i], NULL))
			tasks[i] = json_array();
	}
	for (i = 0; i < json_array_size(json_object_get(top, "routes")); i++)
		route_round(json_array_get(json_object_get(top, "routes"), i), services, tasks, nodes,
			    nn, peers, np, secret, len);
done:
	for (i = 0; tasks && i < json_array_size(services); i++)
		json_decref(tasks[i]);
	for (i = 0; tables && i < np; i++)
		json_decref(tables[i]);
	free(tables);
	free(tasks);
	svc_strv_free(addrs);
	free(peers);
	free(nodes);
	json_decref(services);
	json_decref(nodes_j);
	free(label);
}

int svc_swarm_watch(const char *owner, const char *secret_file, int peer_port,
		    int64_t interval_ms, volatile sig_atomic_t *stop, struct svc_error *err)
{
	struct svc_docker *d = NULL;
	char *secret = NULL;
	size_t len = 0;
	int rc;

	if ((rc = svc_secret_read(&secret, &len, secret_file, SVC_PEER_SECRET_MAX,
				  "routers' secret", err)) ||
	    (rc = svc_docker_open(&d, NULL, err)))
		goto done;
	svc_daemon_log(WHO, "watching the nodes of the swarm at %s for %s, every %lld ms",
		       svc_docker_endpoint(d), owner, (long long)interval_ms);
	while (!*stop) {
		watch_round(d, owner, peer_port, secret, len);
		svc_sleep_ms(interval_ms);
	}
done:
	if (secret) {
		explicit_bzero(secret, len);
		free(secret);
	}
	svc_docker_free(d);
	return rc;
}
