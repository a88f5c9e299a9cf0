/*
 * manifest.h - one service's manifest, parsed strictly from YAML.
 *
 * A manifest is loaded with libyaml into the typed struct below. Every
 * problem (unknown key, wrong type, duplicate key, missing required key,
 * out-of-range value, bad duration/address/status range, anchors and
 * aliases, invalid UTF-8, nesting too deep, ...) is reported as a
 * positioned svc_error ("file:line:col: message", with the key path such
 * as 'health.interval' in the message) into a struct svc_diags; all errors
 * are collected, not just the first.
 *
 * Invariants of a loaded manifest (svc_manifest_load returned 0):
 * - every pointer field that is documented as required is non-NULL;
 * - paths (dir, build.context, run.workdir) are absolute;
 * - durations are milliseconds, defaults applied (see README's reference);
 * - run.command / run.env values contain only ${PORT} ${VERSION}
 *   ${SERVICE} ${INSTANCE} placeholders, expanded by svc_manifest_expand;
 *   build.env values are taken as written;
 * - env names (run.env, build.env) are [A-Za-z_][A-Za-z0-9_]*, unique, and
 *   none that svcctl sets itself (PORT; SVCCTL_SERVICE, SVCCTL_ARTIFACT_ID,
 *   SVCCTL_BUILD_DIR).
 * Strings are owned by the manifest and freed by svc_manifest_free.
 *
 * Beyond DESIGN.md: build.timeout, the longest a build may take, build.env,
 * variables for the build command (and the image build's build args),
 * build.push, the registry repository a built image is pushed to (its
 * value checked by the image runtimes' hook), and
 * run.workdir, the working folder of the process runtime's instances,
 * relative to the manifest's folder. Strictness rules
 * (see manifest.c): integers and booleans must be plain scalars (a quoted
 * "2" is a wrong type); string values take any non-null scalar as written;
 * null, anchors, aliases and tags (!!str) are refused; nesting is limited
 * to 32 levels and files to 1 MiB of UTF-8 without control characters.
 */
#ifndef SVC_MANIFEST_H
#define SVC_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

enum svc_runtime_kind {
	SVC_RUNTIME_PROCESS = 0,
	SVC_RUNTIME_DOCKER,
	SVC_RUNTIME_SWARM,
};
/* A manifest without runtime: (and a service nothing says more of). */
#define SVC_RUNTIME_DEFAULT SVC_RUNTIME_PROCESS

enum svc_health_kind {
	SVC_HEALTH_RUNNING = 0, /* no port and no health section: the instance runs */
	SVC_HEALTH_HTTP,
	SVC_HEALTH_TCP,
};

struct svc_kv {
	char *key;
	char *value;
};

struct svc_dependency {
	char *name;
	char *git;   /* as written (path or URL); a relative path is resolved against dir */
	char *ref;
	char *into;
};

struct svc_build {
	bool present;
	char *context;        /* absolute */
	bool context_absolute; /* written as an absolute path (not relative to dir) */
	char **command;       /* NULL-terminated argv, or NULL */
	char *artifact;       /* may be NULL */
	char *dockerfile;     /* may be NULL */
	struct svc_dependency *deps;
	size_t ndeps;
	int64_t timeout_ms;   /* 1s-24h; 0 (default): no limit. svcctl extension */
	struct svc_kv *env;   /* build.env, sorted by key; values as written */
	size_t nenv;
	char *push;           /* build.push: REGISTRY/REPO the image is pushed to; may be NULL */
};

/* One dependency as pinned for a build: the commit it resolved to. */
struct svc_dep_pin {
	char *name;
	char *ref;            /* as written in the manifest */
	char commit[41];
};

/*
 * What a release runs when its service has a build (not from YAML: set with
 * svc_manifest_set_artifact by the builder, or from a stored release).
 */
struct svc_artifact_ref {
	char id[65];          /* the artifact id: sha256 over every build input */
	char *dir;            /* process runtime: where instances run (artifacts/ID, or
				 artifacts/ID/PATH for a folder build.artifact), else NULL */
	char *image;          /* docker/swarm: "SERVICE:ID12", else NULL */
	char *pushed;         /* with build.push: "REGISTRY/REPO@sha256:...", the image as
				 the registry stored it (tagged REGISTRY/REPO:ID12), else NULL */
	struct svc_dep_pin *deps;
	size_t ndeps;
};

struct svc_run {
	char **command;       /* NULL-terminated argv; required for the process runtime */
	char *image;          /* docker/swarm, may be NULL */
	char *workdir;        /* absolute; default: the manifest's folder */
	bool workdir_absolute; /* written as an absolute path (not relative to dir) */
	struct svc_kv *env;   /* sorted by key */
	size_t nenv;
	int stop_signal;      /* signal number, default SIGTERM */
	char *stop_signal_name; /* "TERM" */
	int64_t stop_timeout_ms; /* default 10s */
};

struct svc_port {
	char *name;           /* default "http" */
	struct svc_addr listen;
	int target;           /* 0 when not given (process runtime uses ${PORT}) */
};

