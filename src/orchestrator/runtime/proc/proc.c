/*
 * runtime/proc/proc.c - the process runtime: every instance a local process, each under
 * its own supervisor (supervisor.c), started detached so that it outlives
 * the svcctl command that deployed it.
 *
 * An instance is a folder, STATE/services/SERVICE/instances/ID/ (0700):
 * spec.json (what to run; written here, read by the supervisor),
 * status.json (what runs; written by the supervisor, read here),
 * expire_at (optional: epoch ms when the supervisor stops it),
 * output.log (the instance's stdout and stderr) and supervisor.log.
 * There is no other registry: list() rebuilds every instance from these
 * folders and from the live processes, trusting a pid only together with
 * its start time, so a pid reused after a reboot or a crash is never taken
 * for the instance (nor signalled). stop() archives output.log under
 * STATE/services/SERVICE/logs/ID.log and removes the folder.
 *
 * A supervisor can die (SIGKILL, the OOM killer) and leave its instance
 * running unsupervised: list() then says "gone", though it still serves.
 * reconcile(), which recovery calls at the start of every command that
 * takes the service's lock, puts each such instance back under a new
 * supervisor: in adopt mode (supervisor.h) when its pid and start time
 * still match, so the same process keeps serving, else started again in
 * the same folder, with the same id, index and port, so that the route
 * needs no change. It finishes stopping an instance that was being stopped
 * or whose warm period is over, and removes one whose port was taken while
 * it was down (started again there, it could not listen, and the route
 * would lead to the port's new owner).
 *
 * Instances listen on 127.0.0.1 on a port picked here (${PORT}); the router
 * forwards the service's stable address there. spec.json holds an
 * instance's whole environment, made here from nothing: the fixed base
 * (svc_env_base), the manifest's run.env, then PORT, SERVICE, VERSION and
 * INSTANCE; svcctl's own environment (and so the deploying shell's) never
 * reaches an instance. The supervisor keeps its own.
 */
#include "runtime/proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/proc/supervisor.h"
#include "base/spawn.h"
#include "util.h"

#define PROC_HOST "127.0.0.1"
#define START_WAIT_MS 5000
#define STOP_GRACE_MS 5000       /* on top of stop_timeout, for the supervisor itself */
#define POLL_MS 20
#define LOGS_POLL_MS 200
#define SPEC_MAX (1 << 20)

/*
 * Expand ${PORT} ${VERSION} ${SERVICE} ${INSTANCE} in tmpl; "$$" is a
 * literal '$'; anything else is copied as written. Caller frees the result.
 * (Local stand-in for svc_manifest_expand, same contract.)
 */
static char *proc_expand(const char *tmpl, const struct svc_expand_vars *vars)
{
	static const char *const names[] = { "PORT", "VERSION", "SERVICE", "INSTANCE" };
	const char *values[4] = { vars->port, vars->version, vars->service, vars->instance };
	size_t len = 0, alloc = strlen(tmpl) + 1;
	char *out = svc_calloc(alloc, 1);
	const char *p = tmpl;

	while (*p) {
		const char *add = p;
		size_t addlen = 1, skip = 1;

		if (p[0] == '$' && p[1] == '$') {
			skip = 2;
		} else if (p[0] == '$' && p[1] == '{') {
			for (size_t i = 0; i < 4; i++) {
				size_t nl = strlen(names[i]);

				if (!strncmp(p + 2, names[i], nl) && p[2 + nl] == '}') {
					add = values[i] ? values[i] : "";
					addlen = strlen(add);
					skip = nl + 3;
					break;
				}
			}
		}
		if (len + addlen + 1 > alloc) {
			alloc = (len + addlen + 1) * 2;
			out = svc_realloc(out, alloc, 1);
		}
		memcpy(out + len, add, addlen);
		len += addlen;
		p += skip;
	}
	out[len] = '\0';
	return out;
}

static bool id_valid(const char *id)
{
	return id && id[0] && id[0] != '.' && !strchr(id, '/') && strlen(id) < 200;
}

static char *service_dir(const struct svc_runtime *rt, const char *service)
{
	return svc_strfmt("%s/services/%s", rt->state_dir, service);
}

static char *instances_dir(const struct svc_runtime *rt, const char *service)
{
	return svc_strfmt("%s/services/%s/instances", rt->state_dir, service);
}

static char *instance_dir(const struct svc_runtime *rt, const char *service, const char *id)
{
	return svc_strfmt("%s/services/%s/instances/%s", rt->state_dir, service, id);
}

/* What list() and stop() need from spec.json. */
struct proc_spec {
	char *service;
	char *release;
	char *color;
	int index;
	int port;
	int stop_signal;
	int64_t stop_timeout_ms;
	int64_t created_ms;
};

static void proc_spec_release(struct proc_spec *sp)
{
	free(sp->service);
	free(sp->release);
	free(sp->color);
	memset(sp, 0, sizeof(*sp));
}

/* spec.json's fields, strictly: SVC_ESTATE naming path when it is not what start() wrote. */
static int proc_spec_parse(struct proc_spec *out, const json_t *o, const char *path,
			   struct svc_error *err)
{
	const json_t *v;
	const char *release, *color;

