#include <check.h>
START_TEST(test_docker_api__placeholder)
{
	ck_assert_int_eq(1, 1);
}
END_TEST
static Suite *make_suite(void)
{
	Suite *s = suite_create("docker_api");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_docker_api__placeholder);
	suite_add_tcase(s, tc);
	return s;
}
#include "check_main.h"
