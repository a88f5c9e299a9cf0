#!/bin/bash
# A supervisor killed with SIGKILL leaves its instance running unsupervised.
# The next svcctl command on the service adopts it (same pid, watched again,
# restarted when it exits, stopped by stop) and says so; when the instance
# died too, the next command replaces it and says so.
. "$(dirname "$0")/lib.sh"

INST=$SVCCTL_STATE_DIR/services/greeter/instances
# status_field ID NAME: an integer field of the instance's status.json
status_field() { grep -o "\"$2\": *-\?[0-9]*" "$INST/$1/status.json" 2>/dev/null | grep -o -- '-\?[0-9]*$'; }
# running PID: the process exists and is no zombie (nobody may reap it here)
running() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'; }
gone() { ! running "$1"; }
# line ID: the instance's line in `svcctl status` text ($st)
line() { grep -E "^ +$1 " <<<"$st"; }
# new_pid_running ID OLDPID: status.json names another pid, in state running
new_pid_running() {
	local p
	p=$(status_field "$1" pid)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$2" ] && running "$p" &&
		grep -q '"state": *"running"' "$INST/$1/status.json"
}

ADDR=127.0.0.1:$(pick_port)
REPLICAS=2 write_manifest greeter 1.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"

# 1. the supervisor dies, its instance keeps serving: the next command adopts it
ID=$(ls "$INST" | sort | head -n 1)
OTHER=$(ls "$INST" | sort | tail -n 1)
SUP=$(status_field "$ID" supervisor_pid)
PID=$(status_field "$ID" pid)
PORT=$(status_field "$ID" port)
OTHER_PID=$(status_field "$OTHER" pid)
OTHER_SUP=$(status_field "$OTHER" supervisor_pid)
diag "instance $ID: supervisor $SUP, pid $PID, port $PORT"
check "the instance and its supervisor run" running "$SUP"
check "the instance runs" running "$PID"
kill -9 "$SUP"
check "the supervisor is gone" wait_until 5 gone "$SUP"
check_eq "the unsupervised instance still answers" 1.0.0 "$(version_at "127.0.0.1:$PORT")"

st=$(svcctl status greeter)
diag "$st"
check "status says it adopted the instance" \
	grep -qF "adopted instance $ID (pid $PID): its supervisor had died" <<<"$st"
check "the adopted instance has the same pid and runs" \
	grep -qE "^ +$ID +[0-9a-f]+ +blue +$PID +$PORT +running +healthy" <<<"$(line "$ID")"
check_eq "the other instance was left alone" "$OTHER_PID" "$(status_field "$OTHER" pid)"
NEWSUP=$(status_field "$ID" supervisor_pid)
check "a new supervisor watches it" running "$NEWSUP"
check "it is another process than the dead one" test "$NEWSUP" != "$SUP"
check "the route still lists it" grep -qF "127.0.0.1:$PORT" <<<"$(svcctl router status)"
check "so does status --json" grep -qF "\"address\": \"127.0.0.1:$PORT\"" \
	<<<"$(svcctl --json status greeter | tail -n 1 | sed 's/":/": /g')"
check_eq "it still answers" 1.0.0 "$(version_at "127.0.0.1:$PORT")"
st=$(svcctl status greeter)
check "a second command has nothing to recover" bash -c '! grep -q recovered <<<"$1"' _ "$st"

# the adopted process dies: the new supervisor restarts it, like its own child
kill -9 "$PID"
check "the adopted process is gone" wait_until 5 gone "$PID"
check "the new supervisor starts it again" wait_until 10 new_pid_running "$ID" "$PID"
PID2=$(status_field "$ID" pid)
check_eq "restarts counted" 1 "$(status_field "$ID" restarts)"
check_eq "by the same supervisor" "$NEWSUP" "$(status_field "$ID" supervisor_pid)"
st=$(svcctl status greeter)
diag "$st"
check "status shows the new pid running" \
	grep -qE "^ +$ID +[0-9a-f]+ +blue +$PID2 +$PORT +running +[a-z]+ +1$" <<<"$(line "$ID")"
check "the restarted instance answers" wait_until 5 answers "127.0.0.1:$PORT" 1.0.0
check_eq "the stable address answers" 1.0.0 "$(version_at "$ADDR")"

