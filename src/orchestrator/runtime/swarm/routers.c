/*
 * runtime/swarm/routers.c - svcctl's router on every node of a swarm
 * (swarm.h): a global Swarm service "svcctl-TAG-router" on each node's own
 * network, from the image of this svcctl (selfimage.c), its routing table
 * in a node-local volume, its peer channel (router/peer.h) on every
 * address of the node at the peer port, authenticated with a secret that
 * svcctl creates.
 *
 * The secret: svcctl's own copy is STATE/router/peer.secret (0600, 64 hex
 * digits); the routers get it as the Swarm secret
 * "svcctl-TAG-router-HASH12" (HASH12 of the secret), mounted at
 * /run/secrets/svcctl-router. Swarm secrets cannot change, so a new secret
 * is a new Swarm secret: when svcctl's copy is lost a new one is made, the
 * service is updated to it, and the old Swarm secrets of this state dir
 * are removed; a router is never usable with a secret svcctl no longer has.
 */
#include "runtime/swarm/swarm.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "hash.h"
#include "router/peer.h"
#include "router/plane.h"
#include "runtime/docker_api.h"
#include "util.h"

#define ROUTERS_WAIT_MS 90000

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void state_tag(char tag[9], const char *state_dir)
{
	char hex[SVC_HASH_HEX_LEN + 1];

	svc_sha256_hex(hex, state_dir, strlen(state_dir));
	memcpy(tag, hex, 8);
	tag[8] = '\0';
}

/* svcctl's copy of the secret, made when there is none. */
static int secret_get(const char *state_dir, char **secret, size_t *len, bool *made,
		      struct svc_error *err)
{
	char *dir = svc_strfmt("%s/router", state_dir), *path = svc_strfmt("%s/peer.secret", dir);
	struct svc_error e = { 0 };
	unsigned char raw[32];
	char hex[65];
	int rc;

	*made = false;
	rc = svc_secret_read(secret, len, path, SVC_PEER_SECRET_MAX, "routers' secret", &e);
	if (rc != SVC_ENOTFOUND) {
		if (rc)
			svc_error_pass(err, &e, rc);
		goto done;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		rc = svc_error_set(err, SVC_EGENERIC, "no random bytes for the routers' secret");
		goto done;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	if ((rc = svc_mkdir_p(dir, 0700, err)) ||
	    (rc = svc_file_write_atomic(path, hex, 64, 0600, err)))
		goto done;
	*secret = svc_strdup(hex);
	*len = 64;
	*made = true;
done:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(hex, sizeof(hex));
	free(path);
	free(dir);
	return rc;
}

/* The Swarm secret holding secret, made when missing; *id_out its id. */
static int swarm_secret(struct svc_docker *d, const char *name, const char *state_dir,
			const char *secret, size_t len, char **id_out, struct svc_error *err)
{
	json_t *list = NULL, *body = NULL, *res = NULL;
	char *q = NULL, *path = NULL, *b64 = svc_calloc(1, 4 * ((len + 2) / 3) + 1);
	int rc;

	*id_out = NULL;
	{
		json_t *f = json_pack("{s:[s]}", "name", name);
		char *ft = json_dumps(f, JSON_COMPACT);
		q = svc_docker_query_escape(ft);
		free(ft);
		json_decref(f);
	}
	path = svc_strfmt("/secrets?filters=%s", q);
	if ((rc = svc_docker_request(d, "GET", path, NULL, NULL, &list, err)))
		goto done;
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *s = json_array_get(list, i);
		if (!strcmp(jstr(json_object_get(s, "Spec"), "Name") ?
			    jstr(json_object_get(s, "Spec"), "Name") : "", name)) {
			*id_out = svc_strdup(jstr(s, "ID"));
			goto done;
		}
	}
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)secret, (int)len);
	body = json_pack("{s:s, s:s, s:{s:s, s:s}}", "Name", name, "Data", b64, "Labels",
			 "svcctl.state_dir", state_dir, "svcctl.router", "1");
	if ((rc = svc_docker_request(d, "POST", "/secrets/create", body, NULL, &res, err)))
		goto done;
	if (!jstr(res, "ID")) {
		rc = svc_error_set(err, SVC_EGENERIC, "create swarm secret '%s': no id in the answer",
				   name);
		goto done;
	}
	*id_out = svc_strdup(jstr(res, "ID"));
