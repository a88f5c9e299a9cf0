/*
 * sync/plan.c - what a sync pass does to each service, and in which order:
 * pure functions over what the pass found, so that tests can drive them.
 */
#include "sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const action_names[] = {
	[SVC_SYNC_ACT_DEPLOY] = "deploy",
	[SVC_SYNC_ACT_HEAL] = "heal",
	[SVC_SYNC_ACT_PRUNE] = "prune",
	[SVC_SYNC_ACT_IN_SYNC] = "in-sync",
	[SVC_SYNC_ACT_SUSPENDED] = "suspended",
	[SVC_SYNC_ACT_FAILED] = "failed",
	[SVC_SYNC_ACT_INVALID] = "invalid",
};

static const char *const done_names[] = {
	[SVC_SYNC_REPORTED] = "reported",
	[SVC_SYNC_DEPLOYED] = "deployed",
	[SVC_SYNC_HEALED] = "healed",
	[SVC_SYNC_DONE_PRUNED] = "pruned",
	[SVC_SYNC_LEFT_IN_SYNC] = "in-sync",
	[SVC_SYNC_LEFT_SUSPENDED] = "suspended",
	[SVC_SYNC_DONE_FAILED] = "failed",
	[SVC_SYNC_DONE_INVALID] = "invalid",
	[SVC_SYNC_SUPERSEDED] = "superseded",
};

#define NAMES(t) (sizeof(t) / sizeof((t)[0]))

const char *svc_sync_action_name(enum svc_sync_action a)
{
	return (size_t)a < NAMES(action_names) ? action_names[a] : "unknown";
}

const char *svc_sync_done_name(enum svc_sync_done d)
{
	return (size_t)d < NAMES(done_names) ? done_names[d] : "unknown";
}

#define WHY(...) do { if (why) snprintf(why, why_len, __VA_ARGS__); } while (0)

enum svc_sync_action svc_sync_plan_one(const struct svc_sync_plan_in *in, char *why,
				       size_t why_len)
{
	const struct svc_rollout_view *v = in->view;
	const char *active = v ? v->active : "";

	if (why && why_len)
		why[0] = '\0';
	if (!in->in_commit) {
		WHY("in the state, not in the commit%s", active[0] ? "" : " (nothing active)");
		return SVC_SYNC_ACT_PRUNE;
	}
	if (!in->valid)
		return SVC_SYNC_ACT_INVALID;
	if (in->suspended) {
		WHY("suspended");
		return SVC_SYNC_ACT_SUSPENDED;
	}
	if (!in->retry && in->failed_release && in->failed_release[0] &&
	    !strcmp(in->failed_release, in->release)) {
		WHY("release %.12s failed before; not tried again until a commit changes the "
		    "service (or --retry)", in->release);
		return SVC_SYNC_ACT_FAILED;
	}
	/* (a rollout at another step is deployed again: the deploy waits for
	 * nobody, and finishes or undoes one whose svcctl died first) */
	if (v && v->awaiting_promotion && !strcmp(v->rollout_release, in->release)) {
		WHY("release %.12s awaits promotion ('svcctl promote')", in->release);
		return SVC_SYNC_ACT_IN_SYNC;
	}
	if (strcmp(active, in->release)) {
		if (active[0])
			WHY("release %.12s (active: %.12s)", in->release, active);
		else
			WHY("release %.12s (nothing active)", in->release);
		return SVC_SYNC_ACT_DEPLOY;
	}
	if (v->up < (size_t)v->replicas) {
		WHY("release %.12s: %zu of %d instances run", in->release, v->up, v->replicas);
		return SVC_SYNC_ACT_HEAL;
	}
	if (v->unhealthy) {
		WHY("release %.12s: %s", in->release, v->why[0] ? v->why : "an instance is unhealthy");
		return SVC_SYNC_ACT_HEAL;
	}
	if (!v->route_ok) {
		WHY("release %.12s: %s", in->release, v->why[0] ? v->why : "the route is off");
		return SVC_SYNC_ACT_HEAL;
	}
	WHY("release %.12s", in->release);
	return SVC_SYNC_ACT_IN_SYNC;
}

static ptrdiff_t find_service(struct svc_manifest *const *ms, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ms[i]->service, name))
			return (ptrdiff_t)i;
	return -1;
}

/* Whether ms[i] requires ms[j]. */
static bool requires(struct svc_manifest *const *ms, size_t i, size_t j)
{
	for (size_t k = 0; k < ms[i]->api.nrequires; k++)
		if (!strcmp(ms[i]->api.requires[k].service, ms[j]->service))
			return true;
	return false;
}

/* Follow requirements from start among the unplaced until one repeats: the cycle. */
static void name_cycle(struct svc_manifest *const *ms, size_t n, const bool *placed,
		       size_t start, char *cycle, size_t cycle_len)
{
	size_t *path = svc_calloc(n + 1, sizeof(*path)), len = 0, cur = start;
	bool found = false;

	while (!found && len <= n) {
		path[len++] = cur;
		for (size_t j = 0; j < n; j++)
			if (!placed[j] && requires(ms, cur, j)) {
				cur = j;
				break;
			}
		for (size_t k = 0; k < len && !found; k++)
			if (path[k] == cur) {
				/* the cycle is path[k..len) back to cur */
				size_t at = 0;
				cycle[0] = '\0';
				for (size_t m = k; m < len; m++)
					at += (size_t)snprintf(cycle + (at < cycle_len ? at : cycle_len),
							       at < cycle_len ? cycle_len - at : 0,
							       "%s -> ", ms[path[m]]->service);
				snprintf(cycle + (at < cycle_len ? at : cycle_len),
					 at < cycle_len ? cycle_len - at : 0, "%s",
					 ms[cur]->service);
				found = true;
			}
	}
	free(path);
}

int svc_sync_order(struct svc_manifest *const *ms, size_t n, size_t *order,
		   bool *in_cycle, char *cycle, size_t cycle_len)
{
	bool *placed = svc_calloc(n + 1, sizeof(*placed));
	size_t done = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		in_cycle[i] = false;
	/* Kahn's algorithm, in the given order among the ready ones */
	while (done < n) {
		bool progress = false;
		for (size_t i = 0; i < n; i++) {
			bool ready = !placed[i];
			for (size_t k = 0; ready && k < ms[i]->api.nrequires; k++) {
				ptrdiff_t j = find_service(ms, n, ms[i]->api.requires[k].service);
				if (j >= 0 && (size_t)j != i && !placed[j])
					ready = false;
			}
			if (ready) {
				placed[i] = true;
				order[done++] = i;
				progress = true;
			}
		}
		if (progress)
			continue;
		/* what is left is on a cycle or behind one */
		rc = SVC_EMANIFEST;
		for (size_t i = 0; i < n; i++)
			if (!placed[i]) {
				if (cycle && cycle_len && done < n && !in_cycle[0] && rc) {
					name_cycle(ms, n, placed, i, cycle, cycle_len);
					cycle = NULL;
				}
				in_cycle[i] = true;
				placed[i] = true;
				order[done++] = i;
			}
	}
	free(placed);
	return rc;
}
