/*
 * runtime/docker/docker.c - the Docker runtime driver: instances are containers.
 *
 * Everything svcctl knows about a container is on the container itself:
 * its name ("svcctl-TAG-SERVICE-RELEASE12-INDEX", TAG naming the state dir)
 * and labels svcctl.service, svcctl.release, svcctl.color,
 * svcctl.instance and svcctl.state_dir. list() asks the engine
 * for containers by label, so instances (and orphans of an interrupted
 * deploy) are found even with the state dir deleted. Each container gets
 * the manifest's env plus SERVICE, VERSION, INSTANCE and PORT (the target
 * port inside the container) over the image's own ENV, and nothing of
 * svcctl's environment,
 * restart policy unless-stopped, the manifest's stop signal and timeout,
 * and its target port published on 127.0.0.1 only, on a host port the
 * engine chooses: that is the address the router forwards to.
 *
 * A release kept warm must stop itself when keep_previous ends even when
 * no svcctl runs. Containers have no supervisor of ours, so set_expiry
 * leaves it to a detached waiter (expiry.h) that removes the container
 * of instance ID when its time is up.
 */
#include "runtime/docker/docker.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/docker_api.h"
#include "runtime/expiry.h"
#include "hash.h"
#include "base/spawn.h"
#include "util.h"

struct dk {
	struct svc_docker *d;
	char tag[9];   /* first 8 hex of sha256(state dir): whose containers */
};

static struct svc_docker *engine(struct svc_runtime *rt)
{
	return ((struct dk *)rt->priv)->d;
}

static int dk_open(struct svc_runtime *rt, struct svc_error *err)
{
	struct dk *p = svc_calloc(1, sizeof(*p));
	int rc = svc_docker_open(&p->d, NULL, err);
	char hex[SVC_HASH_HEX_LEN + 1];

	if (rc) {
		free(p);
		return rc;
	}
	svc_sha256_hex(hex, rt->state_dir, strlen(rt->state_dir));
	memcpy(p->tag, hex, 8);
	p->tag[8] = '\0';
	rt->priv = p;
	return 0;
}

static void dk_free(struct svc_runtime *rt)
{
	struct dk *p = rt->priv;

	if (!p)
		return;
	svc_docker_free(p->d);
	free(p);
	rt->priv = NULL;
}

static char *instance_id(const char *service, const char *release, int index)
{
	return svc_strfmt("%s-%.*s-%d", service, SVC_SHORT_ID_LEN, release, index);
}

static int dk_prepare(struct svc_runtime *rt, const struct svc_manifest *m,
		      struct svc_error *err)
{
	const char *image = svc_manifest_image(m);
	bool exists = false;
	int rc;

	if (!image)
		return svc_error_set(err, SVC_EFAILED, "service '%s' has no run.image", m->service);
	if ((rc = svc_docker_image_exists(engine(rt), image, &exists, err)))
		return rc;
	if (!exists && m->artifact)
		return svc_error_set(err, SVC_EFAILED,
				     "image '%s' (artifact %.12s) is gone from the Docker engine at %s "
				     "(deleted by 'svcctl gc'?); deploy the manifest again to rebuild it",
				     image, m->artifact->id, svc_docker_endpoint(engine(rt)));
	if (!exists)
		return svc_error_set(err, SVC_EFAILED,
				     "image '%s' does not exist in the Docker engine at %s "
				     "(svcctl pulls nothing: build or load it first)",
				     image, svc_docker_endpoint(engine(rt)));
	return 0;
}

static void env_add(json_t *env, const char *key, const char *value)
{
	char *kv = svc_strfmt("%s=%s", key, value);

	json_array_append_new(env, json_string(kv));
	free(kv);
}

static void expand_vars(struct svc_expand_vars *vars, char *port, size_t port_len,
			const struct svc_manifest *m, const char *instance)
{
	port[0] = '\0';
	if (m->nports)
		snprintf(port, port_len, "%d", m->ports[0].target);
	vars->port = port;
	vars->version = m->version ? m->version : "";
	vars->service = m->service;
	vars->instance = instance;
}

