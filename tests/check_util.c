/*
 * check_util.c - unit tests of the shared helpers (util.c) and of error
 * details and lists (error.c): parsing of durations, addresses, status
 * ranges and integers, files, string vectors and diagnostics.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

/* A fresh temporary folder; caller removes it with svc_rm_rf and frees. */
static char *make_tmpdir(void)
{
	char *dir = svc_strdup("/tmp/check_util.XXXXXX");

	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

START_TEST(test_util__duration_parse)
{
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = {
		{ "0", 0 }, { "0s", 0 }, { "250ms", 250 }, { "10s", 10000 },
		{ "5m", 300000 }, { "1h", 3600000 }, { "007s", 7000 },
		{ "1000000000ms", 1000000000 },
	};
	static const char *const bad[] = {
		"", "s", "5", "5x", "-1s", " 1s", "1s ", "1.5s", "1 s", "1S", "10sec",
		"99999999999h", "1d",
	};
	struct svc_error err;
	int64_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = -1;
		svc_error_clear(&err);
		ck_assert_msg(svc_duration_parse(&ms, ok[i].text, &err) == 0, "%s", ok[i].text);
		ck_assert_int_eq(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_duration_parse(&ms, bad[i], &err) == SVC_EGENERIC, "'%s'", bad[i]);
		ck_assert_msg(strstr(err.message, "duration") != NULL, "%s", err.message);
	}
	svc_error_clear(&err);
	ck_assert_int_eq(svc_duration_parse(&ms, "5x", &err), SVC_EGENERIC);
	ck_assert_str_eq(err.message,
			 "invalid duration '5x' (expected a number with ms, s, m or h)");
	ck_assert_int_eq(svc_duration_parse(&ms, NULL, NULL), SVC_EGENERIC);
}
END_TEST

START_TEST(test_util__duration_format)
{
	char buf[32];

	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 0), "0ms");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 1500), "1500ms");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 30000), "30s");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 600000), "10m");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 7200000), "2h");
	ck_assert_str_eq(svc_duration_format(buf, sizeof(buf), 90000), "90s");
}
END_TEST

START_TEST(test_util__addr_parse_ipv4)
{
	struct svc_addr a;
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_addr_parse(&a, "127.0.0.1:8080", false, &err), 0);
	ck_assert_str_eq(a.text, "127.0.0.1:8080");
	ck_assert_str_eq(a.host, "127.0.0.1");
	ck_assert_int_eq(a.port, 8080);
	ck_assert_int_eq(a.ss.ss_family, AF_INET);
	ck_assert_int_eq(svc_addr_parse(&a, "0.0.0.0:65535", false, &err), 0);
	ck_assert_int_eq(a.port, 65535);
	ck_assert_int_eq(svc_addr_parse(&a, "10.0.0.1:+80", false, &err), 0);
	ck_assert_str_eq(a.text, "10.0.0.1:80");
}
END_TEST

START_TEST(test_util__addr_parse_ipv6_canonical)
{
	struct svc_addr a, b;
	struct svc_error err;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_addr_parse(&a, "[::1]:9090", false, &err), 0);
	ck_assert_str_eq(a.text, "[::1]:9090");
	ck_assert_str_eq(a.host, "::1");
	ck_assert_int_eq(a.ss.ss_family, AF_INET6);
	/* another spelling of the same address has the same text */
	ck_assert_int_eq(svc_addr_parse(&b, "[0:0:0:0:0:0:0:1]:9090", false, &err), 0);
	ck_assert_str_eq(b.text, a.text);
	ck_assert_int_eq(svc_addr_parse(&b, "[FE80::A]:1", false, &err), 0);
	ck_assert_str_eq(b.text, "[fe80::a]:1");
}
END_TEST

