/*
 * check_rollout.c - recovery of interrupted rollouts, against real
 * processes: a rollout record is left at each step as a killed svcctl
 * would leave it, with real instances running under real supervisors
 * (tests/supervise_helper stands in for `svcctl __supervise`), and
 * svc_rollout_recover must undo or finish it and say so.
 *
 * The service here has no port (a worker), so no router is involved; the
 * route switch-back paths are covered by tests/e2e/crash_recovery.sh.
 */
#include <check.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "manifest.h"
#include "rollout.h"
#include "runtime/driver.h"
#include "state/state.h"
#include "util.h"

static char state[PATH_MAX];
static char helper[PATH_MAX];
static char gdir[PATH_MAX];

static void abs_env(char *buf, size_t len, const char *var, const char *fallback)
{
	const char *v = getenv(var);
	char cwd[PATH_MAX];

	int n;

	if (v && v[0] == '/') {
		n = snprintf(buf, len, "%s", v);
	} else {
		ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
		n = snprintf(buf, len, "%s/%s", cwd, v ? v : fallback);
	}
	ck_assert(n > 0 && (size_t)n < len);
}

static void setup(void)
{
	char g[PATH_MAX];

	snprintf(state, sizeof(state), "/tmp/svc-check-rollout-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(state));
	abs_env(helper, sizeof(helper), "SUPERVISE_HELPER", "tests/supervise_helper");
	abs_env(g, sizeof(g), "GREETER", "examples/greeter/greeter");
	snprintf(gdir, sizeof(gdir), "%s", dirname(g));
}

/* Stop whatever a test left running, then remove the state dir. */
static void teardown(void)
{
	struct svc_runtime *rt = NULL;
	struct svc_instance_list l = { 0 };

	if (svc_runtime_open(&rt, SVC_RUNTIME_PROCESS, state, helper, NULL) == 0 &&
	    rt->ops->list(rt, "worker", &l, NULL) == 0)
		for (size_t i = 0; i < l.count; i++)
			rt->ops->stop(rt, &l.items[i], NULL);
	svc_instance_list_release(&l);
	svc_runtime_free(rt);
	svc_rm_rf(state);
}

/* Store a release of version v; fills id (65 bytes) and returns the manifest. */
static struct svc_manifest *store_release(const char *v, char *id)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	char *text = svc_strfmt(
		"service: worker\nversion: %s\nreplicas: 2\n"
		"run:\n  workdir: %s\n  command: [./greeter, --port, \"${PORT}\"]\n"
		"  env: {VERSION: \"${VERSION}\"}\n"
		"health:\n  interval: 50ms\n  healthy_threshold: 1\n", v, gdir);

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "worker.yaml",
						  state, &d), 0);
	svc_manifest_release_id(m, id);
	ck_assert_int_eq(svc_release_store(state, "worker", id, text, strlen(text),
					   "worker.yaml", state, NULL, NULL, NULL), 0);
	svc_diags_release(&d);
	free(text);
	return m;
}

static struct svc_runtime *rt_open(void)
{
	struct svc_runtime *rt = NULL;

	ck_assert_int_eq(svc_runtime_open(&rt, SVC_RUNTIME_PROCESS, state, helper, NULL), 0);
	return rt;
}

static void start_all(struct svc_runtime *rt, struct svc_manifest *m, const char *id,
		      const char *color)
{
	for (int i = 0; i < m->replicas; i++) {
		struct svc_instance in = { 0 };
		struct svc_error err = { 0 };
		ck_assert_msg(rt->ops->start(rt, m, id, color, i, &in, &err) == 0, "%s",
			      err.message);
		svc_instance_release(&in);
	}
}

static size_t running(struct svc_runtime *rt, const char *id)
{
	struct svc_instance_list l = { 0 };
	size_t n = 0;

	ck_assert_int_eq(rt->ops->list(rt, "worker", &l, NULL), 0);
	for (size_t i = 0; i < l.count; i++)
		if (!strcmp(l.items[i].release, id) &&
		    (l.items[i].state == SVC_INST_RUNNING || l.items[i].state == SVC_INST_STARTING))
			n++;
	svc_instance_list_release(&l);
	return n;
}

/* History entry + rollout record at step, as svcctl writes them. */
static void leave_record(const char *id, const char *blue, enum svc_rollout_step step)
{
	struct svc_history h = { 0 };
	struct svc_history_entry e = { 0 };
	struct svc_rollout_rec rec = { 0 };

	svc_history_load(&h, state, "worker", NULL);
	snprintf(e.release, sizeof(e.release), "%s", id);
	snprintf(e.manifest_hash, sizeof(e.manifest_hash), "%s", id);
	snprintf(e.color, sizeof(e.color), "green");
	e.kind = SVC_KIND_DEPLOY;
	rec.history_seq = svc_history_append(&h, &e)->seq;
	ck_assert_int_eq(svc_history_save(&h, state, "worker", NULL), 0);
	svc_history_release(&h);
	rec.kind = SVC_KIND_DEPLOY;
	snprintf(rec.release, sizeof(rec.release), "%s", id);
	snprintf(rec.color, sizeof(rec.color), "green");
	snprintf(rec.blue, sizeof(rec.blue), "%s", blue);
	snprintf(rec.blue_color, sizeof(rec.blue_color), "blue");
	rec.owner_pid = 999999;
	rec.step = step;
	ck_assert_int_eq(svc_rollout_rec_save(&rec, state, "worker", NULL), 0);
}