run_rc rc svcctl stop greeter
check_eq "stop exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
for p in "$PID2" "$NEWSUP" "$OTHER_PID" "$OTHER_SUP"; do
	check "pid $p is gone after stop" wait_until 5 gone "$p"
done
check_eq "no instance is left" "" "$(ls "$INST" 2>/dev/null)"

# 2. the supervisor and then its instance die before any command: replaced
run_rc rc svcctl deploy greeter
check_eq "deploy again exits 0" 0 "$rc"
ID=$(ls "$INST" | sort | head -n 1)
SUP=$(status_field "$ID" supervisor_pid)
PID=$(status_field "$ID" pid)
PORT=$(status_field "$ID" port)
kill -9 "$SUP"
check "the supervisor is gone" wait_until 5 gone "$SUP"
kill -9 "$PID"
check "its instance is gone" wait_until 5 gone "$PID"
json=$(svcctl --json status greeter | tail -n 1)
diag "$json"
check "status --json says it replaced the instance" \
	grep -qF "replaced instance $ID: its supervisor and its process had died" <<<"$json"
st=$(svcctl status greeter)
diag "$st"
check_eq "two healthy replicas again" 2 "$(grep -cE ' running +healthy ' <<<"$st")"
NEWPID=$(status_field "$ID" pid)
check "the replacement is a new process" test -n "$NEWPID" -a "$NEWPID" != "$PID"
check "on the same port" grep -qE "^ +$ID +[0-9a-f]+ +blue +$NEWPID +$PORT +running" <<<"$(line "$ID")"
check "the route lists both replicas" \
	test "$(grep -o '127.0.0.1:[0-9]* ([0-9]*)' <<<"$(svcctl router status)" | wc -l)" -eq 2
check "the route lists the replacement" grep -qF "127.0.0.1:$PORT" <<<"$(svcctl router status)"
check_eq "the stable address answers" 1.0.0 "$(version_at "$ADDR")"

# 3. stop while an instance is adopted: the new supervisor stops it
ID=$(ls "$INST" | sort | tail -n 1)
SUP=$(status_field "$ID" supervisor_pid)
PID=$(status_field "$ID" pid)
kill -9 "$SUP"
check "the supervisor is gone" wait_until 5 gone "$SUP"
run_rc rc svcctl stop greeter
diag "$OUT"
check_eq "stop exits 0" 0 "$rc"
check "stop says it adopted the instance first" \
	grep -qF "recovered: adopted instance $ID (pid $PID)" <<<"$OUT"
check "the adopted process is gone after stop" wait_until 5 gone "$PID"
check_eq "no instance is left" "" "$(ls "$INST" 2>/dev/null)"

# 4. with a rollout on record (green awaiting promotion), recovery adopts too
REPLICAS=1 write_manifest greeter 1.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy v1 exits 0" 0 "$rc"
REPLICAS=1 PROMOTE=manual write_manifest greeter 2.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy v2 waits for promotion" 0 "$rc"
check_eq "the rollout is on record" awaiting-promotion "$(rollout_step greeter)"
V1=$(svcctl --json status greeter | tail -n 1 | grep -o '"active":{[^}]*' | grep -o '"release":"[0-9a-f]\{12\}' | cut -c12-)
ID=$(ls "$INST" | grep -v "^greeter-$V1-" | head -n 1)
SUP=$(status_field "$ID" supervisor_pid)
PID=$(status_field "$ID" pid)
diag "green instance $ID: supervisor $SUP, pid $PID"
kill -9 "$SUP"
check "green's supervisor is gone" wait_until 5 gone "$SUP"
run_rc rc svcctl promote greeter
diag "$OUT"
check_eq "promote exits 0" 0 "$rc"
check "promote says it adopted green's instance first" \
	grep -qF "recovered: adopted instance $ID (pid $PID)" <<<"$OUT"
check_eq "v2 serves" 2.0.0 "$(version_at "$ADDR")"
check_eq "by the adopted process" "$PID" "$(status_field "$ID" pid)"
check "under a new supervisor" running "$(status_field "$ID" supervisor_pid)"

finish
