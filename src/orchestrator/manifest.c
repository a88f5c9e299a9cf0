/*
 * manifest.c - strict loading of service manifests from YAML.
 *
 * The file is read with libyaml's event API (yaml_parser_parse) and the typed
 * struct svc_manifest is filled directly, section by section, from tables of
 * known keys. Nothing is built in between: no document tree, no recursion
 * driven by the input. The schema is at most five levels deep, so the
 * parser's own recursion is bounded by the schema; values that are skipped
 * (unknown keys, wrong types) are skipped by an iterative loop, and every
 * event passes through next(), which refuses nesting deeper than
 * MANIFEST_MAX_DEPTH and ends the file there.
 *
 * Every problem is appended to the caller's svc_diags as "file:line:col:
 * message" with the key path in the message; after a bad value the parser
 * skips it and carries on, so one run reports all problems. Syntax errors
 * from libyaml, invalid UTF-8, NUL bytes and nesting that is too deep end the
 * file with one error at their position.
 *
 * Decisions the schema leaves open, kept consistent throughout:
 * - Tags (`!!str 3`, `!foo`) are refused like anchors and aliases: they ask
 *   the reader to reinterpret a value, and the schema already fixes every
 *   type. The tagged value is skipped.
 * - Integers and booleans must be plain scalars: `replicas: "2"` is a wrong
 *   type ("expected an integer"). Strings (names, paths, durations,
 *   addresses, versions, env values) accept any non-null scalar, plain or
 *   quoted, and keep its text as written: `version: 1.10` stays "1.10".
 * - Null (an empty value, `~`, `null`) is a wrong type everywhere.
 * - A key whose value is bad still counts as present, so it does not also
 *   produce a "missing required key" error.
 * - Two addresses clash when their text is equal or when one is a wildcard
 *   (0.0.0.0 for IPv4, :: for both families) on the same port.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "hash.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)
#define MANIFEST_MAX_DEPTH 32
#define KPATH_MAX 256

/* ------------------------------------------------------------------ */
/* Key indexes of each section, so that checks across keys can find them. */

enum { TOP_SERVICE, TOP_RUNTIME, TOP_REPLICAS, TOP_VERSION, TOP_BUILD, TOP_RUN,
       TOP_PORTS, TOP_HEALTH, TOP_ROLLOUT, TOP_API, TOP_N };
enum { BUILD_CONTEXT, BUILD_COMMAND, BUILD_ARTIFACT, BUILD_DOCKERFILE,
       BUILD_DEPENDENCIES, BUILD_TIMEOUT, BUILD_ENV, BUILD_PUSH, BUILD_N };
enum { DEP_NAME, DEP_GIT, DEP_REF, DEP_INTO, DEP_N };
enum { RUN_COMMAND, RUN_IMAGE, RUN_WORKDIR, RUN_ENV, RUN_STOP_SIGNAL,
       RUN_STOP_TIMEOUT, RUN_N };
enum { PORT_NAME, PORT_LISTEN, PORT_TARGET, PORT_N };
enum { HEALTH_HTTP, HEALTH_TCP, HEALTH_EXPECT_STATUS, HEALTH_INTERVAL,
       HEALTH_TIMEOUT, HEALTH_HEALTHY, HEALTH_UNHEALTHY, HEALTH_START_TIMEOUT,
       HEALTH_N };
enum { ROLLOUT_PROMOTE, ROLLOUT_PREVIEW, ROLLOUT_DRAIN, ROLLOUT_KEEP,
       ROLLOUT_BAKE, ROLLOUT_N };
enum { API_PROVIDES, API_REQUIRES, API_N };

/* The parser's state for one file. */
struct mp {
	yaml_parser_t parser;
	bool parser_ready;
	yaml_event_t ev;        /* the current event, valid while have_ev */
	bool have_ev;
	bool fatal;             /* parsing of this file has ended */
	int depth;              /* open collections */
	size_t nerrors;         /* errors found in this file (diags may cap) */
	const char *file;
	const unsigned char *buf;
	size_t len;
	struct svc_diags *diags;
	struct svc_manifest *m;

	/* Positions (1-based, 0 = absent) for checks across keys. */
	struct svc_pos top_map, build_map, run_map;
	struct svc_pos ports_pos;
	struct svc_pos top_seen[TOP_N], build_seen[BUILD_N], run_seen[RUN_N];
	struct svc_pos health_seen[HEALTH_N], rollout_seen[ROLLOUT_N];
	struct svc_pos api_seen[API_N];
	struct svc_pos *port_name_pos;   /* nports entries */
	struct svc_pos *dep_name_pos;    /* ndeps entries */
	bool top_is_map, build_bad, run_bad;  /* section was not a mapping */
};

typedef void (*field_fn)(struct mp *p, const char *kp, void *obj);

struct field {
	const char *name;
	field_fn fn;
};

/* ------------------------------------------------------------------ */
/* Errors */

static struct svc_pos mark_pos(const yaml_mark_t *mk)
{
	struct svc_pos pos;

	pos.line = (int)mk->line + 1;
	pos.column = (int)mk->column + 1;
	return pos;
}

static void verr_at(struct mp *p, struct svc_pos pos, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void verr_at(struct mp *p, struct svc_pos pos, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	svc_diags_addf(p->diags, p->file, pos.line, pos.column, "%s", msg);
	p->nerrors++;
}

static void err_at(struct mp *p, struct svc_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err_at(struct mp *p, struct svc_pos pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(p, pos, fmt, ap);
	va_end(ap);
}

/* An error at the start of the current event. */
static void err_ev(struct mp *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void err_ev(struct mp *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_at(p, mark_pos(&p->ev.start_mark), fmt, ap);
	va_end(ap);
}

/* Line and column (1-based, in characters) of a byte offset into the buffer. */
static struct svc_pos offset_pos(const unsigned char *buf, size_t len, size_t off)
{
	struct svc_pos pos = { 1, 1 };

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n' || (buf[i] == '\r' && (i + 1 >= len || buf[i + 1] != '\n'))) {
			pos.line++;
			pos.column = 1;
		} else if ((buf[i] & 0xc0) != 0x80 && buf[i] != '\r') {
			pos.column++;
		}
	}
	return pos;
}

static void yaml_failed(struct mp *p)
{
	yaml_parser_t *y = &p->parser;

	switch (y->error) {
	case YAML_READER_ERROR:
		err_at(p, offset_pos(p->buf, p->len, y->problem_offset),
		       "invalid input: %s", y->problem ? y->problem : "unreadable");
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (y->problem_mark.index < p->len && p->buf[y->problem_mark.index] == '\t' &&
		    y->problem && strstr(y->problem, "cannot start any token"))
			err_at(p, mark_pos(&y->problem_mark),
			       "yaml syntax error: a tab character here (indent with spaces)");
		else if (y->context)
			err_at(p, mark_pos(&y->problem_mark), "yaml syntax error: %s (%s)",
			       y->problem ? y->problem : "unknown problem", y->context);
		else
			err_at(p, mark_pos(&y->problem_mark), "yaml syntax error: %s",
			       y->problem ? y->problem : "unknown problem");
		break;
	default:
		err_at(p, (struct svc_pos){ 1, 1 }, "cannot parse: %s",
		       y->problem ? y->problem : "out of memory");
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Events */

static const char *event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return (const char *)ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT: return (const char *)ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT: return (const char *)ev->data.mapping_start.anchor;
	default: return NULL;
	}
}

static const char *event_tag(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return (const char *)ev->data.scalar.tag;
	case YAML_SEQUENCE_START_EVENT: return (const char *)ev->data.sequence_start.tag;
	case YAML_MAPPING_START_EVENT: return (const char *)ev->data.mapping_start.tag;
	default: return NULL;
	}
}

/* True when the current event was refused (alias, anchor, tag) and must be skipped. */
static bool tainted(const struct mp *p)
{
	return p->ev.type == YAML_ALIAS_EVENT || event_anchor(&p->ev) || event_tag(&p->ev);
}

/*
 * Move to the next event. Reports aliases, anchors, tags and nesting that is
 * too deep as they pass by. Returns false when the file has ended (syntax
 * error, too deep); p->fatal is then set.
 */
static bool next(struct mp *p)
{
	const char *tag;

	if (p->fatal)
		return false;
	if (p->have_ev) {
		yaml_event_delete(&p->ev);
		p->have_ev = false;
	}
	if (!yaml_parser_parse(&p->parser, &p->ev)) {
		yaml_failed(p);
		p->fatal = true;
		return false;
	}
	p->have_ev = true;
	if (p->ev.type == YAML_ALIAS_EVENT || event_anchor(&p->ev))
		err_ev(p, "anchors and aliases are not allowed");
	tag = event_tag(&p->ev);
	if (tag) {
		static const char core[] = "tag:yaml.org,2002:";
		if (!strncmp(tag, core, sizeof(core) - 1))
			err_ev(p, "tags are not allowed ('!!%s')", tag + sizeof(core) - 1);
		else
			err_ev(p, "tags are not allowed ('%s')", tag);
	}
	if (p->ev.type == YAML_SEQUENCE_START_EVENT || p->ev.type == YAML_MAPPING_START_EVENT) {
		if (++p->depth > MANIFEST_MAX_DEPTH) {
			err_ev(p, "nesting deeper than %d levels", MANIFEST_MAX_DEPTH);
			p->fatal = true;
			return false;
		}
	} else if (p->ev.type == YAML_SEQUENCE_END_EVENT || p->ev.type == YAML_MAPPING_END_EVENT) {
		p->depth--;
	}
	return true;
}

/* Skip the value that starts at the current event, leaving its last event current. */
static void skip_value(struct mp *p)
{
	int d = 0;

	for (;;) {
		if (p->ev.type == YAML_SEQUENCE_START_EVENT || p->ev.type == YAML_MAPPING_START_EVENT)
			d++;
		else if (p->ev.type == YAML_SEQUENCE_END_EVENT || p->ev.type == YAML_MAPPING_END_EVENT)
			d--;
		if (d <= 0 || !next(p))
			return;
	}
}

static const char *scalar(const struct mp *p)
{
	return (const char *)p->ev.data.scalar.value;
}

static bool is_plain(const struct mp *p)
{
	return p->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const struct mp *p)
{
	const char *s = scalar(p);

	return p->ev.type == YAML_SCALAR_EVENT && is_plain(p) &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		!strcmp(s, "NULL"));
}

/* What the current event is, for "expected X, got Y". */
static const char *describe(const struct mp *p, char *buf, size_t len)
{
	switch (p->ev.type) {
	case YAML_MAPPING_START_EVENT: return "a mapping";
	case YAML_SEQUENCE_START_EVENT: return "a list";
	case YAML_ALIAS_EVENT: return "an alias";
	case YAML_SCALAR_EVENT:
		if (is_null(p))
			return "null";
		if (!is_plain(p))
			return "a quoted string";
		if (snprintf(buf, len, "'%.40s%s'", scalar(p),
			     strlen(scalar(p)) > 40 ? "..." : "") < 0)
			return "a scalar";
		return buf;
	default: return "something else";
	}
}

/* key path "prefix.name" (or "name" at the top); truncated when too long. */
static const char *kp_join(char *buf, size_t len, const char *prefix, const char *name)
{
	int n;

	if (prefix && *prefix)
		n = snprintf(buf, len, "%s.%.100s", prefix, name);
	else
		n = snprintf(buf, len, "%.100s", name);
	if (n < 0)
		buf[0] = '\0';
	return buf;
}

