# lib.sh - shared helpers of the end-to-end tests: TAP output, a private
# state dir and manifests folder per test, manifests for the example
# greeter service, plain-bash HTTP, and clean-up of everything the test
# started (by pid, never by name).
#
# Every test runs the real svcctl binary ($SVCCTL) against real processes.
set -u

T=0
FAILED=0
BG_PIDS=()
SERVICES=()

WORK=$(mktemp -d "${TMPDIR:-/tmp}/svcctl-e2e.XXXXXX")
export SVCCTL_STATE_DIR="$WORK/state"
export SVCCTL_MANIFESTS="$WORK/manifests"
mkdir -p "$SVCCTL_MANIFESTS"
GREETER_DIR=$(dirname "$GREETER")

ok() { T=$((T + 1)); echo "ok $T - $*"; }
not_ok() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $*"; }
diag() { sed 's/^/# /' <<<"$*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; diag "expected '$2', got '$3'"; fi
}

svcctl() { "$SVCCTL" "$@"; }

# run_rc VAR COMMAND...: run, keep output in $OUT, exit status in VAR
run_rc() {
	local __var=$1; shift
	OUT=$("$@" 2>&1)
	printf -v "$__var" '%s' "$?"
}

# deploy_under_load SERVICE ADDR [HAMMER OPTION...]: `svcctl deploy SERVICE`
# while 8 clients loop new-connection requests to ADDR (one second of load
# before and after). Sets rc (the deploy's exit status), OUT (its output)
# and hrc (the clients': 0 when no request failed); $WORK/hammer.out is
# what the clients saw (diag'ed).
deploy_under_load() {
	local svc=$1 addr=$2 hpid
	shift 2
	rm -f "$WORK/stop"
	"$HAMMER" --addr "$addr" --clients 8 --duration-ms 120000 --stop-file "$WORK/stop" "$@" \
		>"$WORK/hammer.out" &
	hpid=$!
	BG_PIDS+=("$hpid")
	sleep 1
	run_rc rc svcctl deploy "$svc"
	[ "$rc" = 0 ] || diag "$OUT"
	sleep 1
	touch "$WORK/stop"
	wait "$hpid"
	hrc=$?
	diag "$(cat "$WORK/hammer.out")"
}

