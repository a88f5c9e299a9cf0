/*
 * util.c - the small helpers every module shares: parsing durations,
 * addresses and status ranges, clocks, atomic file writes, JSON files,
 * daemon log lines, process identity (pid plus start time) and free-port
 * discovery.
 */
#include "config.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

int svc_parse_int(long long *out, const char *text, long long min, long long max)
{
	char *end;
	long long v;

	if (!text || !*text || isspace((unsigned char)*text))
		return SVC_EGENERIC;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return SVC_EGENERIC;
	*out = v;
	return 0;
}

int svc_duration_parse(int64_t *out_ms, const char *text, struct svc_error *err)
{
	const char *p = text;
	unsigned long long v = 0;
	int64_t mult;

	if (!p || !isdigit((unsigned char)*p))
		return svc_error_set(err, SVC_EGENERIC,
			"invalid duration '%s' (expected a number with ms, s, m or h)",
			text ? text : "");
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > 1000000000ULL)
			return svc_error_set(err, SVC_EGENERIC,
				"duration '%s' is too large", text);
		p++;
	}
	if (!strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "m"))
		mult = 60 * 1000;
	else if (!strcmp(p, "h"))
		mult = 3600 * 1000;
	else if (!*p && v == 0)
		mult = 1;
	else
		return svc_error_set(err, SVC_EGENERIC,
			"invalid duration '%s' (expected a number with ms, s, m or h)",
			text);
	if ((int64_t)v > INT64_MAX / mult / 1000)
		return svc_error_set(err, SVC_EGENERIC, "duration '%s' is too large", text);
	*out_ms = (int64_t)v * mult;
	return 0;
}

const char *svc_duration_format(char *buf, size_t len, int64_t ms)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, len, "%lldh", (long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
	return buf;
}

int svc_addr_from_host_port(struct svc_addr *out, const char *host, int port,
			    struct svc_error *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (port < 0 || port > 65535)
		return svc_error_set(err, SVC_EGENERIC, "port %d is out of range 1-65535", port);
	if (strlen(host) >= sizeof(out->host))
		return svc_error_set(err, SVC_EGENERIC, "invalid address '%s'", host);
	/* host and text are written back from the binary address, so that
	 * every spelling of one address ("::1", "0:0::1") has one text. */
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof(*sin);
		if (!inet_ntop(AF_INET, &sin->sin_addr, out->host, sizeof(out->host)))
			goto bad;
		snprintf(out->text, sizeof(out->text), "%s:%d", out->host, port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*sin6);
		if (!inet_ntop(AF_INET6, &sin6->sin6_addr, out->host, sizeof(out->host)))
			goto bad;
		snprintf(out->text, sizeof(out->text), "[%s]:%d", out->host, port);
	} else {
		goto bad;
	}
	out->port = port;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return svc_error_set(err, SVC_EGENERIC,
		"invalid address '%s' (expected a numeric IPv4 or IPv6 address)", host);
}

int svc_addr_parse(struct svc_addr *out, const char *text, bool allow_zero,
		   struct svc_error *err)
{
	char host[64];
	const char *colon, *portstr;
	long long port;

	if (!text || !*text)
		return svc_error_set(err, SVC_EGENERIC, "empty address");
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			return svc_error_set(err, SVC_EGENERIC,
				"invalid address '%s' (expected [ipv6]:port)", text);
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		portstr = close + 2;
		if (!strchr(host, ':'))
			return svc_error_set(err, SVC_EGENERIC,
				"invalid address '%s' (brackets are for IPv6)", text);
	} else {
		colon = strrchr(text, ':');
		if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host))
			return svc_error_set(err, SVC_EGENERIC,
				"invalid address '%s' (expected host:port)", text);
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		if (strchr(host, ':'))
			return svc_error_set(err, SVC_EGENERIC,
				"invalid address '%s' (write IPv6 as [addr]:port)", text);
		portstr = colon + 1;
	}
	if (svc_parse_int(&port, portstr, allow_zero ? 0 : 1, 65535))
		return svc_error_set(err, SVC_EGENERIC,
			"invalid port in '%s' (expected %d-65535)", text, allow_zero ? 0 : 1);
	return svc_addr_from_host_port(out, host, (int)port, err);
}

int svc_status_range_parse(int *out_lo, int *out_hi, const char *text,
			   struct svc_error *err)
{
	char buf[32];
	char *dash;
	long long lo, hi;

