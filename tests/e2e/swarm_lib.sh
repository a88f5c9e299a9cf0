# swarm_lib.sh - a real Docker Swarm for the end-to-end tests, made of the
# test's own dockerds; sourced after lib.sh.
#
#   need_swarm [registry]   skip (fail in CI) when this machine cannot make
#                     one (with registry: nor run Debian's docker-registry)
#   swarm_up N        N nodes, node 1 the manager, the others workers;
#                     exports SWARM_HOST (the manager, for DOCKER_HOST)
#                     and SWARM_NODE_ADDR_I (node I's address)
#   SWARM_REGISTRY=1 swarm_up N   and a registry of its own, exported as
#                     SWARM_REGISTRY_ADDR (HOST:PORT) for image names
#                     (SWARM_REGISTRY_ADDR/greeter:1)
#   swarm_image TAG   the example greeter FROM scratch on every node
#   swarm_endpoints SERVICE [PORT]   ADDR:PORT of its running tasks
#   swarm_check_routers_removed      `svcctl router swarm --remove`, and
#                     checks that it left no router service nor secret
#   swarm_api I PATH [CURL ARGS]     the Engine API of node I
#   swarm_docker I ARGS              the docker client on node I (set-up)
#   swarm_down        stop and remove all of it; safe to call twice, and
#                     called on exit (the EXIT trap is set here)
#
# Why it looks the way it does. A swarm node needs an address of its own
# to advertise and its own dockerd; the tests' plain engine must not be
# touched, and two swarm tests may run at once (make -j check). So each
# swarm gets a slot X, reserved under a lock, and with it (P is
# ${SWARM_PREFIX}X-PID-, PID the test's: unique while the test runs and
# after, when a test beside it may take the slot):
#   netns   Phub                 a bridge br0, nothing else
#           PnI                  node I: eth0 = 10.78.X.I/24 on br0
#   link    ${SWARM_PREFIX}X-r   in the root netns, 10.78.X.253/24, its peer
#                                on br0: the test reaches the nodes
#   dockerd one per node, inside node I's netns, with its own data root,
#           exec root, socket, daemon.json and pidfile under $WORK/swarm/nI,
#           containerd namespace PnI and cgroup parent /PnI
#   registry (SWARM_REGISTRY=1) Debian's docker-registry (plain HTTP) with
#           its config and storage under $WORK/swarm/registry, listening
#           on 10.78.X.253 (where every node reaches it, and the test) on
#           a free port, chosen before the dockerds start: each node's
#           daemon.json lists it in insecure-registries. Never the
#           registry the package may have started on :5000.
# The slot is taken when its hub netns is made (under the lock) and given
# back when the hub is deleted, so a slot left behind by a killed test is
# only skipped, never reused.
#
# Pitfalls, found the hard way (see also shared/labs/swarm-netns.sh):
# - dockerd is started with `nsenter --net`, not `ip netns exec`: the
#   latter makes a mount namespace and remounts /sys, which hides the
#   cgroup v1 mounts ("Devices cgroup isn't mounted").
# - DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 without a registry: a task uses
#   the local image and never asks one (there is none). With one it is
#   left out: it stops a node from pulling at all, even by digest.
# - Its own daemon.json (never /etc/docker's) and, before Docker 23, its
#   own trust key, so each node has its own engine ID.
# - No IPVS in the kernel: the ingress routing mesh and VIPs do not work;
#   publish ports in host mode (PublishMode "host").
# - A SIGKILLed dockerd leaves its shims running (found by their netns),
#   their sockets in /run/containerd/s (named by a hash), the containers
#   (found by the cgroup parent) and mounts under its roots; swarm_down
#   clears all of them. The cgroup parent's folders stay after a clean
#   stop too: swarm_down removes them.
# - dockerd must not hold the test's stdout (the TAP pipe) open: the
#   driver would wait for it; its output goes to nI/dockerd.log.

