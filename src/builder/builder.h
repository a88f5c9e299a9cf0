/*
 * builder.h - a separate build per service: its dependencies pinned to exact
 * commits, every input hashed into an artifact id, the build run in a fresh
 * folder of its own, the result kept under the state dir by id.
 *
 * One build, in order:
 *   1. pin: each dependency's commit comes from the lock file beside the
 *      manifest (SERVICE.lock, lockfile.h) when there is one (it must match
 *      build.dependencies), else from its ref, fetched now (deps.h);
 *   2. id: sha256 over a version tag, the runtime kind, the build spec
 *      (command, artifact, dockerfile, each dependency's name, into and
 *      commit), the context's files (tree.h: path, kind, execute bit,
 *      content; symlinks leaving the context are refused) and build.env
 *      when there is one (without it, ids are what they always were);
 *   3. cache: when that artifact exists (process: its folder; docker: its
 *      image), nothing is built;
 *   4. build: a fresh folder STATE/builds/SERVICE-ID12-XXXXXX gets a copy of
 *      the context (hashed again while copying: a context that changed since
 *      step 2 fails the build) and each dependency's tree at `into`; the
 *      command runs there (argv, no shell) with its output in a log file,
 *      in an environment made from nothing: svc_env_base, build.env, then
 *      SVCCTL_SERVICE, SVCCTL_ARTIFACT_ID and SVCCTL_BUILD_DIR (none of
 *      svcctl's own environment, which is no input of the id);
 *   5. artifact: process: the build folder, or build.artifact in it (at
 *      the same relative path), moves to STATE/services/SERVICE/artifacts/ID;
 *      instances run in artifacts/ID, or in artifacts/ID/PATH itself when
 *      build.artifact is a folder (the artifact ref's dir says which);
 *      docker/swarm: the build folder, as a tar, is built into the image
 *      SERVICE:ID12 through the Engine API (build.env as its build args;
 *      its output streamed like the command's);
 *   6. push (build.push: REPO), built or cached: the image tagged REPO:ID12
 *      and pushed through the engine; the artifact ref's pushed is
 *      REPO@DIGEST, what the release runs.
 * STATE/services/SERVICE/artifacts/ID.json records each artifact (what,
 * dependencies, when); STATE/services/SERVICE/builds/TIME-ID12.log the builds.
 *
 * Builds of one service exclude each other (STATE/services/SERVICE/build.lock,
 * failing at once with SVC_ELOCKED); builds of different services run in
 * parallel (svc_build_many).
 */
#ifndef SVC_BUILDER_H
#define SVC_BUILDER_H

#include <stdbool.h>

#include "error.h"
#include "manifest.h"
#include "report.h"

/* How many lines of a failed build's log its error shows. */
#define SVC_BUILD_TAIL_LINES 20

struct svc_build_result {
	struct svc_artifact_ref *artifact; /* on success; caller frees (svc_artifact_ref_free) */
	bool cached;             /* the artifact existed: nothing was built */
	char *log_path;          /* the build's log, NULL when cached; caller frees */
	char *build_dir;         /* a failed build's folder, kept to look at; caller frees */
	int64_t elapsed_ms;
};

void svc_build_result_release(struct svc_build_result *res);

/*
 * Build m's service (m->build.present must be true), or find it built.
 * Progress goes to r (steps "pin", "hash", "cached", "build", "output",
 * "image", "built", "push", "pushed"). Returns 0; SVC_EFAILED when the
 * build failed (err says why and ends with the last lines of the log) or
 * its push did (the registry's words); SVC_EMANIFEST for a lock
 * file that does not match or does not parse; SVC_ELOCKED; SVC_EUNAVAIL
 * when a dependency's source or the Docker engine cannot be reached.
 */
int svc_build_service(const char *state_dir, const struct svc_manifest *m,
		      struct svc_report *r, struct svc_build_result *res,
		      struct svc_error *err);

/*
 * What svc_build_service would run, without building: steps 1 and 2 (the
 * dependencies pinned, fetched when there is no lock file; the context
 * hashed), *out the artifact ref with its id, and its dir or image as a
 * build would name them (caller frees with svc_artifact_ref_free). Whether
 * it is built already is not asked. Return codes as svc_build_service.
 */
int svc_build_identify(const char *state_dir, const struct svc_manifest *m,
		       struct svc_report *r, struct svc_artifact_ref **out,
		       struct svc_error *err);

/*
 * Set m->workdir_id: for the process runtime without a build, the content
 * of the folder its instances run in (svc_tree_hash_dir; the manifests and
 * lock files beside it left out when it is the manifest's own folder), so
 * that the release id follows what the release runs, not where it is.
 * Nothing to do for other manifests, nor for a run.workdir written as an
 * absolute path: a folder of the machine, identified by its path. SVC_EFAILED naming the folder when
 * it cannot be read.
 */
int svc_workdir_identify(struct svc_manifest *m, struct svc_error *err);

/*
 * Build n services with up to jobs at a time (each one as svc_build_service).
 * results and errs have n entries, filled for every service. Returns the
 * number of failed builds.
 */
size_t svc_build_many(const char *state_dir, struct svc_manifest *const *ms, size_t n,
		      int jobs, struct svc_report *r, struct svc_build_result *results,
		      struct svc_error *errs);

/*
 * Whether the artifact a release runs is still there (its folder, or for
 * images a record of it: the engine itself is asked by the runtime).
 * SVC_ENOTFOUND with a message saying gc deleted it.
 */
int svc_artifact_check(const char *state_dir, const char *service,
		       const struct svc_artifact_ref *art, struct svc_error *err);

/* STATE/services/SERVICE/artifacts. Caller frees. */
char *svc_artifact_store_dir(const char *state_dir, const char *service);

/*
 * Send SIGTERM to every running build command's process group.
 * Async-signal-safe: for a program's SIGINT/SIGTERM/SIGHUP handler, so that
 * a signalled svcctl takes its builds with it.
 */
void svc_build_signal_groups(void);

#endif
