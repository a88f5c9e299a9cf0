#!/bin/bash
# What instances and builds get as their environment: a fixed base
# (PATH=/usr/local/bin:/usr/bin:/bin, HOME of the user svcctl runs as,
# LANG=C.UTF-8), the manifest's env (run.env, build.env) and svcctl's own
# variables, and nothing else of the shell that ran svcctl (here a
# SECRET_TOKEN, a PATH, a HOME and a LANG of its own). build.env is a
# build input: it changes the artifact id; a build without it keeps the id
# it always had.
. "$(dirname "$0")/lib.sh"

WANT_HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
WANT_HOME=${WANT_HOME:-/}
BASE_PATH=/usr/local/bin:/usr/bin:/bin
mkdir -p "$WORK/fake-home" "$WORK/bin"

# svcctl COMMAND... from a shell that exports what must not leak
leaky() {
	env SECRET_TOKEN=s3cret-e2e HOME="$WORK/fake-home" LANG=fr_FR.UTF-8 \
		PATH="$WORK/bin:$PATH" SVCCTL_LEAK=yes "$SVCCTL" "$@"
}

# env_of PID: the process's environment, one NAME=value a line, sorted
env_of() { tr '\0' '\n' <"/proc/$1/environ" | sort; }
names_of() { sed 's/=.*//' <<<"$1" | tr '\n' ' '; }
value_of() { sed -n "s/^$1=//p" <<<"$2"; }
# the sanitizer variables write_manifest puts in the manifest (asan runs)
san_names() {
	local n
	for n in ASAN_OPTIONS UBSAN_OPTIONS; do [ -n "${!n:-}" ] && printf '%s\n' "$n"; done
}
sorted_names() { printf '%s\n' "$@" $(san_names) | sort | tr '\n' ' '; }

# greeter_pid SERVICE: the pid of its (one) instance, from status --json
greeter_pid() {
	local p
	for p in $(instance_pids "$1"); do
		[ "$(readlink "/proc/$p/exe")" = "$GREETER" ] && { echo "$p"; return 0; }
	done
	return 1
}

# ---- instances ----
ADDR=127.0.0.1:$(pick_port)
REPLICAS=1 KEEP=0s write_manifest envtest 1.0.0 "$ADDR" MANIFEST_VAR=from-manifest
run_rc rc leaky deploy envtest
check_eq "deploy exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
pid=$(greeter_pid envtest)
check "the instance's pid is in status --json" test -n "$pid"
ienv=$(env_of "$pid")
diag "$ienv"
check "SECRET_TOKEN of the deploying shell is not in the instance" \
	test -z "$(value_of SECRET_TOKEN "$ienv")"
check "nor any other variable of it (SVCCTL_LEAK)" test -z "$(value_of SVCCTL_LEAK "$ienv")"
check_eq "PATH is the fixed base" "$BASE_PATH" "$(value_of PATH "$ienv")"
check_eq "HOME is the user's home, not the shell's HOME" "$WANT_HOME" "$(value_of HOME "$ienv")"
check_eq "LANG is C.UTF-8" C.UTF-8 "$(value_of LANG "$ienv")"
check_eq "the manifest's env is there" from-manifest "$(value_of MANIFEST_VAR "$ienv")"
port=$(svcctl --json status envtest | tail -n 1 | grep -o '"port": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')
check_eq "PORT is the instance's port" "$port" "$(value_of PORT "$ienv")"
check_eq "SERVICE is set" envtest "$(value_of SERVICE "$ienv")"
check_eq "VERSION is set" 1.0.0 "$(value_of VERSION "$ienv")"
check_eq "INSTANCE is set" 0 "$(value_of INSTANCE "$ienv")"
check_eq "and nothing else" \
	"$(sorted_names HOME INSTANCE LANG MANIFEST_VAR PATH PORT SERVICE VERSION)" "$(names_of "$ienv")"
check_eq "the instance answers" 1.0.0 "$(version_at "$ADDR")"

