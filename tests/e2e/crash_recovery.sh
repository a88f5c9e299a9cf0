#!/bin/bash
# svcctl killed with SIGKILL in the middle of a deploy: blue keeps serving,
# and the next svcctl command on the service finishes or undoes the deploy,
# stops orphaned green instances and says what it did.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR"
svcctl -q deploy greeter
v1pids=$(instance_pids greeter)

# 1. killed while waiting for green's health
write_manifest greeter 2.0.0 "$ADDR" START_DELAY_MS=30000
"$SVCCTL" deploy greeter >"$WORK/deploy1.out" 2>&1 &
DPID=$!
BG_PIDS+=("$DPID")
check "deploy reaches the health step" wait_until 15 step_is greeter health
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
check_eq "v1 serves while svcctl is dead" 1.0.0 "$(version_at "$ADDR")"
check_eq "the interrupted rollout is on record" health "$(rollout_step greeter)"
out=$(svcctl status greeter)
diag "$out"
check "the next command says it undid the deploy" grep -q "recovered.*undid the interrupted deploy" <<<"$out"
check_eq "orphaned green instances are gone" 2 "$(grep -c ' running ' <<<"$out")"
check_eq "v1 instances untouched" "$v1pids" "$(instance_pids greeter)"
check "history records the interruption" grep -q "aborted: interrupted while health" <<<"$(svcctl history greeter)"

# 2. killed during the bake, with traffic already on green
BAKE=30s write_manifest greeter 2.0.0 "$ADDR"
"$SVCCTL" deploy greeter >"$WORK/deploy2.out" 2>&1 &
DPID=$!
BG_PIDS+=("$DPID")
check "deploy reaches the bake" wait_until 20 step_is greeter baking
check_eq "green serves during the bake" 2.0.0 "$(version_at "$ADDR")"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
BAKE=1s write_manifest greeter 2.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
diag "$OUT"
check "the next deploy first switches back to blue" grep -q "recovered.*switched back to blue" <<<"$OUT"
check_eq "then deploys v2 properly" 0 "$rc"
check_eq "v2 serves" 2.0.0 "$(version_at "$ADDR")"

finish
