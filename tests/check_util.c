/*
 * check_util.c - the shared helpers: durations, addresses, status ranges,
 * integers, atomic writes, JSON files, process identity, free ports, error
 * formatting.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "hash.h"
#include "util.h"

START_TEST(test_util__durations)
{
	static const struct { const char *text; int64_t ms; } good[] = {
		{ "0", 0 }, { "0s", 0 }, { "250ms", 250 }, { "10s", 10000 }, { "5m", 300000 },
		{ "2h", 7200000 }, { "1000000000ms", 1000000000 },
	};
	static const char *const bad[] = {
		"", "s", "10", "-1s", "1.5s", "10 s", "10sec", "1d", " 1s", "1s ", "99999999999h",
	};
	struct svc_error err;
	int64_t ms;
	char buf[32];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_duration_parse(&ms, good[i].text, &err) == 0, "%s", good[i].text);
		ck_assert_int_eq(ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_duration_parse(&ms, bad[i], &err) != 0, "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.message, "duration"));
	}
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 1500), "1500ms");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 30000), "30s");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 600000), "10m");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 7200000), "2h");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 0), "0ms");
}
END_TEST

START_TEST(test_util__addresses)
{
	struct svc_addr a;
	struct svc_error err;
	static const char *const bad[] = {
		"", "127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:-1", "localhost:80", "::1:80", "[127.0.0.1]:80", "[::1]80",
		"[::1", "300.1.1.1:80", "127.0.0.1:8x",
	};

	ck_assert_int_eq(svc_addr_parse(&a, "127.0.0.1:8080", false, NULL), 0);
	ck_assert_str_eq(a.text, "127.0.0.1:8080");
	ck_assert_str_eq(a.host, "127.0.0.1");
	ck_assert_int_eq(a.port, 8080);
	ck_assert_int_eq(a.ss.ss_family, AF_INET);
	ck_assert_int_eq(svc_addr_parse(&a, "[::1]:443", false, NULL), 0);
	ck_assert_str_eq(a.text, "[::1]:443");
	ck_assert_str_eq(a.host, "::1");
	ck_assert_int_eq(a.ss.ss_family, AF_INET6);
	ck_assert_int_eq(svc_addr_parse(&a, "127.0.0.1:0", true, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_addr_parse(&a, bad[i], false, &err) != 0, "'%s' accepted", bad[i]);
		ck_assert(err.message[0]);
	}
}
END_TEST

START_TEST(test_util__status_ranges)
{
	int lo, hi;

	ck_assert_int_eq(svc_status_range_parse(&lo, &hi, "200-399", NULL), 0);
	ck_assert_int_eq(lo, 200);
	ck_assert_int_eq(hi, 399);
	ck_assert_int_eq(svc_status_range_parse(&lo, &hi, "204", NULL), 0);
	ck_assert_int_eq(lo, 204);
	ck_assert_int_eq(hi, 204);
	ck_assert_int_ne(svc_status_range_parse(&lo, &hi, "399-200", NULL), 0);
	ck_assert_int_ne(svc_status_range_parse(&lo, &hi, "99-200", NULL), 0);
	ck_assert_int_ne(svc_status_range_parse(&lo, &hi, "200-600", NULL), 0);
	ck_assert_int_ne(svc_status_range_parse(&lo, &hi, "2xx", NULL), 0);
	ck_assert_int_ne(svc_status_range_parse(&lo, &hi, "", NULL), 0);
}
END_TEST

START_TEST(test_util__parse_int)
{
	long long v;

	ck_assert_int_eq(svc_parse_int(&v, "42", 0, 100), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(svc_parse_int(&v, "-5", -10, 0), 0);
	ck_assert_int_ne(svc_parse_int(&v, "101", 0, 100), 0);
	ck_assert_int_ne(svc_parse_int(&v, "4x", 0, 100), 0);
	ck_assert_int_ne(svc_parse_int(&v, " 4", 0, 100), 0);
	ck_assert_int_ne(svc_parse_int(&v, "", 0, 100), 0);
	ck_assert_int_ne(svc_parse_int(&v, "99999999999999999999", 0, LLONG_MAX), 0);
}
END_TEST

START_TEST(test_util__atomic_write)
{
	char dir[] = "/tmp/svc-util-XXXXXX";
	char *path, *sub, *text = NULL;
	size_t len;
	struct stat st;
	struct svc_error err = { 0 };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = svc_strfmt("%s/a/b/c.json", dir);
	sub = svc_strfmt("%s/a/b", dir);
	ck_assert_int_eq(svc_mkdir_p(sub, 0700, NULL), 0);
	free(sub);
	ck_assert_int_eq(svc_file_write_atomic(path, "one", 3, 0600, &err), 0);
	ck_assert_int_eq(svc_file_write_atomic(path, "second", 6, 0600, &err), 0);
	ck_assert_int_eq(svc_file_read(&text, &len, path, 100, &err), 0);
	ck_assert_str_eq(text, "second");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	free(text);
	ck_assert_int_eq(svc_file_read(&text, &len, path, 3, &err), SVC_EGENERIC);
	ck_assert_ptr_nonnull(strstr(err.message, "larger than"));
	svc_error_clear(&err);
	ck_assert_int_eq(svc_file_read(&text, &len, "/nonexistent/x", 3, &err), SVC_ENOTFOUND);
	/* no temp files are left behind */
	ck_assert_int_eq(svc_rm_rf(dir), 0);
	ck_assert(!svc_path_exists(dir));
	free(path);
}
END_TEST

