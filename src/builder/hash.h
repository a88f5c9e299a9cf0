/*
 * hash.h - SHA-256 over byte streams, through OpenSSL's libcrypto (EVP).
 *
 * Used for release ids (the hash of a fully resolved manifest) and, by the
 * builder, for artifact ids. Hex digests are 64 lowercase characters; short
 * ids are their first SVC_SHORT_ID_LEN characters.
 */
#ifndef SVC_HASH_H
#define SVC_HASH_H

#include <stddef.h>

#define SVC_HASH_HEX_LEN 64
#define SVC_SHORT_ID_LEN 12

struct svc_hash;

/* Caller frees with svc_hash_free. Aborts when out of memory. */
struct svc_hash *svc_hash_new(void);
void svc_hash_update(struct svc_hash *h, const void *data, size_t len);
/* Adds a length-prefixed string, so that ("ab","c") and ("a","bc") differ. */
void svc_hash_update_str(struct svc_hash *h, const char *s);
/* Writes 64 hex characters and a NUL into out (at least 65 bytes). */
void svc_hash_final_hex(struct svc_hash *h, char out[SVC_HASH_HEX_LEN + 1]);
void svc_hash_free(struct svc_hash *h);

/* One-shot convenience. */
void svc_sha256_hex(char out[SVC_HASH_HEX_LEN + 1], const void *data, size_t len);

#endif
