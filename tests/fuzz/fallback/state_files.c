/*
 * tests/fuzz/fallback/state_files.c - STAND-IN for the state file table
 * (see state/files.h here): the four loaders of state/state.c, each given
 * the bytes through a real file in a private temp state dir (in /dev/shm
 * when it is there), since they only read from the state dir. Goes away when the real table lands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "manifest.h"
#include "state/files.h"
#include "state/state.h"
#include "util.h"

#define RELEASE "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *state_dir;

/* Only the files and folders put() made, one by one. */
static void remove_state_dir(void)
{
	static const char *const rel[] = {
		"services/fuzz/current.json", "services/fuzz/history.json",
		"services/fuzz/rollout.json",
		("services/fuzz/releases/" RELEASE "/release.json"),
		("services/fuzz/releases/" RELEASE "/manifest.yaml"),
		("services/fuzz/releases/" RELEASE), "services/fuzz/releases", "services/fuzz",
		"services", "",
	};

	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char *p = svc_strfmt("%s/%s", state_dir, rel[i]);

		if (unlink(p))
			rmdir(p);
		free(p);
	}
	free(state_dir);
	state_dir = NULL;
}

/* Write buf to STATE/rel (creating the state dir on first use). */
static int put(const char *rel, const char *buf, size_t len, struct svc_error *err)
{
	char *path;
	FILE *f;
	int rc = 0;

	if (!state_dir) {
		/* memory when there is some: a disk makes this 15 times slower */
		const char *tmp = access("/dev/shm", W_OK) ? getenv("TMPDIR") : "/dev/shm";
		char *t = svc_strfmt("%s/fuzz-state.XXXXXX", tmp && *tmp ? tmp : "/tmp");

		if (!mkdtemp(t))
			return svc_error_set_errno(err, SVC_EGENERIC, errno, "mkdtemp");
		state_dir = t;
		atexit(remove_state_dir);
		path = svc_strfmt("%s/services/fuzz/releases/" RELEASE, state_dir);
		rc = svc_mkdir_p(path, 0700, err);
		free(path);
		if (rc)
			return rc;
	}
	path = svc_strfmt("%s/%s", state_dir, rel);
	if (!(f = fopen(path, "w")) || fwrite(buf, 1, len, f) != len)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", path);
	if (f && fclose(f) && !rc)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", path);
	free(path);
	return rc;
}

static int check_current(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_current cur;
	int rc;

	(void)path;
	if ((rc = put("services/fuzz/current.json", buf, len, err)))
		return rc;
	return svc_current_load(&cur, state_dir, "fuzz", err);
}

static int check_history(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_history h;
	int rc;

	(void)path;
	if ((rc = put("services/fuzz/history.json", buf, len, err)))
		return rc;
	rc = svc_history_load(&h, state_dir, "fuzz", err);
	if (!rc)
		svc_history_release(&h);
	return rc;
}

static int check_rollout(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_rollout_rec rec;
	int rc;

	(void)path;
	if ((rc = put("services/fuzz/rollout.json", buf, len, err)))
		return rc;
	return svc_rollout_rec_load(&rec, state_dir, "fuzz", err);
}

static int check_release(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	static const char manifest[] = "service: fuzz\nrun:\n  command: [true]\n";
	struct svc_artifact_ref *art;
	char *text, *source, *base;
	size_t tlen;
	int rc;

	(void)path;
	if ((rc = put("services/fuzz/releases/" RELEASE "/manifest.yaml", manifest,
		      sizeof(manifest) - 1, err)) ||
	    (rc = put("services/fuzz/releases/" RELEASE "/release.json", buf, len, err)))
		return rc;
	rc = svc_release_load(&text, &tlen, &source, &base, &art, state_dir, "fuzz", RELEASE, err);
	if (!rc) {
		free(text);
		free(source);
		free(base);
		svc_artifact_ref_free(art);
	}
	return rc;
}

const struct svc_state_file svc_state_files[] = {
	{ "services/*/current.json", "state", check_current },
	{ "services/*/history.json", "state", check_history },
	{ "services/*/rollout.json", "state", check_rollout },
	{ "services/*/releases/*/release.json", "state", check_release },
	{ NULL, NULL, NULL },
};