json_t *svc_image_env(const struct svc_manifest *m, const char *instance)
{
	struct svc_expand_vars vars;
	char port[16];
	json_t *env = json_array();

	expand_vars(&vars, port, sizeof(port), m, instance);
	for (size_t i = 0; i < m->run.nenv; i++) {
		char *v = svc_manifest_expand(m->run.env[i].value, &vars);
		env_add(env, m->run.env[i].key, v);
		free(v);
	}
	env_add(env, "SERVICE", m->service);
	env_add(env, "VERSION", vars.version);
	env_add(env, "INSTANCE", instance);
	if (m->nports)
		env_add(env, "PORT", port);
	return env;
}

json_t *svc_image_command(const struct svc_manifest *m, const char *instance)
{
	struct svc_expand_vars vars;
	char port[16];
	json_t *cmd;

	if (!m->run.command)
		return NULL;
	expand_vars(&vars, port, sizeof(port), m, instance);
	cmd = json_array();
	for (size_t i = 0; m->run.command[i]; i++) {
		char *a = svc_manifest_expand(m->run.command[i], &vars);
		json_array_append_new(cmd, json_string(a));
		free(a);
	}
	return cmd;
}

json_t *svc_docker_container_spec(const struct svc_manifest *m, const char *state_dir,
				  const char *release, const char *color, int index)
{
	char idx[16], portkey[32];
	json_t *spec, *labels, *host, *cmd;

	snprintf(idx, sizeof(idx), "%d", index);
	labels = json_pack("{s:s, s:s, s:s, s:s, s:s}", "svcctl.service", m->service,
			   "svcctl.release", release, "svcctl.color", color, "svcctl.instance", idx,
			   "svcctl.state_dir", state_dir);
	host = json_pack("{s:{s:s}}", "RestartPolicy", "Name", "unless-stopped");
	if (m->nports) {
		snprintf(portkey, sizeof(portkey), "%d/tcp", m->ports[0].target);
		json_object_set_new(host, "PortBindings",
				    json_pack("{s:[{s:s, s:s}]}", portkey, "HostIp", "127.0.0.1",
					      "HostPort", ""));
	}
	spec = json_pack("{s:s, s:o, s:o, s:s, s:i, s:o}", "Image", svc_manifest_image(m),
			 "Env", svc_image_env(m, idx), "Labels", labels,
			 "StopSignal", m->run.stop_signal_name ? m->run.stop_signal_name : "TERM",
			 "StopTimeout", (int)((m->run.stop_timeout_ms + 999) / 1000),
			 "HostConfig", host);
	if (m->nports)
		json_object_set_new(spec, "ExposedPorts", json_pack("{s:{}}", portkey));
	if ((cmd = svc_image_command(m, idx)))
		json_object_set_new(spec, "Cmd", cmd);
	return spec;
}

/*
 * "svcctl-TAG-SERVICE-RELEASE12-INDEX": TAG keeps two state dirs (two svcctl
 * installations, or parallel tests) on one engine apart.
 */
static char *container_name(const char *tag, const char *id)
{
	return svc_strfmt("svcctl-%s-%s", tag, id);
}

static const char *tag_of(struct svc_runtime *rt)
{
	return ((struct dk *)rt->priv)->tag;
}

static int64_t parse_time_ms(const char *s)
{
	struct tm tm;
	const char *rest;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest || tm.tm_year < 100)   /* "0001-01-01T00:00:00Z": never started */
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Fill an instance from GET /containers/ID/json. false when not ours. */
static bool from_inspect(struct svc_instance *out, json_t *in, const char *state_dir)
{
	json_t *labels = json_object_get(json_object_get(in, "Config"), "Labels");
	json_t *st = json_object_get(in, "State"), *ports, *binding;
	const char *service = jstr(labels, "svcctl.service"), *release = jstr(labels, "svcctl.release");
	const char *color = jstr(labels, "svcctl.color"), *idx = jstr(labels, "svcctl.instance");
	const char *status = jstr(st, "Status");
	long long index;
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	if (!service || !release || !idx || svc_parse_int(&index, idx, 0, 1000) ||
	    !jstr(labels, "svcctl.state_dir") || strcmp(jstr(labels, "svcctl.state_dir"), state_dir))
		return false;   /* not svcctl's, or another state dir's */
	out->service = svc_strdup(service);
	out->release = svc_strdup(release);
	out->color = svc_strdup(color ? color : "");
	out->index = (int)index;
	out->id = instance_id(service, release, (int)index);
	snprintf(out->host, sizeof(out->host), "127.0.0.1");
	ports = json_object_get(json_object_get(in, "NetworkSettings"), "Ports");
	json_object_foreach(ports, key, v) {
		long long p;
		binding = json_array_get(v, 0);
		if (binding && !svc_parse_int(&p, jstr(binding, "HostPort"), 1, 65535)) {
			out->port = (int)p;
			break;
		}
	}
	out->pid = (pid_t)json_integer_value(json_object_get(st, "Pid"));
	out->restarts = (int)json_integer_value(json_object_get(in, "RestartCount"));
	out->started_ms = parse_time_ms(jstr(st, "StartedAt"));
	if (status && strcmp(status, "running") && strcmp(status, "created"))
		out->last_exit_code = (int)json_integer_value(json_object_get(st, "ExitCode"));
	if (!status || !strcmp(status, "dead") || !strcmp(status, "removing"))
		out->state = SVC_INST_GONE;
	else if (!strcmp(status, "running") && json_is_true(json_object_get(st, "Running")))
		out->state = json_is_true(json_object_get(st, "Restarting")) ? SVC_INST_STARTING
									      : SVC_INST_RUNNING;
	else if (!strcmp(status, "restarting") || !strcmp(status, "created"))
		out->state = SVC_INST_STARTING;
	else
		out->state = SVC_INST_STOPPED;
	out->expire_at_ms = svc_expiry_read(state_dir, service, out->id);
	return true;
}

