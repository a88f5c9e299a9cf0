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

