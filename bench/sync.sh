#!/bin/bash
# bench/sync.sh - GitOps passes over a local repository of N services
# (default 100; issue 10): the whole `svcctl sync` command for a pass that
# changes nothing (target: under 1 s), and for a commit that changes one
# service, against `svcctl deploy` of the same change from a clone (target:
# the pass adds under 100 ms). Each service is one process (`sleep`, no
# port, health "running"), so what is timed is svcctl's own work: fetch,
# export, load, plan, deploy. RUNS (default 5) passes of each kind; the
# median is printed.
#
# Needs a build (BUILD=_build/plain: its svcctl). Everything runs in a
# private state dir and is stopped at the end (svcctl stop, by service).
set -uo pipefail
if [ -n "${BUILD:-}" ]; then
	BUILD=$(cd "$BUILD" && pwd) || exit 1
fi
source "$(dirname "$0")/lib.sh"

N=${N:-100}
RUNS=${RUNS:-5}
SVCCTL=${SVCCTL:-$BUILD/svcctl}
need "$SVCCTL" "$GREETER" git curl openssl
export SVCCTL_STATE_DIR=$BENCH_TMP/state HOME=$BENCH_TMP GIT_CONFIG_NOSYSTEM=1
REPO=$BENCH_TMP/repo
git() { command git -c user.name=bench -c user.email=bench@example.org "$@"; }

manifest() { # NAME VERSION
	printf 'service: %s\nversion: "%s"\nreplicas: 1\nrun:\n  workdir: /\n  command: [sleep, "86400"]\n  stop_timeout: 1s\nrollout:\n  drain_timeout: 0s\n  keep_previous: 0s\n' "$1" "$2"
}

stop_all() {
	local i
	[ -n "${WPID:-}" ] && kill -TERM "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
	for i in $(seq 1 "$N"); do "$SVCCTL" -q stop "s$i" >/dev/null 2>&1; done
	"$SVCCTL" -q stop web >/dev/null 2>&1
	"$SVCCTL" -q router stop >/dev/null 2>&1
}
trap 'stop_all; bench_cleanup' EXIT

