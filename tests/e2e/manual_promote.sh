#!/bin/bash
# promote: manual with a preview address: the preview refuses until green is
# healthy, then answers with green while the stable address stays on blue;
# `svcctl promote` switches, and the preview closes again.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
PV=127.0.0.1:$(pick_port)
PREVIEW=$PV write_manifest greeter 1.0.0 "$ADDR"
svcctl -q deploy greeter
check_eq "v1 serves" 1.0.0 "$(version_at "$ADDR")"
check "no preview without a candidate" refuses "$PV"

PROMOTE=manual PREVIEW=$PV write_manifest greeter 2.0.0 "$ADDR" START_DELAY_MS=2000
"$SVCCTL" deploy greeter >"$WORK/deploy.out" 2>&1 &
DPID=$!
BG_PIDS+=("$DPID")
check "deploy reaches the health step" wait_until 10 step_is greeter health
check "the preview refuses while green is not healthy" refuses "$PV"
wait "$DPID"
check_eq "manual deploy exits 0 once green is healthy" 0 "$?"
check "it says to run promote" grep -q "svcctl promote greeter" "$WORK/deploy.out"
check_eq "the preview answers with green" 2.0.0 "$(version_at "$PV")"
check_eq "the stable address stays on blue" 1.0.0 "$(version_at "$ADDR")"
check "status shows the rollout awaiting promotion" \
	grep -q "rollout .*awaiting-promotion" <<<"$(svcctl status greeter)"
run_rc rc svcctl deploy greeter
check "deploying the same release again says it awaits promotion" grep -q "already awaiting promotion" <<<"$OUT"

run_rc rc svcctl promote greeter
diag "$OUT"
check_eq "promote exits 0" 0 "$rc"
check_eq "the stable address serves v2" 2.0.0 "$(version_at "$ADDR")"
check "the preview closes after promotion" wait_until 5 refuses "$PV"
run_rc rc svcctl promote greeter
check_eq "promote with nothing awaiting exits 1" 1 "$rc"

finish
