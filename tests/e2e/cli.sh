#!/bin/bash
# The command line itself: help, version, usage errors, validate (every
# error as file:line:col), exit codes, --json results, and that bad input
# changes nothing that was running.
. "$(dirname "$0")/lib.sh"

run_rc rc svcctl --help
check_eq "--help exits 0" 0 "$rc"
check "--help lists the exit codes" grep -q "4  another operation holds this service's lock" <<<"$OUT"
for c in validate deploy promote rollback status history logs stop router; do
	run_rc rc svcctl "$c" --help
	check "'$c --help' exits 0 and shows usage" test "$rc" = 0 -a -n "$(grep -i 'usage: svcctl '"$c" <<<"$OUT")"
done
run_rc rc svcctl --version
check "--version prints the version" grep -q "^svcctl [0-9]" <<<"$OUT"
run_rc rc svcctl frobnicate
check_eq "an unknown command exits 2" 2 "$rc"
run_rc rc svcctl
check_eq "no command exits 2" 2 "$rc"
run_rc rc svcctl deploy
check_eq "deploy without a service exits 2" 2 "$rc"
run_rc rc svcctl deploy greeter --bogus
check_eq "an unknown option exits 2" 2 "$rc"
run_rc rc svcctl status 'Bad/Name'
check_eq "an invalid service name exits 2" 2 "$rc"

# validate: every error, with positions and key paths
ADDR=127.0.0.1:$(pick_port)
write_manifest greeter 1.0.0 "$ADDR"
run_rc rc svcctl validate
check_eq "a good manifest validates" 0 "$rc"
cat >"$WORK/bad.yaml" <<'YAML'
service: Bad_Name
replicas: 0
run:
  command: [./x]
  colour: red
health:
  interval: 5x
YAML
run_rc rc svcctl validate "$WORK/bad.yaml"
diag "$OUT"
check_eq "validate of a bad manifest exits 3" 3 "$rc"
check "bad service name at 1:10" grep -q "bad.yaml:1:10: .*service" <<<"$OUT"
check "replicas out of range at 2:11" grep -q "bad.yaml:2:11: .*replicas" <<<"$OUT"
check "unknown key at 5:3" grep -q "bad.yaml:5:3: .*colour" <<<"$OUT"
check "bad duration with its key path at 7:13" grep -q "bad.yaml:7:13: .*health.interval" <<<"$OUT"
run_rc rc svcctl --json validate "$WORK/bad.yaml"
check "validate --json lists the errors" grep -q '"errors":\[{' <<<"$OUT"

# two services on one address: a cross-file error
cp "$SVCCTL_MANIFESTS/greeter.yaml" "$WORK/dup.yaml"
sed -i 's/^service: greeter/service: twin/' "$WORK/dup.yaml"
run_rc rc svcctl validate "$SVCCTL_MANIFESTS" "$WORK/dup.yaml"
check_eq "two services on one listen address exits 3" 3 "$rc"
check "the conflict names the address" grep -q "$ADDR" <<<"$OUT"

# bad input changes nothing that runs
svcctl -q deploy greeter
pids=$(instance_pids greeter)
printf 'service: greeter\nreplicas: two\n' >"$SVCCTL_MANIFESTS/greeter.yaml"
run_rc rc svcctl deploy greeter
diag "$OUT"
check_eq "deploy of an invalid manifest exits 3" 3 "$rc"
check "the error has file:line:col" grep -q "greeter.yaml:2:11:" <<<"$OUT"
check_eq "v1 still serves" 1.0.0 "$(version_at "$ADDR")"
check_eq "and its instances are untouched" "$pids" "$(instance_pids greeter)"
# --json: step events, then one result object with the exit code
write_manifest greeter 1.1.0 "$ADDR"
run_rc rc svcctl deploy nosuch
check_eq "deploy of a service with no manifest exits 2" 2 "$rc"
run_rc rc svcctl --json deploy greeter
check_eq "deploy --json exits 0" 0 "$rc"
check "every line is a JSON object" test -z "$(grep -v '^{.*}$' <<<"$OUT")"
check "step events come first" grep -q '"event":"step"' <<<"$(head -n 1 <<<"$OUT")"
check "the last line is the result with exit_code 0" \
	grep -q '"event":"result".*"exit_code":0' <<<"$(tail -n 1 <<<"$OUT" | sed 's/"exit_code":0/&/')"
run_rc rc svcctl --json history greeter
check "history --json lists releases" grep -q '"releases":\[' <<<"$OUT"

# a runtime that is not available (no swarm manager answers): exit 5, nothing changed
printf 'service: boxed\nruntime: swarm\nrun:\n  image: boxed:1\n' >"$SVCCTL_MANIFESTS/boxed.yaml"
run_rc rc env DOCKER_HOST="unix://$WORK/no-such.sock" "$SVCCTL" deploy boxed
diag "$OUT"
check_eq "deploy with an unavailable runtime exits 5" 5 "$rc"
check "it names the engine it could not reach" grep -q "cannot reach the Docker engine at unix://$WORK/no-such.sock" <<<"$OUT"
rm -f "$SVCCTL_MANIFESTS/boxed.yaml"
check_eq "greeter still serves" 1.1.0 "$(version_at "$ADDR")"

# logs
run_rc rc svcctl logs greeter
check "logs show the instances' output" grep -q "greeter 1.1.0 listening" <<<"$OUT"

# stop: instances gone, route removed, history kept
run_rc rc svcctl stop greeter
check_eq "stop exits 0" 0 "$rc"
check "the address refuses after stop" wait_until 5 refuses "$ADDR"
check "history is kept after stop" grep -q "1.1.0" <<<"$(svcctl history greeter)"
check "status shows no instances" grep -q "no instances" <<<"$(svcctl status greeter)"

finish
