#!/bin/bash
# The swarm runtime on a swarm of three nodes (swarm_lib.sh) with a
# registry of the test's own: releases run by digest. run.image of the
# registry is resolved to its digest when a release is first deployed, and
# every task on every node runs that digest. Clients come in through any
# node: the first deploy puts up svcctl's router on every node, and a v2
# deploy under load through all three nodes' addresses fails no request
# and flips every node; warm rollback is one two-phase switch on all
# routers, no task started; with one node's router frozen (SIGSTOP) no
# node switches and the deploy exits 1; with the manager unreachable it
# exits 5 and nothing changes. The tag moved in the registry changes no
# running task, a redeploy of the same manifest is a no-op and a cold
# rollback recreates v1 with its recorded digest, while a new release
# takes the digest the tag names now; a tag the registry lacks and an
# image of no registry (only in the manager's engine) are refused with
# nothing changed; a build with build.push is pushed by svcctl through the
# manager and its tasks pull it by digest; history shows each digest.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/swarm_lib.sh"
need_swarm registry

IMAGE="svcctl-e2e-greeter:cluster$$"
SWARM_REGISTRY=1
check "SWARM_REGISTRY=1 swarm_up 3 makes a three-node swarm with a registry" swarm_up 3
[ "$FAILED" -eq 0 ] || { echo "1..$T"; exit 1; }
REG=$SWARM_REGISTRY_ADDR
diag "slot $SWARM_SLOT, manager $SWARM_NODE_ADDR_1, registry $REG"
# only the manager has the image: the workers get it from the registry
check "the greeter image builds on the manager" \
	eval '(DOCKER_HOST="unix://$(swarm_sock 1)" && export DOCKER_HOST && build_image "$IMAGE")'
swarm_docker 1 tag "$IMAGE" "$REG/greeter:stable" >/dev/null
out=$(swarm_docker 1 push "$REG/greeter:stable" 2>&1)
D1=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$out" | head -n 1)
check "the test pushes it to the registry as greeter:stable" test -n "$D1"
[ "$FAILED" -eq 0 ] || { diag "$out"; echo "1..$T"; exit 1; }
export DOCKER_HOST=$SWARM_HOST
export RUNTIME=swarm
# a port on every node: each node's router binds it, and clients may come in through any
PORT=$(pick_port)
LISTEN=":$PORT"
ADDR=$SWARM_NODE_ADDR_1:$PORT
NODES=("$SWARM_NODE_ADDR_1:$PORT" "$SWARM_NODE_ADDR_2:$PORT" "$SWARM_NODE_ADDR_3:$PORT")
# versions PORT: the version each node's address answers with, "V1 V2 V3"
versions() {
	local i out=()
	for i in 1 2 3; do out+=("$(version_at "$SWARM_NET.$i:$1")"); done
	echo "${out[*]}"
}

# tasks: "SERVICE-RELEASE12 NODE IMAGE TASK" of every running task of the
# state dir's services, sorted
tasks() {
	local svcs
	svcs=$(swarm_api 1 /services -G --data-urlencode \
		"filters={\"label\":[\"svcctl.state_dir=$SVCCTL_STATE_DIR\"]}") || return 1
	swarm_api 1 /tasks -G --data-urlencode 'filters={"desired-state":["running"]}' |
		jq -r --argjson s "$svcs" '
		($s | map({key: .ID, value: (.Spec.Labels["svcctl.service"] + "-" +
			.Spec.Labels["svcctl.release"][0:12])}) | from_entries) as $n
		| .[] | select(.Status.State == "running" and $n[.ServiceID] != null)
		| "\($n[.ServiceID]) \(.NodeID) \(.Spec.ContainerSpec.Image) \(.ID)"' | sort
}
# tasks_of SERVICE RELEASE12: those of one release
tasks_of() { tasks | grep "^$1-$2 "; }
# service_image SERVICE RELEASE12: ContainerSpec.Image of its swarm service
service_image() {
	swarm_api 1 /services -G --data-urlencode \
		"filters={\"label\":[\"svcctl.service=$1\",\"svcctl.state_dir=$SVCCTL_STATE_DIR\"]}" |
		jq -r --arg r "$2" '.[] | select(.Spec.Labels["svcctl.release"][0:12] == $r)
			| .Spec.TaskTemplate.ContainerSpec.Image'
}
services() {
	swarm_api 1 /services -G --data-urlencode \
		"filters={\"label\":[\"svcctl.state_dir=$SVCCTL_STATE_DIR\"]}" |
		jq -r '.[] | "\(.Spec.Labels["svcctl.service"]) \(.Spec.Labels["svcctl.release"][0:12])"' | sort
}
# release12 OUT: the release id (12) a --json command's result names
release12() { tail -n 1 <<<"$1" | jq -r '.release[0:12]'; }
three_running() { [ "$(tasks_of "$1" "$2" | wc -l)" = 3 ]; }

