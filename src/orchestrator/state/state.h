/*
 * state.h - the state dir: per-service locks, release history, the current
 * active/warm releases, stored release manifests and the persisted rollout
 * state machine.
 *
 * Layout (folders 0700, files 0600, every write atomic):
 *   STATE/services/SERVICE/lock             flock(2) target; holder's pid and command
 *   STATE/services/SERVICE/current.json     active and warm releases
 *   STATE/services/SERVICE/history.json     every release attempt, oldest first
 *   STATE/services/SERVICE/rollout.json     the rollout in progress, if any
 *   STATE/services/SERVICE/releases/ID/manifest.yaml  the manifest as deployed
 *   STATE/services/SERVICE/releases/ID/release.json   where it came from
 *   STATE/services/SERVICE/sync.json        the last sync pass's commit and outcome
 *   STATE/services/SERVICE/suspend.json     a suspension of sync (reason, user, time)
 *   STATE/services/SERVICE/instances/...    owned by the process runtime
 *   STATE/router/...                        owned by the router
 *
 * Invariants: only the holder of a service's lock writes its files; a
 * history entry is appended before the rollout it describes starts, and
 * rollout.json is written before each step is taken.
 *
 * Loaders return the data or an error naming the file (SVC_ESTATE); a
 * missing file is SVC_ENOTFOUND with err unset. One loader per file, in
 * src/orchestrator/state/ (current.c, history.c, release.c, rollout_rec.c);
 * files.c lists every state file for tests and fuzzers. A command loads a
 * service's files once, under its lock, with svc_service_state_load.
 */
#ifndef SVC_STATE_H
#define SVC_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "manifest.h"

/* The default state dir: /var/lib/svcctl for root, else
 * $XDG_STATE_HOME/svcctl or ~/.local/state/svcctl. Caller frees. */
char *svc_state_default_dir(void);

/*
 * Create the state dir (0700) and make the path absolute. Caller frees *out.
 * Refuses (SVC_ESTATE, naming the path and the fix) a state dir, or a folder
 * in it that svcctl trusts (services/, each service's folder and its
 * instances/ and releases/ folders, router/), that is not owned by the
 * effective user or is writable by group or others: whoever can write there
 * could make svcctl signal any process.
 */
int svc_state_open(char **out, const char *state_dir, struct svc_error *err);
/* The same check alone, on an open state dir. */
int svc_state_check_perms(const char *state_dir, struct svc_error *err);

/* STATE/services/SERVICE (created with svc_state_service_mkdir). Caller frees. */
char *svc_state_service_dir(const char *state_dir, const char *service);
int svc_state_service_mkdir(const char *state_dir, const char *service,
			    struct svc_error *err);
/* Services that have a folder under STATE/services, sorted. Caller frees. */
char **svc_state_list_services(const char *state_dir);

/* An exclusive, non-blocking lock on one service's state. */
struct svc_lock {
	int fd;
};

/*
 * Take the lock (fails at once, never waits): SVC_ELOCKED with a message
 * naming the holder's pid and command when another process holds it.
 * what is recorded for others to see ("deploy", "rollback", ...).
 */
int svc_lock_take(struct svc_lock *out, const char *state_dir,
		  const char *service, const char *what, struct svc_error *err);
/*
 * The same on another lock file of the service: "build.lock" keeps builds
 * of one service apart without waiting for its deploys. label names it in
 * the message ("build lock").
 */
int svc_lock_take_file(struct svc_lock *out, const char *state_dir,
		       const char *service, const char *file, const char *label,
		       const char *what, struct svc_error *err);
/*
 * The same on the file at path (created 0600; its folder must exist):
 * SVC_ELOCKED with err left unset and holder (may be NULL when holder_len
 * is 0) filled with the holder's "pid N: what", for the caller's message.
 */
int svc_lock_take_path(struct svc_lock *out, const char *path, const char *what,
		       char *holder, size_t holder_len, struct svc_error *err);
/* Release; a no-op on a lock that is not held (fd < 0). */
void svc_lock_release(struct svc_lock *lock);

/* The format every state file is written with ("format": N). */
#define SVC_STATE_FORMAT 1

/* The active release and the warm previous one. Empty strings: none. */
struct svc_current {
	char active[65];
	char active_color[8];
	int64_t active_since_ms;
	char previous[65];
	char previous_color[8];
	int64_t previous_until_ms;   /* when the warm release stops itself */
};

/* SVC_ENOTFOUND (err unset, *out zeroed) when there is no current.json. */
int svc_current_load(struct svc_current *out, const char *state_dir,
		     const char *service, struct svc_error *err);
int svc_current_save(const struct svc_current *cur, const char *state_dir,
		     const char *service, struct svc_error *err);

/* What a history entry was, and how it ended: one name table each. */
enum svc_release_kind {
	SVC_KIND_DEPLOY = 0,
	SVC_KIND_ROLLBACK,
};