done:
	explicit_bzero(b64, strlen(b64));
	free(b64);
	json_decref(res);
	json_decref(body);
	json_decref(list);
	free(path);
	free(q);
	return rc;
}

/*
 * Remove this state dir's router secrets other than keep (best effort: in
 * use, they stay). Returns how many stay.
 */
static size_t old_secrets_remove(struct svc_docker *d, const char *state_dir, const char *keep)
{
	json_t *list = NULL, *s;
	size_t i, left = 0;

	if (svc_docker_request(d, "GET", "/secrets", NULL, NULL, &list, NULL))
		return 1;
	json_array_foreach(list, i, s) {
		json_t *spec = json_object_get(s, "Spec"), *labels = json_object_get(spec, "Labels");
		const char *sd = jstr(labels, "svcctl.state_dir"), *name = jstr(spec, "Name");
		json_t *r = NULL;
		char *p;
		if (!sd || strcmp(sd, state_dir) || !jstr(labels, "svcctl.router") || !name ||
		    !strcmp(name, keep) || !jstr(s, "ID"))
			continue;
		p = svc_strfmt("/secrets/%s", jstr(s, "ID"));
		left += svc_docker_request(d, "DELETE", p, NULL, NULL, &r, NULL) != 0;
		json_decref(r);
		free(p);
	}
	json_decref(list);
	return left;
}

/* The image the routers run: built here; on more than one node, pushed and run by digest. */
static int router_image(struct svc_docker *d, const char *state_dir, const char *self_exe,
			const char *push_repo, int nodes, char **image, struct svc_error *err)
{
	char *work = svc_strfmt("%s/tmp", state_dir), *tag = NULL, digest[SVC_DOCKER_DIGEST_LEN + 1];
	const char *colon;
	int rc;

	*image = NULL;
	if ((rc = svc_mkdir_p(work, 0700, err)) ||
	    (rc = svc_swarm_router_image(d, self_exe, work, &tag, err)))
		goto done;
	if (!push_repo) {
		if (nodes > 1) {
			rc = svc_error_set(err, SVC_EFAILED,
					   "the swarm has %d nodes: the routers' image %s must come from "
					   "a registry every node reaches (--push REGISTRY/REPO)", nodes,
					   tag);
			goto done;
		}
		*image = tag;
		tag = NULL;
		goto done;
	}
	colon = strrchr(tag, ':');
	if ((rc = svc_docker_image_tag(d, tag, push_repo, colon + 1, err)) ||
	    (rc = svc_docker_image_push(d, push_repo, colon + 1, 300, -1, digest, err)))
		goto done;
	*image = svc_strfmt("%s@%s", push_repo, digest);
done:
	free(tag);
	free(work);
	return rc;
}