# -- v1: run.image of the registry, by digest on all three nodes --
REPLICAS=3 write_docker_manifest greeter 1.0.0 "$LISTEN" "$REG/greeter:stable"
run_rc rc svcctl --json deploy greeter
[ "$rc" = 0 ] || diag "$OUT"
check_eq "deploy v1 of the registry's image on 3 nodes exits 0" 0 "$rc"
check "it says the tag's digest it pinned" grep -q "is $REG/greeter@$D1 in its registry" <<<"$OUT"
R1=$(release12 "$OUT")
check_eq "its swarm service runs the image by digest" "$REG/greeter@$D1" "$(service_image greeter "$R1")"
t=$(tasks_of greeter "$R1")
diag "$t"
check_eq "3 tasks run" 3 "$(wc -l <<<"$t")"
check_eq "each task runs the image by its digest" 3 "$(grep -c " $REG/greeter@$D1 " <<<"$t")"
check_eq "the tasks are spread over the 3 nodes" 3 "$(awk '{ print $2 }' <<<"$t" | sort -u | wc -l)"
check "the deploy put up a router on every node" grep -q "making sure a router runs on every node" <<<"$OUT"
check_eq "v1 answers through every node's address" "1.0.0 1.0.0 1.0.0" "$(versions "$PORT")"
out=$(svcctl status greeter)
for i in 1 2 3; do
	check "status shows a task at node $i's address" \
		grep -q "on node [^ ]*, at $SWARM_NET.$i:[0-9]*" <<<"$out"
done

# -- v2 under load through the router (v1 stopped once drained: KEEP=0s) --
KEEP=0s REPLICAS=3 write_docker_manifest greeter 2.0.0 "$LISTEN" "$REG/greeter:stable"
# clients through all three nodes, new connection per request
"$HAMMER" --addr "${NODES[0]}" --addr "${NODES[1]}" --addr "${NODES[2]}" --allow-net "$SWARM_NET.0/24" \
	--clients 9 --duration-ms 180000 --stop-file "$WORK/stop" >"$WORK/hammer.out" &
HPID=$!
BG_PIDS+=("$HPID")
sleep 1
run_rc rc svcctl --json deploy greeter
[ "$rc" = 0 ] || diag "$OUT"
R2=$(release12 "$OUT")
sleep 1
touch "$WORK/stop"
wait "$HPID"
hrc=$?
diag "$(cat "$WORK/hammer.out")"
check_eq "deploy v2 under load exits 0" 0 "$rc"
check_eq "no client request failed during the deploy" 0 "$hrc"
check "clients saw v1 then v2" grep -q "versions 1.0.0:[0-9]* 2.0.0:[0-9]* last 2.0.0" "$WORK/hammer.out"
for i in 0 1 2; do
	check "through node $((i + 1))'s address: none failed, v1 first, v2 last" \
		grep -q "^target ${NODES[$i]} requests [1-9][0-9]* ok [0-9]* failed 0 first 1.0.0 last 2.0.0$" \
		"$WORK/hammer.out"
done
check_eq "v2's service runs the same digest" "$REG/greeter@$D1" "$(service_image greeter "$R2")"
check "v1's service is removed (keep_previous 0)" wait_until 30 eval '[ -z "$(service_image greeter "$R1")" ]'
check "v2's 3 tasks run" three_running greeter "$R2"

# -- the tag moves in the registry: nothing running changes --
alt=$WORK/alt
mkdir -p "$alt"
cp "$TOP_SRCDIR/examples/greeter/Dockerfile" "$alt/"
cp "$GREETER_STATIC" "$alt/greeter-static"
echo 'LABEL svcctl.e2e.moved="yes"' >>"$alt/Dockerfile"
DOCKER_HOST="unix://$(swarm_sock 1)" "$MKIMAGE" "$REG/greeter:stable" "$alt" >"$WORK/alt.out" 2>&1
out=$(swarm_docker 1 push "$REG/greeter:stable" 2>&1)
D2=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$out" | head -n 1)
check "another image is pushed under the same tag" test -n "$D2" -a "$D2" != "$D1"
check_eq "the registry names the new digest for the tag" "$D2" \
	"$(swarm_api 1 "/distribution/$REG/greeter:stable/json" -H 'X-Registry-Auth: e30=' | jq -r .Descriptor.digest)"