enum svc_outcome {
	SVC_OUTCOME_IN_PROGRESS = 0,
	SVC_OUTCOME_AWAITING_PROMOTION,
	SVC_OUTCOME_PROMOTED,
	SVC_OUTCOME_ABORTED,
	SVC_OUTCOME_ROLLED_BACK,   /* was active, replaced by a rollback or failed its bake */
	SVC_OUTCOME_UNKNOWN,       /* rebuilt by svcctl repair: how it ended is not known */
};

const char *svc_release_kind_name(enum svc_release_kind k);
const char *svc_outcome_name(enum svc_outcome o);
/* Name to value; -1 when the name is not one of them. */
int svc_release_kind_parse(const char *name);
int svc_outcome_parse(const char *name);

/* Where a release made by `svcctl sync` came from. */
struct svc_origin {
	char *repo;              /* --repo as given */
	char *path;              /* the manifests folder inside it */
	char commit[41];
};

struct svc_origin *svc_origin_dup(const struct svc_origin *o);
void svc_origin_free(struct svc_origin *o);

/* One release attempt (a deploy or a rollback). */
struct svc_history_entry {
	int seq;                 /* 1, 2, ... per service */
	char release[65];
	char *version;           /* may be NULL */
	char manifest_hash[65];
	enum svc_release_kind kind;
	char color[8];
	int64_t started_ms;
	int64_t finished_ms;     /* 0 while in progress */
	enum svc_outcome outcome;
	char *reason;            /* why aborted / rolled back; may be NULL */
	struct svc_artifact_ref *artifact; /* what it ran (built services); may be NULL */
	char *image;             /* the image it ran by digest, "REPO@sha256:..." ("image" in
				    the file); NULL when it ran none by digest */
	struct svc_origin *origin; /* made by sync ("sync" in the file); may be NULL */
};

struct svc_history {
	struct svc_history_entry *items;
	size_t count;
};

/*
 * SVC_ENOTFOUND (err unset, *out empty) when there is no history.json.
 * Caller releases with svc_history_release (also after an error).
 */
int svc_history_load(struct svc_history *out, const char *state_dir,
		     const char *service, struct svc_error *err);
int svc_history_save(const struct svc_history *h, const char *state_dir,
		     const char *service, struct svc_error *err);
void svc_history_release(struct svc_history *h);
/* Append a copy of e, assigning seq; returns the new entry (borrowed). */
struct svc_history_entry *svc_history_append(struct svc_history *h,
					     const struct svc_history_entry *e);
/* Entry with that seq, or NULL (borrowed). */
struct svc_history_entry *svc_history_find(struct svc_history *h, int seq);
/* Set outcome (and reason, may be NULL, copied) and finished time of entry seq. */
void svc_history_set_outcome(struct svc_history *h, int seq, enum svc_outcome outcome,
			     const char *reason);
json_t *svc_history_entry_to_json(const struct svc_history_entry *e);

/*
 * Resolve a release given by the user: a full id, a unique prefix of one
 * (at least 4 characters), or "#SEQ". Fills out (65 bytes).
 * SVC_ENOTFOUND / SVC_EUSAGE (ambiguous) with a message.
 */
int svc_history_resolve(char out[65], const struct svc_history *h,
			const char *text, struct svc_error *err);

/*
 * Store the manifest text a release was made from, the artifact it runs
 * (NULL: none) and its run.image fixed by digest (pinned_image,
 * "REPO@sha256:..."; NULL: none), and read them back.
 */
int svc_release_store(const char *state_dir, const char *service,
		      const char *release, const char *manifest_text, size_t len,
		      const char *source_path, const char *base_dir,
		      const struct svc_artifact_ref *artifact, const char *pinned_image,
		      struct svc_error *err);
/*
 * SVC_ENOTFOUND with a message when the release is not stored, SVC_ESTATE
 * when its files cannot be read. Caller frees *text, *source_path and
 * *base_dir, *artifact (may be NULL) and *pinned_image (may be NULL;
 * pinned_image itself may be NULL when not wanted).
 */
int svc_release_load(char **text, size_t *len, char **source_path,
		     char **base_dir, struct svc_artifact_ref **artifact,
		     char **pinned_image, const char *state_dir, const char *service,
		     const char *release, struct svc_error *err);
/* Stored releases of service (ids), sorted; caller frees with svc_strv_free. */
char **svc_release_list(const char *state_dir, const char *service);

/* The rollout steps, in order. Each is recorded before it is taken. */
enum svc_rollout_step {
	SVC_STEP_STARTING = 0,   /* starting green's instances */
	SVC_STEP_HEALTH,         /* waiting for green to be healthy */
	SVC_STEP_AWAIT_PROMOTE,  /* manual promotion: green healthy, on preview */
	SVC_STEP_SWITCHING,      /* pointing the route at green */
	SVC_STEP_BAKING,         /* route on green, watching it */
	SVC_STEP_DRAINING,       /* green promoted; blue draining, kept warm */
};

