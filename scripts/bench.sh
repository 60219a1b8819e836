#!/usr/bin/env bash
# Throughput and latency of the hot routes, each as a ratio of a hello-world
# function behind the same nginx (DESIGN §9). One stack, started in a fresh
# temporary directory on a free port, is measured in one run:
#
#   1. hello-world       GET  /bench/hello                       (the baseline)
#   2. guest login       POST /v1/identity/guest {}              (new guest, ES256 signing)
#  2b. returning login   POST /v1/identity/guest {user_id, guest_secret}
#                        (BENCH_RETURNING_GUESTS, 400, made beforehand, each
#                        logging in again and again)
#   3. poll-ticket       GET  /v1/matchmaking/{ticketId}         (tickets made beforehand)
#   4. request-matchmaking POST /v1/matchmaking                  (a new player per request,
#                                                                 tokens from rally-keys mint)
#  4b. GameLift API     DescribeGameSessions, 100 a page of BENCH_GL_SESSIONS
#                       (10000); CreatePlayerSession; both signed as boto3 signs
#                       (scripts/bench-gamelift.py); and rally-sigv4-bench, the
#                       cost of one signature check on one core
#   5. end to end        BENCH_E2E_PLAYERS (2000) simulated players from guest
#                        login to a seat on one of BENCH_E2E_SERVERS (40) sample
#                        game servers that two rally-agents keep running (one a
#                        location), TeamDeathmatch 5v5 (scripts/bench-e2e.py),
#                        waiting by push as the client SDK does, then again
#                        polling every second
#  5b. game sessions    CreateGameSession to ACTIVE on 40 idle sample game
#                        servers, and BENCH_PLACEMENTS (1000)
#                        StartGameSessionPlacement calls at once over two
#                        locations, to FULFILLED (scripts/bench-placement.py)
#  5c. fleet agent       one rally-agent keeping BENCH_AGENT_PROCESSES (200)
#                        sample game servers: time to all ready, its own CPU
#                        and memory keeping them, and the time from a kill -9
#                        to the replacement's ProcessReady (scripts/bench-agent.py)
#  5d. SDK 5 gateway    BENCH_SDK5_CONNECTIONS (1000) processes on GameLift's
#                        server SDK 5 protocol through nginx, each keeping 8
#                        heartbeats in flight: heartbeats answered per second
#                        (scripts/bench-sdk5.py, tools/rally-sdk5-bench.c)
#  5e. world state      BENCH_WORLD_BATCHES (300) batches of 1,000 blocks over 4
#                        connections, each a committed transaction: blocks per
#                        second; a chunk of 2,000 blocks and the 25 around a
#                        player read back: p50, p99 (scripts/bench-worlds.py)
#  5f. sidecar         BENCH_SIDECAR_BLOCKS (200000) blocks written through
#                        rally-sidecar over 8 connections, durable then
#                        buffered: blocks per second beside pgbench's single-row
#                        inserts; its memory at rest, at peak, and with rally
#                        unreachable (scripts/bench-sidecar.py)
#  5h. metrics         poll-ticket with metrics on and off (the function started
#                        again between alternating rounds), and a scrape of
#                        every target with 10,000 game sessions and 100,000
#                        tickets (scripts/bench-metrics.py)
#  5g. relay           fast messages (sessions of 32 players, 30 a second each
#                        to all) through rally-relay and through a minimal UDP
#                        fan-out at 1 to 16 sessions; reliable ones over the
#                        WebSocket; BENCH_RELAY_HOLD (5000) players held by
#                        one relay (scripts/bench-relay.py, tools/rally-rt-bench.c)
#   6. push              BENCH_PUSH_SUBSCRIBERS (5000) EventSource subscribers held
#                        at once while their tickets complete: delay from
#                        the matchmaker's commit to subscriber, and the mean
#                        wait of the burst (scripts/bench-push.py)
#   7. outbox            BENCH_OUTBOX_EVENTS (10000) events published at once,
#                        delivered signed to an external HTTP subscriber:
#                        deliveries per second (scripts/bench-outbox.py)
#
# rally-matchmaker is paused (SIGSTOP) while the routes are measured: they do
# not involve it, and its work on the flood of tickets they create would share
# the two cores with them. It runs for the end-to-end part, after that pool is
# cleared.
#
# Every route runs with the same wrk threads/connections/duration after a short
# warm-up; bench/rally.lua builds the requests and prints the figures.
#
#   BUILD=build scripts/bench.sh          (what `make bench` runs)
#
# Knobs (environment): BENCH_THREADS (2), BENCH_CONNECTIONS (32),
# BENCH_DURATION seconds (5), BENCH_WARMUP seconds (1), BENCH_PORT (first port
# tried, 18480), BENCH_POLL_TICKETS (200), BENCH_MM_HEADROOM (1.5: tokens are
# minted for request-matchmaking for this many times the rate of a short probe
# run; a run that still runs out stops early and its rate is over the time it
# ran), BENCH_MAX_ERROR_RATE (0.05: above it a route's figure is INVALID and the
# bench fails), BENCH_STRICT=1 (a missed target fails too), BENCH_KEEP=1 (keep
# the stack directory and database of the run; a failed run keeps its logs). RALLY_WORKERS and RALLY_PG_FAST pass through to the
# stack; RALLY_PG_FAST=1 (fsync and full_page_writes off) is labelled in the
# output because it is not how rally runs.
#
# Results: a table on stdout, DIR/bench-results.json, copied to
# $BUILD/bench-results.json. The stack is always stopped.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN=$TOP/$BUILD/bin
LUA=$TOP/bench/rally.lua
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
POLL_TICKETS=${BENCH_POLL_TICKETS:-200}
MM_HEADROOM=${BENCH_MM_HEADROOM:-1.5}
MM_PROBE_FRACTION=0.1
MAX_ERROR_RATE=${BENCH_MAX_ERROR_RATE:-0.05}
PG_FAST=${RALLY_PG_FAST:-0}

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

