#!/bin/bash
# svcctl sync / svcctl diff against a real git repository made here (a
# working clone pushed to a bare "origin"), the greeter as the services:
# accounts (provides v1), web and mail (each require accounts v1), later a
# monorepo service built from a folder of the repository. Covers the first
# pass from nothing, one changed service under load from 8 clients, a
# commit that changes no manifest, an invalid manifest beside a valid
# change, a green that never gets healthy (not retried, then --retry),
# drift (a manual rollback) healed, an instance lost or hung healed,
# suspend, prune (held while an unreadable manifest's service is unknown),
# an unreachable repository, a second pass while one runs, a symlink
# leaving the repository, svcctl SIGKILLed mid-pass, a build from the
# commit's tree, sync's own records unreadable, and the commits' trees
# (read-only) and their gc.
. "$(dirname "$0")/lib.sh"

git_repo_init
echo "# services" >"$SRC/README.md"

accounts_v() { PROVIDES=v1 repo_manifest accounts "$1" "$A_ADDR"; }
web_v() { local v=$1; shift; REQUIRES="accounts: [v1]" repo_manifest web "$v" "$W_ADDR" "$@"; }
mail_v() { REQUIRES="accounts: [v1]" repo_manifest mail "$1" "$M_ADDR" START_DELAY_MS=800; }

# number of entries in `svcctl history SERVICE`
hist_count() { svcctl history "$1" 2>/dev/null | grep -cE '^[ *] +[0-9]+ [0-9a-f]{12} '; }
hist_counts() { echo "$(hist_count accounts) $(hist_count web) $(hist_count mail)"; }
# a number field of the newest entry of `svcctl --json history SERVICE`
hist_ms() { svcctl --json history "$1" | tail -n 1 | grep -o "\"$2\": *[0-9]*" | tail -n 1 | grep -o '[0-9]*$'; }
# action_of SERVICE TEXT / line_of SERVICE TEXT: from diff's text output
action_of() { awk -v s="$1" '$1 == s { print $2; exit }' <<<"$2"; }
line_of() { awk -v s="$1" '$1 == s { print; exit }' <<<"$2"; }
# svc_obj SERVICE JSONLINE: that service's object in a result's "services"
svc_obj() { grep -o "{[^{}]*\"service\": *\"$1\"[^{}]*}" <<<"$2" | head -n 1; }
# jstr NAME JSON: the first string value of NAME (also null, true, numbers)
jval() { grep -o "\"$1\": *\(\"[^\"]*\"\|[a-z0-9]*\)" <<<"$2" | head -n 1 | sed 's/^"[^"]*": *//; s/^"//; s/"$//'; }
now_ms() { date +%s%3N; }
sync_() { run_rc rc svcctl sync --repo "$ORIGIN" "$@"; }
diff_() { run_rc rc svcctl diff --repo "$ORIGIN" "$@"; }
sup_of() {   # the supervisor pid of instance ID of SERVICE
	grep -alF -f <(printf '%s\n' "$SVCCTL_STATE_DIR/services/$1/instances/$2") \
		/proc/[0-9]*/cmdline 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p' | sort -n
}
# the active release of SERVICE (from status --json)
active_of() {
	svcctl --json status "$1" 2>/dev/null | tail -n 1 |
		sed -n 's/.*"active": *{[^}]*"release": *"\([0-9a-f]*\)".*/\1/p'
}

A_ADDR=127.0.0.1:$(pick_port)
W_ADDR=127.0.0.1:$(pick_port)
M_ADDR=127.0.0.1:$(pick_port)
H_ADDR=127.0.0.1:$(pick_port)
while [ "$(printf '%s\n' "$A_ADDR" "$W_ADDR" "$M_ADDR" "$H_ADDR" | sort -u | wc -l)" != 4 ]; do
	W_ADDR=127.0.0.1:$(pick_port); M_ADDR=127.0.0.1:$(pick_port); H_ADDR=127.0.0.1:$(pick_port)
done

# ---- 1. three services from nothing ----
accounts_v 1.0.0
web_v 1.0.0 START_DELAY_MS=800
mail_v 1.0.0
commit "three services" || { not_ok "the repository is made"; finish; }
C1=$HEAD_C
run_rc rc svcctl validate "$SRC/manifests"
check_eq "1: the repository's manifests are valid" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"

diff_
diag "$OUT"
check_eq "1: first diff exits 1 (something would change)" 1 "$rc"
for s in accounts web mail; do
	check_eq "1: diff: $s would be deployed" deploy "$(action_of "$s" "$OUT")"
done
check_eq "1: diff lists the services sorted by name" "accounts mail web" \
	"$(awk '$1 ~ /^(accounts|mail|web)$/ { print $1 }' <<<"$OUT" | tr '\n' ' ' | sed 's/ $//')"
