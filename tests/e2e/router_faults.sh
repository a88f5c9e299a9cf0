#!/bin/bash
# The router under faults (issue 9): a squatter on the listen address is
# never taken for a switch; one router per state dir whatever files were
# deleted; a router killed mid-deploy comes back by itself or the deploy
# says so; a corrupt routes.json is rebuilt from the services' state; a
# router that does not answer is not reported stopped; idle control
# connections do not lock svcctl out; a router run by a service manager is
# never doubled.
. "$(dirname "$0")/lib.sh"

RDIR=$SVCCTL_STATE_DIR/router
sup_pid() { cut -d' ' -f1 "$RDIR/supervisor.pid" 2>/dev/null; }
router_answers() { svcctl -q router status >/dev/null 2>&1; }
# a router other than PID answers
new_router() { local p; p=$(router_pid); [ -n "$p" ] && [ "$p" != "$1" ] && router_answers; }
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }
active_version() { svcctl status greeter 2>/dev/null | sed -n 's/.*active .*version \([^ ]*\) .*/\1/p'; }

ADDR=127.0.0.1:$(pick_port)
V=0
deploy_next() {   # deploy_next [ENV=VALUE...]: the next version, output in $OUT
	V=$((V + 1))
	write_manifest greeter "1.0.$V" "$ADDR"
	run_rc rc env "$@" "$SVCCTL" deploy greeter
}

deploy_next
check_eq "v1 deploys" 0 "$rc"
check_eq "v1 serves" 1.0.1 "$(version_at "$ADDR")"
check "svcctl started the router under a supervisor" test -n "$(sup_pid)"
check "a router svcctl started is not marked as run by a service manager" \
	test ! -e "$RDIR/external"

# ---- the router comes back by itself ----
rp=$(router_pid)
kill -9 "$rp"
check "a killed router is started again by its supervisor" wait_until 10 new_router "$rp"
check "and serves its routes again, with no svcctl command" wait_until 5 answers "$ADDR" 1.0.1
grep -q "starting it again" "$RDIR/router.log"
check "the supervisor logged the restart" test $? -eq 0

# ---- one router per state dir, whatever files were deleted ----
rp=$(router_pid)
rm -f "$RDIR/router.sock" "$RDIR/router.lock" "$RDIR/router.pid"
run_rc rc timeout 10 "$SVCCTL" router run
check_eq "a second router refuses to start with the files deleted (exit 5)" 5 "$rc"
check "and says a router already serves" grep -q "already serves" <<<"$OUT"
check "router status still reaches the first one" router_answers
check "the router binds router.sock again" wait_until 3 test -S "$RDIR/router.sock"
check_eq "and writes its pid again" "$rp" "$(wait_until 3 test -s "$RDIR/router.pid"; router_pid)"
check_eq "v1 still serves" 1.0.1 "$(version_at "$ADDR")"

# ---- a router that does not answer is not reported stopped ----
kill -STOP "$rp"
run_rc rc svcctl router stop
kill -CONT "$rp"
check_eq "router stop of a router that does not answer exits 5" 5 "$rc"
check "and says it did not answer" grep -q "did not answer the shutdown request" <<<"$OUT"
# the request waited in the socket: the router acts on it once it runs
check "the router, running again, acts on the request it had not answered" \
	wait_until 5 eval '! router_answers'
run_rc rc svcctl status greeter
check "status starts the router again" grep -q "started the router again" <<<"$OUT"
check_eq "v1 serves again" 1.0.1 "$(version_at "$ADDR")"

# ---- idle control connections do not lock svcctl out ----
"$HOLDCONNS" "$RDIR/router.sock" 70 20 >"$WORK/hold.out" 2>&1 &
HOLD=$!
BG_PIDS+=("$HOLD")
wait_until 5 grep -q held "$WORK/hold.out"
diag "$(cat "$WORK/hold.out")"
run_rc rc svcctl router status
check_eq "router status answers with 70 idle control connections open" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT$(echo; tail -n 30 "$RDIR/router.log")"
deploy_next
check_eq "and deploy goes through" 0 "$rc"
kill "$HOLD" 2>/dev/null
check_eq "v2 serves" 1.0.2 "$(version_at "$ADDR")"

# ---- the router killed right after the switch, and after the bake ----
"$HAMMER" --addr "$ADDR" --clients 4 --duration-ms 120000 --stop-file "$WORK/stop" \
	>"$WORK/hammer.out" 2>&1 &
HPID=$!
BG_PIDS+=("$HPID")
# (each step is recorded, then the router dies, then svcctl goes on)
for step in starting health switching baking draining; do
	rp=$(router_pid)
	BAKE=2s deploy_next SVCCTL_FAULT_ROUTER="deploy:$step"
	diag "$OUT"
	check "router killed at deploy:$step (it was)" grep -q "killing the router" <<<"$OUT"
	check_eq "deploy:$step: exit 0, the supervisor brought the router back serving green" \
		0 "$rc"
	check "the router is a new process" new_router "$rp"
	check_eq "green serves (router killed at $step)" "1.0.$V" "$(version_at "$ADDR")"
