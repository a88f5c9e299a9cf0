#!/bin/bash
# Every state file svcctl reads, corrupted every way (cut in half, emptied,
# `[]`, valid JSON of the wrong shape, deleted), one at a time, on a service
# with an active release, a warm one and one awaiting promotion. Each time
# status, deploy and rollback keep whatever serves serving (never a crash),
# status exits 3 naming the file when it cannot be read, and stop leaves
# no instance behind. The files come from the loaders' own table
# (`svcctl __state-files`), so a new state file is covered without editing
# this test. STATE_CORRUPT_RUNTIME=docker runs it on containers
# (state_corrupt_docker.sh).
. "$(dirname "$0")/lib.sh"

RUNTIME=${STATE_CORRUPT_RUNTIME:-process}
if [ "$RUNTIME" = docker ]; then
	need_docker
	IMAGE="svcctl-e2e-greeter:corrupt-$$"
	check "the example image builds FROM scratch" build_image "$IMAGE"
fi
ADDR=127.0.0.1:$(pick_port)
SVC=greeter
export REPLICAS=1

manifest() {
	if [ "$RUNTIME" = docker ]; then
		write_docker_manifest "$SVC" "$1" "$ADDR" "$IMAGE"
	else
		write_manifest "$SVC" "$1" "$ADDR"
	fi
}

# v1 warm, v2 active, v3 healthy and awaiting promotion: every file exists.
setup() {
	manifest 1.0.0 && svcctl -q deploy "$SVC" &&
	manifest 2.0.0 && svcctl -q deploy "$SVC" &&
	PROMOTE=manual manifest 3.0.0 && svcctl -q deploy "$SVC"
}

teardown() {
	svcctl -q stop "$SVC" >/dev/null 2>&1
	svcctl -q router stop >/dev/null 2>&1
	rm -rf "$SVCCTL_STATE_DIR"
}

active_release() {
	svcctl --json status "$SVC" | tail -n 1 |
		sed -n 's/.*"active": *{[^}]*"release": *"\([0-9a-f]*\)".*/\1/p'
}

# what runs for the service (pids of instances, by the runtime's own word)
running_pids() {
	if [ "$RUNTIME" = docker ]; then
		docker ps -q --filter "label=svcctl.service=$SVC" \
			--filter "label=svcctl.state_dir=$SVCCTL_STATE_DIR" | sort | tr '\n' ' '
	else
		local p
		for p in $(leftover_pids); do
			[ "$p" = "$(router_pid)" ] && continue
			[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$GREETER" ] && echo "$p"
		done | sort -n | tr '\n' ' '
	fi
}

corrupt() {
	local f=$1 kind=$2 size
	case $kind in
	half) size=$(stat -c %s "$f"); head -c $((size / 2)) "$f" >"$f.tmp" && mv "$f.tmp" "$f" ;;
	empty) : >"$f" ;;
	array) echo '[]' >"$f" ;;
	shape) echo '{"service": 42, "releases": {"a": 1}, "active": [true]}' >"$f" ;;
	delete) rm -f "$f" ;;
	esac
}

# the file a pattern names here: the active release's where there is a
# choice (the warm one's for files only warm instances have)
resolve() {
	local p=$1 rel=$2 f
	p=$(sed "s|^services/\*|services/$SVC|; s|releases/\*|releases/$rel|" <<<"$p")
	case $p in
	*/instances/\*/*)
		for f in "$SVCCTL_STATE_DIR/${p%%/instances/*}"/instances/"$SVC-${rel:0:12}"-*/"${p##*/}" \
			 "$SVCCTL_STATE_DIR/${p%%/instances/*}"/instances/*/"${p##*/}"; do
			[ -f "$f" ] && { echo "$f"; return; }
		done
		echo "$SVCCTL_STATE_DIR/$p" ;;
	*) echo "$SVCCTL_STATE_DIR/$p" ;;
	esac
}

