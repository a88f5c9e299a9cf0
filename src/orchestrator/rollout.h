/*
 * rollout.h - blue/green rollouts as a persisted state machine.
 *
 * A deploy starts the new release ("green") beside the serving one
 * ("blue"), waits until every replica of green is healthy, optionally waits
 * for a manual promotion, switches the route, bakes (green watched; unhealthy
 * means switch back), and keeps blue warm for keep_previous so that rollback
 * is a route switch. Each step is recorded in rollout.json (state.h) before
 * it is taken; svc_rollout_recover finishes or undoes a rollout whose
 * svcctl died, so blue keeps serving whatever happens.
 *
 * Every public function here takes the service's lock itself (SVC_ELOCKED
 * when another operation holds it) and recovers an interrupted rollout
 * first. Return codes: 0; SVC_EFAILED when the operation failed and the
 * previous release still serves; SVC_EMANIFEST; SVC_ELOCKED; SVC_EUNAVAIL
 * when the runtime or router cannot be reached; SVC_ENOTFOUND; SVC_EUSAGE.
 */
#ifndef SVC_ROLLOUT_H
#define SVC_ROLLOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "manifest.h"
#include "report.h"
#include "runtime/driver.h"

/* What every operation needs; all borrowed. */
struct svc_ctx {
	const char *state_dir;   /* absolute, created */
	const char *self_exe;    /* the svcctl binary (supervisors, router) */
	struct svc_report *report;
};

struct svc_origin;
/*
 * Asked after each round of health checks while a deploy waits for green
 * (from the deploying thread): true stops the wait, and green is undone as
 * after a failed gate (blue keeps serving) with why as the history's
 * reason ("superseded by COMMIT12"); the deploy returns SVC_EFAILED with
 * res->cancelled set.
 */
struct svc_deploy_cancel {
	bool (*cancelled)(void *arg, const char *service, const char *release, char *why,
			  size_t why_len);
	void *arg;
};

struct svc_deploy_opts {
	int64_t timeout_ms;      /* overall limit on waiting for health; 0 = none */
	const struct svc_origin *origin; /* recorded in the history entry (sync); may be NULL */
	const struct svc_deploy_cancel *cancel; /* may be NULL */
};

/* What an operation did; filled on success and on SVC_EFAILED. */
struct svc_rollout_result {
	char service[64];
	char release[65];        /* the release now active (or the one attempted) */
	char color[8];
	char previous[65];       /* the release it replaced, empty when none */
	bool noop;               /* nothing to do: already active / awaiting promotion */
	bool awaiting_promotion; /* manual promotion: green is healthy, not switched */
	bool cancelled;          /* the health wait was cancelled (svc_deploy_cancel) */
	bool instant;            /* rollback by route switch alone */
	int64_t switch_ms;       /* svcctl's own time to switch the route, -1 if none */
	int64_t runtime_ms;      /* time spent waiting for the runtime (docker: the
				    engine's API calls), -1 when it does not say */
	int history_seq;
	char artifact[65];       /* the artifact the release runs; empty without a build */
	char recovered[512];     /* what recovery did first, if anything */
};

/*
 * The id of the release m describes before it is built (svc_manifest_release_id
 * after svc_workdir_identify: the content of the folder a process runs in is
 * part of it). SVC_EFAILED when that folder cannot be read.
 */
int svc_rollout_release_id(struct svc_manifest *m, char rid[65], struct svc_error *err);

/*
 * Deploy the manifest at path (already validated by the caller, who passes
 * the release id it expects; the file is read again, stored with the
 * release, and must still have that id). A release that is active already
 * is left as it is unless instances of it are missing or fail their health
 * check: the unhealthy are stopped, and the missing started and gated.
 */
int svc_rollout_deploy(struct svc_ctx *ctx, const char *path,
		       const char *expect_release,
		       const struct svc_deploy_opts *opts,
		       struct svc_rollout_result *res, struct svc_error *err);

/* Promote the release awaiting manual promotion. */
int svc_rollout_promote(struct svc_ctx *ctx, const char *service,
			struct svc_rollout_result *res, struct svc_error *err);

