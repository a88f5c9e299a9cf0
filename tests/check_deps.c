/*
 * check_deps.c - unit tests of the dependency cache (deps.c) and of lock
 * files (lockfile.c), with real git repositories made here with libgit2:
 * tag v1 (lightweight), tag v2 (annotated), a branch main that moves.
 */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deps.h"
#include "lockfile.h"
#include "manifest.h"
#include "util.h"

static char *tmp, *src, *state;
static git_repository *repo;
static char c1[41], c2[41], c3[41];   /* commits: v1, v2, main after v2 */

static void write_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char *path = svc_strfmt("%s/%s", dir, rel), *slash = strrchr(path, '/');
	int fd;

	*slash = '\0';
	ck_assert_int_eq(svc_mkdir_p(path, 0755, NULL), 0);
	*slash = '/';
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	free(path);
}

/* Commit everything in the work tree on main; out gets the commit id. */
static void commit_all(const char *message, int64_t when, char out[41])
{
	git_index *index = NULL;
	git_oid tree_oid, oid, parent_oid;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_commit *parent = NULL;
	const git_commit *parents[1];
	int nparents = 0;

	ck_assert_int_eq(git_repository_index(&index, repo), 0);
	ck_assert_int_eq(git_index_add_all(index, NULL, 0, NULL, NULL), 0);
	ck_assert_int_eq(git_index_write(index), 0);
	ck_assert_int_eq(git_index_write_tree(&tree_oid, index), 0);
	ck_assert_int_eq(git_tree_lookup(&tree, repo, &tree_oid), 0);
	ck_assert_int_eq(git_signature_new(&sig, "t", "t@example.invalid", when, 0), 0);
	if (git_reference_name_to_id(&parent_oid, repo, "refs/heads/main") == 0) {
		ck_assert_int_eq(git_commit_lookup(&parent, repo, &parent_oid), 0);
		parents[nparents++] = parent;
	}
	ck_assert_int_eq(git_commit_create(&oid, repo, "refs/heads/main", sig, sig, NULL,
					   message, tree, (size_t)nparents, parents), 0);
	git_oid_tostr(out, 41, &oid);
	git_commit_free(parent);
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(index);
}

static void tag(const char *name, const char *commit, bool annotated)
{
	git_object *obj = NULL;
	git_signature *sig = NULL;
	git_oid oid;

	ck_assert_int_eq(git_revparse_single(&obj, repo, commit), 0);
	if (annotated) {
		ck_assert_int_eq(git_signature_new(&sig, "t", "t@example.invalid", 1000, 0), 0);
		ck_assert_int_eq(git_tag_create(&oid, repo, name, obj, sig, "release", 1), 0);
	} else {
		ck_assert_int_eq(git_tag_create_lightweight(&oid, repo, name, obj, 1), 0);
	}
	git_signature_free(sig);
	git_object_free(obj);
}

/* Point refs/heads/name (force) at commit. */
static void branch(const char *name, const char *commit)
{
	git_commit *c = NULL;
	git_reference *ref = NULL;
	git_oid oid;

	ck_assert_int_eq(git_oid_fromstr(&oid, commit), 0);
	ck_assert_int_eq(git_commit_lookup(&c, repo, &oid), 0);
	ck_assert_int_eq(git_branch_create(&ref, repo, name, c, 1), 0);
	git_reference_free(ref);
	git_commit_free(c);
}

static void remove_ref(const char *name)
{
	ck_assert_int_eq(git_reference_remove(repo, name), 0);
}

/* Write an object of type straight into the source's object database. */
static void raw_object(git_object_t type, const void *data, size_t len, char hex[41])
{
	git_odb *odb = NULL;
	git_oid oid;

	ck_assert_int_eq(git_repository_odb(&odb, repo), 0);
	ck_assert_int_eq(git_odb_write(&oid, odb, data, len, type), 0);
	git_oid_tostr(hex, 41, &oid);
	git_odb_free(odb);
}

/* Append one raw tree entry, "MODE NAME\0" and the 20 bytes of hex, to buf. */
static size_t tree_entry(char *buf, size_t used, const char *mode, const char *name,
			 const char *hex)
{
	int n = snprintf(buf + used, 256, "%s %s", mode, name);
	git_oid oid;

	ck_assert(n > 0 && n < 256);
	ck_assert_int_eq(git_oid_fromstr(&oid, hex), 0);
	memcpy(buf + used + (size_t)n + 1, oid.id, GIT_OID_RAWSZ);
	return used + (size_t)n + 1 + GIT_OID_RAWSZ;
}