static void make_active(const char *id)
{
	struct svc_current cur = { 0 };

	snprintf(cur.active, sizeof(cur.active), "%s", id);
	snprintf(cur.active_color, sizeof(cur.active_color), "blue");
	ck_assert_int_eq(svc_current_save(&cur, state, "worker", NULL), 0);
}

static enum svc_outcome last_outcome(struct svc_history *h)
{
	ck_assert_int_eq(svc_history_load(h, state, "worker", NULL), 0);
	ck_assert_uint_gt(h->count, 0);
	return h->items[h->count - 1].outcome;
}

/* v1 active and running as blue, v2 running as green, the record at step. */
static void blue_green_at(struct svc_runtime *rt, enum svc_rollout_step step,
			  char *v1, char *v2)
{
	struct svc_manifest *m1 = store_release("1", v1), *m2 = store_release("2", v2);

	start_all(rt, m1, v1, "blue");
	make_active(v1);
	start_all(rt, m2, v2, "green");
	leave_record(v2, v1, step);
	svc_manifest_free(m1);
	svc_manifest_free(m2);
}

START_TEST(test_rollout__recover_undoes_before_switch)
{
	struct svc_ctx ctx = { state, helper, NULL };
	struct svc_runtime *rt = rt_open();
	struct svc_history h;
	struct svc_current cur;
	char v1[65], v2[65], what[512];

	blue_green_at(rt, SVC_STEP_HEALTH, v1, v2);

	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), NULL), 0);
	ck_assert_msg(strstr(what, "undid the interrupted deploy"), "%s", what);
	ck_assert_uint_eq(running(rt, v2), 0);       /* green stopped */
	ck_assert_uint_eq(running(rt, v1), 2);       /* blue untouched */
	ck_assert_int_eq(last_outcome(&h), SVC_OUTCOME_ABORTED);
	ck_assert_msg(strstr(h.items[h.count - 1].reason, "interrupted while health"), "%s",
		      h.items[h.count - 1].reason);
	svc_history_release(&h);
	svc_current_load(&cur, state, "worker", NULL);
	ck_assert_str_eq(cur.active, v1);
	ck_assert_int_eq(svc_rollout_rec_load(&(struct svc_rollout_rec){ 0 }, state, "worker",
					      NULL), SVC_ENOTFOUND);
	/* a second recovery has nothing to do */
	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), NULL), 0);
	ck_assert_str_eq(what, "");
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_rollout__recover_finishes_after_bake)
{
	struct svc_ctx ctx = { state, helper, NULL };
	struct svc_runtime *rt = rt_open();
	struct svc_history h;
	struct svc_current cur;
	char v1[65], v2[65], what[512];

	blue_green_at(rt, SVC_STEP_DRAINING, v1, v2);

	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), NULL), 0);
	ck_assert_msg(strstr(what, "finished the interrupted deploy"), "%s", what);
	svc_current_load(&cur, state, "worker", NULL);
	ck_assert_str_eq(cur.active, v2);
	ck_assert_str_eq(cur.active_color, "green");
	ck_assert_uint_eq(running(rt, v2), 2);
	/* a portless worker has no traffic to switch: blue is stopped, not kept */
	ck_assert_uint_eq(running(rt, v1), 0);
	ck_assert_int_eq(last_outcome(&h), SVC_OUTCOME_PROMOTED);
	svc_history_release(&h);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_rollout__recover_leaves_awaiting_promotion)
{
	struct svc_ctx ctx = { state, helper, NULL };
	struct svc_runtime *rt = rt_open();
	struct svc_manifest *m2;
	struct svc_rollout_rec rec;
	char v2[65], what[512];

	m2 = store_release("2", v2);
	start_all(rt, m2, v2, "green");
	leave_record(v2, "", SVC_STEP_AWAIT_PROMOTE);
	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), NULL), 0);
	ck_assert_str_eq(what, "");
	ck_assert_uint_eq(running(rt, v2), 2);
	ck_assert_int_eq(svc_rollout_rec_load(&rec, state, "worker", NULL), 0);
	ck_assert_int_eq(rec.step, SVC_STEP_AWAIT_PROMOTE);
	svc_manifest_free(m2);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_rollout__recover_stops_orphans)
{
	struct svc_ctx ctx = { state, helper, NULL };
	struct svc_runtime *rt = rt_open();
	struct svc_manifest *m1, *m3;
	char v1[65], v3[65], what[512];

	m1 = store_release("1", v1);
	m3 = store_release("3", v3);
	start_all(rt, m1, v1, "blue");
	make_active(v1);
	leave_record(v1, "", SVC_STEP_DRAINING);   /* v1's history entry ... */
	ck_assert_int_eq(svc_rollout_rec_clear(state, "worker", NULL), 0);  /* ... finished */
	start_all(rt, m3, v3, "green");  /* nobody refers to v3 */
	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), NULL), 0);
	ck_assert_msg(strstr(what, "stopped 2 orphaned instances"), "%s", what);
	ck_assert_uint_eq(running(rt, v3), 0);
	ck_assert_uint_eq(running(rt, v1), 2);
	svc_manifest_free(m1);
	svc_manifest_free(m3);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_rollout__no_orphans_without_history)
{
	struct svc_ctx ctx = { state, helper, NULL };
	struct svc_runtime *rt = rt_open();
	struct svc_manifest *m3;
	struct svc_error err = { 0 };
	char v3[65], what[512];

	/*
	 * A state dir without current.json or history (deleted, say) while
	 * instances run is unreadable state: recovery refuses, naming the
	 * file and `svcctl repair`, and knows no orphans.
	 */
	m3 = store_release("3", v3);
	start_all(rt, m3, v3, "green");
	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), &err),
			 SVC_ESTATE);
	ck_assert_msg(strstr(err.message, "current.json: missing, but 2 instances"), "%s",
		      err.message);
	ck_assert_msg(strstr(err.message, "svcctl repair worker"), "%s", err.message);
	ck_assert_str_eq(what, "");
	ck_assert_uint_eq(running(rt, v3), 2);
	svc_manifest_free(m3);
	svc_runtime_free(rt);
}
END_TEST

