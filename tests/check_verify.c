/*
 * check_verify.c - commit signatures checked against a keyring
 * (sync/verify.h), with real GnuPG keys and real git commits.
 *
 * The fixture makes, in a temp folder: two signers' GnuPG homes with one
 * ed25519 key each (made by gpg, no passphrase), their public keys
 * exported as keyrings (binary for A, armored for B, and both in one
 * file), and a bare git repository (libgit2) with commits signed by gpg
 * --detach-sign through git_commit_create_with_signature. gpg runs exec'd,
 * never through a shell; the signers' agents are ended at teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "sync/verify.h"
#include "util.h"

static char dir[256];
static char *home_a, *home_b, *ring_a, *ring_b, *ring_ab;
static git_repository *repo;

/* Run argv (argv[0] looked up in PATH), output to /dev/null; its exit status. */
static int run(const char *const argv[])
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void make_signer(const char *home, const char *uid)
{
	const char *gen[] = { "gpg", "--homedir", home, "--batch", "--pinentry-mode",
			"loopback", "--passphrase", "", "--quick-gen-key", uid,
			"ed25519", "sign", "never", NULL };

	ck_assert_int_eq(mkdir(home, 0700), 0);
	ck_assert_int_eq(run(gen), 0);
}

static void export_keys(const char *home, const char *out, bool armor)
{
	const char *argv[] = { "gpg", "--homedir", home, "--batch", "--yes", "--output",
			 out, "--export", armor ? "--armor" : NULL, NULL };

	ck_assert_int_eq(run(argv), 0);
}

/* The armored detached signature of data by home's key. Caller frees. */
static char *sign(const char *home, const char *data, size_t len)
{
	char *in = svc_strfmt("%s/tosign", dir), *out = svc_strfmt("%s/tosign.asc", dir);
	const char *argv[] = { "gpg", "--homedir", home, "--batch", "--yes", "--pinentry-mode",
			 "loopback", "--passphrase", "", "--armor", "--detach-sign", "--output",
			 out, in, NULL };
	char *sig = NULL;
	size_t n;

	ck_assert_int_eq(svc_file_write_atomic(in, data, len, 0600, NULL), 0);
	ck_assert_int_eq(run(argv), 0);
	ck_assert_int_eq(svc_file_read(&sig, &n, out, 1 << 16, NULL), 0);
	free(in);
	free(out);
	return sig;
}

/*
 * A commit with message msg; signed by signer's key when signer is set
 * (over other_data instead of the commit, when set: a bad signature).
 */
static char *commit(const char *msg, const char *signer, const char *other_data)
{
	git_treebuilder *tb = NULL;
	git_tree *tree = NULL;
	git_signature *who = NULL;
	git_buf buf = { 0 };
	git_oid tree_id, id;
	char hex[41];

	ck_assert_int_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	ck_assert_int_eq(git_treebuilder_write(&tree_id, tb), 0);
	ck_assert_int_eq(git_tree_lookup(&tree, repo, &tree_id), 0);
	ck_assert_int_eq(git_signature_new(&who, "T", "t@example.test", 1700000000, 0), 0);
	if (!signer) {
		ck_assert_int_eq(git_commit_create(&id, repo, NULL, who, who, NULL, msg, tree, 0,
						   NULL), 0);
	} else {
		char *sig;
		ck_assert_int_eq(git_commit_create_buffer(&buf, repo, who, who, NULL, msg, tree, 0,
							  NULL), 0);
		sig = other_data ? sign(signer, other_data, strlen(other_data))
				 : sign(signer, buf.ptr, buf.size);
		ck_assert_int_eq(git_commit_create_with_signature(&id, repo, buf.ptr, sig, NULL), 0);
		free(sig);
	}
	git_oid_tostr(hex, sizeof(hex), &id);
	git_buf_dispose(&buf);
	git_signature_free(who);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	return svc_strdup(hex);
}

