/*
 * builder.c - one service's build, from pinned inputs to a stored artifact
 * (see builder.h for the steps and the layout under the state dir).
 */
#include "builder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deps.h"
#include "runtime/docker_api.h"
#include "runtime/driver.h"
#include "hash.h"
#include "lockfile.h"
#include "state/state.h"
#include "tree.h"
#include "util.h"

/* Bumped when what the id covers changes, so old ids never match new ones. */
#define ARTIFACT_ID_VERSION "svcctl-artifact-1"

/* Everything one build works with; released by build_release. */
struct build {
	const char *state_dir;
	const struct svc_manifest *m;
	struct svc_report *r;
	const char *svc;
	struct svc_artifact_ref *art;
	char **dep_dirs;          /* each dependency's version folder */
	char tree_hash[SVC_HASH_HEX_LEN + 1];
	struct svc_tree_stats stats;
	char *dir;                /* the build folder */
	char *log_path;
	int log_fd;
	int64_t t0_ms;            /* monotonic start, for build.timeout */
};

static void build_release(struct build *b)
{
	if (b->dep_dirs)
		for (size_t i = 0; i < b->m->build.ndeps; i++)
			free(b->dep_dirs[i]);
	free(b->dep_dirs);
	svc_artifact_ref_free(b->art);
	free(b->dir);
	free(b->log_path);
	if (b->log_fd >= 0)
		close(b->log_fd);
}

static bool builds_image(const struct svc_manifest *m)
{
	return svc_runtime_has(m->runtime, SVC_RT_IMAGES);
}

char *svc_artifact_store_dir(const char *state_dir, const char *service)
{
	return svc_strfmt("%s/services/%s/artifacts", state_dir, service);
}

void svc_build_result_release(struct svc_build_result *res)
{
	svc_artifact_ref_free(res->artifact);
	free(res->log_path);
	free(res->build_dir);
	memset(res, 0, sizeof(*res));
}

/* ---- 1. pin ---- */

static int load_lock(struct svc_lockfile *lf, bool *have, const struct svc_manifest *m,
		     struct svc_error *err)
{
	char *path = svc_lockfile_path(m);
	int rc = svc_lockfile_load(lf, path, err);

	*have = rc == 0;
	if (rc == SVC_ENOTFOUND) {
		svc_error_clear(err);
		rc = 0;
	} else if (rc == 0 && (rc = svc_lockfile_check(lf, m, path, err))) {
		svc_lockfile_release(lf);
		*have = false;
	}
	free(path);
	return rc;
}

static int pin_deps(struct build *b, struct svc_error *err)
{
	const struct svc_build *spec = &b->m->build;
	struct svc_lockfile lf = { 0 };
	bool locked;
	int rc;

	if ((rc = load_lock(&lf, &locked, b->m, err)))
		return rc;
	b->dep_dirs = svc_calloc(spec->ndeps + 1, sizeof(*b->dep_dirs));
	for (size_t i = 0; i < spec->ndeps; i++) {
		const struct svc_dependency *d = &spec->deps[i];
		const struct svc_lock_entry *le = locked ? svc_lockfile_find(&lf, d->name) : NULL;
		struct svc_dep_pin *pin = &b->art->deps[i];
		char *loc = svc_dep_location(d->git, b->m->dir), *warning = NULL;

		rc = svc_dep_pin(b->state_dir, loc, d->name, d->ref, le ? le->commit : NULL,
				 pin->commit, &b->dep_dirs[i], &warning, err);
		free(loc);
		if (rc) {
			/* an unreachable or unknown dependency is a failed build (exit 1) */
			if (rc == SVC_EUNAVAIL || rc == SVC_ENOTFOUND)
				rc = SVC_EFAILED;
			break;
		}
		pin->name = svc_strdup(d->name);
		pin->ref = svc_strdup(d->ref);
		b->art->ndeps++;
		if (warning)
			svc_report_warn(b->r, b->svc, "%s", warning);
		free(warning);
		if (le)
			svc_report_step(b->r, b->svc, "pin", "dependency %s: %s at %.12s (locked)",
					d->name, d->ref, pin->commit);
		else
			svc_report_step(b->r, b->svc, "pin", "dependency %s: %s at %.12s (no lock "
					"file: 'svcctl lock %s' pins it)", d->name, d->ref,
					pin->commit, b->svc);
	}
	if (locked)
		svc_lockfile_release(&lf);
	return rc;
}

