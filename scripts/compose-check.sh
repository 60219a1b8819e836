#!/usr/bin/env bash
# Checks docker-compose.yml and the Dockerfile without a Docker engine:
#   1. docker-compose validates the compose file (`config -q`);
#   2. the Dockerfile's build stage runs exactly `make $MAKE_ARGS` and copies
#      build/bin; the same make command, run here into a temporary BUILD,
#      builds every binary;
#   3. every /app/bin/NAME the compose file runs exists in that build, and the
#      compose file runs every function (functions/*, except hello), every
#      function nginx/routes.conf routes to, the sweeper, rally-keys,
#      rally-admin, the matchmaker and the sample game server;
#   4. every shared library those binaries link directly comes from a Debian
#      package the Dockerfile's runtime stage installs;
#   5. nginx/compose.conf, rendered as the nginx service does, passes `nginx -t`
#      together with the shared nginx/*.conf (skipped when nginx is absent);
#   6. the migrate job runs scripts/migrate.sh over the whole sql/ directory
#      (the numbered migrations and sql/functions/), as `make run` does;
#   7. config/compose/prometheus.yml passes promtool (with its rules) and
#      scrapes every function.
# Prints one summary line; exits non-zero on any failure.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
COMPOSE=docker-compose.yml
DOCKERFILE=Dockerfile
MAKE_ARGS="-j2 WERROR=1 all"
# Binaries run by the stack besides the functions.
TOOLS_RUN=(rally-sweeper rally-keys rally-admin rally-matchmaker rally-agent rally-gateway)
# Binaries the agents launch (config/fleets/ LaunchPaths, under --game-dir /app/bin).
LAUNCHED=(rally-gameserver)

