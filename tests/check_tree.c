/*
 * check_tree.c - unit tests of tree.c: the walk order and what is hashed,
 * copies, refusals (symlinks leaving the tree, special files), the tar
 * archive (read back with libarchive) and disk usage. Real files in a
 * temporary folder.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "tree.h"
#include "util.h"

static char *tmp;

static void setup(void)
{
	tmp = svc_strdup("/tmp/check_tree.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	svc_rm_rf(tmp);
	free(tmp);
}

/* Write a file under the temp folder (parents created). */
static void put(const char *rel, const char *content, mode_t mode)
{
	char *path = svc_strfmt("%s/%s", tmp, rel), *slash = strrchr(path, '/');
	int fd;

	*slash = '\0';
	ck_assert_int_eq(svc_mkdir_p(path, 0755, NULL), 0);
	*slash = '/';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	free(path);
}

static void link_at(const char *rel, const char *target)
{
	char *path = svc_strfmt("%s/%s", tmp, rel);

	ck_assert_int_eq(symlink(target, path), 0);
	free(path);
}

static char *path_of(const char *rel)
{
	return svc_strfmt("%s/%s", tmp, rel);
}

/* Hash of the tree at rel; rc of the walk in *rc (0 expected unless given). */
static int hash_tree(const char *rel, char out[SVC_HASH_HEX_LEN + 1], struct svc_error *err)
{
	char *root = path_of(rel);
	struct svc_hash *h = svc_hash_new();
	int rc = svc_tree_walk(root, NULL, h, NULL, NULL, err);

	svc_hash_final_hex(h, out);
	svc_hash_free(h);
	free(root);
	return rc;
}

static void hash_ok(const char *rel, char out[SVC_HASH_HEX_LEN + 1])
{
	struct svc_error err = { 0 };

	ck_assert_msg(hash_tree(rel, out, &err) == 0, "%s", err.message);
}

/* The same small tree under rel, files created in the order given. */
static void make_tree(const char *rel, bool reverse)
{
	const char *names[] = { "a.txt", "sub/b.txt", "sub/deeper/c.txt", "z.bin" };

	for (int i = 0; i < 4; i++) {
		int k = reverse ? 3 - i : i;
		char *r = svc_strfmt("%s/%s", rel, names[k]);
		put(r, names[k], k == 3 ? 0755 : 0644);
		free(r);
	}
}

/* A folder something runs in: manifests beside it left out on request,
 * symlinks anywhere and special files tolerated, content still counted. */
START_TEST(test_tree__hash_dir_workdir)
{
	struct svc_error err = { 0 };
	char h1[SVC_HASH_HEX_LEN + 1], h2[SVC_HASH_HEX_LEN + 1], h3[SVC_HASH_HEX_LEN + 1];
	char *w1 = path_of("w1"), *w2 = path_of("w2");

	put("w1/api.yaml", "service: api\n", 0644);
	put("w1/run.sh", "echo hi\n", 0755);
	put("w1/sub/x.yaml", "kept: below the root\n", 0644);
	link_at("w1/passwd", "/etc/passwd");
	put("w2/web.yml", "service: web\n", 0644);
	put("w2/web.lock", "lock\n", 0644);
	put("w2/run.sh", "echo hi\n", 0755);
	put("w2/sub/x.yaml", "kept: below the root\n", 0644);
	link_at("w2/passwd", "/etc/passwd");
	ck_assert_msg(svc_tree_hash_dir(w1, NULL, true, h1, NULL, &err) == 0, "%s", err.message);
	ck_assert_msg(svc_tree_hash_dir(w2, NULL, true, h2, NULL, &err) == 0, "%s", err.message);
	ck_assert_str_eq(h1, h2);
	/* without skipping, the manifests count */
	ck_assert_int_eq(svc_tree_hash_dir(w1, NULL, false, h3, NULL, &err), 0);
	ck_assert_str_ne(h1, h3);
	/* a changed file below the root changes it, even a .yaml one */
	put("w2/sub/x.yaml", "kept: changed\n", 0644);
	ck_assert_int_eq(svc_tree_hash_dir(w2, NULL, true, h2, NULL, &err), 0);
	ck_assert_str_ne(h1, h2);
	put("w2/sub/x.yaml", "kept: below the root\n", 0644);
	put("w2/run.sh", "echo ho\n", 0755);
	ck_assert_int_eq(svc_tree_hash_dir(w2, NULL, true, h2, NULL, &err), 0);
	ck_assert_str_ne(h1, h2);
	/* a missing folder is an error naming it */
	ck_assert_int_ne(svc_tree_hash_dir("/nonexistent-svcctl", "run.workdir 'x'", true, h2,
					   NULL, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.message, "run.workdir 'x'"));
	free(w1);
	free(w2);
}
END_TEST

