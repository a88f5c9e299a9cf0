/*
 * sync/verify.c - a commit's OpenPGP signature checked against a keyring
 * of trusted keys (see sync/verify.h).
 *
 * Each call makes a GnuPG home of its own (mkdtemp, 0700) under TMPDIR,
 * imports the keyring there, verifies, and removes it; gpg may have started
 * a gpg-agent for that home, which `gpgconf --kill all` ends (exec'd, never
 * through a shell). Nothing outside that folder is read or written, so the
 * user's keyring and trust database never count.
 */
#include "sync/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <gpgme.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* End whatever gpg started for home (its agent), and remove home. */
static void home_remove(const char *home)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("gpgconf", "gpgconf", "--homedir", home, "--kill", "all", (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	svc_rm_rf(home);
}

static int gpg_fail(struct svc_error *err, gpgme_error_t ge, const char *what)
{
	return svc_error_set(err, SVC_EGENERIC, "%s: %s", what, gpgme_strerror(ge));
}

/* Import keyring into ctx's home. 0, or an error naming the file. */
static int import_keyring(gpgme_ctx_t ctx, const char *keyring, struct svc_error *err)
{
	gpgme_data_t data = NULL;
	gpgme_import_result_t res;
	gpgme_error_t ge;
	int rc = 0;

	if ((ge = gpgme_data_new_from_file(&data, keyring, 1)))
		return svc_error_set(err, SVC_EGENERIC, "cannot read the keyring '%s': %s", keyring,
				     gpgme_strerror(ge));
	if ((ge = gpgme_op_import(ctx, data)))
		rc = svc_error_set(err, SVC_EGENERIC, "cannot import the keyring '%s': %s",
				   keyring, gpgme_strerror(ge));
	else if (!(res = gpgme_op_import_result(ctx)) || res->imported + res->unchanged == 0)
		rc = svc_error_set(err, SVC_EGENERIC, "the keyring '%s' holds no OpenPGP public key",
				   keyring);
	gpgme_data_release(data);
	return rc;
}

/*
 * Judge the signatures of one verification: 0 when one is good and made by
 * a key of the home (that is, of the keyring), fpr set to its primary key.
 */
static int judge(gpgme_ctx_t ctx, const char *c12, char fpr[41], struct svc_error *err)
{
	gpgme_verify_result_t res = gpgme_op_verify_result(ctx);
	gpgme_signature_t sig = res ? res->signatures : NULL;
	const char *why = "no signature";
	const char *keyid = NULL;

	for (; sig; sig = sig->next) {
		gpgme_key_t key = NULL;
		gpg_err_code_t code = gpgme_err_code(sig->status);

		keyid = sig->fpr;
		if (code == GPG_ERR_NO_PUBKEY) {
			why = "made by a key that is not in the keyring";
			continue;
		}
		if (code == GPG_ERR_BAD_SIGNATURE) {
			why = "a bad signature (the commit does not match it)";
			continue;
		}
		if (code == GPG_ERR_KEY_EXPIRED || code == GPG_ERR_SIG_EXPIRED ||
		    (sig->summary & (GPGME_SIGSUM_KEY_EXPIRED | GPGME_SIGSUM_SIG_EXPIRED))) {
			why = "made by an expired key";
			continue;
		}
		if (code == GPG_ERR_CERT_REVOKED || (sig->summary & GPGME_SIGSUM_KEY_REVOKED)) {
			why = "made by a revoked key";
			continue;
		}
		if (code != GPG_ERR_NO_ERROR) {
			why = gpgme_strerror(sig->status);
			continue;
		}
		/* good: the key is in the home, so it came from the keyring */
		if (gpgme_get_key(ctx, sig->fpr, &key, 0) || !key || !key->subkeys ||
		    !key->subkeys->fpr) {
			gpgme_key_unref(key);
			why = "made by a key that is not in the keyring";
			continue;
		}
		if (fpr)
			snprintf(fpr, 41, "%s", key->subkeys->fpr);
		gpgme_key_unref(key);
		return 0;
	}
	if (keyid)
		return svc_error_set(err, SVC_EMANIFEST, "commit %s: signature %s (key %s)", c12,
				     why, keyid);
	return svc_error_set(err, SVC_EMANIFEST, "commit %s is not signed", c12);
}

int svc_sync_verify_commit(struct git_repository *repo, const char *commit,
			   const char *keyring, char fpr[41], struct svc_error *err)
{
	git_buf sig = { 0 }, signed_data = { 0 };
	gpgme_data_t dsig = NULL, dtext = NULL;
	gpgme_ctx_t ctx = NULL;
	gpgme_error_t ge;
	const char *tmp = getenv("TMPDIR");
	char *home = NULL, c12[13];
	git_oid oid;
	int rc;

	if (fpr)
		fpr[0] = '\0';
	snprintf(c12, sizeof(c12), "%.12s", commit);
	if (!svc_hex_is(commit, SVC_COMMIT_HEX_LEN) || git_oid_fromstr(&oid, commit))
		return svc_error_set(err, SVC_EGENERIC, "'%s' is not a commit id", commit);
	rc = git_commit_extract_signature(&sig, &signed_data, repo, &oid, NULL);
	if (rc == GIT_ENOTFOUND && svc_git_has_commit(repo, commit))
		return svc_error_set(err, SVC_EMANIFEST, "commit %s is not signed", c12);
	if (rc)
		return svc_error_set(err, SVC_EGENERIC, "cannot read commit %s: %s", c12,
				     svc_git_reason());
	home = svc_strfmt("%s/svcctl-gpg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(home)) {
		rc = svc_error_set_errno(err, SVC_EGENERIC, errno, "cannot create '%s'", home);
		free(home);
		home = NULL;
		goto done;
	}
	if ((ge = gpgme_new(&ctx)) ||
	    (ge = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home))) {
		rc = gpg_fail(err, ge, "cannot start GnuPG");
		goto done;
	}
	if ((rc = import_keyring(ctx, keyring, err)))
		goto done;
	if ((ge = gpgme_data_new_from_mem(&dsig, sig.ptr, sig.size, 0)) ||
	    (ge = gpgme_data_new_from_mem(&dtext, signed_data.ptr, signed_data.size, 0))) {
		rc = gpg_fail(err, ge, "GPGME");
		goto done;
	}
	if ((ge = gpgme_op_verify(ctx, dsig, dtext, NULL))) {
		/* not even a signature packet */
		rc = svc_error_set(err, SVC_EMANIFEST, "commit %s: its signature cannot be read: %s",
				   c12, gpgme_strerror(ge));
		goto done;
	}
	rc = judge(ctx, c12, fpr, err);
done:
	gpgme_data_release(dsig);
	gpgme_data_release(dtext);
	gpgme_release(ctx);
	if (home)
		home_remove(home);
	free(home);
	git_buf_dispose(&sig);
	git_buf_dispose(&signed_data);
	return rc;
}