static json_t *router_spec(const char *name, const char *state_dir, const char *tag,
			   const char *image, const char *secret_id, const char *secret_name,
			   const char *host_net, int peer_port, const char *join)
{
	char listen[32], vol[64];
	json_t *spec;

	snprintf(listen, sizeof(listen), "0.0.0.0:%d", peer_port);
	snprintf(vol, sizeof(vol), "svcctl-%s-router-state", tag);
	spec = json_pack(
		"{s:s, s:{s:s, s:s}, s:{s:{s:s, s:[s,s,s,s,s,s,s,s], s:[{s:{s:s, s:s, s:s, s:i}, "
		"s:s, s:s}], s:[{s:s, s:s, s:s}]}, s:[{s:s}], s:{s:s, s:I}}, s:{s:{}}}",
		"Name", name,
		"Labels", "svcctl.state_dir", state_dir, "svcctl.router", "1",
		"TaskTemplate",
		"ContainerSpec", "Image", image,
		"Args", "--state-dir", "/state", "router", "run", "--peer-listen", listen,
		"--peer-secret-file", "/run/secrets/svcctl-router",
		"Secrets", "File", "Name", "svcctl-router", "UID", "0", "GID", "0", "Mode", 0400,
		"SecretID", secret_id, "SecretName", secret_name,
		"Mounts", "Type", "volume", "Source", vol, "Target", "/state",
		"Networks", "Target", host_net,
		"RestartPolicy", "Condition", "any", "Delay", (json_int_t)1000000000,
		"Mode", "Global");
	if (spec && join[0]) {
		json_t *args = json_object_get(json_object_get(json_object_get(spec, "TaskTemplate"),
							       "ContainerSpec"), "Args");
		json_array_append_new(args, json_string("--peer-join"));
		json_array_append_new(args, json_string(join));
	}
	return spec;
}

/*
 * The watcher's service (watch.c): one task on a manager, on its network,
 * its engine's socket mounted (DOCKER_HOST's path when it is a unix
 * socket, else the default one).
 */
static json_t *watch_spec(const char *name, const char *state_dir, const char *image,
			  const char *secret_id, const char *secret_name, const char *host_net,
			  int peer_port, const char *engine_sock)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", peer_port);
	return json_pack(
		"{s:s, s:{s:s, s:s}, s:{s:{s:s, s:[s,s,s,s,s,s,s,s,s,s,s,s], s:[s], "
		"s:[{s:{s:s, s:s, s:s, s:i}, s:s, s:s}], s:[{s:s, s:s, s:s}, {s:s, s:s, s:{s:i}}]}, "
		"s:{s:[s]}, s:[{s:s}], s:{s:s, s:I}}, s:{s:{s:i}}}",
		"Name", name,
		"Labels", "svcctl.state_dir", state_dir, "svcctl.router", "watch",
		"TaskTemplate",
		"ContainerSpec", "Image", image,
		"Args", "--state-dir", "/state", "router", "swarm-watch", "--owner", state_dir,
		"--secret-file", "/run/secrets/svcctl-router", "--peer-port", port,
		"--interval", "1s",
		"Env", "DOCKER_HOST=unix:///run/svcctl-engine.sock",
		"Secrets", "File", "Name", "svcctl-router", "UID", "0", "GID", "0", "Mode", 0400,
		"SecretID", secret_id, "SecretName", secret_name,
		"Mounts", "Type", "bind", "Source", engine_sock, "Target", "/run/svcctl-engine.sock",
		"Type", "tmpfs", "Target", "/state", "TmpfsOptions", "Mode", 0700,
		"Placement", "Constraints", "node.role==manager",
		"Networks", "Target", host_net,
		"RestartPolicy", "Condition", "any", "Delay", (json_int_t)1000000000,
		"Mode", "Replicated", "Replicas", 1);
}

/* Create the routers' service, or update it when its image or secret changed. */
static int service_put(struct svc_docker *d, const char *name, json_t *spec, bool *changed,
		       struct svc_error *err)
{
	struct svc_error e = { 0 };
	json_t *cur = NULL, *res = NULL, *cs;
	char *id = NULL, *path = NULL;
	int rc;

