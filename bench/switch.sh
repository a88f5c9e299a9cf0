#!/bin/bash
# bench/switch.sh - svcctl's own time in a blue/green deploy and in a warm
# rollback, with the process runtime and the example greeter.
#
# For each of ROUNDS deploys (versions alternate, 2 replicas, health every
# 20 ms, healthy after 1 check, no bake) it reads svcctl's --json step
# events (elapsed_ms since svcctl started) and reports
#   overhead = t(route switched) - (t(green healthy) - t(green starting))
# i.e. the time from `svcctl deploy` to the switch, minus the time green
# took to start and become healthy. Then ROUNDS warm rollbacks: svcctl's
# whole run (last event's elapsed_ms) and the route switch alone
# (switch_ms). Goals: overhead < 50 ms, warm rollback < 20 ms.
# Also prints the wall time of `svcctl --version` (process start-up).
# Everything runs in a private state dir and is stopped at the end.
#
# Environment: BUILD (build dir, default the source dir), ROUNDS (10).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SVCCTL=${SVCCTL:-$BUILD/svcctl}
ROUNDS=${ROUNDS:-10}
need "$SVCCTL" "$GREETER" python3

export SVCCTL_STATE_DIR="$BENCH_TMP/state" SVCCTL_MANIFESTS="$BENCH_TMP/manifests"
mkdir -p "$SVCCTL_MANIFESTS"
port=$(free_port)
gdir=$(dirname "$GREETER")

manifest() {
	cat >"$SVCCTL_MANIFESTS/greeter.yaml" <<YAML
service: greeter
version: $1
replicas: 2
run:
  workdir: $gdir
  command: [./greeter, --port, "\${PORT}"]
  env: {VERSION: "\${VERSION}"}
ports:
  - listen: 127.0.0.1:$port
health:
  http: /health
  interval: 20ms
  healthy_threshold: 1
rollout:
  keep_previous: 10m
  drain_timeout: 1s
YAML
}
trap 'svcctl_stop_greeter; bench_cleanup' EXIT

# elapsed_ms of the first event whose step is $2 (and message matches $3)
ev() {
	python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("step") == sys.argv[2] and sys.argv[3] in e.get("message", ""):
        print(e["elapsed_ms"]); break
PY
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

manifest 0.0.0
"$SVCCTL" -q deploy greeter
over=()
for i in $(seq 1 "$ROUNDS"); do
	manifest "1.$i.0"
	"$SVCCTL" --json deploy greeter >"$BENCH_TMP/d.json"
	s=$(ev "$BENCH_TMP/d.json" start)
	h=$(ev "$BENCH_TMP/d.json" health "healthy 2/2")
	w=$(ev "$BENCH_TMP/d.json" switch)
	o=$((w - (h - s)))
	over+=("$o")
	printf 'deploy %2d: switched at %4d ms, green start+health %4d ms, svcctl overhead %3d ms\n' \
		"$i" "$w" $((h - s)) "$o"
done
rb=()
sw=()
for i in $(seq 1 "$ROUNDS"); do
	"$SVCCTL" --json rollback greeter >"$BENCH_TMP/r.json"
	t=$(tail -n 2 "$BENCH_TMP/r.json" | head -n 1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["elapsed_ms"])')
	x=$(tail -n 1 "$BENCH_TMP/r.json" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); assert r["instant"], r; print(r["switch_ms"])')
	rb+=("$t")
	sw+=("$x")
	printf 'rollback %2d: svcctl %3d ms, route switch %3d ms\n' "$i" "$t" "$x"
done
t0=$(date +%s%N)
for i in $(seq 1 20); do "$SVCCTL" --version >/dev/null; done
t1=$(date +%s%N)
echo
echo "median deploy overhead:  $(printf '%s\n' "${over[@]}" | median) ms (goal < 50 ms)"
echo "median warm rollback:    $(printf '%s\n' "${rb[@]}" | median) ms of svcctl's own time (goal < 20 ms)"
echo "median route switch:     $(printf '%s\n' "${sw[@]}" | median) ms"
echo "svcctl start-up:         $(( (t1 - t0) / 20000000 )) ms per run (svcctl --version)"