# A port nobody listens on now: random in 20000-31999, below the kernel's
# ephemeral range, where instances' ports and the Docker engine's published
# ports come from (a port picked there could be taken before it is bound).
pick_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# http_get ADDR [PATH]: the response body (empty on failure).
http_get() {
	local host=${1%:*} port=${1##*:} fd
	exec {fd}<>"/dev/tcp/$host/$port" || return 1
	printf 'GET %s HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n' "${2:-/}" >&$fd
	timeout 5 cat <&$fd | sed '1,/^\r$/d'
	exec {fd}>&-
}

# version_at ADDR: the greeter version answering there, or "none".
version_at() {
	local body
	body=$(http_get "$1" / 2>/dev/null) || true
	body=$(sed -n 's/.*from greeter \([^ ]*\) .*/\1/p' <<<"$body")
	echo "${body:-none}"
}

refuses() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# wait_until SECONDS COMMAND...: poll every 100 ms.
wait_until() {
	local limit=$(( $1 * 10 )); shift
	for _ in $(seq 1 "$limit"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# write_manifest SERVICE VERSION LISTEN [ENV=VALUE...]
# Knobs (environment): REPLICAS BAKE KEEP PROMOTE PREVIEW START_TIMEOUT DRAIN
# HEALTH (the http path) PROVIDES REQUIRES (api), WORKDIR (the greeter's
# folder), MANIFEST_DIR (where it is written; $SVCCTL_MANIFESTS)
write_manifest() {
	local svc=$1 ver=$2 listen=$3 kv
	shift 3
	{
		echo "service: $svc"
		echo "version: $ver"
		echo "replicas: ${REPLICAS:-2}"
		echo "run:"
		echo "  workdir: ${WORKDIR:-$GREETER_DIR}"
		echo '  command: [./greeter, --port, "${PORT}"]'
		echo "  env:"
		echo '    VERSION: "${VERSION}"'
		echo '    INSTANCE: "${INSTANCE}"'
		for kv in "$@"; do echo "    ${kv%%=*}: \"${kv#*=}\""; done
		# instances get only their manifest's env: under ASan+UBSan the
		# greeter's reports reach the collected folder when it says so
		for kv in ASAN_OPTIONS UBSAN_OPTIONS; do
			[ -n "${!kv:-}" ] && echo "    $kv: \"${!kv}\""
		done
		echo "  stop_timeout: 5s"
		echo "ports:"
		echo "  - name: http"
		echo "    listen: $listen"
		echo "health:"
		echo "  http: ${HEALTH:-/health}"
		echo "  interval: 100ms"
		echo "  timeout: 1s"
		echo "  healthy_threshold: 2"
		echo "  unhealthy_threshold: 2"
		echo "  start_timeout: ${START_TIMEOUT:-15s}"
		echo "rollout:"
		echo "  promote: ${PROMOTE:-auto}"
		echo "  drain_timeout: ${DRAIN:-2s}"
		echo "  keep_previous: ${KEEP:-10m}"
		echo "  bake: ${BAKE:-0s}"
		if [ -n "${PREVIEW:-}" ]; then echo "  preview: $PREVIEW"; fi
		if [ -n "${PROVIDES:-}${REQUIRES:-}" ]; then
			echo "api:"
			if [ -n "${PROVIDES:-}" ]; then echo "  provides: [$PROVIDES]"; fi
			if [ -n "${REQUIRES:-}" ]; then echo "  requires: {$REQUIRES}"; fi
		fi
	} >"${MANIFEST_DIR:-$SVCCTL_MANIFESTS}/$svc.yaml"
	case " ${SERVICES[*]} " in *" $svc "*) ;; *) SERVICES+=("$svc") ;; esac
}

# ---- git repositories of manifests (sync) ----

# git_repo_init: a bare "origin" ($ORIGIN) and a working clone ($SRC) pushing
# to it, with manifests/ and bin/greeter; no user or system configuration
# reaches git or libgit2. g runs git in the clone (extra -c options in
# GIT_OPTS, an array).
git_repo_init() {
	export GIT_CONFIG_NOSYSTEM=1 HOME=$WORK/home
	mkdir -p "$HOME"
	ORIGIN=$WORK/origin.git
	SRC=$WORK/src
	git init -q --bare -b main "$ORIGIN"
	git init -q -b main "$SRC"
	g remote add origin "$ORIGIN"
	mkdir -p "$SRC/manifests" "$SRC/bin"
	cp "$GREETER" "$SRC/bin/greeter"
}
GIT_OPTS=(-c commit.gpgsign=false)
g() { git -C "$SRC" -c user.name=t -c user.email=t@e "${GIT_OPTS[@]}" "$@"; }
# commit MESSAGE [git commit options]: commit everything in the working
# clone, push it; sets HEAD_C (40 hex) and C12 (its first 12)
commit() {
	local msg=$1
	shift
	g add -A && g commit -q "$@" -m "$msg" && g push -q origin main || return 1
	HEAD_C=$(g rev-parse HEAD)
	C12=${HEAD_C:0:12}
}
# repo_manifest SERVICE VERSION LISTEN [ENV=VALUE...]: write_manifest into
# the clone's manifests/, running bin/greeter of the repository
repo_manifest() { MANIFEST_DIR=$SRC/manifests WORKDIR=../bin write_manifest "$@"; }

state_file() { cat "$SVCCTL_STATE_DIR/services/$1/$2" 2>/dev/null; }
rollout_step() { state_file "$1" rollout.json | sed -n 's/.*"step": "\([^"]*\)".*/\1/p'; }
# step_is SERVICE STEP / answers ADDR VERSION: for wait_until, which
# evaluates its command each time
step_is() { [ "$(rollout_step "$1")" = "$2" ]; }
in_rollout() { [ -n "$(rollout_step "$1")" ]; }
answers() { [ "$(version_at "$1")" = "$2" ]; }
# pids of the instances of SERVICE, sorted, from `svcctl status --json`
instance_pids() {
	svcctl --json status "$1" | tail -n 1 | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$' | sort -n | tr '\n' ' '
}
router_pid() { cat "$SVCCTL_STATE_DIR/router/router.pid" 2>/dev/null; }
# proc_rss_kib PID / proc_fds PID: a process's resident memory (VmRSS, KiB)
# and its number of open files
proc_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
proc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# pids of processes started under this test's state dir (supervisors, router)
leftover_pids() {
	# two processes in all, however many the machine runs (this is polled)
	{
		# (the pattern from a file: grep's own command line must not match)
		grep -alF -f <(printf '%s\n' "$SVCCTL_STATE_DIR") /proc/[0-9]*/cmdline 2>/dev/null
		# an instance run from an artifact, or whose output goes to the state dir
		find /proc/[0-9]*/exe /proc/[0-9]*/fd/1 -maxdepth 0 \
			-lname "$SVCCTL_STATE_DIR/*" 2>/dev/null
	} | sed -n 's|^/proc/\([0-9]*\)/.*|\1|p' | sort -un
}

cleanup() {
	local p left
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for s in "${SERVICES[@]}"; do "$SVCCTL" -q stop "$s" >/dev/null 2>&1; done
	"$SVCCTL" -q router stop >/dev/null 2>&1
	left=$(leftover_pids)
	for p in $left; do kill -9 "$p" 2>/dev/null; done
	# exported commits are read-only: writable first, for a runner not root
	chmod -R u+w "$WORK" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# finish: check that nothing is left running, close the plan, set the status.
finish() {
	local left s
	for s in "${SERVICES[@]}"; do "$SVCCTL" -q stop "$s" >/dev/null 2>&1; done
	"$SVCCTL" -q router stop >/dev/null 2>&1
	# helpers notice within a second that their instance is gone
	wait_until 3 eval '[ -z "$(leftover_pids)" ]'
	left=$(leftover_pids)
	check_eq "no process left running after stop" "" "$left"
	echo "1..$T"
	[ "$FAILED" -eq 0 ]
	exit $?
}

# ---- the Docker runtime ----

# need_docker: the engine the tests use ($SVCCTL_TEST_DOCKER_HOST). Without
# one the Docker tests skip, except in CI, where they fail.
need_docker() {
	if [ -n "${SVCCTL_TEST_DOCKER_HOST:-}" ]; then
		export DOCKER_HOST=$SVCCTL_TEST_DOCKER_HOST
		return 0
	fi
	if [ "${CI:-}" = true ]; then
		not_ok "a Docker engine answers (SVCCTL_TEST_DOCKER_HOST is not set in CI)"
		echo "1..$T"
		exit 1
	fi
	echo "1..0 # SKIP no Docker engine (set SVCCTL_TEST_DOCKER_HOST)"
	exit 0
}

# build_image TAG: the example greeter FROM scratch, through the Engine API.
build_image() {
	local ctx="$WORK/image"
	mkdir -p "$ctx"
	cp "$TOP_SRCDIR/examples/greeter/Dockerfile" "$ctx/"
	cp "$GREETER_STATIC" "$ctx/greeter-static"
	"$MKIMAGE" "$1" "$ctx" >"$WORK/mkimage.out" 2>&1
}

# write_docker_manifest SERVICE VERSION LISTEN IMAGE [ENV=VALUE...]
# Knobs as write_manifest.
write_docker_manifest() {
	local svc=$1 ver=$2 listen=$3 image=$4 kv
	shift 4
	{
		echo "service: $svc"
		echo "runtime: ${RUNTIME:-docker}"
		echo "version: $ver"
		echo "replicas: ${REPLICAS:-2}"
		echo "run:"
		echo "  image: $image"
		echo '  command: [--port, "${PORT}"]'
		echo "  env:"
		echo '    VERSION: "${VERSION}"'
		echo '    INSTANCE: "${INSTANCE}"'
		for kv in "$@"; do echo "    ${kv%%=*}: \"${kv#*=}\""; done
		echo "  stop_timeout: 2s"
		echo "ports:"
		echo "  - listen: $listen"
		echo "    target: 8080"
		echo "health:"
		echo "  http: /health"
		echo "  interval: 100ms"
		echo "  timeout: 1s"
		echo "  healthy_threshold: 2"
		echo "  unhealthy_threshold: 2"
		echo "  start_timeout: ${START_TIMEOUT:-30s}"
		echo "rollout:"
		echo "  promote: ${PROMOTE:-auto}"
		echo "  drain_timeout: ${DRAIN:-2s}"
		echo "  keep_previous: ${KEEP:-10m}"
		echo "  bake: ${BAKE:-0s}"
	} >"$SVCCTL_MANIFESTS/$svc.yaml"
	case " ${SERVICES[*]} " in *" $svc "*) ;; *) SERVICES+=("$svc") ;; esac
}