static const char *kp_index(char *buf, size_t len, const char *prefix, size_t i)
{
	if (snprintf(buf, len, "%s[%zu]", prefix, i) < 0)
		buf[0] = '\0';
	return buf;
}

/* Grow an array to hold at least need elements. */
static void *grow(void *arr, size_t *alloc, size_t need, size_t elsize)
{
	size_t n;

	if (need <= *alloc)
		return arr;
	n = *alloc ? *alloc * 2 : 4;
	while (n < need)
		n *= 2;
	arr = svc_realloc(arr, n, elsize);
	memset((char *)arr + *alloc * elsize, 0, (n - *alloc) * elsize);
	*alloc = n;
	return arr;
}

/* ------------------------------------------------------------------ */
/* Mappings */

/*
 * Read the next key of the mapping being parsed. Returns 1 with the key as
 * the current (scalar) event, 0 at the mapping's end, -1 when the file has
 * ended. A key that is not a plain string is reported and skipped with its
 * value.
 */
static int map_next_key(struct mp *p, const char *kp)
{
	char what[64];

	for (;;) {
		if (!next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (p->ev.type == YAML_SCALAR_EVENT && !tainted(p) &&
		    strlen(scalar(p)) == p->ev.data.scalar.length)
			return 1;
		if (!tainted(p))
			err_ev(p, "%s%skeys must be strings, got %s", kp, *kp ? ": " : "",
			       p->ev.type == YAML_SCALAR_EVENT ? "a string with a NUL character"
							      : describe(p, what, sizeof(what)));
		skip_value(p);
		if (!next(p))
			return -1;
		skip_value(p);
	}
}

/*
 * Parse a mapping of known keys (the current event is its MAPPING_START).
 * seen[i] receives the position of key i. Unknown and duplicate keys are
 * reported and their values skipped; each known value goes to its field's
 * function, which must consume it whole.
 */
static void parse_map(struct mp *p, const char *prefix, const struct field *fields,
		      size_t nfields, void *obj, struct svc_pos *seen)
{
	char kp[KPATH_MAX];
	int r;

	while ((r = map_next_key(p, prefix)) == 1) {
		const char *key = scalar(p);
		struct svc_pos kpos = mark_pos(&p->ev.start_mark);
		size_t i;

		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, key))
				break;
		if (i == nfields) {
			if (*prefix)
				err_ev(p, "unknown key '%.100s' in '%s'", key, prefix);
			else
				err_ev(p, "unknown key '%.100s'", key);
		} else if (seen[i].line) {
			err_ev(p, "duplicate key '%s%s%s' (first at line %d)", prefix,
			       *prefix ? "." : "", key, seen[i].line);
		}
		if (i == nfields || seen[i].line) {
			if (!next(p))
				return;
			skip_value(p);
			continue;
		}
		seen[i] = kpos;
		kp_join(kp, sizeof(kp), prefix, fields[i].name);
		if (!next(p))
			return;
		if (tainted(p)) {
			skip_value(p);
			continue;
		}
		fields[i].fn(p, kp, obj);
	}
}

/* ------------------------------------------------------------------ */
/* Typed values. Each consumes the current value whole; on a bad value it
 * reports and skips it and returns false / NULL. */

static bool want_map(struct mp *p, const char *kp)
{
	char what[64];

	if (p->ev.type == YAML_MAPPING_START_EVENT)
		return true;
	err_ev(p, "%s: expected a mapping, got %s", kp, describe(p, what, sizeof(what)));
	skip_value(p);
	return false;
}

/* A string: any non-null scalar. Borrowed until the next event. */
static const char *want_str(struct mp *p, const char *kp)
{
	char what[64];

	if (p->ev.type != YAML_SCALAR_EVENT || is_null(p)) {
		err_ev(p, "%s: expected a string, got %s", kp, describe(p, what, sizeof(what)));
		skip_value(p);
		return NULL;
	}
	if (strlen(scalar(p)) != p->ev.data.scalar.length) {
		err_ev(p, "%s: NUL characters are not allowed", kp);
		return NULL;
	}
	return scalar(p);
}

/*
 * One of a fixed set of words: the index in names (NULL-terminated), or -1
 * after reporting "KP: unknown WHAT 'x' (expected a, b or c)".
 */
static int want_choice(struct mp *p, const char *kp, const char *what,
		       const char *const *names)
{
	const char *s = want_str(p, kp);
	char expected[128] = "";
	size_t n = 0;

	if (!s)
		return -1;
	for (n = 0; names[n]; n++)
		if (!strcmp(s, names[n]))
			return (int)n;
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(expected);
		snprintf(expected + used, sizeof(expected) - used, "%s%s",
			 i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	}
	err_ev(p, "%s: unknown %s '%.40s' (expected %s)", kp, what, s, expected);
	return -1;
}

/* A non-empty string, copied into *dst. */
static bool set_str(struct mp *p, const char *kp, char **dst)
{
	const char *s = want_str(p, kp);

	if (!s)
		return false;
	if (!*s) {
		err_ev(p, "%s: must not be empty", kp);
		return false;
	}
	free(*dst);
	*dst = svc_strdup(s);
	return true;
}

static bool only_digits(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* An integer: a plain decimal scalar in min..max. */
static bool want_int(struct mp *p, const char *kp, long long min, long long max, int *out)
{
	char what[64];
	long long v;

	if (p->ev.type != YAML_SCALAR_EVENT || is_null(p) || !is_plain(p)) {
		err_ev(p, "%s: expected an integer, got %s", kp, describe(p, what, sizeof(what)));
		skip_value(p);
		return false;
	}
	if (!only_digits(scalar(p))) {
		err_ev(p, "%s: expected an integer, got %s", kp, describe(p, what, sizeof(what)));
		return false;
	}
	if (svc_parse_int(&v, scalar(p), min, max)) {
		err_ev(p, "%s: %.40s is out of range %lld-%lld", kp, scalar(p), min, max);
		return false;
	}
	*out = (int)v;
	return true;
}

/* A boolean: plain true/True/TRUE/false/False/FALSE. */
static bool want_bool(struct mp *p, const char *kp, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	char what[64];

	if (p->ev.type == YAML_SCALAR_EVENT && is_plain(p)) {
		for (size_t i = 0; i < 3; i++) {
			if (!strcmp(scalar(p), yes[i])) {
				*out = true;
				return true;
			}
			if (!strcmp(scalar(p), no[i])) {
				*out = false;
				return true;
			}
		}
	}
	err_ev(p, "%s: expected a boolean (true or false), got %s", kp,
	       describe(p, what, sizeof(what)));
	skip_value(p);
	return false;
}

static bool want_duration(struct mp *p, const char *kp, int64_t min, int64_t max,
			  int64_t *out)
{
	struct svc_error err;
	const char *s = want_str(p, kp);
	char lo[32], hi[32];
	int64_t v;

	if (!s)
		return false;
	svc_error_clear(&err);
	if (svc_duration_parse(&v, s, &err)) {
		err_ev(p, "%s: %s", kp, err.message);
		return false;
	}
	if (v < min || v > max) {
		err_ev(p, "%s: '%.40s' is out of range %s-%s", kp, s,
		       svc_duration_format(lo, sizeof(lo), min),
		       svc_duration_format(hi, sizeof(hi), max));
		return false;
	}
	*out = v;
	return true;
}

static bool want_addr(struct mp *p, const char *kp, struct svc_addr *out,
		      struct svc_pos *pos)
{
	struct svc_error err;
	const char *s = want_str(p, kp);

	if (!s)
		return false;
	svc_error_clear(&err);
	if (s[0] == ':') {
		/* ":PORT": the port on every address of the machine (every node's) */
		char *any = svc_strfmt("0.0.0.0%s", s);
		int rc = svc_addr_parse(out, any, false, &err);
		free(any);
		if (rc) {
			err_ev(p, "%s: %s", kp, err.message);
			return false;
		}
	} else if (svc_addr_parse(out, s, false, &err)) {
		err_ev(p, "%s: %s", kp, err.message);
		return false;
	}
	*pos = mark_pos(&p->ev.start_mark);
	return true;
}

typedef bool (*item_check_fn)(struct mp *p, const char *kp, const char *s);

/*
 * A list of strings into *out (NULL-terminated, replaces nothing: *out must
 * be NULL). check, when given, validates each item and reports.
 */
static bool want_strv(struct mp *p, const char *kp, char ***out, bool nonempty,
		      item_check_fn check)
{
	char what[64], ikp[KPATH_MAX];
	struct svc_pos start = mark_pos(&p->ev.start_mark);
	char **v = NULL;
	size_t n = 0, alloc = 0, i = 0;
	bool ok = true;

	if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
		err_ev(p, "%s: expected a list, got %s", kp, describe(p, what, sizeof(what)));
		skip_value(p);
		return false;
	}
	while (next(p) && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		const char *s;

		kp_index(ikp, sizeof(ikp), kp, i++);
		if (tainted(p)) {
			skip_value(p);
			ok = false;
			continue;
		}
		s = want_str(p, ikp);
		if (!s || (check && !check(p, ikp, s))) {
			ok = false;
			continue;
		}
		v = grow(v, &alloc, n + 2, sizeof(*v));
		v[n++] = svc_strdup(s);
	}
	if (!p->fatal && nonempty && i == 0) {
		err_at(p, start, "%s: must not be empty", kp);
		ok = false;
	}
	if (p->fatal || !ok) {
		svc_strv_free(v);
		return false;
	}
	if (!v)
		v = svc_calloc(1, sizeof(*v));
	*out = v;
	return true;
}

/* ------------------------------------------------------------------ */
/* Placeholders: ${PORT} ${VERSION} ${SERVICE} ${INSTANCE}; $$ is a '$'. */

static const char *const placeholder_names[] = { "PORT", "VERSION", "SERVICE", "INSTANCE" };

enum ph_kind { PH_DOLLAR, PH_VAR, PH_LITERAL, PH_BAD };

/*
 * Classify the '$' at s. *used is how many characters it covers; for PH_VAR
 * *var is the placeholder's index.
 */
static enum ph_kind placeholder_at(const char *s, size_t *used, size_t *var)
{
	const char *close;

	if (s[1] == '$') {
		*used = 2;
		return PH_DOLLAR;
	}
	if (s[1] != '{') {
		*used = 1;
		return PH_LITERAL;
	}
	close = strchr(s + 2, '}');
	if (!close) {
		*used = strlen(s);
		return PH_BAD;
	}
	*used = (size_t)(close - s) + 1;
	for (size_t i = 0; i < sizeof(placeholder_names) / sizeof(placeholder_names[0]); i++) {
		size_t len = strlen(placeholder_names[i]);
		if ((size_t)(close - s - 2) == len && !strncmp(s + 2, placeholder_names[i], len)) {
			*var = i;
			return PH_VAR;
		}
	}
	return PH_BAD;
}

