/*
 * util.h - small shared helpers: durations, addresses, time, files, JSON
 * files, daemon log lines, pids.
 *
 * Invariants: durations are milliseconds in an int64_t; addresses are
 * numeric (no name lookup) IPv4 "a.b.c.d:port" or IPv6 "[::1]:port";
 * every function that writes a file other modules read does so atomically
 * (temp file, fsync, rename, fsync of the folder).
 */
#ifndef SVC_UTIL_H
#define SVC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "error.h"

/*
 * jansson's value type, declared here so that users of util.h need not see
 * <jansson.h> (C11 allows the same typedef twice).
 */
typedef struct json_t json_t;

/*
 * Parse a duration: a non-negative integer followed by ms, s, m or h
 * ("250ms", "10s", "5m", "1h"); a bare "0" is allowed. Returns 0 and sets
 * *out_ms, or SVC_EGENERIC with a reason in err (no position).
 */
int svc_duration_parse(int64_t *out_ms, const char *text, struct svc_error *err);

/* Format ms compactly ("1500ms", "30s", "10m"); returns buf. */
const char *svc_duration_format(char *buf, size_t len, int64_t ms);

/* A numeric socket address with its canonical text. */
struct svc_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];   /* canonical "127.0.0.1:8080" or "[::1]:8080" */
	char host[48];   /* "127.0.0.1" or "::1" (no brackets) */
	int port;        /* 0..65535 */
};

/*
 * Parse "host:port" where host is a numeric IPv4 address or a bracketed
 * IPv6 address. port must be 1..65535 unless allow_zero is set.
 */
int svc_addr_parse(struct svc_addr *out, const char *text, bool allow_zero,
		   struct svc_error *err);

/* Build an address from a numeric host and a port. */
int svc_addr_from_host_port(struct svc_addr *out, const char *host, int port,
			    struct svc_error *err);

/* Parse a status range "200-399" or a single status "200"; codes 100..599. */
int svc_status_range_parse(int *out_lo, int *out_hi, const char *text,
			   struct svc_error *err);

/* Parse a base-10 integer with range and end checks. */
int svc_parse_int(long long *out, const char *text, long long min, long long max);

/* Milliseconds: wall clock since the epoch, and a monotonic clock. */
int64_t svc_now_ms(void);
int64_t svc_mono_ms(void);
/* Sleep for ms milliseconds (restarts on EINTR). */
void svc_sleep_ms(int64_t ms);
/* Format an epoch-ms time as RFC 3339 UTC "2026-11-28T04:40:31Z". */
const char *svc_time_format(char *buf, size_t len, int64_t epoch_ms);

/* mkdir -p with the given mode for each folder created. */
int svc_mkdir_p(const char *path, mode_t mode, struct svc_error *err);

/*
 * Write data to path atomically: path.tmp.<pid>, fsync, rename, fsync of
 * the containing folder. The file gets the given mode.
 */
int svc_file_write_atomic(const char *path, const void *data, size_t len,
			  mode_t mode, struct svc_error *err);

/*
 * Read a whole regular file (at most max bytes) into a NUL-terminated heap
 * buffer. Caller frees *out with free(). Returns SVC_ENOTFOUND when it does
 * not exist, SVC_EGENERIC ("'PATH' is not a regular file (a fifo)") for
 * anything but a regular file (a symlink to one is fine): a fifo or a
 * device is refused at once, never waited on or read forever.
 */
int svc_file_read(char **out, size_t *out_len, const char *path, size_t max,
		  struct svc_error *err);

/* What a st_mode's file type is, for messages: "a fifo", "a folder", ... (static). */
const char *svc_file_kind(mode_t mode);

/*
 * Read and parse a JSON file of at most max bytes (svc_file_read, then
 * json_loadb). On success *out is a new reference the caller releases with
 * json_decref; on failure *out is NULL. Returns SVC_ENOTFOUND (with a
 * message) when the file does not exist, svc_file_read's error when it cannot
 * be read, and SVC_EGENERIC with "PATH:LINE:COL: invalid JSON: TEXT" when it
 * does not parse (an empty file included). Only that last error sets
 * err->line (>= 1) and err->column, jansson's position (err->file stays empty:
 * the message names the file), so a caller that passes a cleared err can tell
 * a file that does not parse from one that cannot be read. The top level must
 * be an object or an array (jansson's default); callers check which.
 */
int svc_json_file_read(json_t **out, const char *path, size_t max,
		       struct svc_error *err);

/*
 * Parse len bytes of buf (json_loadb with flags) read from path: 0 and a new
 * reference in *out, or code with "PATH:LINE:COL: invalid WHAT: TEXT"
 * (positions 1-based) and *out NULL.
 */
int svc_json_parse_buffer(json_t **out, const char *buf, size_t len, size_t flags,
			  const char *path, const char *what, int code,
			  struct svc_error *err);

/*
 * Write j to path as JSON indented by 2 with sorted keys (no final newline),
 * atomically with mode 0600 (svc_file_write_atomic). j is borrowed.
 * Returns SVC_EGENERIC with "cannot encode 'PATH'" when jansson cannot
 * encode it, or svc_file_write_atomic's error.
 */
int svc_json_file_write(const json_t *j, const char *path, struct svc_error *err);

/*
 * Remove a folder and everything under it (no symlinks followed); folders
 * without owner write permission (a read-only git export) are made writable
 * first.
 */
int svc_rm_rf(const char *path);

