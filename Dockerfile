# rally in one image: every function, the tools (rally-keys, rally-admin,
# rally-sweeper, rally-sns-sign), rally-matchmaker, the sample game server
# rally-gameserver, migrations, config and nginx. Each service
# of docker-compose.yml picks its command. scripts/compose-check.sh runs the
# same make command as the build stage and checks every binary the compose
# file names exists.
#
#   docker-compose build        (or: docker build -t rally:latest .)

# ---- build ------------------------------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential libfcgi-dev libpq-dev libjansson-dev libjwt-dev libssl-dev \
        libcurl4-openssl-dev check libsubunit-dev libwslay-dev libmicrohttpd-dev \
        liblua5.4-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common/ common/
COPY matchmaker/ matchmaker/
COPY functions/ functions/
COPY tools/ tools/
COPY gameserver/ gameserver/
COPY agent/ agent/
COPY gateway/ gateway/
COPY sidecar/ sidecar/
COPY relay/ relay/
COPY sdk-common/ sdk-common/
COPY client-sdk/ client-sdk/
COPY tests/ tests/
RUN make -j2 WERROR=1 all

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Shared libraries of the binaries (libfcgi0ldbl libpq5 libjansson4 libssl3,
# libcurl4 for rally-matchmaker, rally-agent, rally-gateway, rally-sidecar and
# rally-gameserver, libwslay1 for rally-gateway and rally-relay, liblua5.4-0 for
# rally-relay, libmicrohttpd12 for rally-sidecar), psql for the migrate job, openssl for the keys job, nginx for
# the nginx service.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libfcgi0ldbl libpq5 libjansson4 libssl3 libcurl4 libwslay1 liblua5.4-0 libmicrohttpd12 \
        postgresql-client-15 openssl nginx libnginx-mod-nchan libnginx-mod-http-headers-more-filter \
 && rm -rf /var/lib/apt/lists/*

# Services run as `rally` (nginx: master as root, workers as www-data). The
# directories below are the mount points of the named volumes; a new volume
# takes their owner and mode.
RUN groupadd --system --gid 10001 rally \
 && useradd --system --uid 10001 --gid rally --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin rally \
 && install -d -o rally -g rally -m 0755 /run/rally /www /www/.well-known /sns /sns/certs \
 && install -d -o rally -g rally -m 0700 /keys /sns/signing

# rally-entrypoint: turns the database password secret ($RALLY_PGPASSWORD_FILE)
# into a private libpq password file (PGPASSFILE) before it runs the command,
# so the password never appears in argv or in the environment.
RUN printf '%s\n' \
        '#!/bin/sh' \
        'set -eu' \
        'if [ -n "${RALLY_PGPASSWORD_FILE:-}" ] && [ -z "${PGPASSFILE:-}" ]; then' \
        '    PGPASSFILE=$(mktemp "${TMPDIR:-/tmp}/pgpass.XXXXXX")' \
        '    sed -e "s/[\\\\:]/\\\\&/g" -e "1s/^/*:*:*:*:/" -e 1q "$RALLY_PGPASSWORD_FILE" >"$PGPASSFILE"' \
        '    export PGPASSFILE' \
        'fi' \
        'exec "$@"' \
        >/usr/local/bin/rally-entrypoint \
 && chmod 0755 /usr/local/bin/rally-entrypoint

COPY --from=build /src/build/bin/ /app/bin/
COPY sql/ /app/sql/
COPY scripts/migrate.sh /app/scripts/migrate.sh
COPY config/rulesets/ /app/config/rulesets/
COPY config/configurations/ /app/config/configurations/
COPY config/queues/ /app/config/queues/
COPY config/fleets/ /app/config/fleets/
COPY nginx/ /etc/rally/nginx/

ENV PATH=/app/bin:$PATH \
    RALLY_SOCKET_DIR=/run/rally \
    RALLY_JWT_KEY_DIR=/keys
WORKDIR /app
USER rally
ENTRYPOINT ["/usr/local/bin/rally-entrypoint"]
CMD ["rally-admin", "check-config", "/app/config"]