START_TEST(test_tree__same_tree_same_hash)
{
	char a[65], b[65], again[65];

	make_tree("one", false);
	make_tree("two", true);
	hash_ok("one", a);
	hash_ok("two", b);
	hash_ok("one", again);
	ck_assert_str_eq(a, again);
	ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(test_tree__inputs_change_the_hash)
{
	char base[65], h[65];
	char *p;

	make_tree("t", false);
	hash_ok("t", base);

	put("t/a.txt", "a.txy", 0644);          /* one byte */
	hash_ok("t", h);
	ck_assert_str_ne(base, h);
	put("t/a.txt", "a.txt", 0644);
	hash_ok("t", h);
	ck_assert_str_eq(base, h);

	p = path_of("t/a.txt");                 /* the execute bit counts ... */
	ck_assert_int_eq(chmod(p, 0755), 0);
	hash_ok("t", h);
	ck_assert_str_ne(base, h);
	ck_assert_int_eq(chmod(p, 0600), 0);    /* ... other permission bits do not */
	hash_ok("t", h);
	ck_assert_str_eq(base, h);
	free(p);

	{
		char *from = path_of("t/a.txt"), *to = path_of("t/a2.txt");
		ck_assert_int_eq(rename(from, to), 0);   /* a rename */
		hash_ok("t", h);
		ck_assert_str_ne(base, h);
		ck_assert_int_eq(rename(to, from), 0);
		free(from);
		free(to);
	}
	p = path_of("t/empty");                 /* an empty folder */
	ck_assert_int_eq(mkdir(p, 0755), 0);
	hash_ok("t", h);
	ck_assert_str_ne(base, h);
	ck_assert_int_eq(rmdir(p), 0);
	free(p);
	hash_ok("t", h);
	ck_assert_str_eq(base, h);
}
END_TEST

START_TEST(test_tree__git_folders_left_out)
{
	char base[65], h[65];
	struct svc_tree_stats st;
	char *root;

	make_tree("t", false);
	hash_ok("t", base);
	put("t/.git/HEAD", "ref: refs/heads/main\n", 0644);
	put("t/sub/.git", "gitdir: elsewhere\n", 0644);
	hash_ok("t", h);
	ck_assert_str_eq(base, h);
	root = path_of("t");
	ck_assert_int_eq(svc_tree_walk(root, NULL, NULL, NULL, &st, NULL), 0);
	ck_assert_int_eq(st.files, 4);
	ck_assert_int_eq(st.dirs, 2);
	ck_assert_int_eq(st.bytes, strlen("a.txt") + strlen("sub/b.txt") +
			 strlen("sub/deeper/c.txt") + strlen("z.bin"));
	free(root);
}
END_TEST

START_TEST(test_tree__symlinks_inside_kept)
{
	char base[65], h[65], target[64];
	char *root = path_of("t"), *dest = path_of("copy"), *l;
	struct svc_tree_stats st;
	ssize_t n;

	make_tree("t", false);
	link_at("t/sub/to_a", "../a.txt");
	link_at("t/sub/deeper/up", "../../z.bin");
	link_at("t/here", "./a.txt");
	hash_ok("t", base);
	ck_assert_int_eq(svc_tree_walk(root, NULL, NULL, dest, &st, NULL), 0);
	ck_assert_int_eq(st.symlinks, 3);
	l = path_of("copy/sub/to_a");
	n = readlink(l, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "../a.txt");
	free(l);
	hash_ok("copy", h);
	ck_assert_str_eq(base, h);
	/* the target is hashed */
	l = path_of("t/sub/to_a");
	ck_assert_int_eq(unlink(l), 0);
	ck_assert_int_eq(symlink("b.txt", l), 0);
	hash_ok("t", h);
	ck_assert_str_ne(base, h);
	free(l);
	free(root);
	free(dest);
}
END_TEST

static void refused(const char *link_rel, const char *target, const char *want)
{
	struct svc_error err = { 0 };
	char h[65];

	make_tree("t", false);
	link_at(link_rel, target);
	ck_assert_int_eq(hash_tree("t", h, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, want) != NULL, "message: %s", err.message);
}

START_TEST(test_tree__absolute_symlink_refused)
{
	refused("t/sub/abs", "/etc/passwd",
		"'sub/abs' is a symlink pointing outside the context ('/etc/passwd')");
}
END_TEST

START_TEST(test_tree__escaping_symlink_refused)
{
	refused("t/sub/up", "../../x", "'sub/up' is a symlink pointing outside the context");
}
END_TEST

START_TEST(test_tree__dotdot_after_name_refused)
{
	refused("t/sub/back", "deeper/../../..", "'sub/back' is a symlink whose target has '..'");
}
END_TEST

START_TEST(test_tree__fifo_refused)
{
	struct svc_error err = { 0 };
	char h[65], *p;

	make_tree("t", false);
	p = path_of("t/sub/pipe");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	ck_assert_int_eq(hash_tree("t", h, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "'sub/pipe' is not a file, folder or symlink"),
		      "message: %s", err.message);
	free(p);
}
END_TEST

START_TEST(test_tree__label_in_messages)
{
	struct svc_error err = { 0 };
	char *root;

	make_tree("t", false);
	link_at("t/bad", "/x");
	root = path_of("t");
	ck_assert_int_eq(svc_tree_walk(root, "build.context 'app'", NULL, NULL, NULL, &err),
			 SVC_EFAILED);
	ck_assert_msg(!strncmp(err.message, "build.context 'app': 'bad'", 26), "%s", err.message);
	free(root);
}
END_TEST

START_TEST(test_tree__copy_reproduces_modes)
{
	char *root = path_of("t"), *dest = path_of("out/deep/copy"), *p;
	struct stat st;
	char buf[64];
	int fd;

	make_tree("t", false);
	ck_assert_int_eq(chmod(root, 0700), 0);
	p = path_of("t/a.txt");
	ck_assert_int_eq(chmod(p, 0600), 0);
	free(p);
	ck_assert_int_eq(svc_tree_walk(root, NULL, NULL, dest, NULL, NULL), 0);
	p = path_of("out/deep/copy/z.bin");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	free(p);
	p = path_of("out/deep/copy/a.txt");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "a.txt", 5), 0);
	close(fd);
	free(p);
	p = path_of("out/deep/copy/sub/deeper");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	free(p);
	free(root);
	free(dest);
}
END_TEST