	memset(out, 0, sizeof(*out));
	release = json_string_value(json_object_get(o, "release"));
	color = json_string_value(json_object_get(o, "color"));
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "service")) ||
	    !svc_hex_is(release, 64) || !color || (strcmp(color, "blue") && strcmp(color, "green")) ||
	    !json_is_integer(json_object_get(o, "index")) ||
	    json_integer_value(json_object_get(o, "index")) < 0 ||
	    json_integer_value(json_object_get(o, "index")) > INT32_MAX ||
	    !json_is_integer(json_object_get(o, "port")) ||
	    json_integer_value(json_object_get(o, "port")) < 1 ||
	    json_integer_value(json_object_get(o, "port")) > 65535)
		return svc_error_set(err, SVC_ESTATE, "%s: invalid instance spec (service, release, "
				     "color, index and port)", path);
	out->service = svc_strdup(json_string_value(json_object_get(o, "service")));
	out->release = svc_strdup(release);
	out->color = svc_strdup(color);
	out->index = (int)json_integer_value(json_object_get(o, "index"));
	out->port = (int)json_integer_value(json_object_get(o, "port"));
	v = json_object_get(o, "stop_signal");
	out->stop_signal = json_is_integer(v) ? (int)json_integer_value(v) : SIGTERM;
	v = json_object_get(o, "stop_timeout_ms");
	out->stop_timeout_ms = json_is_integer(v) ? json_integer_value(v) : 10000;
	out->created_ms = json_integer_value(json_object_get(o, "created_ms"));
	return 0;
}

/* SVC_ENOTFOUND (err unset) without a spec.json: a start() under way. */
static int proc_spec_read(struct proc_spec *out, const char *dir, struct svc_error *err)
{
	char *path = svc_strfmt("%s/spec.json", dir);
	struct svc_error e;
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	svc_error_clear(&e);
	rc = svc_json_file_read(&o, path, SPEC_MAX, &e);
	if (rc && rc != SVC_ENOTFOUND)
		rc = svc_error_set(err, SVC_ESTATE, "%s (invalid instance spec)", e.message);
	else if (!rc)
		rc = proc_spec_parse(out, o, path, err);
	json_decref(o);
	free(path);
	return rc;
}

/* expire_at's text: epoch ms, an optional newline. */
static int expire_parse(int64_t *out, const char *text, size_t len, const char *path,
			struct svc_error *err)
{
	char buf[32];
	long long at;

	*out = 0;
	if (len && text[len - 1] == '\n')
		len--;
	if (len == 0 || len >= sizeof(buf) || memchr(text, '\0', len))
		return svc_error_set(err, SVC_ESTATE, "%s: invalid expiry (epoch ms)", path);
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (svc_parse_int(&at, buf, 0, INT64_MAX))
		return svc_error_set(err, SVC_ESTATE, "%s: invalid expiry (epoch ms)", path);
	*out = at;
	return 0;
}

/* 0 and *out 0 without an expire_at; SVC_ESTATE when it cannot be read. */
static int expire_read(int64_t *out, const char *dir, struct svc_error *err)
{
	char *path = svc_strfmt("%s/expire_at", dir);
	char *text = NULL;
	size_t len = 0;
	struct svc_error e;
	int rc;

	*out = 0;
	svc_error_clear(&e);
	rc = svc_file_read(&text, &len, path, 64, &e);
	if (rc == SVC_ENOTFOUND)
		rc = 0;
	else if (rc)
		rc = svc_error_set(err, SVC_ESTATE, "%s", e.message);
	else
		rc = expire_parse(out, text, len, path, err);
	free(text);
	free(path);
	return rc;
}

/* The expiry, where one can be read (0: none or unreadable; list() reports that). */
static int64_t read_expire_at(const char *dir)
{
	int64_t at = 0;

	expire_read(&at, dir, NULL);
	return at;
}

int svc_proc_spec_check(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct proc_spec sp;
	json_t *o;
	int rc;

	if ((rc = svc_json_parse_buffer(&o, buf, len, 0, path, "instance spec", SVC_ESTATE, err)))
		return rc;
	rc = proc_spec_parse(&sp, o, path, err);
	proc_spec_release(&sp);
	json_decref(o);
	return rc;
}

int svc_proc_status_check(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	struct svc_supervisor_status st;
	json_t *o;
	int rc;

	if ((rc = svc_json_parse_buffer(&o, buf, len, 0, path, "instance status", SVC_ESTATE,
					err)))
		return rc;
	rc = svc_supervisor_status_parse(&st, o, path, err);
	json_decref(o);
	return rc;
}

int svc_proc_expire_check(const char *buf, size_t len, const char *path, struct svc_error *err)
{
	int64_t at;

	return expire_parse(&at, buf, len, path, err);
}

static bool supervisor_alive(const struct svc_supervisor_status *st)
{
	return st->supervisor_pid > 0 && st->supervisor_start != 0 &&
	       svc_pid_alive(st->supervisor_pid, st->supervisor_start);
}

