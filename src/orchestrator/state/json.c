/*
 * state/json.c - reading state files strictly (see internal.h).
 *
 * A state file is trusted to say which instances to signal, which route to
 * point where and which folder to delete, so a file that is anything but
 * what svcctl wrote is an error that names it, never a default: an empty
 * object is not "no releases", a release id that is not 64 hex digits is not
 * a folder name. The typed reader keeps each loader a flat list of keys.
 */
#include "state/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int state_json_parse(json_t **out, const char *buf, size_t len, const char *path,
		     struct svc_error *err)
{
	json_t *j, *format;
	int rc;

	*out = NULL;
	if ((rc = svc_json_parse_buffer(&j, buf, len, JSON_REJECT_DUPLICATES, path, "state file",
					SVC_ESTATE, err)))
		return rc;
	if (!json_is_object(j)) {
		json_decref(j);
		return svc_error_set(err, SVC_ESTATE,
				     "%s: invalid state file: not a JSON object", path);
	}
	format = json_object_get(j, "format");
	if (format && (!json_is_integer(format) || json_integer_value(format) < 1)) {
		json_decref(j);
		return svc_error_set(err, SVC_ESTATE,
				     "%s: invalid state file: 'format' is not a positive integer",
				     path);
	}
	if (format && json_integer_value(format) > SVC_STATE_FORMAT) {
		rc = svc_error_set(err, SVC_ESTATE,
			"%s: written by a newer svcctl (format %lld; this one reads up to %d)",
			path, (long long)json_integer_value(format), SVC_STATE_FORMAT);
		json_decref(j);
		return rc;
	}
	*out = j;
	return 0;
}

int state_json_read(json_t **out, const char *path, struct svc_error *err)
{
	struct svc_error e;
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	svc_error_clear(&e);
	rc = svc_file_read(&text, &len, path, STATE_FILE_MAX, &e);
	if (rc == SVC_ENOTFOUND)
		return rc;
	if (rc)
		return svc_error_set(err, SVC_ESTATE, "%s", e.message);
	rc = state_json_parse(out, text, len, path, err);
	free(text);
	return rc;
}

json_t *state_json_new(void)
{
	return json_pack("{s:i}", "format", SVC_STATE_FORMAT);
}

int state_json_write(const json_t *j, const char *state_dir, const char *service,
		     const char *path, struct svc_error *err)
{
	int rc;

	if ((rc = svc_state_service_mkdir(state_dir, service, err)))
		return rc;
	return svc_json_file_write(j, path, err);
}

void jr_init(struct jr *r, const char *path, struct svc_error *err)
{
	r->path = path;
	r->err = err;
	r->rc = 0;
}

void jr_fail(struct jr *r, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (r->rc)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->rc = svc_error_set(r->err, SVC_ESTATE, "%s: invalid state file: %s", r->path, msg);
}

const char *jr_str(struct jr *r, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (r->rc)
		return "";
	if (!v) {
		jr_fail(r, "no '%s'", key);
		return "";
	}
	if (!json_is_string(v)) {
		jr_fail(r, "'%s' is not a string", key);
		return "";
	}
	return json_string_value(v);
}

const char *jr_str_opt(struct jr *r, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (r->rc || !v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		jr_fail(r, "'%s' is not a string", key);
		return NULL;
	}
	return json_string_value(v);
}

void jr_copy(struct jr *r, char *dst, size_t len, const json_t *o, const char *key)
{
	const char *s = jr_str(r, o, key);

	if (strlen(s) >= len) {
		jr_fail(r, "'%s' is too long", key);
		s = "";
	}
	snprintf(dst, len, "%s", s);
}

void jr_release(struct jr *r, char dst[65], const json_t *o, const char *key, bool empty_ok)
{
	const char *s = jr_str(r, o, key);

	dst[0] = '\0';
	if (r->rc)
		return;
	if (!*s && empty_ok)
		return;
	if (!svc_hex_is(s, 64)) {
		jr_fail(r, "'%s' is not a release id", key);
		return;
	}
	memcpy(dst, s, 65);
}

void jr_color(struct jr *r, char dst[8], const json_t *o, const char *key, bool empty_ok)
{
	const char *s = jr_str(r, o, key);

	dst[0] = '\0';
	if (r->rc)
		return;
	if ((!*s && empty_ok) || !strcmp(s, "blue") || !strcmp(s, "green")) {
		snprintf(dst, 8, "%s", s);
		return;
	}
	jr_fail(r, "'%s' is not blue or green", key);
}

int64_t jr_int(struct jr *r, const json_t *o, const char *key, int64_t min, int64_t max)
{
	const json_t *v = json_object_get(o, key);
	json_int_t n;

	if (r->rc)
		return 0;
	if (!v) {
		jr_fail(r, "no '%s'", key);
		return 0;
	}
	if (!json_is_integer(v)) {
		jr_fail(r, "'%s' is not an integer", key);
		return 0;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		jr_fail(r, "'%s' is out of range (%lld)", key, (long long)n);
		return 0;
	}
	return (int64_t)n;
}