static int inspect_instance(struct svc_runtime *rt, const char *name, struct svc_instance *out,
			    struct svc_error *err)
{
	json_t *in = NULL;
	int rc = svc_docker_container_inspect(engine(rt), name, &in, err);

	if (!rc && !from_inspect(out, in, rt->state_dir))
		rc = svc_error_set(err, SVC_EGENERIC, "container '%s' has no svcctl labels", name);
	json_decref(in);
	return rc;
}

static int dk_start(struct svc_runtime *rt, const struct svc_manifest *m,
		    const char *release, const char *color, int index,
		    struct svc_instance *out, struct svc_error *err)
{
	char *id = instance_id(m->service, release, index), *name = container_name(tag_of(rt), id);
	char *cid = NULL;
	json_t *spec = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* a leftover of an interrupted attempt with this very name goes first */
	svc_docker_container_remove(engine(rt), name, NULL);
	spec = svc_docker_container_spec(m, rt->state_dir, release, color, index);
	if ((rc = svc_docker_container_create(engine(rt), name, spec, &cid, err)))
		goto done;
	if ((rc = svc_docker_container_start(engine(rt), cid, err))) {
		svc_docker_container_remove(engine(rt), cid, NULL);
		goto done;
	}
	rc = inspect_instance(rt, cid, out, err);
	if (!rc && m->nports && !out->port) {
		rc = svc_error_set(err, SVC_EFAILED, "container '%s' has no published port for %d/tcp",
				   name, m->ports[0].target);
		svc_docker_container_remove(engine(rt), cid, NULL);
	}
done:
	json_decref(spec);
	free(cid);
	free(name);
	free(id);
	return rc;
}

static int dk_list(struct svc_runtime *rt, const char *service,
		   struct svc_instance_list *out, struct svc_error *err)
{
	char *label = svc_strfmt("svcctl.service=%s", service);
	json_t *list = NULL, *c;
	size_t i;
	int rc;

	out->items = NULL;
	out->count = 0;
	if ((rc = svc_docker_container_list(engine(rt), label, &list, err)))
		goto done;
	out->items = svc_calloc(json_array_size(list) + 1, sizeof(*out->items));
	json_array_foreach(list, i, c) {
		const char *cid = jstr(c, "Id");
		struct svc_instance in;
		if (!cid || inspect_instance(rt, cid, &in, NULL))
			continue;   /* removed meanwhile */
		out->items[out->count++] = in;
	}
done:
	json_decref(list);
	free(label);
	return rc;
}

static int dk_stop(struct svc_runtime *rt, const struct svc_instance *inst,
		   struct svc_error *err)
{
	char *name = container_name(tag_of(rt), inst->id);
	int rc;

	/* the container's own StopTimeout applies; -1 asks the engine to use it */
	rc = svc_docker_container_stop(engine(rt), name, -1, err);
	if (rc == SVC_ENOTFOUND)
		rc = 0;
	if (!rc)
		rc = svc_docker_container_remove(engine(rt), name, err);
	svc_expiry_clear(rt->state_dir, inst->service, inst->id);
	free(name);
	return rc;
}