START_TEST(test_util__addr_parse_errors)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{ "", "empty address" },
		{ "127.0.0.1", "expected host:port" },
		{ ":80", "expected host:port" },
		{ "127.0.0.1:0", "invalid port in '127.0.0.1:0' (expected 1-65535)" },
		{ "127.0.0.1:65536", "invalid port" },
		{ "127.0.0.1:", "invalid port" },
		{ "127.0.0.1:80x", "invalid port" },
		{ "localhost:80", "invalid address 'localhost'" },
		{ "300.1.1.1:80", "invalid address '300.1.1.1'" },
		{ "::1:80", "write IPv6 as [addr]:port" },
		{ "[::1]80", "expected [ipv6]:port" },
		{ "[::1]", "expected [ipv6]:port" },
		{ "[1.2.3.4]:80", "brackets are for IPv6" },
		{ "[::g]:80", "invalid address '::g'" },
	};
	struct svc_addr a;
	struct svc_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_addr_parse(&a, bad[i].text, false, &err) == SVC_EGENERIC,
			      "'%s' parsed", bad[i].text);
		ck_assert_msg(strstr(err.message, bad[i].msg) != NULL, "'%s': %s",
			      bad[i].text, err.message);
	}
	ck_assert_int_eq(svc_addr_parse(&a, "127.0.0.1:0", true, NULL), 0);
	ck_assert_int_eq(a.port, 0);
}
END_TEST

START_TEST(test_util__addr_from_host_port)
{
	struct svc_addr a;

	ck_assert_int_eq(svc_addr_from_host_port(&a, "::", 80, NULL), 0);
	ck_assert_str_eq(a.text, "[::]:80");
	ck_assert_int_eq(svc_addr_from_host_port(&a, "1.2.3.4", 70000, NULL), SVC_EGENERIC);
	ck_assert_int_eq(svc_addr_from_host_port(&a, "nohost", 80, NULL), SVC_EGENERIC);
}
END_TEST

START_TEST(test_util__status_range)
{
	struct svc_error err;
	int lo = 0, hi = 0;

	ck_assert_int_eq(svc_status_range_parse(&lo, &hi, "200-399", NULL), 0);
	ck_assert_int_eq(lo, 200);
	ck_assert_int_eq(hi, 399);
	ck_assert_int_eq(svc_status_range_parse(&lo, &hi, "204", NULL), 0);
	ck_assert_int_eq(lo, 204);
	ck_assert_int_eq(hi, 204);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_status_range_parse(&lo, &hi, "399-200", &err), SVC_EGENERIC);
	ck_assert_ptr_nonnull(strstr(err.message, "low end above high end"));
	static const char *const bad[] = { "", "99", "600", "200-", "-200", "2xx",
					   "200-399-500", "abc", "200 - 399" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		svc_error_clear(&err);
		ck_assert_msg(svc_status_range_parse(&lo, &hi, bad[i], &err) == SVC_EGENERIC,
			      "'%s'", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.message, "status range"));
	}
}
END_TEST

