/*
 * sync/webhook.c - the X-Hub-Signature-256 check of sync/webhook.h, with
 * OpenSSL's libcrypto.
 *
 * The header is decoded to 32 bytes first and its shape checked strictly
 * (one spelling of the prefix, exactly 64 hex digits, nothing after), then
 * compared with our own HMAC by CRYPTO_memcmp, whose time does not depend
 * on where the bytes differ: comparing the hex text with strcmp would tell
 * an attacker, by timing, how many leading digits of a forgery are right.
 * Stack copies of the digests are cleansed before returning.
 */
#include "sync/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PREFIX "sha256="
#define DIGEST_LEN 32

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly 2 * len hex digits of hex (either case) into out; -1 unless that is all of hex. */
static int hex_decode(unsigned char *out, size_t len, const char *hex)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value(hex[2 * i]), lo;

		if (hi < 0)
			return -1;
		lo = hex_value(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[2 * len] == '\0' ? 0 : -1;
}

bool svc_webhook_signature_ok(const void *secret, size_t secret_len, const void *body,
			      size_t body_len, const char *header)
{
	unsigned char want[DIGEST_LEN], got[EVP_MAX_MD_SIZE];
	unsigned int got_len = 0;
	bool ok = false;

	if (!header || !secret || !secret_len || (!body && body_len) ||
	    strncmp(header, PREFIX, strlen(PREFIX)) != 0 ||
	    hex_decode(want, sizeof(want), header + strlen(PREFIX)))
		goto done;
	if (secret_len > (size_t)INT_MAX ||
	    !HMAC(EVP_sha256(), secret, (int)secret_len, body ? body : (const void *)"",
		  body_len, got, &got_len) ||
	    got_len != DIGEST_LEN)
		goto done;
	ok = CRYPTO_memcmp(want, got, DIGEST_LEN) == 0;
done:
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

int svc_webhook_secret_read(char **out, size_t *len, const char *path, struct svc_error *err)
{
	char *buf = NULL;
	size_t n = 0, read_len;
	int rc;

	*out = NULL;
	*len = 0;
	rc = svc_file_read(&buf, &n, path, SVC_WEBHOOK_SECRET_MAX, err);
	if (rc)
		return rc;
	read_len = n;
	if (n && buf[n - 1] == '\n') {
		buf[--n] = '\0';
		if (n && buf[n - 1] == '\r')
			buf[--n] = '\0';
	}
	if (n == 0) {
		rc = svc_error_set(err, SVC_EGENERIC, "the webhook secret file '%s' is empty",
				   path);
		OPENSSL_cleanse(buf, read_len);
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}
