#!/bin/bash
# svcctl sync --watch against a real git repository made here, with the
# greeter as the service: the first pass at start, SIGHUP, a push webhook
# signed with openssl (and unsigned, wrongly signed, oversized ones refused),
# GET /healthz, a green that never gets healthy (start_timeout 60s)
# superseded by a fix commit that serves within 5 s, SIGTERM during a
# rollout (one release left, exit 0), a watcher restarted on the state dir
# as it was, polling within the interval, status, and the refusals (a
# second watcher, a non-loopback address without a secret).
. "$(dirname "$0")/lib.sh"

git_repo_init
ADDR=127.0.0.1:$(pick_port)
HOOK_PORT=$(pick_port)
while [ "$HOOK_PORT" = "${ADDR##*:}" ]; do HOOK_PORT=$(pick_port); done
HOOK=http://127.0.0.1:$HOOK_PORT
SECRET=$WORK/hook.secret
printf 'It is a secret to everybody\n' >"$SECRET"
app() { local v=$1; shift; REPLICAS=1 repo_manifest app "$v" "$ADDR" "$@"; }
hist_count() { svcctl history app 2>/dev/null | grep -cE '^[ *] +[0-9]+ [0-9a-f]{12} '; }
now_ms() { date +%s%3N; }
# sign FILE: GitHub's X-Hub-Signature-256 value for the file's bytes
sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$(head -c -1 "$SECRET")" -r <"$1" | cut -d' ' -f1)"; }
# hook SIGNATURE|- FILE: POST it to /hooks/git; prints the HTTP status
hook() {
	local sig=()
	[ "$1" != - ] && sig=(-H "X-Hub-Signature-256: $1")
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "${sig[@]}" \
		-H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
		--data-binary "@$2" "$HOOK/hooks/git"
}
push_body() { printf '{"ref":"refs/heads/main","after":"%s"}' "$HEAD_C" >"$WORK/push.json"; }
watcher_alive() { kill -0 "$WPID" 2>/dev/null; }
# start_watcher LOG [options]: svcctl sync --watch in the background (WPID)
start_watcher() {
	local log=$1
	shift
	"$SVCCTL" ${WJSON:+--json} sync --watch --repo "$ORIGIN" "$@" >"$log" 2>&1 &
	WPID=$!
	BG_PIDS+=("$WPID")
}
# stop_watcher: SIGTERM, wait for it; WRC its exit status
stop_watcher() {
	kill -TERM "$WPID" 2>/dev/null
	for _ in $(seq 1 300); do watcher_alive || break; sleep 0.1; done
	wait "$WPID" 2>/dev/null
	WRC=$?
}

# ---- the first pass at start ----
app 1.0.0
commit "app 1.0.0" || { not_ok "the repository is made"; finish; }
start_watcher "$WORK/w1.log" --interval 1h --listen "127.0.0.1:$HOOK_PORT" --secret-file "$SECRET"
check "the watcher's first pass deploys app 1.0.0" wait_until 20 answers "$ADDR" 1.0.0
check "GET /healthz answers 200" wait_until 5 test "$(curl -s -o /dev/null -w '%{http_code}' "$HOOK/healthz")" = 200
check "status shows the watcher's last pass" wait_until 5 grep -q "^sync watcher: last pass .*commit $C12, exit 0" <<<"$(svcctl status)"

run_rc rc svcctl sync --watch --repo "$ORIGIN" --interval 1h
diag "$OUT"
check_eq "a second watcher of the state dir exits 4" 4 "$rc"
check "naming the running one" grep -q "watcher" <<<"$OUT"
run_rc rc svcctl sync --watch --repo "$ORIGIN" --listen 0.0.0.0:$(pick_port)
diag "$OUT"
check_eq "a non-loopback --listen without --secret-file is refused (exit 2)" 2 "$rc"

# ---- SIGHUP: a pass now ----
app 1.1.0
commit "app 1.1.0"
sleep 1
check_eq "(the new commit is not applied before it is asked for)" 1.0.0 "$(version_at "$ADDR")"
kill -HUP "$WPID"
check "SIGHUP: the watcher applies app 1.1.0 at once" wait_until 10 answers "$ADDR" 1.1.0

# ---- a signed webhook: a pass at once ----
app 1.2.0
commit "app 1.2.0"
push_body
t0=$(now_ms)
check_eq "a signed push webhook is accepted (202)" 202 "$(hook "$(sign "$WORK/push.json")" "$WORK/push.json")"
check "the webhook's pass applies app 1.2.0 at once" wait_until 10 answers "$ADDR" 1.2.0
diag "webhook to 1.2.0 serving: $(( $(now_ms) - t0 )) ms"

