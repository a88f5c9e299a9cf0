/*
 * state/dir.c - the state dir itself: where it is, creating it, refusing a
 * loose one, and the per-service folders under it.
 *
 * A state dir tells svcctl which pids to signal (instance and supervisor
 * files) and which folders to delete. If another user can write a folder in
 * it, they can make root's `svcctl stop` kill any process, so (like OpenSSH
 * refusing a loose ~/.ssh) a state dir, or a folder svcctl trusts in it,
 * that is not owned by the effective user or is writable by group or others
 * is refused, naming the path and the fix.
 */
#include "state/state.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

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

/*
 * One folder: ours and not writable by anyone else. Only the state dir
 * itself may be reached through a symbolic link (follow), chosen by whoever
 * names it.
 */
static int check_folder(const char *path, bool follow, struct svc_error *err)
{
	struct stat st;

	if ((follow ? stat(path, &st) : lstat(path, &st))) {
		return svc_error_set_errno(err, SVC_ESTATE, errno, "cannot inspect '%s'", path);
	}
	if (!S_ISDIR(st.st_mode))
		return svc_error_set(err, SVC_ESTATE, "state folder '%s' is not a folder%s", path,
				     S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
	if (st.st_uid != geteuid())
		return svc_error_set(err, SVC_ESTATE,
			"state folder '%s' is owned by uid %ld, not by this user (uid %ld): "
			"run 'chown -R %ld %s' or use another --state-dir", path,
			(long)st.st_uid, (long)geteuid(), (long)geteuid(), path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return svc_error_set(err, SVC_ESTATE,
			"state folder '%s' is writable by %s (mode %04o): run 'chmod go-w %s'",
			path, (st.st_mode & S_IWOTH) ? "others" : "group",
			(unsigned)(st.st_mode & 07777), path);
	return 0;
}

/*
 * Every sub-folder of dir (not following symlinks) checked; with depth > 0
 * their sub-folders too, only those named in deeper when it is not NULL.
 */
static int check_children(const char *dir, const char *const *deeper, int depth,
			  struct svc_error *err)
{
	struct svc_error e = { 0 };
	char **names = NULL;
	int rc = 0;

	if (svc_dir_list(&names, dir, NULL, &e)) {
		svc_strv_free(names);
		return svc_error_set(err, SVC_ESTATE, "%s", e.message);
	}
	for (size_t i = 0; !rc && names[i]; i++) {
		char *p = svc_strfmt("%s/%s", dir, names[i]);
		struct stat st;

		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = check_folder(p, false, err);
			if (!rc && depth > 0) {
				bool descend = !deeper;
				for (size_t k = 0; deeper && deeper[k]; k++)
					descend |= !strcmp(deeper[k], names[i]);
				if (descend)
					rc = check_children(p, NULL, depth - 1, err);
			}
		}
		free(p);
	}
	svc_strv_free(names);
	return rc;
}

int svc_state_check_perms(const char *state_dir, struct svc_error *err)
{
	static const char *const per_service[] = { "instances", "releases", NULL };
	char *p;
	DIR *d;
	struct dirent *de;
	int rc;

	if ((rc = check_folder(state_dir, true, err)))
		return rc;
	/* the folders right under STATE (services, router, builds, deps, ...) */
	if ((rc = check_children(state_dir, NULL, 0, err)))
		return rc;
	/* STATE/services/S, its folders, S/instances/ID and S/releases/ID */
	p = svc_strfmt("%s/services", state_dir);
	d = opendir(p);
	while (!rc && d && (de = readdir(d))) {
		char *s;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		s = svc_strfmt("%s/%s", p, de->d_name);
		if (lstat(s, &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = check_folder(s, false, err);
			if (!rc)
				rc = check_children(s, per_service, 1, err);
		}
		free(s);
	}
	if (d)
		closedir(d);
	free(p);
	return rc;
}

int svc_state_open(char **out, const char *state_dir, struct svc_error *err)
{
	char cwd[PATH_MAX];
	char *abs;
	int rc;

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
	if ((rc = svc_state_check_perms(abs, err))) {
		free(abs);
		return rc;
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

char **svc_state_list_services(const char *state_dir)
{
	char *dir = svc_strfmt("%s/services", state_dir);
	char **v = NULL;

	svc_dir_list(&v, dir, svc_name_valid, NULL);
	free(dir);
	return v;
}
