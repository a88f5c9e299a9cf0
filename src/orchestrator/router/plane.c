/*
 * router/plane.c - the routes of a service on this machine's router or on
 * every node's router of a cluster (plane.h).
 */
#include "router/plane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/client.h"
#include "router/peer.h"
#include "util.h"

struct svc_plane {
	bool local;
	char *state_dir;
	char *self_exe;
	struct svc_plane_cluster c;
};

void svc_plane_members_release(struct svc_plane_members *m)
{
	for (size_t i = 0; m->nodes && i < m->n; i++) {
		free(m->nodes[i].name);
		free(m->nodes[i].state);
		free(m->nodes[i].addr);
	}
	free(m->nodes);
	if (m->secret) {
		explicit_bzero(m->secret, m->secret_len);
		free(m->secret);
	}
	memset(m, 0, sizeof(*m));
}

struct svc_plane *svc_plane_local(const char *state_dir, const char *self_exe)
{
	struct svc_plane *p = svc_calloc(1, sizeof(*p));

	p->local = true;
	p->state_dir = svc_strdup(state_dir);
	p->self_exe = self_exe ? svc_strdup(self_exe) : NULL;
	return p;
}

struct svc_plane *svc_plane_cluster(const struct svc_plane_cluster *c)
{
	struct svc_plane *p = svc_calloc(1, sizeof(*p));

	p->c = *c;
	return p;
}

void svc_plane_free(struct svc_plane *p)
{
	if (!p)
		return;
	if (!p->local && p->c.free)
		p->c.free(p->c.arg);
	free(p->state_dir);
	free(p->self_exe);
	free(p);
}

bool svc_plane_is_local(const struct svc_plane *p)
{
	return p->local;
}

/* ---- a cluster's routers ---- */

static bool node_ready(const struct svc_plane_node *n)
{
	return n->state && !strcmp(n->state, "ready");
}

/* The routers of ready nodes, as peers (borrowing from m). */
static struct svc_peer *ready_peers(const struct svc_plane_members *m, size_t *n)
{
	struct svc_peer *peers = svc_calloc(m->n + 1, sizeof(*peers));

	*n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (node_ready(&m->nodes[i])) {
			peers[*n].name = m->nodes[i].name;
			peers[*n].addr = m->nodes[i].addr;
			(*n)++;
		}
	return peers;
}

static int members_get(struct svc_plane *p, struct svc_plane_members *m, struct svc_error *err)
{
	struct svc_error e = { 0 };
	int rc;

	memset(m, 0, sizeof(*m));
	rc = p->c.members(p->c.arg, m, &e);
	if (rc == SVC_ENOTFOUND)
		return svc_error_set(err, SVC_EUNAVAIL, "%s", e.message);
	return svc_error_pass(err, &e, rc);
}

/* Each ready node's router's status: replies[i] for peers[i], NULL when it did not answer. */
static int cluster_ask(struct svc_plane *p, struct svc_plane_members *m, struct svc_peer **peers,
		       size_t *n, json_t ***replies, struct svc_error *err)
{
	int rc;

	*peers = NULL;
	*replies = NULL;
	if ((rc = members_get(p, m, err)))
		return rc;
	*peers = ready_peers(m, n);
	*replies = svc_calloc(*n + 1, sizeof(**replies));
	if (!*n)
		return svc_error_set(err, SVC_EUNAVAIL, "no node of the cluster is ready");
	svc_peer_ask(*peers, *n, m->secret, m->secret_len, "status", 0, *replies);
	return 0;
}

static void replies_free(json_t **r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		json_decref(r[i]);
	free(r);
}

/* ---- the operations ---- */

int svc_plane_ensure(struct svc_plane *p, struct svc_error *err)
{
	if (p->local)
		return svc_router_ensure(p->state_dir, p->self_exe, err);
	return p->c.ensure(p->c.arg, err);
}

