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

#include "global.h"

static Suite *make_suite(void);

int main(void)
{
	SRunner *sr;
	int failed;

	if (svc_global_init(NULL))
		return EXIT_FAILURE;
	sr = srunner_create(make_suite());
	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	svc_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
