/*
 * runtime/proc/supervisor.c - the per-instance supervisor of the process runtime.
 *
 * `svcctl __supervise DIR` lands here, in a process of its own session that
 * the process runtime (proc.c) started detached, so that instances outlive
 * the svcctl command that deployed them. The supervisor reads DIR/spec.json,
 * runs the instance as its only child (own process group, output appended to
 * DIR/output.log), restarts it with exponential backoff when it exits, and
 * stops it on SIGTERM/SIGINT, when the time in DIR/expire_at passes, or when
 * DIR disappears. Everything it knows is published in DIR/status.json,
 * written atomically after each change, which is what `svcctl` reads back
 * (with pid plus start time, so a reused pid is never trusted).
 *
 * One thread, one loop: SIGTERM, SIGINT and SIGCHLD are blocked and read
 * from a signalfd polled with a 200 ms timeout, which also paces the expiry
 * and folder checks and the backoff timer. A failed exec (or chdir) in the
 * child is reported through a close-on-exec pipe, so "command not found"
 * becomes an error in status.json instead of an exit status 127.
 *
 * Adopt mode (`__supervise --adopt DIR`, svc_supervisor_adopt) takes over
 * from a supervisor that died: the instance process it left running is not
 * our child (no SIGCHLD, no waitpid, no exit status), so it is watched
 * through a pidfd (pidfd_open(2); readable once it has exited) polled
 * beside the signalfd, and signalled through that pidfd, or through its
 * process group only while the pidfd shows it alive with its recorded
 * start time. Once it exits, everything is as in normal mode: the restart
 * policy starts a child of our own.
 */
#include "runtime/proc/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define BACKOFF_RESET_MS 10000 /* a process that ran this long resets the backoff */
#define TICK_MS 200

/* What a failing child reports through the exec pipe. */
enum { STAGE_CHDIR = 1, STAGE_EXEC = 2, STAGE_OUTPUT = 3 };

struct sup {
	const char *dir;
	char *spec_path;
	char *status_path;
	char *output_path;
	char *expire_path;

	/* from spec.json */
	char **argv;
	char *exec_path;     /* argv[0], made absolute against workdir when it has a '/' */
	char **envp;         /* the spec's env, and nothing else */
	char *workdir;
	int port;
	int stop_signal;
	int64_t stop_timeout_ms;

	/* published in status.json */
	unsigned long long self_start;
	pid_t pid;           /* our child, or the adopted process when pidfd >= 0 */
	unsigned long long pid_start;
	int restarts;
	const char *state;
	int last_exit_code;
	int64_t started_ms;
	char error[512];     /* empty: null */

	/* loop state */
	int sfd;
	int pidfd;           /* the adopted process (not our child); -1 otherwise */
	int starts;
	int64_t started_mono;
	int64_t backoff_ms;
	int64_t next_start_mono;
	bool stop_requested;
	bool dir_gone;
};

/* The name in the supervisor's log lines (svc_daemon_log). */
#define SUP_WHO "svcctl-supervise"

static void sup_write_status(struct sup *s)
{
	struct svc_error err;
	json_t *o;

	if (s->dir_gone)
		return;
	o = json_pack("{s:I, s:I, s:I, s:I, s:i, s:s, s:i, s:I, s:o, s:i}",
		      "supervisor_pid", (json_int_t)getpid(),
		      "supervisor_start", (json_int_t)s->self_start,
		      "pid", (json_int_t)s->pid,
		      "pid_start", (json_int_t)s->pid_start,
		      "restarts", s->restarts,
		      "state", s->state,
		      "last_exit_code", s->last_exit_code,
		      "started_ms", (json_int_t)s->started_ms,
		      "error", s->error[0] ? json_string(s->error) : json_null(),
		      "port", s->port);
	if (!o) {
		svc_daemon_log(SUP_WHO, "cannot build status");
		return;
	}
	svc_error_clear(&err);
	if (svc_json_file_write(o, s->status_path, &err))
		svc_daemon_log(SUP_WHO, "cannot write status: %s", err.message);
	json_decref(o);
}

static void sup_set_state(struct sup *s, const char *state)
{
	s->state = state;
	sup_write_status(s);
}

/*
 * The child's environment: exactly the spec's env (proc.c made it whole:
 * base, run.env, svcctl's variables). The supervisor's own environment,
 * which is svcctl's, is not passed on.
 */