before=$(tasks)
sleep 2
check_eq "no task changed (same tasks, same image)" "$before" "$(tasks)"
check_eq "v2 still serves" 2.0.0 "$(version_at "$ADDR")"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploying the same manifest again exits 0" 0 "$rc"
check "it is a no-op: the release keeps its digest" grep -q "already active; nothing to do" <<<"$OUT"
check_eq "still no task changed" "$before" "$(tasks)"

# -- a cold rollback recreates v1 with the digest it recorded --
run_rc rc svcctl --json rollback greeter
[ "$rc" = 0 ] || diag "$OUT"
check_eq "the rollback to v1 exits 0" 0 "$rc"
check "it was not instant (v1 was gone: cold)" grep -q '"instant":false' <<<"$(tail -n 1 <<<"$OUT")"
check_eq "v1's new service runs the recorded digest, not the tag's" "$REG/greeter@$D1" \
	"$(service_image greeter "$R1")"
t=$(tasks_of greeter "$R1")
check_eq "v1's 3 tasks run that digest" 3 "$(grep -c " $REG/greeter@$D1 " <<<"$t")"
check_eq "on the 3 nodes" 3 "$(awk '{ print $2 }' <<<"$t" | sort -u | wc -l)"
check_eq "v1 serves again" 1.0.0 "$(version_at "$ADDR")"

# -- a new release takes what the tag names now --
REPLICAS=3 write_docker_manifest greeter 3.0.0 "$LISTEN" "$REG/greeter:stable"
run_rc rc svcctl --json deploy greeter
[ "$rc" = 0 ] || diag "$OUT"
R3=$(release12 "$OUT")
check_eq "deploy v3 exits 0" 0 "$rc"
check_eq "v3 runs the tag's new digest" "$REG/greeter@$D2" "$(service_image greeter "$R3")"
check_eq "v3 answers" 3.0.0 "$(version_at "$ADDR")"

# -- refused, nothing changed: a tag the registry lacks, an image of no registry --
before=$(tasks)
svcs=$(services)
REPLICAS=3 write_docker_manifest greeter 4.0.0 "$LISTEN" "$REG/greeter:nosuch"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy of a tag the registry does not have exits 1" 1 "$rc"
check "it says the tag cannot be resolved, in the registry's words" \
	grep -q "run.image: resolve image '$REG/greeter:nosuch' in its registry: .*manifest unknown" <<<"$OUT"
REPLICAS=3 write_docker_manifest greeter 5.0.0 "$LISTEN" "$IMAGE"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy of an image of no registry on 3 nodes exits 1" 1 "$rc"
check "the message names the image and says what to do" \
	grep -q "image '$IMAGE' names no registry, and the swarm at .* has 3 nodes: .*set build.push: REGISTRY/REPO .*run.image of a registry" <<<"$OUT"
check_eq "v3 still serves" 3.0.0 "$(version_at "$ADDR")"
check_eq "no service was made or removed" "$svcs" "$(services)"
check_eq "no task changed" "$before" "$(tasks)"

# -- history: the digest each release ran --
out=$(svcctl history greeter)
diag "$out"
check_eq "history shows v1's and v2's digest (three attempts: v1, v2, the rollback)" 3 \
	"$(grep -c "^ *image $REG/greeter@$D1$" <<<"$out")"
check_eq "and v3's" 1 "$(grep -c "^ *image $REG/greeter@$D2$" <<<"$out")"
json=$(svcctl --json history greeter | tail -n 1)
check_eq "history --json has each release's image" \
	"$REG/greeter@$D1 $REG/greeter@$D1 $REG/greeter@$D1 $REG/greeter@$D2" \
	"$(jq -r '[.releases[] | select(.image) | .image] | join(" ")' <<<"$json")"
check_eq "the refused deploys ran nothing: no history entry" 4 "$(jq '.releases | length' <<<"$json")"

