/*
 * runtime/swarm/swarm.c - the Swarm runtime driver: each release is one Swarm
 * service, its instances the service's tasks.
 *
 * Swarm's own rolling update mixes versions, removes blue as it goes and
 * rolls back by rolling again; so svcctl never updates a service. Each
 * release gets its own service, "svcctl-TAG-SERVICE-RELEASE12" (TAG naming
 * the state dir, as for containers), labelled svcctl.service,
 * svcctl.release, svcctl.color and svcctl.state_dir, with the manifest's
 * replicas, env (plus SERVICE, VERSION, INSTANCE and PORT; INSTANCE is
 * Swarm's task slot, 1..replicas), stop signal and grace period, restart
 * policy "any", and the target port published in host mode on a port each
 * node chooses (read back from the task's Status.PortStatus). Instance
 * INDEX of a release is the task of slot INDEX+1 (the newest one Swarm
 * wants running); its address is its node's (GET /nodes) and that port,
 * which is where svcctl's health checks and router reach it.
 *
 * A task runs on whichever node Swarm picks, so on a swarm of more than
 * one node the image must come from a registry: prepare() refuses an
 * image that names none, before anything starts. An image of a registry
 * runs by its digest, so that a tag moved in the registry changes no
 * task of a release, nor what a later rollback recreates: a build pushed
 * by build.push is "REPO@DIGEST" already (the builder's push, recorded
 * in the artifact), and pin() resolves run.image's tag once, when the
 * release is first deployed, through the manager (GET /distribution),
 * into the release's record. A single-node swarm runs a local image by
 * its name, as the docker runtime does.
 *
 * Instances of a release live and die together: stopping one removes the
 * release's service. A warm release is removed when keep_previous ends by
 * a detached waiter (expiry.h) keyed by the release, so with no svcctl
 * running too.
 *
 * The engine must be a swarm manager: open() says so when it is not.
 */
#include "runtime/swarm/swarm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "router/plane.h"
#include "runtime/docker/docker.h"
#include "runtime/docker_api.h"
#include "runtime/expiry.h"
#include "util.h"

#define SWARM_POLL_MS 250
/* what removing a service may take beyond its tasks' grace period */
#define SWARM_REMOVE_SLACK_MS 20000

struct sw {
	struct svc_docker *d;
	char tag[9];   /* first 8 hex of sha256(state dir): whose services */
	char *registry;   /* of the image prepare() saw, for the routers' image; may be NULL */
};

static struct svc_docker *engine(struct svc_runtime *rt)
{
	return ((struct sw *)rt->priv)->d;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int sw_open(struct svc_runtime *rt, struct svc_error *err)
{
	struct sw *p = svc_calloc(1, sizeof(*p));
	struct svc_docker_swarm info;
	char hex[SVC_HASH_HEX_LEN + 1];
	int rc;

	if ((rc = svc_docker_open(&p->d, NULL, err)))
		goto fail;
	if ((rc = svc_docker_swarm_info(p->d, &info, err)))
		goto fail;
	if (strcmp(info.state, "active")) {
		rc = svc_error_set(err, SVC_EUNAVAIL,
				   "the Docker engine at %s is not a swarm manager (its swarm is %s): "
				   "run docker swarm init, or point DOCKER_HOST at a manager",
				   svc_docker_endpoint(p->d), info.state);
		goto fail;
	}
	if (!info.manager) {
		rc = svc_error_set(err, SVC_EUNAVAIL,
				   "the Docker engine at %s is not a swarm manager (it is a worker "
				   "of its swarm): point DOCKER_HOST at a manager",
				   svc_docker_endpoint(p->d));
		goto fail;
	}
	svc_sha256_hex(hex, rt->state_dir, strlen(rt->state_dir));
	memcpy(p->tag, hex, 8);
	p->tag[8] = '\0';
	rt->priv = p;
	return 0;
fail:
	svc_docker_free(p->d);
	free(p);
	return rc;
}

static void sw_free(struct svc_runtime *rt)
{
	struct sw *p = rt->priv;

	if (!p)
		return;
	svc_docker_free(p->d);
	free(p->registry);
	free(p);
	rt->priv = NULL;
}

/* "SERVICE-RELEASE12": a release's key (expiry) and its service's name tail */
static char *release_key(const char *service, const char *release)
{
	return svc_strfmt("%s-%.*s", service, SVC_SHORT_ID_LEN, release);
}

static char *service_name(struct svc_runtime *rt, const char *service, const char *release)
{
	return svc_strfmt("svcctl-%s-%s-%.*s", ((struct sw *)rt->priv)->tag, service,
			  SVC_SHORT_ID_LEN, release);
}

static int sw_prepare(struct svc_runtime *rt, const struct svc_manifest *m,
		      struct svc_error *err)
{
	const char *image = svc_manifest_image(m);
	struct svc_docker_swarm info;
	int rc;

