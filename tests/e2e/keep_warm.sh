#!/bin/bash
# The previous release stays warm for keep_previous, then its own
# supervisors stop it with no svcctl process running; svcctl forgets it
# as a warm release, and a rollback then starts it again behind the gate.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
KEEP=3s write_manifest greeter 1.0.0 "$ADDR"
svcctl -q deploy greeter
KEEP=3s write_manifest greeter 2.0.0 "$ADDR"
svcctl -q deploy greeter
v1=$(svcctl --json status greeter | tail -n 1 | grep -o '"previous":{[^}]*}' | grep -o '"release":"[0-9a-f]*"' | cut -d'"' -f4)
check "v1 is the warm release" test -n "$v1"
v1pids=$(ls -d "$SVCCTL_STATE_DIR/services/greeter/instances/greeter-${v1:0:12}-"* 2>/dev/null |
	while read -r d; do sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$d/status.json" | head -n 1; done)
check "v1's instances run while warm" test -n "$v1pids"
alive() { for p in $v1pids; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
check "v1 is alive right after the deploy" alive
# no svcctl runs now: the supervisors stop v1 by themselves
check "v1's instances stop themselves when keep_previous ends" wait_until 10 eval '! alive'
check_eq "v2 still serves" 2.0.0 "$(version_at "$ADDR")"
st=$(svcctl status greeter)
diag "$st"
check "status no longer shows a warm release" grep -q "warm *-" <<<"$st"
check_eq "only v2's instances are left" 2 "$(grep -c ' running ' <<<"$st")"
check "no stopped instance folders are left" test -z "$(grep ' stopped ' <<<"$st")"
run_rc rc svcctl rollback greeter
check_eq "rollback exits 0" 0 "$rc"
check "it is not instant any more: started behind the health gate" grep -q "not warm" <<<"$OUT"
check_eq "v1 serves again" 1.0.0 "$(version_at "$ADDR")"

finish