# the manifest wins over the base for a name it sets
REPLICAS=1 KEEP=0s write_manifest envtest 1.0.1 "$ADDR" PATH=/opt/e2e/bin:/usr/bin LANG=C HOME=/srv/e2e
run_rc rc leaky deploy envtest
check_eq "deploy with PATH, LANG and HOME in run.env exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
ienv=$(env_of "$(greeter_pid envtest)")
check_eq "run.env's PATH wins over the base" /opt/e2e/bin:/usr/bin "$(value_of PATH "$ienv")"
check_eq "run.env's LANG wins over the base" C "$(value_of LANG "$ienv")"
check_eq "run.env's HOME wins over the base" /srv/e2e "$(value_of HOME "$ienv")"
check "still no SECRET_TOKEN" test -z "$(value_of SECRET_TOKEN "$ienv")"

# after a restart by the supervisor (which keeps its own environment)
old=$(greeter_pid envtest)
kill -9 "$old"
check "the supervisor restarts the instance" \
	wait_until 10 eval '[ -n "$(greeter_pid envtest)" ] && [ "$(greeter_pid envtest)" != "$old" ]'
ienv=$(env_of "$(greeter_pid envtest)")
check "a restarted instance has no SECRET_TOKEN either" test -z "$(value_of SECRET_TOKEN "$ienv")"
check_eq "and the same PATH" /opt/e2e/bin:/usr/bin "$(value_of PATH "$ienv")"

# a command is looked up in the instance's PATH, not in the deploying shell's
printf '#!/bin/sh\nexec sleep 600\n' >"$WORK/bin/only-in-shell-path" && chmod +x "$WORK/bin/only-in-shell-path"
cat >"$SVCCTL_MANIFESTS/pathtest.yaml" <<EOF
service: pathtest
run:
  command: [only-in-shell-path]
health:
  start_timeout: 2s
EOF
SERVICES+=(pathtest)
run_rc rc leaky deploy pathtest
diag "$OUT"
check_eq "a command only in the shell's PATH is not found (deploy exits 1)" 1 "$rc"
check "saying so" grep -q "exec of 'only-in-shell-path' failed: No such file or directory" <<<"$OUT"
rm -f "$SVCCTL_MANIFESTS/pathtest.yaml"

# ---- builds ----
CTX=$WORK/ctx
mkdir -p "$CTX"
printf '#!/bin/sh\nexec sleep 600\n' >"$CTX/run" && chmod +x "$CTX/run"
M=$WORK/bm
mkdir -p "$M"
# write_build [ENV-YAML]: service envbuild whose build prints its environment
write_build() {
	{
		echo "service: envbuild"
		echo "build:"
		echo "  context: ../ctx"
		echo "  command: [env]"
		[ -n "${1:-}" ] && echo "  env: $1"
		echo "run:"
		echo "  command: [./run]"
	} >"$M/envbuild.yaml"
}
# build_id: the artifact id of the last build in $OUT
build_id() { tail -n 1 <<<"$OUT" | grep -o '"id":"[0-9a-f]*"' | head -n 1 | grep -o '[0-9a-f]\{64\}'; }
# the build command's output (env's lines) from the --json step events
benv() { grep -o '"message":"| [^"]*"' <<<"$OUT" | sed 's/^"message":"| //; s/"$//' | sort; }

write_build
run_rc rc leaky --manifests "$M" --json build envbuild
check_eq "a build without build.env exits 0" 0 "$rc"
id0=$(build_id)
bout=$(benv)
check "SECRET_TOKEN of the shell is not in the build's environment" \
	test -n "$bout" -a -z "$(value_of SECRET_TOKEN "$bout")"
check_eq "the build's PATH is the fixed base" "$BASE_PATH" "$(value_of PATH "$bout")"
check_eq "and nothing else of the shell's" "HOME LANG PATH SVCCTL_ARTIFACT_ID SVCCTL_BUILD_DIR SVCCTL_SERVICE " \
	"$(names_of "$bout")"
# the id this build has always had (svcctl-artifact-1 over this context):
# adding build.env must not move the ids of builds without it
check_eq "a build without build.env keeps its artifact id" \
	c39a852537ce63a02bccad17846b663832f3d61cba48f5204559bd6f17fdd002 "$id0"