static int dk_set_expiry(struct svc_runtime *rt, const struct svc_instance *inst,
			 int64_t at_ms, struct svc_error *err)
{
	return svc_expiry_set(rt, inst->service, inst->id, at_ms, err);
}

static int dk_logs(struct svc_runtime *rt, const struct svc_instance *inst, bool follow,
		   int fd, struct svc_error *err)
{
	char *name = container_name(tag_of(rt), inst->id);
	int rc = svc_docker_container_logs(engine(rt), name, follow, fd, err);

	free(name);
	return rc;
}

/* expire: the warm container of instance id goes */
static int dk_expire(struct svc_runtime *rt, const char *service, const char *id,
		     struct svc_error *err)
{
	char *name = container_name(tag_of(rt), id);
	int rc;

	(void)service;
	if (!(rc = svc_docker_container_stop(engine(rt), name, -1, err)))
		rc = svc_docker_container_remove(engine(rt), name, err);
	free(name);
	return rc;
}

static int64_t dk_busy_ms(struct svc_runtime *rt)
{
	return svc_docker_busy_ms(engine(rt));
}

/* list_services: services with containers of rt's state dir, by label */
static int dk_list_services(struct svc_runtime *rt, char ***out, struct svc_error *err)
{
	char *label = svc_strfmt("svcctl.state_dir=%s", rt->state_dir);
	json_t *list = NULL, *c;
	char **v = svc_calloc(1, sizeof(*v));
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = svc_docker_container_list(engine(rt), label, &list, err)))
		goto done;
	json_array_foreach(list, i, c) {
		const char *svc = jstr(json_object_get(c, "Labels"), "svcctl.service");
		if (svc && svc_name_valid(svc))
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

void svc_image_manifest_check(struct svc_mcheck *c)
{
	const struct svc_manifest *m = svc_mcheck_manifest(c);
	const char *rt = svc_runtime_kind_name(m->runtime);

	if (!svc_mcheck_has(c, "run.image") && !svc_mcheck_bad(c, "run") &&
	    !svc_mcheck_bad(c, "build") && !(m->build.present && svc_mcheck_has(c, "build.dockerfile")))
		svc_mcheck_error(c, "run", "missing required key 'run.image' (runtime '%s' needs it "
				 "unless build.dockerfile is given)", rt);
	/* a container's port is fixed by its image: it must be named */
	for (size_t i = 0; i < m->nports; i++) {
		char where[40];

		if (m->ports[i].target || !m->listen_pos[i].line)
			continue;
		snprintf(where, sizeof(where), "ports[%zu].listen", i);
		svc_mcheck_error(c, where, "ports[%zu].target: required for the %s runtime (the port "
				 "the service listens on inside the container)", i, rt);
	}
	if (m->nports > 1)
		svc_mcheck_error(c, "ports", "ports: the %s runtime supports one port (found %zu)", rt,
				 m->nports);
	if (!m->build.present || svc_mcheck_bad(c, "build"))
		return;
	/* what a build leaves must fit the runtime that runs it */
	if (!svc_mcheck_has(c, "build.dockerfile"))
		svc_mcheck_error(c, "build", "missing required key 'build.dockerfile' (runtime '%s' "
				 "builds an image)", rt);
	if (svc_mcheck_has(c, "build.artifact"))
		svc_mcheck_error(c, "build.artifact", "build.artifact: only for the process runtime "
				 "(runtime '%s' builds an image from the build folder)", rt);
	if (svc_mcheck_has(c, "build.dockerfile") && svc_mcheck_has(c, "run.image"))
		svc_mcheck_error(c, "run.image", "run.image: cannot be combined with "
				 "build.dockerfile (the image is built and tagged %s:ID)",
				 m->service ? m->service : "SERVICE");
	if (m->build.push) {
		char why[512];

		if (svc_docker_push_repo_check(m->build.push, why, sizeof(why)))
			svc_mcheck_error(c, "build.push", "build.push: %s", why);
	}
}

const struct svc_runtime_ops svc_docker_ops = {
	.name = "docker",
	.open = dk_open,
	.prepare = dk_prepare,
	.start = dk_start,
	.stop = dk_stop,
	.list = dk_list,
	.set_expiry = dk_set_expiry,
	.expire = dk_expire,
	.logs = dk_logs,
	.list_services = dk_list_services,
	.busy_ms = dk_busy_ms,
	.free = dk_free,
};
