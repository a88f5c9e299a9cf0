/*
 * runtime/docker_api.h - a small Docker Engine API client: libcurl for HTTP over
 * the engine's unix socket (or tcp://, with TLS), jansson for the bodies.
 * svcctl never runs the docker command-line client.
 *
 * The endpoint comes from DOCKER_HOST (unix:///path or tcp://host:port;
 * default unix:///var/run/docker.sock); with tcp, DOCKER_TLS_VERIFY=1 and
 * DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) switch to https. The API
 * version is negotiated once at open from GET /version: the lower of the
 * engine's ApiVersion and SVC_DOCKER_API_MAX, so that Debian's Engine 20.10
 * (API 1.41) and current engines both work; every later path is prefixed
 * with /vX.Y.
 *
 * Images in a registry: pushed and resolved to their digest through the
 * engine (svc_docker_image_push, svc_docker_image_resolve), never by
 * svcctl talking to a registry itself.
 *
 * Errors: an engine that does not answer gives SVC_EUNAVAIL with a message
 * naming the endpoint; an HTTP error status gives SVC_EGENERIC (SVC_ENOTFOUND
 * for 404) with the engine's own "message" text; a body that is not the JSON
 * expected (truncated, invalid) gives SVC_EGENERIC saying so.
 */
#ifndef SVC_DOCKER_API_H
#define SVC_DOCKER_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SVC_DOCKER_API_MAX "1.43"
#define SVC_DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"

struct svc_docker;

/*
 * Connect to the engine named by DOCKER_HOST (or host, when not NULL, in
 * the same form) and negotiate the API version. Caller frees with
 * svc_docker_free.
 */
int svc_docker_open(struct svc_docker **out, const char *host, struct svc_error *err);
void svc_docker_free(struct svc_docker *d);

/* "unix:///var/run/docker.sock", as given. Borrowed. */
const char *svc_docker_endpoint(const struct svc_docker *d);
/* The negotiated API version, "1.41". Borrowed. */
const char *svc_docker_api_version(const struct svc_docker *d);
/* Milliseconds spent waiting for the engine so far (every request). */
int64_t svc_docker_busy_ms(const struct svc_docker *d);

/* ---- request building and response parsing (pure; unit-tested) ---- */

/* A parsed DOCKER_HOST. */
struct svc_docker_host {
	bool unix_socket;
	char socket_path[512];   /* unix */
	char host[256];          /* tcp: "127.0.0.1:2376" */
	bool tls;                /* tcp with DOCKER_TLS_VERIFY */
};

/* Parse "unix:///path" or "tcp://host:port". */
int svc_docker_host_parse(struct svc_docker_host *out, const char *text,
			  struct svc_error *err);

/*
 * The URL libcurl is given: "http://localhost/v1.41/containers/json?..."
 * for a unix socket, "https://host:port/v1.41/..." for tcp with TLS.
 * api_version NULL or "" leaves the version prefix out. Caller frees.
 */
char *svc_docker_url(const struct svc_docker_host *h, const char *api_version,
		     const char *path);

/* Percent-encode a query value (for filters=...). Caller frees. */
char *svc_docker_query_escape(const char *value);

/*
 * Interpret a response: 2xx with a JSON body -> *out (may be NULL when the
 * body is empty and allow_empty); 4xx/5xx -> error carrying the engine's
 * "message" (or the raw body, cut short); invalid or truncated JSON -> error.
 * what names the request in messages ("create container 'x'").
 */
int svc_docker_parse_response(long status, const char *body, size_t len,
			      bool allow_empty, const char *what, json_t **out,
			      struct svc_error *err);

/*
 * Split the engine's multiplexed log stream (8-byte frame headers: stream
 * type, 3 zero bytes, big-endian length) into plain bytes. Feed any number
 * of bytes at a time; complete payloads are written to fd. State lives in
 * struct svc_docker_demux (zero it first). Returns 0, or -1 on a malformed
 * header or a write error.
 */
struct svc_docker_demux {
	unsigned char header[8];
	size_t header_len;
	size_t remaining;        /* payload bytes left in the current frame */
};
int svc_docker_demux_feed(struct svc_docker_demux *dm, const char *data, size_t len, int fd);

/* ---- requests ---- */

/*
 * One request. method "GET"/"POST"/"DELETE"; path without the version
 * prefix ("/containers/json?all=1"); body NULL or JSON (sent with
 * Content-Type: application/json). *status gets the HTTP status; *out the
 * parsed JSON response (NULL when empty). Caller owns *out.
 */
