/*
 * tests/fuzz/fallback/state/files.h - STAND-IN for the state file table
 * (src/orchestrator/state/files.h, being written on another branch), with
 * its promised interface, so that fuzz_state builds before it lands. Goes
 * away when it does: fuzz_state.c then includes the real one.
 */
#ifndef SVC_STATE_FILES_H
#define SVC_STATE_FILES_H

#include <stddef.h>

#include "error.h"

struct svc_state_file {
	const char *pattern;  /* path under the state dir, e.g. "services/ * /current.json" */
	const char *owner;    /* the module that reads it */
	/* parse buf as that file's loader does; 0 or SVC_E* with err set; frees what it parsed */
	int (*check)(const char *buf, size_t len, const char *path, struct svc_error *err);
};

extern const struct svc_state_file svc_state_files[];   /* ends with pattern NULL */

#endif
