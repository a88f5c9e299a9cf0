#!/bin/bash
# The swarm runtime end to end, on a one-node swarm of the test's own
# dockerd (swarm_lib.sh): each release its own Swarm service, gated by
# svcctl's own health checks of every task at its node's address and
# host-mode port, traffic through the router. A deploy under load with 0
# failed requests, warm rollback creating no task, a green that never gets
# healthy, a failed bake, a missing image (the task's own error), SIGKILL
# of svcctl mid-deploy and recovery by label, a warm release removed with
# no svcctl running, a built image, and engines that are not managers
# (exit 5).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/swarm_lib.sh"
need_swarm

IMAGE="svcctl-e2e-greeter:swarm$$"
check "swarm_up 1 makes a one-node swarm" swarm_up 1
check "the greeter image builds FROM scratch on the manager" swarm_image "$IMAGE"
[ "$FAILED" -eq 0 ] || { echo "1..$T"; exit 1; }
export DOCKER_HOST=$SWARM_HOST
export RUNTIME=swarm
PORT=$(pick_port)
LISTEN=":$PORT"   # a port on every node: the node's router binds it
ADDR=$SWARM_NODE_ADDR_1:$PORT

# services: "RELEASE12 COLOR REPLICAS" of greeter's swarm services, sorted
services() {
	swarm_api 1 /services -G --data-urlencode \
		"filters={\"label\":[\"svcctl.state_dir=$SVCCTL_STATE_DIR\"]}" |
		jq -r '.[] | select(.Spec.Labels["svcctl.router"] == null) | "\(.Spec.Labels["svcctl.release"][0:12]) \(.Spec.Labels["svcctl.color"]) \(.Spec.Mode.Replicated.Replicas)"' |
		sort
}
# tasks: the IDs of every task of the state dir's services, sorted
tasks() {
	local ids
	ids=$(swarm_api 1 /services -G --data-urlencode \
		"filters={\"label\":[\"svcctl.state_dir=$SVCCTL_STATE_DIR\"]}" |
		jq -r '.[] | select(.Spec.Labels["svcctl.router"] == null) | .ID')
	swarm_api 1 /tasks | jq -r --arg ids "$ids" \
		'($ids | split("\n")) as $s | .[] | select(.ServiceID as $i | $s | index($i)) | .ID' | sort
}
# running_tasks: how many tasks of the state dir's releases run (not the routers')
running_tasks() {
	local ids
	ids=$(swarm_api 1 /services -G --data-urlencode \
		"filters={\"label\":[\"svcctl.service\"]}" | jq -r '.[].ID')
	swarm_api 1 /tasks -G --data-urlencode 'filters={"desired-state":["running"]}' |
		jq --arg ids "$ids" '($ids | split("\n")) as $s |
			[.[] | select(.Status.State == "running" and (.ServiceID as $i | $s | index($i)))] | length'
}

# -- deploy v1: a Swarm service of 2 tasks, health-gated, through the router --
write_docker_manifest greeter 1.0.0 "$LISTEN" "$IMAGE"
run_rc rc svcctl -v deploy greeter
[ "$rc" = 0 ] || diag "$OUT"
check_eq "deploy v1 on the swarm exits 0" 0 "$rc"
check "it names each task and its node" grep -q "instance greeter-.*-0: task [a-z0-9]* on node " <<<"$OUT"
check_eq "v1 answers through the router" 1.0.0 "$(version_at "$ADDR")"
svc1=$(services)
check_eq "one swarm service of 2 replicas, labelled blue" 1 "$(grep -c ' blue 2$' <<<"$svc1")"
check_eq "its two tasks run" 2 "$(running_tasks)"
out=$(svcctl status greeter)
diag "$out"
check "status names the tasks and their node" grep -q "task [a-z0-9]* on node [^ ]*, at $SWARM_NODE_ADDR_1:[0-9]*" <<<"$out"
json=$(svcctl --json status greeter | tail -n 1)
check_eq "status --json names each instance's task and node" 2 \
	"$(jq '[.. | objects | select(has("runtime_id") and has("node"))] | length' <<<"$json")"
