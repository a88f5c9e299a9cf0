#!/bin/bash
# One hung service does not take the router down for the others (issue 9,
# scaled down). The router runs with --max-conns 200 (so 100 per route for
# two routes) and --fin-timeout 1s. A service whose instance accepts
# connections and never answers gets 1000 connections opened and closed
# against it: the other service on the router answers throughout, the hung
# route never holds more than its share, and the closed clients' slots are
# freed within the fin timeout of the router taking them (those waiting in
# the kernel's backlog are taken 100 at a time, so the whole flood takes
# about N / 100 fin timeouts to clear).
. "$(dirname "$0")/lib.sh"

N=1000
SHARE=100
HUNG=127.0.0.1:$(pick_port)
OK=127.0.0.1:$(pick_port)
while [ "$OK" = "$HUNG" ]; do OK=127.0.0.1:$(pick_port); done

# the router first, in the foreground, before any deploy
"$SVCCTL" router run --max-conns 200 --fin-timeout 1s >"$WORK/router.out" 2>&1 &
BG_PIDS+=("$!")
check "the router answers" wait_until 10 eval 'svcctl router status >/dev/null 2>&1'

REPLICAS=1 write_manifest hung 1.0.0 "$HUNG" HANG=1
sed -i 's|^  http: /health$|  tcp: true|' "$SVCCTL_MANIFESTS/hung.yaml"
write_manifest greeter 1.0.0 "$OK"
run_rc rc svcctl -q deploy hung
check_eq "the hung service deploys (tcp health check)" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
run_rc rc svcctl -q deploy greeter
check_eq "greeter deploys" 0 "$rc"
check_eq "greeter answers" 1.0.0 "$(version_at "$OK")"
check_eq "deploy uses the router started here" "${BG_PIDS[0]}" "$(router_pid)"

# the router's connection count (the first "connections" of the sorted
# status object is the top-level one)
conns() {
	svcctl --json router status | tail -n 1 | grep -o '"connections":[0-9]*' |
		head -n 1 | cut -d: -f2
}

# open and close COUNT connections against the hung service
flood() {
	local i fd
	for ((i = 0; i < $1; i++)); do
		exec {fd}<>"/dev/tcp/${HUNG%:*}/${HUNG##*:}" || return 1
		exec {fd}>&-
	done
}

start=$(date +%s%N)
flood "$N" &
fpid=$!
BG_PIDS+=("$fpid")
# While the router works through the flood: the other service answers, and
# the hung route holds at most its share. Bounded: N / SHARE fin timeouts
# and a margin.
limit=$(( N / SHARE + 10 ))
samples=0 failed=0 max=0 cleared=no
while [ $(( ($(date +%s%N) - start) / 1000000000 )) -lt "$limit" ]; do
	c=$(conns)
	[ "${c:-0}" -gt "$max" ] && max=$c
	if ! kill -0 "$fpid" 2>/dev/null && [ "${c:-999}" -le 2 ]; then
		cleared=yes
		break
	fi
	samples=$((samples + 1))
	[ "$(version_at "$OK")" = 1.0.0 ] || failed=$((failed + 1))
	sleep 0.2
done
wait "$fpid"
check_eq "all $N connections to the hung service were opened and closed" 0 "$?"
took=$(( ($(date +%s%N) - start) / 1000000 ))
diag "flood of $N cleared: $cleared after ${took} ms; $samples samples, max $max connections"
check "greeter was sampled during the flood" test "$samples" -ge 3
check_eq "greeter answered every time during the flood" 0 "$failed"
check "the hung route held at most its share ($SHARE, plus the sampling)" \
	test "$max" -le $((SHARE + 5))
check_eq "the closed clients' slots were all freed" yes "$cleared"
check_eq "greeter answers after the flood" 1.0.0 "$(version_at "$OK")"

# a burst within the route's share is freed within the fin timeout (1s)
# plus a margin
flood 50
start=$(date +%s%N)
check "50 closed clients are freed within the fin timeout and a margin" \
	wait_until 3 eval '[ "$(conns)" -le 2 ]'
diag "freed after $(( ($(date +%s%N) - start) / 1000000 )) ms"

finish
