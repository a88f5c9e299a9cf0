/*
 * state/release.c - releases/ID/: the manifest text a release was made
 * from (manifest.yaml) and where it came from (release.json), so that a
 * rollback restores the whole release, not just its binary: with the
 * artifact it runs and, for a run.image of a registry, the digest its tag
 * named when the release was first deployed ("pinned_image"), so that a
 * rollback runs that image even after the tag moved.
 */
#include "state/internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int svc_release_store(const char *state_dir, const char *service,
		      const char *release, const char *manifest_text, size_t len,
		      const char *source_path, const char *base_dir,
		      const struct svc_artifact_ref *artifact, const char *pinned_image,
		      struct svc_error *err)
{
	char *dir = svc_strfmt("%s/services/%s/releases/%s", state_dir, service, release);
	char *path = NULL;
	json_t *meta = NULL;
	int rc;

	if ((rc = svc_mkdir_p(dir, 0700, err)))
		goto done;
	path = svc_strfmt("%s/manifest.yaml", dir);
	if ((rc = svc_file_write_atomic(path, manifest_text, len, 0600, err)))
		goto done;
	free(path);
	path = svc_strfmt("%s/release.json", dir);
	meta = state_json_new();
	json_object_set_new(meta, "release", json_string(release));
	json_object_set_new(meta, "source_path", json_string(source_path));
	json_object_set_new(meta, "base_dir", json_string(base_dir));
	json_object_set_new(meta, "created_ms", json_integer(svc_now_ms()));
	if (artifact)
		json_object_set_new(meta, "artifact", svc_artifact_ref_to_json(artifact));
	if (pinned_image)
		json_object_set_new(meta, "pinned_image", json_string(pinned_image));
	rc = svc_json_file_write(meta, path, err);
done:
	json_decref(meta);
	free(path);
	free(dir);
	return rc;
}

/* "REPO@sha256:" and 64 hex digits */
static bool pinned_valid(const char *s)
{
	const char *at = strrchr(s, '@');

	return at && at > s && !strncmp(at + 1, "sha256:", 7) && svc_hex_is(at + 8, 64);
}

int state_release_meta_from_json(char **source_path, char **base_dir, char **pinned_image,
				 struct svc_artifact_ref **artifact, const json_t *j,
				 const char *path, struct svc_error *err)
{
	struct jr r;
	const char *src, *base, *pin;
	const json_t *art;
	char rel[65];

	*source_path = *base_dir = *pinned_image = NULL;
	*artifact = NULL;
	jr_init(&r, path, err);
	jr_release(&r, rel, j, "release", false);
	src = jr_str(&r, j, "source_path");
	base = jr_str(&r, j, "base_dir");
	jr_int(&r, j, "created_ms", 0, INT64_MAX);
	if (!r.rc && base[0] != '/')
		jr_fail(&r, "'base_dir' is not an absolute path");
	art = json_object_get(j, "artifact");
	if (!r.rc && art && !(*artifact = svc_artifact_ref_from_json(art)))
		jr_fail(&r, "invalid 'artifact'");
	pin = jr_str_opt(&r, j, "pinned_image");
	if (!r.rc && pin && !pinned_valid(pin))
		jr_fail(&r, "'pinned_image' is not an image by digest (REPO@sha256:...)");
	if (r.rc) {
		svc_artifact_ref_free(*artifact);
		*artifact = NULL;
		return r.rc;
	}
	*source_path = svc_strdup(src);
	*base_dir = svc_strdup(base);
	*pinned_image = pin ? svc_strdup(pin) : NULL;
	return 0;
}

int svc_release_load(char **text, size_t *len, char **source_path,
		     char **base_dir, struct svc_artifact_ref **artifact,
		     char **pinned_image, const char *state_dir, const char *service,
		     const char *release, struct svc_error *err)
{
	char *dir = svc_strfmt("%s/services/%s/releases/%s", state_dir, service, release);
	char *path = svc_strfmt("%s/release.json", dir);
	struct svc_error e;
	json_t *meta = NULL;
	char *pin = NULL;
	int rc;

	*text = *source_path = *base_dir = NULL;
	*artifact = NULL;
	if (pinned_image)
		*pinned_image = NULL;
	svc_error_clear(&e);
	if (!svc_hex_is(release, 64)) {
		rc = svc_error_set(err, SVC_ESTATE, "'%s' is not a release id", release);
		goto done;
	}
	rc = state_json_read(&meta, path, err);
	if (rc == SVC_ENOTFOUND)
		rc = svc_error_set(err, SVC_ENOTFOUND,
			"release %.12s of '%s' is not stored in '%s'", release, service, dir);
	if (rc)
		goto done;
	if ((rc = state_release_meta_from_json(source_path, base_dir, &pin, artifact, meta, path,
					       err)))
		goto done;
	free(path);
	path = svc_strfmt("%s/manifest.yaml", dir);
	if ((rc = svc_file_read(text, len, path, STATE_FILE_MAX, &e))) {
		rc = svc_error_set(err, SVC_ESTATE, "%s%s", e.message,
				   rc == SVC_ENOTFOUND ? " (the stored manifest is missing)" : "");
		free(*source_path);
		free(*base_dir);
		svc_artifact_ref_free(*artifact);
		*source_path = *base_dir = NULL;
		*artifact = NULL;
	} else if (pinned_image) {
		*pinned_image = pin;
		pin = NULL;
	}
done:
	free(pin);
	json_decref(meta);
	free(path);
	free(dir);
	return rc;
}

static bool release_id_is(const char *name)
{
	return svc_hex_is(name, 64);
}

char **svc_release_list(const char *state_dir, const char *service)
{
	char *dir = svc_strfmt("%s/services/%s/releases", state_dir, service);
	char **v = NULL;

	svc_dir_list(&v, dir, release_id_is, NULL);
	free(dir);
	return v;
}