START_TEST(test_util__json_files)
{
	char dir[] = "/tmp/svc-util-XXXXXX";
	const char *corrupt = "{\"a\": 1,\n  x}";
	char *path, *bad, *text = NULL;
	json_t *j = NULL;
	struct stat st;
	struct svc_error err = { 0 };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = svc_strfmt("%s/x.json", dir);
	bad = svc_strfmt("%s/bad.json", dir);
	j = json_pack("{s:i, s:[b]}", "b", 1, "a", 1);
	ck_assert_int_eq(svc_json_file_write(j, path, &err), 0);
	json_decref(j);
	j = NULL;
	/* indented by 2, keys sorted, no final newline, mode 0600 */
	ck_assert_int_eq(svc_file_read(&text, NULL, path, 1000, &err), 0);
	ck_assert_str_eq(text, "{\n  \"a\": [\n    true\n  ],\n  \"b\": 1\n}");
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(svc_json_file_read(&j, path, 1000, &err), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "b")), 1);
	json_decref(j);

	ck_assert_int_eq(svc_file_write_atomic(bad, corrupt, strlen(corrupt), 0600, NULL), 0);
	ck_assert_int_eq(svc_json_file_read(&j, bad, 1000, &err), SVC_EGENERIC);
	ck_assert_ptr_null(j);
	ck_assert_int_eq(strncmp(err.message, bad, strlen(bad)), 0);
	ck_assert_msg(strstr(err.message, ":2:3: invalid JSON: "), "%s", err.message);
	ck_assert_int_eq(err.line, 2);
	ck_assert_str_eq(err.file, "");
	svc_error_clear(&err);
	ck_assert_int_eq(svc_file_write_atomic(bad, "", 0, 0600, NULL), 0);
	ck_assert_int_eq(svc_json_file_read(&j, bad, 1000, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, ":1:0: invalid JSON: "), "%s", err.message);
	ck_assert_int_eq(err.line, 1);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_json_file_read(&j, path, 3, &err), SVC_EGENERIC);
	ck_assert_ptr_nonnull(strstr(err.message, "larger than"));
	ck_assert_int_eq(err.line, 0);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_json_file_read(&j, "/nonexistent/x.json", 1000, &err),
			 SVC_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.message, "does not exist"));
	ck_assert_int_eq(svc_rm_rf(dir), 0);
	free(path);
	free(bad);
}
END_TEST