static bool child_alive(const struct svc_supervisor_status *st)
{
	return st->pid > 0 && st->pid_start != 0 && svc_pid_alive(st->pid, st->pid_start);
}

/* Rebuild one instance from its folder. SVC_ENOTFOUND when it has no spec yet. */
static int read_instance(struct svc_instance *out, const char *dir, const char *id,
			 struct svc_error *err)
{
	struct proc_spec sp;
	struct svc_supervisor_status st;
	struct svc_error e;
	int rc, strc;

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	rc = proc_spec_read(&sp, dir, err);
	if (rc == SVC_ENOTFOUND) {
		/* start() writes spec.json before the supervisor writes anything */
		char *status = svc_strfmt("%s/status.json", dir);
		if (svc_path_exists(status))
			rc = svc_error_set(err, SVC_ESTATE, "%s/spec.json: missing, but its "
					   "supervisor wrote status.json", dir);
		free(status);
	}
	if (rc)
		goto done;
	svc_error_clear(&e);
	strc = svc_supervisor_status_read(&st, dir, &e);
	if (strc == SVC_ESTATE || expire_read(&out->expire_at_ms, dir, &e) == SVC_ESTATE)
		out->problem = svc_strdup(e.message);
	out->id = svc_strdup(id);
	out->service = sp.service;
	out->release = sp.release;
	out->color = sp.color;
	sp.service = sp.release = sp.color = NULL;
	out->index = sp.index;
	snprintf(out->host, sizeof(out->host), "%s", PROC_HOST);
	out->port = sp.port;
	out->log_path = svc_strfmt("%s/output.log", dir);
	if (strc) {
		/* No status yet: a supervisor still starting, or one that never ran. */
		out->state = svc_now_ms() - sp.created_ms < START_WAIT_MS * 2
			? SVC_INST_STARTING : SVC_INST_GONE;
		goto done;
	}
	out->restarts = st.restarts;
	out->last_exit_code = st.last_exit_code;
	if (supervisor_alive(&st)) {
		out->proc.supervisor_pid = st.supervisor_pid;
		out->proc.supervisor_start = st.supervisor_start;
		if (!strcmp(st.state, "stopping"))
			out->state = SVC_INST_STOPPING;
		else if (!strcmp(st.state, "stopped"))
			out->state = SVC_INST_STOPPED;
		else if (!strcmp(st.state, "running") && child_alive(&st))
			out->state = SVC_INST_RUNNING;
		else
			out->state = SVC_INST_STARTING;
	} else {
		out->state = !strcmp(st.state, "stopped") ? SVC_INST_STOPPED : SVC_INST_GONE;
	}
	if (child_alive(&st)) {
		out->pid = st.pid;
		out->proc.pid_start = st.pid_start;
		out->started_ms = st.started_ms;
	}
done:
	proc_spec_release(&sp);
	return rc;
}

/* Wait until pid (with start time) is gone or timeout_ms passes; true when gone. */
static bool wait_gone(pid_t pid, unsigned long long start, int64_t timeout_ms)
{
	int64_t deadline = svc_mono_ms() + timeout_ms;

	while (svc_pid_alive(pid, start)) {
		if (svc_mono_ms() >= deadline)
			return false;
		svc_sleep_ms(POLL_MS);
	}
	return true;
}

/* Send sig to pid's process group (pid leads it), or to pid alone if it left it. */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) && errno == ESRCH)
		kill(pid, sig);
}

/*
 * Stop whatever of the instance in dir still runs (supervisor first, then
 * an instance process left behind by a supervisor that died), archive its
 * output and remove the folder.
 */
/*
 * The supervisor of instance folder dir found by its command line
 * (`svcctl __supervise [--adopt] DIR`), for when its status.json cannot be
 * read: 0 and *pid, *start set, or SVC_ENOTFOUND.
 */
static int find_supervisor(const char *dir, pid_t *pid, unsigned long long *start)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int rc = SVC_ENOTFOUND;

	while (d && rc && (de = readdir(d))) {
		char *path, *cmd = NULL, *last = NULL;
		size_t len = 0;
		long long p;

		if (svc_parse_int(&p, de->d_name, 1, INT32_MAX))
			continue;
		path = svc_strfmt("/proc/%s/cmdline", de->d_name);
		if (svc_file_read(&cmd, &len, path, 1 << 16, NULL) == 0 && len > 1) {
			/* NUL-separated; the last argument is the folder */
			bool supervise = false;
			for (size_t k = 0; k < len; k += strlen(cmd + k) + 1) {
				supervise |= !strcmp(cmd + k, "__supervise");
				last = cmd + k;
			}
			if (supervise && last && !strcmp(last, dir) &&
			    (*start = svc_pid_starttime((pid_t)p)) != 0) {
				*pid = (pid_t)p;
				rc = 0;
			}
		}
		free(cmd);
		free(path);
	}
	if (d)
		closedir(d);
	return rc;
}