int svc_docker_request(struct svc_docker *d, const char *method, const char *path,
		       const json_t *body, long *status, json_t **out,
		       struct svc_error *err);

/* true in *out when the image exists locally (GET /images/NAME/json). */
int svc_docker_image_exists(struct svc_docker *d, const char *image, bool *out,
			    struct svc_error *err);

/*
 * DELETE /images/NAME (404: already gone, not an error). An image a
 * container still uses is not removed: the engine's 409 is the error.
 */
int svc_docker_image_remove(struct svc_docker *d, const char *image, struct svc_error *err);

/* POST /containers/create?name=NAME with spec; *id_out (caller frees). */
int svc_docker_container_create(struct svc_docker *d, const char *name,
				const json_t *spec, char **id_out, struct svc_error *err);
int svc_docker_container_start(struct svc_docker *d, const char *id, struct svc_error *err);
/*
 * POST /containers/ID/stop?t=SECONDS (304: already stopped, not an error).
 * timeout_s < 0 leaves t out: the container's own StopTimeout applies.
 */
int svc_docker_container_stop(struct svc_docker *d, const char *id, int timeout_s,
			      struct svc_error *err);
/* DELETE /containers/ID?force=1&v=1 (404: already gone, not an error). */
int svc_docker_container_remove(struct svc_docker *d, const char *id,
				struct svc_error *err);
/* GET /containers/ID/json; caller owns *out. */
int svc_docker_container_inspect(struct svc_docker *d, const char *id, json_t **out,
				 struct svc_error *err);
/*
 * GET /containers/json?all=1&filters={"label":[label]} (label like
 * "svcctl.service=greeter"); *out is the JSON array. Caller owns *out.
 */
int svc_docker_container_list(struct svc_docker *d, const char *label, json_t **out,
			      struct svc_error *err);
/*
 * GET /containers/ID/logs?stdout=1&stderr=1[&follow=1], demultiplexed to
 * fd. With follow, returns when the container stops or on a signal.
 */
int svc_docker_container_logs(struct svc_docker *d, const char *id, bool follow, int fd,
			      struct svc_error *err);

/* GET /tasks/ID/logs?stdout=1&stderr=1[&follow=1] (a swarm task's output), as above. */
int svc_docker_task_logs(struct svc_docker *d, const char *id, bool follow, int fd,
			 struct svc_error *err);

/* ---- swarm (the engine must be a manager for all but svc_docker_swarm_info) ---- */

/* What GET /info says of the engine's swarm. */
struct svc_docker_swarm {
	char state[24];       /* LocalNodeState: "inactive", "pending", "active", "error", "locked" */
	bool manager;         /* ControlAvailable: this engine can manage the swarm */
	char node_id[64];
	char node_addr[64];
	int nodes;
};
int svc_docker_swarm_info(struct svc_docker *d, struct svc_docker_swarm *out,
			  struct svc_error *err);
/* POST /services/create with spec (its "Name" names it in errors); *id_out (caller frees). */
int svc_docker_service_create(struct svc_docker *d, const json_t *spec, char **id_out,
			      struct svc_error *err);
/* DELETE /services/ID_OR_NAME (404: already gone, not an error). */
int svc_docker_service_remove(struct svc_docker *d, const char *id, struct svc_error *err);
/* GET /services/ID_OR_NAME; SVC_ENOTFOUND when there is none. Caller owns *out. */
int svc_docker_service_inspect(struct svc_docker *d, const char *id, json_t **out,
			       struct svc_error *err);
/* GET /services?filters={"label":[label]}: a JSON array. Caller owns *out. */
int svc_docker_service_list(struct svc_docker *d, const char *label, json_t **out,
			    struct svc_error *err);
/* GET /tasks?filters={"service":[service]} (every task, any state). Caller owns *out. */
int svc_docker_task_list(struct svc_docker *d, const char *service, json_t **out,
			 struct svc_error *err);
/* GET /nodes: every node of the swarm. Caller owns *out. */
int svc_docker_node_list(struct svc_docker *d, json_t **out, struct svc_error *err);

/*
 * The request path of an image build (without the /vX.Y prefix):
 * /build?t=TAG[&dockerfile=NAME][&buildargs=JSON], every value
 * percent-encoded; buildargs (borrowed; an object of strings, the
 * Dockerfile's ARG values) is left out when NULL or empty. Caller frees.
 */