SWARM_PREFIX=${SWARM_PREFIX:-svsw}
SWARM_NET16=${SWARM_NET16:-10.78}
# overlay networks come from here, apart from the nodes' 10.78.X.0/24
SWARM_ADDR_POOL=${SWARM_ADDR_POOL:-10.79.0.0/16}
SWARM_HEARTBEAT=${SWARM_HEARTBEAT:-1s}
SWARM_LOCK=${SWARM_LOCK:-/run/lock/svcctl-swarm.lock}
SWARM_DIR=$WORK/swarm
SWARM_SLOT=
SWARM_NODES=0
SWARM_PIDS=()
SWARM_REGISTRY_PID=
SWARM_REGISTRY_ADDR=
SWARM_REGISTRY_BIN=${SWARM_REGISTRY_BIN:-/usr/bin/docker-registry}

# ---- small helpers ----

# swarm_sock I: node I's Engine API socket
swarm_sock() { echo "$SWARM_DIR/n$1/docker.sock"; }
# swarm_docker I ARGS...: the docker command-line client on node I (for
# set-up only), with no user configuration or context
swarm_docker() {
	local i=$1
	shift
	env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
		DOCKER_CONFIG="$SWARM_DIR/cli" DOCKER_CLI_HINTS=false \
		timeout 60 docker -H "unix://$(swarm_sock "$i")" "$@"
}
# swarm_api I PATH [CURL OPTIONS...]: an Engine API request to node I;
# the body on stdout
swarm_api() {
	local i=$1 path=$2
	shift 2
	curl -sS -m 20 --unix-socket "$(swarm_sock "$i")" "$@" "http://swarm$path"
}
# swarm_ours PID: the pid is one of our dockerds (not a reused pid)
swarm_ours() {
	[ -n "$1" ] && grep -qaF "$SWARM_DIR/n" "/proc/$1/cmdline" 2>/dev/null
}
swarm_ns() { echo "$SWARM_NETNS_PREFIX$1"; }

# ---- need_swarm ----

# need_swarm [registry]: root, iproute2, util-linux's nsenter/unshare,
# dockerd and the docker client, curl, jq, namespaces allowed (and with
# registry, docker-registry). Without them the swarm tests skip, except in
# CI, where they fail.
need_swarm() {
	local missing="" c
	[ "$(id -u)" = 0 ] || missing="root"
	for c in ip nsenter unshare flock dockerd docker curl jq; do
		command -v "$c" >/dev/null || missing="$missing $c"
	done
	if [ "${1:-}" = registry ] && [ ! -x "$SWARM_REGISTRY_BIN" ]; then
		missing="$missing $SWARM_REGISTRY_BIN"
	fi
	[ -x "${MKIMAGE:-}" ] && [ -x "${GREETER_STATIC:-}" ] || missing="$missing mkimage/greeter-static"
	if [ -z "$missing" ] && ! unshare --net --uts true 2>/dev/null; then
		missing="network namespaces (unshare --net fails)"
	fi
	[ -z "$missing" ] && return 0
	if [ "${CI:-}" = true ]; then
		not_ok "this machine can make a swarm (missing: ${missing# })"
		echo "1..$T"
		exit 1
	fi
	echo "1..0 # SKIP cannot make a swarm here (missing: ${missing# })"
	exit 0
}

# ---- the network ----

# swarm_slot_free X: nothing of ours nor of anyone else's on 10.78.X.0/24
swarm_slot_free() {
	local x=$1
	! compgen -G "/run/netns/$SWARM_PREFIX$x-*" >/dev/null || return 1
	! ip link show "$SWARM_PREFIX$x-r" >/dev/null 2>&1 || return 1
	! ip -4 route show match "$SWARM_NET16.$x.0/24" | grep -qv '^default'
}

# swarm_slot_set X: the names and addresses of slot X
swarm_slot_set() {
	SWARM_SLOT=$1
	SWARM_NET=$SWARM_NET16.$1
	SWARM_NETNS_PREFIX=$SWARM_PREFIX$1-$$-
	SWARM_ROOT_LINK=$SWARM_PREFIX$1-r
	SWARM_ROOT_ADDR=$SWARM_NET.253
}

