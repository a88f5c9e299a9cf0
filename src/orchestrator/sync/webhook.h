/*
 * sync/webhook.h - is a push webhook really from the git host? (GitOps:
 * the sync watcher's webhook endpoint.)
 *
 * GitHub (and Gitea, Forgejo, GitLab's compatible mode) sign a webhook's
 * body with a secret shared with the receiver and send
 * "X-Hub-Signature-256: sha256=HEX", HEX being the 64 hex digits of
 * HMAC-SHA256(secret, body). A request is trusted only when that header is
 * exactly right for the exact bytes received; the secret is read from a
 * file, never from the command line or the environment. Nothing here keeps
 * state: the secret is the caller's, who clears it when done.
 */
#ifndef SVC_SYNC_WEBHOOK_H
#define SVC_SYNC_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The header GitHub signs with, and the largest secret file read. */
#define SVC_WEBHOOK_SIGNATURE_HEADER "X-Hub-Signature-256"
#define SVC_WEBHOOK_SECRET_MAX 4096

/*
 * Whether header (the X-Hub-Signature-256 value: "sha256=" then exactly 64
 * hex digits, either case, nothing before or after) is the HMAC-SHA256 of
 * body (body_len bytes) under secret (secret_len bytes). The 32 decoded
 * bytes are compared in constant time (CRYPTO_memcmp). A NULL, malformed or
 * wrong header, or an empty secret, is false. Everything is borrowed.
 */
bool svc_webhook_signature_ok(const void *secret, size_t secret_len, const void *body,
			      size_t body_len, const char *header);

/*
 * Read the secret from the file path: its bytes with one trailing newline
 * ("\n" or "\r\n") removed. On success *out is a NUL-terminated heap copy
 * of *len bytes (the secret may hold other bytes, NUL included): the caller
 * clears it (explicit_bzero) and frees it with free(). On failure *out is
 * NULL and the message names the file: SVC_ENOTFOUND when it does not
 * exist, SVC_EGENERIC when it cannot be read, is not a regular file, is
 * larger than SVC_WEBHOOK_SECRET_MAX bytes or holds an empty secret.
 */
int svc_webhook_secret_read(char **out, size_t *len, const char *path, struct svc_error *err);

#endif
