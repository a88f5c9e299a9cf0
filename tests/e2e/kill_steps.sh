#!/bin/bash
# svcctl SIGKILLed right after it recorded each step of deploy, promote,
# rollback (warm and cold) and stop, by the fault points of a build made
# with --enable-fault-injection (SVCCTL_FAULT=OP:POINT). Each time: the old
# or the new release serves, the next command recovers and says what it
# did, no instance of a release that is neither active nor warm is left,
# and a following deploy succeeds.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
SVC=greeter
export REPLICAS=1

# does this svcctl honour fault points? (a build without them ignores SVCCTL_FAULT)
write_manifest "$SVC" 0.0.1 "$ADDR"
SVCCTL_FAULT=deploy:begun "$SVCCTL" -q deploy "$SVC" >/dev/null 2>&1
if [ $? -ne 137 ]; then
	if [ "${CI:-}" = true ]; then
		not_ok "svcctl is built with --enable-fault-injection (CI's test builds are)"
		echo "1..$T"
		exit 1
	fi
	echo "1..0 # SKIP svcctl was built without --enable-fault-injection"
	exit 0
fi

reset_state() {
	svcctl -q stop "$SVC" >/dev/null 2>&1
	svcctl -q router stop >/dev/null 2>&1
	rm -rf "$SVCCTL_STATE_DIR"
}

# releases of the instances that run, and the active and warm releases
releases_running() {
	svcctl --json status "$SVC" 2>/dev/null | tail -n 1 |
		grep -o '"release": *"[0-9a-f]*", *"restarts"[^}]*"state": *"running"' |
		sed 's/"release": *"\([0-9a-f]*\)".*/\1/' | sort -u | tr '\n' ' '
}
release_of() {   # active|previous|rollout
	svcctl --json status "$SVC" 2>/dev/null | tail -n 1 |
		sed -n "s/.*\"$1\": *{[^}]*\"release\": *\"\([0-9a-f]*\)\".*/\1/p"
}

# kill_at OP POINT SETUP COMMAND...: set up, run COMMAND with the fault
# point, then check what the issue asks of every step.
kill_at() {
	local op=$1 point=$2 setup=$3 what="$1:$2" rc served orphans a p g
	shift 3
	reset_state
	if ! $setup; then not_ok "$what: set-up"; return; fi
	SVCCTL_FAULT="$op:$point" "$SVCCTL" "$@" >"$WORK/killed.out" 2>&1
	rc=$?
	if [ "$rc" = 137 ] && grep -q "fault point '$op:$point'" "$WORK/killed.out"; then
		ok "$what: svcctl killed there"
	else
		not_ok "$what: svcctl killed there"
		diag "rc=$rc $(cat "$WORK/killed.out")"
		return
	fi
	served=$(version_at "$ADDR")
	case " $EXPECT " in *" $served "*) ok "$what: $served serves while svcctl is dead" ;;
	*) not_ok "$what: one of $EXPECT serves while svcctl is dead"; diag "got $served" ;; esac
	run_rc rc svcctl status "$SVC"
	if [ "$rc" = 0 ] && { [ -z "$SAYS" ] || grep -q "$SAYS" <<<"$OUT"; }; then
		ok "$what: the next command recovers${SAYS:+ and says so}"
	else
		not_ok "$what: the next command recovers${SAYS:+ and says '$SAYS'}"
		diag "rc=$rc $OUT"
	fi
	served=$(version_at "$ADDR")
	case " $EXPECT " in *" $served "*) ok "$what: $served serves after recovery" ;;
	*) not_ok "$what: one of $EXPECT serves after recovery"; diag "got $served" ;; esac
	a=$(release_of active)
	p=$(release_of previous)
	g=$(release_of rollout)
	orphans=""
	for r in $(releases_running); do
		[ "$r" = "$a" ] || [ "$r" = "$p" ] || [ "$r" = "$g" ] || orphans="$orphans $r"
	done
	check_eq "$what: no instance of a release neither active, warm nor awaiting promotion" \
		"" "$orphans"
	write_manifest "$SVC" 9.0.0 "$ADDR"
	run_rc rc svcctl deploy "$SVC"
	check_eq "$what: a following deploy succeeds" 0 "$rc"
	[ "$rc" = 0 ] || diag "$OUT"
	check_eq "$what: and serves" 9.0.0 "$(version_at "$ADDR")"
}