# swarm_reserve: pick a free slot X and make its hub netns, under the lock
swarm_reserve() {
	local lk x rc=1
	mkdir -p "$(dirname "$SWARM_LOCK")"
	exec {lk}>>"$SWARM_LOCK" || return 1
	if ! flock -w 30 "$lk"; then
		exec {lk}>&-
		diag "swarm: $SWARM_LOCK stayed locked for 30 s"
		return 1
	fi
	for x in $(seq 1 250); do
		swarm_slot_free "$x" || continue
		# set first: a signal in between still has swarm_down free it
		swarm_slot_set "$x"
		if ip netns add "$(swarm_ns hub)"; then
			rc=0
		else
			SWARM_SLOT=
		fi
		break
	done
	exec {lk}>&-
	[ "$rc" = 0 ] || diag "swarm: could not reserve a slot (netns $SWARM_PREFIX*, $SWARM_NET16.X.0/24)"
	return $rc
}

swarm_net_up() {
	local n=$1 hub i ns
	swarm_reserve || return 1
	hub=$(swarm_ns hub)
	ip -n "$hub" link set lo up &&
		ip -n "$hub" link add br0 type bridge &&
		ip -n "$hub" link set br0 up || return 1
	for i in $(seq 1 "$n"); do
		ns=$(swarm_ns "n$i")
		ip netns add "$ns" &&
			ip -n "$ns" link set lo up &&
			ip -n "$hub" link add "vn$i" type veth peer name eth0 netns "$ns" &&
			ip -n "$hub" link set "vn$i" master br0 up &&
			ip -n "$ns" addr add "$SWARM_NET.$i/24" dev eth0 &&
			ip -n "$ns" link set eth0 up || return 1
	done
	ip link add "$SWARM_ROOT_LINK" type veth peer name vroot netns "$hub" &&
		ip -n "$hub" link set vroot master br0 up &&
		ip addr add "$SWARM_ROOT_ADDR/24" dev "$SWARM_ROOT_LINK" &&
		ip link set "$SWARM_ROOT_LINK" up
}

# ---- the registry ----


# swarm_registry_ours: the registry started runs (not a reused pid, nor a zombie)
swarm_registry_ours() {
	[ -n "$SWARM_REGISTRY_PID" ] &&
		grep -qaF "$SWARM_DIR/registry/" "/proc/$SWARM_REGISTRY_PID/cmdline" 2>/dev/null
}
swarm_registry_answers() {
	[ "$(curl -s -m 2 --noproxy '*' "http://$1/v2/" 2>/dev/null)" = "{}" ]
}

# swarm_registry_start: docker-registry on the root-side address and a
# port nothing listens on (tried again on another when it cannot bind);
# sets SWARM_REGISTRY_ADDR
swarm_registry_start() {
	local d=$SWARM_DIR/registry port
	if [ ! -x "$SWARM_REGISTRY_BIN" ]; then
		diag "swarm: $SWARM_REGISTRY_BIN is missing (Debian's docker-registry; scripts/deps)"
		return 1
	fi
	mkdir -p "$d/data" && chmod 700 "$d" || return 1
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 12000))
		! (exec 3<>"/dev/tcp/$SWARM_ROOT_ADDR/$port") 2>/dev/null || continue
		cat >"$d/config.yml" <<-EOF
		version: 0.1
		log:
		  level: warn
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $d/data
		  delete:
		    enabled: true
		http:
		  addr: $SWARM_ROOT_ADDR:$port
		EOF
		setsid "$SWARM_REGISTRY_BIN" serve "$d/config.yml" </dev/null >>"$d/registry.log" 2>&1 &
		SWARM_REGISTRY_PID=$!
		disown "$!"
		if wait_until 10 swarm_registry_answers "$SWARM_ROOT_ADDR:$port"; then
			SWARM_REGISTRY_ADDR=$SWARM_ROOT_ADDR:$port
			return 0
		fi
		swarm_registry_stop
	done
	diag "swarm: the registry did not answer on $SWARM_ROOT_ADDR; its log:"
	diag "$(tail -n 10 "$d/registry.log" 2>/dev/null)"
	return 1
}

# swarm_registry_stop: SIGTERM (10 s), then SIGKILL, by its pid only
swarm_registry_stop() {
	swarm_registry_ours || { SWARM_REGISTRY_PID=; return 0; }
	kill -TERM "$SWARM_REGISTRY_PID" 2>/dev/null
	wait_until 10 eval '! swarm_registry_ours'
	swarm_registry_ours && kill -KILL "$SWARM_REGISTRY_PID" 2>/dev/null
	wait_until 5 eval '! swarm_registry_ours'
	SWARM_REGISTRY_PID=
}

