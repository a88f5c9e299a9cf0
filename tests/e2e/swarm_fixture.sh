#!/bin/bash
# The swarm fixture itself (swarm_lib.sh): a one-node swarm of the test's
# own dockerd in its own network namespace; a service of the example
# greeter created through the Engine API, two replicas publishing host-mode
# ports the node chooses, each answering from the root netns; then
# swarm_down leaves nothing: no netns, link, dockerd, process, mount,
# cgroup or folder; nor after the dockerd was killed with SIGKILL, which
# leaves shims, containers and sockets. With a registry (SWARM_REGISTRY=1,
# two nodes): each node's daemon takes it as plain HTTP, node 1 pushes to
# it, node 2 pulls the image by digest; swarm_down stops it. The tests'
# plain engine, if there is one, is not touched. No svcctl here: the swarm runtime's tests stand
# on this.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/swarm_lib.sh"
need_swarm

IMAGE="svcctl-e2e-greeter:swarm$$"
SVC="fixture-greeter-$$"
VER=1.2.3

# plain_info FIELD: a field of the plain engine's /info (empty without one)
plain_info() {
	case ${SVCCTL_TEST_DOCKER_HOST:-} in
	unix://*) curl -s -m 10 --unix-socket "${SVCCTL_TEST_DOCKER_HOST#unix://}" http://plain/info |
		jq -r "$1" 2>/dev/null ;;
	esac
}
plain_id=$(plain_info .ID)
plain_swarm=$(plain_info .Swarm.LocalNodeState)

t0=$SECONDS
check "swarm_up 1 makes a one-node swarm" swarm_up 1
[ "$FAILED" -eq 0 ] || { echo "1..$T"; exit 1; }
diag "swarm_up 1: $((SECONDS - t0)) s; slot $SWARM_SLOT, manager $SWARM_NODE_ADDR_1, $SWARM_HOST"
check_eq "SWARM_HOST is the manager's socket" "unix://$WORK/swarm/n1/docker.sock" "$SWARM_HOST"
check_eq "SWARM_NODE_ADDR_1 is node 1 on the slot's subnet" "$SWARM_NET.1" "$SWARM_NODE_ADDR_1"
pids=$(swarm_alive | tr '\n' ' ')
check "its dockerd runs" test -n "$pids"
# (the root link's name is the slot's, which a test beside may take next)
ifindex=$(cat "/sys/class/net/$SWARM_ROOT_LINK/ifindex" 2>/dev/null)
check "its root-side link is there" test -n "$ifindex"
check "in node 1's netns" test "$(readlink "/proc/${pids%% *}/ns/net")" = \
	"net:[$(stat -L -c %i "/run/netns/${SWARM_NETNS_PREFIX}n1")]"

info=$(curl -s -m 10 --unix-socket "${SWARM_HOST#unix://}" http://swarm/info)
check_eq "the manager's swarm is active" active "$(jq -r .Swarm.LocalNodeState <<<"$info")"
check_eq "and it is a manager (ControlAvailable)" true "$(jq -r .Swarm.ControlAvailable <<<"$info")"
check_eq "it advertises node 1's address" "$SWARM_NODE_ADDR_1" "$(jq -r .Swarm.NodeAddr <<<"$info")"
check_eq "one node" 1 "$(jq -r .Swarm.Nodes <<<"$info")"
if [ -n "$plain_id" ]; then
	check "it is not the tests' plain engine" test "$(jq -r .ID <<<"$info")" != "$plain_id"
fi

check "the greeter image builds FROM scratch on the manager" swarm_image "$IMAGE"

# -- a service through the Engine API: 2 replicas, host-mode ports --
spec=$(jq -nc --arg name "$SVC" --arg img "$IMAGE" --arg ver "$VER" '{
	Name: $name,
	Labels: {"svcctl.test": "swarm_fixture"},
	TaskTemplate: {
		ContainerSpec: {Image: $img, Args: ["--port", "8080"],
			Env: ["VERSION=" + $ver], StopGracePeriod: 2000000000}
	},
	Mode: {Replicated: {Replicas: 2}},
	EndpointSpec: {Ports: [{Protocol: "tcp", TargetPort: 8080, PublishMode: "host"}]}
}')
out=$(swarm_api 1 /services/create -X POST -H 'Content-Type: application/json' -d "$spec")
sid=$(jq -r '.ID // empty' <<<"$out" 2>/dev/null)
check "POST /services/create makes the service" test -n "$sid"
[ -n "$sid" ] || diag "$out"

tasks() {
	swarm_api 1 /tasks -G --data-urlencode "filters={\"service\":[\"$sid\"],\"desired-state\":[\"running\"]}"
}
running() { [ "$(tasks | jq '[.[] | select(.Status.State == "running")] | length')" = 2 ]; }
t0=$SECONDS
check "its 2 tasks run" wait_until 60 running
diag "2 tasks running after $((SECONDS - t0)) s"
running || diag "$(tasks | jq -c '.[] | .Status')"
eps=$(swarm_endpoints "$sid")
diag "endpoints: $(tr '\n' ' ' <<<"$eps")"
check_eq "each task publishes one host port" "1 1" \
	"$(tasks | jq -r '[.[] | [.Status.PortStatus.Ports[]? | select(.PublishMode == "host") |
		.PublishedPort] | unique | length] | map(tostring) | join(" ")')"
