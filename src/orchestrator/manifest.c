/*
 * manifest.c - strict manifests: YAML (libyaml events) into a small node
 * tree, then the tree into struct svc_manifest through the schema below.
 *
 * Two passes keep each simple. The first builds a tree of mappings,
 * sequences and scalars with their positions, and refuses what YAML allows
 * but a manifest must not have: anchors and aliases, tags, several
 * documents, duplicate keys, nesting deeper than MAX_DEPTH, files over
 * MAX_FILE. The second walks the tree with the schema: unknown keys, wrong
 * types, missing required keys and bad values each become one positioned
 * error (file:line:col, 1-based) naming the key path ('health.interval'),
 * and the walk goes on, so that every error in a file is reported at once.
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

#define MAX_FILE (1024 * 1024)
#define MAX_DEPTH 32
#define MAX_REPLICAS 100

/* ---- pass 1: the node tree ---- */

enum node_kind { N_SCALAR, N_MAP, N_SEQ };

struct node {
	enum node_kind kind;
	int line, col;        /* 1-based */
	char *value;          /* scalars */
	bool plain;           /* scalar written without quotes */
	struct node **kids;   /* maps: key, value, key, value...; sequences: items */
	size_t nkids;
};

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

static struct node *node_new(enum node_kind kind, const yaml_mark_t *mark)
{
	struct node *n = svc_calloc(1, sizeof(*n));

	n->kind = kind;
	n->line = (int)mark->line + 1;
	n->col = (int)mark->column + 1;
	return n;
}