check_eq "and the task's node address as its host" "$SWARM_NODE_ADDR_1" \
	"$(jq -r '[.. | objects | select(has("runtime_id"))][0].host' <<<"$json")"
run_rc rc svcctl logs greeter
check "logs come from the tasks" grep -q "greeter 1.0.0 listening on 0.0.0.0:8080" <<<"$OUT"

# -- v2 under load: blue/green, not a rolling update --
write_docker_manifest greeter 2.0.0 "$LISTEN" "$IMAGE"
deploy_under_load greeter "$ADDR" --allow-net "$SWARM_NET.0/24"
check_eq "deploy v2 under load exits 0" 0 "$rc"
check_eq "no client request failed during the deploy" 0 "$hrc"
check "clients saw v1 then v2" grep -q "versions 1.0.0:[0-9]* 2.0.0:[0-9]* last 2.0.0" "$WORK/hammer.out"
check_eq "two services: v2 green, v1 kept warm" 2 "$(services | wc -l)"
check_eq "four tasks run" 4 "$(running_tasks)"
before=$(tasks)

run_rc rc svcctl --json rollback greeter
check_eq "rollback exits 0" 0 "$rc"
check "rollback was instant" grep -q '"instant":true' <<<"$(tail -n 1 <<<"$OUT")"
check_eq "v1 serves again" 1.0.0 "$(version_at "$ADDR")"
check_eq "no task was created or replaced" "$before" "$(tasks)"
svcctl -q rollback greeter
check_eq "and forward again to v2" 2.0.0 "$(version_at "$ADDR")"
svcs=$(services)

# -- a green that never gets healthy --
START_TIMEOUT=3s write_docker_manifest greeter 3.0.0 "$LISTEN" "$IMAGE" UNHEALTHY_AFTER_MS=0
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "a never-healthy green exits 1" 1 "$rc"
check "it says blue still serves" grep -q "blue still serves" <<<"$OUT"
check_eq "v2 still serves" 2.0.0 "$(version_at "$ADDR")"
check_eq "green's service is removed" "$svcs" "$(services)"

# -- a bake that fails --
BAKE=10s write_docker_manifest greeter 4.0.0 "$LISTEN" "$IMAGE" UNHEALTHY_AFTER_MS=4000
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "a failed bake exits 1" 1 "$rc"
check "traffic went back to the blue release" grep -q "switched back" <<<"$OUT"
check_eq "v2 serves after the failed bake" 2.0.0 "$(version_at "$ADDR")"
check_eq "the baked green's service is removed" "$svcs" "$(services)"

# -- a missing image: the task's own error, nothing changed --
before=$(tasks)
write_docker_manifest greeter 7.0.0 "$LISTEN" "svcctl-e2e-nosuch:$$"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy of a missing image exits 1" 1 "$rc"
check "the message is the task's error, naming the image" \
	grep -Eqi "task [a-z0-9]+( on node [^ :]+)?: rejected: no such image: svcctl-e2e-nosuch:$$" <<<"$OUT"
check_eq "v2 still serves" 2.0.0 "$(version_at "$ADDR")"
check_eq "no service is left of it" "$svcs" "$(services)"
check_eq "and the others' tasks are untouched" "$before" "$(tasks)"

# -- a crash loop: the gate fails with the failed task's exit --
START_TIMEOUT=5s write_docker_manifest greeter 7.1.0 "$LISTEN" "$IMAGE"
sed -i 's/^  command: .*/  command: [--no-such-option]/' "$SVCCTL_MANIFESTS/greeter.yaml"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy of a green whose tasks exit at start exits 1" 1 "$rc"
# at start (the task failed before it ran) or at the gate (after it ran)
check "the message is the failed task's error" grep -q "failed: task: non-zero exit (2)" <<<"$OUT"
check "naming a task and its node" grep -Eq "task [a-z0-9]+ on node [^ :)]+" <<<"$OUT"
check_eq "v2 still serves" 2.0.0 "$(version_at "$ADDR")"
check_eq "no service is left of it" "$svcs" "$(services)"