	*changed = false;
	rc = svc_docker_service_inspect(d, name, &cur, &e);
	if (rc == SVC_ENOTFOUND) {
		*changed = true;
		rc = svc_docker_service_create(d, spec, &id, err);
		goto done;
	}
	if (rc) {
		svc_error_pass(err, &e, rc);
		goto done;
	}
	cs = json_object_get(json_object_get(json_object_get(cur, "Spec"), "TaskTemplate"),
			     "ContainerSpec");
	if (json_equal(cs, json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec")))
		goto done;
	*changed = true;
	path = svc_strfmt("/services/%s/update?version=%lld", jstr(cur, "ID"),
			  (long long)json_integer_value(json_object_get(json_object_get(cur, "Version"),
									"Index")));
	rc = svc_docker_request(d, "POST", path, spec, NULL, &res, err);
done:
	json_decref(res);
	json_decref(cur);
	free(path);
	free(id);
	return rc;
}

/* ping: the router at addr answers with the secret; its epoch */
static bool router_answers(const char *addr, const char *secret, size_t len, int64_t *epoch,
			   char *why, size_t why_len)
{
	char *one[] = { (char *)addr, NULL }, *from = NULL;
	struct svc_error e = { 0 };
	json_t *t = NULL;
	bool ok = svc_peer_table_fetch(one, secret, len, 2000, &t, &from, &e) == 0;

	*epoch = ok ? (int64_t)json_integer_value(json_object_get(t, "epoch")) : 0;
	snprintf(why, why_len, "%.500s", ok ? "" : e.message);
	json_decref(t);
	free(from);
	return ok;
}

/* "ADDR:PORT" of node n's peer channel */
static char *node_peer_addr(json_t *n, int peer_port)
{
	const char *addr = jstr(json_object_get(n, "Status"), "Addr");

	return svc_strfmt(strchr(addr ? addr : "", ':') ? "[%s]:%d" : "%s:%d",
			  addr ? addr : "0.0.0.0", peer_port);
}

static const char *node_name(json_t *n)
{
	const char *h = jstr(json_object_get(n, "Description"), "Hostname");

	return h ? h : "?";
}

/* STATE/router/swarm.json: how the routers were last put up */
static char *config_path(const char *state_dir)
{
	return svc_strfmt("%s/router/swarm.json", state_dir);
}

int svc_swarm_routers_config(const char *state_dir, char **push, int *peer_port,
			     struct svc_error *err)
{
	char *path = config_path(state_dir);
	json_t *j = NULL;
	json_int_t port;
	int rc;

	*push = NULL;
	*peer_port = SVC_SWARM_PEER_PORT;
	if ((rc = svc_json_file_read(&j, path, 64 * 1024, err)))
		goto done;
	port = json_integer_value(json_object_get(j, "peer_port"));
	if (!json_is_object(j) || port < 1 || port > 65535 ||
	    (json_object_get(j, "push") && !json_is_string(json_object_get(j, "push")) &&
	     !json_is_null(json_object_get(j, "push")))) {
		rc = svc_error_set(err, SVC_EGENERIC, "%s: invalid: it must be an object with "
				   "\"peer_port\" 1-65535 and \"push\" a string or null", path);
		goto done;
	}
	*peer_port = (int)port;
	if (jstr(j, "push"))
		*push = svc_strdup(jstr(j, "push"));
done:
	json_decref(j);
	free(path);
	return rc;
}

static int config_save(const char *state_dir, const char *push, int peer_port,
		       struct svc_error *err)
{
	char *path = config_path(state_dir);
	json_t *j = json_pack("{s:s?, s:i}", "push", push, "peer_port", peer_port);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int rc = svc_file_write_atomic(path, text, strlen(text), 0600, err);

	free(text);
	json_decref(j);
	free(path);
	return rc;
}

int svc_swarm_routers_up(const char *state_dir, const char *self_exe, const char *push_repo,
			 int peer_port, struct svc_swarm_router **out, size_t *nout,
			 bool *rotated, struct svc_error *err)
{
	struct svc_docker *d = NULL;
	struct svc_docker_swarm info;
	json_t *spec = NULL, *nodes = NULL, *net = NULL, *n;
	char tag[9], *name = NULL, *sname = NULL, *secret = NULL, *sid = NULL, *image = NULL;
	char hex[SVC_HASH_HEX_LEN + 1], join[2048] = "";
	size_t len = 0, i;
	bool changed = false;
	int64_t deadline;
	int rc;

	*out = NULL;
	*nout = 0;
	*rotated = false;
	if ((rc = svc_docker_open(&d, NULL, err)) || (rc = svc_docker_swarm_info(d, &info, err)))
		goto done;
	if (strcmp(info.state, "active") || !info.manager) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "the Docker engine at %s is not a swarm manager: "
				   "run docker swarm init, or point DOCKER_HOST at a manager",
				   svc_docker_endpoint(d));
		goto done;
	}
	state_tag(tag, state_dir);
	name = svc_strfmt("svcctl-%s-router", tag);
	if ((rc = secret_get(state_dir, &secret, &len, rotated, err)))
		goto done;
	svc_sha256_hex(hex, secret, len);
	sname = svc_strfmt("svcctl-%s-router-%.12s", tag, hex);
	if ((rc = swarm_secret(d, sname, state_dir, secret, len, &sid, err)) ||
	    (rc = router_image(d, state_dir, self_exe, push_repo, info.nodes, &image, err)) ||
	    (rc = svc_docker_request(d, "GET", "/networks/host", NULL, NULL, &net, err)) ||
	    (rc = svc_docker_node_list(d, &nodes, err)))
		goto done;
	/* a router that starts asks the others for the table in force */
	json_array_foreach(nodes, i, n) {
		char *a = node_peer_addr(n, peer_port);
		if (strlen(join) + strlen(a) + 2 < sizeof(join))
			snprintf(join + strlen(join), sizeof(join) - strlen(join), "%s%s",
				 join[0] ? "," : "", a);
		free(a);
	}
	spec = router_spec(name, state_dir, tag, image, sid, sname,
			   jstr(net, "Id") ? jstr(net, "Id") : "host", peer_port, join);
	if ((rc = service_put(d, name, spec, &changed, err)))
		goto done;
	{
		/* the watcher, on a manager: its engine is the one we talk to */
		const char *host = getenv("DOCKER_HOST");
		char *wname = svc_strfmt("%s-watch", name);
		json_t *w = watch_spec(wname, state_dir, image, sid, sname,
				       jstr(net, "Id") ? jstr(net, "Id") : "host", peer_port,
				       host && !strncmp(host, "unix://", 7) ? host + 7
									  : "/var/run/docker.sock");
		bool wchanged = false;
		rc = service_put(d, wname, w, &wchanged, err);
		changed |= wchanged;
		json_decref(w);
		free(wname);
		if (rc)
			goto done;
	}
	if (changed)
		old_secrets_remove(d, state_dir, sname);
	if ((rc = config_save(state_dir, push_repo, peer_port, err)))
		goto done;
	/* every ready node's router answers with the secret, or the time is up */
	deadline = svc_mono_ms() + ROUTERS_WAIT_MS;
	for (;;) {
		size_t ready = 0, up = 0;
		svc_swarm_routers_free(*out, *nout);
		*out = NULL;
		*nout = 0;
		json_decref(nodes);
		if ((rc = svc_docker_node_list(d, &nodes, err)))
			goto done;
		*out = svc_calloc(json_array_size(nodes) + 1, sizeof(**out));
		json_array_foreach(nodes, i, n) {
			struct svc_swarm_router *r = &(*out)[(*nout)++];
			const char *state = jstr(json_object_get(n, "Status"), "State");
			r->node = svc_strdup(node_name(n));
			r->state = svc_strdup(state ? state : "unknown");
			r->addr = node_peer_addr(n, peer_port);
			if (!state || strcmp(state, "ready"))
				continue;
			ready++;
			r->answers = router_answers(r->addr, secret, len, &r->epoch, r->error,
						    sizeof(r->error));
			up += r->answers;
		}
		if (up == ready)
			break;
		if (svc_mono_ms() >= deadline) {
			rc = svc_error_set(err, SVC_EFAILED,
					   "the routers of %zu of %zu ready nodes do not answer within "
					   "%d s (see svcctl router swarm --json)", ready - up, ready,
					   ROUTERS_WAIT_MS / 1000);
			break;
		}
		svc_sleep_ms(500);
	}
done:
	if (secret) {
		explicit_bzero(secret, len);
		free(secret);
	}
	json_decref(net);
	json_decref(nodes);
	json_decref(spec);
	free(image);
	free(sid);
	free(sname);
	free(name);
	svc_docker_free(d);
	return rc;
}

