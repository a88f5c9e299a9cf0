#!/bin/bash
# Rollback while the previous release is warm is a route switch: nothing
# restarts, no health wait. Its whole manifest comes back (env too). When
# it is no longer warm, it is started again behind the health gate.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR" GREETING=hi
svcctl -q deploy greeter
write_manifest greeter 2.0.0 "$ADDR" GREETING=hey
svcctl -q deploy greeter
check_eq "v2 serves" 2.0.0 "$(version_at "$ADDR")"
pids_before=$(instance_pids greeter)

run_rc rc svcctl --json rollback greeter
last=$(tail -n 1 <<<"$OUT")
diag "$last"
check_eq "rollback exits 0" 0 "$rc"
check "rollback was instant (a route switch)" grep -q '"instant":true' <<<"$last"
check_eq "v1 serves again" 1.0.0 "$(version_at "$ADDR")"
check "v1's own config is back, not only its binary" grep -q "^hi from" <<<"$(http_get "$ADDR" /)"
check_eq "no instance was started or restarted" "$pids_before" "$(instance_pids greeter)"
check "svcctl's own switch time is reported" grep -q '"switch_ms":[0-9]' <<<"$last"
check "history records the rollback" grep -q "rollback .*promoted" <<<"$(svcctl history greeter)"
check "history marks v2 as rolled back" grep -q "2.0.0 .*rolled-back" <<<"$(svcctl history greeter)"

# roll forward to v2 by naming it (#2 in the history)
run_rc rc svcctl rollback greeter --to '#2'
check_eq "rollback --to '#2' exits 0" 0 "$rc"
check_eq "v2 serves after rollback --to" 2.0.0 "$(version_at "$ADDR")"

run_rc rc svcctl rollback greeter --to nosuch
check_eq "rollback to an unknown release exits 1" 1 "$rc"
check_eq "and changes nothing" 2.0.0 "$(version_at "$ADDR")"

# not warm any more: keep_previous 0 stops the old release after draining
KEEP=0s write_manifest greeter 3.0.0 "$ADDR"
svcctl -q deploy greeter
check_eq "v3 serves" 3.0.0 "$(version_at "$ADDR")"
check_eq "with keep_previous 0 only v3's instances run" 2 "$(svcctl status greeter | grep -c ' running ')"
run_rc rc svcctl rollback greeter
diag "$OUT"
check_eq "rollback of a stopped release exits 0" 0 "$rc"
check "it was started again behind the health gate" grep -q "not warm.*health gate" <<<"$OUT"
check "and health-checked" grep -q "healthy 2/2" <<<"$OUT"
check_eq "v2 serves after the cold rollback" 2.0.0 "$(version_at "$ADDR")"

run_rc rc svcctl rollback nosuchservice
check_eq "rollback of a service never deployed exits 1" 1 "$rc"

finish
