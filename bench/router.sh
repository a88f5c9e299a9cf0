#!/bin/bash
# bench/router.sh - throughput and latency of the router against a direct
# connection and against HAProxy in TCP mode, with wrk on loopback.
#
# Targets, all in front of the same backend (examples/greeter, keep-alive
# HTTP/1.1 on 127.0.0.1):
#   direct   wrk -> greeter
#   router   wrk -> svcctl's router (bench/routerctl run, i.e. svc_router_run
#            in the foreground; routes set through the control socket with
#            bench/routerctl set) -> greeter
#   haproxy  wrk -> haproxy (mode tcp, nbthread $HAPROXY_THREADS) -> greeter
# Each target gets a 1 s warm-up, then ROUNDS measured runs of
# `wrk -t$THREADS -c$CONNS -d$DURATION --latency`, interleaved (direct,
# router, haproxy, direct, ...) so drift hits all alike. Prints one line per
# run and the median of each target. Everything is bounded by DURATION and
# CONNS; only the processes this script starts are stopped, by pid.
#
# Environment: BUILD (build dir, default the source dir), THREADS (2),
# CONNS (64), DURATION (10s), ROUNDS (3), HAPROXY_THREADS (1).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
HAPROXY_THREADS=${HAPROXY_THREADS:-1}

need wrk "$HAPROXY" python3 "$GREETER" "$ROUTERCTL"

gport=$(free_port)
"$GREETER" --port "$gport" --version bench >"$BENCH_TMP/greeter.log" 2>&1 &
bench_track $!
wait_port "$gport"

rport=$(free_port)
start_router "$BENCH_TMP/state"
"$ROUTERCTL" set "$BENCH_TMP/state" "127.0.0.1:$rport" "127.0.0.1:$gport"
wait_port "$rport"

hport=$(free_port)
haproxy_config "$hport" "$gport" "$HAPROXY_THREADS" "$BENCH_TMP/haproxy.cfg"
start_haproxy "$BENCH_TMP/haproxy.cfg"
wait_port "$hport"

declare -A port=([direct]=$gport [router]=$rport [haproxy]=$hport)
targets=(direct router haproxy)

# wrk output -> "rps p50_ms p99_ms"
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
		if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
		if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
		return v
	}
	/^ +50%/ { p50 = ms($2) }
	/^ +99%/ { p99 = ms($2) }
	/^Requests\/sec:/ { rps = $2 }
	/Socket errors|Non-2xx/ { errs = errs " " $0 }
	END { printf "%.0f %.3f %.3f%s\n", rps, p50, p99, (errs ? " #" errs : "") }'
}

machine_info
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency; haproxy $("$HAPROXY" -v | awk 'NR==1 { print $3 }') nbthread $HAPROXY_THREADS"
for t in "${targets[@]}"; do
	wrk -t"$THREADS" -c"$CONNS" -d1s "http://127.0.0.1:${port[$t]}/" >/dev/null
done

declare -A results
printf '%-8s %5s %12s %10s %10s\n' target round req/s p50_ms p99_ms
for r in $(seq 1 "$ROUNDS"); do
	for t in "${targets[@]}"; do
		line=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
			"http://127.0.0.1:${port[$t]}/" | parse_wrk)
		read -r rps p50 p99 rest <<<"$line"
		printf '%-8s %5s %12s %10s %10s %s\n' "$t" "$r" "$rps" "$p50" "$p99" "${rest:-}"
		results[$t]+="$rps $p50 $p99"$'\n'
	done
done

echo "median of $ROUNDS rounds:"
for t in "${targets[@]}"; do
	med() { printf '%s' "${results[$t]}" | awk -v c="$1" 'NF { print $c }' | sort -g |
		awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
	printf '%-8s %12s req/s  p50 %s ms  p99 %s ms\n' "$t" "$(med 1)" "$(med 2)" "$(med 3)"
done