# v1 warm, v2 active
setup_warm() {
	write_manifest "$SVC" 1.0.0 "$ADDR" && svcctl -q deploy "$SVC" &&
	write_manifest "$SVC" 2.0.0 "$ADDR" && svcctl -q deploy "$SVC" &&
	BAKE=1s write_manifest "$SVC" 3.0.0 "$ADDR"
}
# the same, v3 to be promoted by hand
setup_warm_manual() {
	setup_warm && PROMOTE=manual write_manifest "$SVC" 3.0.0 "$ADDR"
}
# v1 stopped (keep_previous 0), v2 active: a rollback to v1 is cold
setup_cold() {
	KEEP=0 write_manifest "$SVC" 1.0.0 "$ADDR" && svcctl -q deploy "$SVC" &&
	KEEP=0 BAKE=1s write_manifest "$SVC" 2.0.0 "$ADDR" && svcctl -q deploy "$SVC"
}
# v2 active, v3 healthy and awaiting manual promotion
setup_manual() {
	write_manifest "$SVC" 2.0.0 "$ADDR" && svcctl -q deploy "$SVC" &&
	PROMOTE=manual BAKE=1s write_manifest "$SVC" 3.0.0 "$ADDR" && svcctl -q deploy "$SVC"
}

EXPECT="2.0.0"
SAYS="marked the interrupted deploy of release .* as aborted"
kill_at deploy begun setup_warm deploy "$SVC"
SAYS="undid the interrupted deploy"
kill_at deploy starting setup_warm deploy "$SVC"
kill_at deploy health setup_warm deploy "$SVC"
EXPECT="2.0.0 3.0.0"
SAYS="undid the interrupted deploy .*switched back to blue"
kill_at deploy switching setup_warm deploy "$SVC"
kill_at deploy baking setup_warm deploy "$SVC"
EXPECT="3.0.0"
SAYS="finished the interrupted deploy"
kill_at deploy draining setup_warm deploy "$SVC"
kill_at deploy current-saved setup_warm deploy "$SVC"
EXPECT="2.0.0"
SAYS=""
kill_at deploy awaiting-promotion setup_warm_manual deploy "$SVC"

EXPECT="2.0.0 3.0.0"
SAYS="switched back to blue"
kill_at promote switching setup_manual promote "$SVC"
kill_at promote baking setup_manual promote "$SVC"
EXPECT="3.0.0"
SAYS="finished the interrupted deploy"
kill_at promote draining setup_manual promote "$SVC"
kill_at promote current-saved setup_manual promote "$SVC"

EXPECT="2.0.0"
SAYS="marked the interrupted rollback .* as aborted"
kill_at rollback-warm begun setup_warm rollback "$SVC"
EXPECT="1.0.0 2.0.0"
SAYS="undid the interrupted rollback"
kill_at rollback-warm switching setup_warm rollback "$SVC"
EXPECT="1.0.0"
SAYS="finished the interrupted rollback"
kill_at rollback-warm draining setup_warm rollback "$SVC"
kill_at rollback-warm current-saved setup_warm rollback "$SVC"

EXPECT="2.0.0"
SAYS="marked the interrupted rollback .* as aborted"
kill_at rollback-cold begun setup_cold rollback "$SVC"
SAYS="undid the interrupted rollback"
kill_at rollback-cold starting setup_cold rollback "$SVC"
kill_at rollback-cold health setup_cold rollback "$SVC"
EXPECT="1.0.0 2.0.0"
kill_at rollback-cold switching setup_cold rollback "$SVC"
kill_at rollback-cold baking setup_cold rollback "$SVC"
EXPECT="1.0.0"
SAYS="finished the interrupted rollback"
kill_at rollback-cold draining setup_cold rollback "$SVC"
kill_at rollback-cold current-saved setup_cold rollback "$SVC"

# stop: killed halfway, the next stop finishes it
for point in routes-removed instances-stopped; do
	reset_state
	setup_warm
	SVCCTL_FAULT="stop:$point" "$SVCCTL" stop "$SVC" >"$WORK/killed.out" 2>&1
	check_eq "stop:$point: svcctl killed there" 137 "$?"
	run_rc rc svcctl stop "$SVC"
	check_eq "stop:$point: the next stop exits 0" 0 "$rc"
	wait_until 5 eval '[ -z "$(releases_running)" ]'
	check_eq "stop:$point: nothing runs after it" "" "$(releases_running)"
	check "stop:$point: nothing answers" refuses "$ADDR"
	write_manifest "$SVC" 9.0.0 "$ADDR"
	run_rc rc svcctl deploy "$SVC"
	check_eq "stop:$point: a following deploy succeeds" 0 "$rc"
	check_eq "stop:$point: and serves" 9.0.0 "$(version_at "$ADDR")"
done

reset_state
finish