	if (!image)
		return svc_error_set(err, SVC_EFAILED, "service '%s' has no run.image", m->service);
	{
		/* where the routers' image goes when they must be put up (sw_plane) */
		struct sw *p = rt->priv;
		const char *ref = m->build.push ? m->build.push : image;
		free(p->registry);
		p->registry = svc_docker_image_has_registry(ref) ?
			svc_strfmt("%.*s", (int)strcspn(ref, "/"), ref) : NULL;
	}
	/*
	 * Whether a node has the image is the node's to say: a task that
	 * cannot get it is rejected with the engine's own message, which
	 * start() reports. But a task on any node but the manager could only
	 * run an image of no registry by chance.
	 */
	if (svc_docker_image_has_registry(image))
		return 0;
	if ((rc = svc_docker_swarm_info(engine(rt), &info, err)))
		return rc;
	if (info.nodes > 1)
		return svc_error_set(err, SVC_EFAILED,
				     "image '%s' names no registry, and the swarm at %s has %d nodes: "
				     "a task on another node could not get it; set build.push: "
				     "REGISTRY/REPO (a built image) or give run.image of a registry "
				     "(REGISTRY/REPO:TAG)", image, svc_docker_endpoint(engine(rt)),
				     info.nodes);
	return 0;
}

/* run.image of a registry, by tag: fixed to the digest the tag names now */
static int sw_pin(struct svc_runtime *rt, struct svc_manifest *m, struct svc_error *err)
{
	const char *image = m->run.image;
	char digest[SVC_DOCKER_DIGEST_LEN + 1], *pin;
	struct svc_error e = { 0 };
	int rc;

	if (m->artifact || !image || !svc_docker_image_has_registry(image) || strchr(image, '@'))
		return 0;
	if ((rc = svc_docker_image_resolve(engine(rt), image, digest, &e)))
		return svc_error_set(err, rc == SVC_EUNAVAIL ? rc : SVC_EFAILED, "run.image: %s%s",
				     e.message, rc == SVC_ENOTFOUND ? " (push it to its registry first)"
								    : "");
	pin = svc_docker_image_pin(image, digest);
	svc_manifest_set_pinned(m, pin);
	free(pin);
	return 0;
}

json_t *svc_swarm_service_spec(const struct svc_manifest *m, const char *state_dir,
			       const char *name, const char *release, const char *color)
{
	/* Swarm expands it per task: the slot, 1..replicas */
	const char *slot = "{{.Task.Slot}}";
	json_t *cspec, *spec, *cmd;
	int64_t grace_ms = m->run.stop_timeout_ms > 0 ? m->run.stop_timeout_ms : 10000;

	cspec = json_pack("{s:s, s:o, s:s, s:I}", "Image", svc_manifest_image(m),
			  "Env", svc_image_env(m, slot),
			  "StopSignal", m->run.stop_signal_name ? m->run.stop_signal_name : "TERM",
			  "StopGracePeriod", (json_int_t)grace_ms * 1000000);
	if ((cmd = svc_image_command(m, slot)))
		json_object_set_new(cspec, "Args", cmd);
	spec = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:o, s:{s:s, s:I, s:i}}, "
			 "s:{s:{s:i}}}",
			 "Name", name,
			 "Labels", "svcctl.service", m->service, "svcctl.release", release,
			 "svcctl.color", color, "svcctl.state_dir", state_dir,
			 "TaskTemplate", "ContainerSpec", cspec,
			 "RestartPolicy", "Condition", "any", "Delay", (json_int_t)1000000000,
			 "MaxAttempts", 0,
			 "Mode", "Replicated", "Replicas", m->replicas);
	{
		/* how the routers' watcher (watch.c) checks a task it adds */
		const struct svc_health *h = &m->health;
		json_t *hj = json_pack("{s:s, s:i, s:i, s:I}", "kind",
				       h->kind == SVC_HEALTH_HTTP ? "http" : "tcp",
				       "lo", h->status_lo, "hi", h->status_hi,
				       "timeout_ms", (json_int_t)h->timeout_ms);
		char *text;
		if (h->kind == SVC_HEALTH_HTTP && h->http_path)
			json_object_set_new(hj, "path", json_string(h->http_path));
		text = json_dumps(hj, JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(json_object_get(spec, "Labels"), "svcctl.health",
				    json_string(text));
		free(text);
		json_decref(hj);
	}
	if (m->nports)
		json_object_set_new(spec, "EndpointSpec", json_pack(
			"{s:[{s:s, s:i, s:s}]}", "Ports", "Protocol", "tcp",
			"TargetPort", m->ports[0].target, "PublishMode", "host"));
	return spec;
}

