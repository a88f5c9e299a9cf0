#!/bin/bash
# Separate builds per service pinned to exact dependency versions, with real
# git repositories made here: the shared-lib example (two services, one
# library at v1 and v2), lock files and moving tags, the artifact cache,
# parallel builds, failures that leave the active release serving, a
# symlink leaving the context, history, rollback to an artifact, deps and gc.
. "$(dirname "$0")/lib.sh"

shared_lib_example || { not_ok "the example's library repository is made"; finish; }
LIB=$WORK/shared-lib/libgreet.git
V1=$(git_in "$LIB" rev-parse v1)
V2=$(git_in "$LIB" rev-parse v2)

# ---- lock ----
run_rc rc svcctl lock hello-v1 hello-v2
diag "$OUT"
check_eq "lock exits 0" 0 "$rc"
check "hello-v1.lock is beside its manifest" test -f "$SVCCTL_MANIFESTS/hello-v1.lock"
check "hello-v1.lock pins v1's commit" grep -q "\"commit\": \"$V1\"" "$SVCCTL_MANIFESTS/hello-v1.lock"
check "hello-v2.lock pins v2's commit" grep -q "\"commit\": \"$V2\"" "$SVCCTL_MANIFESTS/hello-v2.lock"

# ---- two services, two versions of one library ----
run_rc rc svcctl --json build --all --jobs 2
check_eq "build --all --jobs 2 exits 0" 0 "$rc"
last=$(tail -n 1 <<<"$OUT")
check "both were built (not cached)" test "$(grep -o '"cached":false' <<<"$last" | wc -l)" -eq 2
check "the source folder is untouched (no binary, no vendor/)" \
	test ! -e "$WORK/shared-lib/hello/hello" -a ! -e "$WORK/shared-lib/hello/vendor"
check "a log per build under the state dir" \
	test "$(ls "$SVCCTL_STATE_DIR"/services/hello-v*/builds/*.log | wc -l)" -eq 2

svcctl -q deploy hello-v1 && svcctl -q deploy hello-v2
body1=$(http_get "$HELLO1" /)
body2=$(http_get "$HELLO2" /)
diag "$body1"
diag "$body2"
check "hello-v1 answers with libgreet 1.0.0" grep -q "from hello-v1 (libgreet 1.0.0)" <<<"$body1"
check "hello-v2 answers with libgreet 2.0.0" grep -q "from hello-v2 (libgreet 2.0.0)" <<<"$body2"
cwd=
for p in $(instance_pids hello-v1); do   # the router's pid is listed too
	[[ "$(readlink "/proc/$p/exe")" == */hello ]] && cwd=$(readlink "/proc/$p/cwd")
done
check "instances run from the artifact, not the source tree" \
	grep -q "^$SVCCTL_STATE_DIR/services/hello-v1/artifacts/[0-9a-f]\{64\}$" <<<"$cwd"

# ---- the cache ----
run_rc rc svcctl build --all
diag "$OUT"
check_eq "a second build exits 0" 0 "$rc"
check_eq "both are cache hits, with a message" 2 "$(grep -c 'already built; build skipped' <<<"$OUT")"
run_rc rc svcctl deploy hello-v1
check "deploying the same inputs again is a no-op" grep -q "already active" <<<"$OUT"

# ---- a moved tag does not change a locked build ----
work=$WORK/libwork
git clone -q "$LIB" "$work"
git_in "$work" checkout -q -b fix v1
sed -i 's/"1.0.0"/"1.0.1"/' "$work/greet.c"
git_in "$work" commit -q -am "libgreet 1.0.1"
git_in "$work" tag -f v1 >/dev/null
git_in "$work" push -q -f origin v1
V1B=$(git_in "$LIB" rev-parse v1)
check "the tag v1 moved in the source repository" test "$V1B" != "$V1"
run_rc rc svcctl build hello-v1
check "with the lock, hello-v1 is still the cached v1 build" grep -q "already built" <<<"$OUT"
run_rc rc svcctl lock hello-v1 --update
check "lock --update follows the moved tag" grep -q "\"commit\": \"$V1B\"" "$SVCCTL_MANIFESTS/hello-v1.lock"
run_rc rc svcctl deploy hello-v1
check_eq "deploying after lock --update exits 0" 0 "$rc"
check "hello-v1 now answers with libgreet 1.0.1" grep -q "libgreet 1.0.1" <<<"$(http_get "$HELLO1" /)"
hist=$(svcctl history hello-v1)
diag "$hist"
check "history shows the pinned commit of each release" \
	grep -q "dependency libgreet v1 at ${V1B:0:12}" <<<"$hist"