START_TEST(test_util__parse_int)
{
	long long v = 0;

	ck_assert_int_eq(svc_parse_int(&v, "42", 0, 100), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(svc_parse_int(&v, "-5", -10, 10), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(svc_parse_int(&v, "101", 0, 100), SVC_EGENERIC);
	ck_assert_int_eq(svc_parse_int(&v, "", 0, 100), SVC_EGENERIC);
	ck_assert_int_eq(svc_parse_int(&v, " 1", 0, 100), SVC_EGENERIC);
	ck_assert_int_eq(svc_parse_int(&v, "1 ", 0, 100), SVC_EGENERIC);
	ck_assert_int_eq(svc_parse_int(&v, "0x10", 0, 100), SVC_EGENERIC);
	ck_assert_int_eq(svc_parse_int(&v, "99999999999999999999", 0, LLONG_MAX),
			 SVC_EGENERIC);
	ck_assert_int_eq(svc_parse_int(&v, NULL, 0, 1), SVC_EGENERIC);
}
END_TEST

START_TEST(test_util__name_valid)
{
	char long_name[80];

	ck_assert(svc_name_valid("greeter"));
	ck_assert(svc_name_valid("a"));
	ck_assert(svc_name_valid("a-1-b"));
	ck_assert(!svc_name_valid(""));
	ck_assert(!svc_name_valid(NULL));
	ck_assert(!svc_name_valid("1abc"));
	ck_assert(!svc_name_valid("-abc"));
	ck_assert(!svc_name_valid("Greeter"));
	ck_assert(!svc_name_valid("a_b"));
	ck_assert(!svc_name_valid("a.b"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	ck_assert(svc_name_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	ck_assert(!svc_name_valid(long_name));
}
END_TEST

START_TEST(test_util__strv)
{
	char a[] = "a", bc[] = "bc", empty[] = "";
	char *src[] = { a, bc, empty, NULL };
	char **d = svc_strv_dup(src);

	ck_assert_int_eq(svc_strv_len(d), 3);
	ck_assert_str_eq(d[1], "bc");
	ck_assert_ptr_ne(d[0], src[0]);
	ck_assert_ptr_null(d[3]);
	svc_strv_free(d);
	ck_assert_int_eq(svc_strv_len(NULL), 0);
	svc_strv_free(NULL);
	d = svc_strv_dup(NULL);
	ck_assert_ptr_null(d[0]);
	svc_strv_free(d);
}
END_TEST

START_TEST(test_util__strfmt_strdup)
{
	char *s = svc_strfmt("%s-%d", "x", 42);

	ck_assert_str_eq(s, "x-42");
	free(s);
	ck_assert_ptr_null(svc_strdup(NULL));
	s = svc_strdup("y");
	ck_assert_str_eq(s, "y");
	free(s);
}
END_TEST

START_TEST(test_util__file_write_read)
{
	char *dir = make_tmpdir(), *path = svc_strfmt("%s/sub/dir/f.json", dir);
	char *sub = svc_strfmt("%s/sub/dir", dir);
	struct svc_error err;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	svc_error_clear(&err);
	ck_assert_int_eq(svc_mkdir_p(sub, 0700, &err), 0);
	ck_assert_int_eq(svc_mkdir_p(sub, 0700, &err), 0);
	ck_assert_int_eq(svc_file_write_atomic(path, "hello", 5, 0600, &err), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(svc_file_read(&buf, &len, path, 100, &err), 0);
	ck_assert_int_eq(len, 5);
	ck_assert_str_eq(buf, "hello");
	free(buf);
	/* over the limit */
	ck_assert_int_eq(svc_file_read(&buf, &len, path, 4, &err), SVC_EGENERIC);
	ck_assert_ptr_null(buf);
	ck_assert_ptr_nonnull(strstr(err.message, "larger than 4 bytes"));
	/* overwritten atomically, no temp file left behind */
	ck_assert_int_eq(svc_file_write_atomic(path, "", 0, 0600, NULL), 0);
	ck_assert_int_eq(svc_file_read(&buf, &len, path, 100, NULL), 0);
	ck_assert_int_eq(len, 0);
	ck_assert_str_eq(buf, "");
	free(buf);
	ck_assert(svc_path_exists(path));
	svc_error_clear(&err);
	ck_assert_int_eq(svc_file_read(&buf, &len, "/nonexistent/x", 100, &err), SVC_ENOTFOUND);
	ck_assert_int_eq(svc_rm_rf(dir), 0);
	ck_assert(!svc_path_exists(dir));
	ck_assert_int_eq(svc_rm_rf(dir), 0);
	free(sub);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_util__file_read_large)
{
	char *dir = make_tmpdir(), *path = svc_strfmt("%s/big", dir);
	size_t n = 300000;
	char *data = svc_calloc(n, 1), *buf = NULL;
	size_t len = 0;

	memset(data, 'x', n);
	ck_assert_int_eq(svc_file_write_atomic(path, data, n, 0600, NULL), 0);
	ck_assert_int_eq(svc_file_read(&buf, &len, path, n, NULL), 0);
	ck_assert_int_eq(len, n);
	ck_assert_int_eq(memcmp(buf, data, n), 0);
	ck_assert_int_eq(buf[n], '\0');
	free(buf);
	ck_assert_int_eq(svc_file_read(&buf, &len, path, n - 1, NULL), SVC_EGENERIC);
	svc_rm_rf(dir);
	free(data);
	free(path);
	free(dir);
}
END_TEST

/* Only regular files are read: a fifo or a device is refused at once,
 * never waited on or read forever; a symlink to a regular file is fine. */
START_TEST(test_util__file_read_regular_only)
{
	char *dir = make_tmpdir(), *fifo = svc_strfmt("%s/fifo", dir);
	char *file = svc_strfmt("%s/file", dir), *link = svc_strfmt("%s/link", dir);
	struct svc_error err;
	char *buf = NULL;
	size_t len = 0;

	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_file_read(&buf, &len, fifo, 100, &err), SVC_EGENERIC);
	ck_assert_ptr_null(buf);
	ck_assert_msg(strstr(err.message, "is not a regular file (a fifo)") &&
		      strstr(err.message, fifo), "%s", err.message);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_file_read(&buf, &len, "/dev/zero", 100, &err), SVC_EGENERIC);
	ck_assert_str_eq(err.message, "'/dev/zero' is not a regular file (a character device)");
	svc_error_clear(&err);
	ck_assert_int_eq(svc_file_read(&buf, &len, dir, 100, &err), SVC_EGENERIC);
	ck_assert_ptr_nonnull(strstr(err.message, "is not a regular file (a folder)"));
	ck_assert_int_eq(svc_file_write_atomic(file, "hi", 2, 0600, NULL), 0);
	ck_assert_int_eq(symlink(file, link), 0);
	ck_assert_int_eq(svc_file_read(&buf, &len, link, 100, NULL), 0);
	ck_assert_str_eq(buf, "hi");
	free(buf);
	ck_assert_str_eq(svc_file_kind(S_IFIFO), "a fifo");
	ck_assert_str_eq(svc_file_kind(S_IFSOCK), "a socket");
	ck_assert_str_eq(svc_file_kind(S_IFBLK), "a block device");
	ck_assert_str_eq(svc_file_kind(S_IFLNK), "a symlink");
	ck_assert_str_eq(svc_file_kind(S_IFREG), "a regular file");
	svc_rm_rf(dir);
	free(fifo);
	free(file);
	free(link);
	free(dir);
}
END_TEST

/* The fixed base of what svcctl starts, and finding a command in its PATH. */
START_TEST(test_util__env)
{
	char *dir = make_tmpdir(), *bin = svc_strfmt("%s/bin", dir);
	char *tool = svc_strfmt("%s/tool", bin), *plain = svc_strfmt("%s/plain", bin);
	char **env = svc_env_base(), *f;
	struct passwd *pw = getpwuid(geteuid());

	ck_assert_int_eq(svc_strv_len(env), 3);
	ck_assert_str_eq(svc_env_get(env, "PATH"), "/usr/local/bin:/usr/bin:/bin");
	ck_assert_str_eq(svc_env_get(env, "HOME"), pw && pw->pw_dir[0] == '/' ? pw->pw_dir : "/");
	ck_assert_str_eq(svc_env_get(env, "LANG"), "C.UTF-8");
	ck_assert_ptr_null(svc_env_get(env, "PAT"));
	/* nothing of this process's own environment */
	setenv("SVC_CHECK_SECRET", "x", 1);
	svc_strv_free(env);
	env = svc_env_base();
	ck_assert_ptr_null(svc_env_get(env, "SVC_CHECK_SECRET"));
	unsetenv("SVC_CHECK_SECRET");
	/* set replaces a name, or adds it */
	svc_env_set(&env, "LANG", "C");
	svc_env_set(&env, "A", "1=2");
	ck_assert_int_eq(svc_strv_len(env), 4);
	ck_assert_str_eq(svc_env_get(env, "LANG"), "C");
	ck_assert_str_eq(svc_env_get(env, "A"), "1=2");
	ck_assert_str_eq(env[3], "A=1=2");

	/* the command in the env's PATH, not this process's */
	ck_assert_int_eq(svc_mkdir_p(bin, 0700, NULL), 0);
	ck_assert_int_eq(svc_file_write_atomic(tool, "#!/bin/sh\n", 10, 0700, NULL), 0);
	ck_assert_int_eq(svc_file_write_atomic(plain, "x", 1, 0600, NULL), 0);
	f = svc_exec_find("env", env, "/");
	ck_assert_ptr_nonnull(f);
	ck_assert(!strcmp(f, "/usr/bin/env") || !strcmp(f, "/bin/env") ||
		  !strcmp(f, "/usr/local/bin/env"));
	free(f);
	ck_assert_ptr_null(svc_exec_find("tool", env, "/"));
	svc_env_set(&env, "PATH", bin);
	f = svc_exec_find("tool", env, "/");
	ck_assert_str_eq(f, tool);
	free(f);
	ck_assert_ptr_null(svc_exec_find("plain", env, "/"));   /* not executable */
	ck_assert_ptr_null(svc_exec_find("env", env, "/"));
	/* relative and empty entries: against the child's folder */
	svc_env_set(&env, "PATH", "/nonexistent:bin");
	f = svc_exec_find("tool", env, dir);
	ck_assert_str_eq(f, tool);
	free(f);
	svc_env_set(&env, "PATH", ":/nonexistent");
	f = svc_exec_find("tool", env, bin);
	ck_assert_str_eq(f, tool);
	free(f);
	/* a name with a '/' is taken as it is */
	f = svc_exec_find("./x/y", env, "/");
	ck_assert_str_eq(f, "./x/y");
	free(f);
	ck_assert_ptr_null(svc_exec_find("", env, "/"));
	svc_strv_free(env);
	svc_rm_rf(dir);
	free(tool);
	free(plain);
	free(bin);
	free(dir);
}
END_TEST

START_TEST(test_util__pid)
{
	unsigned long long st = svc_pid_starttime(getpid());

	ck_assert(st > 0);
	ck_assert(svc_pid_alive(getpid(), st));
	ck_assert(svc_pid_alive(getpid(), 0));
	ck_assert(!svc_pid_alive(getpid(), st + 1));
	ck_assert(!svc_pid_alive(0, 0));
	ck_assert_int_eq(svc_pid_starttime(-1), 0);
}
END_TEST

START_TEST(test_util__free_port)
{
	int port = 0;

	ck_assert_int_eq(svc_free_port(&port, "127.0.0.1", NULL), 0);
	ck_assert(port > 0 && port <= 65535);
	ck_assert_int_eq(svc_free_port(&port, "not-an-ip", NULL), SVC_EGENERIC);
}
END_TEST

START_TEST(test_util__time)
{
	char buf[64];

	ck_assert_str_eq(svc_time_format(buf, sizeof(buf), 0), "1970-01-01T00:00:00Z");
	ck_assert_str_eq(svc_time_format(buf, sizeof(buf), 1700000000123LL),
			 "2023-11-14T22:13:20Z");
	ck_assert(svc_now_ms() > 1700000000000LL);
	int64_t t0 = svc_mono_ms();
	svc_sleep_ms(20);
	ck_assert(svc_mono_ms() - t0 >= 20);
}
END_TEST

START_TEST(test_util__error_set_keeps_first)
{
	struct svc_error err;
	char buf[256];

	svc_error_clear(&err);
	ck_assert_int_eq(svc_error_set(&err, SVC_ENOTFOUND, "first '%s'", "a"), SVC_ENOTFOUND);
	ck_assert_int_eq(svc_error_set(&err, SVC_EGENERIC, "second"), SVC_EGENERIC);
	ck_assert_int_eq(err.code, SVC_ENOTFOUND);
	ck_assert_str_eq(err.message, "first 'a'");
	ck_assert_str_eq(svc_error_format(&err, buf, sizeof(buf)), "first 'a'");
	svc_error_clear(&err);
	svc_error_set_at(&err, SVC_EMANIFEST, "m.yaml", 3, 7, "bad '%s'", "x");
	ck_assert_str_eq(svc_error_format(&err, buf, sizeof(buf)), "m.yaml:3:7: bad 'x'");
	svc_error_clear(&err);
	svc_error_set_at(&err, SVC_EMANIFEST, "m.yaml", 0, 0, "unreadable");
	ck_assert_str_eq(svc_error_format(&err, buf, sizeof(buf)), "m.yaml: unreadable");
	svc_error_clear(&err);
	svc_error_set_errno(&err, SVC_EGENERIC, ENOENT, "cannot open '%s'", "f");
	ck_assert_str_eq(err.message, "cannot open 'f': No such file or directory");
	ck_assert_int_eq(svc_error_set(NULL, SVC_EFAILED, "dropped"), SVC_EFAILED);
}
END_TEST

START_TEST(test_util__diags_sort_and_cap)
{
	struct svc_diags d;

	svc_diags_init(&d);
	svc_diags_addf(&d, "b.yaml", 1, 1, "b1");
	svc_diags_addf(&d, "a.yaml", 5, 2, "a5");
	svc_diags_addf(&d, "a.yaml", 2, 9, "a2-first");
	svc_diags_addf(&d, "a.yaml", 2, 9, "a2-second");
	svc_diags_addf(&d, "a.yaml", 2, 3, "a2c3");
	svc_diags_sort(&d);
	ck_assert_int_eq(d.count, 5);
	ck_assert_str_eq(d.items[0].message, "a2c3");
	ck_assert_str_eq(d.items[1].message, "a2-first");
	ck_assert_str_eq(d.items[2].message, "a2-second");
	ck_assert_str_eq(d.items[3].message, "a5");
	ck_assert_str_eq(d.items[4].message, "b1");
	ck_assert_int_eq(d.items[0].code, SVC_EMANIFEST);
	for (int i = 0; i < 2000; i++)
		svc_diags_addf(&d, "c.yaml", i + 1, 1, "e%d", i);
	ck_assert_int_eq(d.count, 1000);
	svc_diags_release(&d);
	ck_assert_int_eq(d.count, 0);
	ck_assert_ptr_null(d.items);
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

/*
 * A read-only tree (as a git export is) is removed whole by a user without
 * root's override of permissions: as root, the tree is made in a folder
 * owned by nobody and removed by a child running as nobody.
 */
START_TEST(test_util__rm_rf_read_only)
{
	char *dir = make_tmpdir(), *tree = svc_strfmt("%s/tree", dir);
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	int status;
	pid_t pid;

	ck_assert_int_eq(chmod(dir, 0755), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(dir, uid, uid), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *sub = svc_strfmt("%s/sub", tree), *file = svc_strfmt("%s/f", sub);

		if ((geteuid() == 0 && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
					setresuid(uid, uid, uid))) ||
		    mkdir(tree, 0755) || mkdir(sub, 0755) ||
		    svc_file_write_atomic(file, "x", 1, 0444, NULL) || chmod(sub, 0555) ||
		    chmod(tree, 0555))
			_exit(2);
		/* without the chmod, unlinking f in the 0555 sub fails */
		_exit(svc_rm_rf(tree) == 0 && !svc_path_exists(tree) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(svc_rm_rf(dir), 0);
	free(tree);
	free(dir);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_util__duration_parse);
	tcase_add_test(tc, test_util__rm_rf_read_only);
	tcase_add_test(tc, test_util__duration_format);
	tcase_add_test(tc, test_util__addr_parse_ipv4);
	tcase_add_test(tc, test_util__addr_parse_ipv6_canonical);
	tcase_add_test(tc, test_util__addr_parse_errors);
	tcase_add_test(tc, test_util__addr_from_host_port);
	tcase_add_test(tc, test_util__status_range);
	tcase_add_test(tc, test_util__parse_int);
	tcase_add_test(tc, test_util__name_valid);
	tcase_add_test(tc, test_util__strv);
	tcase_add_test(tc, test_util__strfmt_strdup);
	tcase_add_test(tc, test_util__file_write_read);
	tcase_add_test(tc, test_util__file_read_large);
	tcase_add_test(tc, test_util__file_read_regular_only);
	tcase_add_test(tc, test_util__env);
	tcase_add_test(tc, test_util__pid);
	tcase_add_test(tc, test_util__free_port);
	tcase_add_test(tc, test_util__time);
	tcase_add_test(tc, test_util__error_set_keeps_first);
	tcase_add_test(tc, test_util__diags_sort_and_cap);
	tcase_add_test(tc, test_util__json_files);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