int svc_plane_ping(struct svc_plane *p, struct svc_error *err)
{
	struct svc_plane_members m;
	struct svc_peer *peers = NULL;
	size_t n = 0, answered;
	int rc;

	if (p->local)
		return svc_router_ping(p->state_dir, err);
	if ((rc = members_get(p, &m, err)))
		return rc;
	peers = ready_peers(&m, &n);
	answered = svc_peer_ask(peers, n, m.secret, m.secret_len, "ping", 0, NULL);
	if (!n)
		rc = svc_error_set(err, SVC_EUNAVAIL, "no node of the cluster is ready");
	else if (answered < n)
		for (size_t i = 0; i < n; i++)
			if (peers[i].error[0]) {
				rc = svc_error_set(err, SVC_EUNAVAIL, "the router of node %s (%s) "
						   "does not answer: %s", peers[i].name,
						   peers[i].addr, peers[i].error);
				break;
			}
	free(peers);
	svc_plane_members_release(&m);
	return rc;
}

int svc_plane_set(struct svc_plane *p, const char *service, const char *listen,
		  char *const *backends, int64_t drain_timeout_ms, char *note, size_t note_len,
		  struct svc_error *err)
{
	struct svc_plane_members m;
	struct svc_peer *peers = NULL;
	struct svc_peer_route route = { listen, service, backends, drain_timeout_ms };
	struct svc_error e = { 0 };
	size_t n = 0;
	int rc;

	if (note && note_len)
		note[0] = '\0';
	if (p->local) {
		size_t nb = svc_strv_len(backends);
		rc = svc_router_set(p->state_dir, service, listen, backends, nb, drain_timeout_ms,
				    err);
		if (rc == SVC_EUNAVAIL && svc_router_ping(p->state_dir, NULL) &&
		    svc_router_ensure(p->state_dir, p->self_exe, NULL) == 0) {
			/* the router died: its supervisor (or we) started it again */
			svc_error_clear(err);
			rc = svc_router_set(p->state_dir, service, listen, backends, nb,
					    drain_timeout_ms, err);
		}
		return rc;
	}
	if ((rc = members_get(p, &m, err)))
		return rc;
	peers = ready_peers(&m, &n);
	if (!n) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "no node of the cluster is ready");
		goto done;
	}
	rc = svc_peer_switch(peers, n, m.secret, m.secret_len, &route, 0, NULL, &e);
	if (rc == SVC_EUNAVAIL) {
		/* in force where it was confirmed; the others catch up from them */
		if (note && note_len)
			snprintf(note, note_len, "%s", e.message);
		rc = 0;
	} else if (rc) {
		svc_error_pass(err, &e, rc);
	}
	if (!rc && note && note_len && !note[0])
		for (size_t i = 0; i < m.n; i++)
			if (!node_ready(&m.nodes[i])) {
				char one[200];
				snprintf(one, sizeof(one), "node %s is %s: its router takes the table "
					 "when it is back", m.nodes[i].name, m.nodes[i].state);
				svc_text_add(note, note_len, one);
			}
done:
	free(peers);
	svc_plane_members_release(&m);
	return rc;
}

/*
 * Whether one router's status (rs) serves listen from exactly want: 1 or
 * 0 (why says how, prefixed with who).
 */
static int serving_in(json_t *rs, const char *who, const char *listen, char *const *want,
		      char *why, size_t why_len)
{
	size_t nwant = svc_strv_len(want), i;
	json_t *route;

	snprintf(why, why_len, "%s has no route for %s", who, listen);
	json_array_foreach(json_object_get(rs, "routes"), i, route) {
		const char *addr = json_string_value(json_object_get(route, "listen"));
		size_t k, active = 0, matched = 0;
		json_t *b;

		if (!addr || strcmp(addr, listen))
			continue;
		if (!json_is_true(json_object_get(route, "listening"))) {
			const char *e = json_string_value(json_object_get(route, "listen_error"));
			snprintf(why, why_len, "%s is not listening on %s: %s", who, listen,
				 e ? e : "unknown reason");
			return 0;
		}
		json_array_foreach(json_object_get(route, "backends"), k, b) {
			const char *a = json_string_value(json_object_get(b, "address"));
			if (!a || json_is_false(json_object_get(b, "active")))
				continue;
			active++;
			for (size_t w = 0; w < nwant; w++)
				matched += !strcmp(want[w], a);
		}
		if (active == nwant && matched == nwant)
			return 1;
		snprintf(why, why_len, "%s's route for %s points elsewhere", who, listen);
	}
	return 0;
}

