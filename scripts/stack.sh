#!/usr/bin/env bash
# Starts or stops a complete local rally stack in one directory:
#   PostgreSQL 15 cluster (unix socket only), migrations, keys, config,
#   every function (FastCGI), the sweeper, the matchmaker, the SDK 5 gateway,
#   fleet-local's agents, and nginx on 127.0.0.1:$RALLY_HTTP_PORT.
#
#   scripts/stack.sh start DIR     (BUILD=build|build-san picks the binaries)
#   scripts/stack.sh stop DIR
#   scripts/stack.sh pg-start DIR   (start only PostgreSQL again, for restart tests)
#
# DIR keeps logs, pids, keys and an `env` file that tools and tests source.
# Sockets, the database cluster and served files live in a runtime directory
# that the postgres and www-data users can reach: DIR/rt when they can, or a
# directory under /tmp named after DIR when DIR sits below a private directory.
set -euo pipefail

cmd=${1:?usage: stack.sh start|stop DIR}
RUN=$(mkdir -p "${2:?usage: stack.sh start|stop DIR}" && cd "$2" && pwd)
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN=$TOP/$BUILD/bin
PORT=${RALLY_HTTP_PORT:-8080}
# Prometheus beside it: 9090 for the default port, and as far from any
# other stack's as its HTTP port is.
PROM_PORT=${RALLY_PROMETHEUS_PORT:-$((PORT + 1010))}
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