static int stop_dir(const struct svc_runtime *rt, const char *service, const char *id,
		    const char *dir, struct svc_error *err)
{
	struct proc_spec sp;
	struct svc_supervisor_status st;
	char *sdir = NULL, *logs = NULL, *from = NULL, *to = NULL;
	int64_t stop_timeout = 10000;
	int stop_signal = SIGTERM;
	bool have_status, killed = false;
	int rc = SVC_EGENERIC;

	if (proc_spec_read(&sp, dir, NULL) == 0) {
		stop_timeout = sp.stop_timeout_ms >= 0 ? sp.stop_timeout_ms : 10000;
		stop_signal = sp.stop_signal > 0 && sp.stop_signal < NSIG ? sp.stop_signal : SIGTERM;
	}
	proc_spec_release(&sp);
	have_status = svc_supervisor_status_read(&st, dir, NULL) == 0;
	if (!have_status && svc_path_exists(dir) &&
	    find_supervisor(dir, &st.supervisor_pid, &st.supervisor_start) == 0) {
		/* status.json unreadable: its supervisor still stops its child on SIGTERM */
		st.pid = 0;
		kill(st.supervisor_pid, SIGTERM);
		if (!wait_gone(st.supervisor_pid, st.supervisor_start, stop_timeout + STOP_GRACE_MS))
			kill(st.supervisor_pid, SIGKILL);
	}
	if (have_status && supervisor_alive(&st)) {
		kill(st.supervisor_pid, SIGTERM);
		if (!wait_gone(st.supervisor_pid, st.supervisor_start, stop_timeout + STOP_GRACE_MS)) {
			kill(st.supervisor_pid, SIGKILL);
			if (child_alive(&st))
				kill_group(st.pid, SIGKILL);
			killed = true;
			wait_gone(st.supervisor_pid, st.supervisor_start, 2000);
		}
		/* What the supervisor recorded last (pid 0 once it stopped the child). */
		if (svc_supervisor_status_read(&st, dir, NULL))
			have_status = false;
	}
	if (have_status && child_alive(&st)) {
		/* Left behind by a supervisor that was killed: stop it the same way. */
		kill_group(st.pid, killed ? SIGKILL : stop_signal);
		if (!wait_gone(st.pid, st.pid_start, killed ? 2000 : stop_timeout)) {
			kill_group(st.pid, SIGKILL);
			if (!wait_gone(st.pid, st.pid_start, 2000)) {
				rc = svc_error_set(err, SVC_EFAILED,
					"instance '%s': process %ld does not die", id, (long)st.pid);
				goto done;
			}
		}
	}
	sdir = service_dir(rt, service);
	logs = svc_strfmt("%s/logs", sdir);
	from = svc_strfmt("%s/output.log", dir);
	to = svc_strfmt("%s/%s.log", logs, id);
	if (svc_path_exists(from)) {
		if (svc_mkdir_p(logs, 0700, err))
			goto done;
		if (rename(from, to)) {
			svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot move '%s' to '%s'",
					    from, to);
			goto done;
		}
	}
	if (svc_rm_rf(dir)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove '%s'", dir);
		goto done;
	}
	rc = 0;
done:
	free(sdir);
	free(logs);
	free(from);
	free(to);
	return rc;
}

/*
 * Start `self_exe __supervise [--adopt] DIR` detached (spawn.h); *out its
 * pid. adopt: take over from a supervisor that died (supervisor.h).
 */
static int spawn_supervisor(pid_t *out, const struct svc_runtime *rt, const char *dir,
			    bool adopt, struct svc_error *err)
{
	char cmd[] = "__supervise", opt[] = "--adopt";
	char *log = svc_strfmt("%s/supervisor.log", dir);
	char *dir_arg = svc_strdup(dir);
	char *argv[5] = { rt->self_exe, cmd, adopt ? opt : dir_arg, adopt ? dir_arg : NULL, NULL };
	struct svc_error e = { 0 };
	int rc = 0;

	if (svc_spawn_detached(out, argv, log, &e))
		rc = svc_error_set(err, SVC_EFAILED, "cannot start the supervisor for '%s': %s",
				   dir, e.message);
	free(log);
	free(dir_arg);
	return rc;
}

/* The last non-empty line of a file, for messages; "" when none. */
static void last_line(char *buf, size_t len, const char *path)
{
	char *text = NULL, *end, *start;

	buf[0] = '\0';
	if (svc_file_read(&text, NULL, path, SPEC_MAX, NULL))
		return;
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*end = '\0';
	start = strrchr(text, '\n');
	snprintf(buf, len, "%s", start ? start + 1 : text);
	free(text);
}

/*
 * Wait until supervisor sup reports the instance running, or why it is
 * not. A status.json written by another supervisor (the one sup replaces)
 * does not count.
 */
