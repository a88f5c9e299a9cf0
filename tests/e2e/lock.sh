#!/bin/bash
# One operation per service at a time: a second deploy of the same service
# exits 4 at once; a different service deploys in parallel.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
ADDR2=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR" START_DELAY_MS=3000
REPLICAS=1 write_manifest other 1.0.0 "$ADDR2"
"$SVCCTL" deploy greeter >"$WORK/first.out" 2>&1 &
DPID=$!
BG_PIDS+=("$DPID")
check "first deploy is under way" wait_until 10 in_rollout greeter
t0=$(date +%s%N)
run_rc rc svcctl deploy greeter
t1=$(date +%s%N)
diag "$OUT"
check_eq "second deploy of the same service exits 4" 4 "$rc"
check "it names the holder" grep -q "holds the lock of service 'greeter' (pid $DPID: deploy)" <<<"$OUT"
check "it fails at once (under 1 s)" test $(( (t1 - t0) / 1000000 )) -lt 1000
run_rc rc svcctl rollback greeter
check_eq "rollback of the same service also exits 4" 4 "$rc"
run_rc rc svcctl deploy other
check_eq "another service deploys meanwhile" 0 "$rc"
wait "$DPID"
check_eq "the first deploy finishes" 0 "$?"
check_eq "greeter serves" 1.0.0 "$(version_at "$ADDR")"
check_eq "other serves" 1.0.0 "$(version_at "$ADDR2")"

finish
