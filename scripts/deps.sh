#!/usr/bin/env bash
# Installs the Debian 12 packages rally needs to build, run and test, if any
# are missing. Needs root (or sudo) only when something must be installed.
#   scripts/deps.sh          what make, make run, make test and make bench need
#   scripts/deps.sh --dev    also the format and lint tools (CI runs both)
set -euo pipefail

packages=(
    build-essential pkg-config
    libfcgi-dev libpq-dev libjansson-dev libjwt-dev libssl-dev libcurl4-openssl-dev check libsubunit-dev
    libwslay-dev libmicrohttpd-dev liblua5.4-dev
    # The Realtime protocol from an independent implementation, for the relay's tests.
    python3-protobuf
    postgresql-15 postgresql-client-15 nginx libnginx-mod-nchan libnginx-mod-http-headers-more-filter
    curl python3 openssl wrk docker-compose
    # The GameLift API's real clients, for its tests and README's commands.
    awscli python3-boto3
    # A WebSocket client for the SDK 5 gateway's tests (tests/integration/sdk5.py).
    python3-websocket
    # Metrics (docs/observability.md): Prometheus and its exporters for
    # PostgreSQL and nginx, promtool for the alert rules.
    prometheus prometheus-postgres-exporter prometheus-nginx-exporter
    # The console's tests drive Debian's Chromium, headless.
    chromium
    # ss, for a test that waits for requests queued on a function's socket.
    iproute2
)
# Node.js and npm for npm jose (tests/integration/jose), unless a Node.js
# of another origin is already there.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
[ "${1:-}" = --dev ] && packages+=(clang-format clang-tidy cppcheck)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "rally: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Debian's postgresql package would start a system cluster on 5432; rally runs
# its own cluster, so keep the packaged service from starting.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
