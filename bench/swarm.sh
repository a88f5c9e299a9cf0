#!/bin/bash
# bench/swarm.sh - svcctl's blue/green on a real 3-node swarm against
# Swarm's own rolling update, on the same swarm in the same run.
#
# The swarm is the tests' fixture (tests/e2e/swarm_lib.sh: three dockerds
# in network namespaces, a registry of its own; root only). Two tags of the
# example greeter are pushed to the registry (an image change: the same
# binary, so nothing but the image reference differs), and ROUNDS (3)
# times, alternately to each tag:
#   svcctl     `svcctl --json deploy` of a 2-replica service (health every
#              20 ms, healthy after one check, no bake): the time from the
#              command's start to the route switch (its "switch" event),
#              then `svcctl --json rollback` (warm: a route switch, no task
#              started): svcctl's whole run and the switch alone;
#   docker     `docker service update --update-order start-first --image`
#              of a 2-replica service publishing the same port in host
#              mode, until the CLI returns (it waits for the update to
#              converge, as a deploy would), then `docker service rollback`.
# svcctl's route is ":PORT", a port on every node: its switches are the
# two-phase switch on the router of each of the three nodes (the first
# deploy puts the routers up, before anything is timed).
# Goals (issue 13): deploy at least 5x faster to the switch; warm rollback
# under 100 ms.
#
# Environment: BUILD (build dir, default the source dir), ROUNDS (3).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP}
ROUNDS=${ROUNDS:-3}
export SVCCTL=${SVCCTL:-$BUILD/svcctl} GREETER=${GREETER:-$BUILD/examples/greeter/greeter}
export MKIMAGE=${MKIMAGE:-$BUILD/tests/tools/mkimage}
export GREETER_STATIC=${GREETER_STATIC:-$BUILD/examples/greeter/greeter-static}
export TOP_SRCDIR=$TOP HAMMER=${HAMMER:-$BUILD/tests/tools/hammer}
for f in "$SVCCTL" "$MKIMAGE" "$GREETER_STATIC"; do
	[ -x "$f" ] || { echo "bench/swarm.sh: $f is missing (build first: scripts/build plain)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/swarm.sh: needs root (network namespaces)" >&2; exit 2; }
# the tests' helpers: the swarm fixture, clean-up by pid on exit
source "$TOP/tests/e2e/lib.sh" >/dev/null
source "$TOP/tests/e2e/swarm_lib.sh"

SWARM_REGISTRY=1 swarm_up 3 >/dev/null || { echo "bench/swarm.sh: no swarm" >&2; exit 1; }
swarm_image "svcctl-bench:build" >/dev/null || exit 1
REPO=$SWARM_REGISTRY_ADDR/bench/greeter
for t in a b; do
	swarm_docker 1 tag svcctl-bench:build "$REPO:$t" >/dev/null &&
		swarm_docker 1 push "$REPO:$t" >/dev/null || { echo "push failed" >&2; exit 1; }
done
export DOCKER_HOST=$SWARM_HOST
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# elapsed_ms of the first --json event of step $2 in file $1
ev() { jq -r --arg s "$2" 'select(.step == $s) | .elapsed_ms' "$1" | head -n 1; }

port=$(pick_port)
manifest() {
	cat >"$SVCCTL_MANIFESTS/greeter.yaml" <<YAML
service: greeter
runtime: swarm
version: "$1"
replicas: 2
run:
  image: $REPO:$1
  command: [--port, "\${PORT}"]
ports:
  - listen: ":$port"
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

# -- svcctl --
manifest a
"$SVCCTL" -q deploy greeter || exit 1
for i in 1 2 3; do
	[ "$(version_at "$SWARM_NET.$i:$port")" = a ] ||
		{ echo "bench/swarm.sh: node $i does not serve through its router" >&2; exit 1; }
done
dep=() rb=() sw=()
for i in $(seq 1 "$ROUNDS"); do
	[ $((i % 2)) = 1 ] && t=b || t=a
	manifest "$t"
	# a release deployed before would be the active or warm one: a new version each round
	sed -i "s/^version: .*/version: \"$t.$i\"/" "$SVCCTL_MANIFESTS/greeter.yaml"
	"$SVCCTL" --json deploy greeter >"$WORK/d.json" || { cat "$WORK/d.json"; exit 1; }
	w=$(ev "$WORK/d.json" switch)
	dep+=("$w")
	"$SVCCTL" --json rollback greeter >"$WORK/r.json" || { cat "$WORK/r.json"; exit 1; }
	r=$(tail -n 1 "$WORK/r.json" | jq -r '.switch_ms')
	all=$(tail -n 2 "$WORK/r.json" | head -n 1 | jq -r '.elapsed_ms')
	rb+=("$all")
	sw+=("$r")
	"$SVCCTL" -q rollback greeter >/dev/null   # forward again: the next deploy replaces it
	printf 'svcctl  round %d: deploy to the switch %5d ms; warm rollback %4d ms (switch %d ms)\n' \
		"$i" "$w" "$all" "$r"
done
"$SVCCTL" -q stop greeter

# -- docker service update --
swarm_docker 1 service create --detach=false --name svcctl-bench-docker --replicas 2 \
	--update-order start-first --publish mode=host,target=8080 "$REPO:a" --port 8080 >/dev/null ||
	exit 1
dup=() drb=()
for i in $(seq 1 "$ROUNDS"); do
	[ $((i % 2)) = 1 ] && t=b || t=a
	t0=$(ms)
	swarm_docker 1 service update --detach=false --update-order start-first --image "$REPO:$t" \
		svcctl-bench-docker >/dev/null 2>&1 || { echo "docker service update failed" >&2; exit 1; }
	t1=$(ms)
	swarm_docker 1 service rollback --detach=false svcctl-bench-docker >/dev/null 2>&1 ||
		{ echo "docker service rollback failed" >&2; exit 1; }
	t2=$(ms)
	# forward again, so that each round updates the same way
	swarm_docker 1 service update --detach=false --update-order start-first --image "$REPO:$t" \
		svcctl-bench-docker >/dev/null 2>&1
	dup+=($((t1 - t0)))
	drb+=($((t2 - t1)))
	printf 'docker  round %d: service update %5d ms; service rollback %5d ms\n' "$i" $((t1 - t0)) $((t2 - t1))
done
swarm_docker 1 service rm svcctl-bench-docker >/dev/null

d1=$(printf '%s\n' "${dep[@]}" | median)
d2=$(printf '%s\n' "${dup[@]}" | median)
echo
echo "median deploy to the switch: svcctl $d1 ms, docker service update $d2 ms:" \
	"$(awk -v a="$d1" -v b="$d2" 'BEGIN { printf "%.1fx", b / a }') (goal >= 5x)"
echo "median warm rollback: svcctl $(printf '%s\n' "${rb[@]}" | median) ms" \
	"(route switch $(printf '%s\n' "${sw[@]}" | median) ms; goal < 100 ms)," \
	"docker service rollback $(printf '%s\n' "${drb[@]}" | median) ms"
