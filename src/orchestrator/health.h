/*
 * health.h - health checks that gate every switch of traffic.
 *
 * A probe is one HTTP GET through libcurl (status within the manifest's
 * expect_status range, within timeout) or one TCP connect. Probes are
 * counted into streaks: a target becomes healthy after healthy_threshold
 * consecutive successes and unhealthy after unhealthy_threshold consecutive
 * failures. svc_health_wait gates a rollout (every target healthy within a
 * deadline); svc_health_watch bakes one (no target unhealthy for a while).
 */
#ifndef SVC_HEALTH_H
#define SVC_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "manifest.h"

struct svc_health_target {
	char name[128];      /* instance id, for messages */
	char host[48];
	int port;
	/*
	 * Optional: is the instance's process running? Used for
	 * SVC_HEALTH_RUNNING, and a target that is not alive fails its probe.
	 * It may move the target (host, port: a task replaced on another
	 * port) and say why it is not alive (last_detail).
	 */
	bool (*alive)(void *ctx, struct svc_health_target *t);
	void *ctx;
	/* Streak state, kept by the functions below. */
	int ok_streak;
	int fail_streak;
	bool healthy;
	char last_detail[256]; /* e.g. "HTTP 503", "connection refused", "timeout" */
};

/* Initialise a target (streaks zero, not healthy). */
void svc_health_target_init(struct svc_health_target *t, const char *name,
			    const char *host, int port);

/* One probe: returns true when it passed; updates streaks and detail. */
bool svc_health_probe(const struct svc_health *h, struct svc_health_target *t);

/*
 * Probe every target each interval until all are healthy (0), or until
 * timeout_ms passes (SVC_EFAILED, naming the first unhealthy target and its
 * last probe result). progress, if not NULL, is called after each round;
 * when it returns false the wait stops there (SVC_ECANCELED).
 */
int svc_health_wait(const struct svc_health *h, struct svc_health_target *t,
		    size_t n, int64_t timeout_ms,
		    bool (*progress)(void *arg, const struct svc_health_target *t, size_t n),
		    void *arg, struct svc_error *err);

/*
 * Probe every target each interval for duration_ms; returns 0 when none
 * reached unhealthy_threshold consecutive failures, else SVC_EFAILED naming
 * it. Streaks start from zero.
 */
int svc_health_watch(const struct svc_health *h, struct svc_health_target *t,
		     size_t n, int64_t duration_ms, struct svc_error *err);

#endif