check_eq "on node 1's address, ports the node chose, two different ones" 2 \
	"$(sort -u <<<"$eps" | grep -c "^$SWARM_NODE_ADDR_1:[1-9][0-9]*$")"
for ep in $eps; do
	wait_until 10 answers "$ep" "$VER"
	check_eq "the task at $ep answers from the root netns" "$VER" "$(version_at "$ep")"
done

code=$(swarm_api 1 "/services/$sid" -X DELETE -o /dev/null -w '%{http_code}')
check_eq "DELETE /services/ID removes it" 200 "$code"
containers() {
	swarm_api 1 /containers/json -G --data-urlencode all=1 \
		--data-urlencode "filters={\"label\":[\"com.docker.swarm.service.id=$sid\"]}" | jq length
}
check "its containers go" wait_until 30 eval '[ "$(containers)" = 0 ]'

# -- swarm_down: nothing left --
t0=$SECONDS
check "swarm_down returns 0" swarm_down
diag "swarm_down: $((SECONDS - t0)) s"
check "and 0 again the second time" swarm_down
left=""
for p in $pids; do [ -d "/proc/$p" ] && left="$left $p"; done
check_eq "no dockerd of its is alive" "" "$left"
check_eq "no netns of its prefix is left" "" "$(ip netns list | grep "^$SWARM_NETNS_PREFIX")"
check_eq "its root-side link is gone" "" "$(ip -o link show | grep "^$ifindex:")"
check_eq "no process names its folder" "" \
	"$(grep -alF -f <(printf '%s/\n' "$SWARM_DIR") /proc/[0-9]*/cmdline 2>/dev/null)"
check_eq "nothing is mounted under its folder" "" "$(grep -F " $SWARM_DIR/" /proc/self/mountinfo)"
check_eq "no cgroup of its nodes is left" "" "$(find /sys/fs/cgroup -maxdepth 2 -type d \
	-name "${SWARM_NETNS_PREFIX}n*" 2>/dev/null)"
check "its folder is gone" test ! -e "$SWARM_DIR"

# -- a dockerd killed with SIGKILL: swarm_down still leaves nothing --
if swarm_up 1 && swarm_image "$IMAGE"; then
	ok "swarm_up 1 again, and the image"
	out=$(swarm_api 1 /services/create -X POST -H 'Content-Type: application/json' -d "$spec")
	sid=$(jq -r '.ID // empty' <<<"$out" 2>/dev/null)
	check "its 2 tasks run again" wait_until 60 running
	shims=$(for p in $(swarm_sweep_pids | sort -un); do swarm_shim_socket "$p"; done)
	check_eq "two shims, each with its socket in /run/containerd/s" 2 \
		"$(for f in $shims; do [ -S "$f" ] && echo "$f"; done | wc -l)"
	pids=$(swarm_alive | tr '\n' ' ')
	kill -KILL $pids
	check "the dockerd dies" wait_until 5 eval '[ -z "$(swarm_alive)" ]'
	cgs=$(swarm_cgroups)
	held() { [ -z "$cgs" ] || find $cgs -name cgroup.procs -exec cat {} + 2>/dev/null; }
	check "and leaves its containers running" test -n "$(held)"
	check "swarm_down after SIGKILL returns 0" swarm_down
	left=""
	for p in $pids; do [ -d "/proc/$p" ] && left="$left $p"; done
	check_eq "no dockerd of its is alive" "" "$left"
	check_eq "no process names its folder" "" \
		"$(grep -alF -f <(printf '%s/\n' "$SWARM_DIR") /proc/[0-9]*/cmdline 2>/dev/null)"
	check_eq "no process of its containers is left" "" "$(held)"
	check_eq "no cgroup of its nodes is left" "" "$(for d in $cgs; do [ -e "$d" ] && echo "$d"; done)"
	check_eq "no shim socket is left" "" "$(for f in $shims; do [ -e "$f" ] && echo "$f"; done)"
	check_eq "nothing is mounted under its folder" "" "$(grep -F " $SWARM_DIR/" /proc/self/mountinfo)"
	check_eq "no netns of its prefix is left" "" "$(ip netns list | grep "^$SWARM_NETNS_PREFIX")"
	check "its folder is gone" test ! -e "$SWARM_DIR"