int svc_swarm_routers_members(struct svc_docker *d, const char *state_dir,
			      struct svc_plane_members *out, struct svc_error *err)
{
	struct svc_error e = { 0 };
	json_t *svc = NULL, *nodes = NULL, *n;
	char tag[9], *name, *push = NULL, *path = svc_strfmt("%s/router/peer.secret", state_dir);
	int port, rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	state_tag(tag, state_dir);
	name = svc_strfmt("svcctl-%s-router", tag);
	rc = svc_docker_service_inspect(d, name, &svc, &e);
	if (rc == SVC_ENOTFOUND) {
		rc = svc_error_set(err, SVC_ENOTFOUND, "no routers of this state dir run on the "
				   "swarm (no service %s)", name);
		goto done;
	}
	if (rc) {
		svc_error_pass(err, &e, rc);
		goto done;
	}
	svc_error_clear(&e);
	rc = svc_swarm_routers_config(state_dir, &push, &port, &e);
	if (rc && rc != SVC_ENOTFOUND) {
		svc_error_pass(err, &e, rc);
		goto done;
	}
	svc_error_clear(&e);
	rc = svc_secret_read(&out->secret, &out->secret_len, path, SVC_PEER_SECRET_MAX,
			     "routers' secret", &e);
	if (rc) {
		/* the routers' secret is lost: ensure makes a new one */
		svc_error_pass(err, &e, rc);
		goto done;
	}
	if ((rc = svc_docker_node_list(d, &nodes, err)))
		goto done;
	out->nodes = svc_calloc(json_array_size(nodes) + 1, sizeof(*out->nodes));
	json_array_foreach(nodes, i, n) {
		struct svc_plane_node *nd = &out->nodes[out->n++];
		const char *state = jstr(json_object_get(n, "Status"), "State");
		nd->name = svc_strdup(node_name(n));
		nd->state = svc_strdup(state ? state : "unknown");
		nd->addr = node_peer_addr(n, port);
	}
done:
	if (rc)
		svc_plane_members_release(out);
	json_decref(nodes);
	json_decref(svc);
	free(push);
	free(name);
	free(path);
	return rc;
}

