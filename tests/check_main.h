/*
 * check_main.h - the shared main() of the Check unit tests: each test file
 * defines `static Suite *make_suite(void)` and includes this last. Results
 * are written as TAP to stdout, read by automake's tap-driver, so that
 * `make check` lists every case.
 */
#ifndef SVC_CHECK_MAIN_H
#define SVC_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static Suite *make_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(make_suite());
	int failed;

	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