run_rc rc leaky --manifests "$M" build envbuild
check "built again: a cache hit" grep -q "already built" <<<"$OUT"

write_build '{BUILD_VAR: from-build-env, LANG: C}'
run_rc rc leaky --manifests "$M" --json build envbuild
check_eq "a build with build.env exits 0" 0 "$rc"
id1=$(build_id)
check "build.env changes the artifact id" test -n "$id1" -a "$id1" != "$id0"
bout=$(benv)
diag "$bout"
check "with build.env: still no SECRET_TOKEN" \
	test -n "$bout" -a -z "$(value_of SECRET_TOKEN "$bout")"
check_eq "PATH is the fixed base" "$BASE_PATH" "$(value_of PATH "$bout")"
check_eq "HOME is the user's home" "$WANT_HOME" "$(value_of HOME "$bout")"
check_eq "build.env's LANG wins over the base" C "$(value_of LANG "$bout")"
check_eq "build.env's variable is there" from-build-env "$(value_of BUILD_VAR "$bout")"
check_eq "SVCCTL_SERVICE is set" envbuild "$(value_of SVCCTL_SERVICE "$bout")"
check_eq "SVCCTL_ARTIFACT_ID is the artifact id" "$id1" "$(value_of SVCCTL_ARTIFACT_ID "$bout")"
check "SVCCTL_BUILD_DIR is the build folder" \
	grep -q "^$SVCCTL_STATE_DIR/builds/envbuild-" <<<"$(value_of SVCCTL_BUILD_DIR "$bout")"
check_eq "and nothing else" "BUILD_VAR HOME LANG PATH SVCCTL_ARTIFACT_ID SVCCTL_BUILD_DIR SVCCTL_SERVICE " \
	"$(names_of "$bout")"

write_build '{BUILD_VAR: other-value, LANG: C}'
run_rc rc leaky --manifests "$M" --json build envbuild
id2=$(build_id)
check "a changed build.env value changes the artifact id" test -n "$id2" -a "$id2" != "$id1"
write_build '{LANG: C, BUILD_VAR: other-value}'
run_rc rc leaky --manifests "$M" --json build envbuild
check_eq "build.env's order does not matter" "$id2" "$(build_id)"
write_build
run_rc rc leaky --manifests "$M" --json build envbuild
check_eq "without build.env again: the first id" "$id0" "$(build_id)"
check "a cache hit" grep -q '"cached":true' <<<"$(tail -n 1 <<<"$OUT")"

# the build command too is looked up in the build's PATH only
sed -i 's/command: \[env\]/command: [only-in-shell-path]/' "$M/envbuild.yaml"
run_rc rc leaky --manifests "$M" build envbuild
diag "$OUT"
check_eq "a build command only in the shell's PATH is not found (exit 1)" 1 "$rc"
check "saying so" grep -q "cannot run 'only-in-shell-path': No such file or directory" <<<"$OUT"
write_build '{BUILD_VAR: x, PATH: /usr/bin:/bin:'"$WORK"'/bin}'
sed -i 's/command: \[env\]/command: [only-in-shell-path]/' "$M/envbuild.yaml"
sed -i 's/exec sleep 600/echo found-in-build-path/' "$WORK/bin/only-in-shell-path"
run_rc rc leaky --manifests "$M" build envbuild
check_eq "with build.env's PATH naming its folder, it is found" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"

# a bad build.env is a manifest error
write_build '{1BAD: x, SVCCTL_SERVICE: y}'
run_rc rc leaky --manifests "$M" validate
diag "$OUT"
check_eq "validate of a bad build.env exits 3" 3 "$rc"
check "an invalid name is refused" grep -q "envbuild.yaml:5:9: build.env: invalid variable name '1BAD'" <<<"$OUT"
check "a name svcctl sets is refused" \
	grep -q "envbuild.yaml:5:18: build.env.SVCCTL_SERVICE: 'SVCCTL_SERVICE' is set by svcctl" <<<"$OUT"

finish
