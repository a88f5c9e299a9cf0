/*
 * report.c - the one place that decides how progress looks: a line per
 * step for people, a JSON object per line for scripts (--json).
 */
#include "report.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"

void svc_report_init(struct svc_report *r, bool json, int verbosity, FILE *out)
{
	r->json = json;
	r->verbosity = verbosity;
	r->out = out;
	r->t0_ms = svc_mono_ms();
}

/* Parallel builds report from several threads: one line at a time. */
static pthread_mutex_t emit_lock = PTHREAD_MUTEX_INITIALIZER;

static void emit(struct svc_report *r, const char *event, int min_verbosity,
		 const char *service, const char *step, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));
static void emit(struct svc_report *r, const char *event, int min_verbosity,
		 const char *service, const char *step, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&emit_lock);
	if (r->json) {
		json_t *j = json_pack("{s:s, s:s, s:I}", "event", event, "message", msg,
				      "elapsed_ms", (json_int_t)(svc_mono_ms() - r->t0_ms));
		char *line;
		if (service)
			json_object_set_new(j, "service", json_string(service));
		if (step)
			json_object_set_new(j, "step", json_string(step));
		line = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		if (line)
			fprintf(r->out, "%s\n", line);
		free(line);
		json_decref(j);
	} else if (!strcmp(event, "warning")) {
		fprintf(stderr, "svcctl: warning: %s%s%s\n", service ? service : "",
			service ? ": " : "", msg);
	} else if (r->verbosity >= min_verbosity) {
		fprintf(r->out, "%s%s%s\n", service ? service : "", service ? ": " : "", msg);
	}
	fflush(r->out);
	pthread_mutex_unlock(&emit_lock);
}

void svc_report_step(struct svc_report *r, const char *service, const char *step,
		     const char *fmt, ...)
{
	va_list ap;

	if (!r)
		return;
	va_start(ap, fmt);
	emit(r, "step", 0, service, step, fmt, ap);
	va_end(ap);
}

void svc_report_detail(struct svc_report *r, const char *service, const char *step,
		       const char *fmt, ...)
{
	va_list ap;

	if (!r)
		return;
	va_start(ap, fmt);
	emit(r, "detail", 1, service, step, fmt, ap);
	va_end(ap);
}

void svc_report_warn(struct svc_report *r, const char *service, const char *fmt, ...)
{
	va_list ap;

	if (!r)
		return;
	va_start(ap, fmt);
	emit(r, "warning", -1, service, NULL, fmt, ap);
	va_end(ap);
}

void svc_report_event(struct svc_report *r, const char *event, json_t *obj)
{
	char *line;

	if (!r || !r->json) {
		json_decref(obj);
		return;
	}
	json_object_set_new(obj, "event", json_string(event));
	line = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	pthread_mutex_lock(&emit_lock);
	if (line)
		fprintf(r->out, "%s\n", line);
	fflush(r->out);
	pthread_mutex_unlock(&emit_lock);
	free(line);
	json_decref(obj);
}

void svc_report_result(struct svc_report *r, json_t *result)
{
	svc_report_event(r, "result", result);
}
