/*
 * proc.h - the process runtime: each instance a local process under its own
 * supervisor (supervisor.h), its files under
 * STATE/services/SERVICE/instances/INSTANCE-ID/.
 */
#ifndef SVC_PROC_H
#define SVC_PROC_H

#include "runtime.h"

/* The driver's operations (used by svc_runtime_open). */
extern const struct svc_runtime_ops svc_proc_ops;

#endif