# ---- the dockerds ----

swarm_node_start() {
	local i=$1 d=$SWARM_DIR/n$1 ns key="" reg="" envs=(DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1)
	ns=$(swarm_ns "n$i")
	mkdir -p "$d" && chmod 700 "$d" || return 1
	# Docker 23 dropped the trust key (and rejects the key); the engine ID
	# lives in the data root there
	case $(dockerd --version 2>/dev/null) in
	*"version "1[0-9].* | *"version 2"[0-2].*) key="\"deprecated-key-path\": \"$d/key.json\"," ;;
	esac
	if [ -n "$SWARM_REGISTRY_ADDR" ]; then
		reg="\"insecure-registries\": [\"$SWARM_REGISTRY_ADDR\"],"
		envs=()
	fi
	cat >"$d/daemon.json" <<-EOF
	{
	  "hosts": ["unix://$d/docker.sock"],
	  "data-root": "$d/data",
	  "exec-root": "$d/exec",
	  "pidfile": "$d/dockerd.pid",
	  $key
	  $reg
	  "containerd-namespace": "$ns",
	  "containerd-plugins-namespace": "$ns-plugins",
	  "cgroup-parent": "/$ns",
	  "log-level": "info"
	}
	EOF
	# env, setsid, nsenter, unshare and sh all exec: $! is dockerd's pid
	env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
		"${envs[@]}" setsid \
		nsenter --net="/run/netns/$ns" -- unshare --uts -- \
		sh -c 'hostname "$1" && shift && exec "$@"' sh "$ns" \
		dockerd --config-file "$d/daemon.json" \
		</dev/null >>"$d/dockerd.log" 2>&1 &
	SWARM_PIDS+=("$!")
	# (no "Killed" job report if swarm_down has to SIGKILL it)
	disown "$!"
}

# swarm_node_wait I: node I's dockerd answers (30 s), its pid recorded
swarm_node_wait() {
	local i=$1 d=$SWARM_DIR/n$1 pid=${SWARM_PIDS[$(($1 - 1))]} p
	for _ in $(seq 1 300); do
		if [ "$(curl -s -m 2 --unix-socket "$d/docker.sock" http://swarm/_ping 2>/dev/null)" = OK ]; then
			p=$(cat "$d/dockerd.pid" 2>/dev/null)
			if [ -n "$p" ] && [ "$p" != "$pid" ] && swarm_ours "$p"; then
				SWARM_PIDS+=("$p")
			fi
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			diag "swarm: dockerd of node $i exited; its log:"
			diag "$(tail -n 15 "$d/dockerd.log" 2>/dev/null)"
			return 1
		fi
		sleep 0.1
	done
	diag "swarm: dockerd of node $i did not answer within 30 s; its log:"
	diag "$(tail -n 15 "$d/dockerd.log" 2>/dev/null)"
	return 1
}

# swarm_nodes_ready N: the manager lists N nodes Ready
swarm_nodes_ready() {
	[ "$(swarm_docker 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$')" = "$1" ]
}

# ---- swarm_up ----