static bool check_placeholders(struct mp *p, const char *kp, const char *s)
{
	for (const char *c = strchr(s, '$'); c; c = strchr(c, '$')) {
		size_t used, var;

		if (placeholder_at(c, &used, &var) == PH_BAD) {
			if (c[used - 1] != '}')
				err_ev(p, "%s: unterminated placeholder '%.40s' (allowed: "
				       "${PORT} ${VERSION} ${SERVICE} ${INSTANCE}; $$ is a literal $)",
				       kp, c);
			else
				err_ev(p, "%s: unknown placeholder '%.*s' (allowed: "
				       "${PORT} ${VERSION} ${SERVICE} ${INSTANCE}; $$ is a literal $)",
				       kp, used > 40 ? 40 : (int)used, c);
			return false;
		}
		c += used;
	}
	return true;
}

char *svc_manifest_expand(const char *tmpl, const struct svc_expand_vars *vars)
{
	char *out = NULL;
	size_t len = 0, alloc = 0;
	const char *s = tmpl;

	if (!tmpl)
		return NULL;
	while (*s) {
		const char *piece = s, *dollar = strchr(s, '$');
		size_t plen, used = 0, var = 0;

		if (!dollar) {
			plen = strlen(s);
			s += plen;
		} else if (dollar > s) {
			plen = (size_t)(dollar - s);
			s = dollar;
		} else {
			switch (placeholder_at(s, &used, &var)) {
			case PH_DOLLAR:
			case PH_LITERAL:
				plen = 1;
				break;
			case PH_VAR: {
				const char *vals[4] = { NULL, NULL, NULL, NULL };
				if (vars) {
					vals[0] = vars->port;
					vals[1] = vars->version;
					vals[2] = vars->service;
					vals[3] = vars->instance;
				}
				piece = vals[var] ? vals[var] : "";
				plen = strlen(piece);
				break;
			}
			default:
				free(out);
				return NULL;
			}
			s += used;
		}
		out = grow(out, &alloc, len + plen + 1, 1);
		memcpy(out + len, piece, plen);
		len += plen;
	}
	out = grow(out, &alloc, len + 1, 1);
	out[len] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Field functions: build */

static void f_build_context(struct mp *p, const char *kp, void *obj)
{
	struct svc_build *b = obj;
	const char *s = want_str(p, kp);

	if (!s)
		return;
	if (!*s) {
		err_ev(p, "%s: must not be empty", kp);
		return;
	}
	b->context = svc_path_resolve(p->m->dir, s);
	b->context_absolute = s[0] == '/';
}

static void f_build_command(struct mp *p, const char *kp, void *obj)
{
	struct svc_build *b = obj;

	want_strv(p, kp, &b->command, true, NULL);
}

/*
 * A path inside the build folder: relative, without '..' segments, so that
 * nothing a build reads or leaves can be outside it. Caller frees.
 */
static char *want_inner_path(struct mp *p, const char *kp)
{
	const char *s = want_str(p, kp);

	if (!s)
		return NULL;
	if (!*s || s[0] == '/') {
		err_ev(p, "%s: '%s' must be a relative path", kp, s);
		return NULL;
	}
	for (const char *c = s; *c; ) {
		size_t seg = strcspn(c, "/");
		if (seg == 2 && c[0] == '.' && c[1] == '.') {
			err_ev(p, "%s: '%s' must not contain '..'", kp, s);
			return NULL;
		}
		c += seg;
		if (*c)
			c++;
	}
	return svc_strdup(s);
}

static void f_build_artifact(struct mp *p, const char *kp, void *obj)
{
	((struct svc_build *)obj)->artifact = want_inner_path(p, kp);
}

static void f_build_dockerfile(struct mp *p, const char *kp, void *obj)
{
	((struct svc_build *)obj)->dockerfile = want_inner_path(p, kp);
}

/* build.push: a string here; whether it names a registry is the runtime's check */
static void f_build_push(struct mp *p, const char *kp, void *obj)
{
	set_str(p, kp, &((struct svc_build *)obj)->push);
}

static void f_dep_name(struct mp *p, const char *kp, void *obj)
{
	set_str(p, kp, &((struct svc_dependency *)obj)->name);
}

static void f_dep_git(struct mp *p, const char *kp, void *obj)
{
	set_str(p, kp, &((struct svc_dependency *)obj)->git);
}

static void f_dep_ref(struct mp *p, const char *kp, void *obj)
{
	set_str(p, kp, &((struct svc_dependency *)obj)->ref);
}

static void f_dep_into(struct mp *p, const char *kp, void *obj)
{
	((struct svc_dependency *)obj)->into = want_inner_path(p, kp);
}

static const struct field dep_fields[DEP_N] = {
	[DEP_NAME] = { "name", f_dep_name },
	[DEP_GIT] = { "git", f_dep_git },
	[DEP_REF] = { "ref", f_dep_ref },
	[DEP_INTO] = { "into", f_dep_into },
};

static void f_build_dependencies(struct mp *p, const char *kp, void *obj)
{
	struct svc_build *b = obj;
	char ikp[KPATH_MAX], what[64];
	size_t alloc = 0, pos_alloc = 0;

	if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
		err_ev(p, "%s: expected a list, got %s", kp, describe(p, what, sizeof(what)));
		skip_value(p);
		return;
	}
	while (next(p) && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		struct svc_pos seen[DEP_N], start = mark_pos(&p->ev.start_mark);
		struct svc_dependency *dep;

		kp_index(ikp, sizeof(ikp), kp, b->ndeps);
		b->deps = grow(b->deps, &alloc, b->ndeps + 1, sizeof(*b->deps));
		p->dep_name_pos = grow(p->dep_name_pos, &pos_alloc, b->ndeps + 1,
				       sizeof(*p->dep_name_pos));
		dep = &b->deps[b->ndeps++];
		if (tainted(p)) {
			skip_value(p);
			continue;
		}
		if (!want_map(p, ikp))
			continue;
		memset(seen, 0, sizeof(seen));
		parse_map(p, ikp, dep_fields, DEP_N, dep, seen);
		if (p->fatal)
			return;
		p->dep_name_pos[b->ndeps - 1] = seen[DEP_NAME];
		for (size_t i = 0; i < DEP_N; i++)
			if (!seen[i].line)
				err_at(p, start, "missing required key '%s.%s'", ikp,
				       dep_fields[i].name);
	}
}

static void f_build_timeout(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 1000, 24 * 3600000LL, &((struct svc_build *)obj)->timeout_ms);
}

static bool env_name_valid(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* An entry with the position of its key, for sorting and duplicate checks. */
struct keyed {
	const char *key;
	struct svc_pos pos;
	size_t index;         /* into the owner's array */
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	if (x->pos.line != y->pos.line)
		return x->pos.line < y->pos.line ? -1 : 1;
	if (x->pos.column != y->pos.column)
		return x->pos.column < y->pos.column ? -1 : 1;
	return 0;
}

/*
 * Sort v by key and report each later occurrence of a key, at its position.
 * With field NULL the entries are keys of the mapping kp ("duplicate key
 * 'run.env.A'"); otherwise they are kp[index].field of a list ("ports[1].name:
 * duplicate port name 'http'", noun "port name"). The index of each
 * duplicate is set to SIZE_MAX.
 */
static void keyed_dups(struct mp *p, struct keyed *v, size_t n, const char *kp,
		       const char *field, const char *noun)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), keyed_cmp);
	for (size_t i = 1; i < n; i++) {
		size_t first = i - 1;

		while (first > 0 && v[first].index == SIZE_MAX)
			first--;
		if (strcmp(v[i].key, v[first].key) || v[first].index == SIZE_MAX)
			continue;
		if (field)
			err_at(p, v[i].pos, "%s[%zu].%s: duplicate %s '%.100s' (first at line %d)",
			       kp, v[i].index, field, noun, v[i].key, v[first].pos.line);
		else
			err_at(p, v[i].pos, "duplicate key '%s.%.100s' (first at line %d)",
			       kp, v[i].key, v[first].pos.line);
		v[i].index = SIZE_MAX;
	}
}

/*
 * A mapping of environment variables (run.env, build.env) into *out, sorted
 * by name: names [A-Za-z_][A-Za-z0-9_]*, each at most once, none of
 * reserved (NULL-terminated: the names svcctl sets itself), values strings.
 * With placeholders, values may hold only the ${...} placeholders
 * check_placeholders allows (run.env); otherwise they are taken as written.
 */
static void want_env(struct mp *p, const char *kp, struct svc_kv **out, size_t *nout,
		     const char *const *reserved, bool placeholders)
{
	struct svc_kv *kv = NULL;
	struct keyed *keys = NULL;
	size_t n = 0, alloc = 0, kalloc = 0;
	char ekp[KPATH_MAX];
	int rc;

	if (!want_map(p, kp))
		return;
	while ((rc = map_next_key(p, kp)) == 1) {
		struct svc_pos kpos = mark_pos(&p->ev.start_mark);
		char *key = svc_strdup(scalar(p));
		const char *val, *taken = NULL;

		kp_join(ekp, sizeof(ekp), kp, key);
		for (size_t i = 0; reserved[i] && !taken; i++)
			if (!strcmp(key, reserved[i]))
				taken = reserved[i];
		if (!env_name_valid(key)) {
			err_ev(p, "%s: invalid variable name '%.100s' (expected [A-Za-z_][A-Za-z0-9_]*)",
			       kp, key);
		} else if (taken) {
			err_ev(p, "%s: '%s' is set by svcctl", ekp, taken);
		} else {
			if (!next(p)) {
				free(key);
				break;
			}
			if (tainted(p)) {
				skip_value(p);
				free(key);
				continue;
			}
			val = want_str(p, ekp);
			if (!val || (placeholders && !check_placeholders(p, ekp, val))) {
				free(key);
				continue;
			}
			kv = grow(kv, &alloc, n + 1, sizeof(*kv));
			keys = grow(keys, &kalloc, n + 1, sizeof(*keys));
			kv[n].key = key;
			kv[n].value = svc_strdup(val);
			keys[n].key = key;
			keys[n].pos = kpos;
			keys[n].index = n;
			n++;
			continue;
		}
		free(key);
		if (!next(p))
			break;
		skip_value(p);
	}
	if (!p->fatal) {
		keyed_dups(p, keys, n, kp, NULL, NULL);
		*out = svc_calloc(n, sizeof(**out));
		for (size_t i = 0; i < n; i++) {
			struct svc_kv *src;
			if (keys[i].index == SIZE_MAX)
				continue;
			src = &kv[keys[i].index];
			(*out)[(*nout)++] = *src;
			src->key = NULL;
			src->value = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
	free(keys);
}

/* build.env: values as written (no placeholders: a build has no port or instance) */
static void f_build_env(struct mp *p, const char *kp, void *obj)
{
	static const char *const reserved[] = { "SVCCTL_SERVICE", "SVCCTL_ARTIFACT_ID",
						"SVCCTL_BUILD_DIR", NULL };
	struct svc_build *b = obj;

	want_env(p, kp, &b->env, &b->nenv, reserved, false);
}

static const struct field build_fields[BUILD_N] = {
	[BUILD_CONTEXT] = { "context", f_build_context },
	[BUILD_COMMAND] = { "command", f_build_command },
	[BUILD_ARTIFACT] = { "artifact", f_build_artifact },
	[BUILD_DOCKERFILE] = { "dockerfile", f_build_dockerfile },
	[BUILD_DEPENDENCIES] = { "dependencies", f_build_dependencies },
	[BUILD_TIMEOUT] = { "timeout", f_build_timeout },
	[BUILD_ENV] = { "env", f_build_env },
	[BUILD_PUSH] = { "push", f_build_push },
};

/* ------------------------------------------------------------------ */
/* Field functions: run */

static void f_run_command(struct mp *p, const char *kp, void *obj)
{
	want_strv(p, kp, &((struct svc_run *)obj)->command, true, check_placeholders);
}

static void f_run_image(struct mp *p, const char *kp, void *obj)
{
	set_str(p, kp, &((struct svc_run *)obj)->image);
}

static void f_run_workdir(struct mp *p, const char *kp, void *obj)
{
	struct svc_run *r = obj;
	const char *s = want_str(p, kp);

	if (!s)
		return;
	if (!*s) {
		err_ev(p, "%s: must not be empty", kp);
		return;
	}
	free(r->workdir);
	r->workdir = svc_path_resolve(p->m->dir, s);
	r->workdir_absolute = s[0] == '/';
}

static void f_run_env(struct mp *p, const char *kp, void *obj)
{
	static const char *const reserved[] = { "PORT", NULL };
	struct svc_run *r = obj;

	want_env(p, kp, &r->env, &r->nenv, reserved, true);
}

static const struct {
	const char *name;
	int number;
} signals[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "WINCH", SIGWINCH },
};

static void f_run_stop_signal(struct mp *p, const char *kp, void *obj)
{
	struct svc_run *r = obj;
	const char *s = want_str(p, kp), *name;

	if (!s)
		return;
	name = !strncmp(s, "SIG", 3) ? s + 3 : s;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (!strcmp(name, signals[i].name)) {
			r->stop_signal = signals[i].number;
			free(r->stop_signal_name);
			r->stop_signal_name = svc_strdup(signals[i].name);
			return;
		}
	}
	err_ev(p, "%s: unknown signal '%.40s' (expected TERM, INT, QUIT, HUP, KILL, "
	       "USR1, USR2 or WINCH)", kp, s);
}