for t in wrk curl python3 ss; do
    command -v "$t" >/dev/null || die "$t is not installed (scripts/deps.sh installs it)"
done
for b in hello auth-guest request-matchmaking poll-ticket rally-keys; do
    [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run make first"
done

port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
PORT=${BENCH_PORT:-18480}
for _ in $(seq 1 50); do port_free "$PORT" && break; PORT=$((PORT + 1)); done
port_free "$PORT" || die "no free port from ${BENCH_PORT:-18480}"

WORK=$(mktemp -d /tmp/rally-bench.XXXXXX)
chmod 711 "$WORK" # so the postgres and www-data users can reach the runtime dir in it
STACK=$WORK/stack
RESULTS=$WORK/bench-results.json
STARTED=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Our own wrk or minting jobs, if we were interrupted while one ran.
    local j
    for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
    if [ "$STARTED" = 1 ]; then
        [ -n "${MM_PID:-}" ] && kill -CONT "$MM_PID" 2>/dev/null
        "$TOP/scripts/stack.sh" stop "$STACK" >/dev/null 2>&1 || say "could not stop the stack in $STACK"
        if [ "${BENCH_KEEP:-0}" != 1 ] && [ -n "${RALLY_RT_DIR:-}" ]; then
            rm -rf "$RALLY_RT_DIR" # the database cluster and sockets; logs stay
        fi
    fi
    if [ "$rc" -ne 0 ]; then
        say "FAILED (exit $rc); logs and wrk output in $WORK"
    elif [ "${BENCH_KEEP:-0}" != 1 ]; then
        # Tokens, keys and per-request logs are large and of no use any more;
        # the figures and wrk's own output stay.
        rm -rf "$WORK"/tokens* "$WORK/poll-tickets" "$WORK/guests" "$STACK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# How busy the machine is without us: cores in use over one second.
cpu_sample() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }
read -r t0 i0 < <(cpu_sample)
sleep 1
read -r t1 i1 < <(cpu_sample)
BUSY_BEFORE=$(python3 -c "print(round((1 - ($i1 - $i0) / max(1, $t1 - $t0)) * $(nproc), 2))")
if python3 -c "import sys; sys.exit(0 if $BUSY_BEFORE > 0.2 else 1)"; then
    say "warning: $BUSY_BEFORE cores were busy before the bench: other work shares the CPU and the figures will be low"
fi