# swarm_up N: a swarm of N nodes (node 1 manager at 10.78.X.1, node I a
# worker at 10.78.X.I), reachable from the root netns. Exports SWARM_HOST
# (the manager's socket, as a DOCKER_HOST), SWARM_NODES, SWARM_NET
# (10.78.X), SWARM_NODE_ADDR_I, SWARM_ROOT_ADDR, SWARM_NETNS_PREFIX and
# SWARM_DIR; with SWARM_REGISTRY=1 also SWARM_REGISTRY_ADDR. On failure
# says why (diag) and returns 1; swarm_down then removes what was made.
swarm_up() {
	local n=${1:-1} i tok p pids=() rc=0
	if [ -n "$SWARM_SLOT" ]; then
		diag "swarm: already up (slot $SWARM_SLOT)"
		return 1
	fi
	mkdir -p "$SWARM_DIR/cli" && chmod 700 "$SWARM_DIR" || return 1
	SWARM_NODES=$n
	swarm_net_up "$n" || { diag "swarm: the network namespaces could not be made"; return 1; }
	# the registry's address goes into each node's daemon.json: first
	if [ "${SWARM_REGISTRY:-}" = 1 ]; then
		swarm_registry_start || return 1
	fi
	for i in $(seq 1 "$n"); do swarm_node_start "$i" || return 1; done
	for i in $(seq 1 "$n"); do swarm_node_wait "$i" || return 1; done
	if ! swarm_docker 1 swarm init --advertise-addr "$SWARM_NET.1" \
		--listen-addr "$SWARM_NET.1:2377" --default-addr-pool "$SWARM_ADDR_POOL" \
		--dispatcher-heartbeat "$SWARM_HEARTBEAT" >"$SWARM_DIR/init.out" 2>&1; then
		diag "swarm: swarm init failed: $(cat "$SWARM_DIR/init.out")"
		return 1
	fi
	if [ "$n" -gt 1 ]; then
		tok=$(swarm_docker 1 swarm join-token -q worker) || return 1
		for i in $(seq 2 "$n"); do
			swarm_docker "$i" swarm join --token "$tok" --advertise-addr "$SWARM_NET.$i" \
				--listen-addr "$SWARM_NET.$i:2377" "$SWARM_NET.1:2377" \
				>"$SWARM_DIR/join$i.out" 2>&1 &
			pids+=("$!")
		done
		# (a plain `wait` would wait for the dockerds too)
		for p in "${pids[@]}"; do wait "$p" || rc=1; done
		if [ "$rc" != 0 ]; then
			diag "swarm: a join failed: $(cat "$SWARM_DIR"/join*.out)"
			return 1
		fi
	fi
	if ! wait_until 60 swarm_nodes_ready "$n"; then
		diag "swarm: not $n nodes Ready within 60 s: $(swarm_docker 1 node ls 2>&1)"
		return 1
	fi
	SWARM_HOST="unix://$(swarm_sock 1)"
	export SWARM_HOST SWARM_NODES SWARM_NET SWARM_ROOT_ADDR \
		SWARM_NETNS_PREFIX SWARM_DIR SWARM_REGISTRY_ADDR
	for i in $(seq 1 "$n"); do export "SWARM_NODE_ADDR_$i=$SWARM_NET.$i"; done
	return 0
}

# swarm_image TAG: the example greeter FROM scratch (the Dockerfile of
# examples/greeter, as build_image makes it), built through the Engine API
# on every node, the manager first: a task runs from the local image.
swarm_image() {
	local i
	for i in $(seq 1 "$SWARM_NODES"); do
		if ! (DOCKER_HOST="unix://$(swarm_sock "$i")" && export DOCKER_HOST && build_image "$1"); then
			diag "swarm: the image did not build on node $i: $(cat "$WORK/mkimage.out")"
			return 1
		fi
	done
}

# swarm_endpoints SERVICE [TARGET]: "ADDR:PORT" of each running task of
swarm_check_routers_removed() {
	run_rc rc svcctl router swarm --remove
	diag "$OUT"
	check_eq "router swarm --remove exits 0" 0 "$rc"
	check_eq "no routers' service and no watcher are left" "" \
		"$(swarm_api 1 /services | jq -r --arg sd "$SVCCTL_STATE_DIR" \
			'.[] | select(.Spec.Labels["svcctl.router"] != null and .Spec.Labels["svcctl.state_dir"] == $sd) | .Spec.Name')"
	check_eq "nor their Swarm secret" "" \
		"$(swarm_api 1 /secrets | jq -r --arg sd "$SVCCTL_STATE_DIR" \
			'.[] | select(.Spec.Labels["svcctl.state_dir"] == $sd) | .Spec.Name')"
}

# SERVICE (a name or ID) publishing TARGET (default 8080) in host mode:
# its node's address and the port published there, once per task (the
# engine lists a port once for IPv4 and once for IPv6)
swarm_endpoints() {
	local tasks nodes
	tasks=$(swarm_api 1 /tasks -G --data-urlencode \
		"filters={\"service\":[\"$1\"],\"desired-state\":[\"running\"]}") || return 1
	nodes=$(swarm_api 1 /nodes) || return 1
	jq -r --argjson t "${2:-8080}" --argjson nodes "$nodes" '
		($nodes | map({key: .ID, value: .Status.Addr}) | from_entries) as $addr
		| .[] | select(.Status.State == "running") | .NodeID as $node
		| [.Status.PortStatus.Ports[]? | select(.TargetPort == $t and .PublishMode == "host")
			| .PublishedPort] | unique | .[] as $p
		| "\($addr[$node]):\($p)"' <<<"$tasks"
}

