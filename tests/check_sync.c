/*
 * check_sync.c - the plan of a sync pass (sync/plan.c): the action per
 * service from what the commit says and what runs, the order providers
 * first, and cycles; and release ids that follow content, not location.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "manifest.h"
#include "sync/sync.h"
#include "util.h"

#define R1 "1111111111111111111111111111111111111111111111111111111111111111"
#define R2 "2222222222222222222222222222222222222222222222222222222222222222"

static struct svc_rollout_view view_of(const char *active, size_t up, int replicas, bool route_ok)
{
	struct svc_rollout_view v;

	memset(&v, 0, sizeof(v));
	snprintf(v.active, sizeof(v.active), "%s", active);
	v.up = up;
	v.replicas = replicas;
	v.has_route = true;
	v.route_ok = route_ok;
	if (!route_ok)
		snprintf(v.why, sizeof(v.why), "the router's route points elsewhere");
	return v;
}

static enum svc_sync_action plan(const char *release, const struct svc_rollout_view *v,
				 bool suspended, const char *failed, bool retry, char *why)
{
	struct svc_sync_plan_in in = { .in_commit = true, .valid = true, .suspended = suspended,
				       .retry = retry, .release = release,
				       .failed_release = failed, .view = v };

	return svc_sync_plan_one(&in, why, 800);
}

START_TEST(test_sync__plan_actions)
{
	struct svc_rollout_view same = view_of(R1, 2, 2, true), other = view_of(R2, 2, 2, true);
	struct svc_rollout_view missing = view_of(R1, 1, 2, true), astray = view_of(R1, 2, 2, false);
	struct svc_rollout_view sick;
	struct svc_sync_plan_in gone = { .in_commit = false, .view = &same };
	struct svc_sync_plan_in bad = { .in_commit = true, .valid = false, .view = &same };
	char why[800];

	ck_assert_int_eq(plan(R1, NULL, false, "", false, why), SVC_SYNC_ACT_DEPLOY);
	ck_assert_ptr_nonnull(strstr(why, "nothing active"));
	ck_assert_int_eq(plan(R1, &other, false, "", false, why), SVC_SYNC_ACT_DEPLOY);
	ck_assert_ptr_nonnull(strstr(why, "active: 222222222222"));
	ck_assert_int_eq(plan(R1, &same, false, "", false, why), SVC_SYNC_ACT_IN_SYNC);
	ck_assert_int_eq(plan(R1, &missing, false, "", false, why), SVC_SYNC_ACT_HEAL);
	ck_assert_ptr_nonnull(strstr(why, "1 of 2 instances"));
	ck_assert_int_eq(plan(R1, &astray, false, "", false, why), SVC_SYNC_ACT_HEAL);
	ck_assert_ptr_nonnull(strstr(why, "points elsewhere"));
	/* all instances run, one fails its health check */
	sick = same;
	sick.unhealthy = 1;
	snprintf(sick.why, sizeof(sick.why), "instance a-1 fails its health check (timeout)");
	ck_assert_int_eq(plan(R1, &sick, false, "", false, why), SVC_SYNC_ACT_HEAL);
	ck_assert_ptr_nonnull(strstr(why, "a-1 fails its health check (timeout)"));
	/* drift while suspended is left alone */
	ck_assert_int_eq(plan(R1, &other, true, "", false, why), SVC_SYNC_ACT_SUSPENDED);
	/* a release that failed is not tried again, unless retried or changed */
	ck_assert_int_eq(plan(R1, &other, false, R1, false, why), SVC_SYNC_ACT_FAILED);
	ck_assert_int_eq(plan(R1, &other, false, R1, true, why), SVC_SYNC_ACT_DEPLOY);
	ck_assert_int_eq(plan(R1, &other, false, R2, false, why), SVC_SYNC_ACT_DEPLOY);
	ck_assert_int_eq(svc_sync_plan_one(&gone, why, sizeof(why)), SVC_SYNC_ACT_PRUNE);
	ck_assert_int_eq(svc_sync_plan_one(&bad, why, sizeof(why)), SVC_SYNC_ACT_INVALID);
	/* a green of the commit's release awaiting promotion is left to it; at
	 * any other step (its svcctl may be dead) the deploy recovers it */
	other.in_rollout = true;
	snprintf(other.rollout_release, sizeof(other.rollout_release), "%s", R1);
	ck_assert_int_eq(plan(R1, &other, false, "", false, why), SVC_SYNC_ACT_DEPLOY);
	other.awaiting_promotion = true;
	ck_assert_int_eq(plan(R1, &other, false, "", false, why), SVC_SYNC_ACT_IN_SYNC);
	ck_assert_ptr_nonnull(strstr(why, "promotion"));
	ck_assert_str_eq(svc_sync_action_name(SVC_SYNC_ACT_IN_SYNC), "in-sync");
	ck_assert_str_eq(svc_sync_action_name(SVC_SYNC_ACT_FAILED), "failed");
}
END_TEST

