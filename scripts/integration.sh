#!/usr/bin/env bash
# Integration tests: a complete stack (real PostgreSQL, real nginx, the
# sanitizer build of every function) in a temporary directory, the Python
# test suite against it over HTTP, then a scan of every log for sanitizer
# reports and crashed workers. RALLY_HTTP_PORT picks the port (default 18080);
# RALLY_TEST_PROGRAM another program of tests/integration to run on the
# stack instead of the suite (make fuzz: fuzz.py).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=${BUILD:-build-san}
export RALLY_HTTP_PORT=${RALLY_HTTP_PORT:-18080} RALLY_GAMESERVER_PORT=${RALLY_GAMESERVER_PORT:-17700}
export RALLY_RATE_LIMIT=off RALLY_PG_FAST=1 RALLY_SWEEP_INTERVAL=1 RALLY_WORKERS=3
export RALLY_OUTBOX_MAX_ATTEMPTS=3 RALLY_MATCHMAKER_TICK_MS=200 RALLY_ALERT_FOR=0s
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
# What tests keep for people to look at (the console's screenshots).
export RALLY_ARTIFACT_DIR=${RALLY_ARTIFACT_DIR:-$TOP/$BUILD/artifacts}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
RUN=$(mktemp -d /tmp/rally-test.XXXXXX)
chmod 755 "$RUN"
# An operator's own SNS certificates, trusted beside the local signer's
# (test_events.OperatorCertificates puts one there).
mkdir -p "$RUN/operator-certs"
export RALLY_SNS_CERT_DIR="$RUN/operator-certs"

cleanup() {
    "$TOP/scripts/stack.sh" stop "$RUN" >/dev/null 2>&1 || true
    if [ "${KEEP_RUN:-0}" != 1 ]; then rm -rf "$RUN"; fi
}
trap cleanup EXIT

# npm jose, the independent JOSE implementation test_tokens checks tokens
# with, at the version package-lock.json pins.
if [ ! -d "$TOP/tests/integration/jose/node_modules/jose" ]; then
    (cd "$TOP/tests/integration/jose" && npm ci --no-audit --no-fund --loglevel=error)
fi

"$TOP/scripts/stack.sh" start "$RUN"
set +e
(. "$RUN/env" && cd "$TOP/tests/integration" && /usr/bin/python3 -u "${RALLY_TEST_PROGRAM:-run.py}" "$@")
rc=$?
set -e

# A sanitizer report or a crashed worker (a function's, or nginx's: "worker
# process N exited on signal S") fails the run even if every request looked
# right from outside.
CRASHES="AddressSanitizer|LeakSanitizer|runtime error:|crashed with signal|exited on signal"
# Game servers write to files of their own (agent/logs.h).
LOGS=("$RUN"/logs/*.log)
for d in "$RUN"/agents/*.logs; do [ -d "$d" ] && LOGS+=("$d"/*.log); done
if grep -l -E "$CRASHES" "${LOGS[@]}" >/dev/null 2>&1; then
    echo "integration: sanitizer or crash reports found:" >&2
    grep -n -E -A20 "$CRASHES" "${LOGS[@]}" | head -80 >&2
    rc=1
fi
if [ $rc -ne 0 ]; then
    echo "integration: FAILED (logs were in $RUN/logs)" >&2
    tail -n 20 "$RUN"/logs/*.log >&2 || true
fi
exit $rc