	if (!text || strlen(text) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", text);
	dash = strchr(buf, '-');
	if (dash) {
		*dash = '\0';
		if (svc_parse_int(&lo, buf, 100, 599) || svc_parse_int(&hi, dash + 1, 100, 599))
			goto bad;
	} else {
		if (svc_parse_int(&lo, buf, 100, 599))
			goto bad;
		hi = lo;
	}
	if (lo > hi)
		return svc_error_set(err, SVC_EGENERIC,
			"invalid status range '%s' (low end above high end)", text);
	*out_lo = (int)lo;
	*out_hi = (int)hi;
	return 0;
bad:
	return svc_error_set(err, SVC_EGENERIC,
		"invalid status range '%s' (expected e.g. 200-399, codes 100-599)",
		text ? text : "");
}

int64_t svc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t svc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void svc_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

const char *svc_time_format(char *buf, size_t len, int64_t epoch_ms)
{
	time_t t = (time_t)(epoch_ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
	return buf;
}

int svc_mkdir_p(const char *path, mode_t mode, struct svc_error *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return svc_error_set(err, SVC_EGENERIC, "invalid path '%s'", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) && errno != EEXIST)
				return svc_error_set_errno(err, SVC_EGENERIC, errno,
							   "cannot create '%s'", buf);
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int svc_file_write_atomic(const char *path, const void *data, size_t len,
			  mode_t mode, struct svc_error *err)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd = -1, rc = SVC_EGENERIC;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return svc_error_set(err, SVC_EGENERIC, "path too long '%s'", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", tmp);
		goto done;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", tmp);
			goto done;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd)) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot fsync '%s'", tmp);
		goto done;
	}
	if (close(fd)) {
		fd = -1;
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot write '%s'", tmp);
		goto done;
	}
	fd = -1;
	if (rename(tmp, path)) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot rename '%s'", tmp);
		goto done;
	}
	fsync_dir_of(path);
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

const char *svc_file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a folder";
	case S_IFLNK: return "a symlink";
	case S_IFIFO: return "a fifo";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	default: return "not a file";
	}
}

int svc_file_read(char **out, size_t *out_len, const char *path, size_t max,
		  struct svc_error *err)
{
	char *buf = NULL;
	size_t len = 0, alloc = 0;
	struct stat st;
	int fd, rc = SVC_EGENERIC;

	*out = NULL;
	/* O_NONBLOCK: opening a fifo must not wait for a writer; fstat then
	 * refuses it (and devices), so nothing is read forever either */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return svc_error_set(err, SVC_ENOTFOUND, "'%s' does not exist", path);
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", path);
	}
	if (fstat(fd, &st)) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", path);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		svc_error_set(err, SVC_EGENERIC, "'%s' is not a regular file (%s)", path,
			      svc_file_kind(st.st_mode));
		goto done;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	for (;;) {
		ssize_t n;
		if (alloc - len < 4096) {
			alloc = alloc ? alloc * 2 : 8192;
			buf = svc_realloc(buf, alloc, 1);
		}
		n = read(fd, buf + len, alloc - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", path);
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			svc_error_set(err, SVC_EGENERIC, "'%s' is larger than %zu bytes", path, max);
			goto done;
		}
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (out_len)
		*out_len = len;
	rc = 0;
done:
	free(buf);
	close(fd);
	return rc;
}

int svc_json_file_read(json_t **out, const char *path, size_t max,
		       struct svc_error *err)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t je;
	int rc;

	*out = NULL;
	if ((rc = svc_file_read(&text, &len, path, max, err)))
		goto done;
	*out = json_loadb(text, len, 0, &je);
	if (!*out)
		rc = svc_error_set_at(err, SVC_EGENERIC, NULL, je.line, je.column,
				      "%s:%d:%d: invalid JSON: %s", path, je.line,
				      je.column, je.text);
done:
	free(text);
	return rc;
}

int svc_json_parse_buffer(json_t **out, const char *buf, size_t len, size_t flags,
			  const char *path, const char *what, int code,
			  struct svc_error *err)
{
	json_error_t je;

	*out = json_loadb(buf, len, flags, &je);
	if (*out)
		return 0;
	return svc_error_set(err, code, "%s:%d:%d: invalid %s: %s", path,
			     je.line > 0 ? je.line : 1, je.column > 0 ? je.column : 1, what,
			     je.text);
}

int svc_json_file_write(const json_t *j, const char *path, struct svc_error *err)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!text)
		return svc_error_set(err, SVC_EGENERIC, "cannot encode '%s'", path);
	rc = svc_file_write_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

