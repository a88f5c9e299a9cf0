/*
 * check_state.c - the state dir: locks, current releases, history round
 * trips, release resolution, stored manifests and the rollout record.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_files.h"
#include "state/state.h"
#include "util.h"

static char tmpdir[64];

/* A release id (64 hex digits) that starts with prefix. Four rotating buffers. */
/* an image by digest, as a release of a registry's image records it */
#define PIN "reg:5000/greeter@sha256:9999999999999999999999999999999999999999999999999999999999999999"

static const char *ID(const char *prefix)
{
	static char buf[4][65];
	static int n;
	char *b = buf[n++ % 4];

	memset(b, '0', 64);
	b[64] = '\0';
	memcpy(b, prefix, strlen(prefix));
	return b;
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/svc-state-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	svc_rm_rf(tmpdir);
}

START_TEST(test_state__lock_is_exclusive)
{
	struct svc_lock a, b;
	struct svc_error err = { 0 };

	ck_assert_int_eq(svc_lock_take(&a, tmpdir, "greeter", "deploy", &err), 0);
	ck_assert_int_eq(svc_lock_take(&b, tmpdir, "greeter", "rollback", &err), SVC_ELOCKED);
	ck_assert_msg(strstr(err.message, "holds the lock of service 'greeter'"), "%s", err.message);
	ck_assert_msg(strstr(err.message, ": deploy)"), "names the holder: %s", err.message);
	svc_error_clear(&err);
	/* another service is independent */
	ck_assert_int_eq(svc_lock_take(&b, tmpdir, "other", "deploy", &err), 0);
	svc_lock_release(&b);
	svc_lock_release(&a);
	ck_assert_int_eq(svc_lock_take(&b, tmpdir, "greeter", "rollback", &err), 0);
	svc_lock_release(&b);
	svc_lock_release(&b); /* releasing twice is harmless */
}
END_TEST