/* ---- 2. id ---- */

static void hash_strv(struct svc_hash *h, char *const *v)
{
	char n[24];

	snprintf(n, sizeof(n), "%zu", svc_strv_len(v));
	svc_hash_update_str(h, n);
	for (size_t i = 0; v && v[i]; i++)
		svc_hash_update_str(h, v[i]);
}

/*
 * The id: every input in a fixed order, each length-prefixed. The context
 * enters as its tree hash, so that the copy can be checked against it.
 */
static void compute_id(struct build *b)
{
	const struct svc_build *spec = &b->m->build;
	struct svc_hash *h = svc_hash_new();

	svc_hash_update_str(h, ARTIFACT_ID_VERSION);
	svc_hash_update_str(h, builds_image(b->m) ? "image" : "dir");
	hash_strv(h, spec->command);
	svc_hash_update_str(h, spec->artifact);
	svc_hash_update_str(h, builds_image(b->m) ? spec->dockerfile : NULL);
	for (size_t i = 0; i < b->art->ndeps; i++) {
		svc_hash_update_str(h, spec->deps[i].name);
		svc_hash_update_str(h, spec->deps[i].into);
		svc_hash_update_str(h, b->art->deps[i].commit);
	}
	svc_hash_update_str(h, b->tree_hash);
	/* build.env (sorted by name) only when given, so that every id of a
	 * build without it stays what it was (and its artifact cached) */
	if (spec->nenv) {
		char n[24];

		snprintf(n, sizeof(n), "%zu", spec->nenv);
		svc_hash_update_str(h, "env");
		svc_hash_update_str(h, n);
		for (size_t i = 0; i < spec->nenv; i++) {
			svc_hash_update_str(h, spec->env[i].key);
			svc_hash_update_str(h, spec->env[i].value);
		}
	}
	svc_hash_final_hex(h, b->art->id);
	svc_hash_free(h);
}

static int hash_context(struct build *b, const char *dest, char out[SVC_HASH_HEX_LEN + 1],
			struct svc_error *err)
{
	char *label = svc_strfmt("build.context '%s'", b->m->build.context);
	struct svc_hash *h = svc_hash_new();
	int rc;

	memset(&b->stats, 0, sizeof(b->stats));
	rc = svc_tree_walk(b->m->build.context, label, h, dest, &b->stats, err);
	svc_hash_final_hex(h, out);
	svc_hash_free(h);
	free(label);
	return rc;
}

/* ---- 3. cache ---- */

static char *meta_path(const struct build *b)
{
	char *store = svc_artifact_store_dir(b->state_dir, b->svc);
	char *p = svc_strfmt("%s/%s.json", store, b->art->id);

	free(store);
	return p;
}

static int image_exists(const char *image, bool *out, struct svc_error *err)
{
	struct svc_docker *d = NULL;
	int rc = svc_docker_open(&d, NULL, err);

	if (!rc)
		rc = svc_docker_image_exists(d, image, out, err);
	svc_docker_free(d);
	return rc;
}

/* Built before: its record is there and so is what it records. */
static int find_cached(struct build *b, bool *found, struct svc_error *err)
{
	char *meta = meta_path(b);
	int rc = 0;

	*found = false;
	if (svc_path_exists(meta)) {
		if (b->art->image)
			rc = image_exists(b->art->image, found, err);
		else
			*found = svc_path_exists(b->art->dir);
	}
	free(meta);
	return rc;
}

/* ---- 4. build ---- */

static int make_build_dir(struct build *b, struct svc_error *err)
{
	char *parent = svc_strfmt("%s/builds", b->state_dir);
	int rc;

	if (!(rc = svc_mkdir_p(parent, 0700, err))) {
		b->dir = svc_strfmt("%s/%s-%.12s-XXXXXX", parent, b->svc, b->art->id);
		if (!mkdtemp(b->dir))
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno,
						 "cannot create a build folder in '%s'", parent);
	}
	free(parent);
	return rc;
}

static int open_log(struct build *b, struct svc_error *err)
{
	char *dir = svc_strfmt("%s/services/%s/builds", b->state_dir, b->svc);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if ((rc = svc_mkdir_p(dir, 0700, err)))
		goto done;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	b->log_path = svc_strfmt("%s/%s-%.12s.log", dir, stamp, b->art->id);
	b->log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (b->log_fd < 0)
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'",
					 b->log_path);
done:
	free(dir);
	return rc;
}