/*
 * A commit (parent c3) of tree on refs/heads/name, written raw: libgit2's
 * checks when building trees must not stop the crafted trees a hostile
 * source could serve.
 */
static void raw_commit(const char *name, const char *tree)
{
	git_reference *ref = NULL;
	char *text = svc_strfmt("tree %s\nparent %s\nauthor t <t@example.invalid> 5000 +0000\n"
				"committer t <t@example.invalid> 5000 +0000\n\nraw\n", tree, c3);
	char hex[41];
	git_oid oid;

	raw_object(GIT_OBJECT_COMMIT, text, strlen(text), hex);
	ck_assert_int_eq(git_oid_fromstr(&oid, hex), 0);
	ck_assert_int_eq(git_reference_create(&ref, repo, name, &oid, 1, NULL), 0);
	git_reference_free(ref);
	free(text);
}

static void setup(void)
{
	char *link;

	tmp = svc_strdup("/tmp/check_deps.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	src = svc_strfmt("%s/lib", tmp);
	state = svc_strfmt("%s/state", tmp);
	ck_assert_int_eq(git_repository_init(&repo, src, 0), 0);
	ck_assert_int_eq(git_repository_set_head(repo, "refs/heads/main"), 0);
	write_file(src, "greet.h", "v1\n", 0644);
	write_file(src, "tools/gen", "#!/bin/sh\n", 0755);
	link = svc_strfmt("%s/current", src);
	ck_assert_int_eq(symlink("greet.h", link), 0);
	free(link);
	commit_all("v1", 1000, c1);
	tag("v1", c1, false);
	write_file(src, "greet.h", "v2\n", 0644);
	commit_all("v2", 2000, c2);
	tag("v2", c2, true);
	write_file(src, "greet.h", "v3\n", 0644);
	commit_all("main", 3000, c3);
}

static void teardown(void)
{
	git_repository_free(repo);
	svc_rm_rf(tmp);
	free(tmp);
	free(src);
	free(state);
}

static char *read_text(const char *dir, const char *rel)
{
	char *path = svc_strfmt("%s/%s", dir, rel), *text = NULL;
	size_t len;

	ck_assert_int_eq(svc_file_read(&text, &len, path, 1 << 20, NULL), 0);
	free(path);
	return text;
}

static mode_t mode_of(const char *dir, const char *rel)
{
	char *path = svc_strfmt("%s/%s", dir, rel);
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	free(path);
	return st.st_mode & 07777;
}

/* Entries of STATE/deps/KEY/versions for src (0 when it does not exist). */
static size_t nversions(void)
{
	char *cache = svc_dep_cache_dir(state, src), *vdir = svc_strfmt("%s/versions", cache);
	DIR *d = opendir(vdir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	free(vdir);
	free(cache);
	return n;
}

/* ---- locations ---- */

START_TEST(test_deps__location)
{
	char *l;

	l = svc_dep_location("../deps/lib.git", "/srv/manifests");
	ck_assert_str_eq(l, "/srv/deps/lib.git");
	free(l);
	l = svc_dep_location("./x//y/../lib.git/", "/srv/m");
	ck_assert_str_eq(l, "/srv/m/x/lib.git");
	free(l);
	l = svc_dep_location("/abs/lib.git", "/srv/m");
	ck_assert_str_eq(l, "/abs/lib.git");
	free(l);
	l = svc_dep_location("https://example.com/a/lib.git", "/srv/m");
	ck_assert_str_eq(l, "https://example.com/a/lib.git");
	free(l);
	l = svc_dep_location("git@example.com:a/lib.git", "/srv/m");
	ck_assert_str_eq(l, "git@example.com:a/lib.git");
	free(l);
	l = svc_dep_location("../../../..", "/a");
	ck_assert_str_eq(l, "/");
	free(l);
}
END_TEST

START_TEST(test_deps__cache_dir)
{
	char *a = svc_dep_cache_dir("/st", "/srv/deps/libgreet.git");
	char *b = svc_dep_cache_dir("/st", "/other/libgreet.git");
	char *c = svc_dep_cache_dir("/st", "git@example.com:a/lib-x.git");

	ck_assert_msg(!strncmp(a, "/st/deps/libgreet-", 18) && strlen(a) == 18 + 12, "%s", a);
	ck_assert_str_ne(a, b);    /* same name, other place: another entry */
	ck_assert_msg(!strncmp(c, "/st/deps/lib-x-", 15), "%s", c);
	free(a);
	free(b);
	free(c);
}
END_TEST

/* ---- fetch, resolve, checkout ---- */

static struct svc_dep_source *open_fetched(void)
{
	struct svc_dep_source *s = NULL;
	struct svc_error err = { 0 };

	ck_assert_int_eq(svc_dep_open(&s, state, src, "libgreet", &err), 0);
	ck_assert_msg(svc_dep_fetch(s, &err) == 0, "%s", err.message);
	return s;
}

START_TEST(test_deps__resolve_refs)
{
	struct svc_dep_source *s = open_fetched();
	struct svc_error err = { 0 };
	char out[41], prefix[8];

	ck_assert_int_eq(svc_dep_resolve(s, "v1", out, NULL), 0);
	ck_assert_str_eq(out, c1);
	ck_assert_int_eq(svc_dep_resolve(s, "v2", out, NULL), 0);   /* annotated: peeled */
	ck_assert_str_eq(out, c2);
	ck_assert_int_eq(svc_dep_resolve(s, "main", out, NULL), 0);
	ck_assert_str_eq(out, c3);
	ck_assert_int_eq(svc_dep_resolve(s, c2, out, NULL), 0);
	ck_assert_str_eq(out, c2);
	snprintf(prefix, sizeof(prefix), "%.7s", c1);
	ck_assert_int_eq(svc_dep_resolve(s, prefix, out, NULL), 0);
	ck_assert_str_eq(out, c1);
	ck_assert_int_eq(svc_dep_resolve(s, "v9", out, &err), SVC_ENOTFOUND);
	ck_assert_msg(strstr(err.message, "dependency 'libgreet': ref 'v9' not found in '") != NULL,
		      "%s", err.message);
	ck_assert(svc_dep_has_commit(s, c1));
	ck_assert(!svc_dep_has_commit(s, "0123456789abcdef0123456789abcdef01234567"));
	ck_assert(!svc_dep_has_commit(s, "nothex"));
	svc_dep_close(s);
}
END_TEST

START_TEST(test_deps__resolve_prefers_names)
{
	struct svc_error err = { 0 };
	struct svc_dep_source *s;
	char out[41], prefix[9];

	/* a branch spelled like a prefix of c1, and a branch named like tag v1 */
	snprintf(prefix, sizeof(prefix), "%.8s", c1);
	branch(prefix, c3);
	branch("v1", c3);
	s = open_fetched();
	ck_assert_int_eq(svc_dep_resolve(s, prefix, out, NULL), 0);
	ck_assert_str_eq(out, c3);
	ck_assert_int_eq(svc_dep_resolve(s, "v1", out, NULL), 0);
	ck_assert_str_eq(out, c1);
	/* a well-formed id the cache does not hold */
	ck_assert_int_eq(svc_dep_resolve(s, "0123456789abcdef0123456789abcdef01234567", out, &err),
			 SVC_ENOTFOUND);
	svc_dep_close(s);
}
END_TEST

START_TEST(test_deps__fetch_follows_source)
{
	struct svc_dep_source *s;
	struct svc_error err = { 0 };
	char out[41], c4[41];

	branch("topic", c2);
	tag("tmp", c3, false);
	s = open_fetched();
	ck_assert_int_eq(svc_dep_resolve(s, "topic", out, NULL), 0);
	ck_assert_str_eq(out, c2);
	ck_assert_int_eq(svc_dep_resolve(s, "tmp", out, NULL), 0);
	ck_assert_str_eq(out, c3);
	/* main moves, annotated v2 moves with it, topic and tmp go away */
	write_file(src, "greet.h", "v4\n", 0644);
	commit_all("v4", 4000, c4);
	tag("v2", c4, true);
	remove_ref("refs/heads/topic");
	remove_ref("refs/tags/tmp");
	ck_assert_msg(svc_dep_fetch(s, &err) == 0, "%s", err.message);
	ck_assert_int_eq(svc_dep_resolve(s, "main", out, NULL), 0);
	ck_assert_str_eq(out, c4);
	ck_assert_int_eq(svc_dep_resolve(s, "v2", out, NULL), 0);
	ck_assert_str_eq(out, c4);
	ck_assert_int_eq(svc_dep_resolve(s, "topic", out, NULL), SVC_ENOTFOUND);
	ck_assert_int_eq(svc_dep_resolve(s, "tmp", out, NULL), SVC_ENOTFOUND);
	svc_dep_close(s);
}
END_TEST

START_TEST(test_deps__fetch_not_a_repository)
{
	char *plain = svc_strfmt("%s/plain", tmp), *want;
	struct svc_dep_source *s = NULL;
	struct svc_error err = { 0 };

	ck_assert_int_eq(mkdir(plain, 0755), 0);
	ck_assert_int_eq(svc_dep_open(&s, state, plain, "libx", NULL), 0);
	ck_assert_int_eq(svc_dep_fetch(s, &err), SVC_EUNAVAIL);
	want = svc_strfmt("dependency 'libx': cannot fetch from '%s': ", plain);
	/* libgit2's reason follows, whatever its words */
	ck_assert_msg(!strncmp(err.message, want, strlen(want)) &&
		      strlen(err.message) > strlen(want), "%s", err.message);
	svc_dep_close(s);
	free(want);
	free(plain);
}
END_TEST

struct open_job {
	int started, opened, rc;
};

static void *open_thread(void *arg)
{
	struct open_job *j = arg;
	struct svc_dep_source *s = NULL;

	__atomic_store_n(&j->started, 1, __ATOMIC_SEQ_CST);
	j->rc = svc_dep_open(&s, state, src, "libgreet", NULL);
	__atomic_store_n(&j->opened, 1, __ATOMIC_SEQ_CST);
	svc_dep_close(s);
	return NULL;
}

/*
 * flock(2) locks belong to the open file description, so a second open in
 * another thread of this process waits; fcntl(2) locks would not.
 */
START_TEST(test_deps__lock_excludes_threads)
{
	struct open_job job = { 0 };
	struct svc_dep_source *s = NULL;
	pthread_t th;

	ck_assert_int_eq(svc_dep_open(&s, state, src, "libgreet", NULL), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, open_thread, &job), 0);
	while (!__atomic_load_n(&job.started, __ATOMIC_SEQ_CST))
		usleep(1000);
	usleep(300 * 1000);
	ck_assert_int_eq(__atomic_load_n(&job.opened, __ATOMIC_SEQ_CST), 0);
	svc_dep_close(s);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(job.opened, 1);
	ck_assert_int_eq(job.rc, 0);
}
END_TEST

START_TEST(test_deps__checkout)
{
	struct svc_dep_source *s = open_fetched();
	char *dir = NULL, *again = NULL, *text, target[64], *p;
	struct stat st, st2;
	ssize_t n;

	umask(077);     /* modes are set, not left to the umask */
	ck_assert_int_eq(svc_dep_checkout(s, c1, &dir, NULL), 0);
	text = read_text(dir, "greet.h");
	ck_assert_str_eq(text, "v1\n");
	free(text);
	/* read-only: a checkout is an input no build may change */
	ck_assert_int_eq(mode_of(dir, ""), 0555);
	ck_assert_int_eq(mode_of(dir, "greet.h"), 0444);
	ck_assert_int_eq(mode_of(dir, "tools"), 0555);
	ck_assert_int_eq(mode_of(dir, "tools/gen"), 0555);
	text = read_text(dir, "tools/gen");
	ck_assert_str_eq(text, "#!/bin/sh\n");
	free(text);
	p = svc_strfmt("%s/current", dir);
	n = readlink(p, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "greet.h");
	free(p);
	/* a commit id is a path component: only 40 lowercase hex */
	for (p = again = svc_strdup(c1); *p; p++)
		*p = (char)toupper((unsigned char)*p);
	ck_assert_int_eq(svc_dep_checkout(s, again, &p, NULL), SVC_EFAILED);
	ck_assert_ptr_null(p);
	free(again);
	again = NULL;
	ck_assert_int_eq(svc_dep_checkout(s, "../../..", &p, NULL), SVC_EFAILED);
	ck_assert_ptr_null(p);
	/* the second time it is there already: same folder, not rewritten */
	p = svc_strfmt("%s/greet.h", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(svc_dep_checkout(s, c1, &again, NULL), 0);
	ck_assert_str_eq(dir, again);
	ck_assert_int_eq(stat(p, &st2), 0);
	ck_assert_uint_eq(st.st_ino, st2.st_ino);
	free(p);
	free(dir);
	free(again);
	svc_dep_close(s);
}
END_TEST

/* Pin ref and expect err_code with want in the message, and no version written. */
static void pin_refused(const char *ref, int err_code, const char *want)
{
	struct svc_error err = { 0 };
	char commit[41], *dir = NULL, *warn = NULL;

	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", ref, NULL, commit, &dir, &warn, &err),
			 err_code);
	ck_assert_msg(strstr(err.message, want) != NULL, "want '%s' in: %s", want, err.message);
	ck_assert_ptr_null(dir);
	free(warn);
	ck_assert_uint_eq(nversions(), 0);    /* no version, no temporary folder left */
}

START_TEST(test_deps__checkout_refuses_submodule)
{
	char blob[41], inner[41], outer[41], buf[512];
	size_t n;

	raw_object(GIT_OBJECT_BLOB, "x\n", 2, blob);
	n = tree_entry(buf, 0, "160000", "sub", c1);
	raw_object(GIT_OBJECT_TREE, buf, n, inner);
	n = tree_entry(buf, 0, "100644", "a", blob);
	n = tree_entry(buf, n, "40000", "tools", inner);
	raw_object(GIT_OBJECT_TREE, buf, n, outer);
	raw_commit("refs/heads/withsub", outer);
	pin_refused("withsub", SVC_EFAILED, "'tools/sub' is a git submodule");
}
END_TEST

/* Names git never writes, served by a crafted tree: refused, nothing written. */
START_TEST(test_deps__checkout_refuses_crafted_names)
{
	static const char *const names[] = { "..", ".", "a/b" };
	char blob[41], tree[41], buf[512], ref[64], *want;
	size_t n;

	raw_object(GIT_OBJECT_BLOB, "x\n", 2, blob);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = tree_entry(buf, 0, "100644", names[i], blob);
		raw_object(GIT_OBJECT_TREE, buf, n, tree);
		snprintf(ref, sizeof(ref), "refs/heads/crafted%zu", i);
		raw_commit(ref, tree);
		want = svc_strfmt("a tree entry named '%s' in '/' is refused", names[i]);
		pin_refused(ref + strlen("refs/heads/"), SVC_EFAILED, want);
		free(want);
	}
}
END_TEST