/*
 * Roll back to release `to` (id prefix or #SEQ; NULL: the last release that
 * was promoted before the active one). Instant while it is warm and
 * healthy; otherwise started again behind the health gate.
 */
int svc_rollout_rollback(struct svc_ctx *ctx, const char *service,
			 const char *to, const struct svc_deploy_opts *opts,
			 struct svc_rollout_result *res, struct svc_error *err);

/* Stop every instance of service and remove its routes; history is kept. */
int svc_rollout_stop(struct svc_ctx *ctx, const char *service,
		     struct svc_error *err);


/*
 * Load service's state (svc_service_state_load) as every command does:
 * unreadable state is SVC_ESTATE naming the file and `svcctl repair`; a
 * missing current.json while a runtime runs instances of the service is
 * unreadable state too. Release st with svc_service_state_release.
 */
struct svc_service_state;
int svc_rollout_load_state(struct svc_ctx *ctx, const char *service,
			   struct svc_service_state *st, struct svc_error *err);

/*
 * Open the runtime st's releases use: that of the active, in-rollout, warm
 * or newest release's stored manifest; with none stored, one that runs
 * instances of the service; else the process runtime. Caller frees *out
 * with svc_runtime_free.
 */
int svc_rollout_open_runtime(struct svc_runtime **out, struct svc_ctx *ctx,
			     const struct svc_service_state *st, struct svc_error *err);

/*
 * With no usable record of service: a runtime that runs instances of it
 * (the Docker engine, asked by label, when one answers; else the process
 * runtime's folders), and how many. *out NULL (and 0 returned) when none
 * does; caller frees *out with svc_runtime_free.
 */
int svc_rollout_runtime_with_instances(struct svc_runtime **out, struct svc_ctx *ctx,
				       const char *service, size_t *count);

/*
 * Every service svcctl knows of: those with state under the state dir, and
 * those whose containers a Docker engine that answers holds for this state
 * dir (found by label, even with the state dir deleted). Sorted,
 * NULL-terminated; caller frees with svc_strv_free.
 */
char **svc_rollout_services(struct svc_ctx *ctx);

/*
 * The routing table as the services' state says it should be, in the
 * format of STATE/router/routes.json (*out malloc'd): for each service
 * whose active release has a route, its listen address pointed at the
 * active release's running instances (and a preview at a green awaiting
 * promotion). Read without the services' locks; a service whose state
 * cannot be read gets no route. The router's hook for a routes.json it
 * cannot parse.
 */
int svc_rollout_route_table(struct svc_ctx *ctx, char **out, struct svc_error *err);

/*
 * Finish or undo an interrupted rollout of service and stop orphaned
 * instances. Takes the lock; returns SVC_ELOCKED when it is held. what (may
 * be NULL) receives a sentence on what was done ("" when nothing).
 */
int svc_rollout_recover(struct svc_ctx *ctx, const char *service,
			char *what, size_t what_len, struct svc_error *err);

/*
 * What runs of service, for a plan (read without the lock; nothing is
 * recovered or changed): its active release, whether a rollout is in
 * progress, how many of the active release's instances run against its
 * replicas, how many of those fail their health check (probed now, as a
 * bake judges: unhealthy_threshold failures in a row), and whether the
 * router serves its route from them (true when it has no route). why says
 * what is wrong, "" when nothing is.
 */
struct svc_rollout_view {
	char active[65];         /* "" when none */
	bool in_rollout;
	bool awaiting_promotion; /* the rollout waits for `svcctl promote` */
	char rollout_release[65];
	size_t up;
	size_t unhealthy;        /* of up, failing their health check */
	int replicas;
	bool has_route;
	bool route_ok;
	char why[600];
};
int svc_rollout_inspect(struct svc_ctx *ctx, const char *service,
			struct svc_rollout_view *out, struct svc_error *err);

/*
 * The status of one service as JSON: active and warm releases, the rollout
 * in progress, instances (pid, port, state, health, restarts) and routes
 * (backends, live connections). Recovers first when the lock is free.
 * Caller owns *out.
 */
int svc_rollout_status(struct svc_ctx *ctx, const char *service, json_t **out,
		       struct svc_error *err);

#endif