say "starting a stack on port $PORT in $STACK"
STARTED=1
env RALLY_HTTP_PORT="$PORT" RALLY_RATE_LIMIT=off RALLY_BENCH=1 RALLY_ACCESS_LOG=off RALLY_GAMESERVERS=0 \
    RALLY_LOG_LEVEL=warn RALLY_PG_FAST="$PG_FAST" ${RALLY_WORKERS:+RALLY_WORKERS="$RALLY_WORKERS"} \
    BUILD="$BUILD" "$TOP/scripts/stack.sh" start "$STACK" >"$WORK/stack-start.log" 2>&1 ||
    { cat "$WORK/stack-start.log" >&2; die "the stack did not start"; }
# shellcheck disable=SC1091
. "$STACK/env"
URL=$RALLY_URL
MM_PID=$(cat "$STACK/pids/matchmaker.pid")
kill -STOP "$MM_PID"
NGINX_WORKERS=$(pgrep -c -P "$(cat "$RALLY_RT_DIR/nginx/nginx.pid")" || true)

# run_wrk NAME MODE [FILE FIRST COUNT] [-- WARMUP-FILE FIRST COUNT]
#   warms up for WARMUP seconds, then measures for DURATION seconds;
#   leaves the figures in $WORK/NAME.json.
run_wrk() {
    local name=$1 mode=$2
    shift 2
    local main_args=() warm_args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do main_args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    warm_args=("$@")
    [ ${#warm_args[@]} -gt 0 ] || warm_args=("${main_args[@]+"${main_args[@]}"}")

    if [ "$WARMUP" != 0 ]; then
        wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$LUA" "$URL" -- "$mode" "$THREADS" \
            "${warm_args[@]+"${warm_args[@]}"}" >"$WORK/wrk-$name-warmup.txt" 2>&1 ||
            { cat "$WORK/wrk-$name-warmup.txt" >&2; die "wrk failed warming up $name"; }
    fi
    say "measuring $name (${DURATION}s, -t$THREADS -c$CONNS)"
    local limited0 limited1
    limited0=$(limited_count)
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$LUA" "$URL" -- "$mode" "$THREADS" \
        "${main_args[@]+"${main_args[@]}"}" >"$WORK/wrk-$name.txt" 2>&1 ||
        { cat "$WORK/wrk-$name.txt" >&2; die "wrk failed on $name"; }
    limited1=$(limited_count)
    local line
    line=$(grep '^BENCH-JSON ' "$WORK/wrk-$name.txt" | tail -1 | cut -d' ' -f2-)
    [ -n "$line" ] || { cat "$WORK/wrk-$name.txt" >&2; die "no figures from wrk for $name"; }
    echo "${line%\}}, \"rate_limited\": $((limited1 - limited0))}" >"$WORK/$name.json"
}

# 429s from nginx's limit_req so far (it logs each one at warn).
limited_count() { grep -c 'limiting requests' "$STACK/logs/nginx-error.log" 2>/dev/null || true; }

json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# ---- 1. baseline, 2. guest login --------------------------------------------------
run_wrk hello hello
HELLO_RPS=$(json_get "$WORK/hello.json" rps)
run_wrk guest_login guest

# ---- 2b. returning login: guests made beforehand log in again ------------------------
RETURNING=${BENCH_RETURNING_GUESTS:-400}
say "creating $RETURNING guests for the returning login"
make_guest() {
    curl -sS -X POST "$URL/v1/identity/guest" -H 'Content-Type: application/json' -d '{}' |
        python3 -c 'import json, sys; g = json.load(sys.stdin); print(g["user_id"], g["guest_secret"])'
}
export -f make_guest
export URL
seq 1 "$RETURNING" | xargs -P 4 -I{} bash -c make_guest >"$WORK/guests" ||
    die "could not create the returning guests"
[ "$(wc -l <"$WORK/guests")" -eq "$RETURNING" ] || die "created too few guests"
run_wrk returning_login login "$WORK/guests"

# ---- tokens ------------------------------------------------------------------------
# rally-keys mint signs every token (ES256 by default), so tokens cost about as much as a
# guest login: mint them on every core, and only as many as the run can use.
NPROC=$(nproc)
MINTED=0
MINT_S=0
# mint COUNT FILE: COUNT new "sub token" lines (TTL 1 h) into FILE.
mint() {
    local count=$1 file=$2 per i p t0
    local pids=()
    t0=$(date +%s.%N)
    per=$(((count + NPROC - 1) / NPROC))
    say "minting $((per * NPROC)) guest tokens on $NPROC cores"
    for i in $(seq 1 "$NPROC"); do
        (umask 077 && exec "$BIN/rally-keys" mint "$RALLY_JWT_KEY_DIR" guest "$per" 3600 >"$file.$i") &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "rally-keys mint failed"; done
    (umask 077 && for i in $(seq 1 "$NPROC"); do cat "$file.$i"; rm -f "$file.$i"; done >"$file")
    [ "$(wc -l <"$file")" -ge "$count" ] || die "rally-keys minted too few tokens"
    MINTED=$((MINTED + per * NPROC))
    MINT_S=$(python3 -c "import time; print(round($MINT_S + time.time() - $t0, 1))")
}
# The first batch: the poll-ticket players, and a probe of request-matchmaking
# that tells how many tokens its warm-up and measured run need.
PROBE=$(python3 -c "import math; print(max(1000, math.ceil($HELLO_RPS * $MM_PROBE_FRACTION * max($WARMUP, 1))))")
mint $((POLL_TICKETS + PROBE)) "$WORK/tokens-a"
head -n "$POLL_TICKETS" "$WORK/tokens-a" >"$WORK/tokens-poll"
tail -n +$((POLL_TICKETS + 1)) "$WORK/tokens-a" >"$WORK/tokens-probe"

# ---- 3. poll-ticket: tickets made beforehand, one per player ----------------------------
say "creating $POLL_TICKETS tickets for poll-ticket"
# shellcheck disable=SC2317 # called through xargs
make_ticket() {
    local sub=$1 tok=$2 out
    out=$(curl -sS -X POST "$URL/v1/matchmaking" -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' -d '{"latencyInMs":{"us-east-1":20,"eu-west-1":80}}' \
        -w '\n%{http_code}') || return 1
    local code=${out##*$'\n'} id
    id=$(printf '%s' "$out" | grep -o '"TicketId":"[^"]*"' | head -1 | cut -d'"' -f4)
    if [ "$code" != 201 ] || [ -z "$id" ]; then
        echo "bench: ticket for $sub: HTTP $code: ${out%$'\n'*}" >&2
        return 1
    fi
    echo "$id $tok"
}
export -f make_ticket
export URL
# $0 and $1 below are make_ticket's arguments, not this shell's.
# shellcheck disable=SC2016
xargs -P 4 -L 1 bash -c 'make_ticket "$0" "$1"' <"$WORK/tokens-poll" >"$WORK/poll-tickets" ||
    die "could not create the poll-ticket tickets"
[ "$(wc -l <"$WORK/poll-tickets")" -eq "$POLL_TICKETS" ] || die "created too few tickets"
run_wrk poll_ticket poll "$WORK/poll-tickets"

# ---- 4. request-matchmaking: a new player per request ----------------------------------
# The probe (WARMUP seconds, or until its tokens run out) gives the rate; the
# warm-up and the measured run get tokens for MM_HEADROOM times that rate, and a
# run that still runs out stops early and is measured over the time it ran.
PROBE_OUT=$WORK/wrk-request_matchmaking-probe.txt
wrk -t"$THREADS" -c"$CONNS" -d"$((WARMUP > 0 ? WARMUP : 1))s" -s "$LUA" "$URL" -- matchmaking "$THREADS" \
    "$WORK/tokens-probe" 1 "$PROBE" >"$PROBE_OUT" 2>&1 ||
    { cat "$PROBE_OUT" >&2; die "wrk failed on the request-matchmaking probe"; }
PROBE_RPS=$(grep '^BENCH-JSON ' "$PROBE_OUT" | cut -d' ' -f2- |
    python3 -c "import json,sys; print(json.load(sys.stdin)['rps'])")
MM_WARM=$(python3 -c "import math; print(max(500, math.ceil($PROBE_RPS * $MM_HEADROOM * $WARMUP)))")
MM_MAIN=$(python3 -c "import math; print(min(200000, max(2000, math.ceil($PROBE_RPS * $MM_HEADROOM * $DURATION))))")
say "request-matchmaking probe: $PROBE_RPS req/s"
mint $((MM_WARM + MM_MAIN)) "$WORK/tokens-mm"
run_wrk request_matchmaking matchmaking "$WORK/tokens-mm" $((MM_WARM + 1)) "$MM_MAIN" \
    -- "$WORK/tokens-mm" 1 "$MM_WARM"

# ---- 4b. the GameLift API: reads and seats, signed as boto3 signs ------------------------
# Requests made and signed just before (a signature's date is good for five
# minutes); wrk replays them, so rally checks every signature.
GL_SESSIONS=${BENCH_GL_SESSIONS:-10000}
say "GameLift API: $GL_SESSIONS game sessions of fleet-bench, requests signed"
/usr/bin/python3 "$TOP/scripts/bench-gamelift.py" "$WORK" "$GL_SESSIONS" >&2 ||
    die "could not prepare the GameLift API bench"
run_wrk describe_game_sessions replay "$WORK/describe.req"
run_wrk create_player_session replay "$WORK/players.req"
"$TOP/$BUILD/bin/rally-sigv4-bench" 300000 >"$WORK/sigv4.json" || die "rally-sigv4-bench failed"

# ---- report ------------------------------------------------------------------------
cat >"$WORK/config.json" <<JSON
{
  "wrk": {"threads": $THREADS, "connections": $CONNS, "duration_s": $DURATION, "warmup_s": $WARMUP},
  "cores": $NPROC,
  "cores_busy_before": $BUSY_BEFORE,
  "rally_workers": $RALLY_WORKERS,
  "batching_workers": $(( (NPROC < 2 ? 2 : NPROC) < RALLY_WORKERS ? (NPROC < 2 ? 2 : NPROC) : RALLY_WORKERS )),
  "nginx_workers": ${NGINX_WORKERS:-0},
  "rate_limit": "off",
  "access_log": "off",
  "log_level": "warn",
  "pg_fast": $([ "$PG_FAST" = 1 ] && echo true || echo false),
  "build": "$BUILD",
  "port": $PORT,
  "tokens_minted": $MINTED,
  "mint_seconds": $MINT_S,
  "poll_tickets": $POLL_TICKETS,
  "request_matchmaking_probe_rps": $PROBE_RPS,
  "max_error_rate": $MAX_ERROR_RATE,
  "strict": $([ "${BENCH_STRICT:-0}" = 1 ] && echo true || echo false)
}
JSON
report_rc=0
python3 "$TOP/bench/report.py" "$WORK" "$WORK/config.json" "$RESULTS" || report_rc=$?
[ -f "$RESULTS" ] || die "no results written"

# ---- 5. end to end: players to their seats on sample game servers ----------------------
E2E_PLAYERS=${BENCH_E2E_PLAYERS:-2000}
E2E_SERVERS=${BENCH_E2E_SERVERS:-40}
GS_PORT=${BENCH_GS_PORT:-19000}
for _ in $(seq 1 50); do
    busy=0
    for i in $(seq 0 $((E2E_SERVERS - 1))); do port_free $((GS_PORT + i)) || { busy=1; break; }; done
    [ $busy = 0 ] && break
    GS_PORT=$((GS_PORT + E2E_SERVERS))
done
# The routes' tickets leave the pool; the matchmaker comes back.
psql -qX -c "UPDATE matchmaking.tickets SET status = 'CANCELLED', cancel_announced = true
             WHERE status IN ('QUEUED', 'SEARCHING')" >/dev/null
kill -CONT "$MM_PID"
# Twice: players waiting by push, as rally's client SDK does (end_to_end),
# then polling every second, as the issue-3 bench did (end_to_end_polling).
for wait in push poll; do
    key=end_to_end
    [ "$wait" = push ] || key=end_to_end_polling
    say "end to end ($wait): $E2E_PLAYERS players, $E2E_SERVERS game servers (ports from $GS_PORT)"
    e2e_rc=0
    python3 "$TOP/scripts/bench-e2e.py" "$E2E_PLAYERS" "$E2E_SERVERS" "$GS_PORT" "$WORK/e2e-$wait.json" "$wait" >&2 ||
        e2e_rc=$?
    python3 - "$RESULTS" "$WORK/e2e-$wait.json" "$key" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
try:
    e2e = json.load(open(sys.argv[2]))
except (OSError, ValueError):
    e2e = {"error": "no figures"}
e2e["target_seconds"] = 20
e2e["meets_target"] = e2e.get("failed") == 0 and e2e.get("wall_seconds", 1e9) < 20
results[sys.argv[3]] = e2e
json.dump(results, open(sys.argv[1], "w"), indent=2)
print("end to end (%s): %s" % (e2e.get("wait", "?"),
      "%(seated)s/%(players)s players seated in %(wall_seconds)s s, target < 20 s: %(meets_target)s" % e2e
      if "seated" in e2e else e2e["error"]))
PY
    [ "$e2e_rc" = 0 ] || { [ "$report_rc" != 0 ] || report_rc=$e2e_rc; }
done

# Runs one python bench script (NAME, its script, its arguments before the
# output file) and files its figures under NAME in the results; a failure
# becomes the bench's exit status unless an earlier one already did.
run_part() {
    local name=$1 script=$2; shift 2
    local rc=0
    /usr/bin/python3 "$TOP/scripts/$script" "$@" "$WORK/$name.json" >&2 || rc=$?
    python3 - "$RESULTS" "$WORK/$name.json" "$name" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
try:
    results[sys.argv[3]] = json.load(open(sys.argv[2]))
except (OSError, ValueError):
    results[sys.argv[3]] = {"error": "no figures"}
json.dump(results, open(sys.argv[1], "w"), indent=2)
PY
    [ "$rc" = 0 ] || { [ "$report_rc" != 0 ] || report_rc=$rc; }
}

# ---- 5b. game sessions: worlds to ACTIVE, placements to FULFILLED ----------------------
PLACEMENTS=${BENCH_PLACEMENTS:-1000}
say "game sessions: CreateGameSession to ACTIVE, $PLACEMENTS placements over two locations"
run_part game_sessions bench-placement.py "$PLACEMENTS" $((GS_PORT + E2E_SERVERS))

# ---- 5c. fleet agent: processes kept, and replaced -------------------------------------
AGENT_PROCESSES=${BENCH_AGENT_PROCESSES:-200}
say "fleet agent: $AGENT_PROCESSES sample game servers on one agent"
run_part fleet_agent bench-agent.py "$AGENT_PROCESSES" 20

# ---- 5d. SDK 5 gateway: heartbeats answered -------------------------------------------
SDK5_CONNECTIONS=${BENCH_SDK5_CONNECTIONS:-1000}
say "SDK 5 gateway: $SDK5_CONNECTIONS processes heartbeating through nginx"
run_part sdk5_gateway bench-sdk5.py "$SDK5_CONNECTIONS" "$DURATION"

# ---- 5e. world state: blocks written, chunks read ------------------------------------
WORLD_BATCHES=${BENCH_WORLD_BATCHES:-300}
say "world state: $WORLD_BATCHES batches of 1,000 blocks, chunk reads"
run_part world_blocks bench-worlds.py "$WORLD_BATCHES"

# ---- 5f. rally-sidecar: durable and buffered block writes, memory under pressure -------
SIDECAR_BLOCKS=${BENCH_SIDECAR_BLOCKS:-200000}
say "sidecar: $SIDECAR_BLOCKS blocks durable, then buffered; memory with rally unreachable"
run_part sidecar bench-sidecar.py "$SIDECAR_BLOCKS"

# ---- 5g. Realtime relay: fast fan-out against a baseline, the TCP path, players held ----
say "relay: fast messages against a UDP fan-out baseline, the TCP path, ${BENCH_RELAY_HOLD:-5000} players held"
run_part relay bench-relay.py "$DURATION"


# ---- 5h. metrics: their cost on poll-ticket, and scrapes of a large database -----------
say "metrics: poll-ticket with metrics on and off; every scrape with 100,000 tickets"
run_part metrics bench-metrics.py "$WORK/poll-tickets" "$DURATION"

# ---- 6. push: subscribers held by nginx while their tickets complete ---------------------
PUSH_SUBSCRIBERS=${BENCH_PUSH_SUBSCRIBERS:-5000}
say "push: $PUSH_SUBSCRIBERS EventSource subscribers"
run_part push bench-push.py "$PUSH_SUBSCRIBERS"

# ---- 7. outbox: signed delivery to an external HTTP subscriber -------------------------
OUTBOX_EVENTS=${BENCH_OUTBOX_EVENTS:-10000}
say "outbox: $OUTBOX_EVENTS events to an external subscriber"
run_part outbox bench-outbox.py "$OUTBOX_EVENTS"

mkdir -p "$TOP/$BUILD"
cp "$RESULTS" "$TOP/$BUILD/bench-results.json"
say "results in $RESULTS and $BUILD/bench-results.json"
exit $report_rc