/* Move the lightweight tag v1 to a new commit in the source. */
static char *move_v1(void)
{
	char *c4 = svc_calloc(41, 1);

	write_file(src, "greet.h", "v1 fixed\n", 0644);
	commit_all("v1 fix", 4000, c4);
	tag("v1", c4, false);
	return c4;
}

START_TEST(test_deps__moved_tag_and_lock)
{
	struct svc_error err = { 0 };
	char commit[41], *dir = NULL, *warn = NULL, *c4, *text, *gone;

	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v1", NULL, commit, &dir, &warn,
				     &err), 0);
	ck_assert_str_eq(commit, c1);
	ck_assert_ptr_null(warn);
	free(dir);
	c4 = move_v1();
	/* unlocked: the fetch follows the moved tag */
	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v1", NULL, commit, &dir, &warn,
				     &err), 0);
	ck_assert_str_eq(commit, c4);
	text = read_text(dir, "greet.h");
	ck_assert_str_eq(text, "v1 fixed\n");
	free(text);
	free(dir);
	/* locked to the old commit, with the source gone: offline, from the cache */
	gone = svc_strfmt("%s/lib-away", tmp);
	ck_assert_int_eq(rename(src, gone), 0);
	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v1", c1, commit, &dir, &warn,
				     &err), 0);
	ck_assert_str_eq(commit, c1);
	text = read_text(dir, "greet.h");
	ck_assert_str_eq(text, "v1\n");
	free(text);
	free(dir);
	ck_assert_int_eq(rename(gone, src), 0);
	free(gone);
	free(c4);
}
END_TEST

