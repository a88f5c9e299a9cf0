#!/bin/bash
# State that cannot be read never stops what serves: a cut current.json,
# one deleted while instances run; `svcctl repair` as the way out; a state
# dir that others could write is refused before it is trusted with a pid;
# a closed pipe on stdout never aborts a rollout (issue 8, items 1-3).
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
CUR=$SVCCTL_STATE_DIR/services/greeter/current.json
write_manifest greeter 1.0.0 "$ADDR"
svcctl -q deploy greeter
write_manifest greeter 2.0.0 "$ADDR"
svcctl -q deploy greeter
pids=$(instance_pids greeter)
check_eq "v2 serves, v1 warm: 4 instances" 4 "$(svcctl --json status greeter | tail -n 1 | grep -o '"index"' | wc -l)"

# -- 1. a current.json cut in half: nothing is stopped, nothing fails --
head -c 20 "$CUR" >"$CUR.cut" && mv "$CUR.cut" "$CUR"
"$HAMMER" --addr "$ADDR" --clients 4 --duration-ms 30000 --stop-file "$WORK/stop" >"$WORK/hammer.out" &
HPID=$!
BG_PIDS+=("$HPID")
run_rc rc svcctl status greeter
check_eq "status of an unreadable current.json exits 3" 3 "$rc"
check "it names the file" grep -qF "$CUR" <<<"$OUT"
check "it says how to repair" grep -q "svcctl repair greeter" <<<"$OUT"
check "it still lists what runs" grep -q "greeter-.* running" <<<"$OUT"
check "and claims no recovery" eval '! grep -q "recovered" <<<"$OUT"'
write_manifest greeter 3.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy refuses unreadable state (exit 3)" 3 "$rc"
check "naming the file" grep -qF "$CUR" <<<"$OUT"
run_rc rc svcctl rollback greeter
check_eq "rollback refuses too" 3 "$rc"
touch "$WORK/stop"
wait "$HPID"
hrc=$?
diag "$(cat "$WORK/hammer.out")"
check_eq "no client request failed meanwhile" 0 "$hrc"
check_eq "every instance still runs, none restarted" "$pids" "$(svcctl --json status greeter 2>/dev/null | tail -n 1 | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$' | sort -n | tr '\n' ' ')"
check_eq "v2 serves" 2.0.0 "$(version_at "$ADDR")"

run_rc rc svcctl repair greeter
check_eq "repair without --yes exits 0" 0 "$rc"
check "it shows what it would write" grep -q "write: active .* (green), warm .* (blue)" <<<"$OUT"
check "and writes nothing" grep -q "nothing written" <<<"$OUT"
run_rc rc svcctl status greeter
check_eq "the state is still unreadable" 3 "$rc"
run_rc rc svcctl repair greeter --yes
check_eq "repair --yes exits 0" 0 "$rc"
check "it keeps the unreadable file" test -f "$(ls "$CUR".unreadable-* 2>/dev/null | head -n 1)"
out=$(svcctl status greeter)
check "status reads again: v2 active" grep -q "active .*version 2.0.0" <<<"$out"
check "v1 warm again" grep -q "warm .*version 1.0.0" <<<"$out"
run_rc rc svcctl rollback greeter
check_eq "the warm rollback works after repair" 0 "$rc"
check "and is instant" grep -q "is warm: switching traffic back" <<<"$OUT"
check_eq "v1 serves" 1.0.0 "$(version_at "$ADDR")"

# -- a current.json deleted while instances run is unreadable state too --
rm -f "$CUR"
run_rc rc svcctl status greeter
check_eq "status without current.json but with history exits 3" 3 "$rc"
check "it says current.json is missing" grep -q "current.json: missing" <<<"$OUT"
check_eq "v1 still serves" 1.0.0 "$(version_at "$ADDR")"
svcctl -q repair greeter --yes
run_rc rc svcctl status greeter
check_eq "repaired again" 0 "$rc"

# -- 2. a state folder others could write is refused, naming it --
SD=$SVCCTL_STATE_DIR/services/greeter
chmod g+w "$SD"
run_rc rc svcctl status greeter
check_eq "a group-writable service folder is refused (exit 3)" 3 "$rc"
check "naming it and the fix" grep -qF "chmod go-w $SD" <<<"$OUT"
chmod g-w "$SD"
# instance files planted by another user, naming a victim's pid and start time
sleep 300 &
VICTIM=$!
BG_PIDS+=("$VICTIM")
vstart=$(awk '{print $22}' "/proc/$VICTIM/stat")
EVIL=$SD/instances/greeter-evil-0
mkdir -p "$EVIL"
printf '{"service":"greeter","release":"%064d","color":"blue","index":0,"port":1,"created_ms":1}' 0 >"$EVIL/spec.json"
printf '{"supervisor_pid":%s,"supervisor_start":%s,"pid":%s,"pid_start":%s,"state":"running","restarts":0,"started_ms":1,"port":1}' \
	"$VICTIM" "$vstart" "$VICTIM" "$vstart" >"$EVIL/status.json"
chown -R 65534:65534 "$EVIL"
run_rc rc svcctl stop greeter
check_eq "stop refuses a folder owned by another user (exit 3)" 3 "$rc"
check "naming it" grep -qF "$EVIL" <<<"$OUT"
sleep 0.5
check "the victim was not signalled" kill -0 "$VICTIM"
check_eq "v1 still serves" 1.0.0 "$(version_at "$ADDR")"
rm -rf "$EVIL"
kill "$VICTIM"

# -- 3. a closed pipe on stdout: the rollout finishes, the exit code tells --
write_manifest greeter 4.0.0 "$ADDR"
"$SVCCTL" deploy greeter 2>"$WORK/pipe.err" | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
check_eq "deploy | head -1 exits 0 (not 141)" 0 "$rc"
check "no rollout is left half done" eval '! in_rollout greeter'
check_eq "v4 serves" 4.0.0 "$(version_at "$ADDR")"
check "it says standard output was closed" grep -q "cannot write to standard output" "$WORK/pipe.err"

finish
