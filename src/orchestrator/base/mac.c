/*
 * base/mac.c - HMAC-SHA256 and secret files (base/mac.h).
 */
#include "base/mac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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

/* Decode exactly 2 * len hex digits of hex into out; -1 unless that is all of hex. */
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

static bool mac(unsigned char out[EVP_MAX_MD_SIZE], const void *key, size_t key_len,
		const void *data, size_t data_len)
{
	unsigned int n = 0;

	return key && key_len && key_len <= (size_t)INT_MAX && (data || !data_len) &&
	       HMAC(EVP_sha256(), key, (int)key_len, data ? data : (const void *)"", data_len,
		    out, &n) && n == DIGEST_LEN;
}

bool svc_mac_hex(char out[SVC_MAC_HEX_LEN + 1], const void *key, size_t key_len,
		 const void *data, size_t data_len)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	bool ok = mac(d, key, key_len, data, data_len);

	out[0] = '\0';
	for (size_t i = 0; ok && i < DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}

bool svc_mac_ok(const void *key, size_t key_len, const void *data, size_t data_len,
		const char *hex)
{
	unsigned char want[DIGEST_LEN], got[EVP_MAX_MD_SIZE];
	bool ok = false;

	if (!hex || hex_decode(want, sizeof(want), hex) || !mac(got, key, key_len, data, data_len))
		goto done;
	ok = CRYPTO_memcmp(want, got, DIGEST_LEN) == 0;
done:
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

int svc_secret_read(char **out, size_t *len, const char *path, size_t max, const char *what,
		    struct svc_error *err)
{
	char *buf = NULL;
	size_t n = 0, read_len;
	int rc;

	*out = NULL;
	*len = 0;
	rc = svc_file_read(&buf, &n, path, max, err);
	if (rc)
		return rc;
	read_len = n;
	if (n && buf[n - 1] == '\n') {
		buf[--n] = '\0';
		if (n && buf[n - 1] == '\r')
			buf[--n] = '\0';
	}
	if (n == 0) {
		rc = svc_error_set(err, SVC_EGENERIC, "the %s file '%s' is empty", what, path);
		OPENSSL_cleanse(buf, read_len);
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}