FILES=()
while IFS=$'\t' read -r pattern owner; do
	# the process runtime's own files exist only for its instances
	[ "$RUNTIME" = docker ] && [ "$owner" = proc ] && continue
	# sync's records exist only for synced services; a pass that cannot read
	# them leaves the service alone (check_sync, tests/e2e/sync.sh)
	[ "$owner" = sync ] && continue
	# STATE_CORRUPT_ONLY=PATTERN: one file alone (for a look at one case)
	[ -n "${STATE_CORRUPT_ONLY:-}" ] && [ "$pattern" != "$STATE_CORRUPT_ONLY" ] && continue
	FILES+=("$pattern")
done < <(svcctl __state-files)
check "the loaders list their files" test "${#FILES[@]}" -ge 5

for pattern in "${FILES[@]}"; do
	for kind in half empty array shape delete; do
		what="$pattern ($kind)"
		teardown
		if ! setup; then
			not_ok "$what: set-up deploys"
			continue
		fi
		rel=$(active_release)
		f=$(resolve "$pattern" "$rel")
		if [ ! -f "$f" ]; then
			not_ok "$what: the file exists before it is corrupted ($f)"
			continue
		fi
		before=$(running_pids)
		corrupt "$f" "$kind"

		run_rc rc svcctl status "$SVC"
		case $pattern in
		services/\*/current.json|services/\*/history.json|services/\*/rollout.json|\
		*/instances/\*/spec.json)
			# records nothing rewrites behind svcctl: never readable like this
			if [ "$rc" = 3 ] && grep -qF "${f%.json}" <<<"$OUT"; then
				ok "$what: status exits 3 naming the file"
			else
				not_ok "$what: status exits 3 naming the file"
				diag "rc=$rc $OUT"
			fi ;;
		*)
			if [ "$rc" = 0 ] || [ "$rc" = 3 ]; then ok "$what: status exits 0 or 3"
			else not_ok "$what: status exits 0 or 3"; diag "rc=$rc $OUT"; fi ;;
		esac
		case $pattern in
		*/expire_at) ;;  # a cut expiry is still an expiry: the warm release may end now
		*) check_eq "$what: status stops and starts nothing" "$before" "$(running_pids)" ;;
		esac
		check_eq "$what: v2 serves after status" 2.0.0 "$(version_at "$ADDR")"

		manifest 4.0.0
		run_rc rc svcctl deploy "$SVC"
		case $rc in 0|1|3) ok "$what: deploy exits $rc, no crash" ;;
		*) not_ok "$what: deploy exits 0, 1 or 3"; diag "rc=$rc $OUT" ;; esac
		served=$(version_at "$ADDR")
		case $served in 2.0.0|4.0.0) ok "$what: something serves after deploy ($served)" ;;
		*) not_ok "$what: v2 or v4 serves after deploy"; diag "$served; $OUT" ;; esac

		run_rc rc svcctl rollback "$SVC"
		case $rc in 0|1|3) ok "$what: rollback exits $rc, no crash" ;;
		*) not_ok "$what: rollback exits 0, 1 or 3"; diag "rc=$rc $OUT" ;; esac
		served=$(version_at "$ADDR")
		case $served in none) not_ok "$what: something serves after rollback"; diag "$OUT" ;;
		*) ok "$what: something serves after rollback ($served)" ;; esac

		run_rc rc svcctl stop "$SVC"
		check_eq "$what: stop exits 0" 0 "$rc"
		[ "$rc" = 0 ] || diag "$OUT"
		wait_until 5 eval '[ -z "$(running_pids)" ]'
		check_eq "$what: nothing of the service runs after stop" "" "$(running_pids)"
		check "$what: nothing answers after stop" refuses "$ADDR"
	done
done
teardown
[ "$RUNTIME" = docker ] && docker rmi -f "$IMAGE" >/dev/null 2>&1
finish
