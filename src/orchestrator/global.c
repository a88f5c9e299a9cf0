/*
 * global.c - svc_global_init/svc_global_cleanup (see global.h).
 */
#include "global.h"

#include <curl/curl.h>
#include <git2.h>
#include <gpgme.h>

int svc_global_init(struct svc_error *err)
{
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
	int g;

	if (c != CURLE_OK)
		return svc_error_set(err, SVC_EGENERIC, "cannot initialise libcurl: %s",
				     curl_easy_strerror(c));
	if ((g = git_libgit2_init()) < 0) {
		const git_error *e = git_error_last();
		curl_global_cleanup();
		return svc_error_set(err, SVC_EGENERIC, "cannot initialise libgit2: %s",
				     e && e->message ? e->message : "unknown error");
	}
	/* GPGME (sync/verify.c): its version check is its one-time set-up */
	if (!gpgme_check_version(NULL)) {
		git_libgit2_shutdown();
		curl_global_cleanup();
		return svc_error_set(err, SVC_EGENERIC, "cannot initialise GPGME");
	}
	return 0;
}

void svc_global_cleanup(void)
{
	git_libgit2_shutdown();
	curl_global_cleanup();
}