# -- warm rollback on the cluster: one two-phase switch, no task started --
before=$(tasks)
run_rc rc svcctl --json rollback greeter
[ "$rc" = 0 ] || diag "$OUT"
check_eq "warm rollback to v1 exits 0" 0 "$rc"
check "it was instant" grep -q '"instant":true' <<<"$(tail -n 1 <<<"$OUT")"
check_eq "every node serves v1 again" "1.0.0 1.0.0 1.0.0" "$(versions "$PORT")"
check_eq "no task was started or replaced" "$before" "$(tasks)"
svcctl -q rollback greeter
check_eq "and forward to v3 on every node" "3.0.0 3.0.0 3.0.0" "$(versions "$PORT")"

# -- one node's router cannot acknowledge: no node switches, exit 1 --
# router_pid I: the pid of node I's router (our own dockerd's container)
router_pid() {
	local cid
	cid=$(swarm_api "$1" /containers/json -G --data-urlencode \
		"filters={\"label\":[\"com.docker.swarm.service.name=$(swarm_api 1 /services | jq -r --arg sd "$SVCCTL_STATE_DIR" \
			'.[] | select(.Spec.Labels["svcctl.router"] == "1" and .Spec.Labels["svcctl.state_dir"] == $sd) | .Spec.Name')\"]}" |
		jq -r '.[0].Id // empty')
	[ -n "$cid" ] && swarm_api "$1" "/containers/$cid/json" | jq -r '.State.Pid'
}
rp=$(router_pid 3)
check "node 3's router runs (pid $rp)" test -n "$rp" -a "$rp" != 0
svcs=$(services)
kill -STOP "$rp"
REPLICAS=3 write_docker_manifest greeter 6.0.0 "$LISTEN" "$REG/greeter:stable"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "a deploy with one router frozen exits 1" 1 "$rc"
check "it says which router did not prepare, so none switched" \
	grep -q "1 of 3 routers did not prepare the switch, so none switched: .*($SWARM_NODE_ADDR_3:7950): no answer within" <<<"$OUT"
run_rc rc svcctl status greeter
check_eq "status exits 5 while a ready node's router does not answer" 5 "$rc"
check "and names it" grep -q "router of node .* ($SWARM_NODE_ADDR_3:7950) does not answer" <<<"$OUT"
kill -CONT "$rp"
check_eq "every node still serves v3" "3.0.0 3.0.0 3.0.0" "$(versions "$PORT")"
check "green's service is removed" wait_until 30 eval '[ "$(services)" = "$svcs" ]'

# -- the manager unreachable: exit 5, nothing changed --
before=$(tasks)
run_rc rc env DOCKER_HOST="unix://$WORK/no-such.sock" "$SVCCTL" deploy greeter
diag "$OUT"
check_eq "deploy with the manager unreachable exits 5" 5 "$rc"
check_eq "no task changed" "$before" "$(tasks)"
check_eq "every node still serves v3" "3.0.0 3.0.0 3.0.0" "$(versions "$PORT")"

# -- build.push: svcctl builds on the manager, pushes, the tasks pull it by digest --
PORT2=$(pick_port)
while [ "$PORT2" = "$PORT" ]; do PORT2=$(pick_port); done
ADDR2=$SWARM_NODE_ADDR_2:$PORT2
ctx=$WORK/ctx
mkdir -p "$ctx"
cp "$TOP_SRCDIR/examples/greeter/Dockerfile" "$ctx/"
cp "$GREETER_STATIC" "$ctx/greeter-static"
# (write_docker_manifest's, with a build in place of run.image)
REPLICAS=3 write_docker_manifest pushed 1.0.0 ":$PORT2" unused
sed -i -e '/^  image: unused$/d' -e "s|^run:$|build:\n  context: $ctx\n  dockerfile: Dockerfile\n  push: $REG/team/pushed\nrun:|" \
	"$SVCCTL_MANIFESTS/pushed.yaml"
run_rc rc svcctl --json deploy pushed
[ "$rc" = 0 ] || diag "$OUT"
check_eq "deploy of a build with build.push on 3 nodes exits 0" 0 "$rc"
RP=$(release12 "$OUT")
art=$(tail -n 1 <<<"$OUT" | jq -r '.artifact[0:12]')
check "it pushed the image tagged with its artifact id" \
	grep -q "pushing image pushed:$art to $REG/team/pushed:$art" <<<"$OUT"