/* RFC 3339 with optional fraction -> epoch ms (0 when absent or zero) */
static int64_t parse_time_ms(const char *s)
{
	struct tm tm;
	const char *rest;
	int64_t ms = 0, scale = 100;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest || tm.tm_year < 100)
		return 0;
	if (*rest == '.')
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
			ms += (*rest - '0') * scale;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ---- what runs: services, tasks, nodes ---- */

struct node_info {
	const char *id, *name, *addr;
	const char *state;   /* "ready", "down", "unknown", "disconnected" */
};

static void node_of(json_t *nodes, const char *id, struct node_info *out)
{
	json_t *n;
	size_t i;

	out->id = id;
	out->name = NULL;
	out->addr = NULL;
	out->state = NULL;
	json_array_foreach(nodes, i, n) {
		if (!id || strcmp(jstr(n, "ID") ? jstr(n, "ID") : "", id))
			continue;
		out->name = jstr(json_object_get(n, "Description"), "Hostname");
		out->addr = jstr(json_object_get(n, "Status"), "Addr");
		out->state = jstr(json_object_get(n, "Status"), "State");
	}
}

static bool state_is(const char *state, const char *const *names)
{
	for (size_t i = 0; state && names[i]; i++)
		if (!strcmp(state, names[i]))
			return true;
	return false;
}

static const char *const failed_states[] = { "failed", "rejected", "orphaned", NULL };

/* A task's error, or its message when it has none (Swarm's own words). */
static const char *task_why(json_t *task)
{
	json_t *st = json_object_get(task, "Status");
	const char *e = jstr(st, "Err");

	return e && e[0] ? e : jstr(st, "Message");
}

/*
 * The task standing for slot: the newest one Swarm wants running (or
 * ready), else the newest of all. *failed gets the newest task of the
 * slot that failed or was rejected (NULL when none), *count how many
 * tasks the slot had.
 */
static json_t *slot_task(json_t *tasks, long long slot, json_t **failed, int *count)
{
	json_t *best = NULL, *any = NULL, *t;
	int64_t best_at = -1, any_at = -1, failed_at = -1;
	size_t i;

	*failed = NULL;
	*count = 0;
	json_array_foreach(tasks, i, t) {
		const char *desired = jstr(t, "DesiredState");
		const char *state = jstr(json_object_get(t, "Status"), "State");
		int64_t at = parse_time_ms(jstr(t, "CreatedAt"));

		if (json_integer_value(json_object_get(t, "Slot")) != slot)
			continue;
		(*count)++;
		if (at > any_at) {
			any = t;
			any_at = at;
		}
		if (desired && (!strcmp(desired, "running") || !strcmp(desired, "ready")) &&
		    at > best_at) {
			best = t;
			best_at = at;
		}
		if (state_is(state, failed_states) && at > failed_at) {
			*failed = t;
			failed_at = at;
		}
	}
	return best ? best : any;
}

