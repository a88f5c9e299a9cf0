#!/bin/bash
# bench/soak.sh - the soak of issue 9 at full length: tests/e2e/soak.sh
# with DEPLOYS (default 100) consecutive deploys under 8 new-connection and
# 8 keep-alive clients (CI runs the same test with 20). Prints the
# machine, the test's TAP output and a summary: deploys by kind, time,
# requests of each kind, the router's RSS and open files at the start and
# the end. Exits with the test's status.
#
# Needs a build (`scripts/build plain`, then BUILD=_build/plain): svcctl,
# examples/greeter/greeter and tests/tools/hammer from it. Everything runs
# in the test's private state dir and is stopped at the end; LOGS=DIR keeps
# the logs (each deploy's output and times, hammer's, the router's).
set -uo pipefail
# the test runs in its own folder: a relative BUILD is made absolute
if [ -n "${BUILD:-}" ]; then
	BUILD=$(cd "$BUILD" && pwd) || exit 1
fi
source "$(dirname "$0")/lib.sh"

DEPLOYS=${DEPLOYS:-100}
SVCCTL=${SVCCTL:-$BUILD/svcctl}
HAMMER=${HAMMER:-$BUILD/tests/tools/hammer}
need "$SVCCTL" "$GREETER" "$HAMMER"
logs=${LOGS:-$BENCH_TMP/logs}

machine_info
echo "build:  $BUILD"
echo "soak:   $DEPLOYS deploys"
echo
t0=$(date +%s)
# the environment `make check` gives the tests (AM_TESTS_ENVIRONMENT)
SVCCTL=$SVCCTL GREETER=$GREETER HAMMER=$HAMMER TOP_SRCDIR=$TOP TESTDATA=$TOP/tests/data \
	SOAK_DEPLOYS=$DEPLOYS SOAK_LOG_DIR=$logs \
	bash "$TOP/tests/e2e/soak.sh" 2>&1 | tee "$BENCH_TMP/soak.tap"
rc=${PIPESTATUS[0]}
t1=$(date +%s)

echo
echo "== result: $([ "$rc" = 0 ] && echo PASS || echo FAIL) (exit $rc), $((t1 - t0)) s in all"
grep -c '^ok' "$BENCH_TMP/soak.tap" | sed 's/^/checks passed: /'
grep -c '^not ok' "$BENCH_TMP/soak.tap" | sed 's/^/checks failed: /'
if [ -f "$logs/summary" ]; then
	cat "$logs/summary"
	h=$(sed -n 's/^hammer //p' "$logs/summary")
	for f in requests failed new_requests new_failed keepalive_requests keepalive_failed \
		keepalive_retried keepalive_connects; do
		printf '%-20s %s\n' "$f" "$(sed -n "s/.* $f \([0-9]*\).*/\1/p" <<<" $h")"
	done
fi
[ -n "${LOGS:-}" ] && echo "logs in $logs"
exit "$rc"
