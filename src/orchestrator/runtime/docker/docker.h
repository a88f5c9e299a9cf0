/*
 * runtime/docker/docker.h - the Docker runtime: each instance a container, created
 * through the Engine API (docker_api.h), labelled svcctl.service,
 * svcctl.release, svcctl.color, svcctl.instance and svcctl.state_dir, so
 * that what runs is rebuilt from the engine alone, even with the state dir
 * deleted (and recreated at the same path).
 */
#ifndef SVC_DOCKER_H
#define SVC_DOCKER_H

#include "runtime/driver.h"

#include <jansson.h>
#include <stdint.h>

extern const struct svc_runtime_ops svc_docker_ops;

/*
 * The body of POST /containers/create for instance index of release (see
 * docker.c for what goes in). Caller owns the reference.
 */
json_t *svc_docker_container_spec(const struct svc_manifest *m, const char *state_dir,
				  const char *release, const char *color, int index);

/*
 * What an image runtime (docker, swarm) gives an instance: the manifest's
 * env (${PORT}, ${VERSION}, ${SERVICE}, ${INSTANCE} expanded, instance
 * standing for the instance's number) plus SERVICE, VERSION, INSTANCE and
 * PORT (the target port), as "K=V" strings; and run.command expanded the
 * same way (NULL without one). Caller owns the references.
 */
json_t *svc_image_env(const struct svc_manifest *m, const char *instance);
json_t *svc_image_command(const struct svc_manifest *m, const char *instance);

/*
 * What a manifest of a runtime that runs images (docker, swarm) may say
 * (svc_manifest_rules.check).
 */
void svc_image_manifest_check(struct svc_mcheck *c);

#endif
