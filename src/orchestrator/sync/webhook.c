/*
 * sync/webhook.c - the X-Hub-Signature-256 check of sync/webhook.h, with
 * base/mac.h.
 *
 * The header's shape is checked strictly (one spelling of the prefix, then
 * exactly 64 hex digits, nothing after) and its digest compared with our
 * own in constant time (base/mac.h): comparing the hex text with strcmp
 * would tell an attacker, by timing, how many leading digits of a forgery
 * are right.
 */
#include "sync/webhook.h"

#include <string.h>

#include "base/mac.h"

#define PREFIX "sha256="

bool svc_webhook_signature_ok(const void *secret, size_t secret_len, const void *body,
			      size_t body_len, const char *header)
{
	return header && !strncmp(header, PREFIX, strlen(PREFIX)) &&
	       svc_mac_ok(secret, secret_len, body, body_len, header + strlen(PREFIX));
}

int svc_webhook_secret_read(char **out, size_t *len, const char *path, struct svc_error *err)
{
	return svc_secret_read(out, len, path, SVC_WEBHOOK_SECRET_MAX, "webhook secret", err);
}