run_rc rc svcctl --json diff --repo "file://$ORIGIN" --ref main --path manifests
last=$(tail -n 1 <<<"$OUT")
diag "$last"
check_eq "1: diff --json (file:// URL, --ref, --path) exits 1" 1 "$rc"
check "1: its result names the command and the commit" \
	grep -q "\"command\": *\"diff\".*\"commit\": *\"$C1\"\|\"commit\": *\"$C1\".*\"command\": *\"diff\"" <<<"$last"
check "1: its result has exit_code 1 and ok false" \
	grep -q '"exit_code": *1' <<<"$last"
check_eq "1: diff --json: web's action is deploy" deploy "$(jval action "$(svc_obj web "$last")")"
check_eq "1: diff --json: web's outcome is reported" reported "$(jval outcome "$(svc_obj web "$last")")"
check_eq "1: diff --json: web's active release is null" null "$(jval active "$(svc_obj web "$last")")"
check "1: diff --json: web's release is a 64-hex id" \
	grep -qE '^[0-9a-f]{64}$' <<<"$(jval release "$(svc_obj web "$last")")"
check "1: diff --json counts 3 deploy" grep -q '"counts": *{[^}]*"deploy": *3' <<<"$last"
check_eq "1: diff deployed nothing" "0 0 0" "$(hist_counts)"

sync_ --jobs 3
diag "$OUT"
check_eq "1: sync from nothing exits 0" 0 "$rc"
check_eq "1: accounts answers 1.0.0" 1.0.0 "$(version_at "$A_ADDR")"
check_eq "1: web answers 1.0.0" 1.0.0 "$(version_at "$W_ADDR")"
check_eq "1: mail answers 1.0.0" 1.0.0 "$(version_at "$M_ADDR")"
a_fin=$(hist_ms accounts finished_ms)
w_start=$(hist_ms web started_ms); w_fin=$(hist_ms web finished_ms)
m_start=$(hist_ms mail started_ms); m_fin=$(hist_ms mail finished_ms)
diag "accounts finished $a_fin; web $w_start-$w_fin; mail $m_start-$m_fin"
check "1: web and mail started after accounts (the provider) was deployed" \
	test "${w_start:-0}" -ge "${a_fin:-9}" -a "${m_start:-0}" -ge "${a_fin:-9}"
check "1: web and mail (independent) were deployed in parallel" \
	test "${w_start:-9}" -lt "${m_fin:-0}" -a "${m_start:-9}" -lt "${w_fin:-0}"
diff_
diag "$OUT"
check_eq "1: diff after the sync exits 0" 0 "$rc"
for s in accounts web mail; do
	check_eq "1: diff: $s in-sync" in-sync "$(action_of "$s" "$OUT")"
done
st=$(svcctl status accounts)
check "1: status shows accounts synced at the commit" grep -q "synced $C12" <<<"$st"
[ $? = 0 ] || diag "$st"
check "1: history shows where web's release came from" grep -q "sync $C12" <<<"$(svcctl history web)"
hj=$(svcctl --json history web | tail -n 1)
check "1: history --json has sync.commit" grep -q "\"sync\": *{[^}]*\"commit\": *\"$HEAD_C\"" <<<"$hj"
check "1: history --json has sync.path manifests" grep -q "\"sync\": *{[^}]*\"path\": *\"manifests\"" <<<"$hj"
check "1: history --json has sync.repo" grep -q "\"sync\": *{[^}]*\"repo\": *\"[^\"]*origin.git\"" <<<"$hj"

# ---- 2. one changed service under load ----
web_v 2.0.0 START_DELAY_MS=800
commit "web 2.0.0"
before=$(hist_counts)
diff_
diag "$OUT"
check_eq "2: diff exits 1" 1 "$rc"
check_eq "2: diff: web deploy" deploy "$(action_of web "$OUT")"
check_eq "2: diff: accounts in-sync" in-sync "$(action_of accounts "$OUT")"
check_eq "2: diff: mail in-sync" in-sync "$(action_of mail "$OUT")"
diff_ web
check_eq "2: diff web lists only web" "web" "$(awk '$1 ~ /^(accounts|mail|web)$/ { print $1 }' <<<"$OUT" | tr '\n' ' ' | sed 's/ $//')"
rm -f "$WORK/stop"
HP=()
for a in "accounts:$A_ADDR:3" "web:$W_ADDR:3" "mail:$M_ADDR:2"; do
	IFS=: read -r s h p n <<<"$a"
	"$HAMMER" --addr "$h:$p" --clients "$n" --duration-ms 60000 --stop-file "$WORK/stop" \
		>"$WORK/hammer-$s.out" 2>"$WORK/hammer-$s.err" &
	HP+=("$!")
	BG_PIDS+=("$!")