static void log_line(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(struct build *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(b->log_fd, fmt, ap);
	va_end(ap);
}

/* The context, hashed again as it is copied, then each dependency at into. */
static int fill_build_dir(struct build *b, struct svc_error *err)
{
	char again[SVC_HASH_HEX_LEN + 1];
	int rc;

	if ((rc = hash_context(b, b->dir, again, err)))
		return rc;
	if (strcmp(again, b->tree_hash))
		return svc_error_set(err, SVC_EFAILED,
			"build.context '%s' changed while it was being read; build again",
			b->m->build.context);
	for (size_t i = 0; i < b->m->build.ndeps; i++) {
		const struct svc_dependency *d = &b->m->build.deps[i];
		char *dest = svc_strfmt("%s/%s", b->dir, d->into);
		struct svc_error e = { 0 };
		char buf[1200];

		rc = svc_tree_walk(b->dep_dirs[i], NULL, NULL, dest, NULL, &e);
		free(dest);
		if (rc)
			return svc_error_set(err, SVC_EFAILED,
				"dependency '%s' cannot be placed at '%s': %s", d->name, d->into,
				svc_error_format(&e, buf, sizeof(buf)));
		log_line(b, "svcctl: dependency %s (%s, %s) placed at %s\n", d->name, d->ref,
			 b->art->deps[i].commit, d->into);
	}
	return 0;
}

/*
 * Output of a build (the command's, or the engine's): every byte to the
 * log, every line to the report as it comes.
 */
struct pump {
	struct build *b;
	int fd;                   /* read end */
	char line[1024];
	size_t used;
};

static void pump_feed(struct pump *p, const char *buf, size_t n)
{
	(void)!write(p->b->log_fd, buf, n);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (p->used < sizeof(p->line) - 1)   /* overlong: the rest is in the log */
				p->line[p->used++] = buf[i] == '\r' ? ' ' : buf[i];
			continue;
		}
		p->line[p->used] = '\0';
		svc_report_step(p->b->r, p->b->svc, "output", "| %s", p->line);
		p->used = 0;
	}
}

static void pump_flush(struct pump *p)
{
	if (!p->used)
		return;
	p->line[p->used] = '\0';
	svc_report_step(p->b->r, p->b->svc, "output", "| %s", p->line);
	p->used = 0;
}

/* Read what is there: 1 when something was read, 0 at the end, -1 for nothing yet. */
static int pump_read(struct pump *p)
{
	char buf[8192];
	ssize_t n = read(p->fd, buf, sizeof(buf));

	if (n > 0) {
		pump_feed(p, buf, (size_t)n);
		return 1;
	}
	return n == 0 || (errno != EINTR && errno != EAGAIN) ? 0 : -1;
}

/* The whole stream, blocking: a thread's job beside a blocking request. */
static void *pump_run(void *arg)
{
	struct pump *p = arg;

	while (pump_read(p) != 0)
		;
	pump_flush(p);
	return NULL;
}

/*
 * Build commands run in process groups of their own, so that a timeout can
 * stop everything a build started. The price: the terminal's Ctrl-C no
 * longer reaches them, so the program's signal handlers (installed by
 * main, never by the library) pass SIGINT, SIGTERM and SIGHUP on to every
 * running build group with svc_build_signal_groups.
 */
#define MAX_BUILD_GROUPS 64

static volatile sig_atomic_t build_groups[MAX_BUILD_GROUPS];
static pthread_mutex_t groups_mu = PTHREAD_MUTEX_INITIALIZER;

void svc_build_signal_groups(void)
{
	for (int i = 0; i < MAX_BUILD_GROUPS; i++)
		if (build_groups[i] > 0)
			kill(-(pid_t)build_groups[i], SIGTERM);
}

static void group_track(pid_t pgid, bool running)
{
	pthread_mutex_lock(&groups_mu);
	for (int i = 0; i < MAX_BUILD_GROUPS; i++) {
		if (running && build_groups[i] == 0) {
			build_groups[i] = pgid;
			break;
		}
		if (!running && build_groups[i] == pgid) {
			build_groups[i] = 0;
			break;
		}
	}
	pthread_mutex_unlock(&groups_mu);
}

/*
 * The environment of a build command, made from nothing (svcctl's own
 * environment is not an input of the artifact id, so none of it may reach
 * the build): the fixed base, build.env over it (an input), and what it
 * is building.
 */
