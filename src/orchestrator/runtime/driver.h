/*
 * runtime/driver.h - the runtime driver interface: how instances of a release are
 * started, stopped, listed and their logs read, whatever runs them.
 *
 * The rollout code (rollout.c) talks only to this interface and to the
 * driver table below; the drivers are runtime/proc/ (local processes under
 * supervisors), runtime/docker/ (containers through the Engine API) and
 * runtime/swarm/ (one Swarm service per release, through a manager's
 * Engine API). What a driver knows about running instances it rebuilds
 * from the runtime itself (supervisor files and live pids, container and
 * service labels): there is no other registry of instances.
 */
#ifndef SVC_RUNTIME_H
#define SVC_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "manifest.h"

enum svc_instance_state {
	SVC_INST_STARTING = 0, /* supervisor up, instance not (yet/again) running: backoff */
	SVC_INST_RUNNING,      /* instance process runs */
	SVC_INST_STOPPING,     /* being stopped */
	SVC_INST_STOPPED,      /* stopped on purpose (or expired) */
	SVC_INST_GONE,         /* the supervisor is not alive (killed, machine rebooted) */
};

/*
 * One instance, as every runtime describes it (id, release, color, index,
 * address, state, pid, restarts, times, output), plus a part only its
 * driver reads.
 */
struct svc_instance {
	char *id;        /* "<service>-<release12>-<index>": unique per state dir */
	char *service;
	char *release;   /* full release id (64 hex) */
	char *color;     /* "blue" or "green" */
	int index;       /* 0..replicas-1 */
	char host[48];   /* where the instance answers (router backend, health checks) */
	int port;
	pid_t pid;       /* the instance's process, 0 when not running (as the runtime sees it) */
	int restarts;
	int64_t started_ms;    /* epoch ms of the current process start, 0 if none */
	int64_t expire_at_ms;  /* epoch ms when it stops itself, 0 = never */
	int last_exit_code;    /* -1 when none; else exit status, or 128+signal */
	enum svc_instance_state state;
	char *log_path;  /* the instance's output, may be NULL */
	/*
	 * Set when the runtime's own record of the instance cannot be read
	 * (a cut spec.json, say): what and why, naming the file. Such an
	 * instance is still listed, so that stop can stop it, but nothing else
	 * may act on it. NULL otherwise.
	 */
	char *problem;
	/*
	 * Where the runtime keeps it, for status and --json, each NULL when
	 * the runtime has no such thing: its own id of the instance (a swarm
	 * task's), the machine it runs on (a swarm node's name), and its last
	 * word on an instance that does not run (a task's error: "No such
	 * image: ...", "non-zero exit (1)").
	 */
	char *runtime_id;
	char *node;
	char *why;
	/*
	 * What only one runtime has, kept by its driver: the process runtime's
	 * start times (a pid is trusted only with its start time) and its
	 * supervisor. Others leave it zero.
	 */
	struct svc_proc_part {
		unsigned long long pid_start;
		pid_t supervisor_pid;
		unsigned long long supervisor_start;
	} proc;
};

struct svc_instance_list {
	struct svc_instance *items;
	size_t count;
};

/* Frees the strings of one instance (not the struct itself). */
void svc_instance_release(struct svc_instance *inst);
/* Frees every instance and the array; the list is empty afterwards. */
void svc_instance_list_release(struct svc_instance_list *list);
const char *svc_instance_state_name(enum svc_instance_state s);
/* "host:port" ("[host]:port" for IPv6): the instance's router backend. Returns buf. */
const char *svc_instance_addr(const struct svc_instance *in, char *buf, size_t len);

struct svc_runtime;