static char **build_env(json_t *env)
{
	size_t i = 0;
	char **out;
	const char *key;
	json_t *val;

	out = svc_calloc(json_object_size(env) + 1, sizeof(*out));
	json_object_foreach(env, key, val) {
		if (json_is_string(val))
			out[i++] = svc_strfmt("%s=%s", key, json_string_value(val));
	}
	out[i] = NULL;
	return out;
}

static int sup_load_spec(struct sup *s, struct svc_error *err)
{
	json_t *spec = NULL, *argv, *env, *v;
	size_t i, n;
	int rc = SVC_EGENERIC;

	if (svc_json_file_read(&spec, s->spec_path, 1 << 20, err))
		goto done;
	if (!json_is_object(spec)) {
		svc_error_set(err, SVC_EGENERIC, "%s: not a JSON object", s->spec_path);
		goto done;
	}
	argv = json_object_get(spec, "argv");
	n = json_array_size(argv);
	if (!json_is_array(argv) || n == 0) {
		svc_error_set(err, SVC_EGENERIC, "'%s' has no argv", s->spec_path);
		goto done;
	}
	s->argv = svc_calloc(n + 1, sizeof(*s->argv));
	for (i = 0; i < n; i++) {
		v = json_array_get(argv, i);
		if (!json_is_string(v)) {
			svc_error_set(err, SVC_EGENERIC, "'%s': argv[%zu] is not a string",
				      s->spec_path, i);
			goto done;
		}
		s->argv[i] = svc_strdup(json_string_value(v));
	}
	v = json_object_get(spec, "workdir");
	s->workdir = svc_strdup(json_is_string(v) ? json_string_value(v) : "/");
	if (strchr(s->argv[0], '/') && s->argv[0][0] != '/')
		s->exec_path = svc_strfmt("%s/%s", s->workdir, s->argv[0]);
	else
		s->exec_path = svc_strdup(s->argv[0]);
	env = json_object_get(spec, "env");
	s->envp = build_env(json_is_object(env) ? env : NULL);
	s->port = (int)json_integer_value(json_object_get(spec, "port"));
	v = json_object_get(spec, "stop_signal");
	s->stop_signal = json_is_integer(v) ? (int)json_integer_value(v) : SIGTERM;
	if (s->stop_signal <= 0 || s->stop_signal >= NSIG)
		s->stop_signal = SIGTERM;
	v = json_object_get(spec, "stop_timeout_ms");
	s->stop_timeout_ms = json_is_integer(v) ? json_integer_value(v) : 10000;
	if (s->stop_timeout_ms < 0)
		s->stop_timeout_ms = 10000;
	rc = 0;
done:
	json_decref(spec);
	return rc;
}