static int wait_started(const char *dir, const char *id, pid_t sup, struct svc_error *err)
{
	int64_t deadline = svc_mono_ms() + START_WAIT_MS;
	struct svc_supervisor_status st;
	char detail[512];
	char *log = NULL;
	int rc = SVC_EFAILED;

	for (;;) {
		bool have = svc_supervisor_status_read(&st, dir, NULL) == 0 &&
			    st.supervisor_pid == sup;

		/* "backoff": it started and already exited; health checks judge that */
		if (have && ((!strcmp(st.state, "running") && st.pid > 0) ||
			     !strcmp(st.state, "backoff"))) {
			rc = 0;
			goto done;
		}
		if (have && !strcmp(st.state, "failed") && st.error[0]) {
			svc_error_set(err, SVC_EFAILED, "instance '%s' failed to start: %s",
				      id, st.error);
			goto done;
		}
		if (have && (!strcmp(st.state, "stopping") || !strcmp(st.state, "stopped"))) {
			svc_error_set(err, SVC_EFAILED, "instance '%s' was stopped while starting", id);
			goto done;
		}
		if (!svc_pid_alive(sup, 0)) {
			/* One more look: it may have written its status and exited. */
			if (svc_supervisor_status_read(&st, dir, NULL) == 0 &&
			    st.supervisor_pid == sup && st.error[0]) {
				svc_error_set(err, SVC_EFAILED, "instance '%s' failed to start: %s",
					      id, st.error);
				goto done;
			}
			log = svc_strfmt("%s/supervisor.log", dir);
			last_line(detail, sizeof(detail), log);
			svc_error_set(err, SVC_EFAILED,
				      "instance '%s' failed to start: the supervisor exited%s%s",
				      id, detail[0] ? ": " : "", detail);
			goto done;
		}
		if (svc_mono_ms() >= deadline) {
			svc_error_set(err, SVC_EFAILED,
				      "instance '%s' did not start within %d s (state '%s')",
				      id, START_WAIT_MS / 1000, have ? st.state : "none");
			goto done;
		}
		svc_sleep_ms(POLL_MS);
	}
done:
	free(log);
	return rc;
}

static bool release_valid(const char *release)
{
	if (!release || !*release)
		return false;
	for (const char *p = release; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	}
	return true;
}

static json_t *build_spec(const struct svc_manifest *m, const char *release, const char *color,
			  int index, int port)
{
	char portbuf[16], indexbuf[16];
	struct svc_expand_vars vars;
	json_t *spec, *argv = json_array(), *env = json_object();
	char **base;
	bool bad = false;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	snprintf(indexbuf, sizeof(indexbuf), "%d", index);
	vars.port = portbuf;
	vars.version = m->version ? m->version : "";
	vars.service = m->service;
	vars.instance = indexbuf;
	for (char **a = m->run.command; *a; a++) {
		char *v = proc_expand(*a, &vars);

		if (json_array_append_new(argv, json_string(v)))
			bad = true;
		free(v);
	}
	/*
	 * The instance's whole environment (the supervisor adds nothing): the
	 * fixed base, the manifest's env over it, then the instance's own
	 * variables (these win). Nothing of svcctl's own environment.
	 */
	base = svc_env_base();
	for (char **e = base; *e; e++) {
		char *eq = strchr(*e, '=');

		*eq = '\0';
		json_object_set_new(env, *e, json_string(eq + 1));
	}
	svc_strv_free(base);
	for (size_t i = 0; i < m->run.nenv; i++) {
		char *v = proc_expand(m->run.env[i].value ? m->run.env[i].value : "", &vars);

		if (!m->run.env[i].key || json_object_set_new(env, m->run.env[i].key, json_string(v)))
			bad = true;
		free(v);
	}
	json_object_set_new(env, "PORT", json_string(vars.port));
	json_object_set_new(env, "SERVICE", json_string(vars.service));
	json_object_set_new(env, "VERSION", json_string(vars.version));
	json_object_set_new(env, "INSTANCE", json_string(vars.instance));
	spec = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:o, s:o, s:s, s:i, s:I, s:I}",
			 "service", m->service,
			 "release", release,
			 "color", color,
			 "index", index,
			 "host", PROC_HOST,
			 "port", port,
			 "argv", argv,
			 "env", env,
			 "workdir", svc_manifest_workdir(m),
			 "stop_signal", m->run.stop_signal > 0 ? m->run.stop_signal : SIGTERM,
			 "stop_timeout_ms", (json_int_t)(m->run.stop_timeout_ms >= 0
							 ? m->run.stop_timeout_ms : 10000),
			 "created_ms", (json_int_t)svc_now_ms());
	if (bad) {
		json_decref(spec);
		spec = NULL;
	}
	return spec;
}

static int proc_start(struct svc_runtime *rt, const struct svc_manifest *m,
		      const char *release, const char *color, int index,
		      struct svc_instance *out, struct svc_error *err)
{
	struct svc_supervisor_status st;
	char *id = NULL, *idir = NULL, *dir = NULL, *spec_path = NULL;
	json_t *spec = NULL;
	bool created = false;
	pid_t sup = 0;
	int port, rc = SVC_EGENERIC;