static void node_add(struct node *parent, struct node *kid)
{
	parent->kids = svc_realloc(parent->kids, parent->nkids + 1, sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

struct loader {
	const char *file;
	struct svc_diags *d;
	int errors;
};

static void errf(struct loader *l, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void errf(struct loader *l, int line, int col, const char *fmt, ...)
{
	struct svc_error e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.code = SVC_EMANIFEST;
	snprintf(e.file, sizeof(e.file), "%s", l->file);
	e.line = line;
	e.column = col;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	svc_diags_add(l->d, &e);
	l->errors++;
}

static void node_err(struct loader *l, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void node_err(struct loader *l, const struct node *n, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errf(l, n->line, n->col, "%s", msg);
}

/* The key of a mapping entry as text, for messages ("" if not a scalar). */
static const char *key_text(const struct node *k)
{
	return k->kind == N_SCALAR ? k->value : "";
}

/*
 * Build the tree. Returns the root (a document's top node), or NULL after
 * reporting why. A syntax error ends the file: libyaml cannot go on.
 */
static struct node *build_tree(struct loader *l, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct node *stack[MAX_DEPTH + 2];
	struct node *root = NULL;
	int depth = 0, docs = 0;
	bool done = false, failed = false;

	if (!yaml_parser_initialize(&p)) {
		errf(l, 0, 0, "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		struct node *n = NULL;
		bool pushed = false;

		if (!yaml_parser_parse(&p, &ev)) {
			errf(l, (int)p.problem_mark.line + 1, (int)p.problem_mark.column + 1,
			     "invalid YAML: %s%s%s", p.problem ? p.problem : "syntax error",
			     p.context ? " " : "", p.context ? p.context : "");
			failed = true;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				errf(l, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "only one YAML document is allowed in a manifest");
				failed = done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			errf(l, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
			     "anchors and aliases are not allowed");
			failed = done = true;
			break;
		case YAML_SCALAR_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT: {
			const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.anchor
				: ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.anchor
				: ev.data.sequence_start.anchor;
			const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.tag
				: ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.tag
				: ev.data.sequence_start.tag;
			if (anchor) {
				errf(l, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "anchors and aliases are not allowed");
				failed = done = true;
				break;
			}
			if (tag) {
				errf(l, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "tags ('%s') are not allowed", (const char *)tag);
				failed = done = true;
				break;
			}
			if (ev.type == YAML_SCALAR_EVENT) {
				n = node_new(N_SCALAR, &ev.start_mark);
				n->value = svc_calloc(ev.data.scalar.length + 1, 1);
				memcpy(n->value, ev.data.scalar.value, ev.data.scalar.length);
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				if (strlen(n->value) != ev.data.scalar.length) {
					errf(l, n->line, n->col, "NUL characters are not allowed");
					node_free(n);
					failed = done = true;
					break;
				}
			} else {
				n = node_new(ev.type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ,
					     &ev.start_mark);
				pushed = true;
			}
			if (depth == 0) {
				root = n;
			} else {
				node_add(stack[depth - 1], n);
			}
			if (pushed) {
				if (depth >= MAX_DEPTH) {
					errf(l, n->line, n->col,
					     "nesting deeper than %d levels is not allowed", MAX_DEPTH);
					failed = done = true;
					break;
				}
				stack[depth++] = n;
			}
			break;
		}
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (failed) {
		node_free(root);
		return NULL;
	}
	if (!root) {
		errf(l, 1, 1, "empty manifest (expected a mapping with at least 'service')");
		return NULL;
	}
	return root;
}

/* ---- pass 2: the schema ---- */

struct walk {
	struct loader *l;
	struct svc_manifest *m;
};

/* A path of keys for messages: "health.interval", "ports[0].listen". */
static char *path_join(const char *prefix, const char *key)
{
	if (!prefix || !*prefix)
		return svc_strdup(key);
	if (key[0] == '[')
		return svc_strfmt("%s%s", prefix, key);
	return svc_strfmt("%s.%s", prefix, key);
}

static const char *kind_name(enum node_kind k)
{
	return k == N_SCALAR ? "a scalar" : k == N_MAP ? "a mapping" : "a list";
}

static bool want(struct walk *w, const struct node *n, enum node_kind kind, const char *path)
{
	if (n->kind == kind)
		return true;
	node_err(w->l, n, "'%s': expected %s, found %s", path, kind_name(kind), kind_name(n->kind));
	return false;
}

/* A scalar with a value (an empty plain scalar is YAML's null). */
static bool want_value(struct walk *w, const struct node *n, const char *path)
{
	if (!want(w, n, N_SCALAR, path))
		return false;
	if (n->plain && (!n->value[0] || !strcmp(n->value, "~") || !strcmp(n->value, "null"))) {
		node_err(w->l, n, "'%s' has no value", path);
		return false;
	}
	return true;
}

static char *get_str(struct walk *w, const struct node *n, const char *path)
{
	return want_value(w, n, path) ? svc_strdup(n->value) : NULL;
}

static bool get_int(struct walk *w, const struct node *n, const char *path,
		    long long min, long long max, int *out)
{
	long long v;

	if (!want_value(w, n, path))
		return false;
	if (!n->plain || svc_parse_int(&v, n->value, LLONG_MIN, LLONG_MAX)) {
		node_err(w->l, n, "'%s': expected an integer, found '%s'", path, n->value);
		return false;
	}
	if (v < min || v > max) {
		node_err(w->l, n, "'%s' must be %lld-%lld, not %lld", path, min, max, v);
		return false;
	}
	*out = (int)v;
	return true;
}

static bool get_bool(struct walk *w, const struct node *n, const char *path, bool *out)
{
	if (!want_value(w, n, path))
		return false;
	if (n->plain && !strcmp(n->value, "true"))
		*out = true;
	else if (n->plain && !strcmp(n->value, "false"))
		*out = false;
	else {
		node_err(w->l, n, "'%s': expected true or false, found '%s'", path, n->value);
		return false;
	}
	return true;
}

static bool get_duration(struct walk *w, const struct node *n, const char *path,
			 int64_t min, int64_t max, int64_t *out)
{
	struct svc_error e = { 0 };
	char a[32], b[32];
	int64_t v;

	if (!want_value(w, n, path))
		return false;
	if (svc_duration_parse(&v, n->value, &e)) {
		node_err(w->l, n, "'%s': %s", path, e.message);
		return false;
	}
	if (v < min || v > max) {
		node_err(w->l, n, "'%s' must be between %s and %s", path,
			 svc_duration_format(a, sizeof(a), min), svc_duration_format(b, sizeof(b), max));
		return false;
	}
	*out = v;
	return true;
}

static bool get_addr(struct walk *w, const struct node *n, const char *path,
		     struct svc_addr *out)
{
	struct svc_error e = { 0 };

	if (!want_value(w, n, path))
		return false;
	if (svc_addr_parse(out, n->value, false, &e)) {
		node_err(w->l, n, "'%s': %s", path, e.message);
		return false;
	}
	return true;
}

/* A list of strings; NULL-terminated; NULL on error. */
static char **get_strlist(struct walk *w, const struct node *n, const char *path, bool nonempty)
{
	char **v;
	size_t k = 0;
	bool ok = true;

	if (!want(w, n, N_SEQ, path))
		return NULL;
	if (nonempty && !n->nkids) {
		node_err(w->l, n, "'%s' must not be empty", path);
		return NULL;
	}
	v = svc_calloc(n->nkids + 1, sizeof(*v));
	for (size_t i = 0; i < n->nkids; i++) {
		char idx[32], *p;
		snprintf(idx, sizeof(idx), "[%zu]", i);
		p = path_join(path, idx);
		if (want_value(w, n->kids[i], p))
			v[k++] = svc_strdup(n->kids[i]->value);
		else
			ok = false;
		free(p);
	}
	if (!ok) {
		svc_strv_free(v);
		return NULL;
	}
	return v;
}

/* Check ${...} placeholders: only PORT, VERSION, SERVICE and INSTANCE. */
static const char *const vars[] = { "PORT", "VERSION", "SERVICE", "INSTANCE" };

static void check_placeholders(struct walk *w, const struct node *n, const char *path)
{
	const char *s = n->value;

	for (const char *p = s; *p; p++) {
		const char *end;
		bool known = false;

		if (p[0] != '$')
			continue;
		if (p[1] == '$') {
			p++;
			continue;
		}
		if (p[1] != '{')
			continue;
		end = strchr(p + 2, '}');
		if (!end) {
			node_err(w->l, n, "'%s': unterminated '${' in '%s'", path, s);
			return;
		}
		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			if ((size_t)(end - p - 2) == strlen(vars[i]) && !strncmp(p + 2, vars[i], strlen(vars[i])))
				known = true;
		if (!known)
			node_err(w->l, n, "'%s': unknown variable '%.*s' (use ${PORT}, ${VERSION}, "
				 "${SERVICE} or ${INSTANCE}; $$ for a '$')", path, (int)(end - p + 1), p);
		p = end;
	}
}

char *svc_manifest_expand(const char *tmpl, const struct svc_expand_vars *v)
{
	size_t len = 0, alloc = strlen(tmpl) + 64;
	char *out = svc_calloc(alloc, 1);

	for (const char *p = tmpl; *p; p++) {
		const char *add = NULL, *end;
		char one[2] = { *p, 0 };
		size_t n;

		if (p[0] == '$' && p[1] == '$') {
			add = "$";
			p++;
		} else if (p[0] == '$' && p[1] == '{' && (end = strchr(p + 2, '}'))) {
			size_t k = (size_t)(end - p - 2);
			const char *vals[] = { v ? v->port : NULL, v ? v->version : NULL,
					       v ? v->service : NULL, v ? v->instance : NULL };
			for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
				if (k == strlen(vars[i]) && !strncmp(p + 2, vars[i], k))
					add = vals[i] ? vals[i] : "";
			if (add)
				p = end;
			else
				add = one;
		} else {
			add = one;
		}
		n = strlen(add);
		if (len + n + 1 > alloc) {
			alloc = (len + n + 1) * 2;
			out = svc_realloc(out, alloc, 1);
		}
		memcpy(out + len, add, n);
		len += n;
		out[len] = '\0';
	}
	return out;
}

/* Resolve p against dir, lexically ("." and ".." folded). Caller frees. */
static char *resolve_path(const char *dir, const char *p)
{
	char *joined = p[0] == '/' ? svc_strdup(p) : svc_strfmt("%s/%s", dir, p);
	char *out = svc_calloc(strlen(joined) + 2, 1);
	size_t len = 0;

	for (const char *seg = joined; *seg;) {
		size_t n = strcspn(seg, "/");

		if (n == 0 || (n == 1 && seg[0] == '.')) {
			/* empty or "." segment */
		} else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else {
			out[len++] = '/';
			memcpy(out + len, seg, n);
			len += n;
		}
		seg += n;
		if (*seg == '/')
			seg++;
	}
	if (!len)
		out[len++] = '/';
	out[len] = '\0';
	free(joined);
	return out;
}

/*
 * Walk a mapping: each key must be one of keys[] (NULL-terminated); calls
 * fn for each known key. Unknown and non-scalar keys are errors.
 */
typedef void (*entry_fn)(struct walk *w, const char *key, const struct node *k,
			 const struct node *v, const char *path, void *arg);

static void walk_map(struct walk *w, const struct node *n, const char *section,
		     const char *const *keys, entry_fn fn, void *arg)
{
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		const struct node *k = n->kids[i], *v = n->kids[i + 1];
		bool known = false;
		char *path;

		if (k->kind != N_SCALAR) {
			node_err(w->l, k, "%s%s%skeys must be plain strings", section[0] ? "'" : "",
				 section, section[0] ? "': " : "");
			continue;
		}
		for (size_t j = 0; j < i; j += 2) {
			if (n->kids[j]->kind == N_SCALAR && !strcmp(n->kids[j]->value, k->value)) {
				node_err(w->l, k, "duplicate key '%s'%s%s%s (first at line %d)", k->value,
					 section[0] ? " in '" : "", section, section[0] ? "'" : "",
					 n->kids[j]->line);
				known = true; /* reported */
				goto next;
			}
		}
		for (size_t j = 0; keys[j]; j++)
			if (!strcmp(keys[j], k->value))
				known = true;
		if (!known) {
			if (section[0])
				node_err(w->l, k, "unknown key '%s' in '%s'", k->value, section);
			else
				node_err(w->l, k, "unknown key '%s'", k->value);
			continue;
		}
		path = path_join(section, k->value);
		fn(w, k->value, k, v, path, arg);
		free(path);
next:
		;
	}
}

static const struct node *map_get(const struct node *n, const char *key)
{
	if (!n || n->kind != N_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < n->nkids; i += 2)
		if (n->kids[i]->kind == N_SCALAR && !strcmp(n->kids[i]->value, key))
			return n->kids[i + 1];
	return NULL;
}

/* -- build -- */

static bool rel_path_ok(const char *p)
{
	if (!p[0] || p[0] == '/')
		return false;
	for (const char *seg = p; *seg;) {
		size_t n = strcspn(seg, "/");

		if (n == 2 && seg[0] == '.' && seg[1] == '.')
			return false;
		seg += n;
		if (*seg == '/')
			seg++;
	}
	return true;
}

static void dep_entry(struct walk *w, const char *key, const struct node *k,
		      const struct node *v, const char *path, void *arg)
{
	struct svc_dependency *d = arg;
	char **slot = !strcmp(key, "name") ? &d->name : !strcmp(key, "git") ? &d->git
		    : !strcmp(key, "ref") ? &d->ref : &d->into;

	(void)k;
	*slot = get_str(w, v, path);
	if (*slot && !strcmp(key, "into") && !rel_path_ok(*slot)) {
		node_err(w->l, v, "'%s' must be a relative path inside the build folder (no '..')",
			 path);
		free(*slot);
		*slot = NULL;
	}
}

static void build_entry(struct walk *w, const char *key, const struct node *k,
			const struct node *v, const char *path, void *arg)
{
	static const char *const dep_keys[] = { "name", "git", "ref", "into", NULL };
	struct svc_build *b = &w->m->build;

	(void)k;
	(void)arg;
	if (!strcmp(key, "context")) {
		char *s = get_str(w, v, path);
		if (s)
			b->context = resolve_path(w->m->dir, s);
		free(s);
	} else if (!strcmp(key, "command")) {
		b->command = get_strlist(w, v, path, true);
	} else if (!strcmp(key, "artifact")) {
		b->artifact = get_str(w, v, path);
	} else if (!strcmp(key, "dockerfile")) {
		b->dockerfile = get_str(w, v, path);
	} else if (!strcmp(key, "dependencies")) {
		if (!want(w, v, N_SEQ, path))
			return;
		b->deps = svc_calloc(v->nkids + 1, sizeof(*b->deps));
		for (size_t i = 0; i < v->nkids; i++) {
			struct svc_dependency *d = &b->deps[b->ndeps];
			const struct node *item = v->kids[i];
			char idx[32], *p;
			snprintf(idx, sizeof(idx), "[%zu]", i);
			p = path_join(path, idx);
			if (want(w, item, N_MAP, p)) {
				walk_map(w, item, p, dep_keys, dep_entry, d);
				for (size_t j = 0; dep_keys[j]; j++)
					if (!map_get(item, dep_keys[j]))
						node_err(w->l, item, "'%s.%s' is required", p, dep_keys[j]);
				for (size_t j = 0; d->name && j < b->ndeps; j++)
					if (b->deps[j].name && !strcmp(b->deps[j].name, d->name))
						node_err(w->l, item, "'%s': dependency '%s' is listed twice",
							 p, d->name);
				b->ndeps++;
			}
			free(p);
		}
	}
}

static int signal_by_name(const char *name)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "WINCH", SIGWINCH },
	};

	if (!strncmp(name, "SIG", 3))
		name += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcmp(name, sigs[i].name))
			return sigs[i].sig;
	return 0;
}

static bool env_key_ok(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
		return false;
	for (k++; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_' ||
		      (*k >= '0' && *k <= '9')))
			return false;
	return true;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svc_kv *)a)->key, ((const struct svc_kv *)b)->key);
}