check "history shows the earlier commit too" grep -q "dependency libgreet v1 at ${V1:0:12}" <<<"$hist"
check "status shows the active release's artifact" \
	grep -q "active .* artifact [0-9a-f]\{12\}" <<<"$(svcctl status hello-v1)"
check "history shows artifact ids" test "$(grep -cE '^[ *] +[0-9]+ [0-9a-f]{12} +[^ ]+ +[0-9a-f]{12} ' <<<"$hist")" -ge 2

# ---- rollback restores the artifact, also when it is not warm ----
svcctl -q stop hello-v1
run_rc rc svcctl rollback hello-v1 --to '#1'
diag "$OUT"
check_eq "cold rollback exits 0" 0 "$rc"
check "rollback runs the v1 artifact again (libgreet 1.0.0)" \
	grep -q "libgreet 1.0.0" <<<"$(http_get "$HELLO1" /)"

# ---- failures leave the active release serving ----
cp "$SVCCTL_MANIFESTS/hello-v2.yaml" "$WORK/hello-v2.yaml.good"
sed -i 's|vendor/libgreet/greet.c\]|vendor/libgreet/greet.c, no-such-file.c]|' "$SVCCTL_MANIFESTS/hello-v2.yaml"
run_rc rc svcctl deploy hello-v2
diag "$OUT"
check_eq "a failing build command: deploy exits 1" 1 "$rc"
check "the error shows the last lines of the build's log" grep -q "no-such-file.c" <<<"$OUT"
check "and names the log file" grep -q "log: $SVCCTL_STATE_DIR/services/hello-v2/builds/" <<<"$OUT"
check "hello-v2 still serves libgreet 2.0.0" grep -q "libgreet 2.0.0" <<<"$(http_get "$HELLO2" /)"
check "no release was attempted" test "$(svcctl history hello-v2 | grep -c 'deploy')" -eq 1

cp "$WORK/hello-v2.yaml.good" "$SVCCTL_MANIFESTS/hello-v2.yaml"
sed -i "s|git: ../libgreet.git|git: ../no-such-repo.git|" "$SVCCTL_MANIFESTS/hello-v2.yaml"
rm -f "$SVCCTL_MANIFESTS/hello-v2.lock"
run_rc rc svcctl deploy hello-v2
diag "$OUT"
check_eq "a missing dependency repository: deploy exits 1" 1 "$rc"
check "the error names the dependency and its location" \
	grep -q "dependency 'libgreet'.*no-such-repo.git" <<<"$OUT"
check "hello-v2 still serves" grep -q "libgreet 2.0.0" <<<"$(http_get "$HELLO2" /)"

cp "$WORK/hello-v2.yaml.good" "$SVCCTL_MANIFESTS/hello-v2.yaml"
sed -i "s|ref: v2|ref: v9|" "$SVCCTL_MANIFESTS/hello-v2.yaml"
run_rc rc svcctl lock hello-v2
check_eq "lock with a ref that does not resolve exits 1" 1 "$rc"
check "the error names the ref" grep -q "ref 'v9' not found" <<<"$OUT"
check "no lock file was written" test ! -e "$SVCCTL_MANIFESTS/hello-v2.lock"

cp "$WORK/hello-v2.yaml.good" "$SVCCTL_MANIFESTS/hello-v2.yaml"
svcctl -q lock hello-v2
sed -i "s|ref: v2|ref: main|" "$SVCCTL_MANIFESTS/hello-v2.yaml"
run_rc rc svcctl build hello-v2
diag "$OUT"
check_eq "a lock that no longer matches the manifest exits 3" 3 "$rc"
check "the error says what differs and what to run" \
	grep -q "libgreet: ref main in the manifest, v2 in the lock.*svcctl lock" <<<"$OUT"
