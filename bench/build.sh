#!/bin/bash
# bench/build.sh - the builder's two speed goals:
#  1. hashing a 200 MB context (200 files of 1 MiB and 1,000 small ones,
#     random bytes) with svc_tree_walk: goal >= 500 MB/s. Five rounds after
#     one warm-up round (the page cache holds the files, as it does for a
#     context that was just edited); the median counts.
#  2. a no-op `svcctl build --all` of 100 services whose artifacts are all
#     built already (each with its own small context and a locked dependency
#     on one git repository): goal < 1 s. Five runs after the first (real)
#     build; the median counts.
# Prints PASS or FAIL per goal and exits 1 when one fails. Everything lives
# in a temp folder removed at the end.
#
# Environment: BUILD (build dir, default the source dir).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SVCCTL=${SVCCTL:-$BUILD/svcctl}
HASHTREE=${HASHTREE:-$BUILD/bench/hashtree}
need "$SVCCTL" "$HASHTREE" git
status=0

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== hashing a 200 MB context"
ctx=$BENCH_TMP/ctx
mkdir -p "$ctx/big" "$ctx/small"
for i in $(seq 1 200); do head -c 1048576 /dev/urandom >"$ctx/big/f$i"; done
for i in $(seq 1 1000); do head -c 512 /dev/urandom >"$ctx/small/s$i"; done
"$HASHTREE" "$ctx" 6 | tee "$BENCH_TMP/hash.out" | sed 's/^/  /'
rate=$(tail -n 5 "$BENCH_TMP/hash.out" | sed 's/.*mb_per_s=\([0-9]*\).*/\1/' | median)
if [ "$rate" -ge 500 ]; then verdict=PASS; else verdict=FAIL; status=1; fi
echo "hash: median ${rate} MB/s (goal >= 500): $verdict"
rm -rf "$ctx"

echo "== no-op build of 100 cached services"
lib=$BENCH_TMP/lib
git init -q "$lib"
echo v1 >"$lib/lib.txt"
git -C "$lib" add -A
GIT_CONFIG_GLOBAL=/dev/null git -C "$lib" -c user.name=b -c user.email=b@example.invalid \
	-c commit.gpgsign=false commit -q -m v1
git -C "$lib" tag v1
export SVCCTL_STATE_DIR=$BENCH_TMP/state SVCCTL_MANIFESTS=$BENCH_TMP/manifests
mkdir -p "$SVCCTL_MANIFESTS"
for i in $(seq -w 1 100); do
	mkdir -p "$BENCH_TMP/src/s$i/lib"
	for f in main.c util.c util.h Makefile README; do echo "$f of s$i" >"$BENCH_TMP/src/s$i/$f"; done
	cat >"$SVCCTL_MANIFESTS/s$i.yaml" <<YAML
service: s$i
build:
  context: ../src/s$i
  command: ["true"]
  dependencies:
    - {name: lib, git: ../lib, ref: v1, into: vendor/lib}
run:
  command: [./main]
YAML
done
"$SVCCTL" -q lock --all
t0=$(date +%s%N)
"$SVCCTL" -q build --all --jobs 2
echo "  first build (real): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
: >"$BENCH_TMP/noop.ms"
for run in 1 2 3 4 5; do
	t0=$(date +%s%N)
	"$SVCCTL" build --all >"$BENCH_TMP/noop.out"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	grep -q "build: 0 built, 100 already built, 0 failed" "$BENCH_TMP/noop.out" || {
		echo "run $run did not find every artifact built:"; tail -n 3 "$BENCH_TMP/noop.out"
		exit 1
	}
	echo "  run $run: $ms ms"
	echo "$ms" >>"$BENCH_TMP/noop.ms"
done
ms=$(median <"$BENCH_TMP/noop.ms")
if [ "$ms" -lt 1000 ]; then verdict=PASS; else verdict=FAIL; status=1; fi
echo "no-op build of 100 services: median $ms ms (goal < 1000): $verdict"
exit $status