as_pg() { if [ $IS_ROOT = 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgbin() { echo "/usr/lib/postgresql/15/bin/$1"; }

runtime_dir() {
    local rt=$RUN/rt
    if [ $IS_ROOT = 1 ] && ! runuser -u postgres -- test -x "$RUN"; then
        rt=/tmp/rally-rt-$(printf '%s' "$RUN" | sha1sum | cut -c1-12)
    fi
    echo "$rt"
}
RT=$(runtime_dir)

stop_pidfile() {
    local f=$1
    [ -f "$f" ] || return 0
    local pid
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

do_stop() {
    # Agents and game servers first: their ProcessEnding goes through nginx. A
    # supervisor is stopped before what it supervises, or it would restart it.
    for f in "$RUN"/pids/agent-*.supervisor.pid "$RUN"/pids/agent-*.pid \
        "$RUN"/pids/gameserver-*.supervisor.pid "$RUN"/pids/gameserver-*.pid \
        "$RUN"/pids/nginx.supervisor.pid; do
        [ -e "$f" ] && stop_pidfile "$f"
    done
    # An nginx that runs on its own (a stack started before supervision).
    if [ -f "$RT/nginx/nginx.pid" ]; then
        nginx -p "$RT/nginx" -c "$RT/nginx/nginx.conf" -s quit 2>/dev/null || true
        for _ in $(seq 1 50); do [ -f "$RT/nginx/nginx.pid" ] || break; sleep 0.1; done
    fi
    # The rest at once: each supervisor takes seconds to see its group gone.
    for f in "$RUN"/pids/*.supervisor.pid; do [ -e "$f" ] && stop_pidfile "$f" & done
    wait
    for f in "$RUN"/pids/*.pid; do [ -e "$f" ] && stop_pidfile "$f" & done
    wait
    if [ -f "$RT/pg/data/postmaster.pid" ]; then
        as_pg "$(pgbin pg_ctl)" -D "$RT/pg/data" -m fast -w stop >/dev/null || true
    fi
    echo "rally: stopped ($RUN)"
}

# PostgreSQL is closed to other local users twice over: its socket is
# 0700 (only the cluster's owner, and root, may connect to it) and every
# role logs in with a password (scram-sha-256). The passwords are random,
# made once, and kept in DIR/pgpass (0600), which PGPASSFILE names for the
# stack's processes and tools.
pg_secrets() {
    (umask 077
     [ -s "$RUN/secrets/pg-postgres" ] || openssl rand -hex 24 >"$RUN/secrets/pg-postgres"
     [ -s "$RUN/secrets/pg-rally" ] || openssl rand -hex 24 >"$RUN/secrets/pg-rally"
     [ -s "$RUN/secrets/pg-monitor" ] || openssl rand -hex 24 >"$RUN/secrets/pg-monitor"
     printf '*:*:*:postgres:%s\n*:*:*:rally:%s\n' "$(cat "$RUN/secrets/pg-postgres")" \
         "$(cat "$RUN/secrets/pg-rally")" >"$RUN/pgpass")
}

pg_hba_closed() {
    printf '%s\n' "# Written by scripts/stack.sh: passwords only (DIR/pgpass), unix socket only." \
        "local all all scram-sha-256" >"$RT/pg/data/pg_hba.conf"
    [ $IS_ROOT = 1 ] && chown postgres "$RT/pg/data/pg_hba.conf"
    chmod 600 "$RT/pg/data/pg_hba.conf"
}

# The runtime directory may sit in /tmp under a predictable name (above): it
# must be ours, made by us, and no symlink, or another local user who made it
# first would hold the stack's sockets.
make_runtime_dir() {
    mkdir -m 755 "$RT" 2>/dev/null || true
    if [ -L "$RT" ] || [ ! -d "$RT" ] || [ "$(stat -c %u "$RT")" != "$(id -u)" ]; then
        echo "stack: $RT is not a directory of $(id -un)'s; remove it and start again" >&2
        exit 1
    fi
    chmod 755 "$RT"
}

start_pg() {
    mkdir -p "$RT/pg" "$RUN/secrets"
    chmod 700 "$RUN/secrets"
    [ $IS_ROOT = 1 ] && chown postgres "$RT/pg"
    chmod 700 "$RT/pg"
    pg_secrets
    export PGPASSFILE="$RUN/pgpass"
    if [ ! -f "$RT/pg/data/PG_VERSION" ]; then
        local pw="$RT/pg/initdb.pw"
        (umask 077; cat "$RUN/secrets/pg-postgres" >"$pw")
        [ $IS_ROOT = 1 ] && chown postgres "$pw"
        as_pg "$(pgbin initdb)" -D "$RT/pg/data" -U postgres --auth=scram-sha-256 --pwfile="$pw" \
            -E UTF8 --locale=C.UTF-8 >"$RUN/logs/initdb.log"
        rm -f "$pw"
        pg_hba_closed
    fi
    local extra=""
    # RALLY_PG_FAST=1 (tests): nothing waits for the disk, yet a commit is
    # written to the kernel before it returns, so it survives a crash of
    # PostgreSQL (the tests kill it) though not of the machine.
    [ "${RALLY_PG_FAST:-0}" = 1 ] && extra="-c fsync=off -c full_page_writes=off"
    # After a kill -9 or a reboot postmaster.pid is stale: pg_ctl status
    # tells a live postmaster from a leftover file (PostgreSQL itself then
    # replaces the file on start).
    if ! as_pg "$(pgbin pg_ctl)" -D "$RT/pg/data" status >/dev/null 2>&1; then
        as_pg "$(pgbin pg_ctl)" -D "$RT/pg/data" -l "$RT/pg/server.log" -w -t 60 start \
            -o "-k $RT/pg -c listen_addresses='' -c port=5432 -c unix_socket_permissions=0700 -c max_connections=300 -c shared_buffers=256MB $extra" >/dev/null
    fi
    # A cluster made before passwords (trust for everyone): give the roles
    # their passwords while trust still lets us in, then close it.
    if grep -qE '^[^#]*[[:space:]]trust([[:space:]]|$)' "$RT/pg/data/pg_hba.conf" 2>/dev/null; then
        set_password postgres "$RUN/secrets/pg-postgres"
        pg_hba_closed
        as_pg "$(pgbin pg_ctl)" -D "$RT/pg/data" reload >/dev/null
    fi
    if ! psql -h "$RT/pg" -U postgres -d postgres -Atqc "SELECT 1 FROM pg_roles WHERE rolname='rally'" | grep -q 1; then
        psql -h "$RT/pg" -U postgres -d postgres -qc "CREATE ROLE rally LOGIN" >/dev/null
        psql -h "$RT/pg" -U postgres -d postgres -qc "CREATE DATABASE rally OWNER rally" >/dev/null
    fi
    # prometheus-postgres-exporter's role: PostgreSQL's statistics (pg_monitor), no data.
    psql -h "$RT/pg" -U postgres -d postgres -qX >/dev/null <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rally_monitor') THEN
        CREATE ROLE rally_monitor LOGIN IN ROLE pg_monitor;
    END IF;
END $$;
SQL
    # Every start: the rally role's password is the one in DIR/pgpass.
    set_password rally "$RUN/secrets/pg-rally"
    set_password rally_monitor "$RUN/secrets/pg-monitor"
}

# ROLE's password from FILE. psql reads the file itself (\set with a
# backquoted cat): a password on a command line is visible to every local
# user in /proc.
set_password() {
    psql -h "$RT/pg" -U postgres -d postgres -qX >/dev/null <<SQL
\\set pw \`cat '$2'\`
ALTER ROLE $1 PASSWORD :'pw';
SQL
}

# LOCAL, then the items of the comma-separated OPERATOR list other than
# LOCAL: the stack's own signer stays trusted and an operator's additions
# (AWS's SNS certificates, say) join it, however often env is re-sourced.
with_local() {
    local out=$1 item
    local IFS=,
    for item in ${2:-}; do
        [ -n "$item" ] && [ "$item" != "$1" ] && out="$out,$item"
    done
    echo "$out"
}

write_env() {
    # RALLY_PUSH=off: functions publish nothing; clients fall back to polling.
    local push_socket="$RT/push/push.sock"
    [ "${RALLY_PUSH:-on}" = off ] && push_socket=""
    cat >"$RUN/env" <<ENV
export RALLY_RUN_DIR='$RUN'
export RALLY_RT_DIR='$RT'
export RALLY_BIN='$BIN'
export RALLY_HTTP_PORT='$PORT'
export RALLY_URL='http://127.0.0.1:$PORT'
export PGHOST='$RT/pg'
export PGPORT=5432
export PGDATABASE=rally
export PGUSER=rally
export PGPASSFILE='$RUN/pgpass'
export RALLY_JWT_KEY_DIR='$RUN/keys'
export RALLY_JWT_ISSUER='http://127.0.0.1:$PORT'
export RALLY_SOCKET_DIR='$RT/sock'
export RALLY_WORKERS='${RALLY_WORKERS:-4}'
export RALLY_TICKET_TTL_SECONDS='${RALLY_TICKET_TTL_SECONDS:-10800}'
export RALLY_SNS_CERT_DIR='$(with_local "$RUN/sns/certs" "${RALLY_SNS_CERT_DIR:-}")'
export RALLY_SNS_CERT_URL_PREFIXES='$(with_local https://sns.local.rally.invalid/ "${RALLY_SNS_CERT_URL_PREFIXES:-}")'
export RALLY_SNS_TOPICS='${RALLY_SNS_TOPICS:-arn:aws:sns:local:000000000000:rally-matchmaking-events}'
export RALLY_SNS_SIGNING_KEY='$RUN/sns/signing.key'
export RALLY_SNS_SIGNING_CERT_URL='https://sns.local.rally.invalid/rally-local-sns.pem'
export RALLY_FLEET_SECRET_DIR='$RUN/fleets'
export RALLY_AWS_KEY_DIR='$RUN/aws/keys'
export RALLY_AWS_REGIONS='${RALLY_AWS_REGIONS:-us-east-1}'
export RALLY_PUSH_SOCKET='$push_socket'
export RALLY_CONFIG_DIR='${RALLY_CONFIG_DIR:-$TOP/config}'
export RALLY_LOG_LEVEL='${RALLY_LOG_LEVEL:-info}'
export RALLY_METRICS='${RALLY_METRICS:-on}'
export RALLY_METRICS_TOKEN_FILE='$RUN/secrets/metrics-token'
export RALLY_ADMIN_FILE='$RUN/secrets/admins'
export RALLY_PROMETHEUS_URL='http://127.0.0.1:$PROM_PORT'
ENV
    if [ -n "${ASAN_OPTIONS:-}" ]; then echo "export ASAN_OPTIONS='$ASAN_OPTIONS'" >>"$RUN/env"; fi
    if [ -n "${UBSAN_OPTIONS:-}" ]; then echo "export UBSAN_OPTIONS='$UBSAN_OPTIONS'" >>"$RUN/env"; fi
}

make_secrets() {
    # The console's operator: admin, with a random password kept in
    # secrets/admin-password; auth-guest checks its digest (RALLY_ADMIN_FILE).
    if [ ! -s "$RUN/secrets/admins" ]; then
        [ -s "$RUN/secrets/admin-password" ] || (umask 077; openssl rand -hex 12 >"$RUN/secrets/admin-password")
        "$BIN/rally-keys" admin-password "$RUN/secrets/admins" admin <"$RUN/secrets/admin-password"
    fi
    # The scrape token: every metrics endpoint asks for it (metrics_auth.h),
    # Prometheus sends it (credentials_file).
    [ -s "$RUN/secrets/metrics-token" ] || (umask 077; openssl rand -hex 24 >"$RUN/secrets/metrics-token")
    if [ ! -f "$RUN/keys/current" ]; then
        "$BIN/rally-keys" init "$RUN/keys" >/dev/null
    fi
    "$BIN/rally-keys" jwks "$RUN/keys" "$RT/www/.well-known" >/dev/null
    # The local SNS signing identity: the certificate event-ingest trusts, and
    # the key that `rally-sns-sign` (and later the matchmaker) signs with.
    mkdir -p "$RUN/sns/certs"
    if [ ! -f "$RUN/sns/signing.key" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=rally local sns" \
            -keyout "$RUN/sns/signing.key" -out "$RUN/sns/certs/rally-local-sns.pem" 2>/dev/null
        chmod 600 "$RUN/sns/signing.key"
    fi
    # The development fleets' secrets (`POST /v1/identity/server`).
    mkdir -p "$RUN/fleets"
    chmod 700 "$RUN/fleets"
    local fleet
    for fleet in fleet-local fleet-realtime; do
        if [ ! -f "$RUN/fleets/$fleet.secret" ]; then
            (umask 077; openssl rand -hex 24 >"$RUN/fleets/$fleet.secret")
        fi
    done
    # A local AWS access key for the GameLift API (a backend's: every
    # operation), and the AWS CLI's files that hold it (walkthrough.sh).
    mkdir -p "$RUN/aws"
    chmod 700 "$RUN/aws"
    if [ ! -f "$RUN/aws/credentials" ]; then
        local key
        key=$("$BIN/rally-keys" aws-key "$RUN/aws/keys" local-backend backend)
        (umask 077; printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
            "${key% *}" "${key#* }" >"$RUN/aws/credentials")
        (umask 077; printf '[default]\nregion = us-east-1\n' >"$RUN/aws/config")
    fi
}

start_daemon() {
    local name=$1; shift
    if [ -f "$RUN/pids/$name.pid" ] && kill -0 "$(cat "$RUN/pids/$name.pid")" 2>/dev/null; then
        return 0
    fi
    setsid "$@" </dev/null >>"$RUN/logs/$name.log" 2>&1 &
    echo $! >"$RUN/pids/$name.pid"
}

# Daemons that must outlive their own crashes run under rally-supervise,
# which starts them again whenever they end (as serve.c restarts workers);
# pids/NAME.pid is the daemon's own pid, pids/NAME.supervisor.pid its
# supervisor's.
start_supervised() {
    local name=$1; shift
    local sup="$RUN/pids/$name.supervisor.pid"
    if [ -f "$sup" ] && kill -0 "$(cat "$sup")" 2>/dev/null; then
        return 0
    fi
    rm -f "$RUN/pids/$name.pid"
    setsid "$BIN/rally-supervise" "$name-supervisor" "$RUN/pids/$name.pid" "$@" \
        </dev/null >>"$RUN/logs/$name.log" 2>&1 &
    echo $! >"$sup"
    for _ in $(seq 1 50); do [ -f "$RUN/pids/$name.pid" ] && break; sleep 0.05; done
}

functions_list() {
    for d in "$TOP"/functions/*/; do
        local f
        f=$(basename "$d")
        [ "$f" = hello ] && [ "${RALLY_BENCH:-0}" != 1 ] && continue
        echo "$f"
    done
}

# The matchmaker applies its own events in place (docs/matchmaker.md), so
# the local event-ingest is subscribed to the matchmaking topic (SNS's way
# round: signed, POSTed, verified, acknowledged as a duplicate) only when
# asked, RALLY_LOCAL_INGEST=1. A subscription already there is kept: a
# matchmaker of an older rally may still be running and rely on it, and
# deleting it would drop its pending deliveries (README, "Upgrading"). One
# of an earlier run on another port is replaced.
local_ingest_subscription() {
    local topic=${RALLY_SNS_TOPICS%%,*}
    local endpoint="http://127.0.0.1:$PORT/v1/events/sns"
    local wanted=0
    [ "${RALLY_LOCAL_INGEST:-0}" = 1 ] && wanted=1
    psql -qX -v ON_ERROR_STOP=1 -v topic="$topic" -v endpoint="$endpoint" -v wanted="$wanted" \
        >/dev/null <<'SQL'
DELETE FROM events.subscriptions
    WHERE endpoint LIKE 'http://127.0.0.1:%/v1/events/sns' AND endpoint <> :'endpoint';
INSERT INTO events.subscriptions (topic_arn, endpoint)
    SELECT :'topic', :'endpoint' WHERE :'wanted' = '1'
    ON CONFLICT DO NOTHING;
SQL
}

do_start() {
    for b in rally-keys rally-admin rally-sweeper rally-matchmaker rally-gateway rally-supervise; do
        [ -x "$BIN/$b" ] || { echo "rally: $BIN/$b is missing: run make first" >&2; exit 1; }
    done
    make_runtime_dir
    mkdir -p "$RUN/logs" "$RUN/pids" "$RT/sock" "$RT/push" "$RT/www/.well-known" "$RT/nginx/tmp"
    chmod 755 "$RT/www" "$RT/www/.well-known"
    # The console's static files (console/), as nginx serves them.
    rm -rf "$RT/www/console"
    cp -r "$TOP/console" "$RT/www/console"
    chmod -R a+rX "$RT/www/console"
    # Closed to other local users: the FastCGI sockets to this user and
    # nginx's workers (www-data when we are root: the directory's group,
    # which setgid hands to every socket made in it; the functions make
    # them 0660), the push publisher to this user alone (nginx's master
    # makes it, the functions post to it).
    if [ $IS_ROOT = 1 ]; then
        chgrp www-data "$RT/sock"
        chmod 2750 "$RT/sock"
    else
        chmod 700 "$RT/sock"
    fi
    chmod 700 "$RT/push"
    write_env
    # shellcheck disable=SC1091
    . "$RUN/env"
    start_pg
    "$TOP/scripts/migrate.sh" "$TOP/sql" >>"$RUN/logs/migrate.log"
    make_secrets
    "$BIN/rally-admin" load-config "$RALLY_CONFIG_DIR" >>"$RUN/logs/admin.log"

    for f in $(functions_list); do
        start_supervised "$f" "$BIN/$f"
    done
    start_supervised sweeper "$BIN/rally-sweeper"
    local_ingest_subscription
    start_supervised matchmaker "$BIN/rally-matchmaker"
    start_supervised gateway "$BIN/rally-gateway"

    "$TOP/scripts/nginx-conf.sh" "$RT" "$PORT" "$RUN/logs" >"$RT/nginx/nginx.conf"
    if [ -f "$RT/nginx/nginx.pid" ] && kill -0 "$(cat "$RT/nginx/nginx.pid")" 2>/dev/null; then
        nginx -p "$RT/nginx" -c "$RT/nginx/nginx.conf" -e "$RUN/logs/nginx-error.log" -s reload
    else
        nginx -t -q -p "$RT/nginx" -c "$RT/nginx/nginx.conf" -e "$RUN/logs/nginx-error.log"
        start_supervised nginx --unlink "$RT/push/push.sock" --unlink "$RT/nginx/status.sock" \
            nginx -p "$RT/nginx" -c "$RT/nginx/nginx.conf" \
            -e "$RUN/logs/nginx-error.log" -g "daemon off;"
    fi

    # Ready when every function socket exists and nginx answers.
    local up=0
    for _ in $(seq 1 100); do
        local ok=1
        for f in $(functions_list) gateway; do [ -S "$RT/sock/$f.sock" ] || ok=0; done
        if [ $ok = 1 ] && curl -fsS "http://127.0.0.1:$PORT/.well-known/jwks.json" >/dev/null 2>&1; then
            up=1
            break
        fi
        sleep 0.1
    done
    if [ $up = 0 ]; then
        echo "rally: the stack did not come up; see $RUN/logs" >&2
        exit 1
    fi
    start_agents
    start_prometheus
    echo "rally: running on http://127.0.0.1:$PORT (state in $RUN)"
    if [ "${RALLY_PROMETHEUS:-1}" != 0 ] && command -v prometheus >/dev/null; then
        echo "rally: Prometheus on http://127.0.0.1:$PROM_PORT (alerts: /alerts)"
    fi
    echo "rally: console on http://127.0.0.1:$PORT/console/ (user admin, password in $RUN/secrets/admin-password)"
}

# The processes with metrics on every stack, as nginx routes them
# (/metrics/NAME): the functions, the daemons, and nginx's exporter.
metrics_targets() {
    functions_list
    echo matchmaker gateway sweeper nginx | tr ' ' '\n'
}

# Prometheus's file of the stack's agents (file_sd: a file dropped beside
# it adds agents without a restart, as a new game-server host would).
agent_targets() {
    local list="" t
    if [ "${RALLY_GAMESERVERS:-1}" != 0 ]; then
        for t in agent-us-east-1 agent-eu-west-1 agent-realtime; do
            list="$list${list:+,}{\"targets\": [\"127.0.0.1:$PORT\"], \"labels\": {\"service\": \"$t\", \"__metrics_path__\": \"/metrics/$t\"}}"
        done
    fi
    echo "[$list]"
}

# PostgreSQL and nginx through Debian's exporters. postgres-exporter logs in
# as rally_monitor (pg_monitor) and answers on 127.0.0.1 only to the scrape
# token (basic auth: its web configuration holds the token's bcrypt hash);
# nginx-exporter reads nginx's stub_status socket and answers on a socket of
# its own in the functions' directory, which nginx passes /metrics/nginx to
# behind the token.
start_exporters() {
    if command -v prometheus-postgres-exporter >/dev/null; then
        local hash
        hash=$(python3 -W ignore -c 'import crypt, sys
print(crypt.crypt(sys.stdin.read().strip(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))' \
            <"$RUN/secrets/metrics-token")
        (umask 077; printf 'basic_auth_users:\n  prometheus: %s\n' "$hash" >"$RUN/prometheus/exporter-web.yml")
        DATA_SOURCE_URI="/rally?host=$RT/pg&sslmode=disable" DATA_SOURCE_USER=rally_monitor \
            DATA_SOURCE_PASS_FILE="$RUN/secrets/pg-monitor" start_supervised postgres-exporter \
            prometheus-postgres-exporter --web.listen-address="127.0.0.1:$((PROM_PORT + 1))" \
            --web.config.file="$RUN/prometheus/exporter-web.yml" --log.level=warn
    fi
    if command -v prometheus-nginx-exporter >/dev/null; then
        # 0770: nginx's workers come in through the directory's group.
        start_supervised nginx-exporter sh -c 'umask 007; exec "$@"' sh prometheus-nginx-exporter \
            -nginx.scrape-uri "unix:$RT/nginx/status.sock:/stub_status" \
            -web.listen-address "unix:$RT/sock/nginx-exporter.sock"
    fi
}

# Debian's Prometheus scraping the stack every 5 s on 127.0.0.1:$PROM_PORT:
# rally's processes and nginx's exporter through nginx (/metrics/NAME),
# PostgreSQL's exporter directly. RALLY_PROMETHEUS=0: none (nor when the
# package is missing).
start_prometheus() {
    [ "${RALLY_PROMETHEUS:-1}" = 0 ] && return 0
    if ! command -v prometheus >/dev/null; then
        echo "rally: prometheus is not installed (scripts/deps.sh); metrics are not collected" >&2
        return 0
    fi
    mkdir -p "$RUN/prometheus/data"
    start_exporters
    # RALLY_ALERT_FOR (tests): every alert's `for:` replaced, so that a test
    # that causes a condition hears of it in seconds.
    local rules="$TOP/config/prometheus/alerts.yml"
    if [ -n "${RALLY_ALERT_FOR:-}" ]; then
        sed -E "s/^( *for: ).*/\1$RALLY_ALERT_FOR/" "$rules" >"$RUN/prometheus/alerts.yml"
        rules="$RUN/prometheus/alerts.yml"
    fi
    {
        cat <<YML
# Written by scripts/stack.sh for the stack in $RUN.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $rules
scrape_configs:
  - job_name: postgres
    basic_auth:
      username: prometheus
      password_file: $RUN/secrets/metrics-token
    static_configs:
      - targets: ["127.0.0.1:$((PROM_PORT + 1))"]
        labels: {service: "postgres"}
  - job_name: rally
    authorization:
      type: Bearer
      credentials_file: $RUN/secrets/metrics-token
    static_configs:
YML
        local t
        for t in $(metrics_targets); do
            printf '      - targets: ["127.0.0.1:%s"]\n        labels: {service: "%s", __metrics_path__: "/metrics/%s"}\n' \
                "$PORT" "$t" "$t"
        done
        cat <<YML
  - job_name: agents
    authorization:
      type: Bearer
      credentials_file: $RUN/secrets/metrics-token
    file_sd_configs:
      - files: ["$RUN/prometheus/targets/*.json"]
        refresh_interval: 30s
YML
    } >"$RUN/prometheus/prometheus.yml"
    mkdir -p "$RUN/prometheus/targets"
    agent_targets >"$RUN/prometheus/targets/agents.json"
    start_supervised prometheus prometheus --config.file="$RUN/prometheus/prometheus.yml" \
        --storage.tsdb.path="$RUN/prometheus/data" --storage.tsdb.retention.time=7d \
        --web.listen-address="127.0.0.1:$PROM_PORT"
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "rally: prometheus did not come up; see $RUN/logs/prometheus.log" >&2
    exit 1
}

# fleet-local's game servers: a rally-agent in each location (docs/agent.md)
# runs its share of the fleet's ServerProcesses (config/fleets/fleet-local.json:
# 20 to 40), each on a port of its own from 40 a location: us-east-1 from
# RALLY_GAMESERVER_PORT (7777), eu-west-1 from 40 above. It reports every 2 s,
# so that capacity changes reach it quickly. fleet-realtime's relays
# (config/fleets/fleet-realtime.json) get an agent in us-east-1 and the 10
# ports after those, and run config/scripts/chat.lua. RALLY_GAMESERVERS=0:
# none.
start_agents() {
    [ "${RALLY_GAMESERVERS:-1}" = 0 ] && return 0
    local b
    for b in rally-agent rally-gameserver rally-relay; do
        [ -x "$BIN/$b" ] || { echo "rally: $BIN/$b is missing" >&2; exit 1; }
    done
    local port=${RALLY_GAMESERVER_PORT:-7777}
    local loc
    (umask 077; mkdir -p "$RUN/agents")
    for loc in us-east-1 eu-west-1; do
        RALLY_FLEET_SECRET_FILE="$RUN/fleets/fleet-local.secret" start_supervised "agent-$loc" \
            "$BIN/rally-agent" --url "http://127.0.0.1:$PORT" --fleet fleet-local \
            --location "$loc" --compute "local-$loc" --ip 127.0.0.1 \
            --ports "$port-$((port + 39))" --game-dir "$BIN" --drain-seconds 3 \
            --state-dir "$RUN/agents" --config-seconds 2 --metrics "$RT/sock/agent-$loc.metrics.sock"
        port=$((port + 40))
    done
    RALLY_FLEET_SECRET_FILE="$RUN/fleets/fleet-realtime.secret" \
        RALLY_RELAY_SCRIPT="$RALLY_CONFIG_DIR/scripts/chat.lua" start_supervised "agent-realtime" \
        "$BIN/rally-agent" --url "http://127.0.0.1:$PORT" --fleet fleet-realtime \
        --location us-east-1 --compute local-realtime --ip 127.0.0.1 \
        --ports "$port-$((port + 9))" --game-dir "$BIN" --drain-seconds 3 \
        --state-dir "$RUN/agents" --config-seconds 2 --metrics "$RT/sock/agent-realtime.metrics.sock"
}

case $cmd in
start) do_start ;;
pg-start) mkdir -p "$RUN/logs"; start_pg ;;
stop) do_stop ;;
*) echo "usage: stack.sh start|stop DIR" >&2; exit 2 ;;
esac