failures=()
fail() {
    echo "compose-check: FAIL: $*" >&2
    failures+=("$*")
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- 1. the compose file ------------------------------------------------------
if ! command -v docker-compose >/dev/null 2>&1; then
    echo "compose-check: installing docker-compose"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
if docker-compose -f "$COMPOSE" config -q; then
    echo "compose-check: $COMPOSE is valid"
else
    fail "docker-compose -f $COMPOSE config -q"
fi

# ---- 2. the build, as the Dockerfile does it ------------------------------------
grep -Eq "^RUN make $MAKE_ARGS\$" "$DOCKERFILE" ||
    fail "$DOCKERFILE does not build with 'RUN make $MAKE_ARGS'"
grep -Eq '^COPY --from=build /src/build/bin/ /app/bin/$' "$DOCKERFILE" ||
    fail "$DOCKERFILE does not copy build/bin to /app/bin"

# The build sees only what the build stage COPYs: a directory missing there
# must fail here too.
ctx=$tmp/src
mkdir -p "$ctx"
for src in $(awk '/^FROM .* AS runtime/ { exit } /^COPY / && $2 !~ /^--/ { print $2 }' "$DOCKERFILE"); do
    [ -e "$src" ] || fail "$DOCKERFILE copies $src, which does not exist"
    cp -r "$src" "$ctx/"
done

BIN=$tmp/build/bin
echo "compose-check: make $MAKE_ARGS (BUILD=$tmp/build, from what the Dockerfile copies)"
# The Docker build sees none of the caller's make or compiler settings.
# shellcheck disable=SC2086
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u WERROR -u V -u CC -u CFLAGS \
    -u LDFLAGS -u BUILD make --no-print-directory -C "$ctx" BUILD="$tmp/build" $MAKE_ARGS >"$tmp/make.log" 2>&1; then
    built=1
else
    built=0
    tail -n 30 "$tmp/make.log" >&2
    fail "make $MAKE_ARGS failed"
fi

# ---- 3. the binaries the compose file runs ----------------------------------------
mapfile -t referenced < <(grep -v '^[[:space:]]*#' "$COMPOSE" | grep -o '/app/bin/[A-Za-z0-9._-]*' |
    sed 's#^/app/bin/##' | sort -u)
[ ${#referenced[@]} -gt 0 ] || fail "$COMPOSE runs no /app/bin/ binary"

required=("${TOOLS_RUN[@]}")
for d in functions/*/; do
    f=$(basename "$d")
    [ "$f" = hello ] || required+=("$f")
done
# shellcheck disable=SC2016 # a literal $rally_sock
mapfile -t routed < <(grep -o '\$rally_sock/[A-Za-z0-9_-]*\.sock' nginx/routes.conf |
    sed -e 's#^\$rally_sock/##' -e 's#\.sock$##' | sort -u)
# A routed socket is a function's (its name) or a daemon's (rally-<name>).
for f in "${routed[@]}"; do
    printf '%s\n' "${referenced[@]}" | grep -qx "rally-$f" || required+=("$f")
done
for f in $(printf '%s\n' "${required[@]}" | sort -u); do
    printf '%s\n' "${referenced[@]}" | grep -qx "$f" || fail "$COMPOSE does not run /app/bin/$f"
done

if [ $built = 1 ]; then
    for b in "${referenced[@]}"; do
        [ -x "$BIN/$b" ] || fail "$COMPOSE runs /app/bin/$b, which the build does not produce"
    done
    for b in "${LAUNCHED[@]}"; do
        [ -x "$BIN/$b" ] || fail "the agents launch /app/bin/$b, which the build does not produce"
    done
fi

# ---- 4. their shared libraries in the runtime image ---------------------------
runtime_stage=$(sed -n '/^FROM .* AS runtime/,$p' "$DOCKERFILE" | grep -v '^[[:space:]]*#' || true)
[ -n "$runtime_stage" ] || fail "$DOCKERFILE has no 'AS runtime' stage"
pkg_of() { # library path -> Debian package, whichever of its names dpkg knows
    local p
    for p in "$1" "$(readlink -f "$1")" "/usr$1"; do
        dpkg-query -S "$p" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
    done
    return 1
}
if [ $built = 1 ] && command -v objdump >/dev/null && command -v dpkg-query >/dev/null; then
    for b in "${referenced[@]}"; do
        [ -x "$BIN/$b" ] || continue
        for lib in $(objdump -p "$BIN/$b" | awk '$1 == "NEEDED" { print $2 }'); do
            path=$(ldd "$BIN/$b" | awk -v l="$lib" '$1 == l { print $3 }')
            if [ -z "$path" ] || ! pkg=$(pkg_of "$path") || [ -z "$pkg" ]; then
                fail "$b: no Debian package found for $lib"
                continue
            fi
            [ "$pkg" = libc6 ] && continue # in the base image
            grep -Eq "(^|[[:space:]])$pkg([[:space:]]|$)" <<<"$runtime_stage" ||
                fail "$b links $lib from $pkg, which the runtime stage does not install"
        done
    done
fi

# ---- 5. the nginx configuration -----------------------------------------------
if command -v nginx >/dev/null 2>&1; then
    mkdir -p "$tmp/nginx"
    cp nginx/*.conf "$tmp/nginx/"
    # nginx -t binds the listeners: the push socket goes to a directory that exists here.
    sed -e 's/@RATE_IDENTITY@/5/' -e 's/@RATE_REFRESH@/50/' -e 's/@RATE_MATCHMAKING@/10/' -e 's/@RATE_ADDRESS@/1000/' \
        -e 's/@LIMIT_KEY@/$binary_remote_addr/' \
        -e "s#unix:/run/rally/push.sock#unix:$tmp/push.sock#" nginx/compose.conf >"$tmp/nginx/nginx.conf"
    if grep -q '@[A-Z_]*@' "$tmp/nginx/nginx.conf"; then
        fail "nginx/compose.conf has a placeholder the nginx service does not fill"
    fi
    for ph in $(grep -o '@[A-Z_]*@' nginx/compose.conf | sort -u); do
        grep -q "s/$ph/" "$COMPOSE" || fail "the nginx service in $COMPOSE does not fill $ph"
    done
    for inc in http.conf server.conf routes.conf; do
        grep -Eq "^[[:space:]]*include[[:space:]]+$inc;" nginx/compose.conf || fail "nginx/compose.conf does not include $inc"
    done
    if nginx -t -q -e stderr -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.log"; then
        echo "compose-check: nginx/compose.conf passes nginx -t"
    else
        cat "$tmp/nginx.log" >&2
        fail "nginx -t rejects nginx/compose.conf"
    fi
else
    echo "compose-check: nginx not installed, skipping nginx -t"
fi

# ---- 6. the migrate job --------------------------------------------------------
grep -Eq '^COPY sql/ /app/sql/$' "$DOCKERFILE" || fail "$DOCKERFILE does not copy sql/ whole to /app/sql/"
grep -Eq '^COPY scripts/migrate.sh /app/scripts/migrate.sh$' "$DOCKERFILE" ||
    fail "$DOCKERFILE does not copy scripts/migrate.sh to /app/scripts/"
grep -Eq '^[[:space:]]*/app/scripts/migrate.sh /app/sql$' "$COMPOSE" ||
    fail "the migrate job in $COMPOSE does not run /app/scripts/migrate.sh /app/sql"
ls sql/functions/*.sql >/dev/null 2>&1 || fail "sql/functions/ has no schema file for migrate.sh to apply"

# ---- 7. Prometheus -------------------------------------------------------------------
# config/compose/prometheus.yml, with the container's paths pointed at the
# repository's files, passes promtool; it scrapes every function nginx routes.
if command -v promtool >/dev/null 2>&1; then
    mkdir -p "$tmp/prom"
    echo "compose-check-token-0123456789" >"$tmp/prom/token"
    sed -e "s#/etc/prometheus/rally/#$TOP/config/prometheus/#" -e "s#/run/secrets/metrics_token#$tmp/prom/token#" \
        config/compose/prometheus.yml >"$tmp/prom/prometheus.yml"
    if promtool check config "$tmp/prom/prometheus.yml" >"$tmp/prom.log" 2>&1; then
        echo "compose-check: config/compose/prometheus.yml passes promtool"
    else
        cat "$tmp/prom.log" >&2
        fail "promtool rejects config/compose/prometheus.yml"
    fi
    for f in functions/*/; do
        f=$(basename "$f")
        [ "$f" = hello ] && continue
        grep -q "__metrics_path__: /metrics/$f}" config/compose/prometheus.yml ||
            fail "config/compose/prometheus.yml does not scrape $f"
    done
else
    echo "compose-check: promtool not installed, skipping the Prometheus configuration"
fi

# ---- summary ------------------------------------------------------------------------
if [ ${#failures[@]} -eq 0 ]; then
    echo "compose-check: OK: $COMPOSE valid; ${#referenced[@]} binaries (${referenced[*]}) built by 'make $MAKE_ARGS' with their libraries in the runtime image; nginx config valid; migrate job applies sql/ and sql/functions/"
else
    echo "compose-check: FAILED: ${#failures[@]} problem(s): $(printf '%s; ' "${failures[@]}")" >&2
    exit 1
fi
