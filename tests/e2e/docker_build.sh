#!/bin/bash
# Builds for the docker runtime against a real engine: the shared-lib
# example compiled statically, then an image FROM scratch built through the
# Engine API (/build with a tar of the build folder), tagged SERVICE:ID12,
# its output streamed; two services pinned to two library versions serving
# at once; the cache asks the engine; gc removes images of old releases.
. "$(dirname "$0")/lib.sh"
need_docker

shared_lib_example docker || { not_ok "the example's library repository is made"; finish; }
svcctl -q lock hello-v1 hello-v2

run_rc rc svcctl deploy hello-v1
diag "$(grep -v '| ' <<<"$OUT")"
check_eq "deploy hello-v1 (docker, built) exits 0" 0 "$rc"
check "the engine's build output is streamed" grep -q "^hello-v1: | Step 1/4 : FROM scratch" <<<"$OUT"
image=$(sed -n 's/.*built in .*: image \(hello-v1:[0-9a-f]\{12\}\).*/\1/p' <<<"$OUT" | head -n 1)
check "the image is tagged SERVICE:ID12" test -n "$image"
run_rc rc svcctl deploy hello-v2
check_eq "deploy hello-v2 exits 0" 0 "$rc"
check "hello-v1 (a container) answers with libgreet 1.0.0" \
	grep -q "from hello-v1 (libgreet 1.0.0)" <<<"$(http_get "$HELLO1" /)"
check "hello-v2 (a container) answers with libgreet 2.0.0" \
	grep -q "from hello-v2 (libgreet 2.0.0)" <<<"$(http_get "$HELLO2" /)"
check "the container runs the built image" grep -q "\"Image\":\"$image\"" \
	<<<"$(docker -H "$DOCKER_HOST" ps --format '{{json .}}' --filter label=svcctl.service=hello-v1)"

run_rc rc svcctl build hello-v1
check "a second build asks the engine and finds the image" grep -q "already built" <<<"$OUT"
docker -H "$DOCKER_HOST" image rm -f "$image" >/dev/null 2>&1
run_rc rc svcctl build hello-v1
check "an image removed behind svcctl's back is built again" grep -q "built in" <<<"$OUT"

# a new release, then gc --keep 1: the old release's image goes (not warm: keep 0)
sed -i 's/keep_previous: 5m/keep_previous: 0s/' "$SVCCTL_MANIFESTS/hello-v1.yaml"
sed -i 's|-O2|-O1|' "$SVCCTL_MANIFESTS/hello-v1.yaml"
run_rc rc svcctl deploy hello-v1
check_eq "a second release of hello-v1 exits 0" 0 "$rc"
new=$(sed -n 's/.*built in .*: image \(hello-v1:[0-9a-f]\{12\}\).*/\1/p' <<<"$OUT" | head -n 1)
run_rc rc svcctl gc --keep 1
diag "$OUT"
check_eq "gc exits 0" 0 "$rc"
check "gc removed the old release's image" \
	test -z "$(docker -H "$DOCKER_HOST" image ls -q "$image")"
check "and kept the active one" test -n "$(docker -H "$DOCKER_HOST" image ls -q "$new")"
run_rc rc svcctl rollback hello-v1
diag "$OUT"
check_eq "rolling back to a release whose image gc removed exits 1" 1 "$rc"
check "saying the image is gone" grep -q "is gone from the Docker engine" <<<"$OUT"
check "hello-v1 still serves" grep -q "libgreet 1.0.0" <<<"$(http_get "$HELLO1" /)"

# build.env: the build command's environment and the image build's build args
mkdir -p "$WORK/bargs/ctx" "$WORK/bargs/m"
printf 'FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\n' >"$WORK/bargs/ctx/Dockerfile"
cat >"$WORK/bargs/m/bargs.yaml" <<EOF
service: bargs
runtime: docker
build:
  context: ../ctx
  dockerfile: Dockerfile
  env: {GREETING: from-build-env}
EOF
run_rc rc svcctl --manifests "$WORK/bargs/m" build bargs
diag "$OUT"
check_eq "an image build with build.env exits 0" 0 "$rc"
bimage=$(sed -n 's/.*built in .*: image \(bargs:[0-9a-f]\{12\}\).*/\1/p' <<<"$OUT" | head -n 1)
check_eq "build.env reaches the Dockerfile's ARG (a build arg)" '{"greeting":"from-build-env"}' \
	"$(docker -H "$DOCKER_HOST" image inspect "$bimage" --format '{{json .Config.Labels}}' 2>&1)"
[ -n "$bimage" ] && docker -H "$DOCKER_HOST" image rm -f "$bimage" >/dev/null 2>&1

for s in hello-v1 hello-v2; do svcctl -q stop "$s"; done
finish