/* the host port the task publishes for target (0: none yet) */
static int task_port(json_t *task, int target)
{
	json_t *ports = json_object_get(json_object_get(task, "Status"), "PortStatus");
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(ports, "Ports"), i, p) {
		json_int_t pub = json_integer_value(json_object_get(p, "PublishedPort"));
		if ((!target || json_integer_value(json_object_get(p, "TargetPort")) == target) &&
		    pub > 0 && pub <= 65535)
			return (int)pub;
	}
	return 0;
}

/* Instance slot-1 of the release labelled labels, from its service's tasks. */
static void from_task(struct svc_instance *out, const char *state_dir, json_t *labels,
		      long long slot, int target, json_t *tasks, json_t *nodes)
{
	const char *service = jstr(labels, "svcctl.service"), *release = jstr(labels, "svcctl.release");
	const char *color = jstr(labels, "svcctl.color");
	json_t *failed = NULL, *t;
	struct node_info node;
	char *key;
	int count;

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	out->service = svc_strdup(service);
	out->release = svc_strdup(release);
	out->color = svc_strdup(color ? color : "");
	out->index = (int)slot - 1;
	out->id = svc_strfmt("%s-%.*s-%d", service, SVC_SHORT_ID_LEN, release, out->index);
	key = release_key(service, release);
	out->expire_at_ms = svc_expiry_read(state_dir, service, key);
	free(key);
	t = slot_task(tasks, slot, &failed, &count);
	out->restarts = count > 1 ? count - 1 : 0;
	if (!t) {
		out->state = SVC_INST_STARTING;
		out->why = svc_strdup("no task scheduled yet");
		return;
	}
	{
		json_t *st = json_object_get(t, "Status"), *cs = json_object_get(st, "ContainerStatus");
		const char *state = jstr(st, "State"), *why = task_why(t);
		static const char *const stopped[] = { "complete", "shutdown", "remove", NULL };

		out->runtime_id = svc_strdup(jstr(t, "ID") ? jstr(t, "ID") : "");
		node_of(nodes, jstr(t, "NodeID"), &node);
		if (node.name)
			out->node = svc_strdup(node.name);
		else if (node.id)
			out->node = svc_strdup(node.id);
		/* a node known only by a wildcard address answers on loopback */
		snprintf(out->host, sizeof(out->host), "%s",
			 node.addr && node.addr[0] && strcmp(node.addr, "0.0.0.0") ? node.addr
										  : "127.0.0.1");
		out->port = task_port(t, target);
		out->pid = (pid_t)json_integer_value(json_object_get(cs, "PID"));
		if (state && !strcmp(state, "running")) {
			out->state = SVC_INST_RUNNING;
			out->started_ms = parse_time_ms(jstr(st, "Timestamp"));
		} else if (state_is(state, stopped)) {
			out->state = SVC_INST_STOPPED;
		} else {
			/* new .. starting, or failed and about to be replaced */
			out->state = SVC_INST_STARTING;
		}
		if (cs && json_object_get(cs, "ExitCode") && out->state != SVC_INST_RUNNING)
			out->last_exit_code = (int)json_integer_value(json_object_get(cs, "ExitCode"));
		/*
		 * A failed task says more than the one replacing it, and than a
		 * running one: the slot's last failure stays its last word.
		 */
		if (failed && failed != t) {
			/* an earlier task of the slot: named, it is not the one above */
			struct node_info fn;
			const char *fid = jstr(failed, "ID");
			node_of(nodes, jstr(failed, "NodeID"), &fn);
			why = task_why(failed);
			out->why = svc_strfmt("%s: %s (task %s on node %s)",
					      jstr(json_object_get(failed, "Status"), "State"),
					      why ? why : "?", fid ? fid : "-",
					      fn.name ? fn.name : fn.id ? fn.id : "?");
		} else if ((failed || out->state != SVC_INST_RUNNING) && why && why[0]) {
			out->why = svc_strfmt("%s: %s", state ? state : "?", why);
		}
		/* a task on a node the swarm lost is not reachable, whatever it last said */
		if (node.state && strcmp(node.state, "ready") && out->state == SVC_INST_RUNNING) {
			out->state = SVC_INST_STARTING;
			free(out->why);
			out->why = svc_strfmt("its node %s is %s", out->node ? out->node : "?",
					      node.state);
		}
	}
}