ms() { date +%s%N | cut -c1-13; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

machine_info
echo "services: $N, runs: $RUNS"
git init -q -b main "$REPO" && mkdir -p "$REPO/manifests"
for i in $(seq 1 "$N"); do manifest "s$i" 1 >"$REPO/manifests/s$i.yaml"; done
git -C "$REPO" add -A && git -C "$REPO" commit -qm "$N services"

t0=$(ms)
"$SVCCTL" -q sync --repo "$REPO" --jobs 4 >/dev/null || { echo "the first pass failed"; exit 1; }
echo "first pass (deploys $N services, --jobs 4): $(( $(ms) - t0 )) ms"

noop=()
for r in $(seq 1 "$RUNS"); do
	t0=$(ms)
	"$SVCCTL" -q sync --repo "$REPO" >/dev/null || { echo "a no-op pass failed"; exit 1; }
	noop+=($(( $(ms) - t0 )))
done
echo "no-op pass: ${noop[*]} ms; median $(printf '%s\n' "${noop[@]}" | median) ms (target < 1000)"

# one service changed per commit: the pass, then the same kind of change by
# `svcctl deploy` from a working tree of the same repository
one=()
dep=()
CLONE=$BENCH_TMP/clone
git clone -q "$REPO" "$CLONE"
for r in $(seq 1 "$RUNS"); do
	manifest s1 "p$r" >"$REPO/manifests/s1.yaml"
	git -C "$REPO" commit -qam "s1 p$r"
	t0=$(ms)
	"$SVCCTL" -q sync --repo "$REPO" >/dev/null || { echo "a one-service pass failed"; exit 1; }
	one+=($(( $(ms) - t0 )))
	manifest s2 "d$r" >"$CLONE/manifests/s2.yaml"
	t0=$(ms)
	"$SVCCTL" -q --manifests "$CLONE/manifests" deploy s2 >/dev/null || { echo "deploy failed"; exit 1; }
	dep+=($(( $(ms) - t0 )))
done
mo=$(printf '%s\n' "${one[@]}" | median)
md=$(printf '%s\n' "${dep[@]}" | median)
echo "pass changing one service: ${one[*]} ms; median $mo ms"
echo "svcctl deploy of one service: ${dep[*]} ms; median $md ms"
echo "the pass adds: $((mo - md)) ms (target < 100)"

# ---- the watcher: commit to switch ----
INTERVAL=${INTERVAL:-5s}
WEB=127.0.0.1:$(free_port)
HOOKP=$(free_port)
SECRET=$BENCH_TMP/hook.secret
openssl rand -hex 32 >"$SECRET"
mkdir -p "$REPO/bin" && cp "$GREETER" "$REPO/bin/greeter"
web() { # VERSION
	printf 'service: web\nversion: "%s"\nreplicas: 1\nrun:\n  workdir: ../bin\n  command: [./greeter, --port, "${PORT}"]\n  env: {VERSION: "${VERSION}"}\n  stop_timeout: 1s\nports:\n  - listen: %s\nhealth:\n  http: /health\n  interval: 50ms\n  healthy_threshold: 1\nrollout:\n  drain_timeout: 0s\n  keep_previous: 0s\n' "$1" "$WEB"
}
serving() { # VERSION: wait (10 ms steps, up to 60 s) until the router serves it
	local i
	for i in $(seq 1 6000); do
		[ "$(curl -s --max-time 1 "http://$WEB/" | sed -n 's/.*from greeter \([^ ]*\) .*/\1/p')" = "$1" ] && return 0
		sleep 0.01
	done
	return 1
}
hook() {
	local body=$BENCH_TMP/push.json sig
	printf '{"ref":"refs/heads/main"}' >"$body"
	sig=$(openssl dgst -sha256 -hmac "$(head -c -1 "$SECRET")" -r <"$body" | cut -d' ' -f1)
	curl -s -o /dev/null --max-time 10 -X POST -H "X-Hub-Signature-256: sha256=$sig" \
		--data-binary "@$body" "http://127.0.0.1:$HOOKP/hooks/git"
}
watcher() { # OPTIONS...
	"$SVCCTL" -q sync --watch --repo "$REPO" "$@" >"$BENCH_TMP/watch.log" 2>&1 &
	WPID=$!
}
web w0 >"$REPO/manifests/web.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "web w0"
watcher --interval 1h --listen "127.0.0.1:$HOOKP" --secret-file "$SECRET"
serving w0 || { echo "the watcher did not deploy web"; cat "$BENCH_TMP/watch.log"; exit 1; }
lat=()
for r in $(seq 1 "$RUNS"); do
	web "h$r" >"$REPO/manifests/web.yaml"
	t0=$(ms)
	git -C "$REPO" commit -qam "web h$r"
	hook
	serving "h$r" || { echo "webhook: h$r never served"; exit 1; }
	lat+=($(( $(ms) - t0 )))
done
echo "commit to switch through a webhook: ${lat[*]} ms; median $(printf '%s\n' "${lat[@]}" | median) ms (target < 1000 + 50 ms health)"
kill -TERM "$WPID"; wait "$WPID"
watcher --interval "$INTERVAL"
sleep 1
lat=()
for r in $(seq 1 "$RUNS"); do
	web "p$r" >"$REPO/manifests/web.yaml"
	t0=$(ms)
	git -C "$REPO" commit -qam "web p$r"
	serving "p$r" || { echo "polling: p$r never served"; exit 1; }
	lat+=($(( $(ms) - t0 )))
done
echo "commit to switch through polling every $INTERVAL: ${lat[*]} ms; median $(printf '%s\n' "${lat[@]}" | median) ms (target < $INTERVAL + 1000 + 50 ms health)"
