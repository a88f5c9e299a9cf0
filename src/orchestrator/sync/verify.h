/*
 * sync/verify.h - is a git commit signed by a trusted key? (GitOps,
 * `svcctl sync --verify-signatures KEYRING`.)
 *
 * KEYRING is a file of OpenPGP public keys (binary or armored, as `gpg
 * --export` writes them). libgit2 extracts the commit's signature and the
 * bytes it signs; GPGME verifies them in a private, temporary GnuPG home
 * into which only KEYRING's keys are imported, so nothing of the user's
 * own keyring or trust settings takes part. The verdict is by fingerprint:
 * a good signature made by a key (or subkey) of KEYRING is trusted; GnuPG's
 * trust model is not consulted (imported keys have no ownertrust, so
 * GPGME_SIGSUM_VALID would never be set for them). Expired or revoked
 * signing keys are refused.
 */
#ifndef SVC_SYNC_VERIFY_H
#define SVC_SYNC_VERIFY_H

#include "base/git.h"
#include "error.h"

/*
 * 0 when commit (40 hex) in repo carries a good signature by a key of
 * keyring; fpr (may be NULL) gets the primary key's fingerprint. Refusals
 * are SVC_EMANIFEST (exit 3), naming the commit (12 hex) and, where there
 * is one, the signing key's id: unsigned, a bad signature, a key not in
 * keyring, an expired or revoked key. SVC_EGENERIC when the keyring cannot
 * be read or holds no key, or GnuPG cannot run.
 */
int svc_sync_verify_commit(struct git_repository *repo, const char *commit,
			   const char *keyring, char fpr[41], struct svc_error *err);

#endif