int svc_plane_serving(struct svc_plane *p, const char *listen, char *const *want, char *why,
		      size_t why_len)
{
	struct svc_plane_members m;
	struct svc_peer *peers = NULL;
	json_t **replies = NULL, *rs = NULL;
	size_t n = 0, answered = 0;
	int serving = 1;

	if (p->local) {
		if (svc_router_status(p->state_dir, &rs, NULL)) {
			snprintf(why, why_len, "no router answers");
			return -1;
		}
		serving = serving_in(rs, "the router", listen, want, why, why_len);
		json_decref(rs);
		return serving;
	}
	if (cluster_ask(p, &m, &peers, &n, &replies, NULL)) {
		snprintf(why, why_len, "no router of the cluster can be asked");
		serving = -1;
		goto done;
	}
	for (size_t i = 0; i < n && serving == 1; i++) {
		char who[200];
		if (!replies[i])
			continue;
		answered++;
		snprintf(who, sizeof(who), "the router of node %s", peers[i].name);
		serving = serving_in(replies[i], who, listen, want, why, why_len);
	}
	if (!answered) {
		snprintf(why, why_len, "no router of the cluster answers");
		serving = -1;
	}
done:
	replies_free(replies, n);
	free(peers);
	svc_plane_members_release(&m);
	return serving;
}

long svc_plane_connections(struct svc_plane *p, char *const *addrs)
{
	struct svc_plane_members m;
	struct svc_peer *peers = NULL;
	json_t **replies = NULL, *rs = NULL;
	size_t n = 0;
	long total = -1;

	if (p->local) {
		if (svc_router_status(p->state_dir, &rs, NULL))
			return -1;
		total = 0;
		for (size_t i = 0; addrs[i]; i++) {
			long c = svc_router_backend_connections(rs, addrs[i]);
			total += c > 0 ? c : 0;
		}
		json_decref(rs);
		return total;
	}
	if (cluster_ask(p, &m, &peers, &n, &replies, NULL) == 0)
		for (size_t i = 0; i < n; i++) {
			if (!replies[i])
				continue;
			if (total < 0)
				total = 0;
			for (size_t k = 0; addrs[k]; k++) {
				long c = svc_router_backend_connections(replies[i], addrs[k]);
				total += c > 0 ? c : 0;
			}
		}
	replies_free(replies, n);
	free(peers);
	svc_plane_members_release(&m);
	return total;
}

int svc_plane_status(struct svc_plane *p, json_t **out, struct svc_error *err)
{
	struct svc_plane_members m;
	struct svc_peer *peers = NULL;
	json_t **replies = NULL, *routes, *routers;
	size_t n = 0, answered = 0, k = 0;
	int rc;

	*out = NULL;
	if (p->local)
		return svc_router_status(p->state_dir, out, err);
	if ((rc = cluster_ask(p, &m, &peers, &n, &replies, err)) && !m.n)
		goto done;
	rc = 0;
	routes = json_array();
	routers = json_array();
	for (size_t i = 0; i < m.n; i++) {
		const struct svc_plane_node *nd = &m.nodes[i];
		json_t *one = json_pack("{s:s, s:s, s:s, s:b}", "node", nd->name, "state", nd->state,
					"addr", nd->addr, "answers", 0);
		json_t *route;
		size_t j;
		if (node_ready(nd) && k < n) {
			json_t *rs = replies[k];
			if (rs) {
				answered++;
				json_object_set_new(one, "answers", json_true());
				json_object_set(one, "epoch", json_object_get(rs, "epoch"));
				json_array_foreach(json_object_get(rs, "routes"), j, route) {
					json_t *c = json_deep_copy(route);
					json_object_set_new(c, "node", json_string(nd->name));
					json_array_append_new(routes, c);
				}
			} else {
				json_object_set_new(one, "error", json_string(peers[k].error));
			}
			k++;
		}
		json_array_append_new(routers, one);
	}
	*out = json_pack("{s:b, s:o, s:o}", "ok", 1, "routes", routes, "routers", routers);
	if (!answered) {
		json_decref(*out);
		*out = NULL;
		rc = svc_error_set(err, SVC_EUNAVAIL, "no router of the cluster answers");
	}
done:
	replies_free(replies, n);
	free(peers);
	svc_plane_members_release(&m);
	return rc;
}
