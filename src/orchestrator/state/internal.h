/*
 * state/internal.h - what the state loaders share, and nothing else may use:
 * reading a state file strictly, and a small typed reader over its JSON.
 *
 * The rule every loader keeps (shared/LAYOUT.md): it returns the data or an
 * error that names the file and why. A missing file is SVC_ENOTFOUND with
 * err left unset, so that each caller decides what absence means; a file that
 * exists but cannot be read, does not parse, is not an object of the right
 * shape, or was written by a newer svcctl is SVC_ESTATE.
 *
 * Each file carries "format": SVC_STATE_FORMAT. A file without it was written
 * before formats existed (format 0); it is read with the same rules and
 * rewritten with the current format on the next save.
 */
#ifndef SVC_STATE_INTERNAL_H
#define SVC_STATE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "state/state.h"

#define STATE_FILE_MAX (64 * 1024 * 1024)

/*
 * Read path as a state file: a JSON object of at most STATE_FILE_MAX bytes
 * whose format this svcctl reads. *out is a new reference (NULL on error).
 */
int state_json_read(json_t **out, const char *path, struct svc_error *err);
/* The same over a buffer already read; path names it in errors. */
int state_json_parse(json_t **out, const char *buf, size_t len, const char *path,
		     struct svc_error *err);
/* A new object holding "format": SVC_STATE_FORMAT. */
json_t *state_json_new(void);
/* svc_json_file_write, after creating the service's folder. */
int state_json_write(const json_t *j, const char *state_dir, const char *service,
		     const char *path, struct svc_error *err);

/*
 * A typed reader: each getter checks one key and, on the first problem,
 * records "PATH: invalid state file: ..." in err and rc. Later getters
 * return defaults, so a loader reads every key and checks rc once.
 */
struct jr {
	const char *path;
	struct svc_error *err;
	int rc;
};

void jr_init(struct jr *r, const char *path, struct svc_error *err);
void jr_fail(struct jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A required string (borrowed from o); "" after an error. */
const char *jr_str(struct jr *r, const json_t *o, const char *key);
/* An optional string: absent or null is NULL. */
const char *jr_str_opt(struct jr *r, const json_t *o, const char *key);
/* A required string copied into dst, which it must fit. */
void jr_copy(struct jr *r, char *dst, size_t len, const json_t *o, const char *key);
/* A release id: 64 lowercase hex digits, or "" when empty is allowed. */
void jr_release(struct jr *r, char dst[65], const json_t *o, const char *key, bool empty_ok);
/* A color: "blue" or "green", or "" when empty is allowed. */
void jr_color(struct jr *r, char dst[8], const json_t *o, const char *key, bool empty_ok);
/* A required integer within [min, max]. */
int64_t jr_int(struct jr *r, const json_t *o, const char *key, int64_t min, int64_t max);

/* The parsers under the loaders, also run by the state-file table (files.c). */
int state_current_from_json(struct svc_current *out, const json_t *j, const char *path,
			    struct svc_error *err);
int state_history_from_json(struct svc_history *out, const json_t *j, const char *path,
			    struct svc_error *err);
int state_rollout_rec_from_json(struct svc_rollout_rec *out, const json_t *j,
				const char *path, struct svc_error *err);
int state_sync_rec_from_json(struct svc_sync_rec *out, const json_t *j, const char *path,
			     struct svc_error *err);
int state_suspension_from_json(struct svc_suspension *out, const json_t *j, const char *path,
			       struct svc_error *err);
/* release.json: caller frees *source_path, *base_dir and *artifact. */
int state_release_meta_from_json(char **source_path, char **base_dir, char **pinned_image,
				 struct svc_artifact_ref **artifact, const json_t *j,
				 const char *path, struct svc_error *err);

#endif