START_TEST(test_deps__unreachable_source)
{
	struct svc_error err = { 0 };
	char commit[41], *dir = NULL, *warn = NULL;
	char *nowhere = svc_strfmt("%s/nowhere.git", tmp), *cache;

	/* never fetched, not there: an error, and no cache entry */
	ck_assert_int_eq(svc_dep_pin(state, nowhere, "libx", "v1", NULL, commit, &dir, &warn,
				     &err), SVC_EUNAVAIL);
	ck_assert_msg(strstr(err.message, "dependency 'libx': the repository '") &&
		      strstr(err.message, "nowhere.git' does not exist"), "%s", err.message);
	cache = svc_dep_cache_dir(state, nowhere);
	ck_assert(!svc_path_exists(cache));
	free(cache);
	free(nowhere);
}
END_TEST

START_TEST(test_deps__fetch_failure_uses_cache)
{
	struct svc_error err = { 0 };
	char commit[41], *dir = NULL, *warn = NULL, *moved = svc_strfmt("%s/lib-moved", tmp);

	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v2", NULL, commit, &dir, &warn,
				     &err), 0);
	free(dir);
	/* the source cannot be reached any more: the cached ref, with a warning */
	ck_assert_int_eq(rename(src, moved), 0);
	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v2", NULL, commit, &dir, &warn,
				     &err), 0);
	ck_assert_str_eq(commit, c2);
	ck_assert_ptr_nonnull(warn);
	ck_assert_msg(strstr(warn, "does not exist") && strstr(warn, "using the cached v2"),
		      "%s", warn);
	/* but a ref the cache does not know is an error */
	free(dir);
	free(warn);
	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v7", NULL, commit, &dir, &warn,
				     &err), SVC_EUNAVAIL);
	ck_assert_int_eq(rename(moved, src), 0);
	free(moved);
}
END_TEST

