/*
 * router/supervise.c - `svcctl __router-supervise STATE`: keeps the router
 * of a state dir running when svcctl started it (svc_router_ensure).
 *
 * The supervisor runs `svcctl --state-dir STATE router run --supervised` as
 * its child and waits. When the router exits 0 (a "shutdown" request or a
 * stop signal passed on) the supervisor exits too; when it exits saying
 * another router already serves the state dir, there is nothing to keep,
 * and it exits too; any other end (a crash, SIGKILL, an error) is logged
 * and the router started again after a backoff that doubles from 100 ms to
 * 5 s and starts over once a router has run for 10 s. The router restores
 * its routes from routes.json (or rebuilds them), so clients are served
 * again without any svcctl command.
 *
 * SIGTERM, SIGINT and SIGHUP are passed on to the router as SIGTERM, and
 * the supervisor exits once it has. STATE/router/supervisor.pid holds
 * "PID STARTTIME" (svc_router_supervisor_pid reads it) while it runs.
 */
#include "router/router.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "router/client.h"
#include "util.h"

#define WHO "router-supervisor"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define HEALTHY_RUN_MS 10000
/* cmd/ maps SVC_EUNAVAIL (another router serves) to this exit status */
#define EXIT_ANOTHER_SERVES 5

/*
 * Wait for a signal in set for up to ms (-1: no limit). Returns the
 * signal, or 0 on timeout.
 */
static int wait_signal(const sigset_t *set, int64_t ms)
{
	for (;;) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
		int sig = ms < 0 ? sigwaitinfo(set, NULL) : sigtimedwait(set, NULL, &ts);

		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
		/* EINTR: a signal outside set; wait again (the time restarts,
		 * which only makes a backoff longer) */
	}
}

static pid_t start_router(const char *self_exe, const char *state_dir,
			  const sigset_t *old_mask)
{
	char *argv[] = { (char *)self_exe, (char *)"--state-dir", (char *)state_dir,
			 (char *)"router", (char *)"run", (char *)"--supervised", NULL };
	pid_t pid = fork();

	if (pid == 0) {
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		execv(self_exe, argv);
		fprintf(stderr, "%s: cannot run '%s': %s\n", WHO, self_exe, strerror(errno));
		_exit(127);
	}
	return pid;
}

static void describe(char *buf, size_t len, int status)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

int svc_router_supervise(const char *state_dir, const char *self_exe)
{
	char *pid_path = svc_router_supervisor_pid_path(state_dir);
	char *text = NULL, how[64];
	sigset_t set, old_mask;
	int64_t backoff = BACKOFF_MIN_MS;
	struct svc_error err;
	pid_t other;
	int code = 0;

	svc_error_clear(&err);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old_mask);

	if ((other = svc_router_supervisor_pid(state_dir)) != 0 && other != getpid()) {
		/* two svcctl commands started one each: the first one keeps it */
		svc_daemon_log(WHO, "the router of '%s' has a supervisor already (pid %ld)",
			       state_dir, (long)other);
		goto done;
	}
	text = svc_strfmt("%ld %llu\n", (long)getpid(), svc_pid_starttime(getpid()));
	if (svc_file_write_atomic(pid_path, text, strlen(text), 0600, &err)) {
		svc_daemon_log(WHO, "%s", err.message);
		code = 1;
		goto done;
	}
	svc_daemon_log(WHO, "supervising the router of '%s'", state_dir);
	for (;;) {
		int64_t started = svc_mono_ms(), ran;
		pid_t child = start_router(self_exe, state_dir, &old_mask);
		int status = 0, sig;

		if (child < 0) {
			svc_daemon_log(WHO, "cannot fork: %s", strerror(errno));
			status = 1 << 8;
		} else {
			for (;;) {
				pid_t got;
				sig = wait_signal(&set, -1);
				if (sig != SIGCHLD) {
					svc_daemon_log(WHO, "signal %d: stopping the router (pid %ld)",
						       sig, (long)child);
					kill(child, SIGTERM);
					while (waitpid(child, &status, 0) < 0 && errno == EINTR)
						;
					goto done;
				}
				got = waitpid(child, &status, WNOHANG);
				if (got == child)
					break;
			}
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			svc_daemon_log(WHO, "the router exited; done");
			goto done;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_ANOTHER_SERVES &&
		    svc_router_running(state_dir)) {
			svc_daemon_log(WHO, "another router serves '%s'; done", state_dir);
			goto done;
		}
		ran = svc_mono_ms() - started;
		if (ran >= HEALTHY_RUN_MS)
			backoff = BACKOFF_MIN_MS;
		describe(how, sizeof(how), status);
		svc_daemon_log(WHO, "the router %s after %lldms; starting it again in %lldms",
			       how, (long long)ran, (long long)backoff);
		for (int64_t until = svc_mono_ms() + backoff; svc_mono_ms() < until;) {
			sig = wait_signal(&set, until - svc_mono_ms());
			if (sig && sig != SIGCHLD) {
				svc_daemon_log(WHO, "signal %d while waiting: done", sig);
				goto done;
			}
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
done:
	/* only our own pid file: a newer supervisor may have written its own */
	if (svc_router_supervisor_pid(state_dir) == getpid())
		unlink(pid_path);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	free(text);
	free(pid_path);
	return code;
}