done
# bake 0: the deploy waits for the router to come back
BAKE=0s deploy_next SVCCTL_FAULT_ROUTER=deploy:baking
check_eq "with no bake, deploy waits for the router to come back (exit 0)" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
check_eq "green serves" "1.0.$V" "$(version_at "$ADDR")"
touch "$WORK/stop"
wait "$HPID"
diag "load while the router was killed three times: $(cat "$WORK/hammer.out")"

# the supervisor killed too: the router does not come back within the bake
sp=$(sup_pid)
kill -9 "$sp"
wait_until 5 gone "$sp"
BAKE=1s deploy_next SVCCTL_FAULT_ROUTER=deploy:baking
diag "$OUT"
check_eq "a deploy that lost its router for good exits 5" 5 "$rc"
check "and says so" grep -q "router was lost after the switch" <<<"$OUT"
check "nothing answers on the address meanwhile" refuses "$ADDR"
run_rc rc svcctl status greeter
diag "$OUT"
check_eq "status starts the router again (exit 0)" 0 "$rc"
check "and says it did" grep -q "started the router again" <<<"$OUT"
check_eq "the new release, active in the records, serves" "1.0.$V" "$(version_at "$ADDR")"

# ---- a squatter on the listen address ----
good=$V
sp=$(sup_pid)
rp=$(router_pid)
kill -9 "$sp"
kill -9 "$rp"
wait_until 5 refuses "$ADDR"
"$GREETER" --port "${ADDR##*:}" --version squatter >/dev/null 2>&1 &
SQ=$!
BG_PIDS+=("$SQ")
wait_until 5 answers "$ADDR" squatter
deploy_next
diag "$OUT"
check_eq "deploy exits 5 when the router cannot listen on the address" 5 "$rc"
check "and names the reason" grep -q "Address already in use" <<<"$OUT"
check_eq "the records keep the previous release active" "1.0.$good" "$(active_version)"
run_rc rc svcctl status greeter
check_eq "status exits 5 while the route is not listening" 5 "$rc"
check "status shows it as an error" grep -q "router *ERROR: the router is not listening" <<<"$OUT"
kill "$SQ"
wait "$SQ" 2>/dev/null
check "once the squatter is gone, the router listens and the active release serves" \
	wait_until 5 answers "$ADDR" "1.0.$good"
run_rc rc svcctl status greeter
check_eq "status is fine again" 0 "$rc"

# ---- a corrupt routes.json is rebuilt ----
# (router stop reaches the router with its files deleted, and stops it)
rp=$(router_pid)
rm -f "$RDIR/router.sock" "$RDIR/router.pid" "$RDIR/router.lock"
run_rc rc svcctl router stop
check_eq "router stop with router.sock, router.pid and router.lock deleted exits 0" 0 "$rc"
check "and the router is gone" wait_until 3 gone "$rp"
echo '{"version": 1, "routes": [' >"$RDIR/routes.json"
run_rc rc svcctl status greeter
diag "$OUT"
check_eq "status starts a router over a corrupt routes.json (exit 0)" 0 "$rc"
check_eq "the rebuilt table serves the active release" "1.0.$good" "$(version_at "$ADDR")"
check "the bad file is kept aside" test -s "$RDIR/routes.json.corrupt"
check "the router says what it rebuilt" grep -q "rebuilt route $ADDR (greeter)" "$RDIR/router.log"
check "and saved it" grep -q "$ADDR" "$RDIR/routes.json"
deploy_next
check_eq "deploys work again" 0 "$rc"

# ---- a router run by a service manager ----
svcctl -q router stop
"$SVCCTL" router run >>"$WORK/fg.log" 2>&1 &
FG=$!
BG_PIDS+=("$FG")
check "a router in the foreground answers" wait_until 5 router_answers
check "it is marked as run by a service manager" test -e "$RDIR/external"
kill -9 "$FG"
wait "$FG" 2>/dev/null
deploy_next
check_eq "with it gone, deploy does not start a second one (exit 5)" 5 "$rc"
check "and says who owns it" grep -q "run by a service manager" <<<"$OUT"
check "no router was started" test -z "$(sup_pid)"
"$SVCCTL" router run >>"$WORK/fg.log" 2>&1 &
FG=$!
BG_PIDS+=("$FG")
wait_until 5 router_answers
deploy_next
check_eq "with the manager's router back, deploy works" 0 "$rc"
check_eq "green serves" "1.0.$V" "$(version_at "$ADDR")"
run_rc rc svcctl router stop
check_eq "router stop stops it" 0 "$rc"
check "and the service-manager mark goes with it" test ! -e "$RDIR/external"
run_rc rc svcctl router stop
check "router stop with none running says so (exit $rc)" grep -q "no router was running" <<<"$OUT"

finish
