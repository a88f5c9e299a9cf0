/*
 * hash.c - SHA-256 through libcrypto's EVP interface, so that the build
 * hashes contexts at hardware speed (SHA-NI where the CPU has it) instead of
 * a hand-written loop.
 */
#include "hash.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct svc_hash {
	EVP_MD_CTX *ctx;
};

struct svc_hash *svc_hash_new(void)
{
	struct svc_hash *h = calloc(1, sizeof(*h));

	if (!h || !(h->ctx = EVP_MD_CTX_new()) ||
	    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		fputs("svcctl: cannot initialise sha256\n", stderr);
		abort();
	}
	return h;
}

void svc_hash_update(struct svc_hash *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void svc_hash_update_str(struct svc_hash *h, const char *s)
{
	uint64_t n = s ? strlen(s) : UINT64_MAX;
	unsigned char len[8];

	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(n >> (8 * i));
	svc_hash_update(h, len, sizeof(len));
	if (s)
		svc_hash_update(h, s, (size_t)n);
}

void svc_hash_final_hex(struct svc_hash *h, char out[SVC_HASH_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_DigestFinal_ex(h->ctx, md, &mdlen);
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[SVC_HASH_HEX_LEN] = '\0';
}

void svc_hash_free(struct svc_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void svc_sha256_hex(char out[SVC_HASH_HEX_LEN + 1], const void *data, size_t len)
{
	struct svc_hash *h = svc_hash_new();

	svc_hash_update(h, data, len);
	svc_hash_final_hex(h, out);
	svc_hash_free(h);
}
