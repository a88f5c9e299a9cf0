/*
 * state/lock.c - per-service locks: flock(2) on a file in the service's
 * folder, never waited for, with the holder's pid and command written in it
 * for the message others get.
 */
#include "state/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util.h"

int svc_lock_take(struct svc_lock *out, const char *state_dir,
		  const char *service, const char *what, struct svc_error *err)
{
	return svc_lock_take_file(out, state_dir, service, "lock", "lock", what, err);
}

int svc_lock_take_path(struct svc_lock *out, const char *path, const char *what,
		       char *holder, size_t holder_len, struct svc_error *err)
{
	char line[256];
	int fd, n;

	out->fd = -1;
	if (holder_len)
		holder[0] = '\0';
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		if (e == EWOULDBLOCK && holder_len) {
			n = (int)pread(fd, holder, holder_len - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
		}
		close(fd);
		if (e == EWOULDBLOCK)
			return SVC_ELOCKED;   /* err left for the caller to word */
		return svc_error_set_errno(err, SVC_EGENERIC, e, "cannot lock '%s'", path);
	}
	n = snprintf(line, sizeof(line), "pid %ld: %s\n", (long)getpid(), what);
	if (ftruncate(fd, 0) == 0 && n > 0)
		(void)!pwrite(fd, line, (size_t)n, 0);
	out->fd = fd;
	return 0;
}

int svc_lock_take_file(struct svc_lock *out, const char *state_dir,
		       const char *service, const char *file, const char *label,
		       const char *what, struct svc_error *err)
{
	char *path = NULL, holder[256] = "";
	int rc;

	out->fd = -1;
	if ((rc = svc_state_service_mkdir(state_dir, service, err)))
		return rc;
	path = svc_strfmt("%s/services/%s/%s", state_dir, service, file);
	rc = svc_lock_take_path(out, path, what, holder, sizeof(holder), err);
	if (rc == SVC_ELOCKED)
		svc_error_set(err, SVC_ELOCKED,
			"another operation holds the %s of service '%s'%s%s%s",
			label, service, holder[0] ? " (" : "", holder, holder[0] ? ")" : "");
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