static char **build_env(const struct build *b)
{
	char **env = svc_env_base();

	for (size_t i = 0; i < b->m->build.nenv; i++)
		svc_env_set(&env, b->m->build.env[i].key, b->m->build.env[i].value);
	svc_env_set(&env, "SVCCTL_SERVICE", b->svc);
	svc_env_set(&env, "SVCCTL_ARTIFACT_ID", b->art->id);
	svc_env_set(&env, "SVCCTL_BUILD_DIR", b->dir);
	return env;
}

static char *argv_text(char *const *argv)
{
	char *s = svc_strdup("");

	for (size_t i = 0; argv[i]; i++) {
		char *n = svc_strfmt("%s%s%s", s, i ? " " : "", argv[i]);
		free(s);
		s = n;
	}
	return s;
}

/*
 * The child of run_command: only async-signal-safe calls between fork and
 * exec (parallel builds fork from a threaded process).
 */
static void exec_child(const char *dir, const char *file, char *const *argv, char **env,
		       int out)
{
	static const char nodir[] = "svcctl: cannot enter the build folder\n";
	int null = open("/dev/null", O_RDONLY);
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);   /* svcctl ignores it; a build command must not */
	setpgid(0, 0);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	if (chdir(dir)) {
		(void)!write(2, nodir, sizeof(nodir) - 1);
		_exit(127);
	}
	if (file)
		execve(file, argv, env);
	else
		errno = ENOENT;   /* not in the build's PATH */
	(void)!write(2, "svcctl: cannot run '", 20);
	(void)!write(2, argv[0], strlen(argv[0]));
	(void)!write(2, "': ", 3);
	(void)!write(2, strerror(errno), strlen(strerror(errno)));
	(void)!write(2, "\n", 1);
	_exit(127);
}

/* How long a build whose command has exited may keep its output open. */
#define LEFTOVER_GRACE_MS 1000
/* Between SIGTERM and SIGKILL when a build runs out of time. */
#define KILL_GRACE_MS 5000

/*
 * Pump the command's output until it exits (and its output ends, or a
 * leftover process has held it open for LEFTOVER_GRACE_MS), stopping the
 * group at the deadline. *timed_out says whether it had to.
 */