struct svc_health {
	enum svc_health_kind kind;  /* default: TCP when a port exists, else RUNNING */
	char *http_path;      /* "/health" when kind == HTTP */
	int status_lo, status_hi;   /* default 200-399 */
	int64_t interval_ms;  /* default 1s */
	int64_t timeout_ms;   /* default 1s */
	int healthy_threshold;      /* default 2 */
	int unhealthy_threshold;    /* default 3 */
	int64_t start_timeout_ms;   /* default 60s */
};

struct svc_rollout_spec {
	bool manual;          /* promote: manual */
	bool has_preview;
	struct svc_addr preview;
	int64_t drain_timeout_ms;   /* default 30s */
	int64_t keep_previous_ms;   /* default 10m; 0 = stop after drain */
	int64_t bake_ms;            /* default 0 */
};

struct svc_api_require {
	char *service;
	char **versions;      /* NULL-terminated */
};

struct svc_api {
	char **provides;      /* NULL-terminated, may be NULL */
	struct svc_api_require *requires;
	size_t nrequires;
};

/* Positions of a few values, for cross-file errors (1-based, 0 = absent). */
struct svc_pos {
	int line;
	int column;
};

struct svc_manifest {
	char *path;           /* as given to the loader (used in messages) */
	char *dir;            /* absolute folder of the manifest */
	char *service;
	enum svc_runtime_kind runtime;
	int replicas;         /* 1..100, default 1 */
	char *version;        /* may be NULL */
	struct svc_build build;
	struct svc_run run;
	struct svc_port *ports;
	size_t nports;
	struct svc_health health;
	struct svc_rollout_spec rollout;
	struct svc_api api;
	struct svc_artifact_ref *artifact;  /* NULL until built; see above */
	/*
	 * The content of run.workdir, for the process runtime without a build
	 * (not from YAML: set by svc_workdir_identify, builder.h); "" until
	 * set. Part of the release id, in place of the folder's path.
	 */
	char workdir_id[65];
	bool workdir_default;  /* run.workdir not given: the manifest's folder */
	/*
	 * run.image fixed by its digest, "REGISTRY/REPO@sha256:..." (not from
	 * YAML: what the registry's tag named when the release was first
	 * deployed, set by the runtime through svc_manifest_set_pinned, or
	 * from a stored release); NULL otherwise. Not part of the release id:
	 * a release keeps the digest it was first deployed with.
	 */
	char *pinned_image;

	struct svc_pos service_pos;
	struct svc_pos *listen_pos;   /* nports entries */
	struct svc_pos preview_pos;
	struct svc_pos api_requires_pos;
};

/*
 * Load and validate one manifest file. On success returns 0 and *out (caller
 * frees with svc_manifest_free). On failure returns SVC_EMANIFEST (or
 * SVC_ENOTFOUND / SVC_EGENERIC when the file cannot be read, is a dangling
 * symlink, or is not a regular file: "PATH: not a regular file (a fifo)"),
 * *out is NULL and every problem found was appended to diags.
 */
int svc_manifest_load(struct svc_manifest **out, const char *path,
		      struct svc_diags *diags);

/*
 * Same, from memory. display_path names the file in messages; relative paths
 * in the manifest are resolved against base_dir (absolute).
 */
int svc_manifest_load_buffer(struct svc_manifest **out, const char *buf,
			     size_t len, const char *display_path,
			     const char *base_dir, struct svc_diags *diags);

void svc_manifest_free(struct svc_manifest *m);

/*
 * Attach a copy of art to m (replacing any): instances then run from
 * art->dir (process) or art->image (docker/swarm), and the release id
 * covers art->id. NULL detaches.
 */
void svc_manifest_set_artifact(struct svc_manifest *m, const struct svc_artifact_ref *art);
/*
 * What instances run: the image by digest when there is one
 * (svc_manifest_pinned), else the artifact's image / folder when built,
 * else run.image / run.workdir.
 */
const char *svc_manifest_image(const struct svc_manifest *m);
/*
 * The image fixed by digest that the release runs, NULL when none:
 * pinned_image, the pushed artifact, or run.image written with a digest.
 * Borrowed.
 */
const char *svc_manifest_pinned(const struct svc_manifest *m);
/* Set (a copy of) pinned_image; NULL clears it. */
void svc_manifest_set_pinned(struct svc_manifest *m, const char *image);
const char *svc_manifest_workdir(const struct svc_manifest *m);
struct svc_artifact_ref *svc_artifact_ref_dup(const struct svc_artifact_ref *art);
void svc_artifact_ref_free(struct svc_artifact_ref *art);
/* {"id":..., "dir":..., "image":..., "dependencies":[{"name","ref","commit"}]} */
json_t *svc_artifact_ref_to_json(const struct svc_artifact_ref *art);
/* The reverse; NULL (and nothing allocated) when j is not such an object. */
struct svc_artifact_ref *svc_artifact_ref_from_json(const json_t *j);

