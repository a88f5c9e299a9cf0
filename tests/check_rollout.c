#include <check.h>
START_TEST(test_rollout__placeholder)
{
	ck_assert_int_eq(1, 1);
}
END_TEST
static Suite *make_suite(void)
{
	Suite *s = suite_create("rollout");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_rollout__placeholder);
	suite_add_tcase(s, tc);
	return s;
}
#include "check_main.h"
