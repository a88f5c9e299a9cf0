#!/bin/bash
# svcctl sync / diff --verify-signatures KEYRING with real GnuPG keys made
# here: a keyring holding key A only; a commit signed with A is applied, an
# unsigned commit and one signed with key B (not in the keyring) are
# refused (exit 3) naming the commit / B's key, and nothing is applied;
# diff refuses the same way.
. "$(dirname "$0")/lib.sh"

GIT_OPTS=(-c gpg.program=gpg)
git_repo_init
export GNUPGHOME=$WORK/gnupg
mkdir -p "$GNUPGHOME"
chmod 700 "$GNUPGHOME"
stop_agent() { gpgconf --kill gpg-agent >/dev/null 2>&1; }
# the agent gpg started for this GNUPGHOME goes with it (lib.sh's cleanup
# is the EXIT trap; this runs first, then it)
trap 'stop_agent; cleanup' EXIT

fpr_of() { gpg --batch --with-colons --list-secret-keys "$1" 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }'; }
gpg --batch --passphrase '' --quick-gen-key 'Test A <a@example.org>' ed25519 sign never >/dev/null 2>&1
gpg --batch --passphrase '' --quick-gen-key 'Test B <b@example.org>' ed25519 sign never >/dev/null 2>&1
FPR_A=$(fpr_of a@example.org)
FPR_B=$(fpr_of b@example.org)
diag "key A $FPR_A, key B $FPR_B"
if [ -z "$FPR_A" ] || [ -z "$FPR_B" ]; then
	not_ok "two GnuPG keys are made"
	finish
fi
KEYRING=$WORK/trusted.gpg
gpg --batch --export "$FPR_A" >"$KEYRING"
check "the keyring holds A" test -s "$KEYRING"

ADDR=127.0.0.1:$(pick_port)
manifest() { REPLICAS=1 repo_manifest signed "$1" "$ADDR"; }
# sign_commit KEY|- MESSAGE: signed with KEY's fingerprint, or unsigned (-)
sign_commit() {
	if [ "$1" = - ]; then commit "$2" --no-gpg-sign; else commit "$2" -S"$1"; fi
}
hist_count() { svcctl history signed 2>/dev/null | grep -cE '^[ *] +[0-9]+ [0-9a-f]{12} '; }
sync_() { run_rc rc svcctl sync --repo "$ORIGIN" --verify-signatures "$KEYRING" "$@"; }

# ---- signed with A: applied ----
manifest 1.0.0
sign_commit "$FPR_A" "signed by A" || { not_ok "a commit signed with A is made"; finish; }
check "git sees the commit signed by A" grep -q "$FPR_A" <<<"$(g log -1 --format='%GF %GP')"
sync_
diag "$OUT"
check_eq "a commit signed with A: sync --verify-signatures exits 0" 0 "$rc"
check_eq "1.0.0 answers" 1.0.0 "$(version_at "$ADDR")"
run_rc rc svcctl diff --repo "$ORIGIN" --verify-signatures "$KEYRING"
check_eq "diff --verify-signatures of it exits 0 (in sync)" 0 "$rc"

# ---- unsigned: refused ----
manifest 2.0.0
sign_commit - "unsigned"
UNSIGNED=$HEAD_C
g tag t-unsigned
g push -q origin t-unsigned
before=$(hist_count)
sync_
diag "$OUT"
check_eq "an unsigned commit: exit 3" 3 "$rc"
check "the message names the commit" grep -q "${UNSIGNED:0:12}" <<<"$OUT"
check_eq "nothing applied: 1.0.0 still answers" 1.0.0 "$(version_at "$ADDR")"
check_eq "nothing applied: no history entry" "$before" "$(hist_count)"
run_rc rc svcctl diff --repo "$ORIGIN" --verify-signatures "$KEYRING"
diag "$OUT"
check_eq "diff --verify-signatures of the unsigned commit exits 3" 3 "$rc"
check "diff's message names the commit" grep -q "${UNSIGNED:0:12}" <<<"$OUT"

# ---- signed with B (not in the keyring): refused ----
manifest 3.0.0
sign_commit "$FPR_B" "signed by B"
check "git sees the commit signed by B" grep -q "$FPR_B" <<<"$(g log -1 --format='%GF %GP')"
run_rc rc svcctl --json sync --repo "$ORIGIN" --verify-signatures "$KEYRING"
diag "$OUT"
check_eq "a commit signed with B: exit 3" 3 "$rc"
check "the message names B's key id" grep -qi "${FPR_B: -16}" <<<"$OUT"
check "and the commit" grep -q "$C12" <<<"$OUT"
check "the JSON result is not ok" grep -q '"ok": *false' <<<"$(tail -n 1 <<<"$OUT")"
check "the JSON result names the refused commit" grep -q "\"commit\": *\"$HEAD_C\"" <<<"$(tail -n 1 <<<"$OUT")"
check_eq "nothing applied: 1.0.0 still answers" 1.0.0 "$(version_at "$ADDR")"
check_eq "nothing applied: no history entry" "$before" "$(hist_count)"
run_rc rc svcctl diff --repo "$ORIGIN" --verify-signatures "$KEYRING"
diag "$OUT"
check_eq "diff --verify-signatures of B's commit exits 3" 3 "$rc"
check "diff's message names B's key id" grep -qi "${FPR_B: -16}" <<<"$OUT"
run_rc rc svcctl diff --repo "$ORIGIN" --ref t-unsigned --verify-signatures "$KEYRING"
check_eq "diff --ref t-unsigned --verify-signatures exits 3" 3 "$rc"
check "naming the unsigned commit" grep -q "${UNSIGNED:0:12}" <<<"$OUT"
run_rc rc svcctl diff --repo "$ORIGIN"
check_eq "without --verify-signatures, diff of B's commit exits 1 (would deploy)" 1 "$rc"

# ---- signed with A again: applied ----
manifest 4.0.0
sign_commit "$FPR_A" "signed by A again"
sync_
diag "$OUT"
check_eq "a newer commit signed with A: exit 0" 0 "$rc"
check_eq "4.0.0 answers" 4.0.0 "$(version_at "$ADDR")"
check "history names the commit" grep -q "sync $C12" <<<"$(svcctl history signed)"

finish