static void run_entry(struct walk *w, const char *key, const struct node *k,
		      const struct node *v, const char *path, void *arg)
{
	struct svc_run *r = &w->m->run;

	(void)k;
	(void)arg;
	if (!strcmp(key, "command")) {
		r->command = get_strlist(w, v, path, true);
		for (size_t i = 0; r->command && i < v->nkids; i++) {
			char idx[32], *p;
			snprintf(idx, sizeof(idx), "[%zu]", i);
			p = path_join(path, idx);
			check_placeholders(w, v->kids[i], p);
			free(p);
		}
	} else if (!strcmp(key, "image")) {
		r->image = get_str(w, v, path);
	} else if (!strcmp(key, "workdir")) {
		char *s = get_str(w, v, path);
		if (s) {
			free(r->workdir);
			r->workdir = resolve_path(w->m->dir, s);
		}
		free(s);
	} else if (!strcmp(key, "env")) {
		if (!want(w, v, N_MAP, path))
			return;
		r->env = svc_calloc(v->nkids / 2 + 1, sizeof(*r->env));
		for (size_t i = 0; i + 1 < v->nkids; i += 2) {
			const struct node *ek = v->kids[i], *ev = v->kids[i + 1];
			char *p;
			bool dup = false;
			if (ek->kind != N_SCALAR || !env_key_ok(ek->value)) {
				node_err(w->l, ek, "'%s': invalid variable name '%s'", path, key_text(ek));
				continue;
			}
			p = path_join(path, ek->value);
			for (size_t j = 0; j < r->nenv; j++)
				dup |= !strcmp(r->env[j].key, ek->value);
			if (dup) {
				node_err(w->l, ek, "duplicate key '%s' in '%s'", ek->value, path);
			} else if (!strcmp(ek->value, "PORT")) {
				node_err(w->l, ek, "'%s': 'PORT' is set by svcctl", p);
			} else if (want(w, ev, N_SCALAR, p)) {
				check_placeholders(w, ev, p);
				r->env[r->nenv].key = svc_strdup(ek->value);
				r->env[r->nenv].value = svc_strdup(ev->value);
				r->nenv++;
			}
			free(p);
		}
		qsort(r->env, r->nenv, sizeof(*r->env), kv_cmp);
	} else if (!strcmp(key, "stop_signal")) {
		char *s = get_str(w, v, path);
		int sig = s ? signal_by_name(s) : 0;
		if (s && !sig)
			node_err(w->l, v, "'%s': unknown signal '%s' (TERM INT QUIT HUP KILL USR1 USR2 "
				 "WINCH)", path, s);
		if (sig) {
			r->stop_signal = sig;
			free(r->stop_signal_name);
			r->stop_signal_name = svc_strdup(!strncmp(s, "SIG", 3) ? s + 3 : s);
		}
		free(s);
	} else if (!strcmp(key, "stop_timeout")) {
		get_duration(w, v, path, 0, 3600000, &r->stop_timeout_ms);
	}
}

