/*
 * report.h - progress and results, for people and for scripts.
 *
 * Library code reports each step as it happens through a struct svc_report;
 * the command line decides how it looks. Human mode writes one line per
 * step to out ("greeter: green healthy (2/2)"); JSON mode writes one JSON
 * object per line: {"event":"step","service":...,"step":...,"message":...,
 * "elapsed_ms":...} while working, and the command's final result object.
 * A NULL report is allowed everywhere and prints nothing. Reporting is
 * thread-safe: each line is written whole.
 */
#ifndef SVC_REPORT_H
#define SVC_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct svc_report {
	bool json;
	int verbosity;     /* -1 quiet, 0 normal, 1 verbose */
	FILE *out;         /* stdout */
	int64_t t0_ms;     /* monotonic start, for elapsed_ms */
};

void svc_report_init(struct svc_report *r, bool json, int verbosity, FILE *out);

/* A step of long work: shown unless quiet. */
void svc_report_step(struct svc_report *r, const char *service, const char *step,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Detail: shown only with -v (always emitted in JSON mode). */
void svc_report_detail(struct svc_report *r, const char *service, const char *step,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A warning: shown even when quiet (to stderr in human mode). */
void svc_report_warn(struct svc_report *r, const char *service,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The final result object of a JSON-mode command; steals the reference. */
void svc_report_result(struct svc_report *r, json_t *result);
/* Any other object of JSON mode, with "event": event added (a per-service
 * result of sync, a watcher's pass); steals the reference. Nothing in
 * human mode. */
void svc_report_event(struct svc_report *r, const char *event, json_t *obj);

#endif