/* Name of a runtime kind: "process", "docker", "swarm". */
const char *svc_runtime_kind_name(enum svc_runtime_kind k);

/* Variables for ${...} expansion. NULL values expand to "". */
struct svc_expand_vars {
	const char *port;
	const char *version;
	const char *service;
	const char *instance;
};

/*
 * Expand placeholders in tmpl: ${PORT} ${VERSION} ${SERVICE} ${INSTANCE}
 * become their values, "$$" becomes "$", a '$' not followed by '{' or '$'
 * stays. Caller frees the result with free(). Returns NULL when tmpl is NULL
 * or holds any other ${...} or an unterminated "${" (the loader refuses
 * those in run.command and run.env, so loaded values always expand).
 */
char *svc_manifest_expand(const char *tmpl, const struct svc_expand_vars *vars);

/*
 * The canonical JSON of the fully resolved manifest (every default applied,
 * paths absolute, keys sorted when dumped with JSON_SORT_KEYS). Caller owns
 * the reference (json_decref).
 */
json_t *svc_manifest_to_json(const struct svc_manifest *m);

/*
 * The release id: sha256 (hex) of the compact, key-sorted canonical JSON,
 * made independent of where the files are: the manifest's folder is left
 * out, build.context and run.workdir enter as paths relative to it (when
 * inside it), and run.workdir only where instances run in it (the process
 * runtime without a build), together with its content (workdir_id). So the
 * same manifest in two clones, or exported at two commits, is one release,
 * and a changed file in the folder a process runs in is a new one. Two
 * manifests that resolve to the same configuration have the same id.
 * With an artifact attached, its id is part of that JSON ("artifact"), so a
 * new build of the same manifest is a new release (its id covers the
 * context's content).
 */
void svc_manifest_release_id(const struct svc_manifest *m, char out[65]);

/* A set of manifests, loaded from files and folders, checked across files. */
struct svc_manifest_set {
	struct svc_manifest **items;
	size_t count;
	size_t nfiles;        /* files read, valid or not */
	char **files;         /* their paths, in the order read; NULL-terminated */
	size_t files_alloc;
};

/*
 * Load every path: a file, or a folder whose *.yaml and *.yml entries are
 * read in name order (names starting with '.' are left out). Manifests are
 * regular files (or symlinks to them): any other path or entry (a fifo, a
 * device, a folder, a dangling symlink) is an error naming it, found
 * without opening it or waiting on it. Then check across files: duplicate service names, two
 * services (or a preview) on one listen address, and api.requires naming a
 * version that the required service does not provide. Returns 0 when every
 * file is valid; otherwise SVC_EMANIFEST with all problems in diags, and
 * out holds the manifests that were valid on their own. Release with
 * svc_manifest_set_release in both cases.
 */
int svc_manifest_set_load(struct svc_manifest_set *out, char *const *paths,
			  size_t npaths, struct svc_diags *diags);
/*
 * As svc_manifest_set_load of the one folder, for manifests that belong to
 * the tree root (an exported commit): an entry that is a symlink resolving
 * outside root, or nowhere, is an error ("a symlink leaving ROOT_WHAT
 * ('TARGET'): refused", naming the entry) and is never opened, nor listed
 * in files.
 */
int svc_manifest_set_load_confined(struct svc_manifest_set *out, const char *folder,
				   const char *root, const char *root_what,
				   struct svc_diags *diags);
void svc_manifest_set_release(struct svc_manifest_set *set);
/* Borrowed; NULL when no manifest names that service. */
struct svc_manifest *svc_manifest_set_find(const struct svc_manifest_set *set,
					   const char *service);

/*
 * What a runtime lets a manifest say. The loader checks what every manifest
 * must say, then hands the manifest to its runtime's check, which reports
 * through svc_mcheck_error (at a key's position, as every error is). The
 * rules come from the runtime layer's driver table: svc_manifest_rules_of
 * is defined by runtime/driver.c, the one place that names the drivers
 * (the loader asks it, never a driver).
 */
struct svc_mcheck;
struct svc_manifest_rules {
	bool host_folder;    /* instances run in a folder of this machine (run.workdir;
				a release is identified by that folder's content) */
	void (*check)(struct svc_mcheck *c);   /* may be NULL */
};
/* Fill out for kind: false for a kind svcctl does not know. */
bool svc_manifest_rules_of(enum svc_runtime_kind kind, struct svc_manifest_rules *out);

/* The manifest being checked (its values as parsed). */
const struct svc_manifest *svc_mcheck_manifest(const struct svc_mcheck *c);
/* Whether key ("build.dockerfile", "run.image", ...) was written. */
bool svc_mcheck_has(const struct svc_mcheck *c, const char *key);
/* Whether section ("build", "run") was not a mapping (its keys are unknown). */
bool svc_mcheck_bad(const struct svc_mcheck *c, const char *section);
/*
 * An error at where: a key ("build.artifact"; absent: the top), a section
 * ("build", or "run": the top when it is absent), "ports" or
 * "ports[N].listen".
 */
void svc_mcheck_error(struct svc_mcheck *c, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
