/*
 * error.h - error codes and error details for the svcctl library.
 *
 * Every fallible function returns int: 0 on success, a negative SVC_E* code
 * otherwise, and fills a caller-supplied struct svc_error where the failure is
 * found. Once set, an error is never overwritten on the way up: svc_error_set
 * does nothing when err->code is already non-zero. Passing NULL for err is
 * allowed and drops the details.
 *
 * Messages are lowercase, without a final full stop, names quoted as '%s'.
 * Manifest errors carry file, line and column (1-based) and print as
 * "file:line:col: message".
 */
#ifndef SVC_ERROR_H
#define SVC_ERROR_H

#include <stddef.h>

enum svc_errcode {
	SVC_OK = 0,
	SVC_EGENERIC = -1,   /* anything else: I/O, out of memory, ... */
	SVC_EFAILED = -2,    /* the operation failed, the previous release still serves */
	SVC_EUSAGE = -3,     /* bad command-line use */
	SVC_EMANIFEST = -4,  /* invalid manifest(s) */
	SVC_ELOCKED = -5,    /* another operation holds the service's lock */
	SVC_EUNAVAIL = -6,   /* runtime or router unavailable */
	SVC_ENOTFOUND = -7,  /* no such service, release or file */
	SVC_ETIMEOUT = -8,   /* a deadline passed */
	SVC_ESTATE = -9,     /* a state file cannot be read (the message names it) */
	SVC_ECANCELED = -10, /* stopped on request (a newer commit, a shutdown) */
};

struct svc_error {
	int code;             /* 0 while unset */
	char file[512];       /* empty when the error has no position */
	int line;             /* 1-based; 0 when unknown */
	int column;           /* 1-based; 0 when unknown */
	char message[1024];
};

/* Reset err to "no error". */
void svc_error_clear(struct svc_error *err);

/*
 * Copy e into err (if err is not NULL and not already set) and return rc:
 * an error caught in a local struct passed on under the same contract.
 */
int svc_error_pass(struct svc_error *err, const struct svc_error *e, int rc);

/*
 * Set err (if err is not NULL and not already set) and return code, so that
 * callers can write `return svc_error_set(err, SVC_EGENERIC, "...")`.
 */
int svc_error_set(struct svc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same, with a position in a file. line/column are 1-based. */
int svc_error_set_at(struct svc_error *err, int code, const char *file,
		     int line, int column, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Same, appending ": strerror(errno_value)" to the message. */
int svc_error_set_errno(struct svc_error *err, int code, int errno_value,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Format err as "file:line:col: message" (or just "message") into buf. */
const char *svc_error_format(const struct svc_error *err, char *buf, size_t len);

/*
 * A growable list of errors, used where every error is reported, not just
 * the first (manifest validation). Entries are copied in.
 */
struct svc_diags {
	struct svc_error *items;
	size_t count;
	size_t alloc;
};

void svc_diags_init(struct svc_diags *d);
void svc_diags_release(struct svc_diags *d);
/* Append a copy of err. Returns 0, or SVC_EGENERIC when out of memory. */
int svc_diags_add(struct svc_diags *d, const struct svc_error *err);
/* Append a positioned error; the list keeps at most 1000 entries. */
void svc_diags_addf(struct svc_diags *d, const char *file, int line, int column,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Sort by file, line, column (stable for equal positions). */
void svc_diags_sort(struct svc_diags *d);

#endif
