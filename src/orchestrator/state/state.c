/*
 * state.c - what svcctl remembers between runs, per service: a lock, the
 * active and warm releases, the release history, the manifests releases
 * were made from, and the rollout in progress.
 *
 * Everything is JSON (jansson) written with svc_file_write_atomic, so a
 * crash leaves either the old or the new file, never half of one. Files
 * that do not exist yet read as empty state.
 */
#include "state/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define STATE_FILE_MAX (64 * 1024 * 1024)

char *svc_state_default_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (geteuid() == 0)
		return svc_strdup("/var/lib/svcctl");
	if (xdg && xdg[0] == '/')
		return svc_strfmt("%s/svcctl", xdg);
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : "/tmp";
	}
	return svc_strfmt("%s/.local/state/svcctl", home);
}

int svc_state_open(char **out, const char *state_dir, struct svc_error *err)
{
	char cwd[PATH_MAX];
	char *abs;
	struct stat st;

	*out = NULL;
	if (state_dir[0] == '/') {
		abs = svc_strdup(state_dir);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return svc_error_set_errno(err, SVC_EGENERIC, errno, "getcwd");
		abs = svc_strfmt("%s/%s", cwd, state_dir);
	}
	if (svc_mkdir_p(abs, 0700, err)) {
		free(abs);
		return SVC_EGENERIC;
	}
	if (stat(abs, &st) || !S_ISDIR(st.st_mode)) {
		svc_error_set(err, SVC_EGENERIC, "state dir '%s' is not a folder", abs);
		free(abs);
		return SVC_EGENERIC;
	}
	*out = abs;
	return 0;
}

char *svc_state_service_dir(const char *state_dir, const char *service)
{
	return svc_strfmt("%s/services/%s", state_dir, service);
}

int svc_state_service_mkdir(const char *state_dir, const char *service,
			    struct svc_error *err)
{
	char *dir = svc_state_service_dir(state_dir, service);
	int rc = svc_mkdir_p(dir, 0700, err);

	free(dir);
	return rc;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **svc_state_list_services(const char *state_dir)
{
	char *dir = svc_strfmt("%s/services", state_dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = svc_calloc(1, sizeof(*v));
	size_t n = 0;

	free(dir);
	if (!d)
		return v;
	while ((de = readdir(d))) {
		if (!svc_name_valid(de->d_name))
			continue;
		v = svc_realloc(v, n + 2, sizeof(*v));
		v[n++] = svc_strdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), strp_cmp);
	return v;
}

/* ---- lock ---- */

int svc_lock_take(struct svc_lock *out, const char *state_dir,
		  const char *service, const char *what, struct svc_error *err)
{
	return svc_lock_take_file(out, state_dir, service, "lock", "lock", what, err);
}

int svc_lock_take_file(struct svc_lock *out, const char *state_dir,
		       const char *service, const char *file, const char *label,
		       const char *what, struct svc_error *err)
{
	char *path = NULL, holder[256] = "";
	char line[256];
	int fd = -1, rc = SVC_EGENERIC, n;

	out->fd = -1;
	if (svc_state_service_mkdir(state_dir, service, err))
		goto done;
	path = svc_strfmt("%s/services/%s/%s", state_dir, service, file);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'", path);
		goto done;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK) {
			svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot lock '%s'", path);
			goto done;
		}
		n = (int)pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		rc = svc_error_set(err, SVC_ELOCKED,
			"another operation holds the %s of service '%s'%s%s%s",
			label, service, holder[0] ? " (" : "", holder, holder[0] ? ")" : "");
		goto done;
	}
	n = snprintf(line, sizeof(line), "pid %ld: %s\n", (long)getpid(), what);
	if (ftruncate(fd, 0) == 0 && n > 0)
		(void)!pwrite(fd, line, (size_t)n, 0);
	out->fd = fd;
	fd = -1;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

void svc_lock_release(struct svc_lock *lock)
{
	if (lock->fd < 0)
		return;
	(void)!ftruncate(lock->fd, 0); /* the holder line is informational */
	close(lock->fd);
	lock->fd = -1;
}

/* ---- JSON file helpers ---- */

/*
 * svc_json_file_read for state files. A missing file is SVC_ENOTFOUND with
 * err left unset (each caller decides what that means); a file that does not
 * parse keeps svc_json_file_read's "PATH:LINE:COL: invalid JSON: TEXT" and
 * says it is an invalid state file.
 */