static void f_run_stop_timeout(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 0, 3600000, &((struct svc_run *)obj)->stop_timeout_ms);
}

static const struct field run_fields[RUN_N] = {
	[RUN_COMMAND] = { "command", f_run_command },
	[RUN_IMAGE] = { "image", f_run_image },
	[RUN_WORKDIR] = { "workdir", f_run_workdir },
	[RUN_ENV] = { "env", f_run_env },
	[RUN_STOP_SIGNAL] = { "stop_signal", f_run_stop_signal },
	[RUN_STOP_TIMEOUT] = { "stop_timeout", f_run_stop_timeout },
};

/* ------------------------------------------------------------------ */
/* Field functions: ports */

struct port_ctx {
	struct svc_port *port;
	struct svc_pos *listen_pos;
	struct svc_pos *name_pos;
};

static void f_port_name(struct mp *p, const char *kp, void *obj)
{
	struct port_ctx *c = obj;
	const char *s = want_str(p, kp);
	bool ok;

	if (!s)
		return;
	ok = *s >= 'a' && *s <= 'z';
	for (const char *q = s; ok && *q; q++)
		ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-';
	if (!ok) {
		err_ev(p, "%s: invalid port name '%.40s' (expected [a-z][a-z0-9-]*)", kp, s);
		return;
	}
	c->port->name = svc_strdup(s);
	*c->name_pos = mark_pos(&p->ev.start_mark);
}

static void f_port_listen(struct mp *p, const char *kp, void *obj)
{
	struct port_ctx *c = obj;

	want_addr(p, kp, &c->port->listen, c->listen_pos);
}

static void f_port_target(struct mp *p, const char *kp, void *obj)
{
	want_int(p, kp, 1, 65535, &((struct port_ctx *)obj)->port->target);
}

static const struct field port_fields[PORT_N] = {
	[PORT_NAME] = { "name", f_port_name },
	[PORT_LISTEN] = { "listen", f_port_listen },
	[PORT_TARGET] = { "target", f_port_target },
};

static void f_ports(struct mp *p, const char *kp, void *obj)
{
	struct svc_manifest *m = obj;
	char ikp[KPATH_MAX], what[64];
	size_t alloc = 0, palloc = 0, nalloc = 0;

	p->ports_pos = mark_pos(&p->ev.start_mark);
	if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
		err_ev(p, "%s: expected a list, got %s", kp, describe(p, what, sizeof(what)));
		skip_value(p);
		return;
	}
	while (next(p) && p->ev.type != YAML_SEQUENCE_END_EVENT) {
		struct svc_pos seen[PORT_N], start = mark_pos(&p->ev.start_mark);
		struct port_ctx c;
		size_t i = m->nports;

		kp_index(ikp, sizeof(ikp), kp, i);
		m->ports = grow(m->ports, &alloc, i + 1, sizeof(*m->ports));
		m->listen_pos = grow(m->listen_pos, &palloc, i + 1, sizeof(*m->listen_pos));
		p->port_name_pos = grow(p->port_name_pos, &nalloc, i + 1,
					sizeof(*p->port_name_pos));
		m->nports++;
		if (tainted(p)) {
			skip_value(p);
			continue;
		}
		if (!want_map(p, ikp))
			continue;
		memset(seen, 0, sizeof(seen));
		c.port = &m->ports[i];
		c.listen_pos = &m->listen_pos[i];
		c.name_pos = &p->port_name_pos[i];
		parse_map(p, ikp, port_fields, PORT_N, &c, seen);
		if (p->fatal)
			return;
		if (!seen[PORT_LISTEN].line)
			err_at(p, start, "missing required key '%s.listen'", ikp);
	}
}

/* ------------------------------------------------------------------ */
/* Field functions: health, rollout, api */

static void f_health_http(struct mp *p, const char *kp, void *obj)
{
	struct svc_health *h = obj;
	const char *s = want_str(p, kp);

	if (!s)
		return;
	if (s[0] != '/') {
		err_ev(p, "%s: path '%.100s' must start with '/'", kp, s);
		return;
	}
	h->http_path = svc_strdup(s);
}

static void f_health_tcp(struct mp *p, const char *kp, void *obj)
{
	bool v;

	(void)obj;
	if (!want_bool(p, kp, &v))
		return;
	if (!v)
		err_ev(p, "%s: only 'true' is accepted (leave the key out instead)", kp);
}

static void f_health_expect(struct mp *p, const char *kp, void *obj)
{
	struct svc_health *h = obj;
	struct svc_error err;
	const char *s = want_str(p, kp);

	if (!s)
		return;
	svc_error_clear(&err);
	if (svc_status_range_parse(&h->status_lo, &h->status_hi, s, &err))
		err_ev(p, "%s: %s", kp, err.message);
}

static void f_health_interval(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 10, 3600000, &((struct svc_health *)obj)->interval_ms);
}

static void f_health_timeout(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 10, 3600000, &((struct svc_health *)obj)->timeout_ms);
}

static void f_health_healthy(struct mp *p, const char *kp, void *obj)
{
	want_int(p, kp, 1, 100, &((struct svc_health *)obj)->healthy_threshold);
}

static void f_health_unhealthy(struct mp *p, const char *kp, void *obj)
{
	want_int(p, kp, 1, 100, &((struct svc_health *)obj)->unhealthy_threshold);
}

static void f_health_start_timeout(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 100, 24 * 3600000LL, &((struct svc_health *)obj)->start_timeout_ms);
}

static const struct field health_fields[HEALTH_N] = {
	[HEALTH_HTTP] = { "http", f_health_http },
	[HEALTH_TCP] = { "tcp", f_health_tcp },
	[HEALTH_EXPECT_STATUS] = { "expect_status", f_health_expect },
	[HEALTH_INTERVAL] = { "interval", f_health_interval },
	[HEALTH_TIMEOUT] = { "timeout", f_health_timeout },
	[HEALTH_HEALTHY] = { "healthy_threshold", f_health_healthy },
	[HEALTH_UNHEALTHY] = { "unhealthy_threshold", f_health_unhealthy },
	[HEALTH_START_TIMEOUT] = { "start_timeout", f_health_start_timeout },
};

static void f_rollout_promote(struct mp *p, const char *kp, void *obj)
{
	static const char *const names[] = { "auto", "manual", NULL };
	int i = want_choice(p, kp, "value", names);

	if (i >= 0)
		((struct svc_rollout_spec *)obj)->manual = i == 1;
}

static void f_rollout_preview(struct mp *p, const char *kp, void *obj)
{
	struct svc_rollout_spec *r = obj;

	r->has_preview = want_addr(p, kp, &r->preview, &p->m->preview_pos);
}

static void f_rollout_drain(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 0, 24 * 3600000LL,
		      &((struct svc_rollout_spec *)obj)->drain_timeout_ms);
}

static void f_rollout_keep(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 0, 7 * 24 * 3600000LL,
		      &((struct svc_rollout_spec *)obj)->keep_previous_ms);
}

static void f_rollout_bake(struct mp *p, const char *kp, void *obj)
{
	want_duration(p, kp, 0, 24 * 3600000LL, &((struct svc_rollout_spec *)obj)->bake_ms);
}

static const struct field rollout_fields[ROLLOUT_N] = {
	[ROLLOUT_PROMOTE] = { "promote", f_rollout_promote },
	[ROLLOUT_PREVIEW] = { "preview", f_rollout_preview },
	[ROLLOUT_DRAIN] = { "drain_timeout", f_rollout_drain },
	[ROLLOUT_KEEP] = { "keep_previous", f_rollout_keep },
	[ROLLOUT_BAKE] = { "bake", f_rollout_bake },
};

static bool check_version(struct mp *p, const char *kp, const char *s)
{
	const char *c = s;

	for (; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			break;
	if (!*s || *c) {
		err_ev(p, "%s: invalid version '%.40s' (expected [A-Za-z0-9._-]+)", kp, s);
		return false;
	}
	return true;
}

static void f_api_provides(struct mp *p, const char *kp, void *obj)
{
	struct svc_api *a = obj;
	struct svc_pos start = mark_pos(&p->ev.start_mark);
	struct keyed *v;
	size_t n;
	bool dup = false;

	if (!want_strv(p, kp, &a->provides, false, check_version))
		return;
	/* A flow or block list: positions of items are not kept, so
	 * duplicates are reported at the list. */
	n = svc_strv_len(a->provides);
	v = svc_calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i].key = a->provides[i];
		v[i].pos = start;
		v[i].index = i;
	}
	qsort(v, n, sizeof(*v), keyed_cmp);
	for (size_t i = 1; i < n && !dup; i++) {
		if (!strcmp(v[i].key, v[i - 1].key)) {
			err_at(p, start, "%s: version '%s' is listed twice", kp, v[i].key);
			dup = true;
		}
	}
	free(v);
}