static void wait_command(struct build *b, pid_t pid, int fd, int *status, bool *timed_out)
{
	int64_t limit = b->m->build.timeout_ms, now = svc_mono_ms();
	int64_t deadline = limit ? b->t0_ms + limit : 0, kill_at = 0, exited_at = 0;
	struct pump p = { .b = b, .fd = fd };
	bool eof = false;

	*timed_out = false;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (!exited_at || (!eof && now - exited_at < LEFTOVER_GRACE_MS)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait_ms = 200;

		if (deadline && !*timed_out && now >= deadline) {
			*timed_out = true;
			kill(-pid, SIGTERM);
			kill_at = now + KILL_GRACE_MS;
		}
		if (kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		if (!eof && poll(&pfd, 1, wait_ms) > 0) {
			int r;

			while ((r = pump_read(&p)) > 0)
				;
			eof = r == 0;
		} else if (eof && !exited_at) {
			svc_sleep_ms(20);   /* output closed, the command not gone yet */
		}
		if (!exited_at && waitpid(pid, status, WNOHANG) == pid)
			exited_at = svc_mono_ms();
		now = svc_mono_ms();
	}
	pump_flush(&p);
	kill(-pid, SIGKILL);   /* whatever the build left running goes with it */
}

/* Run build.command in the build folder: argv as written, no shell. */
static int run_command(struct build *b, struct svc_error *err)
{
	char *const *argv = b->m->build.command;
	char **env = build_env(b), *text = argv_text(argv);
	/* found in the build's PATH, not svcctl's (NULL: not found) */
	char *file = svc_exec_find(argv[0], env, b->dir);
	int fds[2], status = 0, rc;
	char limit[32];
	bool timed_out;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create a pipe");
		goto done;
	}
	log_line(b, "svcctl: running %s in %s\n", text, b->dir);
	svc_report_step(b->r, b->svc, "build", "running %s (log: %s)", text, b->log_path);
	pid = fork();
	if (pid == 0)
		exec_child(b->dir, file, argv, env, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot start '%s'", argv[0]);
		goto done;
	}
	setpgid(pid, pid);      /* as the child does: whichever runs first */
	group_track(pid, true);
	wait_command(b, pid, fds[0], &status, &timed_out);
	group_track(pid, false);
	close(fds[0]);
	rc = 0;
	if (timed_out)
		rc = svc_error_set(err, SVC_EFAILED, "build command '%s' did not finish within "
				   "build.timeout (%s); it was stopped", text,
				   svc_duration_format(limit, sizeof(limit), b->m->build.timeout_ms));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		rc = svc_error_set(err, SVC_EFAILED, "build command '%s' exited with status %d",
				   text, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		rc = svc_error_set(err, SVC_EFAILED, "build command '%s' was killed by signal %d",
				   text, WTERMSIG(status));
done:
	svc_strv_free(env);
	free(file);
	free(text);
	return rc;
}

/* ---- 5. artifact ---- */

static int write_meta(struct build *b, struct svc_error *err)
{
	char *store = svc_artifact_store_dir(b->state_dir, b->svc), *path = meta_path(b);
	json_t *j = svc_artifact_ref_to_json(b->art);
	int rc = svc_mkdir_p(store, 0700, err);

	free(store);
	if (rc) {
		json_decref(j);
		free(path);
		return rc;
	}
	json_object_set_new(j, "service", json_string(b->svc));
	json_object_set_new(j, "created_ms", json_integer(svc_now_ms()));
	json_object_set_new(j, "log", json_string(b->log_path));
	json_object_set_new(j, "files", json_integer((json_int_t)b->stats.files));
	json_object_set_new(j, "bytes", json_integer((json_int_t)b->stats.bytes));
	rc = svc_json_file_write(j, path, err);
	json_decref(j);
	free(path);
	return rc;
}

/*
 * Move what the build left into the store: the whole build folder, or just
 * build.artifact (at the same relative path) from it. A folder left by an
 * interrupted earlier attempt at the same id is replaced.
 */
static int store_dir_artifact(struct build *b, struct svc_error *err)
{
	const char *want = b->m->build.artifact;
	char *store = svc_artifact_store_dir(b->state_dir, b->svc);
	char *from = NULL, *staged = NULL, *dest = NULL;
	struct stat st;
	int rc;

	if ((rc = svc_mkdir_p(store, 0700, err)))
		goto done;
	if (want) {
		char *src = svc_strfmt("%s/%s", b->dir, want);
		char *slash;

		if (lstat(src, &st)) {
			rc = svc_error_set(err, SVC_EFAILED,
				"build.artifact '%s' was not left by the build", want);
			free(src);
			goto done;
		}
		staged = svc_strfmt("%s/.staged-%.12s-XXXXXX", store, b->art->id);
		if (!mkdtemp(staged)) {
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", staged);
			free(src);
			goto done;
		}
		dest = svc_strfmt("%s/%s", staged, want);
		slash = strrchr(dest, '/');
		*slash = '\0';
		rc = svc_mkdir_p(dest, 0755, err);
		*slash = '/';
		if (!rc && rename(src, dest))
			rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot move '%s'", src);
		free(src);
		free(dest);
		if (rc)
			goto done;
		from = staged;
	} else {
		from = b->dir;
	}
	dest = svc_strfmt("%s/%s", store, b->art->id);
	svc_rm_rf(dest);
	if (rename(from, dest)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot move '%s' to '%s'",
					 from, dest);
		goto done;
	}
	if (!want) {
		free(b->dir);           /* it is the artifact now */
		b->dir = NULL;
	}
	chmod(dest, 0755);
done:
	if (staged && rc)
		svc_rm_rf(staged);
	free(staged);
	free(dest);
	free(store);
	return rc;
}

/*
 * Where the instances of a stored artifact run (art->dir): a folder
 * build.artifact is their working folder itself (artifacts/ID/PATH); a
 * file build.artifact runs in artifacts/ID, where PATH is beside it; the
 * whole build folder is artifacts/ID. Decided by what the store holds, so
 * a cached artifact gets the same answer as a fresh one.
 */
static void set_run_dir(struct build *b)
{
	const char *want = b->m->build.artifact;
	char *store = svc_artifact_store_dir(b->state_dir, b->svc);
	char *base = svc_strfmt("%s/%s", store, b->art->id), *inner;
	struct stat st;

	free(store);
	free(b->art->dir);
	b->art->dir = base;
	if (!want)
		return;
	inner = svc_path_resolve(base, want);
	if (lstat(inner, &st) == 0 && S_ISDIR(st.st_mode)) {
		b->art->dir = inner;
		free(base);
	} else {
		free(inner);
	}
}