START_TEST(test_deps__locked_commit_missing)
{
	struct svc_error err = { 0 };
	char commit[41], *dir = NULL, *warn = NULL;

	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v1",
				     "0123456789abcdef0123456789abcdef01234567", commit, &dir,
				     &warn, &err), SVC_EFAILED);
	ck_assert_msg(strstr(err.message, "dependency 'libgreet': locked commit 0123456789ab is "
			     "not in '") != NULL, "%s", err.message);
	ck_assert_ptr_null(dir);
}
END_TEST

struct pin_job {
	char commit[41];
	int rc;
};

static void *pin_thread(void *arg)
{
	struct pin_job *j = arg;
	char *dir = NULL, *warn = NULL;

	j->rc = svc_dep_pin(state, src, "libgreet", "v2", NULL, j->commit, &dir, &warn, NULL);
	free(dir);
	free(warn);
	return NULL;
}

START_TEST(test_deps__concurrent_pins)
{
	struct pin_job jobs[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, pin_thread, &jobs[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(jobs[i].rc, 0);
		ck_assert_str_eq(jobs[i].commit, c2);
	}
}
END_TEST

START_TEST(test_deps__cache_list)
{
	char commit[41], *dir = NULL, *warn = NULL;
	struct svc_dep_cached *list = NULL;
	size_t n = 0;

	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v1", NULL, commit, &dir, &warn,
				     NULL), 0);
	free(dir);
	ck_assert_int_eq(svc_dep_pin(state, src, "libgreet", "v2", NULL, commit, &dir, &warn,
				     NULL), 0);
	free(dir);
	ck_assert_int_eq(svc_dep_cache_list(state, &list, &n, NULL), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].location, src);
	ck_assert_str_eq(list[0].name, "libgreet");
	ck_assert_uint_eq(list[0].nversions, 2);
	ck_assert(!strcmp(list[0].versions[0], c1) || !strcmp(list[0].versions[1], c1));
	ck_assert(!strcmp(list[0].versions[0], c2) || !strcmp(list[0].versions[1], c2));
	svc_dep_cached_free(list, n);
}
END_TEST

