/*
 * base/mac.h - HMAC-SHA256 (OpenSSL's libcrypto) and secret files: what
 * the webhooks (sync/webhook.h) and the routers' peer channel
 * (router/peer.c) authenticate with.
 *
 * A MAC is checked by decoding exactly 64 hex digits to 32 bytes and
 * comparing them with CRYPTO_memcmp, whose time does not depend on where
 * they differ; stack copies are cleansed.
 */
#ifndef SVC_BASE_MAC_H
#define SVC_BASE_MAC_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define SVC_MAC_HEX_LEN 64

/* out = the 64 lowercase hex digits of HMAC-SHA256(key, data), NUL-terminated. */
bool svc_mac_hex(char out[SVC_MAC_HEX_LEN + 1], const void *key, size_t key_len,
		 const void *data, size_t data_len);
/*
 * Whether hex (exactly 64 hex digits, either case, nothing after) is the
 * HMAC-SHA256 of data under key. A NULL or malformed hex, or an empty key,
 * is false.
 */
bool svc_mac_ok(const void *key, size_t key_len, const void *data, size_t data_len,
		const char *hex);

/*
 * Read a secret from path: its bytes with one trailing newline ("\n" or
 * "\r\n") removed, at most max bytes read. *out is a NUL-terminated heap
 * copy of *len bytes: the caller clears it (explicit_bzero) and frees it.
 * Errors name the file, as "the WHAT file": SVC_ENOTFOUND when it does not
 * exist, SVC_EGENERIC when it cannot be read, is not a regular file, is
 * too large or holds an empty secret.
 */
int svc_secret_read(char **out, size_t *len, const char *path, size_t max, const char *what,
		    struct svc_error *err);

#endif
