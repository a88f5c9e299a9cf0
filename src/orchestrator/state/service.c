/*
 * state/service.c - one service's state, loaded once per command.
 *
 * A command takes the service's lock, loads current.json, history.json and
 * rollout.json here, and hands the struct down; each step writes through it.
 * That is what keeps a command from acting on a read that failed: there is
 * one read, and it either succeeded or the command stops with the error.
 */
#include "state/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int svc_service_state_load(struct svc_service_state *out, const char *state_dir,
			   const char *service, struct svc_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->state_dir = state_dir;
	snprintf(out->service, sizeof(out->service), "%s", service);
	rc = svc_current_load(&out->cur, state_dir, service, err);
	if (rc && rc != SVC_ENOTFOUND)
		return rc;
	out->has_current = rc == 0;
	rc = svc_history_load(&out->hist, state_dir, service, err);
	if (rc && rc != SVC_ENOTFOUND)
		return rc;
	out->has_history = rc == 0;
	rc = svc_rollout_rec_load(&out->rec, state_dir, service, err);
	if (rc && rc != SVC_ENOTFOUND)
		return rc;
	out->in_rollout = rc == 0;

	/* a release that was ever active was recorded in current.json */
	for (size_t i = 0; !out->has_current && i < out->hist.count; i++)
		if (out->hist.items[i].outcome == SVC_OUTCOME_PROMOTED ||
		    out->hist.items[i].outcome == SVC_OUTCOME_ROLLED_BACK)
			return svc_error_set(err, SVC_ESTATE,
				"%s/services/%s/current.json: missing, but history.json records "
				"release #%d (%.12s) as %s", state_dir, service,
				out->hist.items[i].seq, out->hist.items[i].release,
				svc_outcome_name(out->hist.items[i].outcome));
	if (!out->has_history && (out->cur.active[0] || out->cur.previous[0] || out->in_rollout))
		return svc_error_set(err, SVC_ESTATE,
			"%s/services/%s/history.json: missing, but %s names release %.12s",
			state_dir, service, out->in_rollout ? "rollout.json" : "current.json",
			out->in_rollout ? out->rec.release
			: out->cur.active[0] ? out->cur.active : out->cur.previous);
	/* the outcome is set after rollout.json is written, and cleared after it */
	if (!out->in_rollout && out->hist.count &&
	    out->hist.items[out->hist.count - 1].outcome == SVC_OUTCOME_AWAITING_PROMOTION)
		return svc_error_set(err, SVC_ESTATE,
			"%s/services/%s/rollout.json: missing, but history.json says release "
			"#%d (%.12s) awaits promotion", state_dir, service,
			out->hist.items[out->hist.count - 1].seq,
			out->hist.items[out->hist.count - 1].release);
	if (out->in_rollout && !svc_history_find(&out->hist, out->rec.history_seq))
		return svc_error_set(err, SVC_ESTATE,
			"%s/services/%s/rollout.json: its history entry #%d is not in history.json",
			state_dir, service, out->rec.history_seq);
	return 0;
}

void svc_service_state_release(struct svc_service_state *st)
{
	svc_history_release(&st->hist);
	st->in_rollout = false;
}

int svc_service_state_save_current(struct svc_service_state *st, struct svc_error *err)
{
	int rc = svc_current_save(&st->cur, st->state_dir, st->service, err);

	if (!rc)
		st->has_current = true;
	return rc;
}

int svc_service_state_save_history(struct svc_service_state *st, struct svc_error *err)
{
	int rc = svc_history_save(&st->hist, st->state_dir, st->service, err);

	if (!rc)
		st->has_history = true;
	return rc;
}

int svc_service_state_save_rollout(struct svc_service_state *st, struct svc_error *err)
{
	int rc = svc_rollout_rec_save(&st->rec, st->state_dir, st->service, err);

	if (!rc)
		st->in_rollout = true;
	return rc;
}

int svc_service_state_clear_rollout(struct svc_service_state *st, struct svc_error *err)
{
	int rc = svc_rollout_rec_clear(st->state_dir, st->service, err);

	if (!rc) {
		st->in_rollout = false;
		memset(&st->rec, 0, sizeof(st->rec));
	}
	return rc;
}

int svc_service_state_set_outcome(struct svc_service_state *st, int seq,
				  enum svc_outcome outcome, const char *reason,
				  struct svc_error *err)
{
	svc_history_set_outcome(&st->hist, seq, outcome, reason);
	return svc_service_state_save_history(st, err);
}