int svc_swarm_routers_remove(const char *state_dir, bool *removed, struct svc_error *err)
{
	struct svc_docker *d = NULL;
	char tag[9], *name = NULL, *wname = NULL;
	int rc;

	*removed = false;
	if ((rc = svc_docker_open(&d, NULL, err)))
		return rc;
	state_tag(tag, state_dir);
	name = svc_strfmt("svcctl-%s-router", tag);
	wname = svc_strfmt("%s-watch", name);
	for (int i = 0; i < 2 && !rc; i++) {
		const char *n = i ? name : wname;   /* the watcher first: it switches routes */
		json_t *cur = NULL;
		struct svc_error e = { 0 };
		rc = svc_docker_service_inspect(d, n, &cur, &e);
		json_decref(cur);
		if (rc == SVC_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc || (rc = svc_docker_service_remove(d, n, &e))) {
			svc_error_pass(err, &e, rc);
			break;
		}
		*removed = true;
	}
	if (!rc) {
		/* in use until the services' tasks are gone */
		int64_t until = svc_mono_ms() + 30000;
		while (old_secrets_remove(d, state_dir, "") && svc_mono_ms() < until)
			svc_sleep_ms(500);
	}
	free(wname);
	free(name);
	svc_docker_free(d);
	return rc;
}

void svc_swarm_routers_free(struct svc_swarm_router *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].node);
		free(r[i].state);
		free(r[i].addr);
	}
	free(r);
}