/* What is left of build.timeout for the engine's part (0: no limit). */
static long image_timeout_s(const struct build *b)
{
	int64_t left;

	if (!b->m->build.timeout_ms)
		return 0;
	left = b->m->build.timeout_ms - (svc_mono_ms() - b->t0_ms);
	return left > 1000 ? (long)(left / 1000) : 1;
}

static int build_image(struct build *b, struct svc_error *err)
{
	const char *df = b->m->build.dockerfile;
	char *dfpath = svc_strfmt("%s/%s", b->dir, df), *tar = svc_strfmt("%s.tar", b->dir);
	struct svc_docker *d = NULL;
	struct pump p = { .b = b, .fd = -1 };
	pthread_t th;
	struct stat st;
	json_t *args = json_object();   /* build.env, as the Dockerfile's ARG values */
	int fds[2] = { -1, -1 }, rc;

	if (stat(dfpath, &st) || !S_ISREG(st.st_mode)) {
		rc = svc_error_set(err, SVC_EFAILED,
				   "build.dockerfile '%s' is not a file in the build folder", df);
		goto done;
	}
	if ((rc = svc_tree_tar(b->dir, tar, err)) || (rc = svc_docker_open(&d, NULL, err)))
		goto done;
	if (pipe2(fds, O_CLOEXEC)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create a pipe");
		goto done;
	}
	svc_report_step(b->r, b->svc, "image", "building image %s with %s (log: %s)",
			b->art->image, svc_docker_endpoint(d), b->log_path);
	log_line(b, "svcctl: building image %s from %s\n", b->art->image, df);
	p.fd = fds[0];
	if ((rc = pthread_create(&th, NULL, pump_run, &p))) {
		rc = svc_error_set(err, SVC_EGENERIC, "cannot start a thread: %s", strerror(rc));
		goto done;
	}
	for (size_t i = 0; i < b->m->build.nenv; i++)
		json_object_set_new(args, b->m->build.env[i].key,
				    json_string(b->m->build.env[i].value));
	rc = svc_docker_image_build(d, tar, b->art->image, df, args, image_timeout_s(b), fds[1],
				    err);
	close(fds[1]);
	fds[1] = -1;
	pthread_join(th, NULL);
	if (rc == SVC_EGENERIC)
		rc = SVC_EFAILED;   /* the engine ran the build and it failed */
done:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	unlink(tar);
	svc_docker_free(d);
	json_decref(args);
	free(tar);
	free(dfpath);
	return rc;
}

/*
 * build.push: the image, tagged REPO:ID12 too, pushed to the registry REPO
 * names, through the engine that built it (its progress into the build's
 * log when there is one); art->pushed gets REPO@DIGEST, what the release's
 * instances run. Every time, built or cached: pushing layers the registry
 * has already is quick, and fills a registry emptied since.
 */
static int push_image(struct build *b, struct svc_error *err)
{
	const char *repo = b->m->build.push;
	char tag[SVC_SHORT_ID_LEN + 1], digest[SVC_DOCKER_DIGEST_LEN + 1];
	struct svc_docker *d = NULL;
	struct svc_error e = { 0 };
	int rc;

	snprintf(tag, sizeof(tag), "%.*s", SVC_SHORT_ID_LEN, b->art->id);
	if ((rc = svc_docker_open(&d, NULL, err)))
		goto done;
	svc_report_step(b->r, b->svc, "push", "pushing image %s to %s:%s", b->art->image, repo,
			tag);
	if (b->log_fd >= 0)
		log_line(b, "svcctl: pushing image %s to %s:%s\n", b->art->image, repo, tag);
	if ((rc = svc_docker_image_tag(d, b->art->image, repo, tag, &e)) ||
	    (rc = svc_docker_image_push(d, repo, tag, image_timeout_s(b), b->log_fd, digest, &e))) {
		/* the engine answered: the push failed (the registry's words) */
		rc = svc_error_set(err, rc == SVC_EGENERIC ? SVC_EFAILED : rc,
				   "build.push of '%s' to '%s' failed: %s", b->svc, repo, e.message);
		goto done;
	}
	free(b->art->pushed);
	b->art->pushed = svc_docker_image_pin(repo, digest);
	svc_report_step(b->r, b->svc, "pushed", "image %s:%s is %s", repo, tag, b->art->pushed);
done:
	svc_docker_free(d);
	return rc;
}

/*
 * The last lines of a failed build's log, reported after the failure: with
 * parallel builds the output of others may have come in between.
 */