static void port_entry(struct walk *w, const char *key, const struct node *k,
		       const struct node *v, const char *path, void *arg)
{
	struct svc_port *p = arg;
	size_t idx = (size_t)(p - w->m->ports);

	(void)k;
	if (!strcmp(key, "name")) {
		char *s = get_str(w, v, path);
		if (s && !svc_name_valid(s)) {
			node_err(w->l, v, "'%s': invalid port name '%s' ([a-z][a-z0-9-]*)", path, s);
		} else if (s) {
			free(p->name);
			p->name = s;
			s = NULL;
		}
		free(s);
	} else if (!strcmp(key, "listen")) {
		if (get_addr(w, v, path, &p->listen)) {
			w->m->listen_pos[idx].line = v->line;
			w->m->listen_pos[idx].column = v->col;
		}
	} else if (!strcmp(key, "target")) {
		get_int(w, v, path, 1, 65535, &p->target);
	}
}

static void health_entry(struct walk *w, const char *key, const struct node *k,
			 const struct node *v, const char *path, void *arg)
{
	struct svc_health *h = &w->m->health;
	int *seen = arg;  /* seen[0]: http, seen[1]: tcp, seen[2]: expect_status */

	(void)k;
	if (!strcmp(key, "http")) {
		char *s = get_str(w, v, path);
		if (s && s[0] != '/') {
			node_err(w->l, v, "'%s': the path must start with '/'", path);
		} else if (s) {
			h->http_path = s;
			s = NULL;
			seen[0] = v->line;
		}
		free(s);
	} else if (!strcmp(key, "tcp")) {
		bool b;
		if (get_bool(w, v, path, &b)) {
			if (!b)
				node_err(w->l, v, "'%s': only 'true' is accepted (leave it out otherwise)", path);
			else
				seen[1] = v->line;
		}
	} else if (!strcmp(key, "expect_status")) {
		struct svc_error e = { 0 };
		if (want_value(w, v, path)) {
			if (svc_status_range_parse(&h->status_lo, &h->status_hi, v->value, &e))
				node_err(w->l, v, "'%s': %s", path, e.message);
			else
				seen[2] = v->line;
		}
	} else if (!strcmp(key, "interval")) {
		get_duration(w, v, path, 10, 3600000, &h->interval_ms);
	} else if (!strcmp(key, "timeout")) {
		get_duration(w, v, path, 10, 3600000, &h->timeout_ms);
	} else if (!strcmp(key, "healthy_threshold")) {
		get_int(w, v, path, 1, 100, &h->healthy_threshold);
	} else if (!strcmp(key, "unhealthy_threshold")) {
		get_int(w, v, path, 1, 100, &h->unhealthy_threshold);
	} else if (!strcmp(key, "start_timeout")) {
		get_duration(w, v, path, 100, 24 * 3600000LL, &h->start_timeout_ms);
	}
}