static int json_file_load(json_t **out, const char *path, struct svc_error *err)
{
	struct svc_error e;
	int rc;

	svc_error_clear(&e);
	rc = svc_json_file_read(out, path, STATE_FILE_MAX, &e);
	if (!rc || rc == SVC_ENOTFOUND)
		return rc;
	if (e.line)
		return svc_error_set(err, rc, "%s (invalid state file)", e.message);
	return svc_error_set(err, rc, "%s", e.message);
}

static void copy_str(char *dst, size_t len, json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(dst, len, "%s", s ? s : "");
}

static char *dup_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? svc_strdup(s) : NULL;
}

static int64_t get_int(json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}

/* ---- current ---- */

int svc_current_load(struct svc_current *out, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/current.json", state_dir, service);
	json_t *j = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = json_file_load(&j, path, err);
	if (rc == SVC_ENOTFOUND)
		rc = 0;
	if (!rc && j) {
		copy_str(out->active, sizeof(out->active), j, "active");
		copy_str(out->active_color, sizeof(out->active_color), j, "active_color");
		out->active_since_ms = get_int(j, "active_since_ms");
		copy_str(out->previous, sizeof(out->previous), j, "previous");
		copy_str(out->previous_color, sizeof(out->previous_color), j, "previous_color");
		out->previous_until_ms = get_int(j, "previous_until_ms");
	}
	json_decref(j);
	free(path);
	return rc;
}

int svc_current_save(const struct svc_current *cur, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = NULL;
	json_t *j;
	int rc;

	if ((rc = svc_state_service_mkdir(state_dir, service, err)))
		return rc;
	path = svc_strfmt("%s/services/%s/current.json", state_dir, service);
	j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}",
		      "active", cur->active, "active_color", cur->active_color,
		      "active_since_ms", (json_int_t)cur->active_since_ms,
		      "previous", cur->previous, "previous_color", cur->previous_color,
		      "previous_until_ms", (json_int_t)cur->previous_until_ms);
	rc = svc_json_file_write(j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

/* ---- history ---- */

static void entry_release(struct svc_history_entry *e)
{
	free(e->version);
	free(e->kind);
	free(e->outcome);
	free(e->reason);
	svc_artifact_ref_free(e->artifact);
}

void svc_history_release(struct svc_history *h)
{
	for (size_t i = 0; i < h->count; i++)
		entry_release(&h->items[i]);
	free(h->items);
	h->items = NULL;
	h->count = 0;
}

json_t *svc_history_entry_to_json(const struct svc_history_entry *e)
{
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
			      "seq", e->seq, "release", e->release,
			      "manifest_hash", e->manifest_hash,
			      "kind", e->kind ? e->kind : "deploy",
			      "color", e->color,
			      "started_ms", (json_int_t)e->started_ms,
			      "finished_ms", (json_int_t)e->finished_ms,
			      "outcome", e->outcome ? e->outcome : "in-progress");

	json_object_set_new(j, "version", e->version ? json_string(e->version) : json_null());
	json_object_set_new(j, "reason", e->reason ? json_string(e->reason) : json_null());
	if (e->artifact)
		json_object_set_new(j, "artifact", svc_artifact_ref_to_json(e->artifact));
	return j;
}

int svc_history_load(struct svc_history *out, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/history.json", state_dir, service);
	json_t *j = NULL, *arr, *item;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = json_file_load(&j, path, err);
	if (rc == SVC_ENOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc)
		goto done;
	arr = json_object_get(j, "releases");
	if (!json_is_array(arr)) {
		rc = svc_error_set(err, SVC_EGENERIC, "%s: invalid state file: no 'releases' list", path);
		goto done;
	}
	out->items = svc_calloc(json_array_size(arr) + 1, sizeof(*out->items));
	json_array_foreach(arr, i, item) {
		struct svc_history_entry *e = &out->items[out->count++];
		e->seq = (int)get_int(item, "seq");
		copy_str(e->release, sizeof(e->release), item, "release");
		copy_str(e->manifest_hash, sizeof(e->manifest_hash), item, "manifest_hash");
		copy_str(e->color, sizeof(e->color), item, "color");
		e->version = dup_str(item, "version");
		e->kind = dup_str(item, "kind");
		e->outcome = dup_str(item, "outcome");
		e->reason = dup_str(item, "reason");
		e->started_ms = get_int(item, "started_ms");
		e->finished_ms = get_int(item, "finished_ms");
		e->artifact = svc_artifact_ref_from_json(json_object_get(item, "artifact"));
	}
done:
	json_decref(j);
	free(path);
	return rc;
}

