/*
 * sync/sync.h - GitOps: apply the manifests of a git commit, per service.
 *
 * One pass (svc_sync_run):
 *   1. fetch the repository into STATE/sync/repos/KEY.git (base/git) and
 *      resolve the ref (default: the remote's HEAD branch) to a commit;
 *   2. with a keyring, require a good signature by one of its keys
 *      (sync/verify.h);
 *   3. export the commit's tree to STATE/sync/trees/COMMIT (read-only, one
 *      folder per commit, kept while a stored release needs it);
 *   4. load every manifest under the path; errors read
 *      "PATH@COMMIT12:line:col: message"; a manifest that is a symlink, or
 *      whose build.context or run.workdir, leaves the repository is
 *      invalid;
 *   5. plan per service (svc_sync_plan_one) against its state, the
 *      instances the runtime reports and the router's table;
 *   6. apply (not for diff) in api.requires order, providers first, up to
 *      jobs services at a time, each as `svcctl deploy` does under the
 *      service's own lock. A failure is that service's alone.
 *   7. record per service the commit and outcome (STATE/services/S/sync.json);
 *      a release that failed is not tried again until the commit's release
 *      of that service changes, or retry.
 * Passes (and diffs, which fetch into the same cache) of one state dir
 * exclude each other: STATE/sync/pass.lock, never waited for (SVC_ELOCKED).
 */
#ifndef SVC_SYNC_H
#define SVC_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "manifest.h"
#include "rollout.h"

struct svc_sync_source {
	const char *repo;        /* a URL or a path (relative to the working folder) */
	const char *ref;         /* branch, tag or commit; NULL: the remote's HEAD branch */
	const char *path;        /* the manifests folder in the repository; NULL: "manifests" */
	const char *keyring;     /* trusted OpenPGP keys; NULL: signatures not checked */
};

/* What a pass would do to one service: one name table (svc_sync_action_name). */
enum svc_sync_action {
	SVC_SYNC_ACT_DEPLOY = 0,   /* a new or changed release */
	SVC_SYNC_ACT_HEAL,         /* the right release, but instances or the route are off */
	SVC_SYNC_ACT_PRUNE,        /* in the state, not in the commit */
	SVC_SYNC_ACT_IN_SYNC,
	SVC_SYNC_ACT_SUSPENDED,
	SVC_SYNC_ACT_FAILED,       /* this release failed before: not tried again */
	SVC_SYNC_ACT_INVALID,
};

/* What the pass did (svc_sync_done_name). */
enum svc_sync_done {
	SVC_SYNC_REPORTED = 0,     /* diff, or prune without --prune */
	SVC_SYNC_DEPLOYED,
	SVC_SYNC_HEALED,
	SVC_SYNC_DONE_PRUNED,
	SVC_SYNC_LEFT_IN_SYNC,
	SVC_SYNC_LEFT_SUSPENDED,
	SVC_SYNC_DONE_FAILED,
	SVC_SYNC_DONE_INVALID,
	SVC_SYNC_SUPERSEDED,       /* stopped for a newer commit (or a shutdown): no
				    * verdict on the release, nothing recorded */
};

const char *svc_sync_action_name(enum svc_sync_action a);
const char *svc_sync_done_name(enum svc_sync_done d);

/* The plan's inputs for one service. */
struct svc_sync_plan_in {
	bool in_commit;            /* a manifest in the commit names it */
	bool valid;                /* ... and it is valid */
	bool suspended;
	bool retry;
	const char *release;       /* the commit's release of it ("" when invalid) */
	const char *failed_release;/* sync.json's: the release that failed ("" none) */
	const struct svc_rollout_view *view; /* what runs; NULL: nothing recorded */
};

/* The action for one service; why (may be NULL) gets a short detail. */
enum svc_sync_action svc_sync_plan_one(const struct svc_sync_plan_in *in, char *why,
				       size_t why_len);

/*
 * Order services so that each comes after those it requires (api.requires
 * naming another of them; names outside the set are ignored). order gets n
 * indexes. Returns 0, or SVC_EMANIFEST when requirements form a cycle:
 * in_cycle[i] is set for each service on one, and cycle (may be NULL) names
 * one ("a -> b -> a").
 */
int svc_sync_order(struct svc_manifest *const *ms, size_t n, size_t *order,
		   bool *in_cycle, char *cycle, size_t cycle_len);