int svc_rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	/* a read-only tree (a git export) must be made writable to be emptied */
	if ((st.st_mode & 0700) != 0700 && chmod(path, (st.st_mode & 07777) | 0700))
		return -1;
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char *child;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		child = svc_strfmt("%s/%s", path, de->d_name);
		if (svc_rm_rf(child))
			rc = -1;
		free(child);
	}
	closedir(d);
	if (rmdir(path))
		rc = -1;
	return rc;
}

char *svc_path_normalize(const char *abs)
{
	char *out = svc_calloc(strlen(abs) + 2, 1);
	size_t len = 0;

	for (const char *s = abs; *s;) {
		size_t seg;

		while (*s == '/')
			s++;
		seg = strcspn(s, "/");
		if (seg == 0)
			break;
		if (seg == 2 && s[0] == '.' && s[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;          /* the slash before the name dropped */
		} else if (!(seg == 1 && s[0] == '.')) {
			out[len++] = '/';
			memcpy(out + len, s, seg);
			len += seg;
		}
		s += seg;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

char *svc_path_resolve(const char *base, const char *rel)
{
	char *joined, *out;

	if (rel[0] == '/')
		return svc_path_normalize(rel);
	joined = svc_strfmt("%s/%s", base, rel);
	out = svc_path_normalize(joined);
	free(joined);
	return out;
}

size_t svc_hex_span(const char *s)
{
	size_t n = 0;

	while (s && ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
		n++;
	return n;
}

bool svc_hex_is(const char *s, size_t len)
{
	return s && svc_hex_span(s) == len && s[len] == '\0';
}

int svc_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (fd >= 0 && len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

bool svc_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

unsigned long long svc_pid_starttime(pid_t pid)
{
	char path[64], buf[1024];
	char *p;
	ssize_t n;
	int fd, field;
	unsigned long long start = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: skip to the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* fields after comm start at 3 (state); starttime is field 22 */
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (!p)
		return 0;
	/* a zombie has exited: treat it as gone */
	if (strstr(buf, ") Z ") || strstr(buf, ") X "))
		return 0;
	start = strtoull(p + 1, NULL, 10);
	return start;
}

bool svc_pid_alive(pid_t pid, unsigned long long starttime)
{
	unsigned long long st = svc_pid_starttime(pid);

	if (!st)
		return false;
	return starttime == 0 || st == starttime;
}

int svc_free_port(int *out, const char *host, struct svc_error *err)
{
	struct svc_addr a;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, rc = SVC_EGENERIC;

	if (svc_addr_from_host_port(&a, host, 0, err))
		return SVC_EGENERIC;
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "socket");
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot find a free port on %s", host);
		goto done;
	}
	*out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
	rc = 0;
done:
	close(fd);
	return rc;
}

int svc_self_exe(char *buf, size_t len, struct svc_error *err)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n < 0 || (size_t)n >= len - 1)
		return svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot find own executable");
	buf[n] = '\0';
	return 0;
}

void svc_daemon_log(const char *who, const char *fmt, ...)
{
	char when[40];
	va_list ap;

	fprintf(stderr, "%s %s[%ld]: ", svc_time_format(when, sizeof(when), svc_now_ms()),
		who, (long)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static void oom(void)
{
	fputs("svcctl: out of memory\n", stderr);
	abort();
}

char *svc_strfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

char *svc_strdup(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		oom();
	return d;
}

void *svc_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *svc_realloc(void *p, size_t n, size_t size)
{
	void *q;

	if (size && n > SIZE_MAX / size)
		oom();
	q = realloc(p, (n * size) != 0 ? n * size : 1);
	if (!q)
		oom();
	return q;
}

void svc_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t svc_strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

char **svc_strv_dup(char *const *v)
{
	size_t n = svc_strv_len(v);
	char **d = svc_calloc(n + 1, sizeof(*d));

	for (size_t i = 0; i < n; i++)
		d[i] = svc_strdup(v[i]);
	return d;
}

char **svc_strv_add_unique(char **v, const char *s)
{
	size_t n = svc_strv_len(v);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return v;
	v = svc_realloc(v, n + 2, sizeof(*v));
	v[n] = svc_strdup(s);
	v[n + 1] = NULL;
	return v;
}

char **svc_env_base(void)
{
	struct passwd pw, *found = NULL;
	size_t len = 4096;
	char *buf = NULL, **env = svc_calloc(1, sizeof(*env));

	svc_env_set(&env, "PATH", SVC_ENV_PATH);
	/* getpwuid_r: builds run in threads */
	for (;;) {
		int rc;

		buf = svc_realloc(buf, len, 1);
		rc = getpwuid_r(geteuid(), &pw, buf, len, &found);
		if (rc != ERANGE || len >= (1 << 20))
			break;
		len *= 2;
	}
	svc_env_set(&env, "HOME", found && found->pw_dir && found->pw_dir[0] == '/'
		    ? found->pw_dir : "/");
	free(buf);
	svc_env_set(&env, "LANG", "C.UTF-8");
	return env;
}

static size_t env_find(char *const *envp, const char *name)
{
	size_t nl = strlen(name), i;

	for (i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], name, nl) && envp[i][nl] == '=')
			break;
	return i;
}

void svc_env_set(char ***envp, const char *name, const char *value)
{
	size_t i = env_find(*envp, name);

	if ((*envp)[i]) {
		free((*envp)[i]);
	} else {
		*envp = svc_realloc(*envp, i + 2, sizeof(**envp));
		(*envp)[i + 1] = NULL;
	}
	(*envp)[i] = svc_strfmt("%s=%s", name, value);
}

const char *svc_env_get(char *const *envp, const char *name)
{
	size_t i = env_find(envp, name);

	return envp && envp[i] ? envp[i] + strlen(name) + 1 : NULL;
}

char *svc_exec_find(const char *cmd, char *const *envp, const char *cwd)
{
	const char *path = svc_env_get(envp, "PATH"), *p;

	if (!cmd || !*cmd)
		return NULL;
	if (strchr(cmd, '/'))
		return svc_strdup(cmd);
	if (!path)
		path = SVC_ENV_PATH;
	for (p = path;; p++) {
		size_t dl = strcspn(p, ":");
		struct stat st;
		char *file;

		if (dl == 0)
			file = svc_strfmt("%s/%s", cwd, cmd);
		else if (p[0] == '/')
			file = svc_strfmt("%.*s/%s", (int)dl, p, cmd);
		else
			file = svc_strfmt("%s/%.*s/%s", cwd, (int)dl, p, cmd);
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0)
			return file;
		free(file);
		p += dl;
		if (!*p)
			return NULL;
	}
}