dp=$(swarm_api 1 "/distribution/$REG/team/pushed:$art/json" -H 'X-Registry-Auth: e30=' | jq -r .Descriptor.digest)
check "the registry has it" grep -q '^sha256:[0-9a-f]\{64\}$' <<<"$dp"
check_eq "the release's service runs it by that digest" "$REG/team/pushed@$dp" "$(service_image pushed "$RP")"
t=$(tasks_of pushed "$RP")
check_eq "its 3 tasks run it, on the 3 nodes" "3 3" \
	"$(grep -c " $REG/team/pushed@$dp " <<<"$t") $(awk '{ print $2 }' <<<"$t" | sort -u | wc -l)"
check "it answers through the router" answers "$ADDR2" 1.0.0
json=$(svcctl --json history pushed | tail -n 1)
check_eq "history records the pushed digest with the artifact" "$REG/team/pushed@$dp $REG/team/pushed@$dp" \
	"$(jq -r '.releases[0] | "\(.artifact.pushed) \(.image)"' <<<"$json")"

# -- a build.push that is not HOST[:PORT]/PATH: a manifest error at its line --
sed -i "s|^  push: .*|  push: team/pushed|" "$SVCCTL_MANIFESTS/pushed.yaml"
line=$(grep -n '^  push: ' "$SVCCTL_MANIFESTS/pushed.yaml" | cut -d: -f1)
run_rc rc svcctl deploy pushed
diag "$OUT"
check_eq "deploy with a build.push naming no registry exits 3" 3 "$rc"
check "the error is at build.push's line and column" \
	grep -q "pushed.yaml:$line:3: build.push: 'team/pushed' names no registry" <<<"$OUT"
check "pushed still answers" answers "$ADDR2" 1.0.0