/*
 * Normalize an absolute path lexically: repeated slashes, "." and ".."
 * segments go ("/a/./b//../c/" -> "/a/c"; ".." above the root stays at the
 * root). Symlinks are not looked at. Caller frees.
 */
char *svc_path_normalize(const char *abs);
/* base (absolute) joined with rel and normalized; rel may be absolute. Caller frees. */
char *svc_path_resolve(const char *base, const char *rel);

/*
 * Lowercase hex, the one spelling of ids and commits here: how many of s's
 * first characters are hex (NULL: 0), and whether s is exactly len of them.
 */
size_t svc_hex_span(const char *s);
bool svc_hex_is(const char *s, size_t len);

/* Write all of data to fd, retrying short writes and EINTR (fd < 0: dropped). -1 with errno set on error. */
int svc_write_all(int fd, const void *data, size_t len);

/* True when path exists. */
bool svc_path_exists(const char *path);

/*
 * The start time of a process, in clock ticks since boot (field 22 of
 * /proc/PID/stat). 0 when the process does not exist. A pid is trusted only
 * together with its start time: svc_pid_alive(pid, start) is true when pid
 * runs and started at start (start == 0 checks existence only).
 */
unsigned long long svc_pid_starttime(pid_t pid);
bool svc_pid_alive(pid_t pid, unsigned long long starttime);

/*
 * Find a free TCP port on host (numeric) by binding port 0 and reading the
 * port back. The port is free when checked; the caller binds it soon after.
 */
int svc_free_port(int *out, const char *host, struct svc_error *err);

/* The absolute path of the running executable (/proc/self/exe). */
int svc_self_exe(char *buf, size_t len, struct svc_error *err);

/*
 * Write one line to stderr for a daemon's log: "2026-11-28T05:00:00Z
 * who[pid]: message\n" (UTC, the caller's pid), then flush stderr. who is
 * borrowed; fmt takes no final newline.
 */
void svc_daemon_log(const char *who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allocating sprintf; aborts the program when out of memory. Caller frees. */
char *svc_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* strdup that aborts when out of memory; NULL stays NULL. */
char *svc_strdup(const char *s);
/* calloc/realloc that abort when out of memory. */
void *svc_calloc(size_t n, size_t size);
void *svc_realloc(void *p, size_t n, size_t size);

/* A NULL-terminated array of heap strings. */
/* Sort a NULL-terminated string vector in byte order. */
void svc_strv_sort(char **v);
/*
 * The names in folder dir for which keep is true (every name but "." and
 * ".." when keep is NULL), sorted, NULL-terminated; a folder that does not
 * exist is empty. Caller frees *out with svc_strv_free. SVC_EGENERIC naming
 * dir when it cannot be read.
 */
int svc_dir_list(char ***out, const char *dir, bool (*keep)(const char *name),
		 struct svc_error *err);
/* Append text to the "; "-separated sentences in buf (len bytes; buf may be NULL). */
void svc_text_add(char *buf, size_t len, const char *text);
void svc_strv_free(char **v);
size_t svc_strv_len(char *const *v);
char **svc_strv_dup(char *const *v);
/* v (NULL-terminated, may be NULL) with a copy of s appended unless it is there; the new v. */
char **svc_strv_add_unique(char **v, const char *s);

/*
 * Environments of what svcctl starts (instances, builds). They are built
 * from nothing, never from svcctl's own environment, so that a release
 * runs the same whoever deploys it from whichever shell, and a secret
 * exported there does not reach it.
 *
 * svc_env_base: the fixed base, PATH=SVC_ENV_PATH, HOME=the home of the
 * effective user in the passwd database ("/" when there is none: $HOME is
 * not copied, since sudo and su keep the caller's), LANG=C.UTF-8. A
 * NULL-terminated array of "NAME=value" strings; caller frees with
 * svc_strv_free.
 */
#define SVC_ENV_PATH "/usr/local/bin:/usr/bin:/bin"
char **svc_env_base(void);
/* Set NAME=value in *envp (an array as svc_env_base's), replacing NAME if there. */
void svc_env_set(char ***envp, const char *name, const char *value);
/* The value of name in envp (borrowed), or NULL. */
const char *svc_env_get(char *const *envp, const char *name);
/*
 * The file to execve for argv[0] cmd, found the way execvp finds it but in
 * the PATH of envp (the child's environment, not svcctl's; SVC_ENV_PATH
 * when it has none): cmd itself when it holds a '/'; otherwise the first
 * PATH entry with an executable regular file of that name (empty and
 * relative entries are relative to cwd, the child's working folder).
 * NULL when there is none. Caller frees.
 */
char *svc_exec_find(const char *cmd, char *const *envp, const char *cwd);

/* Valid service name: [a-z][a-z0-9-]{0,62}. */
bool svc_name_valid(const char *name);

/*
 * A fault point: in builds configured with --enable-fault-injection, when
 * the environment variable SVCCTL_FAULT equals name, svcctl says so on
 * stderr and kills itself with SIGKILL right there (the crash tests' way to
 * stop it after a given step was recorded). Elsewhere it does nothing.
 */
void svc_fault_point(const char *name);

/*
 * The same test for another variable (fault injection builds only; false
 * elsewhere): whether getenv(var) equals name. The caller does the fault,
 * such as SVCCTL_FAULT_ROUTER killing the router at a step.
 */
bool svc_fault_wanted(const char *var, const char *name);

#endif
