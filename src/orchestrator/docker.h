/*
 * docker.h - the Docker runtime: each instance a container, created
 * through the Engine API (docker_api.h), labelled svcctl.service,
 * svcctl.release, svcctl.color and svcctl.instance, so that what runs is
 * rebuilt from the engine alone, even with the state dir deleted.
 */
#ifndef SVC_DOCKER_H
#define SVC_DOCKER_H

#include "runtime.h"

extern const struct svc_runtime_ops svc_docker_ops;

#endif
