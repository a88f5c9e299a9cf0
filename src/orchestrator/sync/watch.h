/*
 * sync/watch.h - the sync watcher: a long-running loop of sync passes.
 *
 * A pass runs at start, then every interval, at once on request (a byte on
 * control_fd, which svcctl writes on SIGHUP) and on a push webhook
 * (POST /hooks/git, signed as GitHub signs: X-Hub-Signature-256, HMAC-SHA256
 * over the raw body); requests that come while a pass runs are coalesced
 * with it. While a pass runs the watcher keeps fetching (every
 * peek_interval, or at once on a request): a newer commit that makes
 * another release of a service cancels the wait for that service's green
 * (green undone, blue serving, history "superseded by COMMIT12") and the
 * next pass, at once, applies it. A stop request lets the rollout in flight
 * finish or be undone (a green still gated is undone), then returns.
 * STATE/sync/watch.json keeps the last pass's result for `svcctl status`;
 * STATE/sync/watch.lock keeps a second watcher of the state dir out.
 */
#ifndef SVC_SYNC_WATCH_H
#define SVC_SYNC_WATCH_H

#include <stdint.h>

#include "error.h"
#include "sync/sync.h"

/* Bytes for control_fd. */
#define SVC_WATCH_PASS 'p'
#define SVC_WATCH_STOP 's'

/* The largest webhook body taken (GitHub caps push payloads at 25 MB, but
 * a push of a few commits is a few KiB). */
#define SVC_WATCH_MAX_BODY (1024 * 1024)

struct svc_sync_watch_opts {
	int64_t interval_ms;       /* between passes; <= 0: 60 s */
	int64_t peek_interval_ms;  /* fetches while a pass runs; <= 0: 2 s */
	const char *listen;        /* the webhook endpoint's address; NULL: none */
	const char *secret_file;   /* the webhook secret; needed unless listen is loopback */
	int control_fd;            /* SVC_WATCH_PASS / SVC_WATCH_STOP bytes; -1: none */
};

/*
 * What a pass did, for the caller to show (rc and err: the pass could not
 * run). Returns the pass's exit status, which watch.json records.
 */
typedef int (*svc_sync_watch_pass_fn)(void *arg, const struct svc_sync_pass *p, int rc,
				      const struct svc_error *err);

/*
 * Run the watcher until a stop request: 0 then. Errors before the first
 * pass (another watcher: SVC_ELOCKED; a bad address, a non-loopback one
 * without a secret, an unreadable secret: SVC_EUSAGE; an address that
 * cannot be listened on: SVC_EGENERIC) return at once, with nothing run.
 * A pass that fails (an unreachable repository, say) is reported through
 * on_pass and the watcher goes on.
 */
int svc_sync_watch(struct svc_ctx *ctx, const struct svc_sync_source *src,
		   const struct svc_sync_opts *o, const struct svc_sync_watch_opts *w,
		   svc_sync_watch_pass_fn on_pass, void *arg, struct svc_error *err);

/*
 * What status shows of the watcher: "last pass TIME: commit C12, exit N
 * (counts)" from STATE/sync/watch.json, with "(watcher pid P not running)"
 * when its process is gone; "" when no watcher ever ran. An unreadable
 * file is named.
 */
void svc_sync_watch_status_text(struct svc_ctx *ctx, char *out, size_t len);

/* The same as JSON (NULL when no watcher ever ran); caller owns it. */
json_t *svc_sync_watch_status_json(struct svc_ctx *ctx);

#endif