/* true when the service s (from GET /services) is ours and of service */
static bool ours(json_t *s, const char *state_dir, const char *service)
{
	json_t *labels = json_object_get(json_object_get(s, "Spec"), "Labels");
	const char *sd = jstr(labels, "svcctl.state_dir"), *svc = jstr(labels, "svcctl.service");
	const char *rel = jstr(labels, "svcctl.release");

	return sd && !strcmp(sd, state_dir) && svc && svc_name_valid(svc) &&
	       (!service || !strcmp(svc, service)) && rel && strlen(rel) >= SVC_SHORT_ID_LEN;
}

/* Append the instances of service s (one per slot) to out. */
static int service_instances(struct svc_runtime *rt, json_t *s, json_t *nodes,
			     struct svc_instance_list *out, struct svc_error *err)
{
	json_t *spec = json_object_get(s, "Spec"), *tasks = NULL, *ports, *labels;
	long long replicas;
	int target = 0, rc;

	labels = json_object_get(spec, "Labels");
	replicas = json_integer_value(json_object_get(json_object_get(json_object_get(spec, "Mode"),
								      "Replicated"), "Replicas"));
	ports = json_object_get(json_object_get(spec, "EndpointSpec"), "Ports");
	target = (int)json_integer_value(json_object_get(json_array_get(ports, 0), "TargetPort"));
	{
		struct svc_error e = { 0 };
		if ((rc = svc_docker_task_list(engine(rt), jstr(s, "ID"), &tasks, &e))) {
			if (rc == SVC_ENOTFOUND)   /* removed meanwhile */
				return 0;
			return svc_error_pass(err, &e, rc);
		}
	}
	out->items = svc_realloc(out->items, out->count + (size_t)(replicas > 0 ? replicas : 0) + 1,
				 sizeof(*out->items));
	for (long long slot = 1; slot <= replicas && slot <= 1000; slot++)
		from_task(&out->items[out->count++], rt->state_dir, labels, slot, target, tasks,
			  nodes);
	json_decref(tasks);
	return 0;
}

/* Every instance of service's releases (release NULL) or of one release. */
static int list_instances(struct svc_runtime *rt, const char *service, const char *release,
			  struct svc_instance_list *out, struct svc_error *err)
{
	char *label = svc_strfmt("svcctl.service=%s", service);
	json_t *services = NULL, *nodes = NULL, *s;
	size_t i;
	int rc;

	out->items = svc_calloc(1, sizeof(*out->items));
	out->count = 0;
	if ((rc = svc_docker_service_list(engine(rt), label, &services, err)) ||
	    (rc = svc_docker_node_list(engine(rt), &nodes, err)))
		goto done;
	json_array_foreach(services, i, s) {
		const char *rel = jstr(json_object_get(json_object_get(s, "Spec"), "Labels"),
				       "svcctl.release");
		if (!ours(s, rt->state_dir, service) || (release && strcmp(rel, release)))
			continue;
		if ((rc = service_instances(rt, s, nodes, out, err)))
			goto done;
	}
done:
	if (rc)
		svc_instance_list_release(out);
	json_decref(nodes);
	json_decref(services);
	free(label);
	return rc;
}

static int sw_list(struct svc_runtime *rt, const char *service,
		   struct svc_instance_list *out, struct svc_error *err)
{
	return list_instances(rt, service, NULL, out, err);
}

