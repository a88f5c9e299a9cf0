#!/bin/bash
# Manifests are regular files: a fifo named on the command line, and
# *.yaml entries of the manifests folder that are symlinks to a fifo, to
# /dev/zero or to nothing, are errors that name them (exit 3), found at
# once: nothing waits for a writer or reads forever. A symlink to a
# regular file is a manifest like any other.
. "$(dirname "$0")/lib.sh"

ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR"

# ---- a fifo on the command line ----
mkfifo "$WORK/pipe.yaml"
run_rc rc timeout 10 "$SVCCTL" validate "$WORK/pipe.yaml"
diag "$OUT"
check_eq "validate of a fifo exits 3 at once (124: it hung)" 3 "$rc"
check "the error names the fifo" grep -q "$WORK/pipe.yaml: .*not a regular file (a fifo)" <<<"$OUT"

run_rc rc timeout 10 "$SVCCTL" --manifests "$WORK/pipe.yaml" deploy greeter
diag "$OUT"
check_eq "deploy with a fifo as the manifests exits 3 at once" 3 "$rc"
check "deploy names the fifo" grep -q "$WORK/pipe.yaml: .*not a regular file (a fifo)" <<<"$OUT"
check "nothing was deployed" test ! -e "$SVCCTL_STATE_DIR/services/greeter/current.json"

run_rc rc timeout 10 "$SVCCTL" validate /dev/zero
check_eq "validate of /dev/zero exits 3 at once" 3 "$rc"
check "the error names it (a character device)" \
	grep -q "/dev/zero: .*not a regular file (a character device)" <<<"$OUT"

# ---- entries of the manifests folder ----
DIR=$WORK/folder
mkdir -p "$DIR"
cp "$SVCCTL_MANIFESTS/greeter.yaml" "$WORK/greeter-target.yaml"
ln -s "$WORK/greeter-target.yaml" "$DIR/good.yaml"
run_rc rc timeout 10 "$SVCCTL" validate "$DIR"
diag "$OUT"
check_eq "a symlink to a regular file validates" 0 "$rc"
check "and counts as a file" grep -q "^1 file, 1 service, 0 errors" <<<"$OUT"

ln -s "$WORK/pipe.yaml" "$DIR/to-fifo.yaml"
ln -s /dev/zero "$DIR/to-zero.yml"
ln -s "$WORK/nothing-here.yaml" "$DIR/dangling.yaml"
run_rc rc timeout 10 "$SVCCTL" validate "$DIR"
diag "$OUT"
check_eq "a folder with a fifo, /dev/zero and a dangling symlink exits 3 at once" 3 "$rc"
check "the symlink to the fifo is an error naming it" \
	grep -q "$DIR/to-fifo.yaml: .*not a regular file (a fifo)" <<<"$OUT"
check "the symlink to /dev/zero is an error naming it" \
	grep -q "$DIR/to-zero.yml: .*not a regular file (a character device)" <<<"$OUT"
check "the dangling symlink is an error naming it" \
	grep -q "$DIR/dangling.yaml: .*dangling symlink to '$WORK/nothing-here.yaml'" <<<"$OUT"
check "every entry is counted, each bad one an error" \
	grep -q "^4 files, 1 service, 3 errors" <<<"$OUT"
run_rc rc timeout 10 "$SVCCTL" --json validate "$DIR"
check_eq "validate --json exits 3 too" 3 "$rc"
check "--json lists the three errors" \
	test "$(grep -o '"message":"not a regular file\|"message":"dangling symlink' <<<"$OUT" | wc -l)" -eq 3

# a folder named like a manifest is no manifest either
mkdir "$WORK/folder2" "$WORK/folder2/sub.yaml"
run_rc rc timeout 10 "$SVCCTL" validate "$WORK/folder2"
check_eq "a folder named *.yaml in the manifests folder exits 3" 3 "$rc"
check "the error names it" grep -q "$WORK/folder2/sub.yaml: .*is a folder, not a manifest file" <<<"$OUT"

# deploy from a folder with such an entry: the other file's error is a
# warning (as for any other invalid manifest), and nothing blocks
rm -f "$DIR/good.yaml"
cp "$SVCCTL_MANIFESTS/greeter.yaml" "$DIR/greeter.yaml"
run_rc rc timeout 30 "$SVCCTL" --manifests "$DIR" deploy greeter
diag "$OUT"
check_eq "deploy from a folder holding a symlink to a fifo does not block" 0 "$rc"
check "and warns about the fifo by name" \
	grep -q "warning: $DIR/to-fifo.yaml: .*not a regular file (a fifo)" <<<"$OUT"
check_eq "greeter serves" 1.0.0 "$(version_at "$ADDR")"

# the service's own manifest replaced by a fifo: the deploy fails at once
rm -f "$DIR/greeter.yaml"
mkfifo "$DIR/greeter.yaml"
run_rc rc timeout 10 "$SVCCTL" --manifests "$DIR" deploy greeter
diag "$OUT"
check_eq "deploy whose manifest is now a fifo exits 3 at once" 3 "$rc"
check "naming it" grep -q "$DIR/greeter.yaml: .*not a regular file (a fifo)" <<<"$OUT"
check_eq "greeter still serves" 1.0.0 "$(version_at "$ADDR")"

finish
