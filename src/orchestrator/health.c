/*
 * health.c - the health checks that gate every switch of traffic.
 *
 * A probe is one HTTP GET made with a fresh libcurl easy handle (no proxy,
 * no redirects, the body read and thrown away up to a bound) or one
 * non-blocking TCP connect, each within the manifest's health.timeout. A
 * target whose alive() callback says its process is gone fails without
 * being contacted, so a crashed instance is not mistaken for a slow one.
 * Probes feed streaks (health.h): svc_health_wait gates a rollout on every
 * target becoming healthy, svc_health_watch bakes one by looking for a
 * target that turns unhealthy. Probes run one after the other: a rollout
 * checks a handful of instances, and sequential probes keep the timing and
 * the messages simple.
 */
#include "health.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* Bodies of health endpoints are small; stop reading after this much. */
#define HEALTH_BODY_MAX (64 * 1024)

void svc_health_target_init(struct svc_health_target *t, const char *name,
			    const char *host, int port)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
	snprintf(t->host, sizeof(t->host), "%s", host ? host : "");
	t->port = port;
}

struct body_sink {
	size_t len;
	bool overflow;
};

static size_t body_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body_sink *sink = arg;
	size_t n = size * nmemb;

	(void)ptr;
	sink->len += n;
	if (sink->len > HEALTH_BODY_MAX) {
		sink->overflow = true;
		return 0; /* abort the transfer: the status is all we need */
	}
	return n;
}

/* One HTTP GET; true when the status is within the expected range. */
static bool probe_http(const struct svc_health *h, struct svc_health_target *t)
{
	char errbuf[CURL_ERROR_SIZE];
	struct body_sink sink = { 0, false };
	const char *path = h->http_path ? h->http_path : "/";
	char *url = NULL;
	CURL *curl = NULL;
	CURLcode res;
	long status = 0, oserr = 0;
	long timeout = h->timeout_ms > 0 ? (long)h->timeout_ms : 1000;
	bool ok = false;

	url = svc_strfmt("http://%s%s%s:%d%s%s",
			 strchr(t->host, ':') ? "[" : "", t->host,
			 strchr(t->host, ':') ? "]" : "", t->port,
			 path[0] == '/' ? "" : "/", path);
	curl = curl_easy_init();
	if (!curl) {
		snprintf(t->last_detail, sizeof(t->last_detail), "cannot create a libcurl handle");
		goto done;
	}
	errbuf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_discard);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "svcctl-health");
	res = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &oserr);
	if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && sink.overflow && status > 0)) {
		const char *text = errbuf[0] ? errbuf : curl_easy_strerror(res);
		const char *os = oserr ? strerror((int)oserr) : NULL;

		/* Older libcurl says "Couldn't connect to server": name the cause. */
		if (os && !strstr(text, os))
			snprintf(t->last_detail, sizeof(t->last_detail), "%s (%s)", text, os);
		else
			snprintf(t->last_detail, sizeof(t->last_detail), "%s", text);
		goto done;
	}
	snprintf(t->last_detail, sizeof(t->last_detail), "HTTP %ld", status);
	ok = status >= h->status_lo && status <= h->status_hi;
done:
	if (curl)
		curl_easy_cleanup(curl);
	free(url);
	return ok;
}

/* One TCP connect; true when it is accepted within the timeout. */
static bool probe_tcp(const struct svc_health *h, struct svc_health_target *t)
{
	struct svc_addr addr;
	struct svc_error err;
	struct pollfd pfd;
	int fd = -1, soerr = 0, timeout = h->timeout_ms > 0 ? (int)h->timeout_ms : 1000;
	socklen_t sl = sizeof(soerr);
	bool ok = false;
	int64_t deadline;

	svc_error_clear(&err);
	if (svc_addr_from_host_port(&addr, t->host, t->port, &err)) {
		snprintf(t->last_detail, sizeof(t->last_detail), "%.*s",
			 (int)sizeof(t->last_detail) - 1, err.message);
		goto done;
	}
	fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(t->last_detail, sizeof(t->last_detail), "socket: %s", strerror(errno));
		goto done;
	}
	if (connect(fd, (struct sockaddr *)&addr.ss, addr.len) == 0) {
		ok = true;
		goto done;
	}
	if (errno != EINPROGRESS) {
		soerr = errno;
		goto failed;
	}
	deadline = svc_mono_ms() + timeout;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		int64_t left = deadline - svc_mono_ms();
		int n;

		if (left <= 0) {
			snprintf(t->last_detail, sizeof(t->last_detail),
				 "connection to %s timed out after %d ms", addr.text, timeout);
			goto done;
		}
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			break;
		if (n < 0 && errno != EINTR) {
			soerr = errno;
			goto failed;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl))
		soerr = errno;
	if (soerr == 0) {
		ok = true;
		goto done;
	}
