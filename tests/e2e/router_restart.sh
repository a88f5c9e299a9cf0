#!/bin/bash
# The router daemon and its supervisor killed with SIGKILL: a router started
# again restores its routes from disk; a stopped router makes `svcctl
# deploy` (and `svcctl status`) start it again.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR"
svcctl -q deploy greeter
check_eq "v1 serves through the router" 1.0.0 "$(version_at "$ADDR")"
rp=$(router_pid)
check "the router's pid is recorded" test -n "$rp"
check "the control socket is private (0600)" \
	test "$(stat -c %a "$SVCCTL_STATE_DIR/router/router.sock")" = 600

sp=$(cut -d' ' -f1 "$SVCCTL_STATE_DIR/router/supervisor.pid")
check "the router runs under a supervisor" test -n "$sp"
kill -9 "$sp" "$rp"
check "the listen address refuses once the router is dead" wait_until 5 refuses "$ADDR"
"$SVCCTL" router run >"$WORK/router.out" 2>&1 &
BG_PIDS+=("$!")
check "a restarted router answers on its old address" wait_until 10 answers "$ADDR" 1.0.0
check "router status lists the route" grep -q "$ADDR" <<<"$(svcctl router status)"

run_rc rc svcctl router stop
check_eq "router stop exits 0" 0 "$rc"
check "the address refuses after router stop" wait_until 5 refuses "$ADDR"
write_manifest greeter 2.0.0 "$ADDR"
run_rc rc svcctl deploy greeter
check_eq "deploy starts the router on demand" 0 "$rc"
check_eq "v2 serves" 2.0.0 "$(version_at "$ADDR")"

# the router is down: status starts it again, and says so
svcctl -q router stop
run_rc rc svcctl status greeter
check "status starts the router again" grep -q "started the router again" <<<"$OUT"
check_eq "v2 serves again" 2.0.0 "$(version_at "$ADDR")"

finish