cp "$WORK/hello-v2.yaml.good" "$SVCCTL_MANIFESTS/hello-v2.yaml"
sed -i "s/$V2/0123456789abcdef0123456789abcdef01234567/" "$SVCCTL_MANIFESTS/hello-v2.lock"
run_rc rc svcctl build hello-v2
diag "$OUT"
check_eq "a locked commit missing from its repository exits 1" 1 "$rc"
check "the error names the locked commit" grep -q "locked commit 0123456789ab" <<<"$OUT"
svcctl -q lock hello-v2 --update

# ---- deps ----
run_rc rc svcctl deps
diag "$OUT"
check_eq "deps exits 0" 0 "$rc"
check "deps lists libgreet at v1's new commit for hello-v1" \
	grep -qE "^libgreet +${V1B:0:12} +yes +v1 +hello-v1 " <<<"$OUT"
check "deps lists libgreet at v2 for hello-v2" \
	grep -qE "^libgreet +${V2:0:12} +yes +v2 +hello-v2 " <<<"$OUT"
run_rc rc svcctl --json deps
check "deps --json has both versions" \
	test "$(tail -n 1 <<<"$OUT" | grep -o '"commit":"[0-9a-f]*"' | wc -l)" -eq 2
run_rc rc svcctl deps unused
diag "$OUT"
check "deps unused lists the old v1 commit" grep -qE "^libgreet +${V1:0:12}" <<<"$OUT"

# ---- gc ----
run_rc rc svcctl gc --keep 1 --dry-run
diag "$OUT"
check "gc --dry-run deletes nothing" test -d "$SVCCTL_STATE_DIR/deps"
run_rc rc svcctl --json gc --keep 1
check_eq "gc exits 0" 0 "$rc"
gcout=$(tail -n 1 <<<"$OUT")
check "gc deleted the unused dependency version" grep -q "\"commit\":\"$V1\"" <<<"$gcout"
run_rc rc svcctl deps unused
check "nothing is unused after gc" grep -q "every cached dependency version is used" <<<"$OUT"
check "hello-v1's active artifact was kept" grep -q '"why":"active"' <<<"$gcout"
check "hello-v1 still serves after gc" grep -q "libgreet 1.0.0" <<<"$(http_get "$HELLO1" /)"

# ---- inputs: one byte rebuilds one service; --jobs gives the same ids ----
for s in alpha beta; do
	mkdir -p "$WORK/ctx-$s/sub"
	echo "$s" >"$WORK/ctx-$s/sub/data.txt"
	printf '#!/bin/sh\n' >"$WORK/ctx-$s/tool" && chmod +x "$WORK/ctx-$s/tool"
	mkdir -p "$WORK/m2"
	cat >"$WORK/m2/$s.yaml" <<EOF
service: $s
build:
  context: ../ctx-$s
  command: [cat, vendor/lib/greet.h]
  dependencies:
    - {name: libgreet, git: $LIB, ref: v2, into: vendor/lib}
run:
  command: [./tool]
EOF
done
ids() { svcctl --manifests "$WORK/m2" --json build --all "$@" | tail -n 1 |
	grep -o '"service":"[a-z]*"\|"id":"[0-9a-f]*"' | tr '\n' ' '; }
serial=$(SVCCTL_STATE_DIR=$WORK/state-serial ids)
parallel=$(SVCCTL_STATE_DIR=$WORK/state-parallel ids --jobs 2)
diag "$serial"
check "--jobs 2 gives the same artifact ids as a serial build" test "$serial" = "$parallel"
check "and they are real ids" grep -q '"id":"[0-9a-f]\{64\}"' <<<"$serial"
printf 'x' >>"$WORK/ctx-alpha/sub/data.txt"
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build --all
diag "$OUT"
check "one changed byte rebuilds that service" grep -q "^alpha: artifact .* built in" <<<"$OUT"
check "the build's output is shown as it comes" grep -q "^alpha: | /\* libgreet" <<<"$OUT"
check "and only that one" grep -q "^beta: artifact .* already built" <<<"$OUT"
chmod -x "$WORK/ctx-beta/tool"
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build beta
check "a changed execute bit is a changed input" grep -q "^beta: artifact .* built in" <<<"$OUT"

