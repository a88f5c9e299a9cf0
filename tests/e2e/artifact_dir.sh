#!/bin/bash
# Where a built release runs (process runtime): a folder artifact
# (`artifact: out`) is the instances' working folder itself; a file
# artifact (`artifact: bin/run`) runs in the artifact's folder, beside the
# path it was built at; without `artifact`, the whole build folder.
. "$(dirname "$0")/lib.sh"

CTX=$WORK/ctx
mkdir -p "$CTX/src" "$WORK/m"
printf '#!/bin/sh\nexec sleep 600\n' >"$CTX/src/run" && chmod +x "$CTX/src/run"
echo data >"$CTX/src/data.txt"
export SVCCTL_MANIFESTS=$WORK/m

# write_svc SERVICE ARTIFACT COMMAND BUILD-COMMAND
write_svc() {
	cat >"$WORK/m/$1.yaml" <<EOF
service: $1
build:
  context: ../ctx
  command: $4
  artifact: $2
run:
  command: $3
health:
  interval: 100ms
rollout:
  keep_previous: 0s
  drain_timeout: 1s
EOF
	SERVICES+=("$1")
}

# cwd_of SERVICE: the working folder of its instance (the pid from status --json)
cwd_of() {
	local p
	for p in $(instance_pids "$1"); do
		[ "$(readlink "/proc/$p/exe")" = /usr/bin/sleep ] && { readlink "/proc/$p/cwd"; return 0; }
	done
	return 1
}
STORE=$SVCCTL_STATE_DIR/services

# ---- a folder artifact ----
write_svc folder out '[./run]' '[cp, -r, src, out]'
run_rc rc svcctl --json deploy folder
check_eq "deploy with a folder artifact exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
id=$(json_field artifact "$(tail -n 1 <<<"$OUT")")
cwd=$(cwd_of folder)
diag "cwd $cwd"
check_eq "the instance runs in the folder artifact itself" \
	"$STORE/folder/artifacts/$id/out" "$cwd"
check "the folder's files are there" test -f "$cwd/data.txt"

# the cached artifact runs there too (a new release of the same artifact)
sed -i 's/drain_timeout: 1s/drain_timeout: 2s/' "$WORK/m/folder.yaml"
run_rc rc svcctl --json deploy folder
check_eq "a second release of the cached artifact exits 0" 0 "$rc"
check "its artifact was cached" grep -q "already built" <<<"$OUT"
check_eq "and runs in the folder artifact too" "$STORE/folder/artifacts/$id/out" "$(cwd_of folder)"

# a nested folder artifact
mkdir -p "$CTX/pkg/out"
cp "$CTX/src/run" "$CTX/pkg/out/run"
write_svc nested pkg/out '[./run]' '[true]'
run_rc rc svcctl --json deploy nested
check_eq "deploy with a nested folder artifact exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
id=$(json_field artifact "$(tail -n 1 <<<"$OUT")")
check_eq "the instance runs in the nested folder" "$STORE/nested/artifacts/$id/pkg/out" "$(cwd_of nested)"

# ---- a file artifact: as before ----
write_svc file bin/run '[./bin/run]' '[cp, -r, src, bin]'
run_rc rc svcctl --json deploy file
check_eq "deploy with a file artifact exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
id=$(json_field artifact "$(tail -n 1 <<<"$OUT")")
cwd=$(cwd_of file)
check_eq "a file artifact runs in the artifact's folder" "$STORE/file/artifacts/$id" "$cwd"
check "with the file at its path" test -x "$cwd/bin/run" -a ! -e "$cwd/bin/data.txt"

# ---- no artifact: the whole build folder ----
write_svc whole x '[./src/run]' '[true]'
sed -i '/artifact: x/d' "$WORK/m/whole.yaml"
run_rc rc svcctl --json deploy whole
check_eq "deploy without build.artifact exits 0" 0 "$rc"
[ "$rc" = 0 ] || diag "$OUT"
id=$(json_field artifact "$(tail -n 1 <<<"$OUT")")
check_eq "it runs in the whole build folder" "$STORE/whole/artifacts/$id" "$(cwd_of whole)"

finish