/* In the forked child: report a failure to the supervisor and give up. */
static void child_fail(int fd, int stage)
{
	int msg[2] = { stage, errno };
	ssize_t n;

	do
		n = write(fd, msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	_exit(127);
}

static void describe_exit(struct sup *s, int status)
{
	if (WIFEXITED(status)) {
		s->last_exit_code = WEXITSTATUS(status);
		snprintf(s->error, sizeof(s->error), "exited with status %d", s->last_exit_code);
	} else if (WIFSIGNALED(status)) {
		s->last_exit_code = 128 + WTERMSIG(status);
		snprintf(s->error, sizeof(s->error), "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
}

static void schedule_restart(struct sup *s)
{
	s->next_start_mono = svc_mono_ms() + s->backoff_ms;
	s->backoff_ms *= 2;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
}

/* Start the instance; on failure record it and schedule a retry. */
static void sup_start_child(struct sup *s)
{
	int pfd[2] = { -1, -1 }, msg[2];
	char *file = NULL;
	sigset_t none;
	pid_t pid;
	ssize_t n;
	int status;

	if (s->starts > 0)
		s->restarts++;
	s->starts++;
	s->state = "starting";
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(s->error, sizeof(s->error), "cannot create a pipe: %s", strerror(errno));
		goto failed;
	}
	/* a bare name is looked up in the instance's PATH, not the supervisor's
	 * (NULL: not found, reported as ENOENT like a failed exec) */
	file = svc_exec_find(s->exec_path, s->envp, s->workdir);
	sigemptyset(&none);
	pid = fork();
	if (pid < 0) {
		snprintf(s->error, sizeof(s->error), "cannot fork: %s", strerror(errno));
		goto failed;
	}
	if (pid == 0) {
		int fd;

		close(pfd[0]);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (chdir(s->workdir))
			child_fail(pfd[1], STAGE_CHDIR);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, 0) < 0)
			child_fail(pfd[1], STAGE_OUTPUT);
		fd = open(s->output_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			child_fail(pfd[1], STAGE_OUTPUT);
		if (file)
			execve(file, s->argv, s->envp);
		else
			errno = ENOENT;
		child_fail(pfd[1], STAGE_EXEC);
	}
	free(file);
	file = NULL;
	setpgid(pid, pid); /* also in the parent: no window where the group is missing */
	close(pfd[1]);
	pfd[1] = -1;
	do
		n = read(pfd[0], msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(msg)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (msg[0] == STAGE_CHDIR)
			snprintf(s->error, sizeof(s->error), "cannot change to workdir '%s': %s",
				 s->workdir, strerror(msg[1]));
		else if (msg[0] == STAGE_EXEC)
			snprintf(s->error, sizeof(s->error), "exec of '%s' failed: %s",
				 s->exec_path, strerror(msg[1]));
		else
			snprintf(s->error, sizeof(s->error), "cannot open '%s': %s",
				 s->output_path, strerror(msg[1]));
		goto failed;
	}
	s->pid = pid;
	s->pid_start = svc_pid_starttime(pid);
	s->started_ms = svc_now_ms();
	s->started_mono = svc_mono_ms();
	s->error[0] = '\0';
	svc_daemon_log(SUP_WHO, "started '%s' as pid %ld", s->exec_path, (long)pid);
	close(pfd[0]);
	sup_set_state(s, "running");
	return;
failed:
	free(file);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	svc_daemon_log(SUP_WHO, "%s", s->error);
	s->pid = 0;
	s->pid_start = 0;
	s->started_ms = 0;
	schedule_restart(s);
	sup_set_state(s, "failed");
}

/* pidfd_open(2), pidfd_send_signal(2): through syscall(2), as older glibcs have no wrappers. */
static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* A pidfd is readable once its process has exited (a zombie counts). */
static bool pidfd_exited(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/*
 * Adopt mode, before the first start: take over the process DIR/status.json
 * names if its pid still has the recorded start time. The pidfd is opened
 * first and the start time checked after, so the pidfd names that very
 * process (a pid reused meanwhile fails the check and is left alone). When
 * it cannot be adopted (exited, a zombie, another process now), the loop
 * starts it again at once, as after an exit. The restart count and the
 * last exit status carry over. Nothing is written here: the caller writes
 * the status once the spec is read.
 *
 * Returns -1 when the process runs but cannot be watched (no pidfd: an old
 * kernel, no descriptor left): starting a second one beside it would fail
 * on its port, so the caller records the error and gives up, and the
 * process stays as it was, named in status.json.
 */
static int sup_adopt(struct sup *s)
{
	struct svc_supervisor_status st;
	int fd;

	if (svc_supervisor_status_read(&st, s->dir, NULL)) {
		svc_daemon_log(SUP_WHO, "nothing to adopt (no status): starting it");
		return 0;
	}
	s->restarts = st.restarts;
	s->last_exit_code = st.last_exit_code;
	s->starts = 1; /* the next start is a restart */
	if (st.pid <= 0 || st.pid_start == 0) {
		svc_daemon_log(SUP_WHO, "no process to adopt: starting it again");
		return 0;
	}
	fd = sys_pidfd_open(st.pid);
	if (fd < 0 && errno != ESRCH && svc_pid_starttime(st.pid) == st.pid_start) {
		snprintf(s->error, sizeof(s->error), "cannot watch pid %ld: pidfd_open: %s",
			 (long)st.pid, strerror(errno));
		svc_daemon_log(SUP_WHO, "%s", s->error);
		s->pid = st.pid;
		s->pid_start = st.pid_start;
		s->started_ms = st.started_ms;
		return -1;
	}
	if (fd < 0 || svc_pid_starttime(st.pid) != st.pid_start || pidfd_exited(fd)) {
		svc_daemon_log(SUP_WHO, "pid %ld is gone or another process now: starting it again",
			       (long)st.pid);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	s->pidfd = fd;
	s->pid = st.pid;
	s->pid_start = st.pid_start;
	s->started_ms = st.started_ms > 0 ? st.started_ms : svc_now_ms();
	/* for the backoff reset: how long it has run already */
	s->started_mono = svc_mono_ms() - (svc_now_ms() - s->started_ms);
	s->state = "running";
	s->error[0] = '\0';
	svc_daemon_log(SUP_WHO, "adopted pid %ld (its supervisor had died)", (long)st.pid);
	return 0;
}

/*
 * Signal the adopted process: its process group while the pidfd shows it
 * has not exited and its pid still has its start time (then the group id
 * is its own), else the process alone through the pidfd, which never
 * reaches another process (ESRCH once it has gone).
 */
static void sup_signal_adopted(struct sup *s, int sig)
{
	if (pidfd_exited(s->pidfd))
		return;
	if (svc_pid_starttime(s->pid) == s->pid_start && kill(-s->pid, sig) == 0)
		return;
	sys_pidfd_send_signal(s->pidfd, sig);
}

static void sup_forget_adopted(struct sup *s)
{
	close(s->pidfd);
	s->pidfd = -1;
	s->pid = 0;
	s->pid_start = 0;
	s->started_ms = 0;
}

/* The adopted process has exited: as sup_reap, without a status to read. */
static void sup_adopted_exited(struct sup *s)
{
	svc_daemon_log(SUP_WHO, "adopted pid %ld exited", (long)s->pid);
	sup_forget_adopted(s);
	s->last_exit_code = -1;
	snprintf(s->error, sizeof(s->error),
		 "exited (status unknown: an adopted process is no child of its supervisor)");
	if (svc_mono_ms() - s->started_mono >= BACKOFF_RESET_MS)
		s->backoff_ms = BACKOFF_MIN_MS;
	schedule_restart(s);
	sup_set_state(s, "backoff");
}

/* Reap the child if it exited; schedule the restart unless stopping. */
static void sup_reap(struct sup *s)
{
	int status;
	pid_t r;

	while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
		if (r != s->pid)
			continue;
		describe_exit(s, status);
		svc_daemon_log(SUP_WHO, "pid %ld %s", (long)r, s->error);
		s->pid = 0;
		s->pid_start = 0;
		s->started_ms = 0;
		if (svc_mono_ms() - s->started_mono >= BACKOFF_RESET_MS)
			s->backoff_ms = BACKOFF_MIN_MS;
		schedule_restart(s);
		sup_set_state(s, "backoff");
	}
}

/* Drain the signalfd; returns true when SIGCHLD was among the signals. */
static bool sup_read_signals(struct sup *s)
{
	struct signalfd_siginfo si;
	bool chld = false;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			chld = true;
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			if (!s->stop_requested)
				svc_daemon_log(SUP_WHO, "signal %u: stopping", si.ssi_signo);
			s->stop_requested = true;
		}
	}
	return chld;
}