failed:
	snprintf(t->last_detail, sizeof(t->last_detail), "cannot connect to %s: %s",
		 addr.text, strerror(soerr));
done:
	if (ok)
		snprintf(t->last_detail, sizeof(t->last_detail), "connected");
	if (fd >= 0)
		close(fd);
	return ok;
}

bool svc_health_probe(const struct svc_health *h, struct svc_health_target *t)
{
	int healthy_after = h->healthy_threshold > 0 ? h->healthy_threshold : 1;
	int unhealthy_after = h->unhealthy_threshold > 0 ? h->unhealthy_threshold : 1;
	bool ok;

	t->last_detail[0] = '\0';
	if (t->alive && !t->alive(t->ctx, t)) {
		if (!t->last_detail[0])
			snprintf(t->last_detail, sizeof(t->last_detail), "instance not running");
		ok = false;
	} else if (h->kind == SVC_HEALTH_HTTP) {
		ok = probe_http(h, t);
	} else if (h->kind == SVC_HEALTH_TCP) {
		ok = probe_tcp(h, t);
	} else {
		snprintf(t->last_detail, sizeof(t->last_detail), "running");
		ok = true;
	}
	if (ok) {
		t->fail_streak = 0;
		if (t->ok_streak < healthy_after)
			t->ok_streak++;
		if (t->ok_streak >= healthy_after)
			t->healthy = true;
	} else {
		t->ok_streak = 0;
		if (t->fail_streak < unhealthy_after)
			t->fail_streak++;
		if (t->fail_streak >= unhealthy_after)
			t->healthy = false;
	}
	return ok;
}

/* Sleep what is left of the interval that began at round_start, not past deadline. */
static void sleep_rest(const struct svc_health *h, int64_t round_start, int64_t deadline)
{
	int64_t interval = h->interval_ms > 0 ? h->interval_ms : 1000;
	int64_t now = svc_mono_ms();
	int64_t wake = round_start + interval;

	if (wake > deadline)
		wake = deadline;
	svc_sleep_ms(wake - now);
}

int svc_health_wait(const struct svc_health *h, struct svc_health_target *t,
		    size_t n, int64_t timeout_ms,
		    bool (*progress)(void *arg, const struct svc_health_target *t, size_t n),
		    void *arg, struct svc_error *err)
{
	int64_t deadline = svc_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char dur[32];

	for (;;) {
		int64_t round_start = svc_mono_ms();
		bool all = true, go_on;

		for (size_t i = 0; i < n; i++) {
			svc_health_probe(h, &t[i]);
			if (!t[i].healthy)
				all = false;
		}
		go_on = progress ? progress(arg, t, n) : true;
		if (all)
			return 0;
		if (!go_on)
			return svc_error_set(err, SVC_ECANCELED, "the health wait was cancelled");
		if (svc_mono_ms() >= deadline)
			break;
		sleep_rest(h, round_start, deadline);
	}
	svc_duration_format(dur, sizeof(dur), timeout_ms);
	for (size_t i = 0; i < n; i++) {
		if (!t[i].healthy)
			return svc_error_set(err, SVC_EFAILED,
				"instance '%s' not healthy within %s: %s", t[i].name, dur,
				t[i].last_detail[0] ? t[i].last_detail : "not checked");
	}
	return svc_error_set(err, SVC_EFAILED, "instances not healthy within %s", dur);
}

int svc_health_watch(const struct svc_health *h, struct svc_health_target *t,
		     size_t n, int64_t duration_ms, struct svc_error *err)
{
	int unhealthy_after = h->unhealthy_threshold > 0 ? h->unhealthy_threshold : 1;
	int64_t end = svc_mono_ms() + (duration_ms > 0 ? duration_ms : 0);

	for (size_t i = 0; i < n; i++) {
		t[i].ok_streak = 0;
		t[i].fail_streak = 0;
	}
	while (svc_mono_ms() < end) {
		int64_t round_start = svc_mono_ms();

		for (size_t i = 0; i < n; i++) {
			svc_health_probe(h, &t[i]);
			if (t[i].fail_streak >= unhealthy_after)
				return svc_error_set(err, SVC_EFAILED,
					"instance '%s' became unhealthy: %s (%d failed checks in a row)",
					t[i].name, t[i].last_detail, t[i].fail_streak);
		}
		sleep_rest(h, round_start, end);
	}
	return 0;
}