/*
 * Remove the service named name and wait until none of its tasks runs
 * any more (so that a stopped blue is really stopped), up to wait_ms.
 */
static int remove_service(struct svc_runtime *rt, const char *name, int64_t wait_ms,
			  struct svc_error *err)
{
	json_t *s = NULL, *tasks = NULL, *t;
	int64_t deadline = svc_mono_ms() + wait_ms;
	char *id = NULL;
	int rc;

	{
		struct svc_error e = { 0 };   /* gone already: done */
		if ((rc = svc_docker_service_inspect(engine(rt), name, &s, &e))) {
			return rc == SVC_ENOTFOUND ? 0 : svc_error_pass(err, &e, rc);
		}
	}
	id = svc_strdup(jstr(s, "ID") ? jstr(s, "ID") : name);
	json_decref(s);
	if ((rc = svc_docker_service_remove(engine(rt), id, err)))
		goto done;
	for (;;) {
		static const char *const done_states[] = { "complete", "shutdown", "failed",
							   "rejected", "orphaned", "remove", NULL };
		bool running = false;
		size_t i;

		/* a removed service cannot be a filter: look at every task */
		if ((rc = svc_docker_request(engine(rt), "GET", "/tasks", NULL, NULL, &tasks, err)))
			goto done;
		json_array_foreach(tasks, i, t) {
			const char *state = jstr(json_object_get(t, "Status"), "State");
			if (jstr(t, "ServiceID") && !strcmp(jstr(t, "ServiceID"), id) &&
			    !state_is(state, done_states))
				running = true;
		}
		json_decref(tasks);
		tasks = NULL;
		if (!running)
			break;
		if (svc_mono_ms() >= deadline) {
			rc = svc_error_set(err, SVC_ETIMEOUT,
					   "swarm service '%s' is removed but its tasks still run "
					   "after %lld s", name, (long long)(wait_ms / 1000));
			goto done;
		}
		svc_sleep_ms(SWARM_POLL_MS);
	}
done:
	free(id);
	return rc;
}

static int64_t grace_of(const struct svc_manifest *m)
{
	return (m && m->run.stop_timeout_ms > 0 ? m->run.stop_timeout_ms : 10000) +
	       SWARM_REMOVE_SLACK_MS;
}

static int sw_start(struct svc_runtime *rt, const struct svc_manifest *m,
		    const char *release, const char *color, int index,
		    struct svc_instance *out, struct svc_error *err)
{
	char *name = service_name(rt, m->service, release), *sid = NULL;
	int64_t timeout = m->health.start_timeout_ms > 0 ? m->health.start_timeout_ms : 60000;
	int64_t deadline = svc_mono_ms() + timeout;
	json_t *s = NULL, *spec = NULL;
	char dur[32];
	int rc;

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	{
		struct svc_error e = { 0 };   /* "not found" is no error here */
		rc = svc_docker_service_inspect(engine(rt), name, &s, &e);
		if (rc && rc != SVC_ENOTFOUND)
			svc_error_pass(err, &e, rc);
	}
	if (rc == SVC_ENOTFOUND) {
		/* the release's service: every replica at once, index 0 first */
		spec = svc_swarm_service_spec(m, rt->state_dir, name, release, color);
		rc = svc_docker_service_create(engine(rt), spec, &sid, err);
	}
	if (rc)
		goto done;
	for (;;) {
		struct svc_instance_list l = { 0 };
		struct svc_instance *in = NULL;
		bool failed;

		if ((rc = list_instances(rt, m->service, release, &l, err)))
			goto done;
		for (size_t i = 0; i < l.count; i++)
			if (l.items[i].index == index)
				in = &l.items[i];
		/* a task of its slot failed or was rejected: that is the answer */
		failed = in && in->state != SVC_INST_RUNNING && in->why &&
			 (!strncmp(in->why, "failed:", 7) || !strncmp(in->why, "rejected:", 9) ||
			  !strncmp(in->why, "orphaned:", 9));
		if (in && in->state == SVC_INST_RUNNING && (in->port || !m->nports)) {
			*out = *in;
			memset(in, 0, sizeof(*in));
			svc_instance_list_release(&l);
			break;
		}
		if (failed || svc_mono_ms() >= deadline) {
			svc_duration_format(dur, sizeof(dur), timeout);
			if (failed)
				rc = svc_error_set(err, SVC_EFAILED, "swarm service '%s', task %s%s%s: %s",
						   name, in->runtime_id ? in->runtime_id : "-",
						   in->node ? " on node " : "", in->node ? in->node : "",
						   in->why);
			else
				rc = svc_error_set(err, SVC_EFAILED,
						   "swarm service '%s': the task of slot %d is not "
						   "running within %s%s%s", name, index + 1, dur,
						   in && in->why ? ": " : "", in && in->why ? in->why : "");
			svc_instance_list_release(&l);
			/* nothing of a release that cannot start stays behind */
			remove_service(rt, name, grace_of(m), NULL);
			goto done;
		}
		svc_instance_list_release(&l);
		svc_sleep_ms(SWARM_POLL_MS);
	}
done:
	json_decref(spec);
	json_decref(s);
	free(sid);
	free(name);
	return rc;
}