	memset(out, 0, sizeof(*out));
	out->last_exit_code = -1;
	if (!m || !svc_name_valid(m->service)) {
		rc = svc_error_set(err, SVC_EGENERIC, "invalid service name '%s'",
				   m && m->service ? m->service : "");
		goto done;
	}
	if (!m->run.command || !m->run.command[0]) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "service '%s' has no run.command (needed by the process runtime)",
				   m->service);
		goto done;
	}
	if (!release_valid(release) || !color || index < 0) {
		rc = svc_error_set(err, SVC_EGENERIC, "invalid release '%s' for service '%s'",
				   release ? release : "", m->service);
		goto done;
	}
	id = svc_strfmt("%s-%.12s-%d", m->service, release, index);
	idir = instances_dir(rt, m->service);
	dir = svc_strfmt("%s/%s", idir, id);
	if (svc_path_exists(dir)) {
		if (svc_supervisor_status_read(&st, dir, NULL) == 0 && supervisor_alive(&st)) {
			rc = svc_error_set(err, SVC_EFAILED, "instance '%s' is already running", id);
			goto done;
		}
		/* Left over from an instance whose supervisor is gone. */
		if ((rc = stop_dir(rt, m->service, id, dir, err)))
			goto done;
	}
	if ((rc = svc_mkdir_p(idir, 0700, err)))
		goto done;
	if (mkdir(dir, 0700)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", dir);
		goto done;
	}
	created = true;
	if ((rc = svc_free_port(&port, PROC_HOST, err)))
		goto done;
	spec = build_spec(m, release, color, index, port);
	if (!spec) {
		rc = svc_error_set(err, SVC_EGENERIC,
				   "cannot encode the spec of instance '%s' (invalid UTF-8?)", id);
		goto done;
	}
	spec_path = svc_strfmt("%s/spec.json", dir);
	if ((rc = svc_json_file_write(spec, spec_path, err)))
		goto done;
	if ((rc = spawn_supervisor(&sup, rt, dir, false, err)))
		goto done;
	if ((rc = wait_started(dir, id, sup, err)))
		goto done;
	rc = read_instance(out, dir, id, err);
done:
	if (rc && created) {
		/* Leave nothing behind: stop the supervisor (it would retry forever). */
		stop_dir(rt, m->service, id, dir, NULL);
	}
	json_decref(spec);
	free(spec_path);
	free(id);
	free(idir);
	free(dir);
	return rc;
}

static int proc_stop(struct svc_runtime *rt, const struct svc_instance *inst,
		     struct svc_error *err)
{
	char *dir = NULL;
	int rc = 0;

	if (!inst || !svc_name_valid(inst->service) || !id_valid(inst->id))
		return svc_error_set(err, SVC_EGENERIC, "invalid instance '%s'",
				     inst && inst->id ? inst->id : "");
	dir = instance_dir(rt, inst->service, inst->id);
	if (svc_path_exists(dir))
		rc = stop_dir(rt, inst->service, inst->id, dir, err);
	free(dir);
	return rc;
}

static int cmp_instance(const void *a, const void *b)
{
	const struct svc_instance *x = a, *y = b;

	return strcmp(x->id, y->id);
}

static int proc_list(struct svc_runtime *rt, const char *service,
		     struct svc_instance_list *out, struct svc_error *err)
{
	char *idir = NULL, *dir = NULL;
	size_t alloc = 0;
	struct dirent *de;
	DIR *d = NULL;
	int rc = SVC_EGENERIC;

	out->items = NULL;
	out->count = 0;
	if (!svc_name_valid(service)) {
		rc = svc_error_set(err, SVC_EGENERIC, "invalid service name '%s'",
				   service ? service : "");
		goto done;
	}
	idir = instances_dir(rt, service);
	d = opendir(idir);
	if (!d) {
		if (errno == ENOENT)
			rc = 0;
		else
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", idir);
		goto done;
	}
	while ((de = readdir(d))) {
		struct svc_instance inst;
		struct svc_error e;
		struct stat sb;

		if (!id_valid(de->d_name))
			continue;
		free(dir);
		dir = svc_strfmt("%s/%s", idir, de->d_name);
		if (lstat(dir, &sb) || !S_ISDIR(sb.st_mode))
			continue;
		/* No spec yet: a start() in progress, not an instance. */
		svc_error_clear(&e);
		rc = read_instance(&inst, dir, de->d_name, &e);
		if (rc == SVC_ENOTFOUND)
			continue;
		if (rc) {
			/* listed with its problem, so that stop can stop it */
			memset(&inst, 0, sizeof(inst));
			inst.id = svc_strdup(de->d_name);
			inst.service = svc_strdup(service);
			inst.release = svc_strdup("");
			inst.color = svc_strdup("");
			inst.last_exit_code = -1;
			inst.state = SVC_INST_GONE;
			inst.problem = svc_strdup(e.message);
		}
		if (out->count == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			out->items = svc_realloc(out->items, alloc, sizeof(*out->items));
		}
		out->items[out->count++] = inst;
	}
	if (out->count > 1)
		qsort(out->items, out->count, sizeof(*out->items), cmp_instance);
	rc = 0;
done:
	if (d)
		closedir(d);
	if (rc)
		svc_instance_list_release(out);
	free(idir);
	free(dir);
	return rc;
}

