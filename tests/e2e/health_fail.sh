#!/bin/bash
# A green that never gets healthy: exit 1, v1 still serves, green gone,
# the history says why. Also --timeout caps the wait.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy v1" 0 "$rc"
v1pids=$(instance_pids greeter)

START_TIMEOUT=2s write_manifest greeter 2.0.0 "$ADDR" UNHEALTHY_AFTER_MS=0
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy of a never-healthy green exits 1" 1 "$rc"
check "the error says the health check failed" grep -q "health check failed.*HTTP 503" <<<"$OUT"
check "and that blue still serves" grep -q "blue still serves" <<<"$OUT"
check_eq "v1 still answers" 1.0.0 "$(version_at "$ADDR")"
check_eq "v1 instances untouched" "$v1pids" "$(instance_pids greeter)"
check_eq "green instances are gone" 2 "$(svcctl status greeter | grep -c ' running ')"
check "history records the abort and why" grep -q "aborted: health check failed" <<<"$(svcctl history greeter)"

START_TIMEOUT=60s write_manifest greeter 2.0.1 "$ADDR" START_DELAY_MS=30000
t0=$(date +%s)
run_rc rc svcctl deploy greeter --timeout 1s
t1=$(date +%s)
check_eq "--timeout 1s: deploy exits 1" 1 "$rc"
check "--timeout 1s: gives up within 10 s" test $((t1 - t0)) -lt 10
check_eq "v1 still answers after the timeout" 1.0.0 "$(version_at "$ADDR")"

run_rc rc svcctl deploy greeter --timeout 5x
check_eq "a bad --timeout is a usage error (2)" 2 "$rc"

finish
