#!/bin/bash
# bench/docker.sh - a blue/green deploy of greeter with the docker runtime
# (image change, 2 replicas), split into the engine's time and svcctl's own.
#
# Builds ROUNDS+1 tags of the example image (FROM scratch, through the
# Engine API), deploys the first, then ROUNDS (5) deploys, each of the next
# tag: new containers beside the old, the old kept warm. For
# each, svcctl's --json result gives runtime_ms (time spent waiting for the
# engine's API: create, start, inspect, list, stop, remove) and the last
# step event gives svcctl's whole run; their difference is svcctl's own time
# (manifest, state writes with fsync, router control, health probes and the
# waits between them: health every 20 ms, healthy after one check, no bake).
# Uses the engine that answers, or starts its own (scripts/docker-engine).
#
# Environment: BUILD (build dir, default the source dir), ROUNDS (5).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SVCCTL=${SVCCTL:-$BUILD/svcctl}
MKIMAGE=${MKIMAGE:-$BUILD/tests/tools/mkimage}
ROUNDS=${ROUNDS:-5}
need "$SVCCTL" "$MKIMAGE" python3
eval "$("$TOP/scripts/docker-engine" start)"
trap 'svcctl_stop_greeter; [ "${SVCCTL_DOCKERD_OWNED:-}" = 1 ] && "$TOP/scripts/docker-engine" stop; bench_cleanup' EXIT

export SVCCTL_STATE_DIR="$BENCH_TMP/state" SVCCTL_MANIFESTS="$BENCH_TMP/manifests"
mkdir -p "$SVCCTL_MANIFESTS" "$BENCH_TMP/image"
cp "$TOP/examples/greeter/Dockerfile" "$BUILD/examples/greeter/greeter-static" "$BENCH_TMP/image/"
# a tag per deploy: a release whose containers still run would be reused
for i in $(seq 0 "$ROUNDS"); do
	"$MKIMAGE" "svcctl-bench-greeter:$i" "$BENCH_TMP/image" >/dev/null
done
port=$(free_port)

manifest() {
	cat >"$SVCCTL_MANIFESTS/greeter.yaml" <<YAML
service: greeter
runtime: docker
replicas: 2
run:
  image: svcctl-bench-greeter:$1
  command: [--port, "\${PORT}"]
ports:
  - listen: 127.0.0.1:$port
    target: 8080
health:
  http: /health
  interval: 20ms
  healthy_threshold: 1
rollout:
  keep_previous: 10m
  drain_timeout: 1s
YAML
}

manifest 0
"$SVCCTL" -q deploy greeter
for i in $(seq 1 "$ROUNDS"); do
	manifest "$i"
	"$SVCCTL" --json deploy greeter >"$BENCH_TMP/d.json"
	python3 - "$BENCH_TMP/d.json" "$i" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
result = lines[-1]
assert result["ok"], result
total = [e for e in lines if e.get("event") == "step"][-1]["elapsed_ms"]
engine = result["runtime_ms"]
print("deploy %s: total %4d ms, engine %4d ms, svcctl's own %4d ms"
      % (sys.argv[2], total, engine, total - engine))
PY
done