static void f_api_requires(struct mp *p, const char *kp, void *obj)
{
	struct svc_api *a = obj;
	struct keyed *keys = NULL;
	struct svc_api_require *req = NULL;
	size_t n = 0, alloc = 0, kalloc = 0;
	char rkp[KPATH_MAX];
	int rc;

	if (!want_map(p, kp))
		return;
	p->m->api_requires_pos = mark_pos(&p->ev.start_mark);
	while ((rc = map_next_key(p, kp)) == 1) {
		struct svc_pos kpos = mark_pos(&p->ev.start_mark);
		char *name = svc_strdup(scalar(p));
		char **versions = NULL;
		bool ok = svc_name_valid(name);

		kp_join(rkp, sizeof(rkp), kp, name);
		if (!ok)
			err_ev(p, "%s: invalid service name '%.100s' (expected [a-z][a-z0-9-]*, "
			       "at most 63 characters)", kp, name);
		if (!next(p)) {
			free(name);
			break;
		}
		if (!ok || tainted(p)) {
			skip_value(p);
			free(name);
			continue;
		}
		if (!want_strv(p, rkp, &versions, true, check_version)) {
			free(name);
			continue;
		}
		req = grow(req, &alloc, n + 1, sizeof(*req));
		keys = grow(keys, &kalloc, n + 1, sizeof(*keys));
		req[n].service = name;
		req[n].versions = versions;
		keys[n].key = name;
		keys[n].pos = kpos;
		keys[n].index = n;
		n++;
	}
	if (!p->fatal) {
		keyed_dups(p, keys, n, kp, NULL, NULL);
		a->requires = svc_calloc(n, sizeof(*a->requires));
		for (size_t i = 0; i < n; i++) {
			if (keys[i].index == SIZE_MAX)
				continue;
			a->requires[a->nrequires++] = req[keys[i].index];
			req[keys[i].index].service = NULL;
			req[keys[i].index].versions = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(req[i].service);
		svc_strv_free(req[i].versions);
	}
	free(req);
	free(keys);
}

static const struct field api_fields[API_N] = {
	[API_PROVIDES] = { "provides", f_api_provides },
	[API_REQUIRES] = { "requires", f_api_requires },
};

/* ------------------------------------------------------------------ */
/* Field functions: top level */

static void f_service(struct mp *p, const char *kp, void *obj)
{
	struct svc_manifest *m = obj;
	const char *s = want_str(p, kp);

	if (!s)
		return;
	if (!svc_name_valid(s)) {
		err_ev(p, "%s: invalid service name '%.100s' (expected [a-z][a-z0-9-]*, "
		       "at most 63 characters)", kp, s);
		return;
	}
	m->service = svc_strdup(s);
	m->service_pos = mark_pos(&p->ev.start_mark);
}

static void f_runtime(struct mp *p, const char *kp, void *obj)
{
	/* in enum svc_runtime_kind order */
	static const char *const names[] = { "process", "docker", "swarm", NULL };
	int i = want_choice(p, kp, "runtime", names);

	if (i >= 0)
		((struct svc_manifest *)obj)->runtime = (enum svc_runtime_kind)i;
}

static void f_replicas(struct mp *p, const char *kp, void *obj)
{
	want_int(p, kp, 1, 100, &((struct svc_manifest *)obj)->replicas);
}

static void f_version(struct mp *p, const char *kp, void *obj)
{
	set_str(p, kp, &((struct svc_manifest *)obj)->version);
}

static void f_build(struct mp *p, const char *kp, void *obj)
{
	struct svc_manifest *m = obj;

	p->build_map = mark_pos(&p->ev.start_mark);
	m->build.present = true;
	if (want_map(p, kp))
		parse_map(p, kp, build_fields, BUILD_N, &m->build, p->build_seen);
	else
		p->build_bad = true;
}

static void f_run(struct mp *p, const char *kp, void *obj)
{
	p->run_map = mark_pos(&p->ev.start_mark);
	if (want_map(p, kp))
		parse_map(p, kp, run_fields, RUN_N, &((struct svc_manifest *)obj)->run,
			  p->run_seen);
	else
		p->run_bad = true;
}

static void f_health(struct mp *p, const char *kp, void *obj)
{
	if (want_map(p, kp))
		parse_map(p, kp, health_fields, HEALTH_N, &((struct svc_manifest *)obj)->health,
			  p->health_seen);
}

static void f_rollout(struct mp *p, const char *kp, void *obj)
{
	if (want_map(p, kp))
		parse_map(p, kp, rollout_fields, ROLLOUT_N,
			  &((struct svc_manifest *)obj)->rollout, p->rollout_seen);
}

static void f_api(struct mp *p, const char *kp, void *obj)
{
	if (want_map(p, kp))
		parse_map(p, kp, api_fields, API_N, &((struct svc_manifest *)obj)->api,
			  p->api_seen);
}

static const struct field top_fields[TOP_N] = {
	[TOP_SERVICE] = { "service", f_service },
	[TOP_RUNTIME] = { "runtime", f_runtime },
	[TOP_REPLICAS] = { "replicas", f_replicas },
	[TOP_VERSION] = { "version", f_version },
	[TOP_BUILD] = { "build", f_build },
	[TOP_RUN] = { "run", f_run },
	[TOP_PORTS] = { "ports", f_ports },
	[TOP_HEALTH] = { "health", f_health },
	[TOP_ROLLOUT] = { "rollout", f_rollout },
	[TOP_API] = { "api", f_api },
};

/* ------------------------------------------------------------------ */
/* Checks across keys, once the whole file is read */

static bool is_wildcard(const struct svc_addr *a)
{
	return !strcmp(a->host, "0.0.0.0") || !strcmp(a->host, "::");
}

/* True when binding both addresses would clash (see the top of the file). */
static bool addr_clash(const struct svc_addr *a, const struct svc_addr *b)
{
	if (a->port != b->port)
		return false;
	if (!strcmp(a->text, b->text))
		return true;
	if (!strcmp(a->host, "::") || !strcmp(b->host, "::"))
		return true;
	return (is_wildcard(a) || is_wildcard(b)) && a->ss.ss_family == b->ss.ss_family;
}

static const char *runtime_names[] = { "process", "docker", "swarm" };

const char *svc_runtime_kind_name(enum svc_runtime_kind k)
{
	if ((unsigned)k >= sizeof(runtime_names) / sizeof(runtime_names[0]))
		return "unknown";
	return runtime_names[k];
}

/* ---- what a runtime lets a manifest say: the drivers' checks ---- */

struct svc_mcheck {
	struct mp *p;
};

const struct svc_manifest *svc_mcheck_manifest(const struct svc_mcheck *c)
{
	return c->p->m;
}

/* Index of name in a section's field table, -1 when none. */
static int field_index(const struct field *f, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (f[i].name && !strcmp(f[i].name, name))
			return i;
	return -1;
}

/* Where key was written ("build.KEY", "run.KEY"); line 0 when it was not. */
static struct svc_pos key_pos(const struct mp *p, const char *key)
{
	struct svc_pos none = { 0, 0 };
	int i;

	if (!strncmp(key, "build.", 6) &&
	    (i = field_index(build_fields, BUILD_N, key + 6)) >= 0)
		return p->build_seen[i];
	if (!strncmp(key, "run.", 4) && (i = field_index(run_fields, RUN_N, key + 4)) >= 0)
		return p->run_seen[i];
	return none;
}

bool svc_mcheck_has(const struct svc_mcheck *c, const char *key)
{
	return key_pos(c->p, key).line != 0;
}

bool svc_mcheck_bad(const struct svc_mcheck *c, const char *section)
{
	return !strcmp(section, "build") ? c->p->build_bad :
	       !strcmp(section, "run") ? c->p->run_bad : false;
}

void svc_mcheck_error(struct svc_mcheck *c, const char *where, const char *fmt, ...)
{
	struct mp *p = c->p;
	struct svc_pos pos = p->top_map;
	unsigned long k;
	char tail[16];
	va_list ap;

	if (!strcmp(where, "build"))
		pos = p->build_map;
	else if (!strcmp(where, "run"))
		pos = p->top_seen[TOP_RUN].line ? p->run_map : p->top_map;
	else if (!strcmp(where, "ports"))
		pos = p->ports_pos;
	else if (sscanf(where, "ports[%lu]%15s", &k, tail) == 2 && !strcmp(tail, ".listen") &&
		 k < p->m->nports)
		pos = p->m->listen_pos[k];
	else if (!strcmp(where, "rollout.preview") && p->m->preview_pos.line)
		pos = p->m->preview_pos;
	else if (key_pos(p, where).line)
		pos = key_pos(p, where);
	va_start(ap, fmt);
	verr_at(p, pos, fmt, ap);
	va_end(ap);
}

static void check_manifest(struct mp *p)
{
	struct svc_manifest *m = p->m;
	struct svc_health *h = &m->health;

	if (!p->top_seen[TOP_SERVICE].line)
		err_at(p, p->top_map, "missing required key 'service'");
	{
		/* what the runtime lets the manifest say is its driver's to check */
		struct svc_manifest_rules rules;
		struct svc_mcheck c = { p };

		if (svc_manifest_rules_of(m->runtime, &rules) && rules.check)
			rules.check(&c);
	}
	if (m->build.present && !p->build_bad && !p->build_seen[BUILD_CONTEXT].line)
		err_at(p, p->build_map, "missing required key 'build.context'");

	/* Health */
	if (p->health_seen[HEALTH_HTTP].line && p->health_seen[HEALTH_TCP].line) {
		struct svc_pos later = p->health_seen[HEALTH_HTTP].line > p->health_seen[HEALTH_TCP].line
			? p->health_seen[HEALTH_HTTP] : p->health_seen[HEALTH_TCP];
		err_at(p, later, "health: 'http' and 'tcp' cannot both be given");
	}
	if (p->health_seen[HEALTH_EXPECT_STATUS].line && !p->health_seen[HEALTH_HTTP].line)
		err_at(p, p->health_seen[HEALTH_EXPECT_STATUS],
		       "health.expect_status: only allowed with 'health.http'");
	if (p->health_seen[HEALTH_HTTP].line)
		h->kind = SVC_HEALTH_HTTP;
	else if (p->health_seen[HEALTH_TCP].line || m->nports > 0)
		h->kind = SVC_HEALTH_TCP;
	else
		h->kind = SVC_HEALTH_RUNNING;
	if (m->nports == 0) {
		if (p->health_seen[HEALTH_HTTP].line)
			err_at(p, p->health_seen[HEALTH_HTTP],
			       "health.http: needs a port (the manifest has no 'ports')");
		if (p->health_seen[HEALTH_TCP].line)
			err_at(p, p->health_seen[HEALTH_TCP],
			       "health.tcp: needs a port (the manifest has no 'ports')");
		if (p->rollout_seen[ROLLOUT_PREVIEW].line)
			err_at(p, p->rollout_seen[ROLLOUT_PREVIEW],
			       "rollout.preview: needs a port (the manifest has no 'ports')");
	}

	/* Ports: default names, unique names, distinct addresses. */
	{
		struct keyed *names = svc_calloc(m->nports, sizeof(*names));
		size_t nn = 0;

		for (size_t i = 0; i < m->nports; i++) {
			/* entries that were not mappings (already reported) get no name */
			if (!m->ports[i].name && !p->port_name_pos[i].line && m->listen_pos[i].line)
				m->ports[i].name = svc_strdup("http");
			if (!m->ports[i].name)
				continue;
			names[nn].key = m->ports[i].name;
			names[nn].pos = p->port_name_pos[i].line ? p->port_name_pos[i]
								 : m->listen_pos[i];
			names[nn].index = i;
			nn++;
		}
		keyed_dups(p, names, nn, "ports", "name", "port name");
		free(names);
	}
	for (size_t i = 0; i < m->nports; i++) {
		if (!m->listen_pos[i].line)
			continue;
		for (size_t j = i + 1; j < m->nports; j++) {
			if (!m->listen_pos[j].line ||
			    !addr_clash(&m->ports[i].listen, &m->ports[j].listen))
				continue;
			err_at(p, m->listen_pos[i],
			       "ports[%zu].listen: address '%s' is also used by ports[%zu].listen (line %d)",
			       i, m->ports[i].listen.text, j, m->listen_pos[j].line);
			err_at(p, m->listen_pos[j],
			       "ports[%zu].listen: address '%s' is also used by ports[%zu].listen (line %d)",
			       j, m->ports[j].listen.text, i, m->listen_pos[i].line);
		}
		if (m->rollout.has_preview && addr_clash(&m->ports[i].listen, &m->rollout.preview)) {
			err_at(p, m->listen_pos[i],
			       "ports[%zu].listen: address '%s' is also used by rollout.preview (line %d)",
			       i, m->ports[i].listen.text, m->preview_pos.line);
			err_at(p, m->preview_pos,
			       "rollout.preview: address '%s' is also used by ports[%zu].listen (line %d)",
			       m->rollout.preview.text, i, m->listen_pos[i].line);
		}
	}

	/* Dependencies: unique names. */
	if (m->build.ndeps > 1) {
		struct keyed *names = svc_calloc(m->build.ndeps, sizeof(*names));
		size_t nn = 0;

		for (size_t i = 0; i < m->build.ndeps; i++) {
			if (!m->build.deps[i].name)
				continue;
			names[nn].key = m->build.deps[i].name;
			names[nn].pos = p->dep_name_pos[i];
			names[nn].index = i;
			nn++;
		}
		keyed_dups(p, names, nn, "build.dependencies", "name", "dependency name");
		free(names);
	}

	if (!m->run.workdir) {
		m->run.workdir = svc_strdup(m->dir);
		m->workdir_default = true;
	}
}

/* ------------------------------------------------------------------ */
/* Input checks before libyaml sees the bytes */

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, surrogates
 * or code points above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t left, unsigned long *out)
{
	unsigned c = s[0];
	size_t n;
	unsigned long cp;

	*out = c;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*out = cp;
	return n;
}