static struct svc_manifest *load(const char *service, const char *requires)
{
	struct svc_manifest *m = NULL;
	struct svc_diags d;
	char *text = svc_strfmt("service: %s\nrun:\n  command: [./x]\n%s%s%s\n", service,
				requires ? "api:\n  requires: {" : "", requires ? requires : "",
				requires ? "}" : "");

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&m, text, strlen(text), "m.yaml", "/srv/m", &d), 0);
	svc_diags_release(&d);
	free(text);
	return m;
}

START_TEST(test_sync__order_providers_first)
{
	struct svc_manifest *ms[4] = { load("web", "accounts: [v1], mail: [v1]"),
				       load("mail", "accounts: [v1]"), load("accounts", NULL),
				       load("other", "elsewhere: [v1]") };
	size_t order[4], pos[4];
	bool cyc[4];

	ck_assert_int_eq(svc_sync_order(ms, 4, order, cyc, NULL, 0), 0);
	for (size_t i = 0; i < 4; i++) {
		pos[order[i]] = i;
		ck_assert(!cyc[i]);
	}
	ck_assert_uint_lt(pos[2], pos[1]);   /* accounts before mail */
	ck_assert_uint_lt(pos[1], pos[0]);   /* mail before web */
	for (size_t i = 0; i < 4; i++)
		svc_manifest_free(ms[i]);
}
END_TEST

START_TEST(test_sync__order_cycle_named)
{
	struct svc_manifest *ms[4] = { load("a", "b: [v1]"), load("b", "c: [v1]"),
				       load("c", "a: [v1]"), load("d", NULL) };
	size_t order[4];
	bool cyc[4];
	char cycle[256];

	ck_assert_int_eq(svc_sync_order(ms, 4, order, cyc, cycle, sizeof(cycle)), SVC_EMANIFEST);
	ck_assert(cyc[0] && cyc[1] && cyc[2] && !cyc[3]);
	ck_assert_str_eq(cycle, "a -> b -> c -> a");
	ck_assert_uint_eq(order[0], 3);      /* the independent one still goes */
	for (size_t i = 0; i < 4; i++)
		svc_manifest_free(ms[i]);
}
END_TEST

/* The same manifest exported at two commits (two folders) is one release. */
START_TEST(test_sync__content_identity)
{
	static const char text[] = "service: s\nbuild:\n  context: app\n  command: [make]\n"
				   "run:\n  command: [./s]\n";
	struct svc_manifest *a = NULL, *b = NULL;
	struct svc_diags d;
	char ia[65], ib[65];

	svc_diags_init(&d);
	ck_assert_int_eq(svc_manifest_load_buffer(&a, text, strlen(text), "x", "/s/trees/c1/m", &d), 0);
	ck_assert_int_eq(svc_manifest_load_buffer(&b, text, strlen(text), "x", "/s/trees/c2/m", &d), 0);
	svc_manifest_release_id(a, ia);
	svc_manifest_release_id(b, ib);
	ck_assert_str_eq(ia, ib);
	svc_manifest_free(a);
	svc_manifest_free(b);
	/* paths that climb out of the manifests folder, still in the repository */
	{
		static const char up[] = "service: s\nbuild:\n  context: ../services/s\n"
					 "  command: [make]\nrun:\n  command: [./s]\n";
		static const char wd[] = "service: w\nrun:\n  workdir: ../bin\n  command: [./w]\n";
		static const char abs[] = "service: w\nrun:\n  workdir: /opt/w\n  command: [./w]\n";
		const char *texts[3] = { up, wd, abs };
		for (int t = 0; t < 3; t++) {
			ck_assert_int_eq(svc_manifest_load_buffer(&a, texts[t], strlen(texts[t]), "x",
								  "/s/trees/c1/m", &d), 0);
			ck_assert_int_eq(svc_manifest_load_buffer(&b, texts[t], strlen(texts[t]), "x",
								  "/s/trees/c2/m", &d), 0);
			svc_manifest_release_id(a, ia);
			svc_manifest_release_id(b, ib);
			ck_assert_msg(!strcmp(ia, ib), "%s", texts[t]);
			svc_manifest_free(a);
			svc_manifest_free(b);
		}
		/* two absolute folders are two releases */
		ck_assert_int_eq(svc_manifest_load_buffer(&a, abs, strlen(abs), "x", "/m", &d), 0);
		ck_assert_int_eq(svc_manifest_load_buffer(&b, wd, strlen(wd), "x", "/opt/m", &d), 0);
		svc_manifest_release_id(a, ia);
		svc_manifest_release_id(b, ib);
		ck_assert_str_ne(ia, ib);   /* /opt/w against ../bin (= /opt/bin) */
		svc_manifest_free(a);
		svc_manifest_free(b);
	}
	svc_diags_release(&d);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sync__plan_actions);
	tcase_add_test(tc, test_sync__order_providers_first);
	tcase_add_test(tc, test_sync__order_cycle_named);
	tcase_add_test(tc, test_sync__content_identity);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