static void rollout_entry(struct walk *w, const char *key, const struct node *k,
			  const struct node *v, const char *path, void *arg)
{
	struct svc_rollout_spec *r = &w->m->rollout;

	(void)k;
	(void)arg;
	if (!strcmp(key, "promote")) {
		char *s = get_str(w, v, path);
		if (s && !strcmp(s, "manual"))
			r->manual = true;
		else if (s && strcmp(s, "auto"))
			node_err(w->l, v, "'%s': expected auto or manual, found '%s'", path, s);
		free(s);
	} else if (!strcmp(key, "preview")) {
		if (get_addr(w, v, path, &r->preview)) {
			r->has_preview = true;
			w->m->preview_pos.line = v->line;
			w->m->preview_pos.column = v->col;
		}
	} else if (!strcmp(key, "drain_timeout")) {
		get_duration(w, v, path, 0, 24 * 3600000LL, &r->drain_timeout_ms);
	} else if (!strcmp(key, "keep_previous")) {
		get_duration(w, v, path, 0, 7 * 24 * 3600000LL, &r->keep_previous_ms);
	} else if (!strcmp(key, "bake")) {
		get_duration(w, v, path, 0, 24 * 3600000LL, &r->bake_ms);
	}
}

static bool api_version_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static char **get_versions(struct walk *w, const struct node *v, const char *path)
{
	char **list = get_strlist(w, v, path, false);

	for (size_t i = 0; list && list[i]; i++)
		if (!api_version_ok(list[i]))
			node_err(w->l, v->kids[i], "'%s': invalid API version '%s'", path, list[i]);
	return list;
}

static void api_entry(struct walk *w, const char *key, const struct node *k,
		      const struct node *v, const char *path, void *arg)
{
	struct svc_api *a = &w->m->api;

	(void)k;
	(void)arg;
	if (!strcmp(key, "provides")) {
		a->provides = get_versions(w, v, path);
	} else if (!strcmp(key, "requires")) {
		if (!want(w, v, N_MAP, path))
			return;
		w->m->api_requires_pos.line = v->line;
		w->m->api_requires_pos.column = v->col;
		a->requires = svc_calloc(v->nkids / 2 + 1, sizeof(*a->requires));
		for (size_t i = 0; i + 1 < v->nkids; i += 2) {
			const struct node *rk = v->kids[i];
			char *p;
			if (rk->kind != N_SCALAR || !svc_name_valid(rk->value)) {
				node_err(w->l, rk, "'%s': invalid service name '%s'", path, key_text(rk));
				continue;
			}
			p = path_join(path, rk->value);
			a->requires[a->nrequires].service = svc_strdup(rk->value);
			a->requires[a->nrequires].versions = get_versions(w, v->kids[i + 1], p);
			if (!a->requires[a->nrequires].versions)
				a->requires[a->nrequires].versions = svc_calloc(1, sizeof(char *));
			a->nrequires++;
			free(p);
		}
	}
}

static void top_entry(struct walk *w, const char *key, const struct node *k,
		      const struct node *v, const char *path, void *arg)
{
	static const char *const build_keys[] = { "context", "command", "artifact",
						   "dockerfile", "dependencies", NULL };
	static const char *const run_keys[] = { "command", "image", "workdir", "env",
						 "stop_signal", "stop_timeout", NULL };
	static const char *const port_keys[] = { "name", "listen", "target", NULL };
	static const char *const health_keys[] = { "http", "tcp", "expect_status", "interval",
						    "timeout", "healthy_threshold",
						    "unhealthy_threshold", "start_timeout", NULL };
	static const char *const rollout_keys[] = { "promote", "preview", "drain_timeout",
						     "keep_previous", "bake", NULL };
	static const char *const api_keys[] = { "provides", "requires", NULL };
	struct svc_manifest *m = w->m;
	int *health_seen = arg;

	(void)k;
	if (!strcmp(key, "service")) {
		char *s = get_str(w, v, path);
		if (s && !svc_name_valid(s)) {
			node_err(w->l, v, "'service': invalid name '%s' (expected [a-z][a-z0-9-]{0,62})", s);
			free(s);
		} else if (s) {
			m->service = s;
			m->service_pos.line = v->line;
			m->service_pos.column = v->col;
		}
	} else if (!strcmp(key, "runtime")) {
		char *s = get_str(w, v, path);
		if (s && !strcmp(s, "process"))
			m->runtime = SVC_RUNTIME_PROCESS;
		else if (s && !strcmp(s, "docker"))
			m->runtime = SVC_RUNTIME_DOCKER;
		else if (s && !strcmp(s, "swarm"))
			m->runtime = SVC_RUNTIME_SWARM;
		else if (s)
			node_err(w->l, v, "'runtime': expected process, docker or swarm, found '%s'", s);
		free(s);
	} else if (!strcmp(key, "replicas")) {
		get_int(w, v, path, 1, MAX_REPLICAS, &m->replicas);
	} else if (!strcmp(key, "version")) {
		m->version = get_str(w, v, path);
	} else if (!strcmp(key, "build")) {
		if (want(w, v, N_MAP, path)) {
			m->build.present = true;
			walk_map(w, v, path, build_keys, build_entry, NULL);
			if (!map_get(v, "context"))
				node_err(w->l, v, "'build.context' is required");
		}
	} else if (!strcmp(key, "run")) {
		if (want(w, v, N_MAP, path))
			walk_map(w, v, path, run_keys, run_entry, NULL);
	} else if (!strcmp(key, "ports")) {
		if (!want(w, v, N_SEQ, path))
			return;
		m->ports = svc_calloc(v->nkids + 1, sizeof(*m->ports));
		m->listen_pos = svc_calloc(v->nkids + 1, sizeof(*m->listen_pos));
		for (size_t i = 0; i < v->nkids; i++) {
			struct svc_port *p = &m->ports[m->nports];
			char idx[32], *pp;
			snprintf(idx, sizeof(idx), "[%zu]", i);
			pp = path_join(path, idx);
			if (want(w, v->kids[i], N_MAP, pp)) {
				p->name = svc_strdup("http");
				walk_map(w, v->kids[i], pp, port_keys, port_entry, p);
				if (!map_get(v->kids[i], "listen"))
					node_err(w->l, v->kids[i], "'%s.listen' is required", pp);
				for (size_t j = 0; j < m->nports; j++)
					if (!strcmp(m->ports[j].name, p->name))
						node_err(w->l, v->kids[i], "'%s': port name '%s' is used twice",
							 pp, p->name);
				m->nports++;
			}
			free(pp);
		}
	} else if (!strcmp(key, "health")) {
		if (want(w, v, N_MAP, path))
			walk_map(w, v, path, health_keys, health_entry, health_seen);
	} else if (!strcmp(key, "rollout")) {
		if (want(w, v, N_MAP, path))
			walk_map(w, v, path, rollout_keys, rollout_entry, NULL);
	} else if (!strcmp(key, "api")) {
		if (want(w, v, N_MAP, path))
			walk_map(w, v, path, api_keys, api_entry, NULL);
	}
}