/* Code points libyaml accepts in a stream (YAML 1.1's printable set). */
static bool printable(unsigned long c)
{
	return c == 0x09 || c == 0x0a || c == 0x0d || (c >= 0x20 && c <= 0x7e) || c == 0x85 ||
	       (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) ||
	       (c >= 0x10000 && c <= 0x10ffff);
}

/*
 * Refuse invalid UTF-8 and characters YAML does not allow (NUL and other
 * control characters: binary data), at the first one's position.
 */
static bool check_bytes(struct mp *p)
{
	for (size_t i = 0; i < p->len; ) {
		unsigned long cp;
		size_t n = utf8_seq(p->buf + i, p->len - i, &cp);

		if (!n) {
			err_at(p, offset_pos(p->buf, p->len, i),
			       "invalid UTF-8 (byte 0x%02x)", p->buf[i]);
			return false;
		}
		if (!printable(cp) && !(cp == 0xfeff && i == 0)) {
			if (cp == 0)
				err_at(p, offset_pos(p->buf, p->len, i),
				       "NUL byte in manifest (binary data?)");
			else
				err_at(p, offset_pos(p->buf, p->len, i),
				       "control character U+%04lX in manifest (binary data?)", cp);
			return false;
		}
		i += n;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Loading */

static void parse_stream(struct mp *p)
{
	char what[64];

	if (!next(p) || p->ev.type != YAML_STREAM_START_EVENT)
		return;
	if (!next(p))
		return;
	if (p->ev.type == YAML_STREAM_END_EVENT) {
		err_at(p, (struct svc_pos){ 1, 1 }, "empty manifest (expected a mapping with 'service')");
		return;
	}
	if (!next(p))     /* past DOCUMENT_START: the root value */
		return;
	p->top_map = mark_pos(&p->ev.start_mark);
	if (tainted(p)) {
		skip_value(p);
	} else if (p->ev.type == YAML_SCALAR_EVENT && is_null(p)) {
		err_at(p, (struct svc_pos){ 1, 1 }, "empty manifest (expected a mapping with 'service')");
		return;
	} else if (p->ev.type != YAML_MAPPING_START_EVENT) {
		err_ev(p, "top level must be a mapping, got %s", describe(p, what, sizeof(what)));
		skip_value(p);
	} else {
		parse_map(p, "", top_fields, TOP_N, p->m, p->top_seen);
		p->top_is_map = !p->fatal;
	}
	if (!next(p))     /* DOCUMENT_END */
		return;
	if (!next(p))
		return;
	if (p->ev.type == YAML_DOCUMENT_START_EVENT) {
		err_ev(p, "only one document is allowed per manifest");
		p->fatal = true;
		return;
	}
	if (p->top_is_map)
		check_manifest(p);
}

/* Sort the diags appended since first, in place. */
static void diags_sort_from(struct svc_diags *d, size_t first)
{
	struct svc_diags view;

	if (first >= d->count)
		return;
	view.items = d->items + first;
	view.count = d->count - first;
	view.alloc = view.count;
	svc_diags_sort(&view);
}

static struct svc_manifest *manifest_new(const char *display_path, const char *dir)
{
	struct svc_manifest *m = svc_calloc(1, sizeof(*m));

	m->path = svc_strdup(display_path);
	m->dir = svc_strdup(dir);
	m->runtime = SVC_RUNTIME_DEFAULT;
	m->replicas = 1;
	m->run.stop_signal = SIGTERM;
	m->run.stop_signal_name = svc_strdup("TERM");
	m->run.stop_timeout_ms = 10 * 1000;
	m->health.kind = SVC_HEALTH_RUNNING;
	m->health.status_lo = 200;
	m->health.status_hi = 399;
	m->health.interval_ms = 1000;
	m->health.timeout_ms = 1000;
	m->health.healthy_threshold = 2;
	m->health.unhealthy_threshold = 3;
	m->health.start_timeout_ms = 60 * 1000;
	m->rollout.drain_timeout_ms = 30 * 1000;
	m->rollout.keep_previous_ms = 10 * 60 * 1000;
	m->rollout.bake_ms = 0;
	return m;
}

int svc_manifest_load_buffer(struct svc_manifest **out, const char *buf,
			     size_t len, const char *display_path,
			     const char *base_dir, struct svc_diags *diags)
{
	struct mp p;
	char cwd[PATH_MAX];
	char *dir = NULL;
	size_t first = diags->count;
	int rc = SVC_EMANIFEST;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.file = display_path ? display_path : "<manifest>";
	p.buf = (const unsigned char *)buf;
	p.len = len;
	p.diags = diags;
	if (len > MANIFEST_MAX_BYTES) {
		svc_diags_addf(diags, p.file, 0, 0, "file is larger than 1 MiB (%zu bytes)", len);
		goto done;
	}
	if (base_dir && base_dir[0] == '/') {
		dir = svc_path_normalize(base_dir);
	} else {
		char *joined;
		if (!getcwd(cwd, sizeof(cwd))) {
			svc_diags_addf(diags, p.file, 0, 0, "cannot find the current folder: %s",
				       strerror(errno));
			rc = SVC_EGENERIC;
			goto done;
		}
		joined = svc_strfmt("%s/%s", cwd, base_dir ? base_dir : ".");
		dir = svc_path_normalize(joined);
		free(joined);
	}
	p.m = manifest_new(p.file, dir);
	if (!check_bytes(&p))
		goto done;
	/* A UTF-8 byte order mark is allowed and is not part of line 1. */
	if (p.len >= 3 && !memcmp(p.buf, "\xef\xbb\xbf", 3)) {
		p.buf += 3;
		p.len -= 3;
	}
	if (!yaml_parser_initialize(&p.parser)) {
		svc_diags_addf(diags, p.file, 0, 0, "out of memory");
		rc = SVC_EGENERIC;
		goto done;
	}
	p.parser_ready = true;
	yaml_parser_set_encoding(&p.parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&p.parser, p.buf, p.len);
	parse_stream(&p);
	if (p.nerrors == 0 && !p.fatal) {
		*out = p.m;
		p.m = NULL;
		rc = 0;
	}
done:
	if (p.have_ev)
		yaml_event_delete(&p.ev);
	if (p.parser_ready)
		yaml_parser_delete(&p.parser);
	svc_manifest_free(p.m);
	free(p.port_name_pos);
	free(p.dep_name_pos);
	free(dir);
	diags_sort_from(diags, first);
	return rc;
}

/* The absolute, symlink-free folder that holds path. Caller frees. */
static char *manifest_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *folder, *real;

	if (!slash)
		folder = svc_strdup(".");
	else if (slash == path)
		folder = svc_strdup("/");
	else
		folder = svc_strfmt("%.*s", (int)(slash - path), path);
	real = realpath(folder, NULL);
	free(folder);
	return real;
}

int svc_manifest_load(struct svc_manifest **out, const char *path,
		      struct svc_diags *diags)
{
	struct svc_error err;
	struct stat st;
	char *buf = NULL, *dir = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	svc_error_clear(&err);
	if (stat(path, &st)) {
		int e = errno;
		struct stat lst;
		char target[PATH_MAX];
		ssize_t n;

		rc = e == ENOENT ? SVC_ENOTFOUND : SVC_EGENERIC;
		if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) &&
		    (n = readlink(path, target, sizeof(target) - 1)) >= 0) {
			target[n] = '\0';
			svc_diags_addf(diags, path, 0, 0, "dangling symlink to '%s'", target);
		} else {
			svc_diags_addf(diags, path, 0, 0, "cannot read: %s", strerror(e));
		}
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = SVC_EGENERIC;
		svc_diags_addf(diags, path, 0, 0, "is a folder, not a manifest file");
		goto done;
	}
	/* a fifo or a device is never opened (svc_file_read checks again) */
	if (!S_ISREG(st.st_mode)) {
		rc = SVC_EGENERIC;
		svc_diags_addf(diags, path, 0, 0, "not a regular file (%s)",
			       svc_file_kind(st.st_mode));
		goto done;
	}
	if (st.st_size > MANIFEST_MAX_BYTES) {
		rc = SVC_EMANIFEST;
		svc_diags_addf(diags, path, 0, 0, "file is larger than 1 MiB (%lld bytes)",
			       (long long)st.st_size);
		goto done;
	}
	rc = svc_file_read(&buf, &len, path, MANIFEST_MAX_BYTES, &err);
	if (rc) {
		svc_diags_addf(diags, path, 0, 0, "%s", err.message);
		goto done;
	}
	dir = manifest_dir(path);
	if (!dir) {
		rc = SVC_EGENERIC;
		svc_diags_addf(diags, path, 0, 0, "cannot resolve its folder: %s",
			       strerror(errno));
		goto done;
	}
	rc = svc_manifest_load_buffer(out, buf, len, path, dir, diags);
done:
	free(buf);
	free(dir);
	return rc;
}