static int proc_set_expiry(struct svc_runtime *rt, const struct svc_instance *inst,
			   int64_t at_ms, struct svc_error *err)
{
	char *dir = NULL, *path = NULL, *text = NULL;
	int rc = SVC_EGENERIC;

	if (!inst || !svc_name_valid(inst->service) || !id_valid(inst->id))
		return svc_error_set(err, SVC_EGENERIC, "invalid instance '%s'",
				     inst && inst->id ? inst->id : "");
	dir = instance_dir(rt, inst->service, inst->id);
	if (!svc_path_exists(dir)) {
		rc = svc_error_set(err, SVC_ENOTFOUND, "instance '%s' not found", inst->id);
		goto done;
	}
	path = svc_strfmt("%s/expire_at", dir);
	if (at_ms <= 0) {
		if (unlink(path) && errno != ENOENT) {
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot remove '%s'", path);
			goto done;
		}
		rc = 0;
		goto done;
	}
	text = svc_strfmt("%lld\n", (long long)at_ms);
	rc = svc_file_write_atomic(path, text, strlen(text), 0600, err);
done:
	free(dir);
	free(path);
	free(text);
	return rc;
}


static int proc_logs(struct svc_runtime *rt, const struct svc_instance *inst,
		     bool follow, int fd, struct svc_error *err)
{
	char buf[65536];
	char *dir = NULL, *path = NULL, *sdir = NULL;
	int in = -1, rc = SVC_EGENERIC;

	if (!inst || !svc_name_valid(inst->service) || !id_valid(inst->id))
		return svc_error_set(err, SVC_EGENERIC, "invalid instance '%s'",
				     inst && inst->id ? inst->id : "");
	dir = instance_dir(rt, inst->service, inst->id);
	path = svc_strfmt("%s/output.log", dir);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 && errno == ENOENT) {
		/* stopped: its output was archived */
		sdir = service_dir(rt, inst->service);
		free(path);
		path = svc_strfmt("%s/logs/%s.log", sdir, inst->id);
		in = open(path, O_RDONLY | O_CLOEXEC);
		follow = false;
	}
	if (in < 0) {
		if (errno == ENOENT)
			rc = svc_error_set(err, SVC_ENOTFOUND, "instance '%s' has no output",
					   inst->id);
		else
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", path);
		goto done;
	}
	for (;;) {
		struct timespec ts = { 0, LOGS_POLL_MS * 1000000L };
		ssize_t n = read(in, buf, sizeof(buf));
		int werr;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", path);
			goto done;
		}
		if (n > 0) {
			werr = svc_write_all(fd, buf, (size_t)n) ? errno : 0;
			if (werr == EPIPE)
				break; /* the reader went away: nothing more to do */
			if (werr) {
				rc = svc_error_set_errno(err, SVC_EGENERIC, werr, "cannot write the output");
				goto done;
			}
			continue;
		}
		/* At the end: stop, or wait for more unless the instance is gone. */
		if (!follow || !svc_path_exists(dir))
			break;
		if (nanosleep(&ts, NULL) && errno == EINTR)
			break; /* signalled */
	}
	rc = 0;
done:
	if (in >= 0)
		close(in);
	free(dir);
	free(path);
	free(sdir);
	return rc;
}

/* ---- reconcile: instances whose supervisor died ---- */


/*
 * Could an instance listen on port again? Bound with SO_REUSEADDR, as
 * servers do, so that connections of the dead instance in TIME_WAIT do not
 * count; a listener does. True when it cannot be told.
 */
static bool port_free(int port)
{
	struct svc_addr a;
	int fd, one = 1;
	bool is_free = true;

	if (port <= 0 || svc_addr_from_host_port(&a, PROC_HOST, port, NULL))
		return true;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    bind(fd, (struct sockaddr *)&a.ss, a.len) && errno == EADDRINUSE)
		is_free = false;
	close(fd);
	return is_free;
}

/*
 * One instance folder: nothing to do while its supervisor lives (or has
 * stopped it on purpose); else adopt, replace, finish stopping or remove
 * it (see the top of this file), and say which in what.
 */