START_TEST(test_state__current_round_trip)
{
	struct svc_current c = { 0 }, d;
	struct svc_error err = { 0 };

	ck_assert_int_eq(svc_current_load(&d, tmpdir, "greeter", &err), SVC_ENOTFOUND);
	ck_assert_int_eq(err.code, 0);   /* absence is the caller's to judge */
	ck_assert_str_eq(d.active, "");
	snprintf(c.active, sizeof(c.active), "%s", ID("aaaa1111"));
	snprintf(c.active_color, sizeof(c.active_color), "blue");
	c.active_since_ms = 1234;
	snprintf(c.previous, sizeof(c.previous), "%s", ID("bbbb2222"));
	snprintf(c.previous_color, sizeof(c.previous_color), "green");
	c.previous_until_ms = 99999999999LL;
	ck_assert_int_eq(svc_current_save(&c, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(svc_current_load(&d, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(memcmp(&c, &d, sizeof(c)), 0);
}
END_TEST

static void add(struct svc_history *h, const char *release, const char *version,
		enum svc_outcome outcome, const char *reason)
{
	struct svc_history_entry e = { 0 };

	snprintf(e.release, sizeof(e.release), "%s", ID(release));
	snprintf(e.manifest_hash, sizeof(e.manifest_hash), "%s", ID(release));
	snprintf(e.color, sizeof(e.color), "blue");
	e.version = (char *)version;
	e.kind = SVC_KIND_DEPLOY;
	e.outcome = outcome;
	e.reason = (char *)reason;
	e.started_ms = 1000;
	svc_history_append(h, &e);
}

START_TEST(test_state__history_round_trip)
{
	struct svc_history h = { 0 }, g = { 0 };
	struct svc_error err = { 0 };

	ck_assert_int_eq(svc_history_load(&g, tmpdir, "greeter", &err), SVC_ENOTFOUND);
	ck_assert_uint_eq(g.count, 0);
	add(&h, "1111aaaa", "1.0.0", SVC_OUTCOME_PROMOTED, NULL);
	add(&h, "2222bbbb", NULL, SVC_OUTCOME_ABORTED, "health check failed: HTTP 503 \"quoted\"");
	ck_assert_int_eq(h.items[1].seq, 2);
	ck_assert_int_eq(svc_history_save(&h, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(svc_history_load(&g, tmpdir, "greeter", &err), 0);
	ck_assert_uint_eq(g.count, 2);
	ck_assert_int_eq(g.items[0].seq, 1);
	ck_assert_str_eq(g.items[0].release, ID("1111aaaa"));
	ck_assert_str_eq(g.items[0].version, "1.0.0");
	ck_assert_int_eq(g.items[0].outcome, SVC_OUTCOME_PROMOTED);
	ck_assert_ptr_null(g.items[0].reason);
	ck_assert_ptr_null(g.items[1].version);
	ck_assert_str_eq(g.items[1].reason, "health check failed: HTTP 503 \"quoted\"");
	svc_history_release(&g);

	svc_history_set_outcome(&h, 1, SVC_OUTCOME_ROLLED_BACK, "why");
	ck_assert_int_eq(svc_history_save(&h, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(svc_history_load(&g, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(g.items[0].outcome, SVC_OUTCOME_ROLLED_BACK);
	ck_assert_str_eq(g.items[0].reason, "why");
	ck_assert_int_ne(g.items[0].finished_ms, 0);
	svc_history_release(&g);
	svc_history_release(&h);
}
END_TEST

START_TEST(test_state__history_corrupt_is_an_error)
{
	struct svc_history g;
	struct svc_error err = { 0 };
	char *dir = svc_strfmt("%s/services/greeter", tmpdir);
	char *path = svc_strfmt("%s/history.json", dir);

	ck_assert_int_eq(svc_mkdir_p(dir, 0700, NULL), 0);
	ck_assert_int_eq(svc_file_write_atomic(path, "{\"releases\": [", 14, 0600, NULL), 0);
	ck_assert_int_ne(svc_history_load(&g, tmpdir, "greeter", &err), 0);
	ck_assert_msg(strstr(err.message, "invalid state file"), "%s", err.message);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_state__resolve_release)
{
	struct svc_history h = { 0 };
	struct svc_error err = { 0 };
	char out[65];

	add(&h, "abcd1111", "1", SVC_OUTCOME_PROMOTED, NULL);
	add(&h, "abcd2222", "2", SVC_OUTCOME_PROMOTED, NULL);
	add(&h, "ffff3333", "3", SVC_OUTCOME_PROMOTED, NULL);
	ck_assert_int_eq(svc_history_resolve(out, &h, "ffff", &err), 0);
	ck_assert_str_eq(out, ID("ffff3333"));
	ck_assert_int_eq(svc_history_resolve(out, &h, "#2", &err), 0);
	ck_assert_str_eq(out, ID("abcd2222"));
	ck_assert_int_eq(svc_history_resolve(out, &h, "abcd", &err), SVC_EUSAGE);
	ck_assert_msg(strstr(err.message, "ambiguous"), "%s", err.message);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_history_resolve(out, &h, "abc", &err), SVC_EUSAGE);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_history_resolve(out, &h, "#9", &err), SVC_ENOTFOUND);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_history_resolve(out, &h, "0000", &err), SVC_ENOTFOUND);
	svc_history_release(&h);
}
END_TEST

START_TEST(test_state__release_store_load)
{
	struct svc_error err = { 0 };
	const char text[] = "service: greeter\n";
	char name[] = "libgreet", ref[] = "v1", dir[] = "/state/a";
	struct svc_dep_pin pin = { .name = name, .ref = ref };
	struct svc_artifact_ref art = { .dir = dir, .deps = &pin, .ndeps = 1 };
	struct svc_artifact_ref *got;
	char *t, *src, *base, *pinned = (char *)"x";
	size_t len;

	memset(art.id, 'a', 64);
	memset(pin.commit, 'b', 40);
	ck_assert_int_eq(svc_release_store(tmpdir, "greeter", ID("abcdef"), text, strlen(text),
					   "manifests/greeter.yaml", "/srv/m", &art, NULL, &err), 0);
	ck_assert_int_eq(svc_release_load(&t, &len, &src, &base, &got, &pinned, tmpdir, "greeter",
					  ID("abcdef"), &err), 0);
	ck_assert_ptr_null(pinned);
	ck_assert_str_eq(t, text);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(src, "manifests/greeter.yaml");
	ck_assert_str_eq(base, "/srv/m");
	/* the artifact it ran comes back whole */
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->id, art.id);
	ck_assert_str_eq(got->dir, "/state/a");
	ck_assert_ptr_null(got->image);
	ck_assert_uint_eq(got->ndeps, 1);
	ck_assert_str_eq(got->deps[0].name, "libgreet");
	ck_assert_str_eq(got->deps[0].ref, "v1");
	ck_assert_str_eq(got->deps[0].commit, pin.commit);
	svc_artifact_ref_free(got);
	free(t);
	free(src);
	free(base);
	/* a release without a build has no artifact; one of a registry's image its digest */
	ck_assert_int_eq(svc_release_store(tmpdir, "greeter", ID("fedcba"), text, strlen(text),
					   "manifests/greeter.yaml", "/srv/m", NULL,
					   PIN, &err), 0);
	ck_assert_int_eq(svc_release_load(&t, &len, &src, &base, &got, &pinned, tmpdir, "greeter",
					  ID("fedcba"), &err), 0);
	ck_assert_ptr_null(got);
	ck_assert_str_eq(pinned, PIN);
	free(pinned);
	free(t);
	free(src);
	free(base);
	/* not wanted: not returned */
	ck_assert_int_eq(svc_release_load(&t, &len, &src, &base, &got, NULL, tmpdir, "greeter",
					  ID("fedcba"), &err), 0);
	free(t);
	free(src);
	free(base);
	ck_assert_int_eq(svc_release_load(&t, &len, &src, &base, &got, NULL, tmpdir, "greeter",
					  ID("0000"), &err), SVC_ENOTFOUND);
	/* a pin that is not an image by digest is a state error naming the file */
	{
		char *path = svc_strfmt("%s/services/greeter/releases/%s/release.json", tmpdir,
					ID("fedcba"));
		char *body = NULL;

		ck_assert_int_eq(svc_file_read(&body, NULL, path, 1 << 20, NULL), 0);
		ck_assert_ptr_nonnull(strstr(body, "@sha256:"));
		*strstr(body, "@sha256:") = '#';
		ck_assert_int_eq(svc_file_write_atomic(path, body, strlen(body), 0600, NULL), 0);
		svc_error_clear(&err);
		ck_assert_int_eq(svc_release_load(&t, &len, &src, &base, &got, &pinned, tmpdir,
						  "greeter", ID("fedcba"), &err), SVC_ESTATE);
		ck_assert_msg(strstr(err.message, "'pinned_image' is not an image by digest"), "%s",
			      err.message);
		ck_assert_msg(strstr(err.message, "release.json"), "%s", err.message);
		free(body);
		free(path);
	}
}
END_TEST

START_TEST(test_state__history_keeps_artifact)
{
	struct svc_history h = { 0 }, back;
	struct svc_history_entry e = { 0 };
	char name[] = "libgreet", ref[] = "v2", image[] = "web:0123456789ab";
	struct svc_dep_pin pin = { .name = name, .ref = ref };
	struct svc_artifact_ref art = { .image = image, .deps = &pin, .ndeps = 1 };

	memset(art.id, 'c', 64);
	memset(pin.commit, 'd', 40);
	snprintf(e.release, sizeof(e.release), "%s", ID("e1"));
	snprintf(e.color, sizeof(e.color), "blue");
	e.artifact = &art;
	svc_history_append(&h, &e);
	/* and one that ran an image by digest */
	snprintf(e.release, sizeof(e.release), "%s", ID("e2"));
	e.artifact = NULL;
	e.image = (char *)PIN;
	svc_history_append(&h, &e);
	ck_assert_int_eq(svc_history_save(&h, tmpdir, "web", NULL), 0);
	ck_assert_int_eq(svc_history_load(&back, tmpdir, "web", NULL), 0);
	ck_assert_uint_eq(back.count, 2);
	ck_assert_ptr_null(back.items[0].image);
	ck_assert_str_eq(back.items[1].image, PIN);
	ck_assert_ptr_null(back.items[1].artifact);
	ck_assert_ptr_nonnull(back.items[0].artifact);
	ck_assert_str_eq(back.items[0].artifact->id, art.id);
	ck_assert_str_eq(back.items[0].artifact->image, "web:0123456789ab");
	ck_assert_str_eq(back.items[0].artifact->deps[0].commit, pin.commit);
	svc_history_release(&back);
	svc_history_release(&h);
}
END_TEST

START_TEST(test_state__rollout_record_round_trip)
{
	struct svc_rollout_rec r = { 0 }, s;
	struct svc_error err = { 0 };
	char *path;
	struct stat st;

	ck_assert_int_eq(svc_rollout_rec_load(&s, tmpdir, "greeter", &err), SVC_ENOTFOUND);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_state_service_mkdir(tmpdir, "greeter", &err), 0);
	r.kind = SVC_KIND_DEPLOY;
	snprintf(r.release, sizeof(r.release), "%s", ID("feed"));
	snprintf(r.color, sizeof(r.color), "green");
	snprintf(r.blue, sizeof(r.blue), "%s", ID("beef"));
	snprintf(r.blue_color, sizeof(r.blue_color), "blue");
	r.history_seq = 7;
	r.owner_pid = 4242;
	r.started_ms = 5;
	for (int step = SVC_STEP_STARTING; step <= SVC_STEP_DRAINING; step++) {
		r.step = (enum svc_rollout_step)step;
		ck_assert_int_eq(svc_rollout_rec_save(&r, tmpdir, "greeter", &err), 0);
		ck_assert_int_eq(svc_rollout_rec_load(&s, tmpdir, "greeter", &err), 0);
		ck_assert_int_eq(s.step, step);
		ck_assert_str_eq(s.release, ID("feed"));
		ck_assert_str_eq(s.blue, ID("beef"));
		ck_assert_int_eq(s.history_seq, 7);
		ck_assert_int_eq(s.owner_pid, 4242);
		ck_assert_int_ne(s.step_ms, 0);
	}
	path = svc_strfmt("%s/services/greeter/rollout.json", tmpdir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	/* an unknown step is an error, not a guess */
	{
		char *text = NULL, *at;
		size_t len = 0;
		ck_assert_int_eq(svc_file_read(&text, &len, path, 1 << 20, NULL), 0);
		ck_assert_ptr_nonnull(at = strstr(text, "\"draining\""));
		memcpy(at, "\"flying\"  ", 10);
		ck_assert_int_eq(svc_file_write_atomic(path, text, len, 0600, NULL), 0);
		free(text);
	}
	ck_assert_int_ne(svc_rollout_rec_load(&s, tmpdir, "greeter", &err), 0);
	ck_assert_msg(strstr(err.message, "unknown step 'flying'"), "%s", err.message);
	ck_assert_int_eq(svc_rollout_rec_clear(tmpdir, "greeter", NULL), 0);
	ck_assert_int_eq(svc_rollout_rec_load(&s, tmpdir, "greeter", NULL), SVC_ENOTFOUND);
	free(path);
}
END_TEST

START_TEST(test_state__list_services)
{
	char **v;
	char *bad = svc_strfmt("%s/services/Not_A_Service", tmpdir);

	svc_state_service_mkdir(tmpdir, "zeta", NULL);
	svc_state_service_mkdir(tmpdir, "alpha", NULL);
	svc_mkdir_p(bad, 0700, NULL);
	free(bad);
	v = svc_state_list_services(tmpdir);
	ck_assert_uint_eq(svc_strv_len(v), 2);
	ck_assert_str_eq(v[0], "alpha");
	ck_assert_str_eq(v[1], "zeta");
	svc_strv_free(v);
}
END_TEST


/* Write text as STATE/services/greeter/NAME. */
static void put(const char *name, const char *text)
{
	char *dir = svc_strfmt("%s/services/greeter", tmpdir);
	char *path = svc_strfmt("%s/%s", dir, name);

	ck_assert_int_eq(svc_mkdir_p(dir, 0700, NULL), 0);
	ck_assert_int_eq(svc_file_write_atomic(path, text, strlen(text), 0600, NULL), 0);
	free(dir);
	free(path);
}

START_TEST(test_state__format_versions)
{
	struct svc_current c;
	struct svc_error err = { 0 };
	char *path = svc_strfmt("%s/services/greeter/current.json", tmpdir), *text = NULL;
	char v0[512];

	/* written before formats existed: read as format 0 ... */
	snprintf(v0, sizeof(v0), "{\"active\": \"%s\", \"active_color\": \"blue\", "
		 "\"active_since_ms\": 5, \"previous\": \"\", \"previous_color\": \"\", "
		 "\"previous_until_ms\": 0}", ID("ab"));
	put("current.json", v0);
	ck_assert_int_eq(svc_current_load(&c, tmpdir, "greeter", &err), 0);
	ck_assert_str_eq(c.active, ID("ab"));
	/* ... and rewritten with the current format on the next save */
	ck_assert_int_eq(svc_current_save(&c, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(svc_file_read(&text, NULL, path, 1 << 16, NULL), 0);
	ck_assert_msg(strstr(text, "\"format\": 1"), "%s", text);
	free(text);
	/* a newer svcctl's file is refused, not guessed at */
	put("current.json", "{\"format\": 99, \"active\": \"\"}");
	ck_assert_int_eq(svc_current_load(&c, tmpdir, "greeter", &err), SVC_ESTATE);
	ck_assert_msg(strstr(err.message, "written by a newer svcctl (format 99"), "%s",
		      err.message);
	ck_assert_msg(strstr(err.message, path), "names the file: %s", err.message);
	free(path);
}
END_TEST

START_TEST(test_state__loaders_refuse_wrong_shapes)
{
	static const char *const bad[] = {
		"", "{", "[]", "{}", "42", "{\"active\": 7}",
		"{\"format\": \"one\"}",
	};
	struct svc_current c;
	struct svc_history h;
	struct svc_rollout_rec r;
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct svc_error err = { 0 };
		put("current.json", bad[i]);
		ck_assert_int_eq(svc_current_load(&c, tmpdir, "greeter", &err), SVC_ESTATE);
		ck_assert_msg(strstr(err.message, "current.json"), "%s", err.message);
		svc_error_clear(&err);
		put("history.json", bad[i]);
		ck_assert_int_eq(svc_history_load(&h, tmpdir, "greeter", &err), SVC_ESTATE);
		svc_history_release(&h);
		svc_error_clear(&err);
		put("rollout.json", bad[i]);
		ck_assert_int_eq(svc_rollout_rec_load(&r, tmpdir, "greeter", &err), SVC_ESTATE);
	}
	/* a release id is 64 hex digits before it names a folder */
	put("current.json", "{\"active\": \"../../..\", \"active_color\": \"blue\", "
	    "\"active_since_ms\": 1, \"previous\": \"\", \"previous_color\": \"\", "
	    "\"previous_until_ms\": 0}");
	{
		struct svc_error err = { 0 };
		ck_assert_int_eq(svc_current_load(&c, tmpdir, "greeter", &err), SVC_ESTATE);
		ck_assert_msg(strstr(err.message, "'active' is not a release id"), "%s", err.message);
	}
	/* history entries: a known outcome, increasing seq */
	snprintf(text, sizeof(text), "{\"service\": \"greeter\", \"releases\": [{\"seq\": 1, "
		 "\"release\": \"%s\", \"manifest_hash\": \"x\", \"kind\": \"deploy\", "
		 "\"color\": \"blue\", \"started_ms\": 1, \"finished_ms\": 1, "
		 "\"outcome\": \"superseded\"}]}", ID("ab"));
	put("history.json", text);
	{
		struct svc_error err = { 0 };
		ck_assert_int_eq(svc_history_load(&h, tmpdir, "greeter", &err), SVC_ESTATE);
		ck_assert_msg(strstr(err.message, "unknown outcome 'superseded'"), "%s", err.message);
		svc_history_release(&h);
	}
}
END_TEST

START_TEST(test_state__service_state_consistency)
{
	struct svc_service_state st;
	struct svc_history h = { 0 };
	struct svc_error err = { 0 };

	/* nothing at all: never deployed */
	ck_assert_int_eq(svc_service_state_load(&st, tmpdir, "greeter", &err), 0);
	ck_assert(!st.has_current && !st.has_history && !st.in_rollout);
	svc_service_state_release(&st);
	/* a release that was active, but no current.json: unreadable state */
	add(&h, "ab", "1", SVC_OUTCOME_PROMOTED, NULL);
	ck_assert_int_eq(svc_history_save(&h, tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(svc_service_state_load(&st, tmpdir, "greeter", &err), SVC_ESTATE);
	ck_assert_msg(strstr(err.message, "current.json: missing, but history.json records "
			     "release #1"), "%s", err.message);
	svc_service_state_release(&st);
	/* a current.json naming a release, but no history.json */
	svc_error_clear(&err);
	{
		struct svc_current c = { 0 };
		char *hp = svc_strfmt("%s/services/greeter/history.json", tmpdir);
		snprintf(c.active, sizeof(c.active), "%s", ID("ab"));
		snprintf(c.active_color, sizeof(c.active_color), "blue");
		ck_assert_int_eq(svc_current_save(&c, tmpdir, "greeter", &err), 0);
		ck_assert_int_eq(unlink(hp), 0);
		free(hp);
	}
	ck_assert_int_eq(svc_service_state_load(&st, tmpdir, "greeter", &err), SVC_ESTATE);
	ck_assert_msg(strstr(err.message, "history.json: missing"), "%s", err.message);
	svc_service_state_release(&st);
	svc_history_release(&h);
}
END_TEST

START_TEST(test_state__loose_state_dir_refused)
{
	struct svc_error err = { 0 };
	char *sd = svc_strfmt("%s/services/greeter", tmpdir), *out = NULL;

	ck_assert_int_eq(svc_state_service_mkdir(tmpdir, "greeter", &err), 0);
	ck_assert_int_eq(svc_state_open(&out, tmpdir, &err), 0);
	free(out);
	ck_assert_int_eq(chmod(sd, 0770), 0);
	ck_assert_int_eq(svc_state_open(&out, tmpdir, &err), SVC_ESTATE);
	ck_assert_msg(strstr(err.message, "writable by group") && strstr(err.message, sd),
		      "%s", err.message);
	ck_assert_msg(strstr(err.message, "chmod go-w"), "%s", err.message);
	ck_assert_int_eq(chmod(sd, 0700), 0);
	svc_error_clear(&err);
	ck_assert_int_eq(chmod(tmpdir, 0707), 0);
	ck_assert_int_eq(svc_state_check_perms(tmpdir, &err), SVC_ESTATE);
	ck_assert_msg(strstr(err.message, "writable by others"), "%s", err.message);
	ck_assert_int_eq(chmod(tmpdir, 0700), 0);
	free(sd);
}
END_TEST

/* s with its first from replaced by to. Caller frees. */
static char *subst(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);

	return at ? svc_strfmt("%.*s%s%s", (int)(at - s), s, to, at + strlen(from))
		  : svc_strdup(s);
}

/* Each parser in the table accepts what svcctl writes and refuses "[]". */
START_TEST(test_state__table_parsers)
{
	struct svc_current c = { 0 };
	struct svc_history h = { 0 };
	struct svc_rollout_rec r = { 0 };
	const char manifest[] = "service: greeter\nrun:\n  command: [./greeter]\n";
	size_t n = 0;

	snprintf(c.active, sizeof(c.active), "%s", ID("ab"));
	snprintf(c.active_color, sizeof(c.active_color), "blue");
	ck_assert_int_eq(svc_current_save(&c, tmpdir, "greeter", NULL), 0);
	add(&h, "ab", "1", SVC_OUTCOME_PROMOTED, NULL);
	ck_assert_int_eq(svc_history_save(&h, tmpdir, "greeter", NULL), 0);
	r.kind = SVC_KIND_DEPLOY;
	snprintf(r.release, sizeof(r.release), "%s", ID("ab"));
	snprintf(r.color, sizeof(r.color), "green");
	r.history_seq = 1;
	ck_assert_int_eq(svc_rollout_rec_save(&r, tmpdir, "greeter", NULL), 0);
	ck_assert_int_eq(svc_release_store(tmpdir, "greeter", ID("ab"), manifest,
					   strlen(manifest), "m/greeter.yaml", "/srv", NULL, NULL, NULL), 0);
	{
		char repo[] = "/srv/git/m", mpath[] = "manifests", msg[] = "gate";
		char reason[] = "incident", user[] = "ops";
		struct svc_sync_rec sr = { .repo = repo, .path = mpath,
					   .outcome = SVC_SYNC_FAILED, .message = msg };
		struct svc_suspension su = { .reason = reason, .user = user, .since_ms = 1 };
		struct svc_sync_rec back;
		memset(sr.commit, 'c', 40);
		snprintf(sr.release, sizeof(sr.release), "%s", ID("ab"));
		snprintf(sr.failed_release, sizeof(sr.failed_release), "%s", ID("ab"));
		memcpy(sr.failed_commit, sr.commit, 41);
		ck_assert_int_eq(svc_sync_rec_save(&sr, tmpdir, "greeter", NULL), 0);
		ck_assert_int_eq(svc_suspension_save(&su, tmpdir, "greeter", NULL), 0);
		ck_assert_int_eq(svc_sync_rec_load(&back, tmpdir, "greeter", NULL), 0);
		ck_assert_int_eq(back.outcome, SVC_SYNC_FAILED);
		ck_assert_str_eq(back.failed_release, ID("ab"));
		ck_assert_str_eq(back.message, "gate");
		svc_sync_rec_release(&back);
	}
	for (const struct svc_state_file *f = svc_state_files; f->pattern; f++, n++) {
		char *rdir = svc_strfmt("releases/%s", ID("ab"));
		char *a = subst(f->pattern, "services/*", "services/greeter");
		char *b = subst(a, "releases/*", rdir);
		char *path = svc_strfmt("%s/%s", tmpdir, b), *text = NULL;
		struct svc_error err = { 0 };
		size_t len = 0;

		free(rdir);
		free(a);
		free(b);
		ck_assert_ptr_nonnull(f->owner);
		ck_assert_ptr_nonnull(f->check);
		ck_assert_int_eq(f->check("[]", 2, f->pattern, &err) < 0, 1);
		ck_assert_msg(strstr(err.message, f->pattern), "names the file: %s", err.message);
		if (strcmp(f->owner, "state")) {
			free(path);
			continue;   /* written by the runtime or the router: their tests */
		}
		ck_assert_msg(svc_file_read(&text, &len, path, 1 << 20, NULL) == 0, "%s", path);
		svc_error_clear(&err);
		ck_assert_msg(f->check(text, len, path, &err) == 0, "%s: %s", path, err.message);
		free(text);
		free(path);
	}
	ck_assert_uint_ge(n, 5);
	svc_history_release(&h);
}
END_TEST

/* A number out of range is refused, never cut down to size (a pid that wraps names another). */
START_TEST(test_state__table_ranges)
{
	static const char *const bad[][2] = {
		{ "status.json", "{\"supervisor_pid\": 4294967297, \"state\": \"running\"}" },
		{ "status.json", "{\"supervisor_pid\": 7, \"pid\": -2, \"state\": \"running\"}" },
		{ "spec.json", "{\"service\": \"s\", \"release\": \"0000000000000000000000000000"
			       "000000000000000000000000000000000000\", \"color\": \"blue\", "
			       "\"index\": 0, \"port\": 65536}" },
		{ "expire_at", "99999999999999999999999" },
	};
	size_t hits = 0;

	for (const struct svc_state_file *f = svc_state_files; f->pattern; f++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct svc_error err = { 0 };
			const char *name = strrchr(f->pattern, '/') + 1;
			if (strcmp(name, bad[i][0]) || strstr(f->pattern, "releases"))
				continue;
			hits++;
			ck_assert_msg(f->check(bad[i][1], strlen(bad[i][1]), f->pattern, &err) < 0,
				      "%s accepted %s", f->pattern, bad[i][1]);
		}
	ck_assert_uint_eq(hits, 4);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_state__lock_is_exclusive);
	tcase_add_test(tc, test_state__current_round_trip);
	tcase_add_test(tc, test_state__history_round_trip);
	tcase_add_test(tc, test_state__history_corrupt_is_an_error);
	tcase_add_test(tc, test_state__resolve_release);
	tcase_add_test(tc, test_state__release_store_load);
	tcase_add_test(tc, test_state__history_keeps_artifact);
	tcase_add_test(tc, test_state__rollout_record_round_trip);
	tcase_add_test(tc, test_state__list_services);
	tcase_add_test(tc, test_state__format_versions);
	tcase_add_test(tc, test_state__loaders_refuse_wrong_shapes);
	tcase_add_test(tc, test_state__service_state_consistency);
	tcase_add_test(tc, test_state__loose_state_dir_refused);
	tcase_add_test(tc, test_state__table_parsers);
	tcase_add_test(tc, test_state__table_ranges);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