void svc_manifest_free(struct svc_manifest *m)
{
	if (!m)
		return;
	free(m->path);
	free(m->dir);
	free(m->service);
	free(m->version);
	svc_artifact_ref_free(m->artifact);
	free(m->build.context);
	svc_strv_free(m->build.command);
	free(m->build.artifact);
	free(m->build.dockerfile);
	free(m->build.push);
	free(m->pinned_image);
	for (size_t i = 0; i < m->build.ndeps; i++) {
		free(m->build.deps[i].name);
		free(m->build.deps[i].git);
		free(m->build.deps[i].ref);
		free(m->build.deps[i].into);
	}
	free(m->build.deps);
	for (size_t i = 0; i < m->build.nenv; i++) {
		free(m->build.env[i].key);
		free(m->build.env[i].value);
	}
	free(m->build.env);
	svc_strv_free(m->run.command);
	free(m->run.image);
	free(m->run.workdir);
	for (size_t i = 0; i < m->run.nenv; i++) {
		free(m->run.env[i].key);
		free(m->run.env[i].value);
	}
	free(m->run.env);
	free(m->run.stop_signal_name);
	for (size_t i = 0; i < m->nports; i++)
		free(m->ports[i].name);
	free(m->ports);
	free(m->listen_pos);
	free(m->health.http_path);
	svc_strv_free(m->api.provides);
	for (size_t i = 0; i < m->api.nrequires; i++) {
		free(m->api.requires[i].service);
		svc_strv_free(m->api.requires[i].versions);
	}
	free(m->api.requires);
	free(m);
}

/* ------------------------------------------------------------------ */
/* Canonical JSON and release id */

static void oom(void)
{
	fputs("svcctl: out of memory\n", stderr);
	abort();
}

static void jset(json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new(o, key, v))
		oom();
}

static void jappend(json_t *a, json_t *v)
{
	if (!v || json_array_append_new(a, v))
		oom();
}

/* A string, or null for NULL; bytes that are not UTF-8 (paths) are kept. */
static json_t *jstr(const char *s)
{
	json_t *j;

	if (!s)
		return json_null();
	j = json_string(s);
	return j ? j : json_string_nocheck(s);
}

static json_t *jstrv(char *const *v)
{
	json_t *a = json_array();

	if (!a)
		oom();
	for (size_t i = 0; v && v[i]; i++)
		jappend(a, jstr(v[i]));
	return a;
}

static json_t *jstrv_or_null(char *const *v)
{
	return v ? jstrv(v) : json_null();
}

static json_t *jobj(void)
{
	json_t *o = json_object();

	if (!o)
		oom();
	return o;
}

json_t *svc_manifest_to_json(const struct svc_manifest *m)
{
	static const char *const health_kinds[] = { "running", "http", "tcp" };
	json_t *o = jobj(), *build, *run, *env, *ports, *health, *rollout, *api, *req;
	char status[16];

	jset(o, "service", jstr(m->service));
	jset(o, "dir", jstr(m->dir));
	jset(o, "runtime", jstr(svc_runtime_kind_name(m->runtime)));
	jset(o, "replicas", json_integer(m->replicas));
	jset(o, "version", jstr(m->version));

	if (m->build.present) {
		json_t *deps = json_array();
		if (!deps)
			oom();
		build = jobj();
		jset(build, "context", jstr(m->build.context));
		jset(build, "command", jstrv_or_null(m->build.command));
		jset(build, "artifact", jstr(m->build.artifact));
		jset(build, "dockerfile", jstr(m->build.dockerfile));
		jset(build, "timeout_ms", json_integer(m->build.timeout_ms));
		for (size_t i = 0; i < m->build.ndeps; i++) {
			json_t *d = jobj();
			jset(d, "name", jstr(m->build.deps[i].name));
			jset(d, "git", jstr(m->build.deps[i].git));
			jset(d, "ref", jstr(m->build.deps[i].ref));
			jset(d, "into", jstr(m->build.deps[i].into));
			jappend(deps, d);
		}
		jset(build, "dependencies", deps);
		/* only when given: manifests without it keep their release ids */
		if (m->build.nenv) {
			json_t *benv = jobj();
			for (size_t i = 0; i < m->build.nenv; i++)
				jset(benv, m->build.env[i].key, jstr(m->build.env[i].value));
			jset(build, "env", benv);
		}
		/* only when given, as env: where the image goes changes what runs */
		if (m->build.push)
			jset(build, "push", jstr(m->build.push));
	} else {
		build = json_null();
	}
	jset(o, "build", build);
	/* only when built: manifests without a build keep their release ids */
	if (m->artifact)
		jset(o, "artifact", jstr(m->artifact->id));

	run = jobj();
	env = jobj();
	jset(run, "command", jstrv_or_null(m->run.command));
	jset(run, "image", jstr(m->run.image));
	jset(run, "workdir", jstr(m->run.workdir));
	for (size_t i = 0; i < m->run.nenv; i++)
		jset(env, m->run.env[i].key, jstr(m->run.env[i].value));
	jset(run, "env", env);
	jset(run, "stop_signal", jstr(m->run.stop_signal_name));
	jset(run, "stop_timeout_ms", json_integer(m->run.stop_timeout_ms));
	jset(o, "run", run);

	ports = json_array();
	if (!ports)
		oom();
	for (size_t i = 0; i < m->nports; i++) {
		json_t *pt = jobj();
		jset(pt, "name", jstr(m->ports[i].name));
		jset(pt, "listen", jstr(m->ports[i].listen.text));
		jset(pt, "target", m->ports[i].target ? json_integer(m->ports[i].target)
						       : json_null());
		jappend(ports, pt);
	}
	jset(o, "ports", ports);

	health = jobj();
	jset(health, "kind", jstr(health_kinds[m->health.kind <= SVC_HEALTH_TCP ? m->health.kind : 0]));
	jset(health, "http", jstr(m->health.http_path));
	if (snprintf(status, sizeof(status), "%d-%d", m->health.status_lo,
		     m->health.status_hi) >= (int)sizeof(status))
		status[0] = '\0';
	jset(health, "expect_status", jstr(status));
	jset(health, "interval_ms", json_integer(m->health.interval_ms));
	jset(health, "timeout_ms", json_integer(m->health.timeout_ms));
	jset(health, "healthy_threshold", json_integer(m->health.healthy_threshold));
	jset(health, "unhealthy_threshold", json_integer(m->health.unhealthy_threshold));
	jset(health, "start_timeout_ms", json_integer(m->health.start_timeout_ms));
	jset(o, "health", health);

	rollout = jobj();
	jset(rollout, "promote", jstr(m->rollout.manual ? "manual" : "auto"));
	jset(rollout, "preview", m->rollout.has_preview ? jstr(m->rollout.preview.text)
							: json_null());
	jset(rollout, "drain_timeout_ms", json_integer(m->rollout.drain_timeout_ms));
	jset(rollout, "keep_previous_ms", json_integer(m->rollout.keep_previous_ms));
	jset(rollout, "bake_ms", json_integer(m->rollout.bake_ms));
	jset(o, "rollout", rollout);

	api = jobj();
	req = jobj();
	jset(api, "provides", jstrv(m->api.provides));
	for (size_t i = 0; i < m->api.nrequires; i++)
		jset(req, m->api.requires[i].service, jstrv(m->api.requires[i].versions));
	jset(api, "requires", req);
	jset(o, "api", api);
	return o;
}

/*
 * A path as the release id sees it: one written absolute stays as it is (a
 * folder of the machine); one written relative to the manifest's folder
 * base is that relative path again, normalized lexically ("../bin",
 * "app", "."), so that it is the same wherever the folder is.
 */
static json_t *path_from(const char *base, const char *path, bool written_absolute)
{
	const char *b = base, *p = path;
	size_t ups = 0;
	char *rel;
	json_t *j;

	if (!path)
		return json_null();
	if (written_absolute || !base || base[0] != '/' || path[0] != '/')
		return jstr(path);
	/* the common leading components */
	for (;;) {
		size_t nb, np;

		while (*b == '/')
			b++;
		while (*p == '/')
			p++;
		nb = strcspn(b, "/");
		np = strcspn(p, "/");
		if (!nb || nb != np || strncmp(b, p, nb))
			break;
		b += nb;
		p += np;
	}
	for (const char *c = b; *c;) {
		size_t n = strcspn(c, "/");
		if (n)
			ups++;
		c += n;
		while (*c == '/')
			c++;
	}
	rel = svc_strdup("");
	for (size_t i = 0; i < ups; i++) {
		char *t = svc_strfmt("%s%s..", rel, rel[0] ? "/" : "");
		free(rel);
		rel = t;
	}
	if (*p) {
		char *t = svc_strfmt("%s%s%s", rel, rel[0] ? "/" : "", p);
		free(rel);
		rel = t;
	}
	j = jstr(rel[0] ? rel : ".");
	free(rel);
	return j;
}

/* Bumped when what the release id covers changes (absent: before identity 2). */
#define RELEASE_ID_IDENTITY 2

void svc_manifest_release_id(const struct svc_manifest *m, char out[65])
{
	json_t *j = svc_manifest_to_json(m);
	json_t *build = json_object_get(j, "build"), *run = json_object_get(j, "run");
	struct svc_manifest_rules rules;
	char *s;

	jset(j, "identity", json_integer(RELEASE_ID_IDENTITY));
	json_object_del(j, "dir");
	if (json_is_object(build))
		jset(build, "context", path_from(m->dir, m->build.context, m->build.context_absolute));
	if (svc_manifest_rules_of(m->runtime, &rules) && rules.host_folder && !m->artifact &&
	    !m->build.present) {
		jset(run, "workdir", path_from(m->dir, m->run.workdir, m->run.workdir_absolute));
		jset(run, "workdir_content", m->workdir_id[0] ? jstr(m->workdir_id) : json_null());
	} else {
		json_object_del(run, "workdir");
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		oom();
	svc_sha256_hex(out, s, strlen(s));
	free(s);
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Sets of manifests */

static void set_add_file(struct svc_manifest_set *set, size_t *alloc, const char *path,
			 struct svc_diags *diags, int *rc)
{
	struct svc_manifest *m = NULL;

	set->files = grow(set->files, &set->files_alloc, set->nfiles + 2, sizeof(*set->files));
	set->files[set->nfiles++] = svc_strdup(path);
	set->files[set->nfiles] = NULL;
	if (svc_manifest_load(&m, path, diags)) {
		*rc = SVC_EMANIFEST;
		return;
	}
	set->items = grow(set->items, alloc, set->count + 1, sizeof(*set->items));
	set->items[set->count++] = m;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

static bool path_under(const char *root, const char *p)
{
	size_t n = strlen(root);

	return !strncmp(p, root, n) && (p[n] == '\0' || p[n] == '/' || (n == 1 && root[0] == '/'));
}

/*
 * Whether the entry at path may be read for a folder confined to root (a
 * resolved path): anything but a symlink, or a symlink resolving inside.
 * When not, a diagnostic names it and its target, which is never opened.
 */
static bool entry_confined(const char *path, const char *root, const char *root_what,
			   struct svc_diags *diags)
{
	char target[512] = "", *real;
	struct stat st;
	ssize_t k;
	bool ok;

	if (lstat(path, &st) || !S_ISLNK(st.st_mode))
		return true;
	real = realpath(path, NULL);
	ok = real && path_under(root, real);
	free(real);
	if (!ok) {
		k = readlink(path, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = '\0';
		svc_diags_addf(diags, path, 0, 0, "a symlink leaving %s ('%s'): refused", root_what,
			       target);
	}
	return ok;
}

static void set_add_folder(struct svc_manifest_set *set, size_t *alloc, const char *path,
			   const char *root, const char *root_what,
			   struct svc_diags *diags, int *rc)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, nalloc = 0;
	size_t plen = strlen(path);
	bool slash = plen > 0 && path[plen - 1] == '/';

	if (!d) {
		svc_diags_addf(diags, path, 0, 0, "cannot read folder: %s", strerror(errno));
		*rc = SVC_EMANIFEST;
		return;
	}
	/* every *.yaml and *.yml entry is a manifest: one that is no regular
	 * file (a fifo, a device, a folder, a dangling symlink) is an error
	 * of svc_manifest_load's, not skipped */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".yaml") || has_suffix(de->d_name, ".yml")))
			continue;
		names = grow(names, &nalloc, n + 1, sizeof(*names));
		names[n++] = svc_strfmt("%s%s%s", path, slash ? "" : "/", de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!root || entry_confined(names[i], root, root_what, diags))
			set_add_file(set, alloc, names[i], diags, rc);
		else
			*rc = SVC_EMANIFEST;
		free(names[i]);
	}
	free(names);
}