# ---- refused webhooks change nothing ----
app 1.3.0
commit "app 1.3.0"
push_body
before=$(hist_count)
check_eq "an unsigned webhook gets 401" 401 "$(hook - "$WORK/push.json")"
wrong=$(sign "$WORK/push.json" | tr '0-9a-f' '1-9a-f0')
check_eq "a wrongly signed webhook gets 401" 401 "$(hook "$wrong" "$WORK/push.json")"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$WORK/big.json"
check_eq "an oversized webhook gets 413" 413 "$(hook "$(sign "$WORK/big.json")" "$WORK/big.json")"
sleep 3
check_eq "nothing was applied: app 1.2.0 still answers" 1.2.0 "$(version_at "$ADDR")"
check_eq "(no history entry)" "$before" "$(hist_count)"
check "the watcher logged the refusals" grep -q "webhook refused" "$WORK/w1.log"
check "the watcher is alive" watcher_alive

# ---- a green that never gets healthy, then a fix: the fix wins ----
HEALTH=/never START_TIMEOUT=60s app 2.0.0
commit "app 2.0.0 (never healthy)"
BAD12=$C12
push_body
check_eq "the webhook for the bad commit is accepted" 202 "$(hook "$(sign "$WORK/push.json")" "$WORK/push.json")"
check "the bad green is being gated" wait_until 15 step_is app health
app 2.0.1
commit "app 2.0.1 (the fix)"
FIX12=$C12
t_fix=$(now_ms)
push_body
check_eq "the webhook for the fix is accepted" 202 "$(hook "$(sign "$WORK/push.json")" "$WORK/push.json")"
check "the fix serves within 5 s of its commit (start_timeout is 60 s)" wait_until 5 answers "$ADDR" 2.0.1
diag "fix commit to serving: $(( $(now_ms) - t_fix )) ms"
h=$(svcctl history app)
diag "$h"
check "history: the bad release was superseded by the fix's commit" grep -q "superseded by $FIX12" <<<"$h"
st=$(svcctl status app)
check "status: synced at the fix's commit" grep -q "synced $FIX12" <<<"$st"
[ $? = 0 ] || diag "$st"
check "the log says the newer commit was seen" grep -q "commit $FIX12 is newer than the pass's $BAD12" "$WORK/w1.log"

# ---- SIGTERM during a rollout ----
START_TIMEOUT=60s app 3.0.0 START_DELAY_MS=4000
commit "app 3.0.0 (slow to start)"
push_body
hook "$(sign "$WORK/push.json")" "$WORK/push.json" >/dev/null
check "3.0.0's green is being gated" wait_until 15 step_is app health
stop_watcher
check_eq "SIGTERM during a rollout: the watcher exits 0" 0 "$WRC"
check "no rollout is left in flight" test ! -e "$SVCCTL_STATE_DIR/services/app/rollout.json"
v=$(version_at "$ADDR")
check "one release serves (2.0.1, the green undone)" test "$v" = 2.0.1
h=$(svcctl history app)
check "history: 3.0.0's rollout was undone because the watcher stopped" \
	grep -q "aborted.*the sync watcher is stopping" <<<"$(tail -n 2 <<<"$h")"
[ $? = 0 ] || diag "$h"
diag "$(tail -n 5 "$WORK/w1.log")"

# ---- restarted on the state dir as it was; polling ----
start_watcher "$WORK/w2.log" --interval 2s
check "the restarted watcher applies 3.0.0" wait_until 30 answers "$ADDR" 3.0.0
app 3.1.0
commit "app 3.1.0"
t0=$(now_ms)
check "polling (every 2 s) picks up 3.1.0 within the interval and a deploy" wait_until 10 answers "$ADDR" 3.1.0
diag "commit to serving by polling: $(( $(now_ms) - t0 )) ms"
stop_watcher
check_eq "SIGTERM while idle: exit 0" 0 "$WRC"
st=$(svcctl status)
check "status: the last pass, and that its watcher is gone" \
	grep -q "^sync watcher: last pass .*commit $C12, exit 0.*watcher pid $WPID not running" <<<"$st"
[ $? = 0 ] || diag "$st"
check "status --json: sync_watcher with the commit" \
	grep -q "\"sync_watcher\": *{[^}]*\"commit\": *\"$HEAD_C\"" <<<"$(svcctl --json status | tail -n 1)"
check "the log has a line per pass" grep -q "^sync: commit $C12" "$WORK/w2.log"
[ $? = 0 ] || diag "$(cat "$WORK/w2.log")"

# ---- --json: an event per service and per pass ----
app 3.2.0
commit "app 3.2.0"
WJSON=1 start_watcher "$WORK/w3.log" --interval 1h
check "--json watcher applies 3.2.0" wait_until 20 answers "$ADDR" 3.2.0
sleep 0.5
stop_watcher
check_eq "--json watcher exits 0" 0 "$WRC"
check "--json: an event for the service" grep -q '"event":"service".*"outcome":"deployed"' "$WORK/w3.log"
check "--json: an event for the pass" grep -q "\"commit\":\"$HEAD_C\".*\"event\":\"pass\"" "$WORK/w3.log"
check "--json: the result at exit" grep -q '"event":"result".*"watch":true' "$WORK/w3.log"
[ $? = 0 ] || diag "$(tail -n 3 "$WORK/w3.log")"
finish