static void sup_check_expiry_and_dir(struct sup *s)
{
	struct stat st;
	char *text = NULL;
	long long at;

	if (stat(s->dir, &st) && errno == ENOENT) {
		svc_daemon_log(SUP_WHO, "'%s' was removed: stopping", s->dir);
		s->dir_gone = true;
		s->stop_requested = true;
		return;
	}
	if (svc_file_read(&text, NULL, s->expire_path, 64, NULL) == 0) {
		char *nl = strchr(text, '\n');

		if (nl)
			*nl = '\0';
		if (svc_parse_int(&at, text, 0, INT64_MAX) == 0 && at > 0 && svc_now_ms() >= at) {
			svc_daemon_log(SUP_WHO, "expired: stopping");
			s->stop_requested = true;
		}
		free(text);
	}
}

/*
 * Wait (without reaping) until the child, or the adopted process, exits or
 * deadline (mono ms) passes.
 */
static bool wait_exit_until(struct sup *s, int64_t deadline)
{
	siginfo_t info;

	for (;;) {
		/* a negative fd (no adopted process) is ignored by poll */
		struct pollfd pfd[2] = { { .fd = s->sfd, .events = POLLIN },
					 { .fd = s->pidfd, .events = POLLIN } };
		int64_t left;

		memset(&info, 0, sizeof(info));
		if (s->pidfd >= 0 ? pidfd_exited(s->pidfd)
		    : (waitid(P_PID, (id_t)s->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		       info.si_pid == s->pid))
			return true;
		left = deadline - svc_mono_ms();
		if (left <= 0)
			return false;
		poll(pfd, 2, left > TICK_MS ? TICK_MS : (int)left);
		sup_read_signals(s);
	}
}

/*
 * sup_stop_child for an adopted process. Its exit status is not ours to
 * read, and once it has exited its group id is no longer known to be its
 * own (no zombie of ours holds it), so what else it left in its group is
 * not chased.
 */
static void sup_stop_adopted(struct sup *s)
{
	sup_signal_adopted(s, s->stop_signal);
	if (!wait_exit_until(s, svc_mono_ms() + s->stop_timeout_ms)) {
		svc_daemon_log(SUP_WHO, "adopted pid %ld still running after %lld ms: SIGKILL",
			       (long)s->pid, (long long)s->stop_timeout_ms);
		sup_signal_adopted(s, SIGKILL);
		wait_exit_until(s, INT64_MAX);
	}
	sup_forget_adopted(s);
	s->last_exit_code = -1;
	s->error[0] = '\0';
}

static void sup_stop_child(struct sup *s)
{
	int status = 0;

	if (s->pid <= 0)
		return;
	if (s->pidfd >= 0) {
		sup_stop_adopted(s);
		return;
	}
	kill(-s->pid, s->stop_signal);
	if (!wait_exit_until(s, svc_mono_ms() + s->stop_timeout_ms)) {
		svc_daemon_log(SUP_WHO, "pid %ld still running after %lld ms: SIGKILL",
			       (long)s->pid, (long long)s->stop_timeout_ms);
		kill(-s->pid, SIGKILL);
		wait_exit_until(s, INT64_MAX);
	}
	/* The leader is a zombie, so its group id cannot have been reused:
	 * take down whatever else is left in the group. */
	kill(-s->pid, SIGKILL);
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	describe_exit(s, status);
	s->error[0] = '\0';
	s->pid = 0;
	s->pid_start = 0;
	s->started_ms = 0;
}

static int sup_run(const char *dir, bool adopt)
{
	struct sup s;
	struct svc_error err;
	sigset_t mask;
	int rc = 1;

	memset(&s, 0, sizeof(s));
	s.sfd = -1;
	s.pidfd = -1;
	s.dir = dir;
	s.state = "starting";
	s.last_exit_code = -1;
	s.backoff_ms = BACKOFF_MIN_MS;
	s.self_start = svc_pid_starttime(getpid());
	svc_error_clear(&err);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	if (!dir || dir[0] != '/') {
		svc_daemon_log(SUP_WHO, "usage: svcctl __supervise ABSOLUTE-DIR");
		goto done;
	}
	s.spec_path = svc_strfmt("%s/spec.json", dir);
	s.status_path = svc_strfmt("%s/status.json", dir);
	s.output_path = svc_strfmt("%s/output.log", dir);
	s.expire_path = svc_strfmt("%s/expire_at", dir);
	/* first: what status.json says is replaced by what we write below */
	if (adopt && sup_adopt(&s)) {
		sup_set_state(&s, "failed");
		goto done;
	}
	s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sfd < 0) {
		snprintf(s.error, sizeof(s.error), "signalfd: %s", strerror(errno));
		svc_daemon_log(SUP_WHO, "%s", s.error);
		sup_set_state(&s, "failed");
		goto done;
	}
	if (sup_load_spec(&s, &err)) {
		snprintf(s.error, sizeof(s.error), "%.*s", (int)sizeof(s.error) - 1, err.message);
		svc_daemon_log(SUP_WHO, "%s", s.error);
		sup_set_state(&s, "failed");
		goto done;
	}
	svc_daemon_log(SUP_WHO, "supervising '%s' in '%s'", s.exec_path, s.workdir);
	sup_write_status(&s);
	s.next_start_mono = svc_mono_ms();

	for (;;) {
		struct pollfd pfd[2] = { { .fd = s.sfd, .events = POLLIN },
					 { .fd = s.pidfd, .events = POLLIN } };
		int64_t timeout = TICK_MS;

		sup_check_expiry_and_dir(&s);
		if (s.stop_requested)
			break;
		if (s.pid == 0) {
			int64_t wait = s.next_start_mono - svc_mono_ms();

			if (wait <= 0) {
				sup_start_child(&s);
				continue;
			}
			if (wait < timeout)
				timeout = wait;
		}
		if (poll(pfd, 2, (int)timeout) < 0 && errno != EINTR) {
			svc_daemon_log(SUP_WHO, "poll: %s", strerror(errno));
			svc_sleep_ms(TICK_MS);
		}
		if (sup_read_signals(&s))
			sup_reap(&s);
		if (s.pidfd >= 0 && pidfd_exited(s.pidfd))
			sup_adopted_exited(&s);
		if (s.stop_requested)
			break;
	}
	sup_set_state(&s, "stopping");
	sup_stop_child(&s);
	sup_set_state(&s, "stopped");
	svc_daemon_log(SUP_WHO, "stopped");
	rc = 0;
done:
	if (s.sfd >= 0)
		close(s.sfd);
	if (s.pidfd >= 0)
		close(s.pidfd);
	svc_strv_free(s.argv);
	svc_strv_free(s.envp);
	free(s.exec_path);
	free(s.workdir);
	free(s.spec_path);
	free(s.status_path);
	free(s.output_path);
	free(s.expire_path);
	return rc;
}

