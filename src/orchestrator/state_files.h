/*
 * state_files.h - the table of state files (see files.c).
 *
 * Each row: the file's path under the state dir, "*" standing for a service
 * name or a release id; the module whose loader reads it; and that loader's
 * parser over a buffer (0, or an SVC_E* code with err naming path), which
 * frees what it parsed. The table ends with a row whose pattern is NULL.
 */
#ifndef SVC_STATE_FILES_H
#define SVC_STATE_FILES_H

#include <stddef.h>

#include "error.h"

struct svc_state_file {
	const char *pattern;
	const char *owner;
	int (*check)(const char *buf, size_t len, const char *path, struct svc_error *err);
};

extern const struct svc_state_file svc_state_files[];

#endif