# -- SIGKILL mid-deploy, recovery by label --
write_docker_manifest greeter 5.0.0 "$LISTEN" "$IMAGE" START_DELAY_MS=60000
"$SVCCTL" deploy greeter >"$WORK/deploy5.out" 2>&1 &
DPID=$!
BG_PIDS+=("$DPID")
check "deploy reaches the health step" wait_until 30 step_is greeter health
check_eq "green's service runs beside blue's" 3 "$(services | wc -l)"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
check_eq "v2 serves while svcctl is dead" 2.0.0 "$(version_at "$ADDR")"
out=$(svcctl status greeter)
diag "$out"
check "the next command undid the deploy" grep -q "recovered.*undid the interrupted deploy" <<<"$out"
check_eq "green's service was found by label and removed" "$svcs" "$(services)"

# -- the state dir deleted: status rebuilt from the services' labels --
mv "$SVCCTL_STATE_DIR" "$WORK/state.kept"
out=$(svcctl status greeter)
diag "$out"
check_eq "status without a state dir still lists the tasks" 4 "$(grep -c '^  greeter-.* running ' <<<"$out")"
check "it says the active release is inferred" grep -q "inferred" <<<"$out"
check "status of every service finds it by label too" grep -q "^greeter$" <<<"$(svcctl status)"
rm -rf "$SVCCTL_STATE_DIR"
mv "$WORK/state.kept" "$SVCCTL_STATE_DIR"

# -- engines that cannot run it: exit 5, nothing changed --
write_docker_manifest greeter 6.0.0 "$LISTEN" "$IMAGE"
run_rc rc env DOCKER_HOST="unix://$WORK/no-such.sock" "$SVCCTL" deploy greeter
diag "$OUT"
check_eq "deploy with the manager unreachable exits 5" 5 "$rc"
check "the message names the socket" grep -q "no-such.sock" <<<"$OUT"
check_eq "v2 still serves" 2.0.0 "$(version_at "$ADDR")"

# -- a warm release is removed when keep_previous ends, with no svcctl running --
KEEP=3s write_docker_manifest greeter 8.0.0 "$LISTEN" "$IMAGE"
svcctl -q deploy greeter
check_eq "v8 serves" 8.0.0 "$(version_at "$ADDR")"
# observed through the Engine API, not svcctl: no svcctl command may run
check "v2's service is removed when its warm period ends (no svcctl running)" \
	wait_until 30 eval '[ "$(services | wc -l)" = 1 ]'
check_eq "two tasks run: v8's" 2 "$(running_tasks)"

# -- build: the image is built through the manager's Engine API --
if shared_lib_example docker; then
	# on swarm its listen address is a port on every node
	sed -i -e 's/^runtime: docker/runtime: swarm/' -e "s/listen: $HELLO1/listen: :${HELLO1##*:}/" \
		"$SVCCTL_MANIFESTS/hello-v1.yaml"
	HELLO1=$SWARM_NODE_ADDR_1:${HELLO1##*:}
	svcctl -q lock hello-v1
	run_rc rc svcctl deploy hello-v1
	diag "$(grep -v '| ' <<<"$OUT")"
	check_eq "deploy of a built swarm service exits 0" 0 "$rc"
	check "the manager's build output is streamed" grep -q "^hello-v1: | Step 1/4 : FROM scratch" <<<"$OUT"
	image=$(sed -n 's/.*built in .*: image \(hello-v1:[0-9a-f]\{12\}\).*/\1/p' <<<"$OUT" | head -n 1)
	check "the image is tagged SERVICE:ID12" test -n "$image"
	check_eq "the release's swarm service runs that image" "$image" \
		"$(swarm_api 1 /services -G --data-urlencode 'filters={"label":["svcctl.service=hello-v1"]}' |
			jq -r '.[0].Spec.TaskTemplate.ContainerSpec.Image')"
	check "hello-v1 answers through the router, built with libgreet 1.0.0" \
		grep -q "from hello-v1 (libgreet 1.0.0)" <<<"$(http_get "$HELLO1" /)"