done
sleep 1
run_rc rc svcctl --json sync --repo "$ORIGIN"
last=$(tail -n 1 <<<"$OUT")
sleep 1
touch "$WORK/stop"
hfail=0
for p in "${HP[@]}"; do wait "$p" || hfail=$((hfail + 1)); done
for s in accounts web mail; do diag "$s: $(cat "$WORK/hammer-$s.out")"; done
diag "$last"
check_eq "2: sync under load exits 0" 0 "$rc"
check_eq "2: no client request failed during the pass (clients with failures)" 0 "$hfail"
total_failed=$(cat "$WORK"/hammer-*.out | sed -n 's/.* failed \([0-9]*\) versions.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
check_eq "2: 0 failed requests in all" 0 "$total_failed"
check "2: web's clients saw 1.0.0 then 2.0.0" grep -q "versions 1.0.0:[0-9]* 2.0.0:[0-9]* last 2.0.0" "$WORK/hammer-web.out"
check "2: 8 clients made more than 100 requests" \
	test "$(cat "$WORK"/hammer-*.out | sed -n 's/^requests \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')" -gt 100
check_eq "2: web answers 2.0.0" 2.0.0 "$(version_at "$W_ADDR")"
set -- $before
check_eq "2: only web was deployed (history counts accounts web mail)" "$1 $(($2 + 1)) $3" "$(hist_counts)"
check_eq "2: sync --json: web deployed" deployed "$(jval outcome "$(svc_obj web "$last")")"
check_eq "2: sync --json: accounts in-sync" in-sync "$(jval outcome "$(svc_obj accounts "$last")")"
check "2: sync --json: the result names the command and the commit" \
	grep -q "\"command\": *\"sync\"" <<<"$last"
check "2: sync --json: the result's commit" grep -q "\"commit\": *\"$HEAD_C\"" <<<"$last"
rel=$(jval release "$(svc_obj web "$last")")
# (what "active" holds in a sync result, before or after the pass, the
# contract leaves open: it is not checked)
check "2: sync --json: web's release is the release now active" \
	test -n "$rel" -a "$rel" = "$(active_of web)"

# ---- 3. a commit that changes no manifest ----
APPLIED12=$C12   # the commit web's release was applied at
echo "more words" >>"$SRC/README.md"
commit "README only"
before=$(hist_counts)
pids_before=$(instance_pids web)
run_rc rc env SVCCTL_SYNC_REPO="$ORIGIN" "$SVCCTL" diff
diag "$OUT"
check_eq "3: diff (SVCCTL_SYNC_REPO) of a README-only commit exits 0" 0 "$rc"
run_rc rc svcctl --json sync --repo "$ORIGIN"
diag "$OUT"
check_eq "3: sync exits 0" 0 "$rc"
check_eq "3: sync --json: an event per service" 3 \
	"$(grep -c '"event":"service".*"outcome":"in-sync"' <<<"$OUT")"
check_eq "3: and one result" 1 "$(grep -c '"event":"result"' <<<"$OUT")"
check_eq "3: nothing was deployed (history counts unchanged)" "$before" "$(hist_counts)"
check_eq "3: no web instance was restarted" "$pids_before" "$(instance_pids web)"
diff_
check_eq "3: diff still exits 0" 0 "$rc"
# a pass that finds a service in sync does not rewrite its record: status
# names the commit its release was applied at
check "3: status shows the commit web's release was applied at" \
	grep -q "synced $APPLIED12" <<<"$(svcctl status web)"

# ---- 4. an invalid manifest beside a valid change ----
cp "$SRC/manifests/mail.yaml" "$WORK/mail.yaml.good"
sed -i '2i colour: blue' "$SRC/manifests/mail.yaml"
web_v 3.0.0 START_DELAY_MS=800
commit "mail broken, web 3.0.0"
before=$(hist_counts)
sync_
diag "$OUT"
check_eq "4: sync with an invalid manifest exits 3" 3 "$rc"
check "4: the error names manifests/mail.yaml@commit:line:" grep -q "manifests/mail.yaml@$C12:2:" <<<"$OUT"
check_eq "4: web was updated anyway" 3.0.0 "$(version_at "$W_ADDR")"
check_eq "4: mail keeps serving its old release" 1.0.0 "$(version_at "$M_ADDR")"
set -- $before
check_eq "4: history: web +1, mail and accounts unchanged" "$1 $(($2 + 1)) $3" "$(hist_counts)"
run_rc rc svcctl --json diff --repo "$ORIGIN"
last=$(tail -n 1 <<<"$OUT")
diag "$last"
check_eq "4: diff exits 3" 3 "$rc"
check_eq "4: diff: mail invalid" invalid "$(jval action "$(svc_obj mail "$last")")"
check "4: diff: mail's errors name the file, commit and line" \
	grep -q "\"errors\": *\[[^]]*manifests/mail.yaml@$C12:2:" <<<"$(svc_obj mail "$last")"
check_eq "4: diff: web in-sync" in-sync "$(jval action "$(svc_obj web "$last")")"

# ---- 5. a green that never gets healthy ----
cp "$WORK/mail.yaml.good" "$SRC/manifests/mail.yaml"
START_TIMEOUT=5s web_v 4.0.0 UNHEALTHY_AFTER_MS=0
commit "mail fixed, web 4.0.0 never healthy"
C5=$C12
before=$(hist_counts)
sync_
diag "$OUT"
check_eq "5: sync with a never-healthy green exits 1" 1 "$rc"
check_eq "5: web stays on its old release" 3.0.0 "$(version_at "$W_ADDR")"
check_eq "5: accounts fine" 1.0.0 "$(version_at "$A_ADDR")"
check_eq "5: mail fine (its fixed manifest is its old release)" 1.0.0 "$(version_at "$M_ADDR")"
set -- $before
check_eq "5: history: web +1 (the failed attempt), others unchanged" "$1 $(($2 + 1)) $3" "$(hist_counts)"
check "5: web's history says why" grep -q "aborted" <<<"$(svcctl history web)"
check "5: status shows web failed at the commit" grep -q "failed at $C5" <<<"$(svcctl status web)"
before=$(hist_counts)
t0=$(now_ms)
run_rc rc svcctl --json sync --repo "$ORIGIN"
t1=$(now_ms)
last=$(tail -n 1 <<<"$OUT")
diag "rc=$rc in $((t1 - t0)) ms: $last"
check "5: the next pass does not retry web (fast: under 3 s, start_timeout is 5 s)" test $((t1 - t0)) -lt 3000
check_eq "5: and makes no history entry" "$before" "$(hist_counts)"
check_eq "5: its JSON says web failed" failed "$(jval action "$(svc_obj web "$last")")"
check_eq "5: web still on its old release" 3.0.0 "$(version_at "$W_ADDR")"
diff_
diag "rc=$rc $OUT"
check_eq "5: diff shows web failed" failed "$(action_of web "$OUT")"
check_eq "5: diff shows accounts in-sync" in-sync "$(action_of accounts "$OUT")"
echo "again" >>"$SRC/README.md"
commit "README again: web unchanged"
t0=$(now_ms)
sync_
t1=$(now_ms)
diag "rc=$rc in $((t1 - t0)) ms: $OUT"
check "5: a newer commit that does not change web does not retry it" test $((t1 - t0)) -lt 3000
check_eq "5: (no history entry)" "$before" "$(hist_counts)"
t0=$(now_ms)
sync_ --retry
t1=$(now_ms)
diag "rc=$rc in $((t1 - t0)) ms: $OUT"
check_eq "5: sync --retry tries again (and fails again: exit 1)" 1 "$rc"
check "5: --retry waited for the health gate (>= 5 s)" test $((t1 - t0)) -ge 5000
set -- $before
check_eq "5: --retry made one history entry for web" "$1 $(($2 + 1)) $3" "$(hist_counts)"
check_eq "5: web still on its old release after --retry" 3.0.0 "$(version_at "$W_ADDR")"
web_v 5.0.0
commit "web 5.0.0"
sync_
diag "$OUT"
check_eq "5: a newer commit changing web deploys it (exit 0)" 0 "$rc"
check_eq "5: web answers 5.0.0" 5.0.0 "$(version_at "$W_ADDR")"

# ---- 6. drift, heal, suspend ----
accounts_v 1.1.0
commit "accounts 1.1.0"
sync_
check_eq "6: accounts 1.1.0 synced" 1.1.0 "$(version_at "$A_ADDR")"
run_rc rc svcctl rollback accounts
check_eq "6: manual rollback of accounts exits 0" 0 "$rc"
check_eq "6: accounts answers 1.0.0 after the rollback" 1.0.0 "$(version_at "$A_ADDR")"
st=$(svcctl status accounts)
check "6: status shows accounts out-of-sync" grep -q "out-of-sync" <<<"$st"
[ $? = 0 ] || diag "$st"
diff_
diag "$OUT"
check_eq "6: diff sees the drift (exit 1)" 1 "$rc"
check_eq "6: diff: accounts deploy" deploy "$(action_of accounts "$OUT")"
check_eq "6: diff: web in-sync" in-sync "$(action_of web "$OUT")"
sync_
diag "$OUT"
check_eq "6: sync heals the drift (exit 0)" 0 "$rc"
check_eq "6: accounts answers 1.1.0 again" 1.1.0 "$(version_at "$A_ADDR")"
diff_
check_eq "6: diff exits 0 after the heal" 0 "$rc"

# an instance of the active release lost: its supervisor and its process killed
mrel=$(active_of mail)
sup=$(sup_of mail "mail-${mrel:0:12}-0" | head -n 1)
child=$(cat "/proc/$sup/task/$sup/children" 2>/dev/null)
diag "mail's active release $mrel: killing supervisor $sup of mail-${mrel:0:12}-0 and its child $child"
check "6: found a supervisor of mail's active release and its instance" test -n "$mrel" -a -n "$sup" -a -n "$child"
[ -n "$sup" ] && kill -9 "$sup"
for p in $child; do kill -9 "$p"; done
sleep 0.5
diff_
diag "$OUT"
check_eq "6: diff with an instance of mail gone exits 1" 1 "$rc"
check_eq "6: diff: mail heal" heal "$(action_of mail "$OUT")"
before=$(hist_counts)
sync_
diag "$OUT"
check_eq "6: sync heals mail (exit 0)" 0 "$rc"
check_eq "6: mail answers 1.0.0" 1.0.0 "$(version_at "$M_ADDR")"
check_eq "6: mail's active release runs 2 instances again" 2 \
	"$(svcctl status mail | grep -c "^  mail-${mrel:0:12}-.* running ")"
diff_
diag "$OUT"
check_eq "6: diff exits 0 after healing mail" 0 "$rc"

# an instance of the active release hung (SIGSTOP): it runs, but fails its
# health check; the next pass replaces it
sup=$(sup_of mail "mail-${mrel:0:12}-1" | head -n 1)
child=$(awk '{ print $1 }' "/proc/$sup/task/$sup/children" 2>/dev/null)
diag "stopping (SIGSTOP) $child, the process of mail-${mrel:0:12}-1 (supervisor $sup)"
check "6: found the process of mail's second instance" test -n "$child"
# a process younger than start_timeout (15s) is still starting, not judged
older_than() { [ "$(ps -o etimes= -p "$1" 2>/dev/null | tr -d ' ')" -gt "$2" ] 2>/dev/null; }
check "6: (it has run longer than mail's start_timeout)" wait_until 20 older_than "${child:-0}" 15
for p in $child; do kill -STOP "$p"; done
diff_
diag "$OUT"
check_eq "6: diff with an instance of mail hung exits 1" 1 "$rc"
check_eq "6: diff: mail heal" heal "$(action_of mail "$OUT")"
check "6: diff names the instance failing its health check" \
	grep -q "mail-${mrel:0:12}-1 fails its health check" <<<"$(line_of mail "$OUT")"
check_eq "6: (diff changed nothing: the hung process is still there)" T \
	"$(awk '{ print $3 }' "/proc/${child:-0}/stat" 2>/dev/null)"
sync_
diag "$OUT"
check_eq "6: sync heals the hung instance (exit 0)" 0 "$rc"
pid_gone() { ! test -e "/proc/$1/stat"; }
check "6: the hung process is gone" wait_until 10 pid_gone "${child:-0}"
check_eq "6: mail answers 1.0.0" 1.0.0 "$(version_at "$M_ADDR")"
check_eq "6: mail's active release is the same" "$mrel" "$(active_of mail)"
check_eq "6: mail's active release runs 2 instances" 2 \
	"$(svcctl status mail | grep -c "^  mail-${mrel:0:12}-.* running ")"
diff_
diag "$OUT"
check_eq "6: diff exits 0 after replacing the hung instance" 0 "$rc"

run_rc rc svcctl sync --suspend accounts --reason "incident 42"
diag "$OUT"
check_eq "6: sync --suspend exits 0" 0 "$rc"
svcctl -q rollback accounts
check_eq "6: accounts rolled back by hand to 1.0.0" 1.0.0 "$(version_at "$A_ADDR")"
diff_
diag "$OUT"
check_eq "6: diff: accounts suspended" suspended "$(action_of accounts "$OUT")"
check "6: diff shows the reason" grep -q "incident 42" <<<"$(line_of accounts "$OUT")"
check_eq "6: diff exits 0 (a suspended service is left alone; nothing else differs)" 0 "$rc"
check "6: status shows accounts suspended" grep -q "suspended" <<<"$(svcctl status accounts)"
before=$(hist_counts)
sync_
diag "$OUT"
check_eq "6: sync with accounts suspended exits 0" 0 "$rc"
check_eq "6: it leaves accounts on the rolled-back release" 1.0.0 "$(version_at "$A_ADDR")"
check_eq "6: (no history entry)" "$before" "$(hist_counts)"
run_rc rc svcctl sync --unsuspend accounts
check_eq "6: sync --unsuspend exits 0" 0 "$rc"
sync_
diag "$OUT"
check_eq "6: sync after unsuspend exits 0" 0 "$rc"
check_eq "6: accounts back on 1.1.0" 1.1.0 "$(version_at "$A_ADDR")"

# ---- 7. prune ----
g rm -q manifests/mail.yaml
commit "mail removed"
diff_
diag "$OUT"
check_eq "7: diff exits 1" 1 "$rc"
check_eq "7: diff: mail prune" prune "$(action_of mail "$OUT")"
mail_hist=$(hist_count mail)
sync_
diag "$OUT"
check_eq "7: sync without --prune exits 0" 0 "$rc"
check_eq "7: mail still serves" 1.0.0 "$(version_at "$M_ADDR")"
# an invalid file whose service cannot be told may be mail's: no prune
printf 'version: [\n' >"$SRC/manifests/broken.yaml"
commit "a broken manifest"
sync_ --prune
diag "$OUT"
check_eq "7: sync --prune with a manifest of unknown service invalid exits 3" 3 "$rc"
check "7: mail is reported, not pruned" grep -q "not pruned while a manifest of the commit is unreadable" <<<"$(line_of mail "$OUT")"
check_eq "7: mail still serves" 1.0.0 "$(version_at "$M_ADDR")"
check "7: the file's name made no service of the state" test ! -e "$SVCCTL_STATE_DIR/services/broken"
g rm -q manifests/broken.yaml
commit "broken manifest removed"
sync_ --prune
diag "$OUT"
check_eq "7: sync --prune exits 0" 0 "$rc"
check "7: mail's port refuses" wait_until 5 refuses "$M_ADDR"
check_eq "7: no mail instance runs" 0 "$(svcctl status mail 2>/dev/null | grep -c ' running ')"
check_eq "7: mail's history is kept" "$mail_hist" "$(hist_count mail)"
check_eq "7: web still serves" 5.0.0 "$(version_at "$W_ADDR")"
diff_
diag "$OUT"
check_eq "7: diff exits 0 after the prune" 0 "$rc"

# ---- 8. unreachable repository; a second pass while one runs ----
before=$(hist_counts)
run_rc rc svcctl sync --repo "$WORK/no-such-repo"
diag "$OUT"
check_eq "8: sync of a repository that does not exist exits 5" 5 "$rc"
run_rc rc svcctl diff --repo "$WORK/no-such-repo"
check_eq "8: diff of it exits 5" 5 "$rc"
check_eq "8: nothing changed" "$before" "$(hist_counts)"
check_eq "8: web still serves" 5.0.0 "$(version_at "$W_ADDR")"

web_v 6.0.0 START_DELAY_MS=4000
commit "web 6.0.0, slow start"
"$SVCCTL" sync --repo "$ORIGIN" >"$WORK/sync-bg.out" 2>&1 &
SPID=$!
BG_PIDS+=("$SPID")
check "8: the first pass reaches web's health wait" wait_until 15 in_rollout web
t0=$(now_ms)
sync_
t1=$(now_ms)
diag "$OUT"
check_eq "8: a second pass meanwhile exits 4" 4 "$rc"
check "8: at once (under 2 s)" test $((t1 - t0)) -lt 2000
wait "$SPID"
check_eq "8: the first pass finishes (exit 0)" 0 "$?"
diag "$(cat "$WORK/sync-bg.out")"
check_eq "8: web answers 6.0.0" 6.0.0 "$(version_at "$W_ADDR")"

# ---- 9. a symlink leaving the repository ----
ln -s /etc/passwd "$SRC/manifests/x.yaml"
accounts_v 1.2.0
commit "a link to /etc/passwd, accounts 1.2.0"
before=$(hist_counts)
sync_
diag "$OUT"
check_eq "9: sync with a symlink leaving the repository exits 3" 3 "$rc"
check "9: the error names the link" grep -q "manifests/x.yaml" <<<"$OUT"
check "9: and says it is a symlink" grep -qi "symlink\|symbolic link" <<<"$OUT"
check "9: nothing of /etc/passwd is shown" eval '! grep -q "^root:" <<<"$OUT"'
check_eq "9: accounts was deployed anyway" 1.2.0 "$(version_at "$A_ADDR")"
check_eq "9: web untouched" 6.0.0 "$(version_at "$W_ADDR")"
g rm -q manifests/x.yaml
commit "link removed"
sync_
check_eq "9: the next commit without the link syncs (exit 0)" 0 "$rc"

# ---- 10. svcctl SIGKILLed mid-pass ----
web_v 7.0.0 START_DELAY_MS=3000
commit "web 7.0.0"
"$SVCCTL" sync --repo "$ORIGIN" >"$WORK/sync-kill.out" 2>&1 &
SPID=$!
BG_PIDS+=("$SPID")
check "10: the pass reaches web's health wait" wait_until 15 step_is web health
kill -9 "$SPID"
wait "$SPID" 2>/dev/null
check_eq "10: web's old release serves while svcctl is dead" 6.0.0 "$(version_at "$W_ADDR")"
check_eq "10: accounts serves" 1.2.0 "$(version_at "$A_ADDR")"
sync_
diag "$OUT"
check_eq "10: the next sync finishes (exit 0)" 0 "$rc"
check_eq "10: web answers the new release" 7.0.0 "$(version_at "$W_ADDR")"
check_eq "10: accounts answers its release" 1.2.0 "$(version_at "$A_ADDR")"
check_eq "10: web runs only its new instances and the warm ones (4)" 4 "$(svcctl status web | grep -c ' running ')"
diff_
diag "$OUT"
check_eq "10: diff exits 0: everything in-sync" 0 "$rc"

# ---- 11. a monorepo service built from a folder of the repository ----
mkdir -p "$SRC/services/hello"
cp "$GREETER" "$SRC/services/hello/greeter"
echo howdy >"$SRC/services/hello/greeting.txt"
cat >"$SRC/services/hello/build.sh" <<'EOF'
set -e
mkdir out
cp greeter start.sh greeting.txt out/
EOF
cat >"$SRC/services/hello/start.sh" <<'EOF'
exec ./greeter --port "$1" --greeting "$(cat greeting.txt)"
EOF
{
	echo "service: hello"
	echo "version: 1.0.0"
	echo "replicas: 1"
	echo "build:"
	echo "  context: ../services/hello"
	echo "  command: [sh, build.sh]"
	echo "  artifact: out"
	echo "run:"
	echo '  command: [sh, start.sh, "${PORT}"]'
	echo "  env:"
	echo '    VERSION: "${VERSION}"'
	for kv in ASAN_OPTIONS UBSAN_OPTIONS; do
		[ -n "${!kv:-}" ] && echo "    $kv: \"${!kv}\""
	done
	echo "ports:"
	echo "  - listen: $H_ADDR"
	echo "health:"
	echo "  http: /health"
	echo "  interval: 100ms"
	echo "  start_timeout: 15s"
	echo "rollout:"
	echo "  drain_timeout: 2s"
	echo "api:"
	echo "  requires: {accounts: [v1]}"
} >"$SRC/manifests/hello.yaml"
SERVICES+=(hello)
run_rc rc svcctl validate "$SRC/manifests"
check_eq "11: the repository's manifests are valid" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
commit "hello, built from services/hello"
sync_
diag "$OUT"
check_eq "11: sync of a service built from the repository exits 0" 0 "$rc"
check "11: hello answers with the greeting of the commit's tree" grep -q "^howdy from greeter 1.0.0" <<<"$(http_get "$H_ADDR" /)"
check "11: history shows hello's artifact and the commit" grep -q "sync $C12" <<<"$(svcctl history hello)"
art1=$(svcctl --json history hello | tail -n 1 | grep -o '"artifact": *{[^}]*}' | tail -n 1 | grep -o '"id": *"[0-9a-f]*"')
echo "not committed" >"$SRC/services/hello/greeting.txt"
sync_
check "11: an uncommitted change in a clone is no input" grep -q "^howdy from" <<<"$(http_get "$H_ADDR" /)"
echo hiya >"$SRC/services/hello/greeting.txt"
commit "hello: hiya"
before="$(hist_counts) $(hist_count hello)"
sync_
diag "$OUT"
check_eq "11: a commit changing services/hello syncs (exit 0)" 0 "$rc"
check "11: hello answers with the new greeting" grep -q "^hiya from greeter 1.0.0" <<<"$(http_get "$H_ADDR" /)"
set -- $before
check_eq "11: only hello was deployed (accounts web mail hello)" "$1 $2 $3 $(($4 + 1))" "$(hist_counts) $(hist_count hello)"
art2=$(svcctl --json history hello | tail -n 1 | grep -o '"artifact": *{[^}]*}' | tail -n 1 | grep -o '"id": *"[0-9a-f]*"')
diag "artifacts: $art1 / $art2"
check "11: a new artifact was built" test -n "$art2" -a "$art1" != "$art2"
echo "and more" >>"$SRC/README.md"
commit "README: hello unchanged"
before=$(hist_count hello)
sync_
check_eq "11: a commit that does not change services/hello: exit 0" 0 "$rc"
check_eq "11: and hello is not deployed again" "$before" "$(hist_count hello)"
ln -s /etc/passwd "$SRC/services/hello/leak"
commit "hello: a link leaving the repository in its context"
before="$(hist_count hello)"
sync_
diag "$OUT"
check "11: a symlink in the build context leaving the repository fails the pass" test "$rc" != 0
check "11: the error names the link" grep -q "leak" <<<"$OUT"
check "11: hello keeps serving" grep -q "^hiya from" <<<"$(http_get "$H_ADDR" /)"
check_eq "11: web untouched" 7.0.0 "$(version_at "$W_ADDR")"

# ---- 12. sync's own records unreadable (state_corrupt.sh leaves them here) ----
g rm -q services/hello/leak
accounts_v 1.3.0
web_v 8.0.0
commit "accounts 1.3.0, web 8.0.0, hello's link removed"
rec=$SVCCTL_STATE_DIR/services/accounts/sync.json
check "12: accounts has a sync record" test -f "$rec"
printf '{"format": 1, "comm' >"$rec"
sum=$(md5sum <"$rec")
before=$(hist_count accounts)
sync_
diag "$OUT"
check_eq "12: a pass with accounts' sync.json cut exits 3" 3 "$rc"
check "12: naming the file" grep -q "services/accounts/sync.json" <<<"$OUT"
check_eq "12: accounts is left alone" 1.2.0 "$(version_at "$A_ADDR")"
check_eq "12: (no history entry for accounts)" "$before" "$(hist_count accounts)"
check_eq "12: the file is left as it was" "$sum" "$(md5sum <"$rec")"
check_eq "12: web is applied" 8.0.0 "$(version_at "$W_ADDR")"
check "12: hello still serves" grep -q "^hiya from" <<<"$(http_get "$H_ADDR" /)"
diff_
diag "$OUT"
check_eq "12: diff exits 3 too" 3 "$rc"
check "12: and names the file" grep -q "services/accounts/sync.json" <<<"$OUT"
rm -f "$rec"
sync_
diag "$OUT"
check_eq "12: with the record removed the next pass exits 0" 0 "$rc"
check_eq "12: and applies accounts" 1.3.0 "$(version_at "$A_ADDR")"

run_rc rc svcctl sync --suspend web --reason "change freeze"
check_eq "12: web suspended" 0 "$rc"
sus=$SVCCTL_STATE_DIR/services/web/suspend.json
check "12: web has a suspension record" test -f "$sus"
echo '[]' >"$sus"
web_v 9.0.0
commit "web 9.0.0"
before=$(hist_count web)
sync_
diag "$OUT"
check_eq "12: a pass with web's suspend.json of the wrong shape exits 3" 3 "$rc"
check "12: naming the file" grep -q "services/web/suspend.json" <<<"$OUT"
check_eq "12: web is left alone (not taken as unsuspended)" 8.0.0 "$(version_at "$W_ADDR")"
check_eq "12: (no history entry for web)" "$before" "$(hist_count web)"
rm -f "$sus"
sync_
diag "$OUT"
check_eq "12: with the record removed the next pass exits 0" 0 "$rc"
check_eq "12: and applies web" 9.0.0 "$(version_at "$W_ADDR")"

# ---- 13. commits' trees are read-only; gc keeps only those kept releases run from ----
trees=$SVCCTL_STATE_DIR/sync/trees
check_eq "13: a commit's tree is read-only" 555 "$(stat -c %a "$trees/$HEAD_C")"
check_eq "13: its folders too" 555 "$(stat -c %a "$trees/$HEAD_C/manifests")"
check_eq "13: its files are read-only" 444 "$(stat -c %a "$trees/$HEAD_C/manifests/web.yaml")"
check_eq "13: an executable keeps r-x only" 555 "$(stat -c %a "$trees/$HEAD_C/bin/greeter")"
ntrees() { find "$trees" -mindepth 1 -maxdepth 1 -regextype egrep -regex '.*/[0-9a-f]{40}' | wc -l; }
before=$(ntrees)
diag "$before trees before gc"
run_rc rc svcctl --manifests "$SRC/manifests" --json gc --keep 1
diag "$(tail -n 1 <<<"$OUT")"
check_eq "13: gc exits 0" 0 "$rc"
check "13: gc deletes trees no kept release runs from" test "$(ntrees)" -lt "$before"
check "13: and says which" grep -q '"kind": *"sync-tree"' <<<"$(tail -n 1 <<<"$OUT")"
check "13: the tree web's active release runs from is kept" test -x "$trees/$HEAD_C/bin/greeter"
check_eq "13: web still serves" 9.0.0 "$(version_at "$W_ADDR")"
diff_
diag "$OUT"
check_eq "13: diff after gc exits 0 (nothing to do)" 0 "$rc"

finish