START_TEST(test_tree__copy_dest_must_be_empty)
{
	struct svc_error err = { 0 };
	char *root = path_of("t"), *dest = path_of("dest");

	make_tree("t", false);
	put("dest/already", "x", 0644);
	ck_assert_int_eq(svc_tree_walk(root, NULL, NULL, dest, NULL, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "is not empty") != NULL, "%s", err.message);
	svc_rm_rf(dest);
	ck_assert_int_eq(mkdir(dest, 0755), 0);   /* an empty one is fine */
	ck_assert_int_eq(svc_tree_walk(root, NULL, NULL, dest, NULL, NULL), 0);
	free(root);
	free(dest);
}
END_TEST

START_TEST(test_tree__missing_root)
{
	struct svc_error err = { 0 };
	char *root = path_of("nope");

	ck_assert_int_eq(svc_tree_walk(root, NULL, NULL, NULL, NULL, &err), SVC_ENOTFOUND);
	free(root);
}
END_TEST

START_TEST(test_tree__root_through_symlink)
{
	char a[65], b[65];

	make_tree("t", false);
	link_at("alias", "t");
	hash_ok("t", a);
	hash_ok("alias", b);
	ck_assert_str_eq(a, b);
}
END_TEST

/* Read the archive back: "name type perm uid mtime [-> target | size:content]" lines. */
static char *read_tar(const char *path)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *ae;
	char *out = svc_strdup("");

	archive_read_support_format_all(ar);
	ck_assert_int_eq(archive_read_open_filename(ar, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(ar, &ae) == ARCHIVE_OK) {
		char data[256] = "", *line, *n;
		const char *target = archive_entry_symlink(ae);
		ssize_t got = archive_read_data(ar, data, sizeof(data) - 1);

		if (got > 0)
			data[got] = '\0';
		line = svc_strfmt("%s %o %o %lld %lld%s%s%s%s\n", archive_entry_pathname(ae),
				  (unsigned)archive_entry_filetype(ae),
				  (unsigned)archive_entry_perm(ae),
				  (long long)archive_entry_uid(ae),
				  (long long)archive_entry_mtime(ae),
				  target ? " -> " : "", target ? target : "",
				  got > 0 ? " " : "", got > 0 ? data : "");
		n = svc_strfmt("%s%s", out, line);
		free(out);
		free(line);
		out = n;
	}
	archive_read_free(ar);
	return out;
}