# -- a router on every node: a global service of svcctl's own image, pushed --
secrets() {
	swarm_api 1 /secrets | jq -r --arg sd "$SVCCTL_STATE_DIR" \
		'[.[] | select(.Spec.Labels["svcctl.state_dir"] == $sd) | .Spec.Name] | sort | join(" ")'
}
# peer_line ADDR LINE: the reply of a router's peer channel to one line ("" when none)
peer_line() {
	local host=${1%:*} port=${1##*:}
	(exec 3<>"/dev/tcp/$host/$port" && printf '%s\n' "$2" >&3 && timeout 5 head -n 1 <&3) 2>/dev/null
}
run_rc rc svcctl --json router swarm --push "$REG/svcctl/router"
[ "$rc" = 0 ] || diag "$OUT"
check_eq "router swarm exits 0" 0 "$rc"
json=$(tail -n 1 <<<"$OUT")
check_eq "every node's router answers with the secret" "3 3" \
	"$(jq '.nodes | length' <<<"$json") $(jq '[.nodes[] | select(.answers)] | length' <<<"$json")"
check_eq "at each node's address" "$SWARM_NODE_ADDR_1:7950 $SWARM_NODE_ADDR_2:7950 $SWARM_NODE_ADDR_3:7950" \
	"$(jq -r '[.nodes[].peer] | sort | join(" ")' <<<"$json")"
check "svcctl's copy of the secret is 0600" test "$(stat -c %a "$SVCCTL_STATE_DIR/router/peer.secret")" = 600
router_svc=$(swarm_api 1 /services | jq -c --arg sd "$SVCCTL_STATE_DIR" \
	'.[] | select(.Spec.Labels["svcctl.router"] == "1" and .Spec.Labels["svcctl.state_dir"] == $sd) | .Spec')
check "it is a global service on the host network" \
	jq -e '.Mode.Global and (.TaskTemplate.Networks | length == 1)' <<<"$router_svc"
check "from svcctl's image in the registry, by digest" \
	grep -q "^$REG/svcctl/router@sha256:" <<<"$(jq -r .TaskTemplate.ContainerSpec.Image <<<"$router_svc")"
check "its table in a node-local volume" \
	jq -e '.TaskTemplate.ContainerSpec.Mounts[0] | .Type == "volume" and .Target == "/state"' <<<"$router_svc"
check_eq "a line without the secret gets no answer from a router" "" \
	"$(peer_line "$SWARM_NODE_ADDR_2:7950" '{"op":"ping"}')"
s1=$(secrets)
check "one Swarm secret holds the routers' copy" grep -Eq '^svcctl-[0-9a-f]{8}-router-[0-9a-f]{12}$' <<<"$s1"
run_rc rc svcctl router swarm --push "$REG/svcctl/router"
check_eq "run again, nothing changes" "0 $s1" "$rc $(secrets)"
# svcctl's copy lost: a new secret, everywhere, and the old one gone
rm "$SVCCTL_STATE_DIR/router/peer.secret"
run_rc rc svcctl --json router swarm --push "$REG/svcctl/router"
[ "$rc" = 0 ] || diag "$OUT"
json=$(tail -n 1 <<<"$OUT")
check_eq "with svcctl's copy lost, router swarm makes a new secret" "0 true" "$rc $(jq -r .secret_rotated <<<"$json")"
s2=$(secrets)
check "a new Swarm secret replaces the old one" test -n "$s2" -a "$s2" != "$s1"
check_eq "and every router answers with the new one" 3 "$(jq '[.nodes[] | select(.answers)] | length' <<<"$json")"

# -- a worker's dockerd killed: once Swarm marks it down, no router sends it a new connection --
# peer_table ADDR: the table in force of the router at ADDR, asked over its
# peer channel with svcctl's copy of the secret (HMAC-SHA256 by openssl),
# so that no svcctl command runs meanwhile
peer_table() {
	local key body mac
	key=$(cat "$SVCCTL_STATE_DIR/router/peer.secret")
	body=$(jq -nc --argjson ts "$(date +%s%3N)" --arg n "$(openssl rand -hex 16)" \
		'{op: "table", ts: $ts, nonce: $n}')
	mac=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$key" | awk '{ print $NF }')
	peer_line "$1" "$mac $body" | cut -c66-
}
# backends_on I: node I's router's backends for greeter's route, sorted
backends_on() {
	peer_table "$SWARM_NET.$1:7950" |
		jq -r --arg l "0.0.0.0:$PORT" '.routes[] | select(.listen == $l) | .backends[]' | sort
}
check_eq "node 1's router has greeter's three tasks, one on each node" 3 \
	"$(backends_on 1 | cut -d: -f1 | sort -u | wc -l)"
node3_state() {
	swarm_api 1 /nodes | jq -r --arg a "$SWARM_NODE_ADDR_3" '.[] | select(.Status.Addr == $a) | .Status.State'
}
off_node3() {
	local i b
	for i in 1 2; do
		b=$(backends_on "$i")
		[ -n "$b" ] && ! grep -q "^$SWARM_NODE_ADDR_3:" <<<"$b" || return 1
	done
}
back_to_three() {
	local i
	for i in 1 2; do
		[ "$(backends_on "$i" | wc -l)" = 3 ] || return 1
		! backends_on "$i" | grep -q "^$SWARM_NODE_ADDR_3:" || return 1
	done
}
rm -f "$WORK/stop"
"$HAMMER" --addr "${NODES[0]}" --addr "${NODES[1]}" --allow-net "$SWARM_NET.0/24" \
	--clients 8 --duration-ms 180000 --stop-file "$WORK/stop" >"$WORK/hammer.out" &
HPID=$!
BG_PIDS+=("$HPID")
sleep 1
kill -KILL "$(cat "$SWARM_DIR/n3/dockerd.pid")"
t0=$(date +%s)
check "the manager marks node 3 down" wait_until 30 eval '[ "$(node3_state)" = down ]'
diag "node 3 down after $(( $(date +%s) - t0 )) s"
check "within 10 s, no svcctl running, nodes 1 and 2 route nothing to node 3's task" \
	wait_until 10 off_node3
diag "node 1: $(backends_on 1 | tr '\n' ' ')"
check "Swarm's replacement task joins the tables once healthy (3 backends, none on node 3)" \
	wait_until 60 back_to_three
touch "$WORK/stop"
wait "$HPID"
hrc=$?
diag "$(cat "$WORK/hammer.out")"
check_eq "no request failed through nodes 1 and 2" 0 "$hrc"
out=$(svcctl status greeter)
diag "$out"
check "status shows node 3 down" grep -q "router    node [^ ]* ($SWARM_NODE_ADDR_3:7950): down" <<<"$out"

# -- the routers and their watcher taken off the swarm --
swarm_check_routers_removed
check_eq "nor their Swarm secret" "" \
	"$(swarm_api 1 /secrets | jq -r --arg sd "$SVCCTL_STATE_DIR" '.[] | select(.Spec.Labels["svcctl.state_dir"] == $sd) | .Spec.Name')"

finish
