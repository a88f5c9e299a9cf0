#!/bin/bash
# Blue/green deploy under load: v1, then v2 while 8 clients loop
# new-connection requests through the router. No request may fail, the
# version must flip, v1 must stay warm, and redeploying v2 is a no-op.
. "$(dirname "$0")/lib.sh"

PORT=$(pick_port)
ADDR=127.0.0.1:$PORT
write_manifest greeter 1.0.0 "$ADDR"

run_rc rc svcctl deploy greeter
check_eq "deploy v1 exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
check_eq "v1 answers on the stable address" 1.0.0 "$(version_at "$ADDR")"
check "deploy shows progress" grep -q "healthy 2/2" <<<"$OUT"
check "status shows the active release" grep -q "active .*version 1.0.0" <<<"$(svcctl status greeter)"

run_rc rc svcctl deploy greeter
check_eq "deploying the active release again exits 0" 0 "$rc"
check "and says it is a no-op" grep -q "already active" <<<"$OUT"

write_manifest greeter 2.0.0 "$ADDR"
"$HAMMER" --addr "$ADDR" --clients 8 --duration-ms 60000 --stop-file "$WORK/stop" >"$WORK/hammer.out" &
HPID=$!
BG_PIDS+=("$HPID")
sleep 1
run_rc rc svcctl deploy greeter
check_eq "deploy v2 under load exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
sleep 1
touch "$WORK/stop"
wait "$HPID"
hrc=$?
diag "$(cat "$WORK/hammer.out")"
check_eq "no client request failed during the deploy" 0 "$hrc"
check "clients saw v1 then v2" grep -q "versions 1.0.0:[0-9]* 2.0.0:[0-9]* last 2.0.0" "$WORK/hammer.out"
check "8 clients made more than 100 requests" \
	test "$(sed -n 's/^requests \([0-9]*\).*/\1/p' "$WORK/hammer.out")" -gt 100
check_eq "v2 answers after the deploy" 2.0.0 "$(version_at "$ADDR")"

st=$(svcctl status greeter)
diag "$st"
check "status shows v2 active" grep -q "active .*version 2.0.0" <<<"$st"
check "status shows v1 warm" grep -q "warm .*version 1.0.0" <<<"$st"
check_eq "four instances run (2 green, 2 warm blue)" 4 "$(grep -c ' running ' <<<"$st")"

hist=$(svcctl history greeter)
diag "$hist"
check_eq "history has two promoted releases" 2 "$(grep -c ' promoted' <<<"$hist")"

json=$(svcctl --json deploy greeter)
last=$(tail -n 1 <<<"$json")
check "JSON result of a no-op deploy says noop" grep -q '"noop":true' <<<"$last"
check "JSON result is the result event" grep -q '"event":"result"' <<<"$last"

finish