static int sw_stop(struct svc_runtime *rt, const struct svc_instance *inst,
		   struct svc_error *err)
{
	char *name = service_name(rt, inst->service, inst->release);
	char *key = release_key(inst->service, inst->release);
	int rc = remove_service(rt, name, grace_of(NULL) + 60000, err);

	if (!rc)
		svc_expiry_clear(rt->state_dir, inst->service, key);
	free(key);
	free(name);
	return rc;
}

static int sw_set_expiry(struct svc_runtime *rt, const struct svc_instance *inst,
			 int64_t at_ms, struct svc_error *err)
{
	char *key = release_key(inst->service, inst->release);
	int rc = svc_expiry_set(rt, inst->service, key, at_ms, err);

	free(key);
	return rc;
}

/* expire: key "SERVICE-RELEASE12" names the release whose service goes */
static int sw_expire(struct svc_runtime *rt, const char *service, const char *key,
		     struct svc_error *err)
{
	size_t n = strlen(service);
	json_t *s = NULL;
	char *name;
	int rc;

	if (strncmp(key, service, n) || key[n] != '-' || strlen(key + n + 1) != SVC_SHORT_ID_LEN)
		return svc_error_set(err, SVC_EGENERIC, "'%s' names no release of %s", key, service);
	name = svc_strfmt("svcctl-%s-%s", ((struct sw *)rt->priv)->tag, key);
	rc = svc_docker_service_inspect(engine(rt), name, &s, NULL);
	json_decref(s);
	if (rc == SVC_ENOTFOUND)
		rc = svc_error_set(err, SVC_ENOTFOUND, "swarm service '%s' is gone", name);
	else
		rc = remove_service(rt, name, grace_of(NULL) + 60000, err);
	free(name);
	return rc;
}

static int sw_logs(struct svc_runtime *rt, const struct svc_instance *inst, bool follow,
		   int fd, struct svc_error *err)
{
	if (!inst->runtime_id || !inst->runtime_id[0])
		return svc_error_set(err, SVC_EFAILED, "instance '%s' has no task yet", inst->id);
	return svc_docker_task_logs(engine(rt), inst->runtime_id, follow, fd, err);
}

static int64_t sw_busy_ms(struct svc_runtime *rt)
{
	return svc_docker_busy_ms(engine(rt));
}

/* list_services: services with swarm services of rt's state dir, by label */
static int sw_list_services(struct svc_runtime *rt, char ***out, struct svc_error *err)
{
	char *label = svc_strfmt("svcctl.state_dir=%s", rt->state_dir);
	json_t *list = NULL, *s;
	char **v = svc_calloc(1, sizeof(*v));
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = svc_docker_service_list(engine(rt), label, &list, err)))
		goto done;
	json_array_foreach(list, i, s) {
		const char *svc = jstr(json_object_get(json_object_get(s, "Spec"), "Labels"),
				       "svcctl.service");
		if (ours(s, rt->state_dir, NULL))
			v = svc_strv_add_unique(v, svc);
	}
	*out = v;
	v = NULL;
