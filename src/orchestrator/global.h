/*
 * global.h - process-wide set-up of the svcctl library, called once from
 * main() (as libgit2's git_libgit2_init and libcurl's curl_global_init are):
 * the library never does it behind its callers' backs on first use, so a
 * long-running program links it safely, and it installs no signal handlers.
 *
 * Call svc_global_init before any other svc_ function and before threads
 * start; svc_global_cleanup when done (after every thread has ended).
 */
#ifndef SVC_GLOBAL_H
#define SVC_GLOBAL_H

#include "error.h"

/* libcurl and libgit2. SVC_EGENERIC with the library's reason on failure. */
int svc_global_init(struct svc_error *err);
void svc_global_cleanup(void);

#endif
