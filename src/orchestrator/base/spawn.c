/*
 * base/spawn.c - one way to start a detached helper process (spawn.h): fork,
 * setsid, fork again so that the helper is no child of ours and never a
 * zombie we must reap, then exec. The middle process reports the helper's
 * pid through a pipe and exits at once.
 */
#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int svc_spawn_detached(pid_t *out, char *const argv[], const char *log_path,
		       struct svc_error *err)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD };
	int pfd[2] = { -1, -1 }, null_fd = -1, log_fd = -1, status, rc = SVC_EGENERIC;
	pid_t pid, helper = 0;
	sigset_t none;
	ssize_t n;

	*out = 0;
	sigemptyset(&none);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot open '%s'",
				    null_fd < 0 ? "/dev/null" : log_path);
		goto done;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create a pipe");
		goto done;
	}
	pid = fork();
	if (pid < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot fork");
		goto done;
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here on */
		pid_t g;

		if (setsid() < 0)
			_exit(126);
		g = fork();
		if (g != 0) {
			n = g > 0 ? write(pfd[1], &g, sizeof(g)) : -1;
			_exit(n == (ssize_t)sizeof(g) ? 0 : 126);
		}
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(126);
		close_range(3, ~0U, 0);
		if (chdir("/"))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	pfd[1] = -1;
	do
		n = read(pfd[0], &helper, sizeof(helper));
	while (n < 0 && errno == EINTR);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(helper) || helper <= 0) {
		svc_error_set(err, SVC_EGENERIC, "cannot start '%s'", argv[0]);
		goto done;
	}
	*out = helper;
	rc = 0;
done:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	return rc;
}
