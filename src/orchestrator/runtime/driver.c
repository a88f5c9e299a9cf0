/*
 * runtime/driver.c - opening a runtime driver, and the instance records every
 * driver fills.
 *
 * The rollout code sees runtimes only through struct svc_runtime_ops and
 * the driver table; this file holds the table (the only place that names
 * the drivers), opens the driver for a manifest's runtime kind and owns the
 * parts of struct svc_runtime that all drivers share (state folder, own
 * executable). Swarm answers SVC_EUNAVAIL until its driver lands.
 */
#include "runtime/driver.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "router/plane.h"
#include "runtime/docker/docker.h"
#include "runtime/proc/proc.h"
#include "runtime/swarm/swarm.h"
#include "util.h"

void svc_instance_release(struct svc_instance *inst)
{
	if (!inst)
		return;
	free(inst->id);
	free(inst->service);
	free(inst->release);
	free(inst->color);
	free(inst->log_path);
	free(inst->problem);
	free(inst->runtime_id);
	free(inst->node);
	free(inst->why);
	memset(inst, 0, sizeof(*inst));
	inst->last_exit_code = -1;
}

void svc_instance_list_release(struct svc_instance_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		svc_instance_release(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

const char *svc_instance_addr(const struct svc_instance *in, char *buf, size_t len)
{
	snprintf(buf, len, strchr(in->host, ':') ? "[%s]:%d" : "%s:%d", in->host, in->port);
	return buf;
}

const char *svc_instance_state_name(enum svc_instance_state s)
{
	switch (s) {
	case SVC_INST_STARTING:
		return "starting";
	case SVC_INST_RUNNING:
		return "running";
	case SVC_INST_STOPPING:
		return "stopping";
	case SVC_INST_STOPPED:
		return "stopped";
	case SVC_INST_GONE:
		return "gone";
	}
	return "unknown";
}

static const struct svc_runtime_driver drivers[] = {
	{ SVC_RUNTIME_PROCESS, &svc_proc_ops, SVC_RT_HOST_FOLDER, svc_proc_manifest_check, NULL },
	{ SVC_RUNTIME_DOCKER, &svc_docker_ops, SVC_RT_IMAGES, svc_image_manifest_check, NULL },
	{ SVC_RUNTIME_SWARM, &svc_swarm_ops, SVC_RT_IMAGES, svc_swarm_manifest_check, NULL },
};

const struct svc_runtime_driver *const svc_runtime_drivers[] = {
	&drivers[1], &drivers[2], &drivers[0], NULL,
};

const struct svc_runtime_driver *svc_runtime_driver_of(enum svc_runtime_kind kind)
{
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (drivers[i].kind == kind)
			return &drivers[i];
	return NULL;
}

bool svc_manifest_rules_of(enum svc_runtime_kind kind, struct svc_manifest_rules *out)
{
	const struct svc_runtime_driver *d = svc_runtime_driver_of(kind);

	memset(out, 0, sizeof(*out));
	if (!d)
		return false;
	out->host_folder = (d->caps & SVC_RT_HOST_FOLDER) != 0;
	out->check = d->check;
	return true;
}

bool svc_runtime_has(enum svc_runtime_kind kind, enum svc_runtime_cap cap)
{
	const struct svc_runtime_driver *d = svc_runtime_driver_of(kind);

	return d && (d->caps & cap);
}

/* *out = path made absolute against the current folder (caller frees). */
static int absolute(char **out, const char *path, struct svc_error *err)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		*out = svc_strdup(path);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return svc_error_set_errno(err, SVC_EGENERIC, errno,
					   "cannot find the current folder");
	*out = svc_strfmt("%s/%s", cwd, path);
	return 0;
}

int svc_runtime_open(struct svc_runtime **out, enum svc_runtime_kind kind,
		     const char *state_dir, const char *self_exe,
		     struct svc_error *err)
{
	struct svc_runtime *rt = NULL;
	char buf[PATH_MAX];
	int rc = SVC_EGENERIC;

	const struct svc_runtime_driver *d = svc_runtime_driver_of(kind);

	*out = NULL;
	if (!d) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "unknown runtime kind %d", (int)kind);
		goto done;
	}
	if (!d->ops) {
		rc = svc_error_set(err, SVC_EUNAVAIL, "%s", d->unavailable);
		goto done;
	}
	if (!state_dir || !*state_dir) {
		rc = svc_error_set(err, SVC_EGENERIC, "no state folder given");
		goto done;
	}
	rt = svc_calloc(1, sizeof(*rt));
	rt->ops = d->ops;
	if ((rc = absolute(&rt->state_dir, state_dir, err)))
		goto done;
	if (self_exe) {
		/* supervisors run from '/', so a relative path would not do */
		if ((rc = absolute(&rt->self_exe, self_exe, err)))
			goto done;
	} else {
		if ((rc = svc_self_exe(buf, sizeof(buf), err)))
			goto done;
		rt->self_exe = svc_strdup(buf);
	}
	if (rt->ops->open && (rc = rt->ops->open(rt, err)))
		goto done;
	*out = rt;
	rt = NULL;
	rc = 0;
done:
	svc_runtime_free(rt);
	return rc;
}

void svc_runtime_free(struct svc_runtime *rt)
{
	if (!rt)
		return;
	svc_plane_free(rt->plane);   /* a driver's plane may borrow its priv */
	if (rt->ops && rt->ops->free)
		rt->ops->free(rt);
	free(rt->state_dir);
	free(rt->self_exe);
	free(rt);
}

struct svc_plane *svc_runtime_plane(struct svc_runtime *rt)
{
	if (!rt->plane)
		rt->plane = rt->ops->plane ? rt->ops->plane(rt)
					   : svc_plane_local(rt->state_dir, rt->self_exe);
	return rt->plane;
}