bool svc_name_valid(const char *name)
{
	size_t n;

	if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	for (n = 1; name[n]; n++) {
		char c = name[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return n <= 63;
}

#ifdef __SANITIZE_ADDRESS__
/*
 * LeakSanitizer's built-in suppressions, in every program that links this
 * library. Debian 12's libgit2 1.5 leaks one pcre2 match block per regex
 * match that fails (fixed upstream by libgit2 pull request 6382): not ours
 * to fix, and matched by pcre2's own module so that nothing else is hidden.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpcre2-8.so\n";
}

/* A clean run writes nothing: scripts/test treats any report file as a failure. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
#endif

void svc_fault_point(const char *name)
{
#ifdef SVC_FAULT_INJECTION
	const char *want = getenv("SVCCTL_FAULT");

	if (want && !strcmp(want, name)) {
		char line[128];
		int n = snprintf(line, sizeof(line), "svcctl: fault point '%s': killed\n", name);
		if (n > 0)
			(void)!write(STDERR_FILENO, line, (size_t)n);
		raise(SIGKILL);
	}
#else
	(void)name;
#endif
}

bool svc_fault_wanted(const char *var, const char *name)
{
#ifdef SVC_FAULT_INJECTION
	const char *want = getenv(var);

	return want && !strcmp(want, name);
#else
	(void)var;
	(void)name;
	return false;
#endif
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void svc_strv_sort(char **v)
{
	qsort(v, svc_strv_len(v), sizeof(*v), strp_cmp);
}

int svc_dir_list(char ***out, const char *dir, bool (*keep)(const char *name),
		 struct svc_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	*out = svc_calloc(1, sizeof(**out));
	if (!d)
		return errno == ENOENT ? 0
			: svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot read '%s'", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (keep && !keep(de->d_name)))
			continue;
		*out = svc_realloc(*out, n + 2, sizeof(**out));
		(*out)[n++] = svc_strdup(de->d_name);
		(*out)[n] = NULL;
	}
	closedir(d);
	svc_strv_sort(*out);
	return 0;
}

void svc_text_add(char *buf, size_t len, const char *text)
{
	size_t used;

	if (!buf || !len)
		return;
	used = strlen(buf);
	snprintf(buf + used, len - used, "%s%s", used ? "; " : "", text);
}