# ---- swarm_down ----

# swarm_alive: our dockerds still running
swarm_alive() {
	local p
	for p in "${SWARM_PIDS[@]}"; do swarm_ours "$p" && echo "$p"; done
}

# swarm_sweep_pids: what a killed dockerd leaves: processes in a node's
# netns (containerd, shims, docker-proxy) and in a node's cgroup parent
# (the containers)
swarm_sweep_pids() {
	local i ns ino
	for i in $(seq 1 "$SWARM_NODES"); do
		ns=$(swarm_ns "n$i")
		ino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) || continue
		find /proc/[0-9]*/ns/net -maxdepth 0 -lname "net:\[$ino\]" 2>/dev/null
	done | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p'
	swarm_cgroups | while read -r d; do
		find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
	done
}
swarm_cgroups() {
	local i
	for i in $(seq 1 "$SWARM_NODES"); do
		find /sys/fs/cgroup -maxdepth 2 -type d -name "$(swarm_ns "n$i")" 2>/dev/null
	done
}

# swarm_shim_socket PID: the socket a containerd shim of ours made in
# /run/containerd/s, named by the hash of its containerd address,
# namespace and id (a SIGKILLed shim leaves it behind)
swarm_shim_socket() {
	local a=() addr="" ns="" id="" k
	mapfile -d '' a <"/proc/$1/cmdline" 2>/dev/null || return 1
	for ((k = 0; k + 1 < ${#a[@]}; k++)); do
		case ${a[k]} in
		-address | --address) addr=${a[k + 1]} ;;
		-namespace | --namespace) ns=${a[k + 1]} ;;
		-id | --id) id=${a[k + 1]} ;;
		esac
	done
	case $addr in "$SWARM_DIR"/*) ;; *) return 1 ;; esac
	[ -n "$ns" ] && [ -n "$id" ] || return 1
	printf '/run/containerd/s/%s\n' "$(printf '%s' "$addr/$ns/$id" | sha256sum | cut -d' ' -f1)"
}

# swarm_down: stop every dockerd started (SIGTERM, 20 s, SIGKILL), kill
# what they leave (and the shims' sockets), stop the registry, unmount
# under $SWARM_DIR, delete the netns, the root link and the cgroups,
# remove $SWARM_DIR. Does nothing the second time.
swarm_down() {
	local p left m i s socks=()
	[ -n "$SWARM_SLOT" ] || return 0
	for p in $(swarm_alive); do kill -TERM "$p" 2>/dev/null; done
	wait_until 20 eval '[ -z "$(swarm_alive)" ]'
	for p in $(swarm_alive); do kill -KILL "$p" 2>/dev/null; done
	for _ in 1 2 3; do
		left=$(swarm_sweep_pids | sort -un)
		[ -z "$left" ] && break
		for p in $left; do
			s=$(swarm_shim_socket "$p") && socks+=("$s")
			kill -KILL "$p" 2>/dev/null
		done
		sleep 0.3
	done
	[ "${#socks[@]}" -eq 0 ] || rm -f "${socks[@]}"
	swarm_registry_stop
	SWARM_REGISTRY_ADDR=
	for _ in 1 2 3; do
		m=$(awk -v r="$SWARM_DIR/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -ru)
		[ -z "$m" ] && break
		for p in $m; do umount -l "$p" 2>/dev/null; done
	done
	ip link del "$SWARM_ROOT_LINK" 2>/dev/null
	for i in $(seq 1 "$SWARM_NODES"); do ip netns del "$(swarm_ns "n$i")" 2>/dev/null; done
	swarm_cgroups | while read -r p; do find "$p" -depth -type d -exec rmdir {} + 2>/dev/null; done
	rm -rf "$SWARM_DIR"
	# the slot is free again once its hub is gone: last
	ip netns del "$(swarm_ns hub)" 2>/dev/null
	SWARM_SLOT=
	SWARM_PIDS=()
	return 0
}

trap 'swarm_down; cleanup' EXIT