static void setup(void)
{
	char *repo_path, *both, *b;
	size_t na, nb;

	snprintf(dir, sizeof(dir), "/tmp/svc-verify-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	home_a = svc_strfmt("%s/gpg-a", dir);
	home_b = svc_strfmt("%s/gpg-b", dir);
	ring_a = svc_strfmt("%s/a.gpg", dir);
	ring_b = svc_strfmt("%s/b.asc", dir);
	ring_ab = svc_strfmt("%s/ab.gpg", dir);
	make_signer(home_a, "Signer A <a@example.test>");
	make_signer(home_b, "Signer B <b@example.test>");
	export_keys(home_a, ring_a, false);
	export_keys(home_b, ring_b, true);
	/* both keys in one binary file */
	ck_assert_int_eq(svc_file_read(&both, &na, ring_a, 1 << 20, NULL), 0);
	export_keys(home_b, ring_ab, false);
	ck_assert_int_eq(svc_file_read(&b, &nb, ring_ab, 1 << 20, NULL), 0);
	both = realloc(both, na + nb);
	memcpy(both + na, b, nb);
	ck_assert_int_eq(svc_file_write_atomic(ring_ab, both, na + nb, 0600, NULL), 0);
	free(both);
	free(b);
	repo_path = svc_strfmt("%s/repo.git", dir);
	ck_assert_int_eq(git_repository_init(&repo, repo_path, 1), 0);
	free(repo_path);
}

static void teardown(void)
{
	const char *homes[] = { home_a, home_b };

	for (size_t i = 0; i < 2; i++) {
		const char *argv[] = { "gpgconf", "--homedir", homes[i], "--kill", "all", NULL };
		run(argv);
	}
	git_repository_free(repo);
	svc_rm_rf(dir);
	free(home_a);
	free(home_b);
	free(ring_a);
	free(ring_b);
	free(ring_ab);
}

static int verify(const char *c, const char *ring, char fpr[41], struct svc_error *err)
{
	svc_error_clear(err);
	return svc_sync_verify_commit(repo, c, ring, fpr, err);
}

START_TEST(test_verify__trusted_key)
{
	struct svc_error err;
	char fpr[41], fpr2[41];
	char *c = commit("signed by A\n", home_a, NULL);

	ck_assert_int_eq(verify(c, ring_a, fpr, &err), 0);
	ck_assert_uint_eq(strlen(fpr), 40);
	/* the same key, found in a keyring of two */
	ck_assert_int_eq(verify(c, ring_ab, fpr2, &err), 0);
	ck_assert_str_eq(fpr, fpr2);
	free(c);
	c = commit("signed by B\n", home_b, NULL);
	/* an armored keyring; and B's fingerprint is not A's */
	ck_assert_int_eq(verify(c, ring_b, fpr2, &err), 0);
	ck_assert_str_ne(fpr, fpr2);
	free(c);
}
END_TEST

START_TEST(test_verify__other_key_refused)
{
	struct svc_error err;
	char *c = commit("signed by B\n", home_b, NULL);

	ck_assert_int_eq(verify(c, ring_a, NULL, &err), SVC_EMANIFEST);
	ck_assert_msg(strstr(err.message, "not in the keyring") &&
		      strncmp(err.message + strlen("commit "), c, 12) == 0 &&
		      strstr(err.message, "(key "), "%s", err.message);
	free(c);
}
END_TEST

START_TEST(test_verify__unsigned_refused)
{
	struct svc_error err;
	char *c = commit("not signed\n", NULL, NULL), want[64];

	snprintf(want, sizeof(want), "commit %.12s is not signed", c);
	ck_assert_int_eq(verify(c, ring_ab, NULL, &err), SVC_EMANIFEST);
	ck_assert_str_eq(err.message, want);
	free(c);
}
END_TEST

START_TEST(test_verify__bad_signature_refused)
{
	struct svc_error err;
	/* A's signature, but over other bytes than the commit's */
	char *c = commit("tampered\n", home_a, "some other text\n");

	ck_assert_int_eq(verify(c, ring_a, NULL, &err), SVC_EMANIFEST);
	ck_assert_msg(strstr(err.message, "bad signature"), "%s", err.message);
	free(c);
}
END_TEST

START_TEST(test_verify__bad_keyring_or_commit)
{
	struct svc_error err;
	char *c = commit("signed by A\n", home_a, NULL);
	char *missing = svc_strfmt("%s/nothing.gpg", dir), *junk = svc_strfmt("%s/junk", dir);

	ck_assert_int_eq(verify(c, missing, NULL, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, "cannot read the keyring") &&
		      strstr(err.message, missing), "%s", err.message);
	ck_assert_int_eq(svc_file_write_atomic(junk, "not a key\n", 10, 0600, NULL), 0);
	ck_assert_int_eq(verify(c, junk, NULL, &err), SVC_EGENERIC);
	ck_assert_msg(strstr(err.message, "holds no OpenPGP public key"), "%s", err.message);
	ck_assert_int_eq(verify("0123456789012345678901234567890123456789", ring_a, NULL, &err),
			 SVC_EGENERIC);
	ck_assert_int_eq(verify("HEAD", ring_a, NULL, &err), SVC_EGENERIC);
	free(missing);
	free(junk);
	free(c);
}
END_TEST

/* Each verification's GnuPG home is removed again. */
START_TEST(test_verify__leaves_no_home)
{
	struct svc_error err;
	char *tmp = svc_strfmt("%s/tmp", dir), **before = NULL;
	char *c = commit("signed by A\n", home_a, NULL);

	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	setenv("TMPDIR", tmp, 1);
	ck_assert_int_eq(verify(c, ring_a, NULL, &err), 0);
	ck_assert_int_eq(verify(c, ring_b, NULL, &err), SVC_EMANIFEST);
	unsetenv("TMPDIR");
	ck_assert_int_eq(svc_dir_list(&before, tmp, NULL, NULL), 0);
	ck_assert_ptr_null(before[0]);
	svc_strv_free(before);
	free(tmp);
	free(c);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_verify__trusted_key);
	tcase_add_test(tc, test_verify__other_key_refused);
	tcase_add_test(tc, test_verify__unsigned_refused);
	tcase_add_test(tc, test_verify__bad_signature_refused);
	tcase_add_test(tc, test_verify__bad_keyring_or_commit);
	tcase_add_test(tc, test_verify__leaves_no_home);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