ln -s ../../../etc/passwd "$WORK/ctx-alpha/sub/leak"
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build alpha
diag "$OUT"
check_eq "a symlink pointing outside the context: exit 1" 1 "$rc"
check "the error names the link" grep -q "'sub/leak' is a symlink pointing outside the context" <<<"$OUT"
rm "$WORK/ctx-alpha/sub/leak"
ln -s data.txt "$WORK/ctx-alpha/sub/inside"
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build alpha
check_eq "a symlink inside the context is fine" 0 "$rc"

# builds of one service exclude each other; other services go on
cat >"$WORK/m2/slow.yaml" <<EOF
service: slow
build:
  context: ../ctx-beta
  command: [sleep, "3"]
run:
  command: [./tool]
EOF
SVCCTL_STATE_DIR=$WORK/state-serial "$SVCCTL" --manifests "$WORK/m2" -q build slow &
slow_pid=$!
BG_PIDS+=("$slow_pid")
wait_until 5 test -e "$WORK/state-serial/services/slow/build.lock"
sleep 0.5
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build slow
diag "$OUT"
check_eq "a second build of a service being built exits 4" 4 "$rc"
check "naming the build lock and its holder" \
	grep -q "holds the build lock of service 'slow' (pid $slow_pid: build)" <<<"$OUT"
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build beta
check_eq "meanwhile another service builds" 0 "$rc"
wait "$slow_pid"
check_eq "the first build finishes" 0 "$?"

# build.timeout stops a build and everything it started; so does a signal to svcctl
sleepers() {   # pids of `sleep $1`
	local p
	for p in /proc/[0-9]*; do
		[ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "sleep $1 " ] && echo "${p#/proc/}"
	done
}
for s in hang hang2; do
	cat >"$WORK/m2/$s.yaml" <<EOF
service: $s
build:
  context: ../ctx-beta
  command: [sleep, "${s/hang2/32.5}"]
run:
  command: [./tool]
EOF
done
sed -i 's/"hang"/"31.25"/; /^build:/a\  timeout: 1s' "$WORK/m2/hang.yaml"
t0=$(date +%s)
run_rc rc env SVCCTL_STATE_DIR="$WORK/state-serial" "$SVCCTL" --manifests "$WORK/m2" build hang
diag "$OUT"
check_eq "a build past build.timeout exits 1" 1 "$rc"
check "saying so" grep -q "did not finish within build.timeout (1s); it was stopped" <<<"$OUT"
check "soon after the timeout" test $(( $(date +%s) - t0 )) -lt 10
check_eq "and nothing it started is left" "" "$(sleepers 31.25)"
# signal_build SIGNAL: `build hang2` in the background (SIGINT back to its
# default: a script's background jobs ignore it), signalled once its sleep
# runs; prints svcctl's exit status
signal_build() {
	local pid
	SVCCTL_STATE_DIR=$WORK/state-serial env --default-signal=INT "$SVCCTL" \
		--manifests "$WORK/m2" -q build hang2 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 5 test -n "$(sleepers 32.5)"
	kill "-$1" "$pid"
	wait "$pid"
	echo "$?"
}
check_eq "svcctl build dies of SIGTERM" 143 "$(signal_build TERM)"
check "taking the build's processes with it" wait_until 3 test -z "$(sleepers 32.5)"
check_eq "svcctl build dies of Ctrl-C (SIGINT)" 130 "$(signal_build INT)"
check "taking the build's processes with it too" wait_until 3 test -z "$(sleepers 32.5)"

run_rc rc svcctl build no-such-service
check_eq "building an unknown service is a usage error" 2 "$rc"

finish