int svc_supervisor_run(const char *dir)
{
	return sup_run(dir, false);
}

int svc_supervisor_adopt(const char *dir)
{
	return sup_run(dir, true);
}

int svc_supervisor_status_parse(struct svc_supervisor_status *out, const json_t *o,
				const char *path, struct svc_error *err)
{
	const json_t *v;
	static const char *const ints[] = { "supervisor_pid", "supervisor_start", "pid",
					    "pid_start", "restarts", "started_ms", "port" };

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	if (!json_is_object(o))
		return svc_error_set(err, SVC_ESTATE, "%s: invalid instance status: not a JSON object",
				     path);
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		v = json_object_get(o, ints[i]);
		if (v && !json_is_integer(v))
			return svc_error_set(err, SVC_ESTATE,
					     "%s: invalid instance status: '%s' is not an integer",
					     path, ints[i]);
		/* never cut down to size: a pid that wraps would name another process */
		if (v && (json_integer_value(v) < 0 ||
			  (strcmp(ints[i], "supervisor_start") && strcmp(ints[i], "pid_start") &&
			   strcmp(ints[i], "started_ms") && json_integer_value(v) > INT32_MAX)))
			return svc_error_set(err, SVC_ESTATE,
					     "%s: invalid instance status: '%s' is out of range",
					     path, ints[i]);
	}
	if (!json_is_integer(json_object_get(o, "supervisor_pid")) ||
	    !json_is_string(json_object_get(o, "state")))
		return svc_error_set(err, SVC_ESTATE,
				     "%s: invalid instance status: no 'supervisor_pid' or 'state'", path);
	out->supervisor_pid = (pid_t)json_integer_value(json_object_get(o, "supervisor_pid"));
	out->supervisor_start =
		(unsigned long long)json_integer_value(json_object_get(o, "supervisor_start"));
	out->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	out->pid_start = (unsigned long long)json_integer_value(json_object_get(o, "pid_start"));
	out->restarts = (int)json_integer_value(json_object_get(o, "restarts"));
	v = json_object_get(o, "last_exit_code");
	out->last_exit_code = json_is_integer(v) ? (int)json_integer_value(v) : -1;
	out->started_ms = json_integer_value(json_object_get(o, "started_ms"));
	out->port = (int)json_integer_value(json_object_get(o, "port"));
	v = json_object_get(o, "state");
	snprintf(out->state, sizeof(out->state), "%s", json_string_value(v));
	v = json_object_get(o, "error");
	snprintf(out->error, sizeof(out->error), "%s", json_is_string(v) ? json_string_value(v) : "");
	if (out->supervisor_pid < 0 || out->pid < 0)
		return svc_error_set(err, SVC_ESTATE, "%s: invalid instance status: a negative pid",
				     path);
	return 0;
}

int svc_supervisor_status_read(struct svc_supervisor_status *out, const char *dir,
			       struct svc_error *err)
{
	char *path = svc_strfmt("%s/status.json", dir);
	struct svc_error e;
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	svc_error_clear(&e);
	rc = svc_json_file_read(&o, path, 1 << 16, &e);
	if (rc == SVC_ENOTFOUND)
		goto done;    /* not written yet: a supervisor starting */
	if (rc) {
		rc = svc_error_set(err, SVC_ESTATE, "%s (invalid instance status)", e.message);
		goto done;
	}
	rc = svc_supervisor_status_parse(out, o, path, err);
done:
	json_decref(o);
	free(path);
	return rc;
}