else
	not_ok "the example's library repository is made"
fi

# -- the routers' image: this svcctl FROM scratch, built through the manager --
run_rc rc svcctl router image
tag=$(tail -n 1 <<<"$OUT")
check_eq "router image exits 0" 0 "$rc"
check "it is tagged svcctl-router:ID12" grep -Eq '^svcctl-router:[0-9a-f]{12}$' <<<"$tag"
run_rc rc svcctl router image
check_eq "the same svcctl gives the same image, not built again" "$tag" "$(tail -n 1 <<<"$OUT")"
# container NAME BODY: create and start it on the manager; its id
container() {
	local id
	id=$(swarm_api 1 "/containers/create?name=$1" -X POST -H 'Content-Type: application/json' \
		-d "$2" | jq -r '.Id // empty')
	[ -n "$id" ] && swarm_api 1 "/containers/$id/start" -X POST >/dev/null && echo "$id"
}
cid=$(container "svcctl-e2e-version-$$" "{\"Image\":\"$tag\",\"Cmd\":[\"--version\"]}")
code=$(swarm_api 1 "/containers/$cid/wait" -X POST | jq -r .StatusCode)
check_eq "the image runs svcctl on the node: --version exits 0" 0 "$code"
check "and prints this svcctl's version" grep -aq "$("$SVCCTL" --version)" \
	<<<"$(swarm_api 1 "/containers/$cid/logs?stdout=1&stderr=1")"
swarm_api 1 "/containers/$cid?force=1" -X DELETE >/dev/null
# a router in it on the node's own network, its peer channel on the node's address
printf 'e2e-peer-secret-%s\n' "$$" >"$WORK/peer.secret"
chmod 600 "$WORK/peer.secret"
PEER=$(pick_port)
cid=$(container "svcctl-e2e-router-$$" "$(jq -nc --arg img "$tag" --arg addr "$SWARM_NODE_ADDR_1:$PEER" \
	--arg secret "$WORK/peer.secret" '{Image: $img,
	Cmd: ["--state-dir", "/state", "router", "run", "--peer-listen", $addr,
		"--peer-secret-file", "/peer.secret"],
	HostConfig: {NetworkMode: "host", Binds: [$secret + ":/peer.secret:ro"]}}')")
peer_up() { (exec 3<>"/dev/tcp/$SWARM_NODE_ADDR_1/$PEER") 2>/dev/null; }
check "the node's router listens on its peer channel at $SWARM_NODE_ADDR_1:$PEER" wait_until 15 peer_up
reply=$(exec 3<>"/dev/tcp/$SWARM_NODE_ADDR_1/$PEER"; printf '{"op":"ping"}\n' >&3; timeout 5 cat <&3)
check_eq "a line without the secret's MAC gets no answer" "" "$reply"
check "the router says why in its log" grep -aq "refused a request" \
	<<<"$(swarm_api 1 "/containers/$cid/logs?stdout=1&stderr=1")"
swarm_api 1 "/containers/$cid?force=1" -X DELETE >/dev/null

# -- the routers and their watcher taken off the swarm --
swarm_check_routers_removed
check_eq "nor their Swarm secret" "" \
	"$(swarm_api 1 /secrets | jq -r --arg sd "$SVCCTL_STATE_DIR" '.[] | select(.Spec.Labels["svcctl.state_dir"] == $sd) | .Spec.Name')"

# -- the engine leaves the swarm: not a manager --
swarm_docker 1 swarm leave --force >/dev/null 2>&1
write_docker_manifest greeter 9.0.0 "$LISTEN" "$IMAGE"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy on an engine that is no swarm manager exits 5" 5 "$rc"
check "it says why and what to do" grep -q "not a swarm manager.*run docker swarm init" <<<"$OUT"

finish
