# bench/lib.sh - shared helpers of the router benchmarks (sourced, not run).
#
# Every process a benchmark starts is recorded with bench_track PID and
# killed by that pid (never by name) when the script exits.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP}
GREETER=${GREETER:-$BUILD/examples/greeter/greeter}
ROUTERCTL=${ROUTERCTL:-$BUILD/bench/routerctl}
IDLECONNS=${IDLECONNS:-$BUILD/bench/idleconns}
HAPROXY=${HAPROXY:-haproxy}

BENCH_PIDS=()
BENCH_TMP=$(mktemp -d /tmp/svc-bench-XXXXXX)

bench_track() { BENCH_PIDS+=("$1"); }

bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${BENCH_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT

# A free TCP port on 127.0.0.1 (bound and released by the kernel's choice).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until something accepts on 127.0.0.1:$1 (up to 5 s).
wait_port() {
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# Resident set size of a process in KiB.
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

need() {
	local x
	for x in "$@"; do
		if ! command -v "$x" >/dev/null 2>&1 && [ ! -x "$x" ]; then
			echo "missing: $x (run make first, install wrk and haproxy)" >&2
			exit 1
		fi
	done
}

# Start the router on state dir $1 with extra routerctl args; sets ROUTER_PID.
start_router() {
	local state=$1
	shift
	"$ROUTERCTL" run "$state" "$@" 2>>"$BENCH_TMP/router.log" &
	ROUTER_PID=$!
	bench_track "$ROUTER_PID"
	local i
	for i in $(seq 1 100); do
		if "$ROUTERCTL" connections "$state" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "router did not start; log:" >&2
	cat "$BENCH_TMP/router.log" >&2
	return 1
}

# Write a HAProxy config, TCP mode, listening on 127.0.0.1:$1, forwarding
# to 127.0.0.1:$2, with $3 threads, to file $4.
haproxy_config() {
	cat >"$4" <<CFG
global
    nbthread $3
    maxconn 8000

defaults
    mode tcp
    timeout connect 2s
    timeout client 10m
    timeout server 10m

frontend bench
    bind 127.0.0.1:$1
    default_backend greeter

backend greeter
    server g1 127.0.0.1:$2
CFG
}

# Start HAProxy in the foreground as our child; sets HAPROXY_PID.
start_haproxy() {
	"$HAPROXY" -db -f "$1" >>"$BENCH_TMP/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	bench_track "$HAPROXY_PID"
}

machine_info() {
	echo "date:   $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpus:   $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel: $(uname -sr)"
}

# Stop the benchmark's greeter service and its router (svcctl benchmarks).
svcctl_stop_greeter() {
	"$SVCCTL" -q stop greeter >/dev/null 2>&1 || true
	"$SVCCTL" -q router stop >/dev/null 2>&1 || true
}