START_TEST(test_tree__tar)
{
	char *root = path_of("t"), *tar1 = path_of("one.tar"), *tar2 = path_of("two.tar");
	char *listing, *a = NULL, *b = NULL;
	size_t la = 0, lb = 0;

	make_tree("t", false);
	link_at("t/sub/abs", "/etc/passwd");   /* a build's output: archived as is */
	put("t/.git/HEAD", "x", 0644);
	ck_assert_int_eq(svc_tree_tar(root, tar1, NULL), 0);
	listing = read_tar(tar1);
	ck_assert_str_eq(listing,
		"a.txt 100000 644 0 0 a.txt\n"
		"sub/ 40000 755 0 0\n"
		"sub/abs 120000 777 0 0 -> /etc/passwd\n"
		"sub/b.txt 100000 644 0 0 sub/b.txt\n"
		"sub/deeper/ 40000 755 0 0\n"
		"sub/deeper/c.txt 100000 644 0 0 sub/deeper/c.txt\n"
		"z.bin 100000 755 0 0 z.bin\n");
	/* byte-identical the second time */
	ck_assert_int_eq(svc_tree_tar(root, tar2, NULL), 0);
	ck_assert_int_eq(svc_file_read(&a, &la, tar1, 1 << 20, NULL), 0);
	ck_assert_int_eq(svc_file_read(&b, &lb, tar2, 1 << 20, NULL), 0);
	ck_assert_uint_eq(la, lb);
	ck_assert_int_eq(memcmp(a, b, la), 0);
	free(a);
	free(b);
	free(listing);
	free(root);
	free(tar1);
	free(tar2);
}
END_TEST

START_TEST(test_tree__disk_usage)
{
	char *p = path_of("t"), *f = path_of("t/a.txt"), *none = path_of("none");

	make_tree("t", false);
	ck_assert_uint_gt(svc_tree_disk_usage(f), 0);
	ck_assert_uint_ge(svc_tree_disk_usage(p), 4 * svc_tree_disk_usage(f));
	ck_assert_uint_eq(svc_tree_disk_usage(none), 0);
	free(p);
	free(f);
	free(none);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("tree");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tree__same_tree_same_hash);
	tcase_add_test(tc, test_tree__hash_dir_workdir);
	tcase_add_test(tc, test_tree__inputs_change_the_hash);
	tcase_add_test(tc, test_tree__git_folders_left_out);
	tcase_add_test(tc, test_tree__symlinks_inside_kept);
	tcase_add_test(tc, test_tree__absolute_symlink_refused);
	tcase_add_test(tc, test_tree__escaping_symlink_refused);
	tcase_add_test(tc, test_tree__dotdot_after_name_refused);
	tcase_add_test(tc, test_tree__fifo_refused);
	tcase_add_test(tc, test_tree__label_in_messages);
	tcase_add_test(tc, test_tree__copy_reproduces_modes);
	tcase_add_test(tc, test_tree__copy_dest_must_be_empty);
	tcase_add_test(tc, test_tree__missing_root);
	tcase_add_test(tc, test_tree__root_through_symlink);
	tcase_add_test(tc, test_tree__tar);
	tcase_add_test(tc, test_tree__disk_usage);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