/* ---- lock files ---- */

static struct svc_manifest *manifest(const char *deps)
{
	char *yaml = svc_strfmt("service: web\nbuild:\n  context: .\n  dependencies:\n%s"
				"run: {command: [./web]}\n", deps);
	struct svc_manifest *m = NULL;
	struct svc_diags d;

	svc_diags_init(&d);
	ck_assert_msg(svc_manifest_load_buffer(&m, yaml, strlen(yaml), "web.yaml", tmp, &d) == 0,
		      "%s", d.count ? d.items[0].message : "?");
	svc_diags_release(&d);
	free(yaml);
	return m;
}

static const char two_deps[] =
	"    - {name: a, git: ../a.git, ref: v1, into: vendor/a}\n"
	"    - {name: b, git: ../b.git, ref: main, into: vendor/b}\n";

static void fill_lock(struct svc_lockfile *lf, struct svc_lock_entry *e)
{
	static char svc[] = "web", a[] = "a", b[] = "b", ga[] = "../a.git", gb[] = "../b.git",
		    v1[] = "v1", main_[] = "main";

	memset(e, 0, 2 * sizeof(*e));
	e[0].name = a, e[0].git = ga, e[0].ref = v1;
	e[1].name = b, e[1].git = gb, e[1].ref = main_;
	memset(e[0].commit, 'a', 40);
	memset(e[1].commit, 'b', 40);
	lf->service = svc;
	lf->deps = e;
	lf->ndeps = 2;
}

START_TEST(test_lockfile__round_trip)
{
	struct svc_manifest *m = manifest(two_deps);
	struct svc_lockfile lf, back;
	struct svc_lock_entry e[2];
	char *path = svc_lockfile_path(m), *text = NULL;
	struct stat st;
	size_t len;

	ck_assert_str_eq(strrchr(path, '/'), "/web.lock");
	fill_lock(&lf, e);
	ck_assert_int_eq(svc_lockfile_save(&lf, path, NULL), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(svc_file_read(&text, &len, path, 1 << 20, NULL), 0);
	ck_assert_int_eq(text[len - 1], '\n');
	free(text);
	ck_assert_int_eq(svc_lockfile_load(&back, path, NULL), 0);
	ck_assert_str_eq(back.service, "web");
	ck_assert_uint_eq(back.ndeps, 2);
	ck_assert_str_eq(svc_lockfile_find(&back, "b")->git, "../b.git");
	ck_assert_str_eq(svc_lockfile_find(&back, "a")->commit, e[0].commit);
	ck_assert_ptr_null(svc_lockfile_find(&back, "c"));
	ck_assert_int_eq(svc_lockfile_check(&back, m, path, NULL), 0);
	svc_lockfile_release(&back);
	free(path);
	svc_manifest_free(m);
}
END_TEST

static void bad_lock(const char *text, const char *want)
{
	char *path = svc_strfmt("%s/bad.lock", tmp);
	struct svc_error err = { 0 };
	struct svc_lockfile lf;
	char buf[1200];

	ck_assert_int_eq(svc_file_write_atomic(path, text, strlen(text), 0644, NULL), 0);
	ck_assert_int_eq(svc_lockfile_load(&lf, path, &err), SVC_EMANIFEST);
	svc_error_format(&err, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, want) != NULL, "want '%s' in: %s", want, buf);
	free(path);
}

