#!/bin/bash
# A green that passes its health gate, then fails during the bake: traffic
# switches back to the still-warm blue and deploy exits 1.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy v1" 0 "$rc"
v1pids=$(instance_pids greeter)

# healthy at first, failing 4 s after start: inside the 10 s bake
BAKE=10s write_manifest greeter 2.0.0 "$ADDR" UNHEALTHY_AFTER_MS=4000
"$HAMMER" --addr "$ADDR" --clients 8 --duration-ms 60000 --stop-file "$WORK/stop" >"$WORK/hammer.out" &
HPID=$!
BG_PIDS+=("$HPID")
run_rc rc svcctl deploy greeter
diag "$OUT"
touch "$WORK/stop"
wait "$HPID"
hrc=$?
diag "$(cat "$WORK/hammer.out")"
check_eq "deploy whose bake fails exits 1" 1 "$rc"
check "traffic was on v2 during the bake" grep -q "switched to green" <<<"$OUT"
check "the error names the bake" grep -q "bake failed" <<<"$OUT"
check_eq "no client request failed, even switching back" 0 "$hrc"
check_eq "v1 answers again" 1.0.0 "$(version_at "$ADDR")"
check_eq "v1 instances were never restarted" "$v1pids" "$(instance_pids greeter)"
check "history records the release as rolled back" \
	grep -q "rolled-back: bake failed" <<<"$(svcctl history greeter)"
check "v1 is still the active release" grep -q "active .*version 1.0.0" <<<"$(svcctl status greeter)"

finish
