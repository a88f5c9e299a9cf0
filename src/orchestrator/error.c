/*
 * error.c - filling and formatting struct svc_error, and lists of them.
 *
 * The first failure found wins: svc_error_set never overwrites an error that
 * is already set, so the detail written where the failure was found reaches
 * the command line unchanged (libgit2's rule).
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC_DIAGS_MAX 1000

void svc_error_clear(struct svc_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

static void error_vset(struct svc_error *err, int code, const char *file,
		       int line, int column, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));
static void error_vset(struct svc_error *err, int code, const char *file,
		       int line, int column, const char *fmt, va_list ap)
{
	memset(err, 0, sizeof(*err));
	err->code = code ? code : SVC_EGENERIC;
	if (file)
		snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = line;
	err->column = column;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int svc_error_pass(struct svc_error *err, const struct svc_error *e, int rc)
{
	if (err && !err->code)
		*err = *e;
	return rc;
}

int svc_error_set(struct svc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	error_vset(err, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
	return code;
}

int svc_error_set_at(struct svc_error *err, int code, const char *file,
		     int line, int column, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	error_vset(err, code, file, line, column, fmt, ap);
	va_end(ap);
	return code;
}

int svc_error_set_errno(struct svc_error *err, int code, int errno_value,
			const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	error_vset(err, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
	used = strlen(err->message);
	snprintf(err->message + used, sizeof(err->message) - used, ": %s",
		 strerror(errno_value));
	return code;
}

const char *svc_error_format(const struct svc_error *err, char *buf, size_t len)
{
	if (!err->file[0])
		snprintf(buf, len, "%s", err->message);
	else if (err->line && err->column)
		snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line,
			 err->column, err->message);
	else if (err->line)
		snprintf(buf, len, "%s:%d: %s", err->file, err->line, err->message);
	else
		snprintf(buf, len, "%s: %s", err->file, err->message);
	return buf;
}

void svc_diags_init(struct svc_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void svc_diags_release(struct svc_diags *d)
{
	free(d->items);
	memset(d, 0, sizeof(*d));
}

int svc_diags_add(struct svc_diags *d, const struct svc_error *err)
{
	if (d->count >= SVC_DIAGS_MAX)
		return 0;
	if (d->count == d->alloc) {
		size_t n = d->alloc ? d->alloc * 2 : 8;
		struct svc_error *p = realloc(d->items, n * sizeof(*p));
		if (!p)
			return SVC_EGENERIC;
		d->items = p;
		d->alloc = n;
	}
	d->items[d->count++] = *err;
	return 0;
}

void svc_diags_addf(struct svc_diags *d, const char *file, int line, int column,
		    const char *fmt, ...)
{
	struct svc_error e;
	va_list ap;

	va_start(ap, fmt);
	error_vset(&e, SVC_EMANIFEST, file, line, column, fmt, ap);
	va_end(ap);
	svc_diags_add(d, &e);
}

static int diag_before(const struct svc_error *a, const struct svc_error *b)
{
	int c = strcmp(a->file, b->file);

	if (c)
		return c < 0;
	if (a->line != b->line)
		return a->line < b->line;
	return a->column < b->column;
}

/* Insertion sort: stable, and the lists are short. */
void svc_diags_sort(struct svc_diags *d)
{
	for (size_t i = 1; i < d->count; i++) {
		struct svc_error e = d->items[i];
		size_t j = i;

		while (j > 0 && diag_before(&e, &d->items[j - 1])) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = e;
	}
}