#define COMMIT_A "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""

START_TEST(test_lockfile__strict)
{
	struct svc_error err = { 0 };
	struct svc_lockfile lf;
	char *missing = svc_strfmt("%s/none.lock", tmp);

	ck_assert_int_eq(svc_lockfile_load(&lf, missing, &err), SVC_ENOTFOUND);
	free(missing);
	bad_lock("{\"version\": 1,\n \"service\": \"web\",\n \"dependencies\": [}\n",
		 "bad.lock:3:19: invalid lock file: unexpected token near '}'");
	bad_lock("", "bad.lock:1: invalid lock file: '[' or '{' expected near end of file");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [], \"extra\": 1}",
		 "unknown key 'extra'");
	bad_lock("{\"version\": 2, \"service\": \"web\", \"dependencies\": []}",
		 "'version' must be 1");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [{\"name\": \"a\", "
		 "\"git\": \"g\", \"ref\": \"r\", \"commit\": \"abc\"}]}",
		 "dependencies[0].commit: 'abc' is not a commit id");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [{\"name\": \"a\", "
		 "\"git\": \"g\", \"commit\": " COMMIT_A "}]}",
		 "dependencies[0]: missing key 'ref'");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [{\"name\": \"a\", "
		 "\"git\": 7, \"ref\": \"r\", \"commit\": " COMMIT_A "}]}",
		 "dependencies[0]: 'git' must be a string");
	bad_lock("{\"version\": 1, \"dependencies\": []}", "bad.lock: missing key 'service'");
	bad_lock("{\"version\": 1, \"service\": [\"web\"], \"dependencies\": []}",
		 "bad.lock: 'service' must be a string");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": {}}",
		 "bad.lock: 'dependencies' must be a list");
	bad_lock("{\"service\": \"web\", \"dependencies\": []}", "bad.lock: missing key 'version'");
	bad_lock("[]", "bad.lock: expected a JSON object");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [\"a\"]}",
		 "bad.lock: dependencies[0]: expected an object");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [{\"name\": \"a\", "
		 "\"git\": \"g\", \"ref\": \"r\", \"commit\": " COMMIT_A ", \"into\": \"x\"}]}",
		 "bad.lock: dependencies[0]: unknown key 'into'");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": [{\"name\": \"a\", "
		 "\"git\": \"g\", \"ref\": \"r\", \"commit\": "
		 "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
		 "is not a commit id (40 lowercase hex)");
	bad_lock("{\"version\": 1, \"service\": \"web\", \"dependencies\": ["
		 "{\"name\": \"a\", \"git\": \"g\", \"ref\": \"r\", \"commit\": " COMMIT_A "},"
		 "{\"name\": \"a\", \"git\": \"g\", \"ref\": \"r\", \"commit\": " COMMIT_A "}]}",
		 "dependency 'a' is listed twice");
	bad_lock("{\"version\": 1, \"version\": 1, \"service\": \"web\", \"dependencies\": []}",
		 "bad.lock:1:24: invalid lock file: duplicate object key");
}
END_TEST

START_TEST(test_lockfile__check_differences)
{
	struct svc_manifest *m = manifest(
		"    - {name: b, git: ../b.git, ref: v2, into: vendor/b}\n"
		"    - {name: c, git: ../c.git, ref: v1, into: vendor/c}\n"
		"    - {name: a, git: ../a2.git, ref: v1, into: vendor/a}\n");
	struct svc_manifest *same = manifest(
		"    - {name: b, git: ../b.git, ref: main, into: vendor/b}\n"
		"    - {name: a, git: ../a.git, ref: v1, into: vendor/a}\n");
	static char api[] = "api";
	struct svc_lockfile lf;
	struct svc_lock_entry e[2];
	struct svc_error err = { 0 };

	fill_lock(&lf, e);
	ck_assert_int_eq(svc_lockfile_check(&lf, same, "web.lock", NULL), 0);  /* any order */
	ck_assert_int_eq(svc_lockfile_check(&lf, m, "web.lock", &err), SVC_EMANIFEST);
	ck_assert_str_eq(err.message,
		"web.lock: does not match the manifest's build.dependencies: "
		"b: ref v2 in the manifest, main in the lock; c: not in the lock; "
		"a: git ../a2.git in the manifest, ../a.git in the lock; run 'svcctl lock web'");
	svc_manifest_free(m);
	m = manifest("    - {name: a, git: ../a.git, ref: v1, into: vendor/a}\n");
	svc_error_clear(&err);
	ck_assert_int_eq(svc_lockfile_check(&lf, m, "web.lock", &err), SVC_EMANIFEST);
	ck_assert_msg(strstr(err.message, "b: not in the manifest") != NULL, "%s", err.message);
	svc_manifest_free(m);
	/* another service's lock; git and ref both differ: each is named */
	m = manifest("    - {name: a, git: ../x.git, ref: v9, into: vendor/a}\n"
		     "    - {name: b, git: ../b.git, ref: main, into: vendor/b}\n");
	lf.service = api;
	svc_error_clear(&err);
	ck_assert_int_eq(svc_lockfile_check(&lf, m, "web.lock", &err), SVC_EMANIFEST);
	ck_assert_str_eq(err.message,
		"web.lock: does not match the manifest's build.dependencies: "
		"it is the lock of service 'api', not 'web'; "
		"a: git ../x.git in the manifest, ../a.git in the lock; "
		"a: ref v9 in the manifest, v1 in the lock; run 'svcctl lock web'");
	svc_manifest_free(m);
	svc_manifest_free(same);
}
END_TEST

/* The parser over memory: bytes after len are not read, path only names the file. */
START_TEST(test_lockfile__buffer)
{
	static const char text[] = "{\"version\": 1, \"service\": \"web\", \"dependencies\": "
		"[{\"name\": \"a\", \"git\": \"g\", \"ref\": \"r\", \"commit\": " COMMIT_A "}]}"
		"GARBAGE";
	struct svc_error err = { 0 };
	struct svc_lockfile lf;
	char *big;

	ck_assert_int_eq(svc_lockfile_load_buffer(&lf, text, strlen(text) - 7, "mem.lock", &err), 0);
	ck_assert_str_eq(lf.service, "web");
	ck_assert_uint_eq(lf.ndeps, 1);
	ck_assert_str_eq(lf.deps[0].commit, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	svc_lockfile_release(&lf);
	ck_assert_int_eq(svc_lockfile_load_buffer(&lf, text, strlen(text), "mem.lock", &err),
			 SVC_EMANIFEST);
	ck_assert_str_eq(err.file, "mem.lock");
	ck_assert_ptr_null(lf.service);
	big = svc_calloc(1, (1 << 20) + 2);
	memset(big, ' ', (1 << 20) + 1);
	svc_error_clear(&err);
	ck_assert_int_eq(svc_lockfile_load_buffer(&lf, big, (1 << 20) + 1, "big.lock", &err),
			 SVC_EMANIFEST);
	ck_assert_msg(strstr(err.message, "big.lock: larger than") != NULL, "%s", err.message);
	free(big);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("deps");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_deps__location);
	tcase_add_test(tc, test_deps__cache_dir);
	tcase_add_test(tc, test_deps__resolve_refs);
	tcase_add_test(tc, test_deps__resolve_prefers_names);
	tcase_add_test(tc, test_deps__fetch_follows_source);
	tcase_add_test(tc, test_deps__fetch_not_a_repository);
	tcase_add_test(tc, test_deps__lock_excludes_threads);
	tcase_add_test(tc, test_deps__checkout);
	tcase_add_test(tc, test_deps__checkout_refuses_submodule);
	tcase_add_test(tc, test_deps__checkout_refuses_crafted_names);
	tcase_add_test(tc, test_deps__moved_tag_and_lock);
	tcase_add_test(tc, test_deps__unreachable_source);
	tcase_add_test(tc, test_deps__fetch_failure_uses_cache);
	tcase_add_test(tc, test_deps__locked_commit_missing);
	tcase_add_test(tc, test_deps__concurrent_pins);
	tcase_add_test(tc, test_deps__cache_list);
	tcase_add_test(tc, test_lockfile__round_trip);
	tcase_add_test(tc, test_lockfile__strict);
	tcase_add_test(tc, test_lockfile__check_differences);
	tcase_add_test(tc, test_lockfile__buffer);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