char *svc_docker_build_path(const char *tag, const char *dockerfile, const json_t *buildargs);

/*
 * What the engine's JSON progress stream (a build's, a push's: one object
 * per line) says. Zero it and set fd (-1: progress dropped); feed it one
 * line at a time (without its newline); svc_docker_progress_release frees
 * it. Progress ("stream" text, and "status" lines without a progress
 * detail, prefixed with their "id") is written to fd; the first
 * "error"/"errorDetail" message is kept in error; a push's "aux"
 * {"Digest"} in digest. Returns 0, or -1 when the line is not a JSON
 * object or fd cannot be written (err says which). Pure: unit-tested.
 */
#define SVC_DOCKER_DIGEST_LEN 71   /* "sha256:" and 64 hex */
struct svc_docker_progress {
	int fd;
	char *error;                            /* NULL when none */
	char digest[SVC_DOCKER_DIGEST_LEN + 1]; /* "" when none */
};
int svc_docker_progress_line(struct svc_docker_progress *p, const char *line, size_t len,
			     struct svc_error *err);
void svc_docker_progress_release(struct svc_docker_progress *p);

/*
 * POST svc_docker_build_path(tag, dockerfile, buildargs) with the tar file
 * at tar_path as the build context; the engine's progress ("stream" lines)
 * is written to progress_fd (-1: dropped). An "error"/"errorDetail" line
 * fails it. timeout_s > 0 gives up (SVC_EUNAVAIL, as for any request that
 * times out) when the build takes longer; 0 waits as long as it takes.
 */
int svc_docker_image_build(struct svc_docker *d, const char *tar_path, const char *tag,
			   const char *dockerfile, const json_t *buildargs, long timeout_s,
			   int progress_fd, struct svc_error *err);

/* ---- images in a registry ---- */

/*
 * Image references as Docker reads them (pure; unit-tested). An image
 * names a registry when its first path component, before a '/', has a
 * '.' or a ':' or is "localhost": "reg.example:5000/team/greeter:1" does,
 * "greeter:1" and "team/greeter" do not (they are Docker Hub's, or only
 * an engine's own).
 */
bool svc_docker_image_has_registry(const char *image);
/* image without its tag or digest: "reg:5000/team/greeter". Caller frees. */
char *svc_docker_image_repo(const char *image);
/* "REPO@DIGEST": image fixed by digest, its tag dropped. Caller frees. */
char *svc_docker_image_pin(const char *image, const char *digest);
/* Whether s is "sha256:" and 64 lowercase hex digits. */
bool svc_docker_digest_valid(const char *s);
/*
 * Whether text is a repository to push to: HOST[:PORT]/PATH, HOST naming
 * a registry (above), PATH lowercase components, no tag nor digest.
 * Returns 0, or -1 with why (a message starting with the value quoted)
 * in why.
 */
int svc_docker_push_repo_check(const char *text, char *why, size_t why_len);
/* The request path of a push: /images/REPO/push?tag=TAG. Caller frees. */
char *svc_docker_push_path(const char *repo, const char *tag);

/* POST /images/SOURCE/tag?repo=REPO&tag=TAG: the local image also named REPO:TAG. */
int svc_docker_image_tag(struct svc_docker *d, const char *source, const char *repo,
			 const char *tag, struct svc_error *err);

/*
 * Push the local image REPO:TAG to the registry REPO names
 * (svc_docker_push_path, with an X-Registry-Auth header of no credential,
 * which a registry without authentication accepts); progress as for a
 * build to progress_fd. An "error"/"errorDetail" line fails it
 * (SVC_EGENERIC, the registry's words: "connection refused", "server gave
 * HTTP response to HTTPS client"), and so does a push whose output names
 * no digest. *digest_out gets the digest the registry stored it under.
 * timeout_s as for a build.
 */
int svc_docker_image_push(struct svc_docker *d, const char *repo, const char *tag,
			  long timeout_s, int progress_fd,
			  char digest_out[SVC_DOCKER_DIGEST_LEN + 1], struct svc_error *err);

/*
 * The digest image (a name with a registry, and a tag) has in its registry
 * now: GET /distribution/IMAGE/json, Descriptor.digest. The engine asks
 * the registry, with its own configuration (insecure-registries). A tag
 * the registry does not have is SVC_ENOTFOUND.
 */
int svc_docker_image_resolve(struct svc_docker *d, const char *image,
			     char digest_out[SVC_DOCKER_DIGEST_LEN + 1], struct svc_error *err);

#endif