# instances_json SERVICE: "id pid started_ms state" per instance, sorted
instances_of() {
	svcctl --json status "$1" | tail -n 1 | grep -o '{"color"[^}]*"id":[^}]*}' |
		sed 's/.*"id":"\([^"]*\)".*"pid":\([0-9]*\).*"started_ms":\([0-9]*\).*"state":"\([a-z]*\)".*/\1 \2 \3 \4/' | sort
}

# ---- builds ----

# git_in DIR ARGS...: git with a fixed identity and no user configuration.
git_in() {
	local d=$1; shift
	GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
	GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.invalid \
	GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.invalid \
		git -C "$d" -c commit.gpgsign=false -c tag.gpgsign=false "$@"
}

# shared_lib_example [docker]: a copy of examples/shared-lib in $WORK/shared-lib
# with its libgreet repository made (mkrepo), the manifests (or the docker
# ones) as $SVCCTL_MANIFESTS, listening on free ports $HELLO1 and $HELLO2.
shared_lib_example() {
	local src=$WORK/shared-lib/manifests
	cp -r "$TOP_SRCDIR/examples/shared-lib" "$WORK/shared-lib"
	"$WORK/shared-lib/mkrepo" "$WORK/shared-lib/libgreet.git" || return 1
	[ "${1:-}" = docker ] && src=$src/docker
	HELLO1=127.0.0.1:$(pick_port)
	HELLO2=127.0.0.1:$(pick_port)
	while [ "$HELLO2" = "$HELLO1" ]; do HELLO2=127.0.0.1:$(pick_port); done
	export SVCCTL_MANIFESTS=$src
	sed -i "s/127.0.0.1:8091/$HELLO1/" "$src/hello-v1.yaml"
	sed -i "s/127.0.0.1:8092/$HELLO2/" "$src/hello-v2.yaml"
	SERVICES+=(hello-v1 hello-v2)
}

# json_field NAME TEXT: the first string value of "NAME" in TEXT.
json_field() { grep -o "\"$1\": *\"[^\"]*\"" <<<"$2" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/'; }