START_TEST(test_rollout__recover_refuses_while_locked)
{
	struct svc_ctx ctx = { state, helper, NULL };
	struct svc_lock lock;
	struct svc_error err = { 0 };
	char what[512];

	ck_assert_int_eq(svc_lock_take(&lock, state, "worker", "deploy", NULL), 0);
	ck_assert_int_eq(svc_rollout_recover(&ctx, "worker", what, sizeof(what), &err),
			 SVC_ELOCKED);
	svc_lock_release(&lock);
}
END_TEST

/* The driver table: what each kind can do, and the one not there yet. */
START_TEST(test_rollout__driver_table)
{
	struct svc_runtime *rt = NULL;
	struct svc_error err = { 0 };
	size_t n = 0;

	ck_assert(svc_runtime_has(SVC_RUNTIME_PROCESS, SVC_RT_HOST_FOLDER));
	ck_assert(!svc_runtime_has(SVC_RUNTIME_PROCESS, SVC_RT_IMAGES));
	ck_assert(svc_runtime_has(SVC_RUNTIME_DOCKER, SVC_RT_IMAGES));
	ck_assert(!svc_runtime_has(SVC_RUNTIME_DOCKER, SVC_RT_HOST_FOLDER));
	ck_assert(svc_runtime_has(SVC_RUNTIME_SWARM, SVC_RT_IMAGES));
	ck_assert(!svc_runtime_has((enum svc_runtime_kind)99, SVC_RT_IMAGES));
	ck_assert_ptr_null(svc_runtime_driver_of((enum svc_runtime_kind)99));
	/* every driver listed can be opened (engines first), each kind once */
	for (; svc_runtime_drivers[n]; n++) {
		ck_assert_ptr_nonnull(svc_runtime_drivers[n]->ops);
		ck_assert_ptr_eq(svc_runtime_driver_of(svc_runtime_drivers[n]->kind),
				 svc_runtime_drivers[n]);
		for (size_t k = 0; k < n; k++)
			ck_assert_int_ne(svc_runtime_drivers[k]->kind, svc_runtime_drivers[n]->kind);
	}
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(svc_runtime_drivers[n - 1]->kind, SVC_RUNTIME_PROCESS);
	ck_assert_str_eq(svc_runtime_driver_of(SVC_RUNTIME_SWARM)->ops->name, "swarm");
	ck_assert_ptr_nonnull(svc_runtime_driver_of(SVC_RUNTIME_SWARM)->ops->expire);
	setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
	ck_assert_int_eq(svc_runtime_open(&rt, SVC_RUNTIME_SWARM, state, NULL, &err),
			 SVC_EUNAVAIL);
	unsetenv("DOCKER_HOST");
	ck_assert_ptr_null(rt);
	ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/docker.sock"));
	ck_assert_int_eq(svc_runtime_open(&rt, SVC_RUNTIME_PROCESS, state, NULL, &err), 0);
	ck_assert_str_eq(rt->ops->name, "process");
	svc_runtime_free(rt);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("rollout");
	TCase *tc = tcase_create("recovery");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rollout__driver_table);
	tcase_add_test(tc, test_rollout__recover_undoes_before_switch);
	tcase_add_test(tc, test_rollout__recover_finishes_after_bake);
	tcase_add_test(tc, test_rollout__recover_leaves_awaiting_promotion);
	tcase_add_test(tc, test_rollout__recover_stops_orphans);
	tcase_add_test(tc, test_rollout__no_orphans_without_history);
	tcase_add_test(tc, test_rollout__recover_refuses_while_locked);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