else
	not_ok "swarm_up 1 again, and the image"
fi

# -- a registry of its own: pushed to from the manager, pulled by a worker --
if SWARM_REGISTRY=1 swarm_up 2; then
	ok "SWARM_REGISTRY=1 swarm_up 2 makes a two-node swarm with a registry"
	diag "registry at $SWARM_REGISTRY_ADDR (pid $SWARM_REGISTRY_PID)"
	rpid=$SWARM_REGISTRY_PID
	raddr=$SWARM_REGISTRY_ADDR
	check "SWARM_REGISTRY_ADDR is the root-side address and a port" \
		grep -q "^$SWARM_ROOT_ADDR:[1-9][0-9]*$" <<<"$raddr"
	check "the registry answers from the root netns" swarm_registry_answers "$raddr"
	check "it is not the package's registry on :5000" test "${raddr##*:}" != 5000
	for i in 1 2; do
		check_eq "node $i's daemon takes it as a plain-HTTP registry" false \
			"$(swarm_api "$i" /info | jq -r --arg r "$raddr" '.RegistryConfig.IndexConfigs[$r].Secure')"
	done
	ref=$raddr/fixture/greeter:$$
	if (DOCKER_HOST="unix://$(swarm_sock 1)" && export DOCKER_HOST && build_image "$IMAGE") &&
		swarm_docker 1 tag "$IMAGE" "$ref" >/dev/null; then
		ok "the greeter image builds on node 1 and is tagged $ref"
	else
		not_ok "the greeter image builds on node 1 and is tagged $ref"
	fi
	out=$(swarm_docker 1 push "$ref" 2>&1)
	check "node 1 pushes it to the registry" grep -q "digest: sha256:" <<<"$out"
	digest=$(sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p' <<<"$out" | head -n 1)
	check_eq "the registry names that digest for the tag (asked through node 1)" "$digest" \
		"$(swarm_api 1 "/distribution/$ref/json" | jq -r .Descriptor.digest)"
	check "node 2 has no such image before" test "$(swarm_api 2 "/images/$ref/json" -o /dev/null -w '%{http_code}')" = 404
	out=$(swarm_docker 2 pull "${ref%:*}@$digest" 2>&1)
	diag "$out"
	check "node 2 pulls it from the registry by digest" grep -q "Status: Downloaded newer image" <<<"$out"
	check_eq "and has the same image as node 1" "$(swarm_api 1 "/images/$ref/json" | jq -r .Id)" \
		"$(swarm_api 2 "/images/${ref%:*}@$digest/json" | jq -r .Id)"
	check "swarm_down returns 0" swarm_down
	check "the registry is stopped" eval '! grep -qaF "$SWARM_DIR/registry/" "/proc/$rpid/cmdline" 2>/dev/null'
	check "nothing answers at its address" eval '! swarm_registry_answers "$raddr"'
	check "its folder is gone" test ! -e "$SWARM_DIR"
else
	not_ok "SWARM_REGISTRY=1 swarm_up 2 makes a two-node swarm with a registry"
fi

if [ -n "$plain_id" ]; then
	check_eq "the plain engine still answers, the same engine" "$plain_id" "$(plain_info .ID)"
	check_eq "and its swarm state is unchanged" "$plain_swarm" "$(plain_info .Swarm.LocalNodeState)"
else
	diag "no plain engine (SVCCTL_TEST_DOCKER_HOST unset or not unix://): not compared"
fi
finish
