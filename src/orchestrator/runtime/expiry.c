/*
 * runtime/expiry.c - the record and the detached waiter of a warm release's
 * end (expiry.h).
 */
#include "runtime/expiry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/spawn.h"
#include "util.h"

char *svc_expiry_path(const char *state_dir, const char *service, const char *key)
{
	return svc_strfmt("%s/services/%s/expiry/%s", state_dir, service, key);
}

int64_t svc_expiry_read(const char *state_dir, const char *service, const char *key)
{
	char *path = svc_expiry_path(state_dir, service, key), *text = NULL;
	long long v = 0;

	if (svc_file_read(&text, NULL, path, 64, NULL) == 0) {
		text[strcspn(text, "\n")] = '\0';
		if (svc_parse_int(&v, text, 0, INT64_MAX))
			v = 0;
	}
	free(text);
	free(path);
	return (int64_t)v;
}

void svc_expiry_clear(const char *state_dir, const char *service, const char *key)
{
	char *path = svc_expiry_path(state_dir, service, key);

	unlink(path);
	free(path);
}

int svc_expiry_set(const struct svc_runtime *rt, const char *service, const char *key,
		   int64_t at_ms, struct svc_error *err)
{
	char *dir = svc_strfmt("%s/services/%s/expiry", rt->state_dir, service);
	char *path = svc_expiry_path(rt->state_dir, service, key);
	char *log = svc_strfmt("%s/expire.log", dir), *at = svc_strfmt("%lld", (long long)at_ms);
	char cmd[] = "__expire", *name = svc_strdup(rt->ops->name);
	int rc;

	if ((rc = svc_mkdir_p(dir, 0700, err)))
		goto done;
	if (!at_ms) {
		if (unlink(path) && errno != ENOENT)
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove '%s'", path);
		goto done;
	}
	if (svc_expiry_read(rt->state_dir, service, key) == at_ms)
		goto done;   /* its waiter runs already */
	if ((rc = svc_file_write_atomic(path, at, strlen(at), 0600, err)))
		goto done;
	{
		char *argv[] = { rt->self_exe, cmd, rt->state_dir, (char *)service, (char *)key,
				 at, name, NULL };
		pid_t pid;
		rc = svc_spawn_detached(&pid, argv, log, err);
	}
done:
	free(name);
	free(at);
	free(log);
	free(path);
	free(dir);
	return rc;
}

int svc_expiry_run(const char *state_dir, const char *runtime, const char *service,
		   const char *key, int64_t at_ms)
{
	const struct svc_runtime_driver *d = NULL;
	struct svc_runtime *rt = NULL;
	struct svc_error err = { 0 };
	char buf[1200];
	int rc = 0;

	for (size_t i = 0; svc_runtime_drivers[i]; i++)
		if (!strcmp(svc_runtime_drivers[i]->ops->name, runtime))
			d = svc_runtime_drivers[i];
	if (!d || !d->ops->expire) {
		fprintf(stderr, "svcctl: runtime '%s' has no warm expiry\n", runtime);
		return 2;
	}
	/*
	 * Wake every second: a later set_expiry, a rollback clearing it, or
	 * the release's removal (which removes the file) ends the wait.
	 */
	for (;;) {
		int64_t left = at_ms - svc_now_ms();
		if (svc_expiry_read(state_dir, service, key) != at_ms)
			return 0;
		if (left <= 0)
			break;
		svc_sleep_ms(left < 1000 ? left : 1000);
	}
	if ((rc = svc_runtime_open(&rt, d->kind, state_dir, NULL, &err)) ||
	    (rc = rt->ops->expire(rt, service, key, &err))) {
		if (rc != SVC_ENOTFOUND)
			fprintf(stderr, "svcctl: cannot stop expired '%s' of %s: %s\n", key, service,
				svc_error_format(&err, buf, sizeof(buf)));
	} else {
		fprintf(stderr, "svcctl: stopped '%s' of %s: its warm period ended\n", key, service);
	}
	svc_expiry_clear(state_dir, service, key);
	svc_runtime_free(rt);
	return rc && rc != SVC_ENOTFOUND ? 1 : 0;
}