/* One address of a set, for the clash check across files. */
struct set_addr {
	const struct svc_manifest *m;
	const struct svc_addr *addr;
	struct svc_pos pos;
	char what[32];        /* "ports[0].listen" or "rollout.preview" */
};

static void check_set(struct svc_manifest_set *set, struct svc_diags *diags, int *rc)
{
	struct set_addr *addrs = NULL;
	size_t naddrs = 0, alloc = 0;

	/* Duplicate service names. */
	for (size_t j = 1; j < set->count; j++) {
		struct svc_manifest *b = set->items[j];
		for (size_t i = 0; i < j; i++) {
			struct svc_manifest *a = set->items[i];
			if (strcmp(a->service, b->service))
				continue;
			svc_diags_addf(diags, b->path, b->service_pos.line, b->service_pos.column,
				       "service: '%s' is already defined in %s:%d", b->service,
				       a->path, a->service_pos.line);
			*rc = SVC_EMANIFEST;
			break;
		}
	}

	/* Addresses shared across services. */
	for (size_t i = 0; i < set->count; i++) {
		const struct svc_manifest *m = set->items[i];
		for (size_t k = 0; k <= m->nports; k++) {
			struct set_addr *sa;
			if (k == m->nports && !m->rollout.has_preview)
				break;
			addrs = grow(addrs, &alloc, naddrs + 1, sizeof(*addrs));
			sa = &addrs[naddrs++];
			sa->m = m;
			if (k < m->nports) {
				sa->addr = &m->ports[k].listen;
				sa->pos = m->listen_pos[k];
				if (snprintf(sa->what, sizeof(sa->what), "ports[%zu].listen", k) < 0)
					sa->what[0] = '\0';
			} else {
				sa->addr = &m->rollout.preview;
				sa->pos = m->preview_pos;
				snprintf(sa->what, sizeof(sa->what), "rollout.preview");
			}
		}
	}
	for (size_t i = 0; i < naddrs; i++) {
		for (size_t j = i + 1; j < naddrs; j++) {
			struct set_addr *a = &addrs[i], *b = &addrs[j];
			if (a->m == b->m || !addr_clash(a->addr, b->addr))
				continue;
			svc_diags_addf(diags, a->m->path, a->pos.line, a->pos.column,
				       "%s: address '%s' is also used by service '%s' (%s at %s:%d:%d)",
				       a->what, a->addr->text, b->m->service, b->what, b->m->path,
				       b->pos.line, b->pos.column);
			svc_diags_addf(diags, b->m->path, b->pos.line, b->pos.column,
				       "%s: address '%s' is also used by service '%s' (%s at %s:%d:%d)",
				       b->what, b->addr->text, a->m->service, a->what, a->m->path,
				       a->pos.line, a->pos.column);
			*rc = SVC_EMANIFEST;
		}
	}
	free(addrs);

	/* Required API versions of services in the set. */
	for (size_t i = 0; i < set->count; i++) {
		const struct svc_manifest *m = set->items[i];
		for (size_t r = 0; r < m->api.nrequires; r++) {
			const struct svc_api_require *req = &m->api.requires[r];
			const struct svc_manifest *peer = svc_manifest_set_find(set, req->service);
			if (!peer)
				continue;
			for (size_t v = 0; req->versions && req->versions[v]; v++) {
				size_t k;
				for (k = 0; peer->api.provides && peer->api.provides[k]; k++)
					if (!strcmp(peer->api.provides[k], req->versions[v]))
						break;
				if (peer->api.provides && peer->api.provides[k])
					continue;
				svc_diags_addf(diags, m->path, m->api_requires_pos.line,
					       m->api_requires_pos.column,
					       "api.requires.%s: service '%s' does not provide "
					       "version '%s' (%s:%d)", req->service, req->service,
					       req->versions[v], peer->path, peer->service_pos.line);
				*rc = SVC_EMANIFEST;
			}
		}
	}
}

int svc_manifest_set_load(struct svc_manifest_set *out, char *const *paths,
			  size_t npaths, struct svc_diags *diags)
{
	size_t first = diags->count, alloc = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;

		if (stat(paths[i], &st)) {
			svc_diags_addf(diags, paths[i], 0, 0, "cannot read: %s", strerror(errno));
			rc = SVC_EMANIFEST;
		} else if (S_ISDIR(st.st_mode)) {
			set_add_folder(out, &alloc, paths[i], NULL, NULL, diags, &rc);
		} else {
			set_add_file(out, &alloc, paths[i], diags, &rc);
		}
	}
	check_set(out, diags, &rc);
	diags_sort_from(diags, first);
	return rc;
}

int svc_manifest_set_load_confined(struct svc_manifest_set *out, const char *folder,
				   const char *root, const char *root_what,
				   struct svc_diags *diags)
{
	size_t first = diags->count, alloc = 0;
	char *real = realpath(root, NULL);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!real) {
		svc_diags_addf(diags, root, 0, 0, "cannot resolve: %s", strerror(errno));
		return SVC_EMANIFEST;
	}
	set_add_folder(out, &alloc, folder, real, root_what, diags, &rc);
	free(real);
	check_set(out, diags, &rc);
	diags_sort_from(diags, first);
	return rc;
}

void svc_manifest_set_release(struct svc_manifest_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++)
		svc_manifest_free(set->items[i]);
	free(set->items);
	for (size_t i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->files);
	memset(set, 0, sizeof(*set));
}

struct svc_manifest *svc_manifest_set_find(const struct svc_manifest_set *set,
					   const char *service)
{
	for (size_t i = 0; set && service && i < set->count; i++)
		if (!strcmp(set->items[i]->service, service))
			return set->items[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The artifact a release runs */

void svc_artifact_ref_free(struct svc_artifact_ref *art)
{
	if (!art)
		return;
	for (size_t i = 0; i < art->ndeps; i++) {
		free(art->deps[i].name);
		free(art->deps[i].ref);
	}
	free(art->deps);
	free(art->dir);
	free(art->image);
	free(art->pushed);
	free(art);
}

struct svc_artifact_ref *svc_artifact_ref_dup(const struct svc_artifact_ref *art)
{
	struct svc_artifact_ref *c;

	if (!art)
		return NULL;
	c = svc_calloc(1, sizeof(*c));
	memcpy(c->id, art->id, sizeof(c->id));
	c->dir = art->dir ? svc_strdup(art->dir) : NULL;
	c->image = art->image ? svc_strdup(art->image) : NULL;
	c->pushed = art->pushed ? svc_strdup(art->pushed) : NULL;
	c->deps = svc_calloc(art->ndeps + 1, sizeof(*c->deps));
	c->ndeps = art->ndeps;
	for (size_t i = 0; i < art->ndeps; i++) {
		c->deps[i].name = svc_strdup(art->deps[i].name);
		c->deps[i].ref = svc_strdup(art->deps[i].ref);
		memcpy(c->deps[i].commit, art->deps[i].commit, sizeof(c->deps[i].commit));
	}
	return c;
}

const char *svc_manifest_pinned(const struct svc_manifest *m)
{
	if (m->pinned_image)
		return m->pinned_image;
	if (m->artifact && m->artifact->pushed)
		return m->artifact->pushed;
	if (!m->artifact && m->run.image && strstr(m->run.image, "@sha256:"))
		return m->run.image;
	return NULL;
}

const char *svc_manifest_image(const struct svc_manifest *m)
{
	if (svc_manifest_pinned(m))
		return svc_manifest_pinned(m);
	return m->artifact && m->artifact->image ? m->artifact->image : m->run.image;
}

void svc_manifest_set_pinned(struct svc_manifest *m, const char *image)
{
	free(m->pinned_image);
	m->pinned_image = image ? svc_strdup(image) : NULL;
}

const char *svc_manifest_workdir(const struct svc_manifest *m)
{
	if (m->artifact && m->artifact->dir)
		return m->artifact->dir;
	return m->run.workdir ? m->run.workdir : (m->dir ? m->dir : "/");
}

void svc_manifest_set_artifact(struct svc_manifest *m, const struct svc_artifact_ref *art)
{
	svc_artifact_ref_free(m->artifact);
	m->artifact = svc_artifact_ref_dup(art);
}

json_t *svc_artifact_ref_to_json(const struct svc_artifact_ref *art)
{
	json_t *o = jobj(), *deps = json_array();

	if (!deps)
		oom();
	jset(o, "id", jstr(art->id));
	jset(o, "dir", jstr(art->dir));
	jset(o, "image", jstr(art->image));
	/* only when pushed: records of artifacts that were not stay as they were */
	if (art->pushed)
		jset(o, "pushed", jstr(art->pushed));
	for (size_t i = 0; i < art->ndeps; i++) {
		json_t *d = jobj();
		jset(d, "name", jstr(art->deps[i].name));
		jset(d, "ref", jstr(art->deps[i].ref));
		jset(d, "commit", jstr(art->deps[i].commit));
		jappend(deps, d);
	}
	jset(o, "dependencies", deps);
	return o;
}

struct svc_artifact_ref *svc_artifact_ref_from_json(const json_t *j)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	const json_t *deps = json_object_get(j, "dependencies");
	struct svc_artifact_ref *art;
	size_t i;
	json_t *d;

	if (!json_is_object(j) || !svc_hex_is(id, 64) || (deps && !json_is_array(deps)))
		return NULL;
	art = svc_calloc(1, sizeof(*art));
	memcpy(art->id, id, 65);
	if (json_is_string(json_object_get(j, "dir")))
		art->dir = svc_strdup(json_string_value(json_object_get(j, "dir")));
	if (json_is_string(json_object_get(j, "image")))
		art->image = svc_strdup(json_string_value(json_object_get(j, "image")));
	if (json_is_string(json_object_get(j, "pushed")))
		art->pushed = svc_strdup(json_string_value(json_object_get(j, "pushed")));
	art->deps = svc_calloc(json_array_size(deps) + 1, sizeof(*art->deps));
	json_array_foreach(deps, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		const char *ref = json_string_value(json_object_get(d, "ref"));
		const char *commit = json_string_value(json_object_get(d, "commit"));
		struct svc_dep_pin *p = &art->deps[art->ndeps];

		if (!name || !ref || !svc_hex_is(commit, 40)) {
			svc_artifact_ref_free(art);
			return NULL;
		}
		p->name = svc_strdup(name);
		p->ref = svc_strdup(ref);
		memcpy(p->commit, commit, 41);
		art->ndeps++;
	}
	return art;
}