const char *svc_rollout_step_name(enum svc_rollout_step s);

struct svc_rollout_rec {
	enum svc_release_kind kind;
	char release[65];
	char color[8];
	int history_seq;
	enum svc_rollout_step step;
	char blue[65];           /* the release serving before; empty: none */
	char blue_color[8];
	pid_t owner_pid;         /* svcctl process driving it */
	int64_t started_ms;
	int64_t step_ms;         /* when the current step was recorded */
};

/* SVC_ENOTFOUND (err unset) when no rollout is in progress. */
int svc_rollout_rec_load(struct svc_rollout_rec *out, const char *state_dir,
			 const char *service, struct svc_error *err);
/* Sets step_ms and writes atomically. */
int svc_rollout_rec_save(struct svc_rollout_rec *rec, const char *state_dir,
			 const char *service, struct svc_error *err);
int svc_rollout_rec_clear(const char *state_dir, const char *service,
			  struct svc_error *err);

/*
 * Everything svcctl records about one service, loaded once by a command
 * under the service's lock and handed down (shared/LAYOUT.md: one
 * operation, one read). Writes go through the svc_service_state_save_* calls,
 * which keep this copy and the files the same.
 */
struct svc_service_state {
	const char *state_dir;        /* borrowed */
	char service[64];
	struct svc_current cur;
	struct svc_history hist;
	struct svc_rollout_rec rec;
	bool has_current;             /* current.json exists */
	bool has_history;             /* history.json exists */
	bool in_rollout;              /* rollout.json exists: rec is valid */
};

/*
 * Load current.json, history.json and rollout.json of service. Each file
 * that exists but cannot be read, and files that contradict each other
 * (current.json gone while history.json names releases, a rollout record
 * whose history entry is missing), are SVC_ESTATE naming the file; missing
 * files alone are not errors (see has_*). Release with
 * svc_service_state_release, also after an error.
 */
int svc_service_state_load(struct svc_service_state *out, const char *state_dir,
			   const char *service, struct svc_error *err);
void svc_service_state_release(struct svc_service_state *st);
int svc_service_state_save_current(struct svc_service_state *st, struct svc_error *err);
int svc_service_state_save_history(struct svc_service_state *st, struct svc_error *err);
/* Record rec as the rollout in progress (sets step_ms). */
int svc_service_state_save_rollout(struct svc_service_state *st, struct svc_error *err);
int svc_service_state_clear_rollout(struct svc_service_state *st, struct svc_error *err);
/* Set the outcome of history entry seq and save the history. */
int svc_service_state_set_outcome(struct svc_service_state *st, int seq,
				  enum svc_outcome outcome, const char *reason,
				  struct svc_error *err);

/* How a service's last sync pass ended (sync.json). */
enum svc_sync_outcome {
	SVC_SYNC_SYNCED = 0,   /* the commit's release is (or was made) active */
	SVC_SYNC_FAILED,       /* the commit's release failed; the old one serves */
	SVC_SYNC_INVALID,      /* the commit's manifest is invalid */
	SVC_SYNC_PRUNED,       /* not in the commit: stopped by --prune */
};

const char *svc_sync_outcome_name(enum svc_sync_outcome o);

/* STATE/services/SERVICE/sync.json, written by sync passes alone. */
struct svc_sync_rec {
	char *repo;
	char *path;
	char commit[41];            /* the commit the service was last applied (or found
				       invalid, failed, pruned) at; passes that find it in
				       sync with the same release do not rewrite it */
	char release[65];           /* that commit's release of it; "" when invalid/pruned */
	enum svc_sync_outcome outcome;
	char failed_release[65];    /* a release that failed: not tried again ("" none) */
	char failed_commit[41];     /* the commit it failed at */
	char *message;              /* why it failed / is invalid; may be NULL */
	int64_t time_ms;
};

/* SVC_ENOTFOUND (err unset) when the service was never synced. */
int svc_sync_rec_load(struct svc_sync_rec *out, const char *state_dir, const char *service,
		      struct svc_error *err);
int svc_sync_rec_save(const struct svc_sync_rec *rec, const char *state_dir,
		      const char *service, struct svc_error *err);
void svc_sync_rec_release(struct svc_sync_rec *rec);

/* STATE/services/SERVICE/suspend.json: sync leaves the service alone. */
struct svc_suspension {
	char *reason;
	char *user;
	int64_t since_ms;
};

/* SVC_ENOTFOUND (err unset) when the service is not suspended. */
int svc_suspension_load(struct svc_suspension *out, const char *state_dir,
			const char *service, struct svc_error *err);
int svc_suspension_save(const struct svc_suspension *s, const char *state_dir,
			const char *service, struct svc_error *err);
/* SVC_ENOTFOUND (err unset) when it was not suspended. */
int svc_suspension_clear(const char *state_dir, const char *service, struct svc_error *err);
void svc_suspension_release(struct svc_suspension *s);

#endif