struct svc_sync_item {
	char service[64];
	enum svc_sync_action action;
	enum svc_sync_done done;
	char release[65];          /* the commit's release; "" when invalid or pruned */
	char active[65];           /* what was active before the pass; "" none */
	char *detail;              /* a sentence; never NULL */
	char **errors;             /* NULL-terminated, for invalid ones; may be NULL */
	int rc;                    /* the apply's return code, 0 when fine */
	struct svc_manifest *m;    /* borrowed from the pass; NULL when invalid/pruned */
	bool unnamed;              /* an invalid file whose service is not known,
				    * listed under its file's name (no record kept) */
	bool held;                 /* a prune only reported: a manifest of the commit
				    * is invalid and its service unknown */
	/* internal: its sync.json as the plan read it */
	bool rec_synced;           /* synced with this release, nothing failed */
	char rec_failed_release[65];
	char rec_failed_commit[41];
};

struct svc_sync_pass {
	char commit[41];
	char *repo;                /* as given */
	char *path;
	bool applied;              /* a sync, not a diff */
	struct svc_sync_item *items;   /* sorted by service */
	size_t count;
	/* internal */
	struct svc_manifest_set set;
};

struct svc_sync_opts {
	bool apply;                /* false: diff */
	bool prune;
	bool retry;
	int jobs;                  /* services applied at a time; <= 0: 2 */
	char *const *services;     /* limit to these (NULL: all) */
	size_t nservices;
	/* asked before each service is applied and while its green is gated
	 * (svc_deploy_cancel): true leaves it SVC_SYNC_SUPERSEDED; may be NULL */
	const struct svc_deploy_cancel *cancel;
	/* called once the ref is resolved, before anything is applied; may be NULL */
	void (*resolved)(void *arg, const char *commit);
	void *hook_arg;
};

/*
 * One pass (or, without apply, its plan). Returns 0 when the pass ran,
 * whatever became of each service (see the items and svc_sync_exit); else
 * SVC_EUNAVAIL (repository unreachable), SVC_ENOTFOUND (ref or path not in
 * it), SVC_EMANIFEST (signature refused), SVC_ELOCKED (another pass),
 * SVC_EUSAGE, SVC_EGENERIC, with nothing changed. Release *out with
 * svc_sync_pass_release in every case.
 */
int svc_sync_run(struct svc_ctx *ctx, const struct svc_sync_source *src,
		 const struct svc_sync_opts *opts, struct svc_sync_pass *out,
		 struct svc_error *err);
void svc_sync_pass_release(struct svc_sync_pass *p);

/*
 * For the watcher while a pass runs: fetch src and, when its ref names a
 * commit other than skip, the release each valid manifest of that commit
 * makes, as a pass would plan it (signature checked first, with a keyring).
 * out->commit is "" when the ref still names skip. Takes no lock (the
 * running pass holds the pass lock; a peek writes only the fetch cache and
 * the commit's export) and reports nothing. Release out with
 * svc_sync_peek_release in every case.
 */
struct svc_sync_peek {
	char commit[41];
	size_t count;
	char (*services)[64];
	char (*releases)[65];
};
int svc_sync_peek(struct svc_ctx *ctx, const struct svc_sync_source *src, const char *skip,
		  struct svc_sync_peek *out, struct svc_error *err);
/* The release peek found for service; NULL when the commit has none valid. */
const char *svc_sync_peek_release_of(const struct svc_sync_peek *p, const char *service);
void svc_sync_peek_release(struct svc_sync_peek *p);

/*
 * A pass's library return code for its exit status: the worst per service
 * (SVC_EUNAVAIL > SVC_EMANIFEST > SVC_EFAILED > 0). For a diff: SVC_EMANIFEST
 * when a manifest is invalid, SVC_EFAILED (exit 1) when anything would
 * change, else 0.
 */
int svc_sync_exit(const struct svc_sync_pass *p);

/* Suspend service (reason, the user, now) / lift it (SVC_ENOTFOUND when not suspended). */
int svc_sync_suspend(struct svc_ctx *ctx, const char *service, const char *reason,
		     struct svc_error *err);
int svc_sync_unsuspend(struct svc_ctx *ctx, const char *service, struct svc_error *err);

/*
 * What status shows of service's sync: "synced COMMIT12", "out-of-sync",
 * "failed at COMMIT12" or "suspended: REASON (USER, TIME)"; "" when the
 * service was never synced nor suspended.
 */
void svc_sync_status_text(struct svc_ctx *ctx, const char *service, const char *active,
			  char *out, size_t len);

/*
 * svcctl gc's part for sync: delete STATE/sync/trees/COMMIT folders that no
 * kept release (svc_gc_kept_releases) runs from, adding each to result's
 * "deleted" ({"kind": "sync-tree", "commit", "bytes"}) and "freed_bytes".
 * Nothing is deleted while a pass runs, or while a service's state cannot
 * be read (a warning says so).
 */
int svc_sync_gc(struct svc_ctx *ctx, int keep, bool dry_run, json_t *result);

#endif