struct svc_runtime_ops {
	const char *name;
	/* Optional: connect to the runtime (SVC_EUNAVAIL when it does not answer). */
	int (*open)(struct svc_runtime *rt, struct svc_error *err);
	/*
	 * Optional: check that m can be started at all (the image exists, ...)
	 * before anything is started or stopped.
	 */
	int (*prepare)(struct svc_runtime *rt, const struct svc_manifest *m,
		       struct svc_error *err);
	/*
	 * Optional, at deploy only (a rollback runs what its release
	 * recorded): fix what m's instances run where only the runtime can
	 * say, before the release is stored (swarm: run.image of a registry
	 * resolved to the digest its tag names now, svc_manifest_set_pinned).
	 * Not called for a release that has a pin stored already, nor for an
	 * image by digest (svc_manifest_pinned). Nothing to fix: m as it is.
	 */
	int (*pin)(struct svc_runtime *rt, struct svc_manifest *m, struct svc_error *err);
	/*
	 * Start instance number index of release for manifest m, labelled with
	 * color. Returns once the instance process has been started (not once
	 * healthy). out is filled (caller releases with svc_instance_release).
	 */
	int (*start)(struct svc_runtime *rt, const struct svc_manifest *m,
		     const char *release, const char *color, int index,
		     struct svc_instance *out, struct svc_error *err);
	/*
	 * Stop the instance and wait for it to be gone; forget it. Where the
	 * instances of a release live and die together (swarm: one service
	 * per release), this stops every instance of inst's release.
	 */
	int (*stop)(struct svc_runtime *rt, const struct svc_instance *inst,
		    struct svc_error *err);
	/* Every instance known for service (all releases). Caller releases out. */
	int (*list)(struct svc_runtime *rt, const char *service,
		    struct svc_instance_list *out, struct svc_error *err);
	/* Make the instance stop itself at epoch ms at (0 = never). */
	int (*set_expiry)(struct svc_runtime *rt, const struct svc_instance *inst,
			  int64_t at_ms, struct svc_error *err);
	/*
	 * Optional: remove what expiry key names (expiry.h): the waiter of a
	 * warm release calls it when keep_previous ends. SVC_ENOTFOUND when
	 * it is gone already.
	 */
	int (*expire)(struct svc_runtime *rt, const char *service, const char *key,
		      struct svc_error *err);
	/* Copy the instance's output to fd; with follow, keep going until signalled. */
	int (*logs)(struct svc_runtime *rt, const struct svc_instance *inst,
		    bool follow, int fd, struct svc_error *err);
	/*
	 * Optional: put back under the runtime's care every instance of
	 * service that lost it while nobody was looking (the process
	 * runtime: an instance whose supervisor died is adopted by a new
	 * supervisor when its pid and start time still match, else started
	 * again in its place). Appends one sentence per instance it touched
	 * to what ("; "-separated, truncated to what_len); what may be NULL.
	 * A driver whose engine restarts what it runs (docker) has none.
	 * Per-instance failures are sentences in what, not errors.
	 */
	int (*reconcile)(struct svc_runtime *rt, const char *service,
			 char *what, size_t what_len, struct svc_error *err);
	/*
	 * Optional: the services that have instances of rt's state dir in the
	 * runtime, found there (container labels), so that they are known with
	 * the state dir's files gone. *out NULL-terminated (svc_strv_free).
	 */
	int (*list_services)(struct svc_runtime *rt, char ***out, struct svc_error *err);
	/*
	 * Optional: the routers the runtime's routes go through when they are
	 * not svcctl's router on this machine (swarm: one on every node,
	 * router/plane.h). Called once per svc_runtime (svc_runtime_plane).
	 */
	struct svc_plane *(*plane)(struct svc_runtime *rt);
	/* Optional: ms spent waiting for the runtime so far (benchmarks). */
	int64_t (*busy_ms)(struct svc_runtime *rt);
	/* Release the driver's priv (may be NULL); svc_runtime_free frees the rest. */
	void (*free)(struct svc_runtime *rt);
};

struct svc_runtime {
	const struct svc_runtime_ops *ops;
	char *state_dir;    /* absolute (a relative one is made absolute when opened) */
	char *self_exe;     /* the svcctl executable (runs supervisors); absolute */
	void *priv;
	struct svc_plane *plane;   /* svc_runtime_plane's, made on first use */
};

/*
 * The driver table (curl's vtls backends are the model): what each runtime
 * kind can do, so that rollout, builder and manifest code ask the table
 * and never name a driver.
 */
enum svc_runtime_cap {
	SVC_RT_IMAGES = 1 << 0,       /* releases run images: a build makes an image */
	SVC_RT_HOST_FOLDER = 1 << 1,  /* instances run in a folder of this machine */
};

struct svc_runtime_driver {
	enum svc_runtime_kind kind;
	const struct svc_runtime_ops *ops;   /* NULL: no driver yet */
	unsigned caps;                       /* enum svc_runtime_cap bits */
	void (*check)(struct svc_mcheck *c); /* what its manifests may say (manifest.h) */
	const char *unavailable;             /* why, when ops is NULL */
};

/* The entry of kind; NULL for a kind svcctl does not know. */
const struct svc_runtime_driver *svc_runtime_driver_of(enum svc_runtime_kind kind);
/*
 * Every driver that can be opened, in the order instances are looked for
 * when no release says which runtime (engines first); NULL-terminated.
 */
extern const struct svc_runtime_driver *const svc_runtime_drivers[];
/* Whether kind's driver has cap. */
bool svc_runtime_has(enum svc_runtime_kind kind, enum svc_runtime_cap cap);

/*
 * Open the driver for kind. self_exe is the svcctl binary used to start
 * helper processes (the process runtime's supervisors); NULL means the
 * running executable (/proc/self/exe). Both paths are copied. Caller frees
 * with svc_runtime_free (NULL is a no-op). SVC_EUNAVAIL when the runtime
 * cannot be reached (docker and swarm, for now).
 */
int svc_runtime_open(struct svc_runtime **out, enum svc_runtime_kind kind,
		     const char *state_dir, const char *self_exe,
		     struct svc_error *err);
void svc_runtime_free(struct svc_runtime *rt);

/*
 * Where rt's routes are put in force (router/plane.h): its driver's plane,
 * or svcctl's router of the state dir on this machine. Owned by rt.
 */
struct svc_plane *svc_runtime_plane(struct svc_runtime *rt);

#endif
