#!/bin/bash
# tests/fuzz/run.sh - run libFuzzer harnesses over copies of their seed
# corpora; what `make fuzz` runs (see Makefile.am).
#
#   run.sh -s SECONDS -c FUZZDIR -w WORKDIR [-j JOBS] HARNESS...
#
# One job per harness, except fuzz_state: one job per entry of the state
# file table (the harness lists the entries' patterns when FUZZ_STATE_LIST
# is set; FUZZ_STATE_FILE=PATTERN picks one), so a new state file is
# fuzzed without editing anything here. Job NAME's seeds are
# FUZZDIR/corpus/NAME/ (NAME: "manifest", "lockfile", "control", "state/SLUG" where
# SLUG is the pattern with every character outside [A-Za-z0-9._-] turned
# into '_'), its dictionary FUZZDIR/H.dict for harness fuzz_H (manifest,
# lockfile, control, state) when there is one. Each job
# works in WORKDIR/NAME/: corpus/ (a copy of the seeds, grown by the run),
# artifacts/ (crash-*, leak-*, timeout-*, oom-*: the failing inputs) and
# log. Nothing is written under FUZZDIR.
#
# SECONDS 0 only replays the seeds (-runs=0). Up to JOBS jobs run at once
# (default 1). Prints "PASS: NAME (...)" or "FAIL: NAME ..." per job with
# the failing input's path and the log's tail, writes the same lines to
# WORKDIR/results, and exits 1 when any job failed.
set -uo pipefail

seconds=30
fuzzdir=
work=
jobs=1
while getopts s:c:w:j: opt; do
	case $opt in
	s) seconds=$OPTARG ;;
	c) fuzzdir=$OPTARG ;;
	w) work=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ -z "$fuzzdir" ] || [ -z "$work" ] || [ $# -eq 0 ]; then
	echo "usage: run.sh -s SECONDS -c FUZZDIR -w WORKDIR [-j JOBS] HARNESS..." >&2
	exit 2
fi
case $seconds in ''|*[!0-9]*) echo "run.sh: -s wants whole seconds" >&2; exit 2 ;; esac
case $jobs in ''|*[!0-9]*|0) echo "run.sh: -j wants a positive number" >&2; exit 2 ;; esac

# Our options, not the caller's: reports on stderr (the log), leaks
# checked, UBSan fatal with a stack (the build has -fno-sanitize-recover).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
unset LSAN_OPTIONS
sym=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$sym" ] && export ASAN_SYMBOLIZER_PATH=$sym

rm -rf "$work" && mkdir -p "$work" || exit 1
results=$work/results
: >"$results"
names=()

# job NAME HARNESS DICT [PATTERN]: one run, its verdict in WORKDIR/NAME/result.
job() {
	local name=$1 harness=$2 dict=$3 pattern=${4:-} dir=$work/$1 args rc art stats
	mkdir -p "$dir/corpus" "$dir/artifacts"
	if [ -d "$fuzzdir/corpus/$name" ]; then
		find "$fuzzdir/corpus/$name" -maxdepth 1 -type f -exec cp {} "$dir/corpus/" \;
	fi
	args=(-artifact_prefix="$dir/artifacts/" -timeout=25 -rss_limit_mb=2048
	      -print_final_stats=1)
	[ -f "$dict" ] && args+=(-dict="$dict")
	if [ "$seconds" -eq 0 ]; then
		args+=(-runs=0)
	else
		args+=(-max_total_time="$seconds")
	fi
	FUZZ_STATE_FILE=$pattern "$harness" "${args[@]}" "$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	stats=$(grep -a -E '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -n 1 |
		sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/\1 runs, /; s/ +/ /g')
	art=$(find "$dir/artifacts" -type f | head -n 5)
	if [ "$rc" -eq 0 ] && [ -z "$art" ] &&
	   ! grep -a -q -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$dir/log"; then
		echo "PASS: $name (${stats:-no stats}; $(find "$dir/corpus" -type f | wc -l) inputs)" >"$dir/result"
		return 0
	fi
	{
		echo "FAIL: $name (exit $rc; log $dir/log)"
		for a in $art; do echo "  failing input: $a"; done
		[ -z "$art" ] && echo "  no input saved: see the log"
		grep -a -E -m 3 'ERROR: |runtime error:|broken promise' "$dir/log" | sed 's/^/  /'
	} >"$dir/result"
	return 1
}

running=0
start=$SECONDS
for h in "$@"; do
	base=$(basename "$h")
	if [ ! -x "$h" ]; then
		echo "FAIL: ${base#fuzz_} (no harness $h)" >>"$results"
		continue
	fi
	if [ "$base" = fuzz_state ]; then
		patterns=$(FUZZ_STATE_LIST=1 "$h" 2>/dev/null) || patterns=
		if [ -z "$patterns" ]; then
			echo "FAIL: state (fuzz_state listed no state files)" >>"$results"
			continue
		fi
	else
		patterns=-
	fi
	while IFS= read -r p; do
		if [ "$p" = - ]; then
			name=${base#fuzz_}
			p=
		else
			name=state/$(printf '%s' "$p" | tr -c 'A-Za-z0-9._-' '_')
		fi
		if [ "$running" -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
		names+=("$name")
		job "$name" "$h" "$fuzzdir/${base#fuzz_}.dict" "$p" &
		running=$((running + 1))
	done <<<"$patterns"
done
wait
for n in "${names[@]}"; do
	cat "$work/$n/result" 2>/dev/null || echo "FAIL: $n (no verdict)"
done >>"$results"
cat "$results"
echo "fuzz: ${#names[@]} jobs of ${seconds} s, $jobs at once, in $((SECONDS - start)) s"
! grep -q '^FAIL' "$results"