static void set_defaults(struct svc_manifest *m)
{
	m->replicas = 1;
	m->run.workdir = svc_strdup(m->dir);
	m->run.stop_signal = SIGTERM;
	m->run.stop_signal_name = svc_strdup("TERM");
	m->run.stop_timeout_ms = 10000;
	m->health.status_lo = 200;
	m->health.status_hi = 399;
	m->health.interval_ms = 1000;
	m->health.timeout_ms = 1000;
	m->health.healthy_threshold = 2;
	m->health.unhealthy_threshold = 3;
	m->health.start_timeout_ms = 60000;
	m->rollout.drain_timeout_ms = 30000;
	m->rollout.keep_previous_ms = 600000;
	m->rollout.bake_ms = 0;
}

/* Checks that involve several keys, after the walk. */
static void check_whole(struct walk *w, const struct node *root, const int *health_seen)
{
	struct svc_manifest *m = w->m;
	const struct node *run = map_get(root, "run"), *ports = map_get(root, "ports");
	const struct node *health = map_get(root, "health"), *rollout = map_get(root, "rollout");

	if (!map_get(root, "service"))
		node_err(w->l, root, "'service' is required");
	if (m->runtime == SVC_RUNTIME_PROCESS) {
		if (!map_get(run, "command"))
			node_err(w->l, run ? run : root, "'run.command' is required for the process runtime");
		if (m->nports > 1)
			node_err(w->l, ports->kids[1], "'ports': the process runtime supports one port");
	} else {
		if (!map_get(run, "image") && !m->build.dockerfile)
			node_err(w->l, run ? run : root, "'run.image' is required for the %s runtime "
				 "(or build.dockerfile)", svc_runtime_kind_name(m->runtime));
		for (size_t i = 0; i < m->nports; i++)
			if (!m->ports[i].target)
				node_err(w->l, ports->kids[i], "'ports[%zu].target' is required for the "
					 "%s runtime (the port inside the container)", i,
					 svc_runtime_kind_name(m->runtime));
		if (m->nports > 1)
			node_err(w->l, ports->kids[1], "'ports': one port per service for now");
	}
	if (health_seen[0] && health_seen[1])
		node_err(w->l, health, "'health': give http or tcp, not both");
	if (health_seen[2] && !health_seen[0])
		node_err(w->l, health, "'health.expect_status' needs 'health.http'");
	if (health_seen[0])
		m->health.kind = SVC_HEALTH_HTTP;
	else if (health_seen[1] || m->nports)
		m->health.kind = SVC_HEALTH_TCP;
	else
		m->health.kind = SVC_HEALTH_RUNNING;
	if ((health_seen[0] || health_seen[1]) && !m->nports)
		node_err(w->l, health, "'health': http and tcp checks need a port in 'ports'");
	if (m->rollout.has_preview && !m->nports)
		node_err(w->l, map_get(rollout, "preview"), "'rollout.preview' needs a port in 'ports'");
	for (size_t i = 0; m->rollout.has_preview && i < m->nports; i++)
		if (!strcmp(m->ports[i].listen.text, m->rollout.preview.text))
			node_err(w->l, map_get(rollout, "preview"),
				 "'rollout.preview' must differ from ports[%zu].listen", i);
	for (size_t i = 0; i < m->nports; i++)
		for (size_t j = 0; j < i; j++)
			if (m->ports[i].listen.port && !strcmp(m->ports[i].listen.text, m->ports[j].listen.text))
				errf(w->l, m->listen_pos[i].line, m->listen_pos[i].column,
				     "'ports[%zu].listen': %s is used twice", i, m->ports[i].listen.text);
}