static void reconcile_one(struct svc_runtime *rt, const char *service, const char *id,
			  const char *dir, char *what, size_t what_len)
{
	struct proc_spec sp;
	struct svc_supervisor_status st;
	struct svc_instance now;
	struct svc_error e;
	char text[1400]; /* an id (< 200) and an error message (< 1024) */
	int64_t expire_at;
	bool have, live, reused, adopted;
	pid_t sup = 0;

	memset(&now, 0, sizeof(now));
	svc_error_clear(&e);
	/* no (valid) spec: a start() under way, not an instance */
	if (proc_spec_read(&sp, dir, NULL))
		goto done;
	switch (svc_supervisor_status_read(&st, dir, NULL)) {
	case 0:
		have = true;
		break;
	case SVC_ENOTFOUND:
		have = false;
		break;
	default:
		goto done;   /* unreadable: list() reports it; nothing acts on it */
	}
	if (!have && svc_now_ms() - sp.created_ms < START_WAIT_MS * 2)
		goto done; /* its supervisor is still starting */
	if (have && (supervisor_alive(&st) || !strcmp(st.state, "stopped")))
		goto done;
	/* from here on its supervisor is dead */
	live = have && child_alive(&st);
	reused = have && !live && st.pid > 0 && svc_pid_starttime(st.pid) != 0;
	expire_at = read_expire_at(dir);
	if ((have && !strcmp(st.state, "stopping")) ||
	    (expire_at > 0 && svc_now_ms() >= expire_at)) {
		/* finish what the supervisor was doing (stop_dir trusts no reused pid) */
		if (stop_dir(rt, service, id, dir, &e))
			snprintf(text, sizeof(text), "could not stop instance %s: %s", id, e.message);
		else if (live)
			snprintf(text, sizeof(text), "stopped instance %s (pid %ld): its supervisor "
				 "had died %s", id, (long)st.pid,
				 !strcmp(st.state, "stopping") ? "while stopping it"
				 : "after its warm period ended");
		else
			goto done; /* nothing ran: cleaned up, nothing to say */
		svc_text_add(what, what_len, text);
		goto done;
	}
	if (!live && !port_free(sp.port)) {
		if (stop_dir(rt, service, id, dir, &e))
			snprintf(text, sizeof(text), "could not remove instance %s: %s", id, e.message);
		else
			snprintf(text, sizeof(text), "removed instance %s: its supervisor and its "
				 "process had died and its port %d is taken now", id, sp.port);
		svc_text_add(what, what_len, text);
		goto done;
	}
	if (spawn_supervisor(&sup, rt, dir, true, &e) || wait_started(dir, id, sup, &e)) {
		snprintf(text, sizeof(text), "could not %s instance %s: %s",
			 live ? "adopt" : "replace", id, e.message);
		svc_text_add(what, what_len, text);
		goto done;
	}
	adopted = live && read_instance(&now, dir, id, NULL) == 0 && now.pid == st.pid &&
		  now.proc.pid_start == st.pid_start;
	if (adopted)
		snprintf(text, sizeof(text), "adopted instance %s (pid %ld): its supervisor had died",
			 id, (long)st.pid);
	else if (live)
		snprintf(text, sizeof(text), "replaced instance %s: its supervisor had died and "
			 "its process exited while being adopted", id);
	else if (reused)
		snprintf(text, sizeof(text), "replaced instance %s: its supervisor had died and "
			 "pid %ld is another process now", id, (long)st.pid);
	else if (!have)
		snprintf(text, sizeof(text), "replaced instance %s: its supervisor had died "
			 "before starting it", id);
	else
		snprintf(text, sizeof(text), "replaced instance %s: its supervisor and its "
			 "process had died", id);
	svc_text_add(what, what_len, text);
done:
	svc_instance_release(&now);
	proc_spec_release(&sp);
}

static int proc_reconcile(struct svc_runtime *rt, const char *service,
			  char *what, size_t what_len, struct svc_error *err)
{
	char *idir = NULL, **ids = NULL;
	int rc;

	if (!svc_name_valid(service))
		return svc_error_set(err, SVC_EGENERIC, "invalid service name '%s'",
				     service ? service : "");
	idir = instances_dir(rt, service);
	/* names first: reconciling changes the folder being read */
	if ((rc = svc_dir_list(&ids, idir, id_valid, err)))
		goto done;
	for (size_t i = 0; ids[i]; i++) {
		char *dir = svc_strfmt("%s/%s", idir, ids[i]);
		struct stat sb;

		if (lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
			reconcile_one(rt, service, ids[i], dir, what, what_len);
		free(dir);
	}
done:
	svc_strv_free(ids);
	free(idir);
	return rc;
}

static void proc_free(struct svc_runtime *rt)
{
	(void)rt; /* no private state: everything lives in the state folder */
}

void svc_proc_manifest_check(struct svc_mcheck *c)
{
	const struct svc_manifest *m = svc_mcheck_manifest(c);

	if (!svc_mcheck_has(c, "run.command") && !svc_mcheck_bad(c, "run"))
		svc_mcheck_error(c, "run", "missing required key 'run.command' (runtime 'process' "
				 "needs it)");
	if (m->nports > 1)
		svc_mcheck_error(c, "ports", "ports: the process runtime supports one port (found "
				 "%zu)", m->nports);
	if (!m->build.present || svc_mcheck_bad(c, "build"))
		return;
	/* what a build leaves must fit the runtime that runs it */
	if (svc_mcheck_has(c, "build.dockerfile"))
		svc_mcheck_error(c, "build.dockerfile", "build.dockerfile: only for the docker and "
				 "swarm runtimes (the process runtime runs the build's folder or "
				 "build.artifact)");
	if (svc_mcheck_has(c, "build.push"))
		svc_mcheck_error(c, "build.push", "build.push: only for the docker and swarm "
				 "runtimes (the process runtime builds a folder, not an image)");
	if (svc_mcheck_has(c, "run.workdir"))
		svc_mcheck_error(c, "run.workdir", "run.workdir: cannot be combined with build "
				 "(instances run in the artifact's folder)");
}

const struct svc_runtime_ops svc_proc_ops = {
	.name = "process",
	.start = proc_start,
	.stop = proc_stop,
	.list = proc_list,
	.set_expiry = proc_set_expiry,
	.logs = proc_logs,
	.reconcile = proc_reconcile,
	.free = proc_free,
};