int svc_history_save(const struct svc_history *h, const char *state_dir,
		     const char *service, struct svc_error *err)
{
	char *path;
	json_t *arr = json_array(), *j;
	int rc;

	if ((rc = svc_state_service_mkdir(state_dir, service, err))) {
		json_decref(arr);
		return rc;
	}
	for (size_t i = 0; i < h->count; i++)
		json_array_append_new(arr, svc_history_entry_to_json(&h->items[i]));
	j = json_pack("{s:s, s:o}", "service", service, "releases", arr);
	path = svc_strfmt("%s/services/%s/history.json", state_dir, service);
	rc = svc_json_file_write(j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

struct svc_history_entry *svc_history_append(struct svc_history *h,
					     const struct svc_history_entry *e)
{
	struct svc_history_entry *n;

	h->items = svc_realloc(h->items, h->count + 1, sizeof(*h->items));
	n = &h->items[h->count];
	*n = *e;
	n->seq = h->count ? h->items[h->count - 1].seq + 1 : 1;
	n->version = svc_strdup(e->version);
	n->kind = svc_strdup(e->kind ? e->kind : "deploy");
	n->outcome = svc_strdup(e->outcome ? e->outcome : "in-progress");
	n->reason = svc_strdup(e->reason);
	n->artifact = svc_artifact_ref_dup(e->artifact);
	h->count++;
	return n;
}

struct svc_history_entry *svc_history_find(struct svc_history *h, int seq)
{
	for (size_t i = 0; i < h->count; i++)
		if (h->items[i].seq == seq)
			return &h->items[i];
	return NULL;
}

void svc_history_set_outcome(struct svc_history *h, int seq, const char *outcome,
			     const char *reason)
{
	struct svc_history_entry *e = svc_history_find(h, seq);

	if (!e)
		return;
	free(e->outcome);
	e->outcome = svc_strdup(outcome);
	free(e->reason);
	e->reason = svc_strdup(reason);
	e->finished_ms = svc_now_ms();
}

int svc_history_update(const char *state_dir, const char *service, int seq,
		       const char *outcome, const char *reason, struct svc_error *err)
{
	struct svc_history h;
	int rc;

	if ((rc = svc_history_load(&h, state_dir, service, err)))
		return rc;
	svc_history_set_outcome(&h, seq, outcome, reason);
	rc = svc_history_save(&h, state_dir, service, err);
	svc_history_release(&h);
	return rc;
}

int svc_history_resolve(char out[65], const struct svc_history *h,
			const char *text, struct svc_error *err)
{
	const char *found = NULL;
	size_t len = strlen(text);

	if (text[0] == '#') {
		long long seq;
		if (svc_parse_int(&seq, text + 1, 1, INT32_MAX))
			return svc_error_set(err, SVC_EUSAGE, "invalid release '%s'", text);
		for (size_t i = 0; i < h->count; i++)
			if (h->items[i].seq == seq)
				found = h->items[i].release;
		if (!found)
			return svc_error_set(err, SVC_ENOTFOUND, "no release '%s' in the history", text);
		snprintf(out, 65, "%s", found);
		return 0;
	}
	if (len < 4 || len > 64)
		return svc_error_set(err, SVC_EUSAGE,
			"invalid release '%s' (give at least 4 characters of its id, or #SEQ)", text);
	for (size_t i = 0; i < h->count; i++) {
		const char *r = h->items[i].release;
		if (strncmp(r, text, len))
			continue;
		if (found && strcmp(found, r))
			return svc_error_set(err, SVC_EUSAGE,
				"release '%s' is ambiguous (matches %.12s and %.12s)", text, found, r);
		found = r;
	}
	if (!found)
		return svc_error_set(err, SVC_ENOTFOUND, "no release '%s' in the history", text);
	snprintf(out, 65, "%s", found);
	return 0;
}

/* ---- stored releases ---- */

int svc_release_store(const char *state_dir, const char *service,
		      const char *release, const char *manifest_text, size_t len,
		      const char *source_path, const char *base_dir,
		      const struct svc_artifact_ref *artifact, struct svc_error *err)
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
	meta = json_pack("{s:s, s:s, s:s, s:I}", "release", release,
			 "source_path", source_path, "base_dir", base_dir,
			 "created_ms", (json_int_t)svc_now_ms());
	if (artifact)
		json_object_set_new(meta, "artifact", svc_artifact_ref_to_json(artifact));
	rc = svc_json_file_write(meta, path, err);
done:
	json_decref(meta);
	free(path);
	free(dir);
	return rc;
}

int svc_release_load(char **text, size_t *len, char **source_path,
		     char **base_dir, struct svc_artifact_ref **artifact,
		     const char *state_dir, const char *service,
		     const char *release, struct svc_error *err)
{
	char *dir = svc_strfmt("%s/services/%s/releases/%s", state_dir, service, release);
	char *path = svc_strfmt("%s/release.json", dir);
	json_t *meta = NULL;
	int rc;

	*text = *source_path = *base_dir = NULL;
	*artifact = NULL;
	rc = json_file_load(&meta, path, err);
	if (rc == SVC_ENOTFOUND)
		rc = svc_error_set(err, SVC_ENOTFOUND,
			"release %.12s of '%s' is not stored in '%s'", release, service, dir);
	if (rc)
		goto done;
	free(path);
	path = svc_strfmt("%s/manifest.yaml", dir);
	if ((rc = svc_file_read(text, len, path, STATE_FILE_MAX, err)))
		goto done;
	*source_path = dup_str(meta, "source_path");
	*base_dir = dup_str(meta, "base_dir");
	if (!*source_path || !*base_dir) {
		rc = svc_error_set(err, SVC_EGENERIC, "%s/release.json: invalid state file", dir);
		free(*text);
		free(*source_path);
		free(*base_dir);
		*text = *source_path = *base_dir = NULL;
		goto done;
	}
	if (json_object_get(meta, "artifact") &&
	    !(*artifact = svc_artifact_ref_from_json(json_object_get(meta, "artifact")))) {
		rc = svc_error_set(err, SVC_EGENERIC, "%s/release.json: invalid state file "
				   "(artifact)", dir);
		free(*text);
		free(*source_path);
		free(*base_dir);
		*text = *source_path = *base_dir = NULL;
	}
done:
	json_decref(meta);
	free(path);
	free(dir);
	return rc;
}

/* ---- rollout record ---- */

static const char *const step_names[] = {
	[SVC_STEP_STARTING] = "starting",
	[SVC_STEP_HEALTH] = "health",
	[SVC_STEP_AWAIT_PROMOTE] = "awaiting-promotion",
	[SVC_STEP_SWITCHING] = "switching",
	[SVC_STEP_BAKING] = "baking",
	[SVC_STEP_DRAINING] = "draining",
};

const char *svc_rollout_step_name(enum svc_rollout_step s)
{
	if ((size_t)s < sizeof(step_names) / sizeof(step_names[0]))
		return step_names[s];
	return "unknown";
}

int svc_rollout_rec_load(struct svc_rollout_rec *out, const char *state_dir,
			 const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/rollout.json", state_dir, service);
	const char *step;
	json_t *j = NULL;
	int rc, found = -1;

	memset(out, 0, sizeof(*out));
	rc = json_file_load(&j, path, err);
	if (rc)
		goto done;
	copy_str(out->kind, sizeof(out->kind), j, "kind");
	copy_str(out->release, sizeof(out->release), j, "release");
	copy_str(out->color, sizeof(out->color), j, "color");
	copy_str(out->blue, sizeof(out->blue), j, "blue");
	copy_str(out->blue_color, sizeof(out->blue_color), j, "blue_color");
	out->history_seq = (int)get_int(j, "history_seq");
	out->owner_pid = (pid_t)get_int(j, "owner_pid");
	out->started_ms = get_int(j, "started_ms");
	out->step_ms = get_int(j, "step_ms");
	step = json_string_value(json_object_get(j, "step"));
	for (size_t i = 0; step && i < sizeof(step_names) / sizeof(step_names[0]); i++)
		if (!strcmp(step, step_names[i]))
			found = (int)i;
	if (found < 0) {
		rc = svc_error_set(err, SVC_EGENERIC, "%s: invalid state file: unknown step '%s'",
				   path, step ? step : "");
		goto done;
	}
	out->step = (enum svc_rollout_step)found;
done:
	json_decref(j);
	free(path);
	return rc;
}

int svc_rollout_rec_save(struct svc_rollout_rec *rec, const char *state_dir,
			 const char *service, struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/rollout.json", state_dir, service);
	json_t *j;
	int rc;

	rec->step_ms = svc_now_ms();
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:I}",
		      "kind", rec->kind, "release", rec->release, "color", rec->color,
		      "history_seq", rec->history_seq,
		      "step", svc_rollout_step_name(rec->step),
		      "blue", rec->blue, "blue_color", rec->blue_color,
		      "owner_pid", (json_int_t)rec->owner_pid,
		      "started_ms", (json_int_t)rec->started_ms,
		      "step_ms", (json_int_t)rec->step_ms);
	rc = svc_json_file_write(j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

int svc_rollout_rec_clear(const char *state_dir, const char *service,
			  struct svc_error *err)
{
	char *path = svc_strfmt("%s/services/%s/rollout.json", state_dir, service);
	int rc = 0;

	if (unlink(path) && errno != ENOENT)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove '%s'", path);
	free(path);
	return rc;
}