int svc_manifest_load_buffer(struct svc_manifest **out, const char *buf,
			     size_t len, const char *display_path,
			     const char *base_dir, struct svc_diags *diags)
{
	struct loader l = { display_path, diags, 0 };
	struct walk w;
	struct node *root = NULL;
	struct svc_manifest *m;
	int health_seen[3] = { 0, 0, 0 };
	static const char *const top_keys[] = { "service", "runtime", "replicas", "version",
						 "build", "run", "ports", "health", "rollout",
						 "api", NULL };

	*out = NULL;
	if (len > MAX_FILE) {
		errf(&l, 0, 0, "the manifest is larger than %d bytes", MAX_FILE);
		return SVC_EMANIFEST;
	}
	if (memchr(buf, '\0', len)) {
		const char *z = memchr(buf, '\0', len);
		int line = 1, col = 1;
		for (const char *p = buf; p < z; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		errf(&l, line, col, "NUL bytes are not allowed (is this a binary file?)");
		return SVC_EMANIFEST;
	}
	root = build_tree(&l, buf, len);
	if (!root)
		return SVC_EMANIFEST;
	if (root->kind != N_MAP) {
		node_err(&l, root, "the top level must be a mapping (service: ..., run: ...), "
			 "found %s", kind_name(root->kind));
		node_free(root);
		return SVC_EMANIFEST;
	}
	m = svc_calloc(1, sizeof(*m));
	m->path = svc_strdup(display_path);
	m->dir = resolve_path("/", base_dir);
	set_defaults(m);
	w.l = &l;
	w.m = m;
	walk_map(&w, root, "", top_keys, top_entry, health_seen);
	check_whole(&w, root, health_seen);
	node_free(root);
	if (l.errors) {
		svc_manifest_free(m);
		return SVC_EMANIFEST;
	}
	*out = m;
	return 0;
}

int svc_manifest_load(struct svc_manifest **out, const char *path,
		      struct svc_diags *diags)
{
	char *buf = NULL, *dir, *slash, *abs = NULL;
	size_t len = 0;
	struct svc_error err = { 0 };
	int rc;

	*out = NULL;
	rc = svc_file_read(&buf, &len, path, MAX_FILE, &err);
	if (rc) {
		/* svc_file_read's message names the file already */
		snprintf(err.file, sizeof(err.file), "%s", path);
		snprintf(err.message, sizeof(err.message), "cannot read the manifest: %s",
			 rc == SVC_ENOTFOUND ? "no such file" : strerror(errno));
		err.code = SVC_EMANIFEST;
		svc_diags_add(diags, &err);
		return rc == SVC_ENOTFOUND ? SVC_ENOTFOUND : SVC_EMANIFEST;
	}
	dir = svc_strdup(path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	abs = realpath(slash ? (dir[0] ? dir : "/") : ".", NULL);
	free(dir);
	if (!abs) {
		svc_diags_addf(diags, path, 0, 0, "cannot resolve the folder of the manifest: %s",
			       strerror(errno));
		free(buf);
		return SVC_EMANIFEST;
	}
	rc = svc_manifest_load_buffer(out, buf, len, path, abs, diags);
	free(abs);
	free(buf);
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
	free(m->build.context);
	svc_strv_free(m->build.command);
	free(m->build.artifact);
	free(m->build.dockerfile);
	for (size_t i = 0; i < m->build.ndeps; i++) {
		free(m->build.deps[i].name);
		free(m->build.deps[i].git);
		free(m->build.deps[i].ref);
		free(m->build.deps[i].into);
	}
	free(m->build.deps);
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

const char *svc_runtime_kind_name(enum svc_runtime_kind k)
{
	switch (k) {
	case SVC_RUNTIME_DOCKER:
		return "docker";
	case SVC_RUNTIME_SWARM:
		return "swarm";
	default:
		return "process";
	}
}

/* ---- canonical JSON and the release id ---- */

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *svc_manifest_to_json(const struct svc_manifest *m)
{
	static const char *const health_kinds[] = { "running", "http", "tcp" };
	json_t *j = json_object(), *run, *env, *ports, *health, *rollout, *api, *req;

	json_object_set_new(j, "service", json_string(m->service));
	json_object_set_new(j, "runtime", json_string(svc_runtime_kind_name(m->runtime)));
	json_object_set_new(j, "replicas", json_integer(m->replicas));
	json_object_set_new(j, "version", str_or_null(m->version));
	json_object_set_new(j, "dir", json_string(m->dir));
	if (m->build.present) {
		json_t *b = json_object(), *deps = json_array();
		json_object_set_new(b, "context", str_or_null(m->build.context));
		json_object_set_new(b, "command", m->build.command ? strv_json(m->build.command)
								   : json_null());
		json_object_set_new(b, "artifact", str_or_null(m->build.artifact));
		json_object_set_new(b, "dockerfile", str_or_null(m->build.dockerfile));
		for (size_t i = 0; i < m->build.ndeps; i++)
			json_array_append_new(deps, json_pack("{s:s?, s:s?, s:s?, s:s?}",
				"name", m->build.deps[i].name, "git", m->build.deps[i].git,
				"ref", m->build.deps[i].ref, "into", m->build.deps[i].into));
		json_object_set_new(b, "dependencies", deps);
		json_object_set_new(j, "build", b);
	} else {
		json_object_set_new(j, "build", json_null());
	}
	run = json_object();
	json_object_set_new(run, "command", m->run.command ? strv_json(m->run.command) : json_null());
	json_object_set_new(run, "image", str_or_null(m->run.image));
	json_object_set_new(run, "workdir", str_or_null(m->run.workdir));
	env = json_object();
	for (size_t i = 0; i < m->run.nenv; i++)
		json_object_set_new(env, m->run.env[i].key, json_string(m->run.env[i].value));
	json_object_set_new(run, "env", env);
	json_object_set_new(run, "stop_signal", json_string(m->run.stop_signal_name));
	json_object_set_new(run, "stop_timeout_ms", json_integer(m->run.stop_timeout_ms));
	json_object_set_new(j, "run", run);
	ports = json_array();
	for (size_t i = 0; i < m->nports; i++)
		json_array_append_new(ports, json_pack("{s:s, s:s, s:i}", "name", m->ports[i].name,
						       "listen", m->ports[i].listen.text,
						       "target", m->ports[i].target));
	json_object_set_new(j, "ports", ports);
	health = json_pack("{s:s, s:o, s:i, s:i, s:I, s:I, s:i, s:i, s:I}",
			   "kind", health_kinds[m->health.kind],
			   "http", str_or_null(m->health.http_path),
			   "status_lo", m->health.status_lo, "status_hi", m->health.status_hi,
			   "interval_ms", (json_int_t)m->health.interval_ms,
			   "timeout_ms", (json_int_t)m->health.timeout_ms,
			   "healthy_threshold", m->health.healthy_threshold,
			   "unhealthy_threshold", m->health.unhealthy_threshold,
			   "start_timeout_ms", (json_int_t)m->health.start_timeout_ms);
	json_object_set_new(j, "health", health);
	rollout = json_pack("{s:s, s:o, s:I, s:I, s:I}",
			    "promote", m->rollout.manual ? "manual" : "auto",
			    "preview", m->rollout.has_preview ? json_string(m->rollout.preview.text)
							      : json_null(),
			    "drain_timeout_ms", (json_int_t)m->rollout.drain_timeout_ms,
			    "keep_previous_ms", (json_int_t)m->rollout.keep_previous_ms,
			    "bake_ms", (json_int_t)m->rollout.bake_ms);
	json_object_set_new(j, "rollout", rollout);
	req = json_object();
	for (size_t i = 0; i < m->api.nrequires; i++)
		json_object_set_new(req, m->api.requires[i].service,
				    strv_json(m->api.requires[i].versions));
	api = json_pack("{s:o, s:o}", "provides", strv_json(m->api.provides), "requires", req);
	json_object_set_new(j, "api", api);
	return j;
}

void svc_manifest_release_id(const struct svc_manifest *m, char out[65])
{
	json_t *j = svc_manifest_to_json(m);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (!text) {
		fputs("svcctl: cannot encode a manifest\n", stderr);
		abort();
	}
	svc_sha256_hex(out, text, strlen(text));
	free(text);
	json_decref(j);
}

/* ---- sets of manifests ---- */

static bool yaml_name(const char *n)
{
	size_t len = strlen(n);

	return n[0] != '.' && ((len > 5 && !strcmp(n + len - 5, ".yaml")) ||
			       (len > 4 && !strcmp(n + len - 4, ".yml")));
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_add_file(struct svc_manifest_set *set, const char *path, struct svc_diags *d)
{
	struct svc_manifest *m = NULL;

	set->nfiles++;
	if (svc_manifest_load(&m, path, d) == 0) {
		set->items = svc_realloc(set->items, set->count + 1, sizeof(*set->items));
		set->items[set->count++] = m;
	}
}

static void cross_check(struct svc_manifest_set *set, struct svc_diags *d)
{
	for (size_t i = 0; i < set->count; i++) {
		struct svc_manifest *a = set->items[i];

		for (size_t j = 0; j < i; j++) {
			struct svc_manifest *b = set->items[j];
			if (!strcmp(a->service, b->service))
				svc_diags_addf(d, a->path, a->service_pos.line, a->service_pos.column,
					       "service '%s' is also defined in %s:%d", a->service,
					       b->path, b->service_pos.line);
		}
		/* every address a claims, against every address b claims */
		for (size_t j = 0; j < set->count; j++) {
			struct svc_manifest *b = set->items[j];
			for (size_t x = 0; x <= a->nports; x++) {
				const struct svc_addr *aa = x < a->nports ? &a->ports[x].listen
					: a->rollout.has_preview ? &a->rollout.preview : NULL;
				const struct svc_pos *ap = x < a->nports ? &a->listen_pos[x] : &a->preview_pos;
				if (!aa || i == j)
					continue;
				for (size_t y = 0; y <= b->nports; y++) {
					const struct svc_addr *bb = y < b->nports ? &b->ports[y].listen
						: b->rollout.has_preview ? &b->rollout.preview : NULL;
					const struct svc_pos *bp = y < b->nports ? &b->listen_pos[y]
										 : &b->preview_pos;
					if (bb && !strcmp(aa->text, bb->text))
						svc_diags_addf(d, a->path, ap->line, ap->column,
							       "address %s is also used by service '%s' (%s:%d)",
							       aa->text, b->service, b->path, bp->line);
				}
			}
		}
		for (size_t r = 0; r < a->api.nrequires; r++) {
			const struct svc_api_require *req = &a->api.requires[r];
			struct svc_manifest *peer = svc_manifest_set_find(set, req->service);
			if (!peer)
				continue;
			for (size_t v = 0; req->versions[v]; v++) {
				bool found = false;
				for (size_t p = 0; peer->api.provides && peer->api.provides[p]; p++)
					found |= !strcmp(peer->api.provides[p], req->versions[v]);
				if (!found)
					svc_diags_addf(d, a->path, a->api_requires_pos.line,
						       a->api_requires_pos.column,
						       "'api.requires': service '%s' does not provide API "
						       "version '%s' (%s)", req->service, req->versions[v],
						       peer->path);
			}
		}
	}
}

int svc_manifest_set_load(struct svc_manifest_set *out, char *const *paths,
			  size_t npaths, struct svc_diags *diags)
{
	size_t before = diags->count;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st)) {
			svc_diags_addf(diags, paths[i], 0, 0, "cannot read: %s", strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *dir = opendir(paths[i]);
			struct dirent *de;
			char **names = svc_calloc(1, sizeof(*names));
			size_t n = 0;
			if (!dir) {
				svc_diags_addf(diags, paths[i], 0, 0, "cannot read: %s", strerror(errno));
				free(names);
				continue;
			}
			while ((de = readdir(dir))) {
				if (!yaml_name(de->d_name))
					continue;
				names = svc_realloc(names, n + 2, sizeof(*names));
				names[n++] = svc_strfmt("%s%s%s", paths[i],
							paths[i][strlen(paths[i]) - 1] == '/' ? "" : "/",
							de->d_name);
				names[n] = NULL;
			}
			closedir(dir);
			qsort(names, n, sizeof(*names), strp_cmp);
			for (size_t k = 0; k < n; k++)
				set_add_file(out, names[k], diags);
			svc_strv_free(names);
		} else {
			set_add_file(out, paths[i], diags);
		}
	}
	cross_check(out, diags);
	if (diags->count > before) {
		svc_diags_sort(diags);
		return SVC_EMANIFEST;
	}
	return 0;
}

void svc_manifest_set_release(struct svc_manifest_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		svc_manifest_free(set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

struct svc_manifest *svc_manifest_set_find(const struct svc_manifest_set *set,
					   const char *service)
{
	for (size_t i = 0; i < set->count; i++)
		if (!strcmp(set->items[i]->service, service))
			return set->items[i];
	return NULL;
}