done:
	svc_strv_free(v);
	json_decref(list);
	free(label);
	return rc;
}

/* ---- what a swarm manifest may say ---- */

/* an address of every node: 0.0.0.0 or [::] */
static bool every_node(const struct svc_addr *a)
{
	return !strcmp(a->host, "0.0.0.0") || !strcmp(a->host, "::");
}

void svc_swarm_manifest_check(struct svc_mcheck *c)
{
	const struct svc_manifest *m = svc_mcheck_manifest(c);

	svc_image_manifest_check(c);
	/* clients come in through any node: a listen address is a port on all of them */
	for (size_t i = 0; i < m->nports; i++) {
		char where[40];
		if (!m->listen_pos[i].line || every_node(&m->ports[i].listen))
			continue;
		snprintf(where, sizeof(where), "ports[%zu].listen", i);
		svc_mcheck_error(c, where, "ports[%zu].listen: on the swarm runtime it is a port on "
				 "every node (svcctl's router runs on each): write ':%d' or "
				 "'0.0.0.0:%d', not the host address '%s'", i, m->ports[i].listen.port,
				 m->ports[i].listen.port, m->ports[i].listen.host);
	}
	if (m->rollout.has_preview && !every_node(&m->rollout.preview))
		svc_mcheck_error(c, "rollout.preview", "rollout.preview: on the swarm runtime it is a "
				 "port on every node: write ':%d' or '0.0.0.0:%d', not the host "
				 "address '%s'", m->rollout.preview.port, m->rollout.preview.port,
				 m->rollout.preview.host);
}

/* ---- the routers: one on every node (routers.c, router/plane.h) ---- */

static int plane_members(void *arg, struct svc_plane_members *out, struct svc_error *err)
{
	struct svc_runtime *rt = arg;

	return svc_swarm_routers_members(engine(rt), rt->state_dir, out, err);
}

/*
 * The routers run, or are put up: with what `router swarm` was last given,
 * else (on more than one node) pushed to REGISTRY/svcctl-router of the
 * registry of the image being deployed.
 */
static int plane_ensure(void *arg, struct svc_error *err)
{
	struct svc_runtime *rt = arg;
	struct sw *p = rt->priv;
	struct svc_plane_members m = { 0 };
	struct svc_swarm_router *r = NULL;
	struct svc_error e = { 0 };
	char *push = NULL, *derived = NULL;
	size_t n = 0;
	bool rotated = false;
	int port, rc;

	if (svc_swarm_routers_members(p->d, rt->state_dir, &m, NULL) == 0) {
		svc_plane_members_release(&m);
		return 0;
	}
	rc = svc_swarm_routers_config(rt->state_dir, &push, &port, &e);
	if (rc && rc != SVC_ENOTFOUND)
		return svc_error_pass(err, &e, rc);
	if (!push && p->registry)
		push = derived = svc_strfmt("%s/svcctl-router", p->registry);
	rc = svc_swarm_routers_up(rt->state_dir, rt->self_exe, push, port, &r, &n, &rotated, err);
	svc_swarm_routers_free(r, n);
	if (push != derived)
		free(push);
	free(derived);
	return rc;
}

static struct svc_plane *sw_plane(struct svc_runtime *rt)
{
	struct svc_plane_cluster c = { plane_members, plane_ensure, NULL, rt };

	return svc_plane_cluster(&c);
}

const struct svc_runtime_ops svc_swarm_ops = {
	.name = "swarm",
	.open = sw_open,
	.prepare = sw_prepare,
	.pin = sw_pin,
	.start = sw_start,
	.stop = sw_stop,
	.list = sw_list,
	.set_expiry = sw_set_expiry,
	.expire = sw_expire,
	.logs = sw_logs,
	.list_services = sw_list_services,
	.plane = sw_plane,
	.busy_ms = sw_busy_ms,
	.free = sw_free,
};