START_TEST(test_util__pid_identity)
{
	pid_t child;
	unsigned long long st;
	int status;

	ck_assert(svc_pid_alive(getpid(), svc_pid_starttime(getpid())));
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	st = svc_pid_starttime(child);
	ck_assert_uint_ne(st, 0);
	ck_assert(svc_pid_alive(child, st));
	ck_assert(!svc_pid_alive(child, st + 1));  /* same pid, other start: not trusted */
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	ck_assert(!svc_pid_alive(child, st));
	ck_assert(!svc_pid_alive(0, 0));
}
END_TEST

START_TEST(test_util__free_port)
{
	int port = 0, fd;
	struct svc_addr a;

	ck_assert_int_eq(svc_free_port(&port, "127.0.0.1", NULL), 0);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(svc_addr_from_host_port(&a, "127.0.0.1", port, NULL), 0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);  /* it really is free */
	close(fd);
	ck_assert_int_ne(svc_free_port(&port, "example.org", NULL), 0);
}
END_TEST

START_TEST(test_util__names)
{
	ck_assert(svc_name_valid("greeter"));
	ck_assert(svc_name_valid("a-1"));
	ck_assert(!svc_name_valid("1a"));
	ck_assert(!svc_name_valid("Greeter"));
	ck_assert(!svc_name_valid("a_b"));
	ck_assert(!svc_name_valid(""));
	ck_assert(!svc_name_valid("../etc"));
	ck_assert(svc_name_valid("a23456789012345678901234567890123456789012345678901234567890123"));
	ck_assert(!svc_name_valid("a234567890123456789012345678901234567890123456789012345678901234"));
}
END_TEST

START_TEST(test_util__errors)
{
	struct svc_error e = { 0 };
	struct svc_diags d;
	char buf[256];

	ck_assert_int_eq(svc_error_set_at(&e, SVC_EMANIFEST, "m.yaml", 3, 7, "bad '%s'", "x"),
			 SVC_EMANIFEST);
	ck_assert_str_eq(svc_error_format(&e, buf, sizeof(buf)), "m.yaml:3:7: bad 'x'");
	/* the first error wins */
	svc_error_set(&e, SVC_EGENERIC, "later");
	ck_assert_str_eq(e.message, "bad 'x'");
	svc_error_clear(&e);
	svc_error_set_errno(&e, SVC_EGENERIC, ENOENT, "cannot open '%s'", "f");
	ck_assert_str_eq(e.message, "cannot open 'f': No such file or directory");
	svc_diags_init(&d);
	svc_diags_addf(&d, "b.yaml", 1, 1, "x");
	svc_diags_addf(&d, "a.yaml", 9, 1, "y");
	svc_diags_addf(&d, "a.yaml", 2, 5, "z1");
	svc_diags_addf(&d, "a.yaml", 2, 5, "z2");
	svc_diags_sort(&d);
	ck_assert_str_eq(d.items[0].message, "z1");
	ck_assert_str_eq(d.items[1].message, "z2");  /* stable */
	ck_assert_str_eq(d.items[2].message, "y");
	ck_assert_str_eq(d.items[3].message, "x");
	svc_diags_release(&d);
}
END_TEST

START_TEST(test_util__sha256)
{
	char hex[65];

	svc_sha256_hex(hex, "abc", 3);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	svc_sha256_hex(hex, "", 0);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_util__durations);
	tcase_add_test(tc, test_util__addresses);
	tcase_add_test(tc, test_util__status_ranges);
	tcase_add_test(tc, test_util__parse_int);
	tcase_add_test(tc, test_util__atomic_write);
	tcase_add_test(tc, test_util__json_files);
	tcase_add_test(tc, test_util__pid_identity);
	tcase_add_test(tc, test_util__free_port);
	tcase_add_test(tc, test_util__names);
	tcase_add_test(tc, test_util__errors);
	tcase_add_test(tc, test_util__sha256);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
