#!/bin/bash
# bench/idle_memory.sh - the router's resident memory while it holds many
# idle connections (goal: 10,000 under 64 MiB).
#
# Starts examples/greeter as the backend and the router (bench/routerctl
# run) with one route to it, records the router's VmRSS, then has
# bench/idleconns open N connections through the router and hold them,
# and reads VmRSS again once the router reports all N (status
# "connections"). The same is done through HAProxy (mode tcp, nbthread 1)
# for comparison. Each client connection costs the proxy two descriptors
# (client and backend), so N is lowered to fit `ulimit -Hn` when needed;
# the per-connection cost is reported so the figure for 10,000 can be read
# off. Bounded: N <= 100000, HOLD seconds per proxy; only processes started
# here are stopped, by pid.
#
# Environment: BUILD (build dir), N (10000), HOLD (60, an upper bound: the
# holders are stopped as soon as the measurement is taken).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${N:-10000}
HOLD=${HOLD:-60}
need python3 "$GREETER" "$ROUTERCTL" "$IDLECONNS"

ulimit -n "$(ulimit -Hn)"
fit=$(( ($(ulimit -n) - 200) / 2 ))
if [ "$N" -gt "$fit" ]; then
	echo "note: open-file limit $(ulimit -n) fits $fit proxied connections; N lowered from $N to $fit"
	N=$fit
fi

gport=$(free_port)
"$GREETER" --port "$gport" --version bench >"$BENCH_TMP/greeter.log" 2>&1 &
bench_track $!
wait_port "$gport"

# hold PORT PID NAME COUNT: connect COUNT idle clients to PORT, print PID's RSS.
hold() {
	local port=$1 pid=$2 name=$3 count=$4 before after held=n/a i
	before=$(rss_kib "$pid")
	"$IDLECONNS" "127.0.0.1:$port" "$count" "$HOLD" >"$BENCH_TMP/idle.out" 2>&1 &
	local ipid=$!
	bench_track "$ipid"
	for i in $(seq 1 600); do
		grep -q '^ready' "$BENCH_TMP/idle.out" && break
		kill -0 "$ipid" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$name" = router ]; then
		for i in $(seq 1 100); do
			held=$("$ROUTERCTL" connections "$BENCH_TMP/state")
			[ "$held" -ge "$count" ] && break
			sleep 0.1
		done
	fi
	sleep 1
	after=$(rss_kib "$pid")
	kill "$ipid" 2>/dev/null || true
	wait "$ipid" 2>/dev/null || true
	printf '%-8s %6d conns (%s; proxy reports %s)  RSS before %6d KiB  with conns %6d KiB (%.1f MiB)  per conn %.0f bytes\n' \
		"$name" "$count" "$(head -1 "$BENCH_TMP/idle.out")" "$held" "$before" "$after" \
		"$(echo "$after / 1024" | bc -l)" "$(echo "($after - $before) * 1024 / $count" | bc -l)"
}

machine_info
echo "open-file limit: $(ulimit -n)"

rport=$(free_port)
start_router "$BENCH_TMP/state"
"$ROUTERCTL" set "$BENCH_TMP/state" "127.0.0.1:$rport" "127.0.0.1:$gport"
wait_port "$rport"
hold "$rport" "$ROUTER_PID" router "$N"
sleep 1
left=$("$ROUTERCTL" connections "$BENCH_TMP/state")
echo "router   after the clients left: RSS $(rss_kib "$ROUTER_PID") KiB, connections $left"

hport=$(free_port)
haproxy_config "$hport" "$gport" 1 "$BENCH_TMP/haproxy.cfg"
sed -i "s/maxconn 8000/maxconn $N/" "$BENCH_TMP/haproxy.cfg"
start_haproxy "$BENCH_TMP/haproxy.cfg"
wait_port "$hport"
hold "$hport" "$HAPROXY_PID" haproxy "$N"