static void report_tail(struct build *b)
{
	char *text = NULL, *start, *line, *save = NULL;
	size_t len = 0;
	int seen = 0;

	if (svc_file_read(&text, &len, b->log_path, 64 << 20, NULL) || !len) {
		free(text);
		return;
	}
	start = text + len;
	if (start[-1] == '\n')
		*--start = '\0';
	while (start > text && seen < SVC_BUILD_TAIL_LINES) {
		start--;
		if (*start == '\n')
			seen++;
	}
	if (*start == '\n')
		start++;
	svc_report_step(b->r, b->svc, "failed", "build failed; the last %d lines of %s:",
			seen < SVC_BUILD_TAIL_LINES ? seen + 1 : seen, b->log_path);
	for (line = strtok_r(start, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		svc_report_step(b->r, b->svc, "failed", "| %s", line);
	free(text);
}

static int do_build(struct build *b, struct svc_build_result *res, struct svc_error *err)
{
	int rc;

	if ((rc = make_build_dir(b, err)) || (rc = open_log(b, err)))
		return rc;
	svc_report_step(b->r, b->svc, "build", "building artifact %.12s in %s", b->art->id,
			b->dir);
	log_line(b, "svcctl: building %s artifact %s\n", b->svc, b->art->id);
	if ((rc = fill_build_dir(b, err)))
		goto failed;
	if (b->m->build.command && (rc = run_command(b, err)))
		goto failed;
	rc = b->art->image ? build_image(b, err) : store_dir_artifact(b, err);
	if (rc)
		goto failed;
	if (!b->art->image)
		set_run_dir(b);
	if (b->dir)
		svc_rm_rf(b->dir);  /* sent to the engine, or what build.artifact left out */
	return write_meta(b, err);

failed:
	{
		char buf[1024];

		log_line(b, "svcctl: build failed: %s\n", svc_error_format(err, buf, sizeof(buf)));
		report_tail(b);
		res->build_dir = b->dir;
		b->dir = NULL;
		svc_error_clear(err);
		rc = svc_error_set(err, rc == SVC_EUNAVAIL ? SVC_EUNAVAIL : SVC_EFAILED,
			"build of '%s' failed: %.600s (log: %s; build folder kept at %s)",
			b->svc, buf, b->log_path, res->build_dir);
	}
	return rc;
}

/* Steps 1 and 2: b->art gets the pins, the id and where the artifact goes. */
static int identify(struct build *b, struct svc_error *err)
{
	const struct svc_manifest *m = b->m;
	int rc;

	b->art = svc_calloc(1, sizeof(*b->art));
	b->art->deps = svc_calloc(m->build.ndeps + 1, sizeof(*b->art->deps));
	if ((rc = pin_deps(b, err)) || (rc = hash_context(b, NULL, b->tree_hash, err)))
		return rc;
	compute_id(b);
	if (builds_image(m)) {
		b->art->image = svc_strfmt("%s:%.12s", m->service, b->art->id);
	} else {
		char *store = svc_artifact_store_dir(b->state_dir, m->service);
		b->art->dir = svc_strfmt("%s/%s", store, b->art->id);
		free(store);
	}
	return 0;
}

int svc_build_identify(const char *state_dir, const struct svc_manifest *m,
		       struct svc_report *r, struct svc_artifact_ref **out,
		       struct svc_error *err)
{
	struct build b = { .state_dir = state_dir, .m = m, .r = r, .svc = m->service,
			   .log_fd = -1, .t0_ms = svc_mono_ms() };
	int rc;

	*out = NULL;
	if (!m->build.present)
		return svc_error_set(err, SVC_EUSAGE, "service '%s' has no build section",
				     m->service);
	if ((rc = identify(&b, err)) == 0) {
		if (b.art->dir)
			set_run_dir(&b);
		*out = b.art;
		b.art = NULL;
	}
	build_release(&b);
	return rc;
}

int svc_workdir_identify(struct svc_manifest *m, struct svc_error *err)
{
	char *label;
	int rc;

	m->workdir_id[0] = '\0';
	/* an absolute run.workdir names a folder of the machine: it enters by
	 * its path (hashing, say, '/' on every deploy would be absurd) */
	if (!svc_runtime_has(m->runtime, SVC_RT_HOST_FOLDER) || m->build.present || m->artifact ||
	    !m->run.workdir || m->run.workdir_absolute)
		return 0;
	label = svc_strfmt("run.workdir '%s'", m->run.workdir);
	rc = svc_tree_hash_dir(m->run.workdir, label, m->workdir_default, m->workdir_id,
			       NULL, err);
	free(label);
	if (rc) {
		m->workdir_id[0] = '\0';
		if (rc != SVC_EFAILED && err) {
			struct svc_error e = *err;
			svc_error_clear(err);
			rc = svc_error_set(err, SVC_EFAILED, "%s", e.message);
		}
	}
	return rc;
}

int svc_build_service(const char *state_dir, const struct svc_manifest *m,
		      struct svc_report *r, struct svc_build_result *res,
		      struct svc_error *err)
{
	struct build b = { .state_dir = state_dir, .m = m, .r = r, .svc = m->service,
			   .log_fd = -1, .t0_ms = svc_mono_ms() };
	struct svc_lock lock = { -1 };
	int64_t t0 = svc_mono_ms();
	bool cached;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!m->build.present)
		return svc_error_set(err, SVC_EUSAGE, "service '%s' has no build section",
				     m->service);
	if ((rc = svc_lock_take_file(&lock, state_dir, m->service, "build.lock", "build lock",
				     "build", err)))
		return rc;
	if ((rc = identify(&b, err)))
		goto done;
	svc_report_detail(r, m->service, "hash", "artifact %.12s: %llu files, %llu bytes hashed",
			  b.art->id, (unsigned long long)b.stats.files,
			  (unsigned long long)b.stats.bytes);
	if ((rc = find_cached(&b, &cached, err)))
		goto done;
	if (cached) {
		svc_report_step(r, m->service, "cached",
				"artifact %.12s is already built; build skipped", b.art->id);
		res->cached = true;
		if (b.art->dir)
			set_run_dir(&b);
	} else if ((rc = do_build(&b, res, err))) {
		goto done;
	} else {
		svc_report_step(r, m->service, "built", "artifact %.12s built in %.1f s%s%s",
				b.art->id, (double)(svc_mono_ms() - t0) / 1000.0,
				b.art->image ? ": image " : "", b.art->image ? b.art->image : "");
	}
	if (b.art->image && m->build.push && (rc = push_image(&b, err)))
		goto done;
	res->artifact = b.art;
	b.art = NULL;
done:
	res->log_path = b.log_path;
	b.log_path = NULL;
	res->elapsed_ms = svc_mono_ms() - t0;
	build_release(&b);
	svc_lock_release(&lock);
	return rc;
}

int svc_artifact_check(const char *state_dir, const char *service,
		       const struct svc_artifact_ref *art, struct svc_error *err)
{
	(void)state_dir;
	if (art->dir && !svc_path_exists(art->dir))
		return svc_error_set(err, SVC_ENOTFOUND,
			"artifact %.12s of service '%s' is gone (deleted by 'svcctl gc'?); "
			"deploy the manifest again to rebuild it", art->id, service);
	return 0;
}

/* ---- many services ---- */

struct pool {
	pthread_mutex_t mu;
	size_t next, n, failed;
	const char *state_dir;
	struct svc_manifest *const *ms;
	struct svc_report *r;
	struct svc_build_result *results;
	struct svc_error *errs;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->mu);
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			return NULL;
		if (svc_build_service(p->state_dir, p->ms[i], p->r, &p->results[i], &p->errs[i])) {
			pthread_mutex_lock(&p->mu);
			p->failed++;
			pthread_mutex_unlock(&p->mu);
		}
	}
}

size_t svc_build_many(const char *state_dir, struct svc_manifest *const *ms, size_t n,
		      int jobs, struct svc_report *r, struct svc_build_result *results,
		      struct svc_error *errs)
{
	struct pool p = { .next = 0, .n = n, .state_dir = state_dir, .ms = ms, .r = r,
			  .results = results, .errs = errs };
	pthread_t *th;
	size_t started = 0;

	if (jobs < 1)
		jobs = 1;
	if ((size_t)jobs > n)
		jobs = (int)n;
	pthread_mutex_init(&p.mu, NULL);
	th = svc_calloc((size_t)jobs + 1, sizeof(*th));
	/* the calling thread is one of the workers */
	for (int i = 1; i < jobs; i++)
		if (pthread_create(&th[started], NULL, pool_worker, &p) == 0)
			started++;
	pool_worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	pthread_mutex_destroy(&p.mu);
	return p.failed;
}
